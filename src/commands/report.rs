//! `heapsnap report`: one self-contained HTML file (no network, inline CSS, JS and SVG)
//! with the overview, the leak suspects and their retention paths, a zoomable treemap of
//! the dominator tree, the type histogram, the reference cycles and, with `--baseline`,
//! the growth by type. This module gathers the data; [`crate::report::html`] writes the
//! page.
//!
//! The leak suspects are found by [`crate::analysis::suspects`] (its documentation
//! states the rules); this module describes them.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::{analyze, open, ObjectJson};
use crate::analysis::suspects::{
    self, Reason, ACCUMULATION_MIN_CHILDREN, ACCUMULATION_SHARE_PERCENT, CHAIN_GAP, CHAIN_MIN,
    SUSPECT_PERCENT,
};
use crate::analysis::{diff, Analysis, Needs};
use crate::cli::DumpArgs;
use crate::error::{Error, Result};
use crate::format::type_flags::HEAP_TYPE;
use crate::graph::{NodeId, NONE};
use crate::names::{self, TypeNames};
use crate::output::AtomicFile;
use crate::query::{path_json, utc_iso, PathJson, EXAMPLE_MEMBERS, NATIVE_HINT, NATIVE_HINT_SHARE};
use crate::report::html;
use crate::report::text::{count, escape, percent, short_bytes};
use crate::report::{emit, Output};
use crate::snapshot::{Snapshot, Verify};

/// Retention paths shown per suspect.
const PATHS_PER_SUSPECT: usize = 3;
/// Biggest children shown per suspect.
const EXAMPLES_PER_SUSPECT: usize = 5;
/// Types listed as "what the children hold".
const HOLDS_TYPES: usize = 3;
/// Nearest dominators shown above a suspect.
const DOMINATORS_SHOWN: usize = 12;
/// Most dominator-tree nodes embedded for the treemap.
pub const TREE_NODES: usize = 3000;
/// Per suspect, its biggest children embedded in the tree, and for the biggest
/// `SUSPECT_TREE_EXPANDED` of those their biggest `SUSPECT_TREE_GRANDCHILDREN` children.
const SUSPECT_TREE_CHILDREN: usize = 120;
const SUSPECT_TREE_EXPANDED: usize = 24;
const SUSPECT_TREE_GRANDCHILDREN: usize = 4;
/// Most histogram rows embedded.
const HISTOGRAM_ROWS: usize = 5000;
/// Most cycle groups embedded.
const CYCLE_GROUPS: usize = 200;
/// Most growth rows embedded.
const GROWTH_ROWS: usize = 2000;

/// Everything the page shows, embedded as JSON (every string is escaped by
/// [`html::embed_json`]).
#[derive(Serialize)]
struct ReportData {
    /// Layout version of this data, for the page's script.
    version: u32,
    dump: DumpFacts,
    overview: Overview,
    rule: Rule,
    suspects: Vec<Suspect>,
    tree: Tree,
    histogram: Histogram,
    cycles: Cycles,
    growth: Option<Growth>,
}

#[derive(Serialize)]
struct DumpFacts {
    path: String,
    python: Option<String>,
    platform: Option<String>,
    pid: Option<u64>,
    time_utc: Option<String>,
}

#[derive(Serialize)]
struct Overview {
    objects: u64,
    edges: u64,
    dangling_edges: u64,
    roots: u64,
    types: u64,
    heap_bytes: u64,
    reachable_bytes: u64,
    unreachable_objects: u64,
    unreachable_bytes: u64,
    rss_bytes: Option<u64>,
    /// Heap bytes / RSS, in percent.
    rss_percent: Option<f64>,
    hint: Option<&'static str>,
    biggest: Option<Retainer>,
}

/// The dominator-tree child of the super-root that retains the most.
#[derive(Serialize)]
struct Retainer {
    object: ObjectJson,
    root: String,
    heap_percent: f64,
}

