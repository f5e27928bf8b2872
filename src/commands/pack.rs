//! `heapsnap pack` and `heapsnap unpack`: zstd-compressed dumps for sharing (SPEC
//! section 9). Both write under a temporary name and rename when complete; `pack`
//! proves the round trip before it writes, `unpack` checks the SHA-256 and validates
//! what it wrote.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::cli::DumpArgs;
use crate::error::{Error, Result};
use crate::format::packed::{self, PackStats};
use crate::output::write_atomically;
use crate::report::text::escape;
use crate::report::{emit, Output};
use crate::snapshot::{Snapshot, Verify};

#[derive(Serialize)]
struct PackData {
    input: String,
    output: String,
    objects: u64,
    edges: u64,
    dump_bytes: u64,
    packed_bytes: u64,
    bytes_per_object: f64,
    level: i32,
}

#[derive(Serialize)]
struct UnpackData {
    input: String,
    output: String,
    objects: u64,
    dump_bytes: u64,
    packed_bytes: u64,
}

pub(super) fn pack<W: Write>(
    args: &DumpArgs,
    output: &Path,
    level: i32,
    out: &mut W,
) -> Result<()> {
    if !(1..=22).contains(&level) {
        return Err(Error::input("--level must be between 1 and 22"));
    }
    // Always fully verified: the packed file carries the dump's SHA-256 as its identity.
    let snap = Snapshot::open(&args.dump, Verify::Full)?;
    let stats: PackStats = {
        let _p = crate::progress::phase("packing");
        write_atomically(output, |w| {
            packed::pack(&snap.dump(), level, w).map(|(_, s)| s)
        })?
    };
    let objects = snap.object_count() as u64;
    let data = PackData {
        input: args.dump.display().to_string(),
        output: output.display().to_string(),
        objects,
        edges: snap.edge_count() as u64,
        dump_bytes: stats.dump_len,
        packed_bytes: stats.packed_len,
        bytes_per_object: if objects == 0 {
            0.0
        } else {
            stats.packed_len as f64 / objects as f64
        },
        level,
    };
    emit(out, args.json, &data)
}

impl Output for PackData {
    const KIND: &'static str = "pack";

    fn text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let data = self;
        writeln!(
            out,
            "packed {} into {}: {} bytes -> {} bytes ({:.1}x, {:.1} bytes/object)",
            escape(&data.input),
            escape(&data.output),
            data.dump_bytes,
            data.packed_bytes,
            data.dump_bytes as f64 / data.packed_bytes.max(1) as f64,
            data.bytes_per_object
        )
    }
}

pub(super) fn unpack<W: Write>(args: &DumpArgs, output: &Path, out: &mut W) -> Result<()> {
    let path = &args.dump;
    let file = File::open(path).map_err(|e| Error::io("cannot open", e).in_file(path))?;
    // SAFETY: as in `Snapshot::open`: input files are not modified while we run.
    let map = unsafe { memmap2::Mmap::map(&file) }
        .map_err(|e| Error::io("cannot map", e).in_file(path))?;
    if !packed::is_packed(&map) {
        return Err(Error::input("not a packed dump (no packed magic)").in_file(path));
    }
    let header = packed::parse_header(&map).map_err(|e| e.in_file(path))?;
    write_atomically(output, |w| {
        packed::unpack(&map, w)
            .map(|_| ())
            .map_err(|e| e.in_file(path))
    })?;
    let verify = if args.no_verify {
        Verify::SkipChecksums
    } else {
        Verify::Full
    };
    let snap = match Snapshot::open(output, verify) {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(output);
            return Err(e);
        }
    };
    let data = UnpackData {
        input: path.display().to_string(),
        output: output.display().to_string(),
        objects: snap.object_count() as u64,
        dump_bytes: header.dump_len,
        packed_bytes: map.len() as u64,
    };
    emit(out, args.json, &data)
}

impl Output for UnpackData {
    const KIND: &'static str = "unpack";

    fn text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let data = self;
        writeln!(
            out,
            "unpacked {} into {}: {} objects, {} bytes",
            escape(&data.input),
            escape(&data.output),
            data.objects,
            data.dump_bytes
        )
    }
}
