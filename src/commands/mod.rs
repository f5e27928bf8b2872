//! The commands behind the CLI. Each takes a parsed [`Command`] and writes its result to
//! the given output; errors are returned, never printed here.

pub mod attach;
mod check;
mod cycles;
pub mod decode;
mod diff;
mod dominators;
mod export;
pub mod info;
mod pack;
mod path;
mod redact;
mod refs;
mod report;
mod synth;
mod top;

use std::io::Write;
use std::path::Path;

use crate::analysis::{Analysis, Needs, Summary};
use crate::cli::{Command, DumpArgs};
use crate::error::{Error, Result};
use crate::graph::NodeId;
use crate::names;
pub use crate::query::ObjectJson;
use crate::snapshot::{Snapshot, Verify};

pub use info::InfoData;

/// Runs `cmd`, writing its output to `out`.
pub fn run<W: Write>(cmd: &Command, out: &mut W) -> Result<()> {
    match cmd {
        Command::Info {
            dump,
            json,
            no_verify,
        } => info::run(dump, *json, *no_verify, out),
        Command::Attach(a) => attach::run(a, out),
        Command::Check { dump, json } => check::run(dump, *json, out),
        Command::Decode { dump, json } => decode::run(dump, *json, out),
        Command::Top { args, by, limit } => top::run(args, *by, *limit, out),
        Command::Dominators { args, limit, depth } => dominators::run(args, *limit, *depth, out),
        Command::Cycles {
            args,
            limit,
            all_edges,
        } => cycles::run(args, *limit, *all_edges, out),
        Command::Path { args, target, k } => path::run(args, target, *k, out),
        Command::Refs {
            args,
            target,
            back,
            depth,
            max_nodes,
            fanout,
            format,
            output,
        } => refs::run(
            args,
            refs::Options {
                target,
                back: *back,
                depth: *depth,
                max_nodes: *max_nodes,
                fanout: *fanout,
                format: *format,
            },
            output.as_deref(),
            out,
        ),
        Command::Diff {
            dumps,
            limit,
            json,
            no_verify,
        } => diff::run(dumps, *limit, *json, *no_verify, out),
        Command::Report {
            args,
            baseline,
            output,
        } => report::run(args, baseline.as_deref(), output, out),
        Command::Pack {
            args,
            output,
            level,
        } => pack::pack(args, output, *level, out),
        Command::Unpack { args, output } => pack::unpack(args, output, out),
        Command::Redact {
            args,
            output,
            names,
        } => redact::run(args, output, *names, out),
        Command::Synth {
            objects,
            edges_per_object,
            seed,
            output,
            json,
        } => synth::run(
            &crate::synth::Params {
                objects: *objects,
                edges_per_object: *edges_per_object,
                seed: *seed,
            },
            output,
            *json,
            out,
        ),
        Command::Export {
            args,
            format,
            output,
            all_edges,
        } => export::run(args, *format, output.as_deref(), *all_edges, out),
    }
}

/// Maps an output write error.
fn out_err(e: std::io::Error) -> Error {
    Error::io("cannot write output", e)
}

/// Opens and validates the dump named in `args`.
fn open(args: &DumpArgs) -> Result<Snapshot> {
    let verify = if args.no_verify {
        Verify::SkipChecksums
    } else {
        Verify::Full
    };
    Snapshot::open(&args.dump, verify)
}

/// Builds the graph of `snap` and runs `needs`, through the dump's index when it has one
/// (see [`crate::index`]); errors name `path`.
fn analyze<'s>(snap: &'s Snapshot, path: &Path, needs: Needs) -> Result<Analysis<'s>> {
    crate::index::analyze(snap, path, needs).map_err(|e| e.in_file(path))
}

/// Resolves a command-line object reference (`0x...` or `#N`); a type name is an error
/// here.
fn object_arg(a: &Analysis<'_>, text: &str) -> Result<NodeId> {
    match names::parse_object_ref(a.snap, &a.graph, text) {
        Some(Ok(v)) => Ok(v),
        Some(Err(msg)) => Err(Error::input(msg)),
        None => Err(Error::input(format!(
            "\"{text}\" is not an object: give an address (0x7f...) or an index (#123)"
        ))),
    }
}

/// Writes the one-line graph summary that text output ends with.
fn write_summary(s: &Summary, out: &mut dyn Write) -> std::io::Result<()> {
    use crate::report::text::{count, short_bytes};
    let mut line = format!(
        "{} objects, {} shallow, {} edges",
        count(s.objects),
        short_bytes(s.shallow_bytes),
        count(s.edges)
    );
    if s.dangling_edges > 0 {
        line.push_str(&format!(
            " ({} to objects not in the dump)",
            count(s.dangling_edges)
        ));
    }
    line.push_str(&format!(", {} roots", count(s.roots)));
    if let (Some(n), Some(b)) = (s.unreachable_objects, s.unreachable_bytes) {
        if n > 0 {
            line.push_str(&format!(
                "; {} unreachable objects ({}) are garbage awaiting collection",
                count(n),
                short_bytes(b)
            ));
        }
    }
    writeln!(out, "{line}")
}