/// The suspect rule's parameters, shown on the page.
#[derive(Serialize)]
struct Rule {
    heap_percent: u64,
    min_children: usize,
    share_percent: u64,
    chain: u32,
    chain_gap: usize,
}

#[derive(Serialize)]
struct Suspect {
    /// The object's id (not embedded).
    #[serde(skip)]
    node: Option<NodeId>,
    object: ObjectJson,
    heap_percent: f64,
    /// `accumulation`, `chain`, `spread` or `large object`.
    reason: &'static str,
    /// One sentence saying where the bytes are.
    summary: String,
    /// Dominator-tree children.
    children: u64,
    /// The biggest same-type group of children (accumulation), or the chain's type.
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<Group>,
    /// What the group's members hold (their own children by type).
    holds: Vec<Group>,
    /// The biggest members of the group (or children).
    examples: Vec<ObjectJson>,
    /// The nearest dominators, the topmost first, the suspect's immediate dominator last.
    dominators: Vec<Dominator>,
    /// Dominators above those shown (the super-root not counted).
    dominators_above: u64,
    /// Shortest retention paths from the roots.
    paths: Vec<PathJson>,
}

#[derive(Serialize)]
struct Group {
    #[serde(rename = "type")]
    ty: String,
    count: u64,
    retained: u64,
}

#[derive(Serialize)]
struct Dominator {
    object: ObjectJson,
    heap_percent: f64,
}

/// The biggest part of the dominator tree, as flat rows whose parent comes first:
/// `[parent row (-1 for row 0, the super-root), type (index into types, -1 for the
/// super-root), retained, shallow, dominator-tree children (embedded or not), address,
/// value or null]`.
type TreeRow = (i64, i64, u64, u64, u64, String, Option<String>);

#[derive(Serialize)]
struct Tree {
    types: Vec<String>,
    nodes: Vec<TreeRow>,
    /// Reachable objects not embedded.
    omitted: u64,
}

#[derive(Serialize)]
struct Histogram {
    /// `[type, count, shallow, retained, unreachable]`, by retained bytes.
    rows: Vec<(String, u64, u64, u64, u64)>,
    more: u64,
}

#[derive(Serialize)]
struct Cycles {
    cycles: u64,
    group_count: u64,
    groups: Vec<CycleGroupJson>,
}

#[derive(Serialize)]
struct CycleGroupJson {
    /// `[type, members per cycle]`.
    types: Vec<(String, u32)>,
    cycles: u64,
    objects: u64,
    shallow: u64,
    retained: u64,
    finalizer: bool,
    reachable: u64,
    example: Vec<ObjectJson>,
    example_size: u64,
}

#[derive(Serialize)]
struct Growth {
    baseline: String,
    baseline_objects: u64,
    baseline_bytes: u64,
    /// `[type, baseline count, count, baseline bytes, bytes]` for every type name whose
    /// count or bytes changed, by byte growth.
    rows: Vec<(String, u64, u64, u64, u64)>,
    more: u64,
}

/// What `--json` prints: where the report went and its suspects.
#[derive(Serialize)]
struct Written {
    output: String,
    bytes: u64,
    suspects: Vec<WrittenSuspect>,
    tree_nodes: u64,
}

#[derive(Serialize)]
struct WrittenSuspect {
    #[serde(flatten)]
    object: ObjectJson,
    heap_percent: f64,
    reason: &'static str,
    summary: String,
}

