//! `heapsnap export`: one row per object, for pandas, DuckDB or any other engine. Each
//! row: index, address, type, shallow and retained size, immediate dominator, distance
//! from the roots, reference-cycle (SCC) id and size, flags. Or the whole graph as a
//! Chrome DevTools `.heapsnapshot` (`report::heapsnapshot`), which needs no analysis:
//! its readers compute dominators themselves.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::{analyze, open, out_err};
use crate::analysis::{Analysis, EdgeSet, Needs, Summary};
use crate::cli::{DumpArgs, ExportFormat};
use crate::error::{Error, Result};
use crate::format::object_flags;
use crate::graph::{NodeId, NONE};
use crate::output::write_atomically;
use crate::report::heapsnapshot;
use crate::report::json::write_envelope;

/// Column names, in order.
pub const COLUMNS: [&str; 12] = [
    "index",
    "address",
    "type",
    "shallow_size",
    "retained_size",
    "idom",
    "distance",
    "cycle",
    "cycle_size",
    "root",
    "reachable",
    "flags",
];

#[derive(Serialize)]
struct ExportData {
    format: &'static str,
    output: String,
    rows: u64,
    columns: &'static [&'static str],
    summary: Summary,
}

pub(super) fn run<W: Write>(
    args: &DumpArgs,
    format: ExportFormat,
    output: Option<&Path>,
    all_edges: bool,
    out: &mut W,
) -> Result<()> {
    if args.json && output.is_none() {
        return Err(Error::input(
            "export --json prints a summary of the export: give the rows a file with -o",
        ));
    }
    let snap = open(args)?;
    let needs = if format == ExportFormat::Heapsnapshot {
        // The graph is all the file needs; reachability only for the --json summary.
        Needs {
            paths: args.json,
            ..Needs::default()
        }
    } else {
        Needs {
            dominators: true,
            paths: true,
            cycles: Some(EdgeSet::all_if(all_edges)),
        }
    };
    let a = analyze(&snap, &args.dump, needs)?;
    match output {
        Some(path) => {
            write_atomically(path, |w| {
                write_rows(&a, format, w).map_err(|e| e.in_file(path))
            })?;
        }
        None => write_rows(&a, format, out)?,
    }
    if args.json {
        let data = ExportData {
            format: match format {
                ExportFormat::Csv => "csv",
                ExportFormat::Jsonl => "jsonl",
                ExportFormat::Heapsnapshot => "heapsnapshot",
            },
            output: output.map(|p| p.display().to_string()).unwrap_or_default(),
            rows: a.graph.len() as u64,
            columns: if format == ExportFormat::Heapsnapshot {
                &[]
            } else {
                &COLUMNS
            },
            summary: a.summary(),
        };
        write_envelope(out, "export", &data)?;
    }
    Ok(())
}

/// The names of the flags set in `flags`, joined by `|`.
fn flag_names(flags: u32) -> String {
    let mut names = Vec::new();
    for (bit, name) in object_flags::NAMES.iter().enumerate() {
        if flags & (1 << bit) != 0 {
            names.push(*name);
        }
    }
    names.join("|")
}

/// A CSV field, always quoted (RFC 4180: quotes doubled). Dump strings may hold commas,
/// quotes and newlines.
fn csv_field(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn write_rows<W: Write>(a: &Analysis<'_>, format: ExportFormat, out: &mut W) -> Result<()> {
    let _p = crate::progress::phase("writing rows");
    if format == ExportFormat::Heapsnapshot {
        return heapsnapshot::write(a, out);
    }
    let dom = a.dom();
    let comps = a.components();
    let paths = a.paths();
    let sr = a.graph.super_root();
    let addresses = a.snap.addresses();
    let flags = a.snap.flags();
    let type_of = a.snap.types_of();
    let csv_types: Vec<String> = a.names.all().iter().map(|n| csv_field(n)).collect();
    let json_types: Vec<String> = a
        .names
        .all()
        .iter()
        .map(|n| serde_json::to_string(n).unwrap_or_else(|_| "\"\"".to_owned()))
        .collect();
    if format == ExportFormat::Csv {
        writeln!(out, "{}", COLUMNS.join(",")).map_err(out_err)?;
    }
    for v in 0..a.graph.len() as NodeId {
        let i = v as usize;
        let idom = dom.idom(v);
        let idom_text = match idom {
            NONE => String::new(),
            d if d == sr => "root".to_owned(),
            d => format!("{:#x}", addresses[d as usize]),
        };
        let depth = paths.depth(v);
        let cycle = comps.of(v);
        let (cycle_id, cycle_size) = if comps.is_cycle(cycle) {
            (Some(cycle), comps.size(cycle))
        } else {
            (None, 1)
        };
        let is_root = a.graph.is_root(v);
        let reachable = dom.is_reachable(v);
        let t = type_of[i] as usize;
        match format {
            ExportFormat::Csv => writeln!(
                out,
                "{v},{:#x},{},{},{},{idom_text},{},{},{cycle_size},{},{},{}",
                addresses[i],
                csv_types.get(t).map_or("\"?\"", String::as_str),
                a.size(v),
                dom.retained(v),
                depth.map(|d| d.to_string()).unwrap_or_default(),
                cycle_id.map(|c| c.to_string()).unwrap_or_default(),
                is_root,
                reachable,
                flag_names(flags[i]),
            ),
            ExportFormat::Heapsnapshot => unreachable!("written above"),
            ExportFormat::Jsonl => writeln!(
                out,
                "{{\"index\":{v},\"address\":\"{:#x}\",\"type\":{},\"shallow_size\":{},\"retained_size\":{},\"idom\":{},\"distance\":{},\"cycle\":{},\"cycle_size\":{cycle_size},\"root\":{},\"reachable\":{},\"flags\":\"{}\"}}",
                addresses[i],
                json_types.get(t).map_or("\"?\"", String::as_str),
                a.size(v),
                dom.retained(v),
                if idom == NONE { "null".to_owned() } else { format!("\"{idom_text}\"") },
                depth.map(|d| d.to_string()).unwrap_or_else(|| "null".to_owned()),
                cycle_id.map(|c| c.to_string()).unwrap_or_else(|| "null".to_owned()),
                is_root,
                reachable,
                flag_names(flags[i]),
            ),
        }
        .map_err(out_err)?;
    }
    Ok(())
}
