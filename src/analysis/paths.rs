//! Shortest retention paths: one breadth-first search from every root at once records,
//! for each object, its distance from the roots and the edge that first reached it.
//! "Why is this alive" then walks those edges back to a root.
//!
//! The search is sequential and FIFO over roots in ascending id order, so the edge it
//! picks (the first discovered) is the same for any thread count. Storing the edge, not
//! just the parent, gives each step's label without searching the parent's references
//! (a list of a million items would make that quadratic).

use rayon::prelude::*;

use crate::column::Column;
use crate::graph::{Graph, NodeId, NONE};
use crate::memory;

/// No edge: the object is a root or unreachable.
const NO_EDGE: u64 = u64::MAX;

/// Distances and parent edges from a multi-source breadth-first search.
#[derive(Clone, Debug)]
pub struct Paths {
    /// Per object: distance in edges from the nearest root (roots: 0), [`NONE`] if
    /// unreachable.
    depth: Column<u32>,
    /// Per object: the index of the edge that reached it ([`NO_EDGE`] for roots and
    /// unreachable objects).
    via: Column<u64>,
}

/// One step of a path: an object and the index of the edge from the previous step into
/// it (`None` for the first step, a root).
pub type Step = (NodeId, Option<usize>);

impl Paths {
    /// Runs the search over `graph` from its roots.
    pub fn compute(graph: &Graph) -> Paths {
        let n = graph.len();
        let mut depth = memory::filled(n, NONE);
        let mut via = memory::filled(n, NO_EDGE);
        let mut queue: Vec<NodeId> = memory::with_capacity(n);
        for &r in graph.roots() {
            depth[r as usize] = 0;
            queue.push(r);
        }
        let targets = graph.targets();
        let mut head = 0;
        while head < queue.len() {
            let v = queue[head];
            head += 1;
            let d = depth[v as usize] + 1;
            for k in graph.edge_range(v) {
                let w = targets[k];
                if w != NONE && depth[w as usize] == NONE {
                    depth[w as usize] = d;
                    via[w as usize] = k as u64;
                    queue.push(w);
                }
            }
        }
        Paths {
            depth: depth.into(),
            via: via.into(),
        }
    }

    /// The arrays behind the paths, for the index: depth and reaching edge per object.
    pub(crate) fn columns(&self) -> (&[u32], &[u64]) {
        (&self.depth, &self.via)
    }

    /// Paths from arrays saved by [`Paths::columns`], or `None` if they do not fit a
    /// graph of `n` objects and `edges` edges.
    pub(crate) fn from_columns(
        n: usize,
        edges: usize,
        depth: Column<u32>,
        via: Column<u64>,
    ) -> Option<Paths> {
        let ok = depth.len() == n
            && via.len() == n
            && via.par_iter().all(|&k| k == NO_EDGE || k < edges as u64);
        ok.then_some(Paths { depth, via })
    }

    /// Distance of `v` from the roots, or `None` if unreachable.
    pub fn depth(&self, v: NodeId) -> Option<u32> {
        let d = self.depth[v as usize];
        (d != NONE).then_some(d)
    }

    /// Every object's distance ([`NONE`] if unreachable).
    pub fn depths(&self) -> &[u32] {
        &self.depth
    }

    /// The parent of `v` on its shortest path ([`NONE`] for roots and unreachable).
    pub fn parent(&self, graph: &Graph, v: NodeId) -> NodeId {
        match self.via[v as usize] {
            NO_EDGE => NONE,
            k => graph.edge_source(k as usize),
        }
    }

    /// The shortest path from a root to `v` with the edge into each step, root first;
    /// `None` if `v` is unreachable.
    pub fn steps_to(&self, graph: &Graph, v: NodeId) -> Option<Vec<Step>> {
        self.depth(v)?;
        let mut path = Vec::with_capacity(self.depth[v as usize] as usize + 1);
        let mut u = v;
        loop {
            match self.via[u as usize] {
                NO_EDGE => {
                    path.push((u, None));
                    break;
                }
                k => {
                    path.push((u, Some(k as usize)));
                    u = graph.edge_source(k as usize);
                }
            }
        }
        path.reverse();
        Some(path)
    }

    /// The objects of the shortest path to `v`, root first (see [`Paths::steps_to`]).
    pub fn path_to(&self, graph: &Graph, v: NodeId) -> Option<Vec<NodeId>> {
        self.steps_to(graph, v)
            .map(|s| s.into_iter().map(|(u, _)| u).collect())
    }

    /// Up to `k` shortest paths to `v` that differ in their last step: the search's path
    /// first, then through each other referrer of `v`, nearest first (ties by id). Each is
    /// root first, `v` last. Empty if `v` is unreachable.
    pub fn paths_to(&self, graph: &Graph, v: NodeId, k: usize) -> Vec<Vec<Step>> {
        let Some(first) = self.steps_to(graph, v) else {
            return Vec::new();
        };
        let mut out = vec![first];
        if self.depth[v as usize] == 0 || k <= 1 {
            out.truncate(k);
            return out;
        }
        let parent = self.parent(graph, v);
        let mut via: Vec<NodeId> = graph
            .predecessors(v)
            .iter()
            .copied()
            .filter(|&p| p != parent && p != v && self.depth[p as usize] != NONE)
            .collect();
        via.sort_unstable_by_key(|&p| (self.depth[p as usize], p));
        via.dedup();
        // Bounded tries: on a hostile graph every referrer's path could run through `v`.
        for p in via.into_iter().take(k.saturating_mul(8).saturating_add(64)) {
            if out.len() == k {
                break;
            }
            // A referrer whose own shortest path runs through `v` would make a loop.
            let Some(mut path) = self.steps_to(graph, p) else {
                continue;
            };
            if path.iter().any(|&(u, _)| u == v) {
                continue;
            }
            let range = graph.edge_range(p);
            let into = graph.targets()[range.clone()]
                .iter()
                .position(|&t| t == v)
                .map(|j| range.start + j);
            path.push((v, into));
            out.push(path);
        }
        out
    }
}