pub(super) fn run<W: Write>(
    args: &DumpArgs,
    baseline: Option<&Path>,
    output: &Path,
    out: &mut W,
) -> Result<()> {
    let snap = open(args)?;
    let a = analyze(&snap, &args.dump, Needs::all())?;
    let growth = match baseline {
        Some(path) => {
            let verify = if args.no_verify {
                Verify::SkipChecksums
            } else {
                Verify::Full
            };
            let old = Snapshot::open(path, verify)?;
            Some(growth(&old, path, &snap))
        }
        None => None,
    };
    let data = gather(&a, &args.dump, growth);
    let title = format!(
        "heapsnap report: {}",
        args.dump.file_name().map_or_else(
            || args.dump.display().to_string(),
            |n| n.to_string_lossy().into_owned()
        )
    );
    let mut page = Vec::new();
    html::write_page(&mut page, &title, &subtitle(&data.dump), &data)?;
    write_atomically(output, &page)?;

    let written = Written {
        output: output.display().to_string(),
        bytes: page.len() as u64,
        tree_nodes: data.tree.nodes.len() as u64,
        suspects: data
            .suspects
            .into_iter()
            .map(|s| WrittenSuspect {
                object: s.object,
                heap_percent: s.heap_percent,
                reason: s.reason,
                summary: s.summary,
            })
            .collect(),
    };
    emit(out, args.json, &written)
}

impl Output for Written {
    const KIND: &'static str = "report";

    fn text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let written = self;
        writeln!(
            out,
            "wrote {} ({})",
            escape(&written.output),
            short_bytes(written.bytes)
        )?;
        if written.suspects.is_empty() {
            writeln!(
                out,
                "no leak suspect: no object retains more than {SUSPECT_PERCENT}% of the heap"
            )?;
        } else {
            writeln!(
            out,
            "leak suspects (objects retaining more than {SUSPECT_PERCENT}% of the heap, where it accumulates):"
        )
        ?;
        }
        for s in &written.suspects {
            writeln!(
                out,
                "  {:>5.1}%  {:>10}  {} at {}: {}",
                s.heap_percent,
                short_bytes(s.object.retained.unwrap_or(0)),
                escape(&s.object.ty),
                s.object.address,
                escape(&s.summary)
            )?;
        }
        Ok(())
    }
}

/// The line under the title: Python, platform, pid, time (raw: the page escapes it).
fn subtitle(d: &DumpFacts) -> String {
    let mut parts = vec![d.path.clone()];
    if let Some(p) = &d.python {
        parts.push(format!("Python {p}"));
    }
    if let Some(p) = &d.platform {
        parts.push(p.clone());
    }
    if let Some(pid) = d.pid {
        parts.push(format!("pid {pid}"));
    }
    if let Some(t) = &d.time_utc {
        parts.push(t.clone());
    }
    parts.join(" \u{b7} ")
}

/// Writes `bytes` to `path` through a temporary file beside it, renamed when complete:
/// a reader never sees half a report.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    AtomicFile::create_io(path)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.commit()
        })
        .map_err(|e| Error::io("cannot write report", e).in_file(path))
}

