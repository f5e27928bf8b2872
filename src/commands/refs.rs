//! `heapsnap refs`: the neighbourhood of one object, like objgraph's `show_refs` and
//! `show_backrefs`: what it refers to (or, with `--back`, what refers to it), a few
//! levels deep, as an indented tree, as Graphviz DOT, or as an SVG picture laid out by
//! heapsnap ([`crate::report::svg`]).

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::{analyze, object_arg, open, out_err, ObjectJson};
use crate::analysis::{Analysis, Components, Needs};
use crate::cli::{DumpArgs, RefsFormat};
use crate::error::{Error, Result};
use crate::format::type_flags::HAS_FINALIZER;
use crate::graph::{Graph, NodeId};
use crate::names;
use crate::report::json::write_envelope;
use crate::report::svg;
use crate::report::text::{count, escape, quote, short_bytes};

/// What to show.
pub(super) struct Options<'a> {
    pub target: &'a str,
    pub back: bool,
    pub depth: usize,
    pub max_nodes: usize,
    pub fanout: usize,
    pub format: RefsFormat,
}

#[derive(Serialize)]
struct RefsData {
    direction: &'static str,
    /// Objects shown; the first is the target.
    objects: Vec<NodeJson>,
    /// References among them, as positions in `objects`: `from` refers to `to`.
    references: Vec<RefJson>,
    /// True if limits (`--max-nodes`, `--fanout`) left objects out.
    truncated: bool,
}

#[derive(Serialize)]
struct NodeJson {
    #[serde(flatten)]
    object: ObjectJson,
    /// Steps from the target.
    distance: usize,
    finalizer: bool,
    /// True if it is on a reference cycle among the objects shown.
    in_cycle: bool,
    /// Neighbours not shown because of `--fanout`.
    more: u64,
}

#[derive(Serialize)]
struct RefJson {
    from: usize,
    to: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<String>,
}

/// The explored neighbourhood.
struct Hood {
    nodes: Vec<NodeId>,
    distance: Vec<usize>,
    more: Vec<u64>,
    /// (from position, to position, label), in discovery order.
    refs: Vec<(usize, usize, Option<String>)>,
    truncated: bool,
}

fn explore(a: &Analysis<'_>, start: NodeId, o: &Options<'_>) -> Hood {
    let mut pos: HashMap<NodeId, usize> = HashMap::new();
    let mut h = Hood {
        nodes: vec![start],
        distance: vec![0],
        more: vec![0],
        refs: Vec::new(),
        truncated: false,
    };
    pos.insert(start, 0);
    let max_nodes = o.max_nodes.max(1);
    let mut head = 0;
    while head < h.nodes.len() {
        let v = h.nodes[head];
        let d = h.distance[head];
        head += 1;
        if d >= o.depth {
            continue;
        }
        // Neighbours with the label of the reference, in edge order (referents) or
        // referrer order (referrers), each neighbour once.
        let mut seen_here: std::collections::HashSet<NodeId> = std::collections::HashSet::new();
        let mut neighbours: Vec<(NodeId, Option<String>)> = Vec::new();
        let mut extra = 0u64;
        if o.back {
            for &p in a.graph.predecessors(v) {
                if !seen_here.insert(p) {
                    continue;
                }
                if neighbours.len() < o.fanout {
                    let label = names::edge_between(&a.graph, p, v)
                        .and_then(|k| names::edge_label(a.snap, &a.graph, p, k));
                    neighbours.push((p, label));
                } else {
                    extra += 1;
                }
            }
        } else {
            let range = a.graph.edge_range(v);
            for k in range {
                let w = a.graph.targets()[k];
                if w == crate::graph::NONE || !seen_here.insert(w) {
                    continue;
                }
                if neighbours.len() < o.fanout {
                    neighbours.push((w, names::edge_label(a.snap, &a.graph, v, k)));
                } else {
                    extra += 1;
                }
            }
        }
        let vpos = head - 1;
        h.more[vpos] = extra;
        h.truncated |= extra > 0;
        for (w, label) in neighbours {
            let wpos = match pos.get(&w) {
                Some(&p) => p,
                None if h.nodes.len() < max_nodes => {
                    pos.insert(w, h.nodes.len());
                    h.nodes.push(w);
                    h.distance.push(d + 1);
                    h.more.push(0);
                    h.nodes.len() - 1
                }
                None => {
                    h.truncated = true;
                    continue;
                }
            };
            if o.back {
                h.refs.push((wpos, vpos, label));
            } else {
                h.refs.push((vpos, wpos, label));
            }
        }
    }
    h
}

