//! A self-contained SVG picture of a small object graph (`heapsnap refs --format svg`),
//! laid out here, without graphviz: a layered (Sugiyama-style) drawing.
//!
//! 1. Layers: an object's layer is its distance from the target (referents: the target
//!    on top, what it refers to below; referrers: the target at the bottom, what refers
//!    to it above), so every reference the search followed points one layer down.
//! 2. Order within a layer: a few down and up sweeps of the barycenter heuristic (each
//!    object moves to the mean position of its neighbours in the layer just swept), the
//!    order with the fewest crossings kept (counted exactly, by inversions).
//! 3. Positions: layers packed left to right, then a few passes that pull each object
//!    towards its neighbours' mean, keeping order and a minimum gap (the mean of the
//!    leftmost and the rightmost placement that respect both is another such placement).
//! 4. Drawing: a box per object (type, value, address and size, marks), a path with an
//!    arrowhead per reference (one layer down or up: an S-curve; anything else, such as
//!    a reference back to the target, a loop around the right side), its label at the
//!    middle. Objects with a finalizer have a red border, objects on a reference cycle a
//!    yellow fill; a legend says so.
//!
//! Every string from the dump is escaped twice: for terminals first
//! ([`crate::escape::escape`]: controls, bidi and invisible characters become
//! `\u{..}`), then for XML. The picture holds no script, no link and no external
//! reference, and is the same bytes for the same input.

use std::fmt::Write as _;

use crate::escape::{escape, markup, Markup};
use crate::report::text::short_bytes;

/// An object to draw. Strings are raw, as the dump has them.
#[derive(Clone, Debug, Default)]
pub struct Node {
    /// Type name.
    pub ty: String,
    /// Name or value preview, if any.
    pub value: Option<String>,
    /// Address, as shown (`0x7f...`).
    pub address: String,
    /// Shallow size in bytes.
    pub size: u64,
    /// Steps from the target (0 for the target).
    pub distance: usize,
    /// Its class has a finalizer (`__del__`).
    pub finalizer: bool,
    /// It is on a reference cycle among the objects shown.
    pub in_cycle: bool,
    /// Neighbours left out by a limit.
    pub more: u64,
}

/// A reference: `from` refers to `to` (positions in [`Picture::nodes`]).
#[derive(Clone, Debug)]
pub struct Edge {
    /// The referrer.
    pub from: usize,
    /// The referent.
    pub to: usize,
    /// The label (`.attr`, `['key']`, `[3]`), if known. Raw.
    pub label: Option<String>,
}

/// What to draw.
#[derive(Clone, Debug, Default)]
pub struct Picture {
    /// The heading. Raw.
    pub title: String,
    /// True for referrers (the target at the bottom), false for referents (on top).
    pub back: bool,
    /// The objects; the first is the target.
    pub nodes: Vec<Node>,
    /// The references among them.
    pub edges: Vec<Edge>,
    /// True if limits left objects out (said under the heading).
    pub truncated: bool,
}

// Geometry, in pixels (11 px monospace text).
const FONT: f64 = 11.0;
const CHAR_W: f64 = 6.7;
const LINE_H: f64 = 14.0;
const PAD_X: f64 = 8.0;
const PAD_Y: f64 = 6.0;
const MIN_W: f64 = 90.0;
const GAP_X: f64 = 28.0;
const GAP_Y: f64 = 64.0;
const MARGIN: f64 = 16.0;
/// Longest text line in a box, in columns.
const MAX_COLS: usize = 44;
/// Longest edge label, in columns.
const MAX_LABEL_COLS: usize = 24;
/// Barycenter sweeps (each one down and one up) and positioning passes.
const SWEEPS: usize = 6;
const PASSES: usize = 8;

/// Text for inside an SVG element or attribute ([`markup`] as XML).
fn xml(s: &str) -> String {
    markup(s, Markup::Xml)
}