fn gather(a: &Analysis<'_>, path: &Path, growth: Option<Growth>) -> ReportData {
    let snap = a.snap;
    let dom = a.dom();
    let summary = a.summary();
    let heap = summary.shallow_bytes;
    let sr = a.graph.super_root();
    let rss = snap.fact_u64("rss.bytes");
    let share = rss.filter(|&r| r > 0).map(|r| heap as f64 / r as f64);
    let biggest = dom
        .children(sr)
        .iter()
        .copied()
        .max_by(|&x, &y| dom.retained(x).cmp(&dom.retained(y)).then(y.cmp(&x)))
        .map(|v| Retainer {
            object: ObjectJson::new(a, v),
            root: names::root_description(snap, &a.graph, v)
                .unwrap_or_else(|| "reachable from several roots".to_owned()),
            heap_percent: percent(dom.retained(v), heap),
        });
    let python = match (
        snap.fact_str("python.implementation"),
        snap.fact_str("python.version"),
    ) {
        (Some(i), Some(v)) => Some(format!("{i} {v}")),
        (None, Some(v)) => Some(v.to_owned()),
        (Some(i), None) => Some(i.to_owned()),
        (None, None) => None,
    };
    let platform = match (snap.fact_str("platform"), snap.fact_str("machine")) {
        (Some(p), Some(m)) => Some(format!("{p} {m}")),
        (p, m) => p.or(m).map(str::to_owned),
    };
    let size = |v: NodeId| a.size(v);
    let is_class = |t: u32| {
        snap.types()
            .get(t as usize)
            .is_some_and(|r| r.flags & HEAP_TYPE != 0)
    };
    let rules = suspects::Heap {
        dom: a.dom(),
        super_root: a.graph.super_root(),
        types: snap.types_of(),
        size: &size,
        heap: snap.total_shallow_size(),
        is_class: &is_class,
    };
    let suspects: Vec<Suspect> = suspects::find(&rules)
        .into_iter()
        .map(|f| suspect(a, &rules, f))
        .collect();
    let tree = tree(a, &suspects);
    ReportData {
        version: 1,
        dump: DumpFacts {
            path: path.display().to_string(),
            python,
            platform,
            pid: snap.fact_u64("pid"),
            time_utc: snap.fact_u64("time.unix_ns").map(utc_iso),
        },
        overview: Overview {
            objects: summary.objects,
            edges: summary.edges,
            dangling_edges: summary.dangling_edges,
            roots: summary.roots,
            types: snap.type_count() as u64,
            heap_bytes: heap,
            reachable_bytes: dom.retained(sr),
            unreachable_objects: summary.unreachable_objects.unwrap_or(0),
            unreachable_bytes: summary.unreachable_bytes.unwrap_or(0),
            rss_bytes: rss,
            rss_percent: share.map(|s| (s * 1000.0).round() / 10.0),
            hint: share
                .filter(|&s| s < NATIVE_HINT_SHARE)
                .map(|_| NATIVE_HINT),
            biggest,
        },
        rule: Rule {
            heap_percent: SUSPECT_PERCENT,
            min_children: ACCUMULATION_MIN_CHILDREN,
            share_percent: ACCUMULATION_SHARE_PERCENT,
            chain: CHAIN_MIN,
            chain_gap: CHAIN_GAP,
        },
        suspects,
        tree,
        histogram: histogram(a),
        cycles: cycles(a),
        growth,
    }
}

// ---------------------------------------------------------------------------------------
// Leak suspects
// ---------------------------------------------------------------------------------------

/// The `k` biggest of `objects` by retained size (ties: by id), biggest first.
fn biggest(a: &Analysis<'_>, mut objects: Vec<NodeId>, k: usize) -> Vec<NodeId> {
    let dom = a.dom();
    let order = |x: &NodeId, y: &NodeId| dom.retained(*y).cmp(&dom.retained(*x)).then(x.cmp(y));
    if objects.len() > k {
        objects.select_nth_unstable_by(k, order);
        objects.truncate(k);
    }
    objects.sort_unstable_by(order);
    objects
}

