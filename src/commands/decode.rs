//! `heapsnap decode`: the complete content of a dump. `--json` prints the envelope whose
//! `data` is exactly the test-vector schema ([`SnapshotContent`]); text mode prints a
//! listing with one line per object, its edges indented below it, every string escaped.

use std::io::Write;
use std::path::Path;

use super::out_err;
use crate::content::SnapshotContent;
use crate::error::Result;
use crate::format::{
    flag_names, object_flags, type_flags, LABEL_KEY_BIT, ROOT_KIND_NAMES, VALUE_KIND_NAMES,
    VALUE_TRUNCATED,
};
use crate::report::json::write_envelope;
use crate::report::text::{escape, quote};
use crate::snapshot::{FactValue, Snapshot, Verify};

pub(super) fn run<W: Write>(path: &Path, json: bool, out: &mut W) -> Result<()> {
    let snap = Snapshot::open(path, Verify::Full)?;
    // SPEC 7 step 14: the listing resolves edge targets, which is ambiguous (and the
    // file invalid) when two objects share an address.
    snap.check_addresses().map_err(|e| e.in_file(path))?;
    if json {
        return write_envelope(out, "decode", &SnapshotContent::from_snapshot(&snap));
    }
    write_text(&snap, out).map_err(out_err)
}

fn kind_name(names: &[&str], k: u64) -> String {
    usize::try_from(k)
        .ok()
        .and_then(|k| k.checked_sub(1))
        .and_then(|i| names.get(i))
        .map_or_else(|| format!("kind{k}"), |s| (*s).to_string())
}

/// The most characters of a dump string shown where the listing refers to it by id
/// (fact keys and values, type names on type and object lines, edge labels, root labels,
/// values). The `strings:` part prints every string in full exactly once; without this
/// cap a small file whose objects all share a megabyte-long type name (or whose edges
/// share a long label) would print that string once per object or edge, an output
/// quadratic in the file's length.
pub const MAX_SHOWN_CHARS: usize = 256;

/// `s` cut to at most [`MAX_SHOWN_CHARS`] characters, and the suffix that says so
/// (empty when nothing was cut): `... ($id, N bytes)`.
fn clip(s: &str, id: u64) -> (&str, String) {
    match s.char_indices().nth(MAX_SHOWN_CHARS) {
        None => (s, String::new()),
        Some((cut, _)) => (&s[..cut], format!("... (${id}, {} bytes)", s.len())),
    }
}

/// String `id`, escaped, quoted and clipped (see [`MAX_SHOWN_CHARS`]).
fn shown(snap: &Snapshot, id: u64) -> String {
    let (text, more) = clip(snap.string(id), id);
    format!("{}{more}", quote(text))
}

fn or_dash(s: String) -> String {
    if s.is_empty() {
        "-".to_string()
    } else {
        s
    }
}

/// Writes the text listing of `snap`.
pub fn write_text<W: Write>(snap: &Snapshot, out: &mut W) -> std::io::Result<()> {
    let (major, minor) = snap.version();
    let s = |id: u32| shown(snap, u64::from(id));
    writeln!(out, "format {major}.{minor}, {} bytes", snap.file_len())?;
    writeln!(out, "facts: {}", snap.facts().len())?;
    for f in snap.facts() {
        let value = match snap.fact_value(f) {
            Some(FactValue::U64(v)) => format!("{v} (u64)"),
            Some(FactValue::I64(v)) => format!("{v} (i64)"),
            Some(FactValue::F64(v)) => format!("{v:?} (f64)"),
            Some(FactValue::Str(_)) => shown(snap, f.value),
            Some(FactValue::Bool(v)) => format!("{v} (bool)"),
            None => format!("{:#x} (unknown kind {})", f.value, f.kind),
        };
        writeln!(out, "  {} = {value}", s(f.key))?;
    }
    writeln!(out, "strings: {}", snap.string_count())?;
    for id in 0..snap.string_count() {
        writeln!(out, "  ${id} {}", quote(snap.string(id as u64)))?;
    }
    writeln!(out, "types: {}", snap.types().len())?;
    for (i, t) in snap.types().iter().enumerate() {
        writeln!(
            out,
            "  type {i} @{:#x} {} module {} flags {}",
            t.address,
            s(t.name),
            s(t.module),
            or_dash(flag_names(t.flags, &type_flags::NAMES))
        )?;
    }
    let index = crate::address::Resolver::new(snap.addresses());
    let resolve = |addr: u64| match index.get(addr) {
        Some(j) => format!("#{j}"),
        None => "dangling".to_string(),
    };
    let targets = snap.edge_targets();
    writeln!(
        out,
        "objects: {}, edges: {}",
        snap.object_count(),
        snap.edge_count()
    )?;
    for i in 0..snap.object_count() {
        let ty = snap.types_of()[i];
        let type_name = snap
            .types()
            .get(ty as usize)
            .map_or_else(|| "?".to_string(), |t| shown(snap, u64::from(t.name)));
        writeln!(
            out,
            "  #{i} @{:#x} {type_name} size {} refcount {} flags {}",
            snap.addresses()[i],
            snap.shallow_size(i),
            snap.refcounts()[i],
            or_dash(flag_names(snap.flags()[i], &object_flags::NAMES))
        )?;
        let positional = snap.flags()[i] & object_flags::POSITIONAL_EDGES != 0;
        let range = snap.edge_range(i);
        let first = range.start;
        for k in range {
            let label = snap.edge_label(k);
            let edge = if positional {
                format!("[{}]", k - first)
            } else if label == 0 {
                "-".to_string()
            } else if label & LABEL_KEY_BIT != 0 {
                let id = u64::from(label & !LABEL_KEY_BIT);
                let (key, more) = clip(snap.string(id), id);
                format!("['{}']{more}", escape(key).replace('\'', "\\'"))
            } else {
                let id = u64::from(label);
                let (name, more) = clip(snap.string(id), id);
                format!(".{}{more}", escape(name))
            };
            writeln!(
                out,
                "      {edge} -> @{:#x} ({})",
                targets[k],
                resolve(targets[k])
            )?;
        }
    }
    writeln!(out, "roots: {}", snap.roots().len())?;
    for r in snap.roots() {
        writeln!(
            out,
            "  #{} {} label {} detail {}",
            r.object,
            kind_name(&ROOT_KIND_NAMES, u64::from(r.kind)),
            s(r.label),
            r.detail
        )?;
    }
    writeln!(out, "values: {}", snap.values().len())?;
    for v in snap.values() {
        let truncated = if v.flags & VALUE_TRUNCATED != 0 {
            " (truncated)"
        } else {
            ""
        };
        writeln!(
            out,
            "  #{} {} {}{truncated}",
            v.object,
            kind_name(&VALUE_KIND_NAMES, u64::from(v.kind)),
            s(v.string)
        )?;
    }
    Ok(())
}
