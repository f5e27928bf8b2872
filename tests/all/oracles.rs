//! The analysis engine against brute-force oracles that follow the definitions, not the
//! algorithms: dominators (an object dominates exactly what becomes unreachable when it
//! is removed), retained sizes, strongly connected components (mutual reachability),
//! shortest paths (a plain breadth-first search), the type histogram and cycle groups;
//! the example graphs of the dominator papers with their idoms written out by hand;
//! million-object chains, cycles and diamond chains (nothing may recurse); and results
//! that do not depend on the number of threads.

use std::collections::{BTreeMap, HashSet};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use proptest::prelude::*;

use heapsnap::analysis::cycles::{cycle_components, group_cycles};
use heapsnap::analysis::histogram::{histogram, retained_by_type};
use heapsnap::analysis::{Analysis, Components, CycleGroup, Dominators, Needs, Paths, TypeStats};
use heapsnap::content::{Edge, Object, Root, SnapshotContent, Type};
use heapsnap::format::type_flags::HAS_FINALIZER;
use heapsnap::graph::{Graph, NodeId, NONE};
use heapsnap::{Snapshot, Verify};

// ---------------------------------------------------------------------------------------
// Test graphs
// ---------------------------------------------------------------------------------------

/// A graph with everything the oracles need: edges in dump order (targets may be
/// [`NONE`]), the super-root's children (any order, repeats allowed), shallow sizes,
/// a type per object (`< types`) and a set of skipped edge targets for the components.
#[derive(Clone, Debug)]
struct Case {
    n: usize,
    edges: Vec<(NodeId, NodeId)>,
    roots: Vec<NodeId>,
    sizes: Vec<u64>,
    types: Vec<u32>,
    type_count: usize,
    skip: Vec<bool>,
}

impl Case {
    fn graph(&self) -> Graph {
        Graph::from_edges(self.n, &self.edges, &self.roots)
    }

    fn dominators(&self, g: &Graph) -> Dominators {
        let sizes = &self.sizes;
        Dominators::compute(g, g.reverse(), |v| sizes[v as usize])
    }

    /// Out-lists for the oracles over `0..=n` (`n` is the super-root, whose children are
    /// the roots); dangling edges dropped, repeats kept.
    fn adjacency(&self) -> Vec<Vec<usize>> {
        let mut adj = vec![Vec::new(); self.n + 1];
        for &(s, t) in &self.edges {
            if t != NONE {
                adj[s as usize].push(t as usize);
            }
        }
        for &r in &self.roots {
            adj[self.n].push(r as usize);
        }
        adj
    }

    /// The set of resolved edges.
    fn edge_set(&self) -> HashSet<(NodeId, NodeId)> {
        self.edges
            .iter()
            .copied()
            .filter(|&(_, t)| t != NONE)
            .collect()
    }

    fn is_root(&self, v: NodeId) -> bool {
        self.roots.contains(&v)
    }
}