fn suspect(a: &Analysis<'_>, h: &suspects::Heap<'_>, f: suspects::Suspect) -> Suspect {
    let dom = a.dom();
    let types = a.snap.types_of();
    let heap = a.snap.total_shallow_size();
    let v = f.v;
    let retained = dom.retained(v);
    let kids = dom.children(v);
    let ty = a.names.get(types[v as usize]).to_owned();
    let (reason, group, members): (&'static str, Option<Group>, Vec<NodeId>) = match f.reason {
        Reason::Accumulation(gt) => {
            let members: Vec<NodeId> = kids
                .iter()
                .copied()
                .filter(|&c| types[c as usize] == gt)
                .collect();
            let group_retained = members
                .iter()
                .fold(0u64, |s, &c| s.saturating_add(dom.retained(c)));
            (
                "accumulation",
                Some(Group {
                    ty: a.names.get(gt).to_owned(),
                    count: members.len() as u64,
                    retained: group_retained,
                }),
                members,
            )
        }
        Reason::Chain => {
            let t = types[v as usize];
            (
                "chain",
                Some(Group {
                    ty: ty.clone(),
                    count: suspects::chain_length(h, v, t),
                    retained,
                }),
                kids.to_vec(),
            )
        }
        Reason::Spread => ("spread", None, kids.to_vec()),
        Reason::LargeObject => ("large object", None, kids.to_vec()),
    };
    // What the group's members hold: their own children, by type.
    let mut holds: Vec<Group> = Vec::new();
    if matches!(f.reason, Reason::Accumulation(_)) {
        let mut by: HashMap<u32, (u64, u64)> = HashMap::new();
        for &m in &members {
            for c in dom.children(m) {
                let e = by.entry(types[c as usize]).or_default();
                e.0 += 1;
                e.1 = e.1.saturating_add(dom.retained(c));
            }
        }
        let mut rows: Vec<(u32, u64, u64)> = by.into_iter().map(|(t, (n, r))| (t, n, r)).collect();
        rows.sort_unstable_by(|x, y| y.2.cmp(&x.2).then(y.1.cmp(&x.1)).then(x.0.cmp(&y.0)));
        holds = rows
            .into_iter()
            .take(HOLDS_TYPES)
            .map(|(t, n, r)| Group {
                ty: a.names.get(t).to_owned(),
                count: n,
                retained: r,
            })
            .collect();
    }
    let summary = match (&group, f.reason) {
        (Some(g), Reason::Accumulation(_)) => {
            let mut s = format!(
                "{} {} objects directly under it retain {} ({:.0}% of what it retains)",
                count(g.count),
                g.ty,
                short_bytes(g.retained),
                percent(g.retained, retained)
            );
            if let Some(h) = holds.first() {
                s.push_str(&format!("; they hold {} x {}", count(h.count), h.ty));
            }
            s
        }
        (Some(g), Reason::Chain) => format!(
            "a chain of {} {} objects, each keeping the next alive",
            count(g.count),
            g.ty
        ),
        (_, Reason::LargeObject) => format!(
            "the object itself takes {} of the {} it retains",
            short_bytes(a.size(v)),
            short_bytes(retained)
        ),
        _ => {
            let mut distinct: Vec<u32> = kids.iter().map(|&c| types[c as usize]).collect();
            distinct.sort_unstable();
            distinct.dedup();
            format!(
                "its {} is spread over {} children of {} type{}, none holding {}% of the heap",
                short_bytes(retained),
                count(kids.len() as u64),
                count(distinct.len() as u64),
                if distinct.len() == 1 { "" } else { "s" },
                SUSPECT_PERCENT
            )
        }
    };
    let mut ancestors: Vec<NodeId> = Vec::new();
    let sr = a.graph.super_root();
    let mut u = dom.idom(v);
    while u != sr && u != NONE {
        ancestors.push(u);
        u = dom.idom(u);
    }
    let above = ancestors.len().saturating_sub(DOMINATORS_SHOWN) as u64;
    ancestors.truncate(DOMINATORS_SHOWN);
    ancestors.reverse();
    Suspect {
        node: Some(v),
        object: ObjectJson::new(a, v),
        heap_percent: percent(retained, heap),
        reason,
        summary,
        children: kids.len() as u64,
        group,
        holds,
        examples: biggest(a, members, EXAMPLES_PER_SUSPECT)
            .into_iter()
            .map(|c| ObjectJson::new(a, c))
            .collect(),
        dominators: ancestors
            .into_iter()
            .map(|d| Dominator {
                object: ObjectJson::new(a, d),
                heap_percent: percent(dom.retained(d), heap),
            })
            .collect(),
        dominators_above: above,
        paths: a
            .paths()
            .paths_to(&a.graph, v, PATHS_PER_SUSPECT)
            .iter()
            .map(|p| path_json(a, p))
            .collect(),
    }
}

// ---------------------------------------------------------------------------------------
// The treemap's tree, the histogram, the cycles
// ---------------------------------------------------------------------------------------

/// Builds the embedded tree: rows are added parents first.
struct TreeBuilder<'a, 's> {
    a: &'a Analysis<'s>,
    row_of: HashMap<NodeId, i64>,
    type_rows: HashMap<u32, i64>,
    tree: Tree,
}

