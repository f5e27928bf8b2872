//! The commands behind the CLI. Each takes a parsed [`Command`] and writes its result to
//! the given output; errors are returned, never printed here.

mod check;
pub mod decode;
pub mod info;

use std::io::Write;

use crate::cli::Command;
use crate::error::Result;

pub use info::InfoData;

/// Runs `cmd`, writing its output to `out`.
pub fn run<W: Write>(cmd: &Command, out: &mut W) -> Result<()> {
    match cmd {
        Command::Info {
            dump,
            json,
            no_verify,
        } => info::run(dump, *json, *no_verify, out),
        Command::Check { dump, json } => check::run(dump, *json, out),
        Command::Decode { dump, json } => decode::run(dump, *json, out),
    }
}

/// Maps an output write error.
fn out_err(e: std::io::Error) -> crate::error::Error {
    crate::error::Error::io("cannot write output", e)
}