/// SplitMix64: a small seeded generator, so that a failure names its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..k` (`k > 0`).
    fn below(&mut self, k: usize) -> usize {
        (self.next() % k as u64) as usize
    }

    fn node(&mut self, n: usize) -> NodeId {
        self.below(n) as NodeId
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

/// A random graph of up to `max_n` objects, of one of several shapes: uniform random at
/// a random density, a shuffled chain with extra edges (deep search trees), clusters of
/// which some have no root (unreachable parts, some pointing into reachable ones), dense
/// graphs, trees with cross edges; plus self-loops, repeated edges, dangling targets, and
/// zero to four roots (repeats allowed).
fn random_case(rng: &mut Rng, max_n: usize) -> Case {
    let n = rng.below(max_n + 1);
    let mut edges: Vec<(NodeId, NodeId)> = Vec::new();
    let mut roots: Vec<NodeId> = Vec::new();
    if n > 0 {
        match rng.below(5) {
            0 => {
                let per = [0, 1, 2, 4, 8][rng.below(5)];
                for _ in 0..rng.below(n * per + 1) {
                    edges.push((rng.node(n), rng.node(n)));
                }
            }
            1 => {
                let mut order: Vec<NodeId> = (0..n as NodeId).collect();
                rng.shuffle(&mut order);
                for w in order.windows(2) {
                    edges.push((w[0], w[1]));
                }
                for _ in 0..rng.below(n + 1) {
                    let (a, b) = (rng.below(n), rng.below(n));
                    edges.push((order[a.max(b)], order[a.min(b)])); // back edge
                }
                for _ in 0..rng.below(n / 2 + 1) {
                    let (a, b) = (rng.below(n), rng.below(n));
                    edges.push((order[a.min(b)], order[a.max(b)])); // forward edge
                }
                roots.push(order[0]);
            }
            2 => {
                let clusters = 1 + rng.below(4);
                let of = |v: usize| v * clusters / n;
                for _ in 0..rng.below(3 * n + 1) {
                    let s = rng.below(n);
                    let t = rng.below(n);
                    if of(s) == of(t) || rng.chance(10) {
                        edges.push((s as NodeId, t as NodeId));
                    }
                }
                for c in 0..clusters {
                    if rng.chance(50) {
                        let members: Vec<usize> = (0..n).filter(|&v| of(v) == c).collect();
                        if !members.is_empty() {
                            roots.push(members[rng.below(members.len())] as NodeId);
                        }
                    }
                }
            }
            3 => {
                let p = [20, 50, 80][rng.below(3)];
                for s in 0..n as NodeId {
                    for t in 0..n as NodeId {
                        if rng.chance(p) {
                            edges.push((s, t));
                        }
                    }
                }
            }
            _ => {
                let mut order: Vec<NodeId> = (0..n as NodeId).collect();
                rng.shuffle(&mut order);
                for i in 1..n {
                    edges.push((order[rng.below(i)], order[i]));
                }
                for _ in 0..rng.below(2 * n + 1) {
                    edges.push((rng.node(n), rng.node(n)));
                }
                roots.push(order[0]);
            }
        }
        for _ in 0..rng.below(3) {
            let v = rng.node(n);
            edges.push((v, v));
        }
        for _ in 0..rng.below(3) {
            if !edges.is_empty() {
                let e = edges[rng.below(edges.len())];
                edges.push(e);
            }
        }
        for _ in 0..rng.below(3) {
            edges.push((rng.node(n), NONE));
        }
        if rng.chance(70) {
            rng.shuffle(&mut edges);
        }
        for _ in 0..rng.below(5) {
            roots.push(rng.node(n));
        }
        if rng.chance(10) {
            roots.clear();
        }
        if rng.chance(10) && !roots.is_empty() {
            roots.push(roots[0]);
        }
    }
    let huge = rng.chance(5);
    let sizes = (0..n)
        .map(|_| {
            if huge && rng.chance(30) {
                u64::MAX / 3 + rng.next() % 1000
            } else if rng.chance(10) {
                0
            } else {
                rng.next() % 1000
            }
        })
        .collect();
    let type_count = 1 + rng.below(4);
    let types = (0..n).map(|_| rng.below(type_count) as u32).collect();
    let skip_percent = [0, 10, 30, 60][rng.below(4)];
    let skip = (0..n).map(|_| rng.chance(skip_percent)).collect();
    Case {
        n,
        edges,
        roots,
        sizes,
        types,
        type_count,
        skip,
    }
}

fn arb_case() -> impl Strategy<Value = Case> {
    (0usize..40).prop_flat_map(|n| {
        if n == 0 {
            return Just(Case {
                n: 0,
                edges: Vec::new(),
                roots: Vec::new(),
                sizes: Vec::new(),
                types: Vec::new(),
                type_count: 1,
                skip: Vec::new(),
            })
            .boxed();
        }
        let v = 0..n as NodeId;
        let target = prop_oneof![12 => v.clone(), 1 => Just(NONE)];
        let edge = prop_oneof![8 => (v.clone(), target), 1 => v.clone().prop_map(|s| (s, s))];
        let size = prop_oneof![8 => 0u64..1000, 1 => Just(0u64), 1 => any::<u64>()];
        (
            prop::collection::vec(edge, 0..=4 * n),
            prop::collection::vec(v, 0..5),
            prop::collection::vec(size, n),
            prop::collection::vec(0u32..3, n),
            prop::collection::vec(any::<bool>(), n),
            prop::collection::vec(any::<prop::sample::Index>(), 0..3),
        )
            .prop_map(move |(mut edges, roots, sizes, types, skip, repeats)| {
                if !edges.is_empty() {
                    for i in repeats {
                        edges.push(edges[i.index(edges.len())]);
                    }
                }
                Case {
                    n,
                    edges,
                    roots,
                    sizes,
                    types,
                    type_count: 3,
                    skip,
                }
            })
            .boxed()
    })
}

/// Runs `check` on `cases` seeded random cases; a failure prints its seed and case.
fn seeded(cases: u64, max_n: usize, salt: u64, check: impl Fn(&Case)) {
    for seed in 0..cases {
        let mut rng = Rng(seed ^ salt);
        let c = random_case(&mut rng, max_n);
        if let Err(e) = catch_unwind(AssertUnwindSafe(|| check(&c))) {
            eprintln!("failing case (seed {seed}, salt {salt:#x}): {c:?}");
            resume_unwind(e);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Oracles
// ---------------------------------------------------------------------------------------

/// Nodes reachable from `from` in `adj` when `removed` is deleted (`usize::MAX`: none).
fn reach(adj: &[Vec<usize>], from: usize, removed: usize) -> Vec<bool> {
    let mut seen = vec![false; adj.len()];
    if from == removed {
        return seen;
    }
    seen[from] = true;
    let mut stack = vec![from];
    while let Some(u) = stack.pop() {
        for &w in &adj[u] {
            if w != removed && !seen[w] {
                seen[w] = true;
                stack.push(w);
            }
        }
    }
    seen
}

/// Saturating sum, as the engine documents (`min(sum, u64::MAX)`, any order).
fn sat_sum(it: impl Iterator<Item = u64>) -> u64 {
    it.map(u128::from).sum::<u128>().min(u128::from(u64::MAX)) as u64
}

/// Dominators by definition.
struct DomOracle {
    n: usize,
    /// Objects reachable from the super-root.
    reachable: Vec<bool>,
    /// `dominated[v][w]`: `w` is `v` or becomes unreachable when `v` is removed (only for
    /// reachable `v` and `w`).
    dominated: Vec<Vec<bool>>,
    /// Immediate dominators (`n`: the super-root; [`NONE`]: unreachable).
    idom: Vec<NodeId>,
}

impl DomOracle {
    /// `by_definition`: find each idom as the strict dominator that every other strict
    /// dominator dominates (cubic); otherwise as the strict dominator with the most
    /// dominators of its own (the dominators of a node form a chain).
    fn new(c: &Case, by_definition: bool) -> DomOracle {
        let n = c.n;
        let adj = c.adjacency();
        let all = reach(&adj, n, usize::MAX);
        let reachable = all[..n].to_vec();
        let mut dominated = vec![vec![false; n]; n];
        for v in (0..n).filter(|&v| reachable[v]) {
            let without = reach(&adj, n, v);
            for w in 0..n {
                dominated[v][w] = reachable[w] && (w == v || !without[w]);
            }
        }
        let dominator_count: Vec<usize> = (0..n)
            .map(|w| (0..n).filter(|&v| dominated[v][w]).count())
            .collect();
        let idom = (0..n)
            .map(|w| {
                if !reachable[w] {
                    return NONE;
                }
                let strict: Vec<usize> = (0..n).filter(|&d| d != w && dominated[d][w]).collect();
                if strict.is_empty() {
                    return n as NodeId;
                }
                if by_definition {
                    let closest: Vec<usize> = strict
                        .iter()
                        .copied()
                        .filter(|&d| strict.iter().all(|&e| dominated[e][d]))
                        .collect();
                    assert_eq!(closest.len(), 1, "oracle: {w} has no unique idom");
                    closest[0] as NodeId
                } else {
                    *strict.iter().max_by_key(|&&d| dominator_count[d]).unwrap() as NodeId
                }
            })
            .collect();
        DomOracle {
            n,
            reachable,
            dominated,
            idom,
        }
    }

    fn retained(&self, c: &Case, v: usize) -> u64 {
        sat_sum(
            (0..self.n)
                .filter(|&w| self.dominated[v][w])
                .map(|w| c.sizes[w]),
        )
    }
}

fn check_graph(c: &Case, g: &Graph) {
    let n = c.n;
    assert_eq!(g.len(), n);
    assert_eq!(g.super_root() as usize, n);
    assert_eq!(g.edge_count(), c.edges.len());
    let dangling = c.edges.iter().filter(|e| e.1 == NONE).count() as u64;
    assert_eq!(g.dangling_edges(), dangling);
    let mut roots = c.roots.clone();
    roots.sort_unstable();
    roots.dedup();
    assert_eq!(g.roots(), &roots[..]);
    assert_eq!(g.out_raw(g.super_root()), &roots[..]);
    for v in 0..n as NodeId {
        let out: Vec<NodeId> = c.edges.iter().filter(|e| e.0 == v).map(|e| e.1).collect();
        assert_eq!(g.out_raw(v), &out[..], "out-list of {v}");
        let succ: Vec<NodeId> = out.iter().copied().filter(|&t| t != NONE).collect();
        assert_eq!(
            g.successors(v).collect::<Vec<_>>(),
            succ,
            "successors of {v}"
        );
        let mut pred: Vec<NodeId> = c.edges.iter().filter(|e| e.1 == v).map(|e| e.0).collect();
        pred.sort_unstable();
        assert_eq!(g.predecessors(v), &pred[..], "predecessors of {v}");
        assert_eq!(g.in_degree(v), pred.len() as u64);
        assert_eq!(g.is_root(v), c.is_root(v));
    }
}

fn check_dominators(c: &Case, d: &Dominators, o: &DomOracle) {
    let n = c.n;
    let sr = n as NodeId;
    let reachable: Vec<usize> = (0..n).filter(|&v| o.reachable[v]).collect();
    assert_eq!(d.reachable_count(), reachable.len(), "reachable count");
    assert_eq!(d.idoms().len(), n);
    assert_eq!(d.retained_sizes().len(), n + 1);
    assert_eq!(
        d.retained(sr),
        sat_sum(reachable.iter().map(|&v| c.sizes[v])),
        "retained by the super-root"
    );
    assert_eq!(d.retained_sizes()[n], d.retained(sr));
    let mut positions = Vec::new();
    for v in 0..n {
        let vi = v as NodeId;
        assert_eq!(d.is_reachable(vi), o.reachable[v], "is_reachable({v})");
        assert_eq!(d.idom(vi), o.idom[v], "idom({v})");
        assert_eq!(d.idoms()[v], o.idom[v]);
        if !o.reachable[v] {
            assert_eq!(d.retained(vi), 0, "retained of unreachable {v}");
            assert_eq!(d.tree_size(vi), 0, "tree_size of unreachable {v}");
            assert_eq!(
                d.tree_position(vi),
                NONE,
                "tree_position of unreachable {v}"
            );
            assert!(d.children(vi).is_empty(), "children of unreachable {v}");
            for w in 0..n as NodeId {
                assert!(
                    !d.dominates(vi, w) && !d.dominates(w, vi),
                    "{v} unreachable"
                );
            }
            continue;
        }
        assert_eq!(d.retained(vi), o.retained(c, v), "retained({v})");
        assert_eq!(d.retained_sizes()[v], d.retained(vi));
        let set: Vec<usize> = (0..n).filter(|&w| o.dominated[v][w]).collect();
        assert_eq!(d.tree_size(vi) as usize, set.len(), "tree_size({v})");
        for w in 0..n {
            assert_eq!(
                d.dominates(vi, w as NodeId),
                o.dominated[v][w],
                "dominates({v}, {w})"
            );
        }
        // The dominated set is exactly the interval of positions starting at v's.
        let p = d.tree_position(vi);
        let mut ps: Vec<u32> = set.iter().map(|&w| d.tree_position(w as NodeId)).collect();
        ps.sort_unstable();
        let interval: Vec<u32> = (p..p + d.tree_size(vi)).collect();
        assert_eq!(ps, interval, "positions of what {v} dominates");
        positions.push(p);
    }
    positions.sort_unstable();
    assert_eq!(positions, (0..reachable.len() as u32).collect::<Vec<_>>());
    // Children: exactly the objects whose idom is v, each once; the super-root too.
    for v in 0..=n {
        let mut kids = d.children(v as NodeId).to_vec();
        kids.sort_unstable();
        let expect: Vec<NodeId> = (0..n as NodeId)
            .filter(|&w| o.idom[w as usize] == v as NodeId)
            .collect();
        assert_eq!(kids, expect, "children({v})");
    }
}

fn check_components(c: &Case, g: &Graph, skip: &[bool]) {
    let n = c.n;
    let comps = Components::compute(g, |t| skip[t as usize]);
    let mut adj = vec![Vec::new(); n];
    for &(s, t) in &c.edges {
        if t != NONE && !skip[t as usize] {
            adj[s as usize].push(t as usize);
        }
    }
    let r: Vec<Vec<bool>> = (0..n).map(|v| reach(&adj, v, usize::MAX)).collect();
    assert_eq!(comps.ids().len(), n);
    for (v, rv) in r.iter().enumerate() {
        for (w, rw) in r.iter().enumerate() {
            assert_eq!(
                comps.of(v as NodeId) == comps.of(w as NodeId),
                rv[w] && rw[v],
                "same component({v}, {w}), skip {skip:?}"
            );
        }
    }
    let mut members: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for v in 0..n {
        members.entry(comps.of(v as NodeId)).or_default().push(v);
    }
    assert_eq!(comps.count(), members.len(), "component count");
    assert!(
        members.keys().copied().eq(0..members.len() as u32),
        "ids are dense"
    );
    for (&k, m) in &members {
        assert_eq!(comps.size(k) as usize, m.len(), "size of component {k}");
        let self_loop = m.iter().any(|&v| {
            c.edges
                .iter()
                .any(|&(s, t)| s as usize == v && t as usize == v && !skip[v])
        });
        assert_eq!(
            comps.is_cycle(k),
            m.len() >= 2 || self_loop,
            "is_cycle({k}), members {m:?}"
        );
    }
    // Reverse topological order: a component's id is smaller than the ids of the
    // components that refer to it (through kept edges).
    for &(s, t) in &c.edges {
        if t != NONE && !skip[t as usize] && comps.of(s) != comps.of(t) {
            assert!(
                comps.of(s) > comps.of(t),
                "edge {s} -> {t}: ids not reverse topological"
            );
        }
    }
}

fn check_paths(c: &Case, g: &Graph) {
    let n = c.n;
    let p = Paths::compute(g);
    let edges = c.edge_set();
    // A plain FIFO search from the roots, ascending, out-edges in dump order; the parent
    // is the first discoverer (the module documents this choice).
    let mut roots = c.roots.clone();
    roots.sort_unstable();
    roots.dedup();
    let mut dist = vec![NONE; n];
    let mut parent = vec![NONE; n];
    let mut queue = std::collections::VecDeque::new();
    for &r in &roots {
        dist[r as usize] = 0;
        queue.push_back(r);
    }
    while let Some(u) = queue.pop_front() {
        for &(s, t) in &c.edges {
            if s == u && t != NONE && dist[t as usize] == NONE {
                dist[t as usize] = dist[u as usize] + 1;
                parent[t as usize] = u;
                queue.push_back(t);
            }
        }
    }
    assert_eq!(p.depths(), &dist[..], "depths");
    // Edge `k` of the graph is edge `k` of the dump: grouped by source, in order.
    let mut by_source = c.edges.clone();
    by_source.sort_by_key(|e| e.0);
    // A step names the edge from the previous step into it (none for the root).
    let steps_ok = |steps: &[(NodeId, Option<usize>)]| {
        steps.iter().enumerate().all(|(i, &(u, k))| match (i, k) {
            (0, None) => true,
            (0, Some(_)) | (_, None) => false,
            (i, Some(k)) => by_source.get(k) == Some(&(steps[i - 1].0, u)),
        })
    };
    let valid = |path: &[NodeId], v: NodeId| {
        !path.is_empty()
            && c.is_root(path[0])
            && *path.last().unwrap() == v
            && path.windows(2).all(|w| edges.contains(&(w[0], w[1])))
    };
    let simple = |path: &[NodeId]| path.iter().collect::<HashSet<_>>().len() == path.len();
    for v in 0..n as NodeId {
        let dv = dist[v as usize];
        assert_eq!(p.parent(g, v), parent[v as usize], "parent({v})");
        if dv == NONE {
            assert_eq!(p.depth(v), None);
            assert_eq!(p.path_to(g, v), None);
            for k in 0..4 {
                assert!(p.paths_to(g, v, k).is_empty());
            }
            continue;
        }
        assert_eq!(p.depth(v), Some(dv), "depth({v})");
        let first = p.path_to(g, v).expect("reachable has a path");
        assert!(valid(&first, v), "path_to({v}) = {first:?}");
        let steps = p.steps_to(g, v).expect("reachable has steps");
        assert!(steps_ok(&steps), "steps_to({v}) = {steps:?}");
        assert!(steps.iter().map(|s| s.0).eq(first.iter().copied()));
        assert_eq!(first.len() as u32, dv + 1, "path_to({v}) is not shortest");
        for k in 0..6 {
            let with_steps = p.paths_to(g, v, k);
            for steps in &with_steps {
                assert!(steps_ok(steps), "paths_to({v}, {k}) steps {steps:?}");
            }
            let ps: Vec<Vec<NodeId>> = with_steps
                .into_iter()
                .map(|steps| steps.into_iter().map(|(u, _)| u).collect())
                .collect();
            assert!(ps.len() <= k, "paths_to({v}, {k}): {} paths", ps.len());
            if k >= 1 {
                assert_eq!(ps[0], first, "paths_to({v}, {k}) starts with path_to");
            }
            for (i, path) in ps.iter().enumerate() {
                assert!(valid(path, v), "paths_to({v}, {k})[{i}] = {path:?}");
                assert!(simple(path), "paths_to({v}, {k})[{i}] = {path:?} repeats");
                if i > 0 {
                    // Shortest through its referrer.
                    let via = path[path.len() - 2];
                    assert_eq!(path.len() as u32, dist[via as usize] + 2, "{path:?}");
                }
            }
            let lasts: HashSet<NodeId> = ps
                .iter()
                .filter_map(|p| p.iter().rev().nth(1))
                .copied()
                .collect();
            assert_eq!(
                lasts.len(),
                ps.len() - usize::from(dv == 0 && !ps.is_empty()),
                "paths_to({v}, {k}) differ in their last step: {ps:?}"
            );
            // Nearest referrer first (ties by id) after the parent path.
            let keys: Vec<(u32, NodeId)> = ps
                .iter()
                .skip(1)
                .map(|p| {
                    let via = p[p.len() - 2];
                    (dist[via as usize], via)
                })
                .collect();
            assert!(keys.windows(2).all(|w| w[0] < w[1]), "order of {ps:?}");
            // Every referrer no farther than v cannot have a shortest path through v, so
            // each gives a path: at least that many come back.
            let mut near: Vec<NodeId> = g
                .predecessors(v)
                .iter()
                .copied()
                .filter(|&q| q != v && q != parent[v as usize])
                .filter(|&q| dist[q as usize] != NONE && dist[q as usize] <= dv)
                .collect();
            near.dedup();
            let want = if dv == 0 { 1 } else { 1 + near.len() };
            assert!(
                ps.len() >= k.min(want),
                "paths_to({v}, {k}) gave {} paths, {want} exist",
                ps.len()
            );
        }
    }
}

/// Per type, the bytes of the union of the dominated sets of its reachable instances.
fn oracle_retained_by_type(c: &Case, o: &DomOracle) -> Vec<u64> {
    (0..c.type_count as u32)
        .map(|t| {
            let union: Vec<usize> = (0..c.n)
                .filter(|&w| {
                    (0..c.n).any(|v| o.reachable[v] && c.types[v] == t && o.dominated[v][w])
                })
                .collect();
            sat_sum(union.iter().map(|&w| c.sizes[w]))
        })
        .collect()
}

fn check_histogram(c: &Case, d: &Dominators, o: &DomOracle) {
    let expect = oracle_retained_by_type(c, o);
    assert_eq!(
        retained_by_type(&c.types, c.type_count, d),
        expect,
        "retained_by_type"
    );
    let sizes = &c.sizes;
    let rows = histogram(&c.types, c.type_count, &|v: NodeId| sizes[v as usize], d);
    let want: Vec<TypeStats> = (0..c.type_count as u32)
        .map(|t| {
            let of: Vec<usize> = (0..c.n).filter(|&v| c.types[v] == t).collect();
            let lost: Vec<usize> = of.iter().copied().filter(|&v| !o.reachable[v]).collect();
            TypeStats {
                ty: t,
                count: of.len() as u64,
                shallow: sat_sum(of.iter().map(|&v| c.sizes[v])),
                retained: expect[t as usize],
                unreachable: lost.len() as u64,
                unreachable_shallow: sat_sum(lost.iter().map(|&v| c.sizes[v])),
            }
        })
        .collect();
    assert_eq!(rows, want, "histogram");
}

/// Everything on one small case.
fn check_all(c: &Case) {
    let g = c.graph();
    check_graph(c, &g);
    let d = c.dominators(&g);
    let o = DomOracle::new(c, true);
    check_dominators(c, &d, &o);
    check_histogram(c, &d, &o);
    check_components(c, &g, &vec![false; c.n]);
    check_components(c, &g, &c.skip);
    check_paths(c, &g);
}

// ---------------------------------------------------------------------------------------
// 1, 4, 5, 6: random graphs against the oracles
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_graphs_match_the_oracles(c in arb_case()) {
        check_all(&c);
    }
}

#[test]
fn seeded_graphs_match_the_oracles() {
    seeded(1500, 40, 0x0AC1E5, check_all);
}

/// Larger graphs (longer path compressions), dominators and paths only.
#[test]
fn seeded_larger_graphs_match_the_dominator_oracle() {
    seeded(20, 150, 0xB16, |c| {
        let g = c.graph();
        let d = c.dominators(&g);
        let o = DomOracle::new(c, false);
        check_dominators(c, &d, &o);
        check_histogram(c, &d, &o);
    });
}

/// `biggest_children` (a parallel scan for the super-root, a walk for the rest) against
/// sorting every child by retained size.
#[test]
fn biggest_children_match_sorting_every_child() {
    seeded(400, 40, 0xB1C, |c| {
        let g = c.graph();
        let d = c.dominators(&g);
        for v in (0..=c.n as NodeId).rev().take(6) {
            let mut all = d.children(v);
            let retained = all
                .iter()
                .fold(0u64, |s, &c| s.saturating_add(d.retained(c)));
            all.sort_by_key(|&c| (std::cmp::Reverse(d.retained(c)), c));
            for keep in [0, 1, 3, 100] {
                let b = d.biggest_children(v, keep);
                assert_eq!(b.kept, all[..keep.min(all.len())], "v {v} keep {keep}");
                assert_eq!((b.count, b.retained), (all.len() as u64, retained), "v {v}");
            }
        }
    });
}

/// The oracles themselves can fail: a wrong idom, a wrong retained size, a merged
/// component and a wrong depth are caught (guards against an oracle that accepts all).
#[test]
fn the_oracles_reject_wrong_answers() {
    // 0 -> 1 -> 2, 0 -> 2; root 0.
    let c = Case {
        n: 3,
        edges: vec![(0, 1), (1, 2), (0, 2)],
        roots: vec![0],
        sizes: vec![1, 10, 100],
        types: vec![0, 0, 0],
        type_count: 1,
        skip: vec![false; 3],
    };
    let o = DomOracle::new(&c, true);
    assert_eq!(o.idom, vec![3, 0, 0]);
    assert_eq!(o.retained(&c, 0), 111);
    assert_eq!(o.retained(&c, 1), 10);
    // A graph whose answers differ: 0 -> 1 -> 2 only.
    let other = Case {
        edges: vec![(0, 1), (1, 2)],
        ..c.clone()
    };
    let g = other.graph();
    let d = other.dominators(&g);
    let wrong = catch_unwind(AssertUnwindSafe(|| check_dominators(&c, &d, &o)));
    assert!(
        wrong.is_err(),
        "the dominator check accepted the wrong tree"
    );
    let wrong = catch_unwind(AssertUnwindSafe(|| check_paths(&c, &g)));
    assert!(wrong.is_err(), "the path check accepted wrong depths");
    let cyclic = Case {
        edges: vec![(0, 1), (1, 2), (2, 1)],
        ..c.clone()
    };
    let wrong = catch_unwind(AssertUnwindSafe(|| {
        check_components(&c, &cyclic.graph(), &[false; 3])
    }));
    assert!(wrong.is_err(), "the component check accepted a wrong cycle");
}

// ---------------------------------------------------------------------------------------
// 2: the papers' example graphs, idoms written out by hand from the papers
// ---------------------------------------------------------------------------------------

/// Checks a flowgraph with entry `entry` against hand-written immediate dominators
/// (`None` for the entry, whose idom is the super-root), on the graph as given and on
/// relabelled copies with shuffled out-lists (the answer cannot depend on either).
fn check_paper_graph(n: usize, edges: &[(usize, usize)], entry: usize, idom: &[Option<usize>]) {
    let mut rng = Rng(0x1979);
    for round in 0..40 {
        let mut perm: Vec<NodeId> = (0..n as NodeId).collect();
        let mut es: Vec<(NodeId, NodeId)> = edges
            .iter()
            .map(|&(s, t)| (s as NodeId, t as NodeId))
            .collect();
        if round > 0 {
            rng.shuffle(&mut perm);
            rng.shuffle(&mut es);
        }
        let es: Vec<(NodeId, NodeId)> = es
            .iter()
            .map(|&(s, t)| (perm[s as usize], perm[t as usize]))
            .collect();
        let g = Graph::from_edges(n, &es, &[perm[entry]]);
        let d = Dominators::compute(&g, g.reverse(), |_| 1);
        for v in 0..n {
            let want = match idom[v] {
                None => n as NodeId,
                Some(u) => perm[u],
            };
            assert_eq!(d.idom(perm[v]), want, "round {round}: idom of node {v}");
        }
        // Unit sizes: retained = the number of nodes in the hand-written subtree.
        for (v, &pv) in perm.iter().enumerate() {
            let mut size = 0;
            for w in 0..n {
                let mut x = Some(w);
                while let Some(y) = x {
                    if y == v {
                        size += 1;
                        break;
                    }
                    x = idom[y];
                }
            }
            assert_eq!(d.retained(pv), size, "round {round}: retained of node {v}");
        }
        assert_eq!(d.retained(n as NodeId), n as u64);
    }
}

/// Lengauer and Tarjan, "A Fast Algorithm for Finding Dominators in a Flowgraph" (1979),
/// figures 1 and 2: the flowgraph R, A..L and its dominator tree.
#[test]
fn lengauer_tarjan_1979_example() {
    const NAMES: &str = "RABCDEFGHIJKL";
    let id = |c: char| NAMES.find(c).unwrap();
    let adjacency = [
        ('R', "ABC"),
        ('A', "D"),
        ('B', "ADE"),
        ('C', "FG"),
        ('D', "L"),
        ('E', "H"),
        ('F', "I"),
        ('G', "IJ"),
        ('H', "EK"),
        ('I', "K"),
        ('J', "I"),
        ('K', "IR"),
        ('L', "H"),
    ];
    let edges: Vec<(usize, usize)> = adjacency
        .iter()
        .flat_map(|&(s, ts)| ts.chars().map(move |t| (id(s), id(t))))
        .collect();
    // Figure 2: R is the immediate dominator of A, B, C, D, E, H, I, K; C of F and G;
    // G of J; D of L.
    let tree = [
        ('R', None),
        ('A', Some('R')),
        ('B', Some('R')),
        ('C', Some('R')),
        ('D', Some('R')),
        ('E', Some('R')),
        ('F', Some('C')),
        ('G', Some('C')),
        ('H', Some('R')),
        ('I', Some('R')),
        ('J', Some('G')),
        ('K', Some('R')),
        ('L', Some('D')),
    ];
    let mut idom = vec![None; 13];
    for (v, d) in tree {
        idom[id(v)] = d.map(id);
    }
    check_paper_graph(13, &edges, id('R'), &idom);
    // K -> R closes every node into one strongly connected component.
    let g = Graph::from_edges(
        13,
        &edges
            .iter()
            .map(|&(s, t)| (s as NodeId, t as NodeId))
            .collect::<Vec<_>>(),
        &[0],
    );
    let comps = Components::compute(&g, |_| false);
    assert_eq!(comps.count(), 1);
    assert!(comps.is_cycle(0));
}

/// Cooper, Harvey and Kennedy, "A Simple, Fast Dominance Algorithm" (2001), figure 2:
/// nodes 5 (entry) .. 1 in postorder; 5 -> 4, 5 -> 3, 4 -> 1, 3 -> 2, 1 <-> 2. Every
/// node's immediate dominator is 5.
#[test]
fn cooper_harvey_kennedy_figure_2() {
    let id = |k: usize| k - 1;
    let edges: Vec<(usize, usize)> = [(5, 4), (5, 3), (4, 1), (3, 2), (1, 2), (2, 1)]
        .iter()
        .map(|&(s, t)| (id(s), id(t)))
        .collect();
    let idom = [Some(id(5)), Some(id(5)), Some(id(5)), Some(id(5)), None];
    check_paper_graph(5, &edges, id(5), &idom);
    let es: Vec<(NodeId, NodeId)> = edges
        .iter()
        .map(|&(s, t)| (s as NodeId, t as NodeId))
        .collect();
    let comps = Components::compute(&Graph::from_edges(5, &es, &[4]), |_| false);
    assert_eq!(comps.count(), 4); // {1, 2}, {3}, {4}, {5}
    assert_eq!(comps.of(0), comps.of(1));
    assert!(comps.is_cycle(comps.of(0)));
    assert!(!comps.is_cycle(comps.of(2)));
}

/// The same paper, figure 4: nodes 6 (entry) .. 1; 6 -> 5, 6 -> 4, 5 -> 1, 4 -> 2,
/// 4 -> 3, 1 <-> 2, 2 <-> 3. Every node's immediate dominator is 6.
#[test]
fn cooper_harvey_kennedy_figure_4() {
    let id = |k: usize| k - 1;
    let edges: Vec<(usize, usize)> = [
        (6, 5),
        (6, 4),
        (5, 1),
        (4, 2),
        (4, 3),
        (1, 2),
        (2, 1),
        (2, 3),
        (3, 2),
    ]
    .iter()
    .map(|&(s, t)| (id(s), id(t)))
    .collect();
    let idom = [
        Some(id(6)),
        Some(id(6)),
        Some(id(6)),
        Some(id(6)),
        Some(id(6)),
        None,
    ];
    check_paper_graph(6, &edges, id(6), &idom);
    let es: Vec<(NodeId, NodeId)> = edges
        .iter()
        .map(|&(s, t)| (s as NodeId, t as NodeId))
        .collect();
    let comps = Components::compute(&Graph::from_edges(6, &es, &[5]), |_| false);
    assert_eq!(comps.count(), 4); // {1, 2, 3}, {4}, {5}, {6}
    assert_eq!(comps.size(comps.of(0)), 3);
}

// ---------------------------------------------------------------------------------------
// 3: a million objects in a row
// ---------------------------------------------------------------------------------------

const BIG: usize = 1_000_000;

fn big_size(v: usize) -> u64 {
    (v % 13) as u64 + 1
}

/// `retained[i]` for a chain visiting `order`: the sizes from position `i` to the end.
fn suffix_sums(order: &[usize]) -> Vec<u64> {
    let mut out = vec![0u64; order.len() + 1];
    for i in (0..order.len()).rev() {
        out[i] = out[i + 1] + big_size(order[i]);
    }
    out
}

#[test]
fn million_chain() {
    let n = BIG;
    let edges: Vec<(NodeId, NodeId)> = (1..n as NodeId).map(|v| (v - 1, v)).collect();
    let g = Graph::from_edges(n, &edges, &[0]);
    let d = Dominators::compute(&g, g.reverse(), |v| big_size(v as usize));
    let order: Vec<usize> = (0..n).collect();
    let suffix = suffix_sums(&order);
    assert_eq!(d.reachable_count(), n);
    assert_eq!(d.idom(0), n as NodeId);
    for v in [1, 2, 500_000, n - 2, n - 1] {
        assert_eq!(d.idom(v as NodeId), v as NodeId - 1, "idom({v})");
    }
    assert!(d.idoms()[1..]
        .iter()
        .enumerate()
        .all(|(i, &p)| p == i as NodeId));
    assert_eq!(&d.retained_sizes()[..n], &suffix[..n]);
    assert_eq!(d.retained(n as NodeId), suffix[0]);
    assert_eq!(d.tree_size(0) as usize, n);
    assert_eq!(d.tree_size(n as NodeId - 1), 1);
    assert!(d.dominates(0, n as NodeId - 1));
    assert!(!d.dominates(n as NodeId - 1, 0));
    let comps = Components::compute(&g, |_| false);
    assert_eq!(comps.count(), n);
    assert!((1..n).all(|v| comps.of(v as NodeId - 1) > comps.of(v as NodeId)));
    assert!(!comps.is_cycle(comps.of(7)));
    let p = Paths::compute(&g);
    assert!(p.depths().iter().enumerate().all(|(v, &d)| d == v as u32));
    let path = p.steps_to(&g, n as NodeId - 1).unwrap();
    assert_eq!(path.len(), n);
    assert_eq!(p.paths_to(&g, n as NodeId - 1, 3), vec![path]);
}

#[test]
fn million_cycle() {
    let n = BIG;
    let edges: Vec<(NodeId, NodeId)> = (0..n)
        .map(|v| (v as NodeId, ((v + 1) % n) as NodeId))
        .collect();
    let root = n / 3;
    let g = Graph::from_edges(n, &edges, &[root as NodeId]);
    let d = Dominators::compute(&g, g.reverse(), |v| big_size(v as usize));
    let order: Vec<usize> = (0..n).map(|k| (root + k) % n).collect();
    let suffix = suffix_sums(&order);
    assert_eq!(d.idom(root as NodeId), n as NodeId);
    for k in 1..n {
        assert_eq!(
            d.idom(order[k] as NodeId),
            order[k - 1] as NodeId,
            "idom at {k}"
        );
    }
    for (k, &v) in order.iter().enumerate() {
        assert_eq!(d.retained(v as NodeId), suffix[k], "retained at {k}");
    }
    assert_eq!(d.retained(n as NodeId), suffix[0]);
    let comps = Components::compute(&g, |_| false);
    assert_eq!(comps.count(), 1);
    assert!(comps.is_cycle(0));
    assert_eq!(comps.size(0) as usize, n);
    // Skipping the root's in-edge breaks the cycle into a chain of singletons.
    let comps = Components::compute(&g, |t| t as usize == root);
    assert_eq!(comps.count(), n);
    assert!((1..n).all(|k| comps.of(order[k - 1] as NodeId) > comps.of(order[k] as NodeId)));
    let p = Paths::compute(&g);
    for (k, &v) in order.iter().enumerate() {
        assert_eq!(p.depth(v as NodeId), Some(k as u32));
    }
}

/// Diamonds in a row: `J_i -> A_i, B_i -> J_{i+1}`; `J_i` is the immediate dominator of
/// `A_i`, `B_i` and `J_{i+1}`.
#[test]
fn million_diamond_chain() {
    let layers = BIG / 3 + 1;
    let n = 3 * layers;
    let (j, a, b) = (|i: usize| 3 * i, |i: usize| 3 * i + 1, |i: usize| 3 * i + 2);
    let mut edges: Vec<(NodeId, NodeId)> = Vec::with_capacity(4 * layers);
    for i in 0..layers {
        edges.push((j(i) as NodeId, a(i) as NodeId));
        edges.push((j(i) as NodeId, b(i) as NodeId));
        if i + 1 < layers {
            edges.push((a(i) as NodeId, j(i + 1) as NodeId));
            edges.push((b(i) as NodeId, j(i + 1) as NodeId));
        }
    }
    let g = Graph::from_edges(n, &edges, &[0]);
    let d = Dominators::compute(&g, g.reverse(), |v| big_size(v as usize));
    let order: Vec<usize> = (0..n).collect();
    let suffix = suffix_sums(&order);
    assert_eq!(d.idom(0), n as NodeId);
    for i in 0..layers {
        assert_eq!(d.idom(a(i) as NodeId), j(i) as NodeId);
        assert_eq!(d.idom(b(i) as NodeId), j(i) as NodeId);
        assert_eq!(d.retained(a(i) as NodeId), big_size(a(i)));
        assert_eq!(d.retained(b(i) as NodeId), big_size(b(i)));
        assert_eq!(d.retained(j(i) as NodeId), suffix[j(i)], "retained(J_{i})");
        if i > 0 {
            assert_eq!(d.idom(j(i) as NodeId), j(i - 1) as NodeId, "idom(J_{i})");
        }
    }
    assert_eq!(d.children(j(7) as NodeId).len(), 3);
    let p = Paths::compute(&g);
    assert_eq!(
        p.depth(j(layers - 1) as NodeId),
        Some(2 * (layers as u32 - 1))
    );
    let ps = p.paths_to(&g, j(layers - 1) as NodeId, 5);
    assert_eq!(ps.len(), 2, "through A and through B");
    let comps = Components::compute(&g, |_| false);
    assert_eq!(comps.count(), n);
}

// ---------------------------------------------------------------------------------------
// Cycle groups, on snapshots built from the same random graphs
// ---------------------------------------------------------------------------------------

fn object_address(v: usize) -> u64 {
    0x1000 + 16 * v as u64
}

/// The snapshot of `c`: a type per `types`, finalizer flags from `finalizer`, a ROOTS
/// record per root (refcounts 0: no refcount-surplus roots), dangling edges to an
/// address no object has.
fn snapshot_of(c: &Case, finalizer: &[bool]) -> SnapshotContent {
    let strings: Vec<String> = std::iter::once(String::new())
        .chain((0..c.type_count).map(|t| format!("T{t}")))
        .collect();
    let types = (0..c.type_count)
        .map(|t| Type {
            address: 0x7000_0000_0001 + 2 * t as u64,
            name: t as u32 + 1,
            module: 0,
            flags: if finalizer[t] { HAS_FINALIZER } else { 0 },
        })
        .collect();
    let mut objects: Vec<Object> = (0..c.n)
        .map(|v| Object {
            address: object_address(v),
            type_index: c.types[v],
            size: c.sizes[v],
            refcount: 0,
            flags: 0,
            edges: Vec::new(),
        })
        .collect();
    for &(s, t) in &c.edges {
        let target = if t == NONE {
            0xDEAD_0008
        } else {
            object_address(t as usize)
        };
        objects[s as usize].edges.push(Edge { target, label: 0 });
    }
    let roots = c
        .roots
        .iter()
        .map(|&r| Root {
            object: u64::from(r),
            kind: 1,
            label: 0,
            detail: 0,
        })
        .collect();
    SnapshotContent {
        strings,
        types,
        objects,
        roots,
        ..SnapshotContent::default()
    }
}

/// Cycle groups by brute force: cyclic components by mutual reachability, grouped by type
/// multiset; a reachable cycle retains the union of its members' dominated sets.
/// The cycle groups of `c` by brute force, with the edges into `skip` targets left out
/// of the cycles (not of the dominators).
fn oracle_cycle_groups(
    c: &Case,
    finalizer: &[bool],
    comps: &Components,
    skip: &[bool],
) -> Vec<CycleGroup> {
    let n = c.n;
    let o = DomOracle::new(c, false);
    let mut adj = vec![Vec::new(); n];
    for &(s, t) in &c.edges {
        if t != NONE && !skip[t as usize] {
            adj[s as usize].push(t as usize);
        }
    }
    let r: Vec<Vec<bool>> = (0..n).map(|v| reach(&adj, v, usize::MAX)).collect();
    let mut seen = vec![false; n];
    // Per type multiset: each cycle's members, retained bytes and reachability.
    type Cycle = (Vec<NodeId>, u64, bool);
    let mut groups: BTreeMap<Vec<(u32, u32)>, Vec<Cycle>> = BTreeMap::new();
    for v in 0..n {
        if seen[v] {
            continue;
        }
        let members: Vec<usize> = (0..n).filter(|&w| r[v][w] && r[w][v]).collect();
        for &m in &members {
            seen[m] = true;
        }
        let self_loop = !skip[v] && c.edges.contains(&(v as NodeId, v as NodeId));
        if members.len() < 2 && !self_loop {
            continue;
        }
        let mut multiset: BTreeMap<u32, u32> = BTreeMap::new();
        for &m in &members {
            *multiset.entry(c.types[m]).or_default() += 1;
        }
        let reachable = o.reachable[v];
        let retained = if reachable {
            sat_sum(
                (0..n)
                    .filter(|&w| members.iter().any(|&m| o.dominated[m][w]))
                    .map(|w| c.sizes[w]),
            )
        } else {
            sat_sum(members.iter().map(|&m| c.sizes[m]))
        };
        groups
            .entry(multiset.into_iter().collect())
            .or_default()
            .push((
                members.iter().map(|&m| m as NodeId).collect(),
                retained,
                reachable,
            ));
    }
    let mut out: Vec<CycleGroup> = groups
        .into_iter()
        .map(|(types, cycles)| {
            // The example: largest retained, ties to the lowest component id.
            let best = cycles
                .iter()
                .max_by(|x, y| {
                    x.1.cmp(&y.1)
                        .then_with(|| comps.of(y.0[0]).cmp(&comps.of(x.0[0])))
                })
                .unwrap();
            CycleGroup {
                finalizer: types.iter().any(|&(t, _)| finalizer[t as usize]),
                types,
                cycles: cycles.len() as u64,
                objects: cycles.iter().map(|x| x.0.len() as u64).sum(),
                shallow: sat_sum(
                    cycles
                        .iter()
                        .flat_map(|x| x.0.iter().map(|&m| c.sizes[m as usize])),
                ),
                retained: sat_sum(cycles.iter().map(|x| x.1)),
                reachable: cycles.iter().filter(|x| x.2).count() as u64,
                example: best.0.clone(),
                example_retained: best.1,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.retained
            .cmp(&a.retained)
            .then(b.objects.cmp(&a.objects))
            .then_with(|| a.types.cmp(&b.types))
    });
    out
}

/// Checks `group_cycles` on `c` against the oracle; returns the largest cycle's size.
fn check_cycle_groups(c: &Case) -> usize {
    // Sizes as the dump stores them: huge ones go to the wide-size table.
    let finalizer: Vec<bool> = (0..c.type_count)
        .map(|t| (c.n + t).is_multiple_of(3))
        .collect();
    let bytes = snapshot_of(c, &finalizer).to_bytes().unwrap();
    let snap = Snapshot::from_bytes(&bytes, Verify::Full).unwrap();
    let g = Graph::from_snapshot(&snap).unwrap();
    check_graph(c, &g);
    let d = Dominators::compute(&g, g.reverse(), |v| snap.shallow_size(v as usize));
    let comps = cycle_components(&snap, &g, true);
    let got = group_cycles(&snap, &comps, &d, |v| snap.shallow_size(v as usize));
    let none = vec![false; c.n];
    assert_eq!(got, oracle_cycle_groups(c, &finalizer, &comps, &none));
    // With edges into some objects left out of the cycles, as housekeeping edges are.
    if c.skip.len() == c.n {
        let fewer = Components::compute(&g, |t| c.skip[t as usize]);
        let groups = group_cycles(&snap, &fewer, &d, |v| snap.shallow_size(v as usize));
        assert_eq!(groups, oracle_cycle_groups(c, &finalizer, &fewer, &c.skip));
    }
    got.iter()
        .map(|g| g.objects / g.cycles.max(1))
        .max()
        .unwrap_or(0) as usize
}

#[test]
fn seeded_cycle_groups_match_the_oracle() {
    seeded(300, 30, 0xC7C1E, |c| {
        check_cycle_groups(c);
    });
}

/// Cycles of 100,000 members, summarised in parallel pieces: a reachable ring with a
/// chord into its middle and chains hanging off it (what it retains: everything), and
/// an unreachable ring (what it retains: its own bytes). Expected values by hand.
#[test]
fn very_large_cycles_are_summarised_exactly() {
    const RING: u32 = 100_000;
    const CHAINS: u32 = 3_000;
    let n = 2 * RING + CHAINS * 2;
    let mut edges = Vec::new();
    for v in 0..RING {
        edges.push((v, (v + 1) % RING));
        edges.push((RING + v, RING + (v + 1) % RING));
    }
    edges.push((5, RING / 2));
    // Chains of two off the reachable ring: member -> a -> b.
    for i in 0..CHAINS {
        let (a, b) = (2 * RING + 2 * i, 2 * RING + 2 * i + 1);
        edges.push((i * 31 % RING, a));
        edges.push((a, b));
    }
    let sizes: Vec<u64> = (0..n as u64).map(|v| 16 + v % 7).collect();
    // The reachable ring's members are types 0..3, the unreachable ring's 3..5, the
    // chains' 5.
    let types: Vec<u32> = (0..n)
        .map(|v| match v {
            v if v < RING => v % 3,
            v if v < 2 * RING => 3 + v % 2,
            _ => 5,
        })
        .collect();
    let c = Case {
        n: n as usize,
        edges,
        roots: vec![0],
        sizes: sizes.clone(),
        types: types.clone(),
        type_count: 6,
        skip: vec![false; n as usize],
    };
    let finalizer = [false, false, true, false, false, false];
    let bytes = snapshot_of(&c, &finalizer).to_bytes().unwrap();
    let snap = Snapshot::from_bytes(&bytes, Verify::Full).unwrap();
    let g = Graph::from_snapshot(&snap).unwrap();
    let d = Dominators::compute(&g, g.reverse(), |v| snap.shallow_size(v as usize));
    let comps = cycle_components(&snap, &g, true);
    let groups = group_cycles(&snap, &comps, &d, |v| snap.shallow_size(v as usize));
    let sum = |r: std::ops::Range<u32>| r.map(|v| sizes[v as usize]).sum::<u64>();
    let count =
        |r: std::ops::Range<u32>, t: u32| r.filter(|&v| types[v as usize] == t).count() as u32;
    let ring: Vec<NodeId> = (0..RING).collect();
    let dead: Vec<NodeId> = (RING..2 * RING).collect();
    let expected = vec![
        CycleGroup {
            types: (0..3).map(|t| (t, count(0..RING, t))).collect(),
            cycles: 1,
            objects: u64::from(RING),
            shallow: sum(0..RING),
            retained: sum(0..RING) + sum(2 * RING..n),
            finalizer: true,
            reachable: 1,
            example: ring,
            example_retained: sum(0..RING) + sum(2 * RING..n),
        },
        CycleGroup {
            types: (3..5).map(|t| (t, count(RING..2 * RING, t))).collect(),
            cycles: 1,
            objects: u64::from(RING),
            shallow: sum(RING..2 * RING),
            retained: sum(RING..2 * RING),
            finalizer: false,
            reachable: 0,
            example: dead,
            example_retained: sum(RING..2 * RING),
        },
    ];
    assert_eq!(groups, expected);
}

/// Cycles of hundreds of members: their types are counted in a table, not sorted.
#[test]
fn seeded_large_cycle_groups_match_the_oracle() {
    let largest = std::sync::atomic::AtomicUsize::new(0);
    seeded(12, 800, 0xC7C1F, |c| {
        largest.fetch_max(check_cycle_groups(c), std::sync::atomic::Ordering::Relaxed);
    });
    assert!(largest.into_inner() >= 300, "no large cycle was generated");
    // Three large rings of different type mixes, side by side (the type table is reused
    // between them), and a small one.
    let rings = [(0, 300), (300, 700), (700, 1000), (1000, 1003)];
    let mut edges = Vec::new();
    for &(a, b) in &rings {
        for v in a..b {
            edges.push((v, if v + 1 == b { a } else { v + 1 }));
        }
    }
    let c = Case {
        n: 1003,
        edges,
        roots: vec![0, 300, 1000],
        sizes: (0..1003).map(|v| 16 + v % 7).collect(),
        types: (0..1003u32)
            .map(|v| if v < 700 { v % 3 } else { 3 + v % 2 })
            .collect(),
        type_count: 5,
        skip: vec![false; 1003],
    };
    assert_eq!(check_cycle_groups(&c), 400);
}

// ---------------------------------------------------------------------------------------
// 7: the same results for any number of threads
// ---------------------------------------------------------------------------------------

/// Everything the engine computes over a case, as plain data.
#[derive(Debug, PartialEq)]
struct Results {
    predecessors: Vec<Vec<NodeId>>,
    roots: Vec<NodeId>,
    idoms: Vec<NodeId>,
    retained: Vec<u64>,
    children: Vec<Vec<NodeId>>,
    tree: Vec<(u32, u32)>,
    components: Vec<u32>,
    cyclic: Vec<bool>,
    skipped_components: Vec<u32>,
    depths: Vec<u32>,
    parents: Vec<NodeId>,
    histogram: Vec<TypeStats>,
    by_type: Vec<u64>,
}

fn results(c: &Case) -> Results {
    let g = c.graph();
    let d = c.dominators(&g);
    let comps = Components::compute(&g, |_| false);
    let skipped = Components::compute(&g, |t| c.skip[t as usize]);
    let p = Paths::compute(&g);
    let sizes = &c.sizes;
    let n = c.n as NodeId;
    Results {
        predecessors: (0..n).map(|v| g.predecessors(v).to_vec()).collect(),
        roots: g.roots().to_vec(),
        idoms: d.idoms().to_vec(),
        retained: d.retained_sizes().to_vec(),
        children: (0..=n).map(|v| d.children(v).to_vec()).collect(),
        tree: (0..n)
            .map(|v| (d.tree_position(v), d.tree_size(v)))
            .collect(),
        components: comps.ids().to_vec(),
        cyclic: (0..comps.count() as u32)
            .map(|k| comps.is_cycle(k))
            .collect(),
        skipped_components: skipped.ids().to_vec(),
        depths: p.depths().to_vec(),
        parents: (0..n).map(|v| p.parent(&g, v)).collect(),
        histogram: histogram(&c.types, c.type_count, &|v: NodeId| sizes[v as usize], &d),
        by_type: retained_by_type(&c.types, c.type_count, &d),
    }
}

/// A random graph of `n` objects with about `per` edges each.
fn wide_case(rng: &mut Rng, n: usize, per: usize) -> Case {
    let mut edges = Vec::with_capacity(n * per);
    for s in 0..n {
        for _ in 0..rng.below(2 * per + 1) {
            let t = if rng.chance(3) { NONE } else { rng.node(n) };
            edges.push((s as NodeId, t));
        }
    }
    let roots = (0..1 + n / 1000).map(|_| rng.node(n)).collect();
    Case {
        n,
        edges,
        roots,
        sizes: (0..n).map(|_| rng.next() % 500).collect(),
        types: (0..n).map(|_| rng.below(5) as u32).collect(),
        type_count: 5,
        skip: (0..n).map(|_| rng.chance(20)).collect(),
    }
}

/// The histogram's counts on a graph of any size (more than one of its 65536-object
/// chunks): objects, bytes and unreachable ones per type, reachability by a plain search.
fn check_histogram_counts(c: &Case, rows: &[TypeStats]) {
    let reachable = reach(&c.adjacency(), c.n, usize::MAX);
    for (t, row) in rows.iter().enumerate() {
        let of: Vec<usize> = (0..c.n).filter(|&v| c.types[v] as usize == t).collect();
        let lost: Vec<usize> = of.iter().copied().filter(|&v| !reachable[v]).collect();
        assert_eq!(row.ty as usize, t);
        assert_eq!(row.count as usize, of.len(), "count of type {t}");
        assert_eq!(row.shallow, sat_sum(of.iter().map(|&v| c.sizes[v])));
        assert_eq!(
            row.unreachable as usize,
            lost.len(),
            "unreachable of type {t}"
        );
        assert_eq!(
            row.unreachable_shallow,
            sat_sum(lost.iter().map(|&v| c.sizes[v]))
        );
    }
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let mut rng = Rng(0x7EAD5);
    let mut cases: Vec<Case> = (0..30).map(|_| random_case(&mut rng, 40)).collect();
    cases.push(wide_case(&mut rng, 1000, 2));
    cases.push(wide_case(&mut rng, 3, 1));
    // More than one 65536-object chunk of the histogram.
    cases.push(wide_case(&mut rng, 70_000, 1));
    for (i, c) in cases.iter().enumerate() {
        let mut first: Option<Results> = None;
        for threads in [1, 2, 3, 8] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let r = pool.install(|| results(c));
            match &first {
                None => {
                    check_histogram_counts(c, &r.histogram);
                    first = Some(r);
                }
                Some(f) => assert!(*f == r, "case {i}: {threads} threads differ from 1"),
            }
        }
    }
}

/// The whole analysis on many threads, many times over: the cycle side builds the
/// reverse adjacency in parallel while the dominator side searches, and no thread may
/// end up waiting for work that sits below it on its own stack (that deadlocked once,
/// with 4 threads). A deadlock fails the test instead of hanging it.
#[test]
fn the_analysis_does_not_deadlock_on_many_threads() {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for threads in [3, 4, 8] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            for seed in 0..40u64 {
                let mut rng = Rng(seed ^ 0x0DEA_D10C);
                let c = if seed % 2 == 0 {
                    random_case(&mut rng, 400)
                } else {
                    let n = 20_000 + rng.below(60_000);
                    wide_case(&mut rng, n, 2)
                };
                let bytes = snapshot_of(&c, &vec![false; c.type_count])
                    .to_bytes()
                    .unwrap();
                let snap = Snapshot::from_bytes(&bytes, Verify::Full).unwrap();
                let a = pool.install(|| Analysis::run(&snap, Needs::all()).unwrap());
                assert_eq!(a.dom().idoms().len(), c.n);
            }
        }
        done.send(()).unwrap();
    });
    assert!(
        finished
            .recv_timeout(std::time::Duration::from_secs(120))
            .is_ok(),
        "the analysis deadlocked (or took over 2 minutes)"
    );
}

