//! `heapsnap diff`: compare two or three dumps of one process.

use std::io::Write;
use std::path::PathBuf;

use crate::error::{Error, Result};

pub(super) fn run<W: Write>(
    _dumps: &[PathBuf],
    _limit: usize,
    _json: bool,
    _no_verify: bool,
    _out: &mut W,
) -> Result<()> {
    Err(Error::input("heapsnap diff is being built (issue 4)"))
}
