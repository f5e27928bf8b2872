//! `heapsnap top`: the type histogram.

use std::io::Write;

use serde::Serialize;

use super::{analyze, open, write_summary};
use crate::analysis::{Needs, Summary};
use crate::cli::{DumpArgs, TopBy};
use crate::error::Result;
use crate::report::text::{count, escape, percent, short_bytes};
use crate::report::{emit, Output};

#[derive(Serialize)]
struct TopData {
    by: &'static str,
    summary: Summary,
    /// Types shown, sorted by the key.
    types: Vec<Row>,
    /// Types not shown.
    more_types: u64,
}

#[derive(Serialize)]
struct Row {
    #[serde(rename = "type")]
    ty: String,
    count: u64,
    shallow: u64,
    /// Retained bytes, each byte counted once per type (absent unless sorted by retained).
    #[serde(skip_serializing_if = "Option::is_none")]
    retained: Option<u64>,
    /// Share of the heap's shallow bytes: `retained` (when present) or `shallow`, in percent.
    heap_percent: f64,
    unreachable: u64,
}

pub(super) fn run<W: Write>(args: &DumpArgs, by: TopBy, limit: usize, out: &mut W) -> Result<()> {
    let snap = open(args)?;
    // Retained sizes need the dominator tree; counts and sizes need only reachability
    // (for the unreachable column), which the cheaper breadth-first search gives.
    let retained = by == TopBy::Retained;
    let a = analyze(
        &snap,
        &args.dump,
        Needs {
            dominators: retained,
            paths: !retained,
            ..Needs::default()
        },
    )?;
    let summary = a.summary();
    let total = summary.shallow_bytes;
    let mut rows: Vec<_> = a.histogram().into_iter().filter(|r| r.count > 0).collect();
    rows.sort_by(|x, y| {
        let key = |r: &crate::analysis::TypeStats| match by {
            TopBy::Count => (r.count, r.shallow),
            TopBy::Size => (r.shallow, r.count),
            TopBy::Retained => (r.retained, r.shallow),
        };
        key(y).cmp(&key(x)).then(x.ty.cmp(&y.ty))
    });
    let shown = if limit == 0 {
        rows.len()
    } else {
        limit.min(rows.len())
    };
    let retained = by == TopBy::Retained;
    let data = TopData {
        by: match by {
            TopBy::Count => "count",
            TopBy::Size => "size",
            TopBy::Retained => "retained",
        },
        more_types: (rows.len() - shown) as u64,
        types: rows[..shown]
            .iter()
            .map(|r| Row {
                ty: a.names.get(r.ty).to_owned(),
                count: r.count,
                shallow: r.shallow,
                retained: retained.then_some(r.retained),
                heap_percent: percent(if retained { r.retained } else { r.shallow }, total),
                unreachable: r.unreachable,
            })
            .collect(),
        summary,
    };
    emit(out, args.json, &data)
}

impl Output for TopData {
    const KIND: &'static str = "top";

    fn text(&self, w: &mut dyn Write) -> std::io::Result<()> {
        let data = self;
        if data.by == "retained" {
            writeln!(
                w,
                "{:>12}  {:>10}  {:>10}  {:>6}  type",
                "count", "shallow", "retained", "heap%"
            )
        } else {
            writeln!(
                w,
                "{:>12}  {:>10}  {:>6}  type",
                "count", "shallow", "heap%"
            )
        }?;
        for r in &data.types {
            let mut ty = escape(&r.ty).into_owned();
            if r.unreachable > 0 {
                ty.push_str(&format!("  ({} unreachable)", count(r.unreachable)));
            }
            match r.retained {
                Some(ret) => writeln!(
                    w,
                    "{:>12}  {:>10}  {:>10}  {:>6.1}  {ty}",
                    count(r.count),
                    short_bytes(r.shallow),
                    short_bytes(ret),
                    r.heap_percent
                ),
                None => writeln!(
                    w,
                    "{:>12}  {:>10}  {:>6.1}  {ty}",
                    count(r.count),
                    short_bytes(r.shallow),
                    r.heap_percent
                ),
            }?;
        }
        if data.more_types > 0 {
            writeln!(w, "({} more types; -n 0 shows all)", count(data.more_types))?;
        }
        write_summary(&data.summary, w)
    }
}