impl TreeBuilder<'_, '_> {
    fn len(&self) -> usize {
        self.tree.nodes.len()
    }

    /// Adds `v` below row `parent` (unless it is there already); returns its row.
    fn add(&mut self, v: NodeId, parent: i64) -> i64 {
        if let Some(&row) = self.row_of.get(&v) {
            return row;
        }
        let a = self.a;
        let t = a.snap.types_of()[v as usize];
        let next = self.tree.types.len() as i64;
        let types = &mut self.tree.types;
        let ti = *self.type_rows.entry(t).or_insert_with(|| {
            types.push(a.names.get(t).to_owned());
            next
        });
        let value = names::value_of(a.snap, v)
            .map(|(_, text, _)| text.chars().take(names::PREVIEW_CHARS).collect::<String>());
        let row = self.tree.nodes.len() as i64;
        self.tree.nodes.push((
            parent,
            ti,
            a.dom().retained(v),
            a.size(v),
            a.dom().children(v).len() as u64,
            format!("{:#x}", a.snap.addresses()[v as usize]),
            value,
        ));
        self.row_of.insert(v, row);
        row
    }

    /// Adds `v` and every dominator above it (super-root excluded), topmost first.
    fn add_with_dominators(&mut self, v: NodeId) -> i64 {
        let dom = self.a.dom();
        let sr = self.a.graph.super_root();
        let mut chain = vec![v];
        let mut u = dom.idom(v);
        while u != sr && u != NONE && !self.row_of.contains_key(&u) {
            chain.push(u);
            u = dom.idom(u);
        }
        let mut parent = self.row_of.get(&u).copied().unwrap_or(0);
        for &w in chain.iter().rev() {
            parent = self.add(w, parent);
        }
        parent
    }
}

/// The part of the dominator tree the treemap draws, at most [`TREE_NODES`] objects:
/// first each suspect with its dominators, its biggest children and theirs (so the
/// treemap shows where the suspects' bytes are), then the objects that retain the most,
/// taken best first from the super-root (so every embedded object's dominator is
/// embedded too).
fn tree(a: &Analysis<'_>, suspects: &[Suspect]) -> Tree {
    use std::collections::BinaryHeap;
    let dom = a.dom();
    let sr = a.graph.super_root();
    let mut b = TreeBuilder {
        a,
        row_of: HashMap::new(),
        type_rows: HashMap::new(),
        tree: Tree {
            types: Vec::new(),
            nodes: vec![(
                -1,
                -1,
                dom.retained(sr),
                0,
                dom.children(sr).len() as u64,
                String::new(),
                None,
            )],
            omitted: 0,
        },
    };
    b.row_of.insert(sr, 0);
    for s in suspects {
        let Some(v) = s.node else { continue };
        if b.len() + SUSPECT_TREE_CHILDREN * (1 + SUSPECT_TREE_GRANDCHILDREN) > TREE_NODES / 2 {
            break;
        }
        let row = b.add_with_dominators(v);
        let kids = dom.biggest_children(v, SUSPECT_TREE_CHILDREN).kept;
        let rows: Vec<(NodeId, i64)> = kids.iter().map(|&c| (c, b.add(c, row))).collect();
        for (c, row) in rows.into_iter().take(SUSPECT_TREE_EXPANDED) {
            for g in dom.biggest_children(c, SUSPECT_TREE_GRANDCHILDREN).kept {
                b.add(g, row);
            }
        }
    }
    // Best first: candidates (retained, lower id first, node, parent row). Only the
    // biggest `room` candidates can still be taken, so the heap is cut back to those
    // when it grows past four times as many.
    type Candidate = (u64, std::cmp::Reverse<NodeId>, i64);
    let mut heap: BinaryHeap<Candidate> = BinaryHeap::new();
    let push_children = |heap: &mut BinaryHeap<Candidate>, v: NodeId, row: i64, room: usize| {
        for c in dom.biggest_children(v, room).kept {
            heap.push((dom.retained(c), std::cmp::Reverse(c), row));
        }
        if heap.len() > 4 * room {
            let mut keep = std::mem::take(heap).into_sorted_vec();
            keep.drain(..keep.len() - room);
            *heap = BinaryHeap::from(keep);
        }
    };
    let room = TREE_NODES.saturating_sub(b.len() - 1);
    push_children(&mut heap, sr, 0, room);
    while b.len() <= TREE_NODES {
        let Some((_, std::cmp::Reverse(v), parent)) = heap.pop() else {
            break;
        };
        // A suspect's object, already in: its children are candidates all the same.
        let fresh = !b.row_of.contains_key(&v);
        let row = b.add(v, parent);
        let room = TREE_NODES + 1 - b.len();
        if room > 0 {
            push_children(
                &mut heap,
                v,
                row,
                room + usize::from(!fresh) * SUSPECT_TREE_CHILDREN,
            );
        }
    }
    b.tree.omitted = (dom.reachable_count() as u64).saturating_sub(b.len() as u64 - 1);
    b.tree
}

