//! Output formats shared by the commands: the versioned JSON envelope ([`json`]) and
//! terminal-safe text ([`text`]); [`Output`] and [`emit`], through which every command
//! prints its result as text or JSON.

pub mod heapsnapshot;
pub mod html;
pub mod json;
pub mod svg;
pub mod text;

use std::io::{self, Write};

use serde::Serialize;

use crate::error::{Error, Result};

/// A command's result: exactly what `--json` prints as the envelope's `data`, and what
/// the text form renders.
pub trait Output: Serialize {
    /// The envelope's `kind` (the command's name).
    const KIND: &'static str;
    /// Writes the text form.
    fn text(&self, w: &mut dyn Write) -> io::Result<()>;
}

/// Writes `data` to `out`: the JSON envelope with `json`, else the text form. The one
/// place a text write error becomes an [`Error`].
pub fn emit<O: Output>(out: &mut dyn Write, json: bool, data: &O) -> Result<()> {
    if json {
        json::write_envelope(out, O::KIND, data)
    } else {
        data.text(out)
            .map_err(|e| Error::io("cannot write output", e))
    }
}