/// The graph of a snapshot (address resolution and refcount-surplus roots run in
/// parallel chunks) and its cycle groups do not depend on the thread count either.
#[test]
fn snapshot_graphs_do_not_depend_on_the_thread_count() {
    let mut rng = Rng(0x5A0);
    let c = wide_case(&mut rng, 70_000, 1);
    let finalizer = [true, false, false, true, false];
    let mut content = snapshot_of(&c, &finalizer);
    // Some refcount-surplus roots too.
    for (v, o) in content.objects.iter_mut().enumerate() {
        if v % 97 == 0 {
            o.refcount = 1_000;
        }
    }
    let bytes = content.to_bytes().unwrap();
    let snap = Snapshot::from_bytes(&bytes, Verify::Full).unwrap();
    let mut first = None;
    for threads in [1, 2, 3, 8] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let r = pool.install(|| {
            let g = Graph::from_snapshot(&snap).unwrap();
            let d = Dominators::compute(&g, g.reverse(), |v| snap.shallow_size(v as usize));
            let comps = cycle_components(&snap, &g, false);
            let groups = group_cycles(&snap, &comps, &d, |v| snap.shallow_size(v as usize));
            let preds: Vec<Vec<NodeId>> = (0..g.len() as NodeId)
                .map(|v| g.predecessors(v).to_vec())
                .collect();
            (
                g.targets().to_vec(),
                preds,
                g.roots().to_vec(),
                d.idoms().to_vec(),
                d.retained_sizes().to_vec(),
                comps.ids().to_vec(),
                groups,
            )
        });
        assert!(r.2.len() >= 70_000 / 97, "surplus roots found");
        match &first {
            None => first = Some(r),
            Some(f) => assert!(*f == r, "{threads} threads differ from 1"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Leak suspects (analysis::suspects) against the rules of its documentation, computed
// from the dominators by definition, recursively
// ---------------------------------------------------------------------------------------

/// The suspects by the documented rules: a recursive walk of the heavy objects (more
/// than 10% of all shallow bytes retained) from the super-root, children by retained
/// size, stopping at a chain (16 of one type, each at most two steps below the last),
/// An object on the walk -> the suspect it ends its branch with, if any.
type Visit<'a> = &'a dyn Fn(usize, &[usize]) -> Option<(usize, &'static str)>;

/// The suspects by the documented rules: a recursive walk of the heavy objects (more
/// than 10% of all shallow bytes retained) from the super-root, children by retained
/// size, stopping at a chain (16 of one type, each at most two steps below the last),
/// an accumulation (16+ children of one type retaining half) or a heavy leaf.
fn oracle_suspects(
    c: &Case,
    o: &DomOracle,
    is_class: &dyn Fn(u32) -> bool,
) -> Vec<(NodeId, &'static str)> {
    use heapsnap::analysis::suspects::{
        ACCUMULATION_MIN_CHILDREN, ACCUMULATION_SHARE_PERCENT, CHAIN_GAP, CHAIN_MIN,
        SUSPECT_PERCENT,
    };
    let n = c.n;
    let heap = sat_sum(c.sizes.iter().copied());
    let retained: Vec<u64> = (0..n).map(|v| o.retained(c, v)).collect();
    let heavy =
        |v: usize| u128::from(retained[v]) * 100 > u128::from(heap) * u128::from(SUSPECT_PERCENT);
    let children = |p: usize| -> Vec<usize> {
        let mut k: Vec<usize> = (0..n)
            .filter(|&w| o.idom[w] as usize == p && o.reachable[w])
            .collect();
        k.sort_by(|&x, &y| retained[y].cmp(&retained[x]).then(x.cmp(&y)));
        k
    };
    // The start (index into `path`) of the run of `t` ending at the last element.
    let run_of = |path: &[usize], t: u32| -> usize {
        let at: Vec<usize> = (0..path.len()).filter(|&i| c.types[path[i]] == t).collect();
        let mut first = at.len() - 1;
        while first > 0 && at[first] - at[first - 1] <= CHAIN_GAP {
            first -= 1;
        }
        at[first]
    };
    fn walk(
        v: usize,
        path: &mut Vec<usize>,
        found: &mut Vec<(NodeId, &'static str)>,
        visit: Visit<'_>,
        heavy_children: &dyn Fn(usize) -> Vec<usize>,
    ) {
        path.push(v);
        match visit(v, path) {
            Some((s, why)) => {
                if !found.iter().any(|f| f.0 as usize == s) {
                    found.push((s as NodeId, why));
                }
            }
            None => {
                for w in heavy_children(v) {
                    walk(w, path, found, visit, heavy_children);
                }
            }
        }
        path.pop();
    }
    let heavy_children =
        |v: usize| -> Vec<usize> { children(v).into_iter().filter(|&w| heavy(w)).collect() };
    let visit = |v: usize, path: &[usize]| -> Option<(usize, &'static str)> {
        let t = c.types[v];
        let at: Vec<usize> = (0..path.len()).filter(|&i| c.types[path[i]] == t).collect();
        let start = run_of(path, t);
        let run = at.iter().filter(|&&i| i >= start).count();
        if run >= CHAIN_MIN as usize {
            let here = path.len() - 1;
            let gap = here - at[at.len() - 2];
            let other = c.types[path[here - 1]];
            let mut top = path[start];
            if gap == 2 && other != t && is_class(other) && !is_class(t) {
                top = path[run_of(&path[..here], other)];
            }
            return Some((top, "chain"));
        }
        let mut groups: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
        for w in children(v) {
            let e = groups.entry(c.types[w]).or_default();
            e.0 += 1;
            e.1 = e.1.saturating_add(retained[w]);
        }
        let best = groups.iter().max_by(|x, y| {
            x.1 .1
                .cmp(&y.1 .1)
                .then(x.1 .0.cmp(&y.1 .0))
                .then(y.0.cmp(x.0))
        });
        if let Some((_, &(members, r))) = best {
            if members as usize >= ACCUMULATION_MIN_CHILDREN
                && u128::from(r) * 100
                    >= u128::from(retained[v]) * u128::from(ACCUMULATION_SHARE_PERCENT)
            {
                return Some((v, "accumulation"));
            }
        }
        if heavy_children(v).is_empty() {
            let large = u128::from(c.sizes[v]) * 2 >= u128::from(retained[v]);
            return Some((v, if large { "large object" } else { "spread" }));
        }
        None
    };
    let mut found = Vec::new();
    for r in heavy_children(n) {
        walk(r, &mut Vec::new(), &mut found, &visit, &heavy_children);
    }
    found.sort_by(|x, y| {
        retained[y.0 as usize]
            .cmp(&retained[x.0 as usize])
            .then(x.0.cmp(&y.0))
    });
    found
}

fn check_suspects(c: &Case, is_class: &dyn Fn(u32) -> bool) {
    use heapsnap::analysis::suspects::{find, Heap, Reason};
    let g = c.graph();
    let d = c.dominators(&g);
    let o = DomOracle::new(c, false);
    let size = |v: NodeId| c.sizes[v as usize];
    let h = Heap {
        dom: &d,
        super_root: g.super_root(),
        types: &c.types,
        size: &size,
        heap: sat_sum(c.sizes.iter().copied()),
        is_class,
    };
    let got: Vec<(NodeId, &'static str)> = find(&h)
        .into_iter()
        .map(|s| {
            let why = match s.reason {
                Reason::Accumulation(t) => {
                    assert!(d.children(s.v).iter().any(|&w| c.types[w as usize] == t));
                    "accumulation"
                }
                Reason::Chain => "chain",
                Reason::Spread => "spread",
                Reason::LargeObject => "large object",
            };
            (s.v, why)
        })
        .collect();
    assert_eq!(got, oracle_suspects(c, &o, is_class), "suspects");
}

/// Random graphs, with few types (so that groups and runs of one type are common).
#[test]
fn suspects_match_the_rules_on_random_graphs() {
    for types in [1u32, 2, 3] {
        seeded(600, 60, 0x5A5 + u64::from(types), |c| {
            let mut c = c.clone();
            for (v, t) in c.types.iter_mut().enumerate() {
                *t = (v as u32 * 7 + *t) % types;
            }
            check_suspects(&c, &|t| t == 0);
        });
    }
}

/// Shapes that hit each rule: a star of 40 children (accumulation), a list of 30 nodes
/// `Node -> Node` and `Node -> dict -> Node` (chains), one big object (large object).
#[test]
fn suspects_match_the_rules_on_built_shapes() {
    let case = |n: usize, edges: Vec<(NodeId, NodeId)>, types: Vec<u32>, sizes: Vec<u64>| Case {
        n,
        edges,
        roots: vec![0],
        sizes,
        types,
        type_count: 3,
        skip: vec![false; n],
    };
    // Star: 0 -> 1..=40, plus a small side object.
    let star = case(
        42,
        (1..=40).map(|i| (0, i)).chain([(0, 41)]).collect(),
        (0..42)
            .map(|v| {
                if v == 0 {
                    2
                } else if v == 41 {
                    0
                } else {
                    1
                }
            })
            .collect(),
        vec![8; 42],
    );
    // Chain of 30 `Node`s, then chain through dicts (Node=0 class, dict=1).
    let list = case(
        30,
        (0..29).map(|i| (i, i + 1)).collect(),
        vec![0; 30],
        vec![16; 30],
    );
    let dicts = case(
        60,
        (0..59).map(|i| (i, i + 1)).collect(),
        (0..60).map(|v| (v % 2) as u32).collect(),
        vec![16; 60],
    );
    let big = case(3, vec![(0, 1), (0, 2)], vec![0, 1, 2], vec![8, 1000, 8]);
    let expect = [
        (&star, "accumulation"),
        (&list, "chain"),
        (&dicts, "chain"),
        (&big, "large object"),
    ];
    for (c, why) in expect {
        let o = DomOracle::new(c, false);
        let is_class = |t: u32| t == 0;
        let want = oracle_suspects(c, &o, &is_class);
        assert!(want.iter().any(|s| s.1 == why), "{why}: {want:?}");
        check_suspects(c, &is_class);
    }
}
