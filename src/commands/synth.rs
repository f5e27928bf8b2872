//! `heapsnap synth`: write a synthetic heap-shaped dump (see [`crate::synth`]). The file
//! is written under a temporary name and renamed when complete.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::Serialize;

use super::out_err;
use crate::error::{Error, Result};
use crate::report::json::write_envelope;
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
    let mut tmp = output.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let file = File::create(&tmp).map_err(|e| Error::io("cannot create", e).in_file(&tmp))?;
    let progress = crate::progress::phase("generating");
    let result = generate(p, BufWriter::with_capacity(1 << 22, file)).and_then(|written| {
        std::fs::rename(&tmp, output)
            .map_err(|e| Error::io("cannot rename", e).in_file(output))
            .map(|()| written)
    });
    drop(progress);
    let written = match result {
        Ok(w) => w,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.in_file(output));
        }
    };
    let bytes = std::fs::metadata(output).map(|m| m.len()).unwrap_or(0);
    let data = SynthData {
        output: output.display().to_string(),
        objects: written.objects,
        edges: written.edges,
        bytes,
        seed: p.seed,
    };
    if json {
        return write_envelope(out, "synth", &data);
    }
    writeln!(
        out,
        "wrote {}: {} objects, {} edges, {} bytes",
        crate::report::text::escape(&data.output),
        data.objects,
        data.edges,
        data.bytes
    )
    .map_err(out_err)
}
