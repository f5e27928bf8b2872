//! `heapsnap redact`: a copy of a dump without previews (and optionally names).

use std::io::Write;
use std::path::Path;

use crate::cli::DumpArgs;
use crate::error::{Error, Result};

pub(super) fn run<W: Write>(
    _args: &DumpArgs,
    _output: &Path,
    _names: bool,
    _out: &mut W,
) -> Result<()> {
    Err(Error::input("heapsnap redact is being built (issue 4)"))
}