/// Display columns of `c` in a monospace font (East Asian wide and emoji: 2).
fn columns(c: char) -> usize {
    match c as u32 {
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x1F300..=0x1F64F
        | 0x1F900..=0x1F9FF
        | 0x20000..=0x3FFFD => 2,
        _ => 1,
    }
}

fn width_of(s: &str) -> usize {
    s.chars().map(columns).sum()
}

/// `s` escaped for a terminal and clipped to `max` columns (with `…`).
fn clip(s: &str, max: usize) -> String {
    let safe = escape(s);
    if width_of(&safe) <= max {
        return safe.into_owned();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in safe.chars() {
        if w + columns(c) > max - 1 {
            break;
        }
        w += columns(c);
        out.push(c);
    }
    out.push('…');
    out
}

/// One line of text in a box.
struct Line {
    text: String,
    bold: bool,
}

fn lines_of(n: &Node) -> Vec<Line> {
    let mut lines = vec![Line {
        text: clip(&n.ty, MAX_COLS),
        bold: true,
    }];
    if let Some(v) = &n.value {
        let quoted = clip(v, MAX_COLS - 2);
        lines.push(Line {
            text: format!("\"{quoted}\""),
            bold: false,
        });
    }
    lines.push(Line {
        text: format!("{} · {}", n.address, short_bytes(n.size)),
        bold: false,
    });
    let marks: Vec<&str> = [
        (n.finalizer, "finalizer (__del__)"),
        (n.in_cycle, "on a cycle"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, m)| *m)
    .collect();
    if !marks.is_empty() {
        lines.push(Line {
            text: marks.join(", "),
            bold: false,
        });
    }
    if n.more > 0 {
        lines.push(Line {
            text: format!("(+{} more not shown)", n.more),
            bold: false,
        });
    }
    lines
}

/// The layered layout. Vertices `0..n` are the objects; vertices from `n` on are
/// dummies that carry a reference spanning several layers through the layers between
/// its ends, so that it gets its own slot in each and is ordered with the objects.
pub struct Layout {
    /// Layer of each vertex.
    pub layer: Vec<usize>,
    /// Vertices of each layer, left to right.
    pub order: Vec<Vec<usize>>,
    /// Each vertex's neighbours in the layer above (by references either way).
    pub up: Vec<Vec<usize>>,
    /// ... and in the layer below.
    pub down: Vec<Vec<usize>>,
    /// Per edge of the picture, its dummies from the upper end down (empty for a
    /// reference between neighbouring layers or within one).
    pub routes: Vec<Vec<usize>>,
}

/// Assigns layers, adds dummies, and orders the layers to reduce crossings (steps 1
/// and 2).
pub fn layout(p: &Picture) -> Layout {
    let n = p.nodes.len();
    let deepest = p.nodes.iter().map(|x| x.distance).max().unwrap_or(0);
    let mut layer: Vec<usize> = p
        .nodes
        .iter()
        .map(|x| {
            if p.back {
                deepest - x.distance
            } else {
                x.distance
            }
        })
        .collect();
    let mut order: Vec<Vec<usize>> = vec![Vec::new(); deepest + 1];
    for (i, &l) in layer.iter().enumerate() {
        order[l].push(i);
    }
    let mut up: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut down: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut routes: Vec<Vec<usize>> = vec![Vec::new(); p.edges.len()];
    for (i, e) in p.edges.iter().enumerate() {
        if e.from >= n || e.to >= n || layer[e.from] == layer[e.to] {
            continue;
        }
        let (hi, lo) = if layer[e.from] < layer[e.to] {
            (e.from, e.to)
        } else {
            (e.to, e.from)
        };
        let mut prev = hi;
        let (top, bottom) = (layer[hi], layer[lo]);
        for (l, row) in order.iter_mut().enumerate().take(bottom).skip(top + 1) {
            let d = layer.len();
            layer.push(l);
            row.push(d);
            up.push(vec![prev]);
            down.push(Vec::new());
            down[prev].push(d);
            routes[i].push(d);
            prev = d;
        }
        down[prev].push(lo);
        up[lo].push(prev);
    }
    let mut pos = vec![0usize; layer.len()];
    for row in &order {
        for (i, &v) in row.iter().enumerate() {
            pos[v] = i;
        }
    }
    let mut best = order.clone();
    let mut best_crossings = crossings(&order, &down, &pos);
    for _ in 0..SWEEPS {
        if best_crossings == 0 {
            break;
        }
        for row in order.iter_mut().skip(1) {
            reorder(row, &up, &mut pos);
        }
        for l in (0..order.len().saturating_sub(1)).rev() {
            reorder(&mut order[l], &down, &mut pos);
        }
        let c = crossings(&order, &down, &pos);
        if c < best_crossings {
            best_crossings = c;
            best = order.clone();
        }
    }
    Layout {
        layer,
        order: best,
        up,
        down,
        routes,
    }
}

/// Sorts `row` by the mean position of each vertex's neighbours in `nbrs` (one without
/// any keeps its place), stably; updates `pos`.
fn reorder(row: &mut [usize], nbrs: &[Vec<usize>], pos: &mut [usize]) {
    let mut keyed: Vec<(f64, usize)> = row
        .iter()
        .map(|&v| {
            let ns = &nbrs[v];
            let key = if ns.is_empty() {
                pos[v] as f64
            } else {
                ns.iter().map(|&w| pos[w] as f64).sum::<f64>() / ns.len() as f64
            };
            (key, v)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (i, (_, v)) in keyed.into_iter().enumerate() {
        row[i] = v;
        pos[v] = i;
    }
}

/// Crossings between consecutive layers: for each pair of layers, the inversions of
/// the lower ends when the edges are sorted by their upper ends (Fenwick tree).
pub fn crossings(order: &[Vec<usize>], down: &[Vec<usize>], pos: &[usize]) -> u64 {
    let mut total = 0u64;
    for l in 0..order.len().saturating_sub(1) {
        let width = order[l + 1].len();
        let mut pairs: Vec<(usize, usize)> = order[l]
            .iter()
            .flat_map(|&v| down[v].iter().map(move |&w| (pos[v], pos[w])))
            .collect();
        pairs.sort_unstable();
        let mut tree = vec![0u64; width + 1];
        for (seen, &(_, b)) in pairs.iter().enumerate() {
            // Edges already counted whose lower end is right of b cross this one.
            let mut not_right = 0u64;
            let mut i = b + 1;
            while i > 0 {
                not_right += tree[i];
                i &= i - 1;
            }
            total += seen as u64 - not_right;
            let mut i = b + 1;
            while i <= width {
                tree[i] += 1;
                i += i & i.wrapping_neg();
            }
        }
    }
    total
}

/// Width of a dummy's slot, and the gap beside one.
const DUMMY_W: f64 = 6.0;
const DUMMY_GAP: f64 = 12.0;

/// Centre x of every vertex (step 3), given their widths (`dummies` from index `n`).
fn place(lay: &Layout, widths: &[f64], n: usize) -> Vec<f64> {
    let gap = |a: usize, b: usize| if a >= n || b >= n { DUMMY_GAP } else { GAP_X };
    let mut x = vec![0.0f64; widths.len()];
    // Packed and centred on x = 0.
    for row in &lay.order {
        let mut total = 0.0;
        for (i, &v) in row.iter().enumerate() {
            total += widths[v] + if i > 0 { gap(row[i - 1], v) } else { 0.0 };
        }
        let mut left = -total / 2.0;
        for (i, &v) in row.iter().enumerate() {
            if i > 0 {
                left += gap(row[i - 1], v);
            }
            x[v] = left + widths[v] / 2.0;
            left += widths[v];
        }
    }
    for pass in 0..PASSES {
        let downward = pass % 2 == 0;
        let layers: Vec<usize> = if downward {
            (1..lay.order.len()).collect()
        } else {
            (0..lay.order.len().saturating_sub(1)).rev().collect()
        };
        for l in layers {
            let row = &lay.order[l];
            let nbrs = if downward { &lay.up } else { &lay.down };
            let want: Vec<f64> = row
                .iter()
                .map(|&v| {
                    let ns = &nbrs[v];
                    if ns.is_empty() {
                        x[v]
                    } else {
                        ns.iter().map(|&w| x[w]).sum::<f64>() / ns.len() as f64
                    }
                })
                .collect();
            let sep =
                |i: usize| (widths[row[i - 1]] + widths[row[i]]) / 2.0 + gap(row[i - 1], row[i]);
            let k = row.len();
            let mut left = want.clone();
            for i in 1..k {
                left[i] = left[i].max(left[i - 1] + sep(i));
            }
            let mut right = want;
            for i in (0..k.saturating_sub(1)).rev() {
                right[i] = right[i].min(right[i + 1] - sep(i + 1));
            }
            for i in 0..k {
                x[row[i]] = (left[i] + right[i]) / 2.0;
            }
            // Exact separation whatever the rounding.
            for i in 1..k {
                let min = x[row[i - 1]] + sep(i);
                if x[row[i]] < min {
                    x[row[i]] = min;
                }
            }
        }
    }
    x
}

/// A number for an attribute: one decimal, no `-0`.
fn num(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r == 0.0 {
        "0".to_owned()
    } else if r.fract() == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

/// The legend's width.
const LEGEND_W: f64 = 600.0;

/// A piece of a path.
#[derive(Clone, Copy)]
enum Seg {
    Line((f64, f64)),
    Cubic((f64, f64), (f64, f64), (f64, f64)),
}

/// A reference's path (a start and pieces), and where its label goes.
struct Route {
    start: (f64, f64),
    segs: Vec<Seg>,
    label_at: (f64, f64),
}

impl Route {
    fn points(&self) -> Vec<(f64, f64)> {
        let mut out = vec![self.start];
        for s in &self.segs {
            match *s {
                Seg::Line(p) => out.push(p),
                Seg::Cubic(a, b, c) => out.extend([a, b, c]),
            }
        }
        out
    }

    fn d(&self, dx: f64) -> String {
        let pt = |p: (f64, f64)| format!("{} {}", num(p.0 + dx), num(p.1));
        let mut d = format!("M{}", pt(self.start));
        for s in &self.segs {
            match *s {
                Seg::Line(p) => d.push_str(&format!(" L{}", pt(p))),
                Seg::Cubic(a, b, c) => d.push_str(&format!(" C{} {} {}", pt(a), pt(b), pt(c))),
            }
        }
        d
    }
}

/// The point at `t` of a cubic Bézier.
fn bezier(p: [(f64, f64); 4], t: f64) -> (f64, f64) {
    let u = 1.0 - t;
    let w = [u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t];
    (
        w.iter().zip(p).map(|(w, p)| w * p.0).sum(),
        w.iter().zip(p).map(|(w, p)| w * p.1).sum(),
    )
}

/// An S-curve from `a` down or up to `b`, vertical at both ends.
fn s_curve(a: (f64, f64), b: (f64, f64)) -> Seg {
    let m = (a.1 + b.1) / 2.0;
    Seg::Cubic((a.0, m), (b.0, m), b)
}

/// Where a vertex is drawn: centre x, top y and height of its slot.
struct Slot {
    x: f64,
    y: f64,
    h: f64,
}

/// The path of edge `i` of the picture:
/// - between neighbouring layers, an S-curve from box to box, moved aside by `offset`
///   (a reference the other way shares its ends), its label near the end whose side is
///   less crowded (`near_source`);
/// - across several layers, S-curves through its dummies' slots (straight down each);
/// - within a layer, an arc over the layer, from top to top;
/// - to itself, a loop on the right side.
fn route(
    p: &Picture,
    lay: &Layout,
    slots: &[Slot],
    widths: &[f64],
    i: usize,
    near_source: bool,
    offset: f64,
) -> Route {
    let e = &p.edges[i];
    let (a, b) = (&slots[e.from], &slots[e.to]);
    let (la, lb) = (lay.layer[e.from], lay.layer[e.to]);
    if e.from == e.to {
        let r = a.x + widths[e.from] / 2.0;
        let cy = a.y + a.h / 2.0;
        let segs = vec![Seg::Cubic(
            (r + 34.0, cy - 24.0),
            (r + 34.0, cy + 24.0),
            (r, cy + 6.0),
        )];
        let start = (r, cy - 6.0);
        return Route {
            label_at: bezier(
                [
                    start,
                    (r + 34.0, cy - 24.0),
                    (r + 34.0, cy + 24.0),
                    (r, cy + 6.0),
                ],
                0.5,
            ),
            start,
            segs,
        };
    }
    if la == lb {
        let (s, t) = ((a.x, a.y), (b.x, b.y));
        let lift = (18.0 + 0.12 * (a.x - b.x).abs()).min(GAP_Y * 0.7);
        let pts = [s, (s.0, s.1 - lift), (t.0, t.1 - lift), t];
        return Route {
            start: s,
            segs: vec![Seg::Cubic(pts[1], pts[2], pts[3])],
            label_at: bezier(pts, 0.5),
        };
    }
    // Ports from the upper end down to the lower end: out of the upper box's bottom,
    // through each dummy's slot, into the lower box's top.
    let (hi, lo) = if la < lb { (a, b) } else { (b, a) };
    let mut ports = vec![(hi.x + offset, hi.y + hi.h)];
    for &d in &lay.routes[i] {
        let s = &slots[d];
        ports.push((s.x, s.y));
        ports.push((s.x, s.y + s.h));
    }
    ports.push((lo.x + offset, lo.y));
    if la > lb {
        // A reference upwards: out of the lower box's top, into the upper box's bottom.
        ports.reverse();
    }
    let mut segs = Vec::new();
    for (k, w) in ports.windows(2).enumerate() {
        if k % 2 == 0 {
            segs.push(s_curve(w[0], w[1]));
        } else {
            segs.push(Seg::Line(w[1]));
        }
    }
    let first = match segs[0] {
        Seg::Cubic(c1, c2, end) => [ports[0], c1, c2, end],
        Seg::Line(end) => [ports[0], ports[0], end, end],
    };
    let t = if lay.routes[i].is_empty() && !near_source {
        0.7
    } else {
        0.3
    };
    Route {
        start: ports[0],
        label_at: bezier(first, t),
        segs,
    }
}

/// Renders `p` as a standalone SVG document.
pub fn render(p: &Picture) -> String {
    let lay = layout(p);
    let n = p.nodes.len();
    let boxes: Vec<(Vec<Line>, f64, f64)> = p
        .nodes
        .iter()
        .map(|node| {
            let lines = lines_of(node);
            let cols = lines.iter().map(|l| width_of(&l.text)).max().unwrap_or(0);
            let w = (cols as f64 * CHAR_W + 2.0 * PAD_X).max(MIN_W).ceil();
            let h = lines.len() as f64 * LINE_H + 2.0 * PAD_Y;
            (lines, w, h)
        })
        .collect();
    let mut widths: Vec<f64> = boxes.iter().map(|b| b.1).collect();
    widths.resize(lay.layer.len(), DUMMY_W);
    let xs = place(&lay, &widths, n);

    // Heading, legend, then the layers (a dummy's slot is its layer's height).
    let heading_lines = 1 + usize::from(p.truncated);
    let legend_top = MARGIN + heading_lines as f64 * 16.0 + 6.0;
    let mut y = legend_top + 14.0 + GAP_Y * 0.75;
    let mut slots: Vec<Slot> = xs.iter().map(|&x| Slot { x, y: 0.0, h: 0.0 }).collect();
    for row in &lay.order {
        let h = row
            .iter()
            .filter(|&&v| v < n)
            .map(|&v| boxes[v].2)
            .fold(0.0, f64::max);
        for &v in row {
            slots[v].y = y;
            slots[v].h = if v < n { boxes[v].2 } else { h };
        }
        y += h + GAP_Y;
    }
    let graph_bottom = y - GAP_Y;

    // References.
    let mut out_degree = vec![0usize; n];
    let mut in_degree = vec![0usize; n];
    let mut pairs: Vec<(usize, usize)> = Vec::with_capacity(p.edges.len());
    for e in p.edges.iter().filter(|e| e.from < n && e.to < n) {
        out_degree[e.from] += 1;
        in_degree[e.to] += 1;
        pairs.push((e.from, e.to));
    }
    pairs.sort_unstable();
    let edges: Vec<(&Edge, Route, Option<String>)> = p
        .edges
        .iter()
        .enumerate()
        .filter(|(_, e)| e.from < n && e.to < n)
        .map(|(i, e)| {
            let label = e.label.as_deref().map(|l| clip(l, MAX_LABEL_COLS));
            let both_ways = e.from != e.to && pairs.binary_search(&(e.to, e.from)).is_ok();
            let offset = match (both_ways, e.from < e.to) {
                (false, _) => 0.0,
                (true, true) => -5.0,
                (true, false) => 5.0,
            };
            let near_source = in_degree[e.to] > out_degree[e.from];
            (
                e,
                route(p, &lay, &slots, &widths, i, near_source, offset),
                label,
            )
        })
        .collect();

    // Extent: everything is shifted right of the margin by dx.
    let title = clip(&p.title, 120);
    let mut min_x = f64::INFINITY;
    let mut max_x = f64::NEG_INFINITY;
    for (v, s) in slots.iter().enumerate().take(n) {
        min_x = min_x.min(s.x - widths[v] / 2.0);
        max_x = max_x.max(s.x + widths[v] / 2.0);
    }
    for (_, r, label) in &edges {
        for pt in r.points() {
            min_x = min_x.min(pt.0);
            max_x = max_x.max(pt.0);
        }
        if let Some(l) = label {
            let half = width_of(l) as f64 * CHAR_W / 2.0;
            min_x = min_x.min(r.label_at.0 - half);
            max_x = max_x.max(r.label_at.0 + half);
        }
    }
    if !min_x.is_finite() {
        (min_x, max_x) = (0.0, 0.0);
    }
    let dx = MARGIN - min_x;
    let width = (max_x - min_x + 2.0 * MARGIN)
        .max(LEGEND_W + 2.0 * MARGIN)
        .max(width_of(&title) as f64 * 7.9 + 2.0 * MARGIN)
        .ceil();
    let height = (graph_bottom + MARGIN).ceil();

    let mut s = String::new();
    let _ = writeln!(s, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"monospace\" font-size=\"{}\">",
        num(FONT),
        w = num(width),
        h = num(height)
    );
    let _ = writeln!(s, "<title>{}</title>", xml(&p.title));
    let _ = writeln!(
        s,
        "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto\"><path d=\"M0 0 L10 5 L0 10 z\" fill=\"#555\"/></marker></defs>"
    );
    let _ = writeln!(
        s,
        "<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>",
        num(width),
        num(height)
    );
    let _ = writeln!(
        s,
        "<text class=\"heading\" x=\"{}\" y=\"{}\" font-size=\"13\" font-weight=\"bold\">{}</text>",
        num(MARGIN),
        num(MARGIN + 12.0),
        xml(&title)
    );
    if p.truncated {
        let _ = writeln!(
            s,
            "<text class=\"heading\" x=\"{}\" y=\"{}\" fill=\"#8a4b00\">limits reached: raise --max-nodes or --fanout to see more</text>",
            num(MARGIN),
            num(MARGIN + 28.0)
        );
    }
    // Legend.
    let ly = legend_top;
    let _ = writeln!(s, "<g class=\"legend\">");
    let swatches = [
        ("#e8eefc", "#1a3c8f", 2.5, "target"),
        ("#ffffff", "#c62828", 2.0, "finalizer (__del__)"),
        ("#fff3c4", "#666666", 1.0, "on a reference cycle"),
    ];
    let mut lx = MARGIN;
    for (fill, stroke, sw, text) in swatches {
        let _ = writeln!(
            s,
            "<rect x=\"{}\" y=\"{}\" width=\"22\" height=\"14\" rx=\"3\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"{}\"/><text x=\"{}\" y=\"{}\">{}</text>",
            num(lx),
            num(ly),
            num(sw),
            num(lx + 28.0),
            num(ly + 11.0),
            xml(text)
        );
        lx += 28.0 + text.len() as f64 * CHAR_W + 22.0;
    }
    let arrow_text = if p.back {
        "referrer → referent"
    } else {
        "object → referent"
    };
    let _ = writeln!(
        s,
        "<path d=\"M{} {} L{} {}\" stroke=\"#555\" fill=\"none\" marker-end=\"url(#arrow)\"/><text x=\"{}\" y=\"{}\">{}</text>",
        num(lx),
        num(ly + 7.0),
        num(lx + 30.0),
        num(ly + 7.0),
        num(lx + 36.0),
        num(ly + 11.0),
        xml(arrow_text)
    );
    let _ = writeln!(s, "</g>");

    // References first, so that boxes are drawn over them.
    for (e, r, _) in &edges {
        let _ = writeln!(
            s,
            "<path class=\"edge\" data-from=\"{}\" data-to=\"{}\" d=\"{}\" fill=\"none\" stroke=\"#555\" stroke-width=\"1.2\" marker-end=\"url(#arrow)\"/>",
            e.from,
            e.to,
            r.d(dx)
        );
    }
    for (i, (lines, w, h)) in boxes.iter().enumerate() {
        let node = &p.nodes[i];
        let mut class = String::from("node");
        let (mut fill, mut stroke, mut sw) = ("#ffffff", "#666666", 1.0);
        if node.in_cycle {
            class.push_str(" cycle");
            fill = "#fff3c4";
        }
        if node.finalizer {
            class.push_str(" finalizer");
            stroke = "#c62828";
            sw = 2.0;
        }
        if i == 0 {
            class.push_str(" target");
            if !node.in_cycle {
                fill = "#e8eefc";
            }
            if !node.finalizer {
                stroke = "#1a3c8f";
            }
            sw = 2.5;
        }
        let left = slots[i].x - w / 2.0 + dx;
        let top = slots[i].y;
        let mut tooltip = format!("{} at {}", node.ty, node.address);
        if let Some(v) = &node.value {
            tooltip.push_str(&format!(" ({v})"));
        }
        let _ = writeln!(s, "<g class=\"{class}\" id=\"n{i}\">");
        let _ = writeln!(s, "<title>{}</title>", xml(&tooltip));
        let _ = writeln!(
            s,
            "<rect class=\"box\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"4\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"{}\"/>",
            num(left),
            num(top),
            num(*w),
            num(*h),
            num(sw)
        );
        for (k, line) in lines.iter().enumerate() {
            let weight = if line.bold {
                " font-weight=\"bold\""
            } else {
                ""
            };
            let _ = writeln!(
                s,
                "<text x=\"{}\" y=\"{}\"{weight}>{}</text>",
                num(left + PAD_X),
                num(top + PAD_Y + 11.0 + k as f64 * LINE_H),
                xml(&line.text)
            );
        }
        let _ = writeln!(s, "</g>");
    }
    // Labels last, over everything, with a white halo.
    for (e, r, label) in &edges {
        if let Some(l) = label {
            let _ = writeln!(
                s,
                "<text class=\"label\" data-from=\"{}\" data-to=\"{}\" x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#333\" stroke=\"#ffffff\" stroke-width=\"3\" paint-order=\"stroke\">{}</text>",
                e.from,
                e.to,
                num(r.label_at.0 + dx),
                num(r.label_at.1 + 4.0),
                xml(l)
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(distance: usize) -> Node {
        Node {
            ty: "T".into(),
            address: format!("0x{distance:x}"),
            distance,
            ..Node::default()
        }
    }

    fn edge(from: usize, to: usize) -> Edge {
        Edge {
            from,
            to,
            label: None,
        }
    }

    #[test]
    fn clips_by_columns() {
        assert_eq!(clip("abcdef", 6), "abcdef");
        assert_eq!(clip("abcdefg", 6), "abcde…");
        assert_eq!(clip("漢字漢字", 5), "漢字…");
    }

    #[test]
    fn crossings_are_counted_and_removed() {
        // Target 0 -> 1, 2; 1 -> 4; 2 -> 3: discovery order 3, 4 on layer 2 crosses.
        let p = Picture {
            nodes: vec![node(0), node(1), node(1), node(2), node(2)],
            edges: vec![edge(0, 1), edge(0, 2), edge(1, 4), edge(2, 3)],
            ..Picture::default()
        };
        let mut down = vec![Vec::new(); 5];
        for e in &p.edges {
            down[e.from].push(e.to);
        }
        let order = vec![vec![0], vec![1, 2], vec![3, 4]];
        let pos = [0, 0, 1, 0, 1];
        assert_eq!(crossings(&order, &down, &pos), 1);
        let lay = layout(&p);
        assert_eq!(lay.order, vec![vec![0], vec![1, 2], vec![4, 3]]);
        let mut pos = [0; 5];
        for row in &lay.order {
            for (i, &v) in row.iter().enumerate() {
                pos[v] = i;
            }
        }
        assert_eq!(crossings(&lay.order, &down, &pos), 0);
    }

    #[test]
    fn referrers_put_the_target_at_the_bottom() {
        let p = Picture {
            back: true,
            nodes: vec![node(0), node(1), node(2)],
            edges: vec![edge(1, 0), edge(2, 1)],
            ..Picture::default()
        };
        assert_eq!(layout(&p).layer, vec![2, 1, 0]);
    }

    #[test]
    fn long_references_go_through_dummies() {
        // 0 -> 1 -> 2 -> 3, and 3 -> 0 back over two layers.
        let p = Picture {
            title: "t".into(),
            nodes: vec![node(0), node(1), node(2), node(3)],
            edges: vec![edge(0, 1), edge(1, 2), edge(2, 3), edge(3, 0)],
            ..Picture::default()
        };
        let lay = layout(&p);
        assert_eq!(lay.layer, vec![0, 1, 2, 3, 1, 2]);
        assert_eq!(lay.routes, vec![vec![], vec![], vec![], vec![4, 5]]);
        assert_eq!(lay.down[0], vec![1, 4]);
        assert_eq!(lay.up[3], vec![2, 5]);
        let svg = render(&p);
        let back = svg
            .lines()
            .find(|l| l.contains("data-from=\"3\" data-to=\"0\""))
            .unwrap();
        // Up through both dummies' slots: S-curve, straight, S-curve, straight, S-curve.
        assert_eq!(back.matches(" C").count(), 3, "{back}");
        assert_eq!(back.matches(" L").count(), 2, "{back}");
    }

    #[test]
    fn renders_the_same_bytes_twice() {
        let p = Picture {
            title: "t".into(),
            nodes: vec![node(0), node(1), node(1)],
            edges: vec![edge(0, 1), edge(0, 2), edge(2, 0), edge(1, 1)],
            ..Picture::default()
        };
        let a = render(&p);
        assert_eq!(a, render(&p));
        assert!(a.starts_with("<?xml"));
        assert_eq!(a.matches("class=\"edge\"").count(), 4);
    }
}
