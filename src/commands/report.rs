//! `heapsnap report`: a self-contained HTML report.

use std::io::Write;
use std::path::Path;

use crate::cli::DumpArgs;
use crate::error::{Error, Result};

pub(super) fn run<W: Write>(
    _args: &DumpArgs,
    _baseline: Option<&Path>,
    _output: &Path,
    _out: &mut W,
) -> Result<()> {
    Err(Error::input("heapsnap report is being built (issue 4)"))
}