pub(super) fn run<W: Write>(
    args: &DumpArgs,
    o: Options<'_>,
    output: Option<&Path>,
    out: &mut W,
) -> Result<()> {
    let snap = open(args)?;
    let a = analyze(&snap, &args.dump, Needs::default())?;
    let start = object_arg(&a, o.target)?;
    let h = explore(&a, start, &o);
    // Cycles among the objects shown.
    let local: Vec<(NodeId, NodeId)> = h
        .refs
        .iter()
        .map(|&(f, t, _)| (f as NodeId, t as NodeId))
        .collect();
    let sub = Graph::from_edges(h.nodes.len(), &local, &[]);
    let comps = Components::compute(&sub, |_| false);
    let type_flags = |v: NodeId| {
        a.snap
            .types()
            .get(a.snap.types_of()[v as usize] as usize)
            .map_or(0, |t| t.flags)
    };
    let data = RefsData {
        direction: if o.back { "referrers" } else { "referents" },
        objects: h
            .nodes
            .iter()
            .enumerate()
            .map(|(i, &v)| NodeJson {
                object: ObjectJson::new(&a, v),
                distance: h.distance[i],
                finalizer: type_flags(v) & HAS_FINALIZER != 0,
                in_cycle: comps.is_cycle(comps.of(i as NodeId)),
                more: h.more[i],
            })
            .collect(),
        references: h
            .refs
            .iter()
            .map(|(f, t, l)| RefJson {
                from: *f,
                to: *t,
                label: l.clone(),
            })
            .collect(),
        truncated: h.truncated,
    };
    let mut buf: Vec<u8> = Vec::new();
    if args.json {
        write_envelope(&mut buf, "refs", &data)?;
    } else {
        match o.format {
            RefsFormat::Text => write_text(&data, o.back, &mut buf).map_err(out_err)?,
            RefsFormat::Dot => write_dot(&data, o.back, &mut buf).map_err(out_err)?,
            RefsFormat::Svg => write_svg(&data, o.back, o.depth, &mut buf),
        }
    }
    match output {
        Some(path) => crate::output::write_atomically(path, |w| {
            w.write_all(&buf)
                .map_err(|e| Error::io("cannot write", e).in_file(path))
        }),
        None => out.write_all(&buf).map_err(out_err),
    }
}

fn describe(o: &ObjectJson) -> String {
    let value = o
        .value
        .as_ref()
        .map(|v| {
            let clipped: String = v.chars().take(names::PREVIEW_CHARS).collect();
            format!(" {}", quote(&clipped))
        })
        .unwrap_or_default();
    format!(
        "{}{} at {} ({})",
        escape(&o.ty),
        value,
        o.address,
        short_bytes(o.shallow)
    )
}

enum Item<'a> {
    Node(usize, usize, Option<&'a str>),
    More(usize, usize),
}

/// An indented tree in discovery order; an object reached again is shown by reference.
fn write_text(d: &RefsData, back: bool, out: &mut Vec<u8>) -> std::io::Result<()> {
    let mut kids: Vec<Vec<(usize, Option<&str>)>> = vec![Vec::new(); d.objects.len()];
    for r in &d.references {
        let (parent, child) = if back { (r.to, r.from) } else { (r.from, r.to) };
        kids[parent].push((child, r.label.as_deref()));
    }
    let mut printed = vec![false; d.objects.len()];
    let mut stack = vec![Item::Node(0, 0, None)];
    while let Some(item) = stack.pop() {
        let (i, level, label) = match item {
            Item::More(owner, level) => {
                writeln!(
                    out,
                    "{:indent$}... {} more",
                    "",
                    count(d.objects[owner].more),
                    indent = level * 2
                )?;
                continue;
            }
            Item::Node(i, level, label) => (i, level, label),
        };
        let n = &d.objects[i];
        let arrow = match (level, back) {
            (0, _) => String::new(),
            (_, false) => format!("{} -> ", escape(label.unwrap_or(""))),
            (_, true) => format!(
                "<-{} ",
                label.map(|l| format!(" {}", escape(l))).unwrap_or_default()
            ),
        };
        let indent = level * 2;
        if printed[i] {
            writeln!(
                out,
                "{:indent$}{arrow}{} at {} (shown above)",
                "",
                escape(&n.object.ty),
                n.object.address
            )?;
            continue;
        }
        printed[i] = true;
        let mut marks = String::new();
        if n.finalizer {
            marks.push_str(" [finalizer]");
        }
        if n.in_cycle {
            marks.push_str(" [cycle]");
        }
        writeln!(out, "{:indent$}{arrow}{}{marks}", "", describe(&n.object))?;
        if n.more > 0 {
            stack.push(Item::More(i, level + 1));
        }
        for &(c, l) in kids[i].iter().rev() {
            stack.push(Item::Node(c, level + 1, l));
        }
    }
    if d.truncated {
        writeln!(
            out,
            "(limits reached: raise --max-nodes or --fanout to see more)"
        )?;
    }
    Ok(())
}

