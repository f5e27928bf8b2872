//! `heapsnap check`: complete validation (SPEC section 7, every step, checksums included)
//! and a one-line summary.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::error::Result;
use crate::report::text::escape;
use crate::report::{emit, Output};
use crate::snapshot::{Snapshot, Verify};

#[derive(Serialize)]
struct CheckData {
    path: String,
    ok: bool,
    format: (u16, u16),
    file_bytes: u64,
    objects: usize,
    edges: usize,
    dangling_edges: u64,
    types: usize,
    strings: usize,
    roots: usize,
    surplus_roots: usize,
    values: usize,
}

pub(super) fn run<W: Write>(path: &Path, json: bool, out: &mut W) -> Result<()> {
    let snap = Snapshot::open(path, Verify::Full)?;
    // SPEC 7 step 14 (address uniqueness) on the census's own sorted copy.
    let census = crate::census::checked_census(&snap).map_err(|e| e.in_file(path))?;
    let d = CheckData {
        path: path.display().to_string(),
        ok: true,
        format: snap.version(),
        file_bytes: snap.file_len(),
        objects: snap.object_count(),
        edges: snap.edge_count(),
        dangling_edges: census.dangling_edges,
        surplus_roots: census.surplus_roots.len(),
        types: snap.type_count(),
        strings: snap.string_count(),
        roots: snap.roots().len(),
        values: snap.values().len(),
    };
    emit(out, json, &d)
}

impl Output for CheckData {
    const KIND: &'static str = "check";

    fn text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let d = self;
        writeln!(
        out,
        "ok: {}: {} objects, {} edges ({} dangling), {} types, {} strings, {} roots (+{} refcount surplus), {} values (format {}.{})",
        escape(&d.path),
        d.objects,
        d.edges,
        d.dangling_edges,
        d.types,
        d.strings,
        d.roots,
        d.surplus_roots,
        d.values,
        d.format.0,
        d.format.1
    )
    }
}
