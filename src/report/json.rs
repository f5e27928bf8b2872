//! The machine-readable output of every command: one JSON document per run, a versioned
//! envelope `{"schema": 1, "kind": "<command>", "data": {...}}` followed by a newline.
//! `schema` changes only when a change to `data` would break a consumer.

use std::io::Write;

use serde::Serialize;

use crate::error::{Error, Result};

/// The envelope schema version.
pub const SCHEMA: u32 = 1;

#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    schema: u32,
    kind: &'a str,
    data: &'a T,
}

/// Writes `data` wrapped in the envelope for command `kind`, as one line.
pub fn write_envelope<W: Write + ?Sized, T: Serialize>(
    out: &mut W,
    kind: &str,
    data: &T,
) -> Result<()> {
    let env = Envelope {
        schema: SCHEMA,
        kind,
        data,
    };
    serde_json::to_writer(&mut *out, &env).map_err(|e| match e.io_error_kind() {
        Some(k) => Error::io("cannot write output", std::io::Error::from(k)),
        None => Error::input(format!("cannot encode JSON: {e}")),
    })?;
    writeln!(out).map_err(|e| Error::io("cannot write output", e))
}
