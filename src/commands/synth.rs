//! `heapsnap synth`: write a synthetic heap-shaped dump (see [`crate::synth`]). The file
//! is written under a temporary name and renamed when complete.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::output::write_atomically;
use crate::report::{emit, Output};
use crate::synth::{generate, Params};

#[derive(Serialize)]
struct SynthData {
    output: String,
    objects: u64,
    edges: u64,
    bytes: u64,
    seed: u64,
}

pub(super) fn run<W: Write>(p: &Params, output: &Path, json: bool, out: &mut W) -> Result<()> {
    if !(p.edges_per_object.is_finite() && (0.0..=1000.0).contains(&p.edges_per_object)) {
        return Err(Error::input(
            "--edges-per-object must be between 0 and 1000",
        ));
    }
    if p.objects > (u32::MAX as u64) - 2 {
        return Err(Error::input("--objects must be below 2^32 - 2"));
    }
    let written = {
        let _p = crate::progress::phase("generating");
        write_atomically(output, |w| generate(p, w).map_err(|e| e.in_file(output)))?
    };
    let bytes = std::fs::metadata(output).map(|m| m.len()).unwrap_or(0);
    let data = SynthData {
        output: output.display().to_string(),
        objects: written.objects,
        edges: written.edges,
        bytes,
        seed: p.seed,
    };
    emit(out, json, &data)
}

impl Output for SynthData {
    const KIND: &'static str = "synth";

    fn text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let data = self;
        writeln!(
            out,
            "wrote {}: {} objects, {} edges, {} bytes",
            crate::report::text::escape(&data.output),
            data.objects,
            data.edges,
            data.bytes
        )
    }
}