fn histogram(a: &Analysis<'_>) -> Histogram {
    let mut rows: Vec<_> = a.histogram().into_iter().filter(|r| r.count > 0).collect();
    rows.sort_by(|x, y| {
        y.retained
            .cmp(&x.retained)
            .then(y.shallow.cmp(&x.shallow))
            .then(x.ty.cmp(&y.ty))
    });
    let more = rows.len().saturating_sub(HISTOGRAM_ROWS) as u64;
    rows.truncate(HISTOGRAM_ROWS);
    Histogram {
        rows: rows
            .into_iter()
            .map(|r| {
                (
                    a.names.get(r.ty).to_owned(),
                    r.count,
                    r.shallow,
                    r.retained,
                    r.unreachable,
                )
            })
            .collect(),
        more,
    }
}

fn cycles(a: &Analysis<'_>) -> Cycles {
    let groups = a.cycle_groups();
    Cycles {
        cycles: groups.iter().map(|g| g.cycles).sum(),
        group_count: groups.len() as u64,
        groups: groups
            .iter()
            .take(CYCLE_GROUPS)
            .map(|g| CycleGroupJson {
                types: g
                    .types
                    .iter()
                    .map(|&(t, c)| (a.names.get(t).to_owned(), c))
                    .collect(),
                cycles: g.cycles,
                objects: g.objects,
                shallow: g.shallow,
                retained: g.retained,
                finalizer: g.finalizer,
                reachable: g.reachable,
                example: g
                    .example
                    .iter()
                    .take(EXAMPLE_MEMBERS)
                    .map(|&v| ObjectJson::new(a, v))
                    .collect(),
                example_size: g.example.len() as u64,
            })
            .collect(),
    }
}

// ---------------------------------------------------------------------------------------
// Growth against a baseline
// ---------------------------------------------------------------------------------------

/// The growth by type name from `old` to `new` ([`diff::type_growth`]: every type whose
/// count or shallow bytes changed, by byte growth, then count growth, then name).
fn growth(old: &Snapshot, old_path: &Path, new: &Snapshot) -> Growth {
    let names = [TypeNames::new(old), TypeNames::new(new)];
    let table = diff::TypeTable::new(&[&names[0], &names[1]]);
    let side = |i: usize, snap| diff::Side {
        snap,
        keys: table.keys(i),
    };
    let mut rows = diff::type_growth(side(0, old), side(1, new), table.len());
    let more = rows.len().saturating_sub(GROWTH_ROWS) as u64;
    rows.truncate(GROWTH_ROWS);
    Growth {
        baseline: old_path.display().to_string(),
        baseline_objects: old.object_count() as u64,
        baseline_bytes: old.total_shallow_size(),
        rows: rows
            .into_iter()
            .map(|r| {
                (
                    table.name(r.key).to_owned(),
                    r.old_count,
                    r.new_count,
                    r.old_shallow,
                    r.new_shallow,
                )
            })
            .collect(),
        more,
    }
}