/// Text for inside a DOT string literal: escaped for a terminal first (controls
/// neutralised), then for DOT (backslash and quote).
fn dot_escape(s: &str) -> String {
    let safe = escape(s);
    let mut out = String::with_capacity(safe.len());
    for c in safe.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            _ => out.push(c),
        }
    }
    out
}

/// A DOT string literal of `lines` joined by DOT line breaks.
fn dot_str(lines: &[String]) -> String {
    let parts: Vec<String> = lines.iter().map(|l| dot_escape(l)).collect();
    format!("\"{}\"", parts.join("\\n"))
}

fn write_dot(d: &RefsData, back: bool, out: &mut Vec<u8>) -> std::io::Result<()> {
    writeln!(
        out,
        "digraph {} {{",
        if back { "referrers" } else { "referents" }
    )?;
    writeln!(
        out,
        "  node [shape=box, fontname=\"monospace\", fontsize=10];"
    )?;
    for (i, n) in d.objects.iter().enumerate() {
        let o = &n.object;
        let mut label = vec![o.ty.clone(), format!("{} ({} B)", o.address, o.shallow)];
        if let Some(v) = &o.value {
            let clipped: String = v.chars().take(names::PREVIEW_CHARS).collect();
            label.push(format!("{clipped:?}"));
        }
        if n.more > 0 {
            label.push(format!("(+{} more)", n.more));
        }
        let mut style = Vec::new();
        if i == 0 {
            style.push("penwidth=2".to_owned());
        }
        if n.finalizer {
            style.push("color=red, fontcolor=red".to_owned());
        }
        if n.in_cycle {
            style.push("style=filled, fillcolor=\"#fff3c4\"".to_owned());
        }
        let extra = if style.is_empty() {
            String::new()
        } else {
            format!(", {}", style.join(", "))
        };
        writeln!(out, "  n{i} [label={}{extra}];", dot_str(&label))?;
    }
    for r in &d.references {
        match &r.label {
            Some(l) => writeln!(
                out,
                "  n{} -> n{} [label={}];",
                r.from,
                r.to,
                dot_str(std::slice::from_ref(l))
            ),
            None => writeln!(out, "  n{} -> n{};", r.from, r.to),
        }?;
    }
    writeln!(out, "}}")
}

/// The neighbourhood as an SVG picture.
fn write_svg(d: &RefsData, back: bool, depth: usize, out: &mut Vec<u8>) {
    let target = &d.objects[0].object;
    let picture = svg::Picture {
        title: format!(
            "{} of {} at {} (depth {depth}): {} objects, {} references",
            if back { "referrers" } else { "referents" },
            target.ty,
            target.address,
            d.objects.len(),
            d.references.len()
        ),
        back,
        nodes: d
            .objects
            .iter()
            .map(|n| svg::Node {
                ty: n.object.ty.clone(),
                value: n.object.value.clone(),
                address: n.object.address.clone(),
                size: n.object.shallow,
                distance: n.distance,
                finalizer: n.finalizer,
                in_cycle: n.in_cycle,
                more: n.more,
            })
            .collect(),
        edges: d
            .references
            .iter()
            .map(|r| svg::Edge {
                from: r.from,
                to: r.to,
                label: r.label.clone(),
            })
            .collect(),
        truncated: d.truncated,
    };
    out.extend_from_slice(svg::render(&picture).as_bytes());
}
