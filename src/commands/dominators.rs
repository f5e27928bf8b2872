//! `heapsnap dominators`: the biggest retainers as a tree. Each object's children are
//! the objects it alone keeps alive, biggest first.

use std::io::Write;

use serde::Serialize;

use super::{analyze, open, write_summary, ObjectJson};
use crate::analysis::{Analysis, Needs, Summary};
use crate::cli::DumpArgs;
use crate::error::Result;
use crate::graph::NodeId;
use crate::names;
use crate::report::text::{count, escape, percent, short_bytes};
use crate::report::{emit, Output};

/// Deepest tree shown (the tree is built recursively).
const MAX_DEPTH: usize = 100;
/// Most objects shown in all, whatever `-n` and `--depth` ask.
const MAX_NODES: usize = 10_000;

#[derive(Serialize)]
struct DominatorsData {
    summary: Summary,
    /// Bytes retained by everything reachable (the super-root's retained size).
    reachable_bytes: u64,
    /// The biggest roots' subtrees.
    tree: Vec<Node>,
    /// Roots not shown.
    more: More,
}

#[derive(Serialize)]
struct Node {
    #[serde(flatten)]
    object: ObjectJson,
    /// Why it is a root, for the top level (`reachable from several roots` when it is
    /// not a root itself but no single object dominates it).
    #[serde(skip_serializing_if = "Option::is_none")]
    root: Option<String>,
    children: Vec<Node>,
    more: More,
}

/// The children not shown: how many and what they retain together.
#[derive(Serialize, Default)]
struct More {
    count: u64,
    retained: u64,
}

pub(super) fn run<W: Write>(
    args: &DumpArgs,
    limit: usize,
    depth: usize,
    out: &mut W,
) -> Result<()> {
    let snap = open(args)?;
    let a = analyze(
        &snap,
        &args.dump,
        Needs {
            dominators: true,
            ..Needs::default()
        },
    )?;
    let sr = a.graph.super_root();
    let mut budget = MAX_NODES;
    let (tree, more) = children(&a, sr, limit.max(1), depth.clamp(1, MAX_DEPTH), &mut budget);
    let data = DominatorsData {
        summary: a.summary(),
        reachable_bytes: a.dom().retained(sr),
        tree,
        more,
    };
    emit(out, args.json, &data)
}

impl Output for DominatorsData {
    const KIND: &'static str = "dominators";

    fn text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let data = self;
        writeln!(
            out,
            "{:>10}  {:>6}  {:>10}  object",
            "retained", "heap%", "shallow"
        )?;
        let total = data.summary.shallow_bytes;
        for node in &data.tree {
            write_node(out, node, 0, total)?;
        }
        write_more(out, &data.more, 0)?;
        write_summary(&data.summary, out)
    }
}

/// The biggest `limit` children of `v` (by retained size, then id), expanded `depth`
/// levels, and what the rest retain; at most `budget` objects in all.
fn children(
    a: &Analysis<'_>,
    v: NodeId,
    limit: usize,
    depth: usize,
    budget: &mut usize,
) -> (Vec<Node>, More) {
    let dom = a.dom();
    let biggest = dom.biggest_children(v, limit.min(*budget));
    *budget -= biggest.kept.len();
    let shown_retained = biggest
        .kept
        .iter()
        .fold(0u64, |s, &c| s.saturating_add(dom.retained(c)));
    let more = More {
        count: biggest.count - biggest.kept.len() as u64,
        retained: biggest.retained - shown_retained,
    };
    let top = biggest.kept;
    let nodes = top
        .into_iter()
        .map(|c| {
            let (children, more) = if depth > 1 {
                children(a, c, limit, depth - 1, budget)
            } else {
                let (count, retained) = dom.children_iter(c).fold((0u64, 0u64), |(n, r), g| {
                    (n + 1, r.saturating_add(dom.retained(g)))
                });
                (Vec::new(), More { count, retained })
            };
            Node {
                object: ObjectJson::new(a, c),
                root: (dom.idom(c) == a.graph.super_root()).then(|| {
                    names::root_description(a.snap, &a.graph, c)
                        .unwrap_or_else(|| "reachable from several roots".to_owned())
                }),
                children,
                more,
            }
        })
        .collect();
    (nodes, more)
}

fn write_node(out: &mut dyn Write, n: &Node, level: usize, total: u64) -> std::io::Result<()> {
    let o = &n.object;
    let retained = o.retained.unwrap_or(0);
    let mut what = format!("{} at {}", escape(&o.ty), o.address);
    if let Some(v) = &o.value {
        let clipped: String = v.chars().take(names::PREVIEW_CHARS).collect();
        what = format!(
            "{} {} at {}",
            escape(&o.ty),
            crate::report::text::quote(&clipped),
            o.address
        );
    }
    if let Some(r) = &n.root {
        what.push_str(&format!("  [root: {}]", escape(r)));
    }
    writeln!(
        out,
        "{:>10}  {:>6.1}  {:>10}  {:indent$}{what}",
        short_bytes(retained),
        percent(retained, total),
        short_bytes(o.shallow),
        "",
        indent = level * 2
    )?;
    for c in &n.children {
        write_node(out, c, level + 1, total)?;
    }
    write_more(out, &n.more, level + 1)
}

fn write_more(out: &mut dyn Write, m: &More, level: usize) -> std::io::Result<()> {
    if m.count == 0 {
        return Ok(());
    }
    writeln!(
        out,
        "{:>10}  {:>6}  {:>10}  {:indent$}(+{} more, {} together)",
        "",
        "",
        "",
        "",
        count(m.count),
        short_bytes(m.retained),
        indent = level * 2
    )
}
