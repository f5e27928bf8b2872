//! Shortest retention paths: one breadth-first search from every root at once records,
//! for each object, its distance from the roots and its parent on one shortest path.
//! "Why is this alive" then walks parents back to a root.
//!
//! The search is sequential and FIFO over roots in ascending id order, so the parent it
//! picks (the first discovered) is the same for any thread count.

use crate::graph::{Graph, NodeId, NONE};

/// Distances and parents from a multi-source breadth-first search.
#[derive(Clone, Debug)]
pub struct Paths {
    /// Per object: distance in edges from the nearest root (roots: 0), [`NONE`] if
    /// unreachable.
    depth: Vec<u32>,
    /// Per object: its parent on a shortest path ([`NONE`] for roots and unreachable).
    parent: Vec<NodeId>,
}

impl Paths {
    /// Runs the search over `graph` from its roots.
    pub fn compute(graph: &Graph) -> Paths {
        let n = graph.len();
        let mut depth = vec![NONE; n];
        let mut parent = vec![NONE; n];
        let mut queue: Vec<NodeId> = Vec::with_capacity(n);
        for &r in graph.roots() {
            depth[r as usize] = 0;
            queue.push(r);
        }
        let mut head = 0;
        while head < queue.len() {
            let v = queue[head];
            head += 1;
            let d = depth[v as usize] + 1;
            for w in graph.successors(v) {
                if depth[w as usize] == NONE {
                    depth[w as usize] = d;
                    parent[w as usize] = v;
                    queue.push(w);
                }
            }
        }
        Paths { depth, parent }
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
    pub fn parent(&self, v: NodeId) -> NodeId {
        self.parent[v as usize]
    }

    /// The shortest path from a root to `v`, root first, `v` last; `None` if `v` is
    /// unreachable.
    pub fn path_to(&self, v: NodeId) -> Option<Vec<NodeId>> {
        self.depth(v)?;
        let mut path = vec![v];
        let mut u = v;
        while self.parent[u as usize] != NONE {
            u = self.parent[u as usize];
            path.push(u);
        }
        path.reverse();
        Some(path)
    }

    /// Up to `k` shortest paths to `v` that differ in their last step: the parent path
    /// first, then through each other referrer of `v`, nearest first (ties by id). Each is
    /// root first, `v` last. Empty if `v` is unreachable.
    pub fn paths_to(&self, graph: &Graph, v: NodeId, k: usize) -> Vec<Vec<NodeId>> {
        let Some(first) = self.path_to(v) else {
            return Vec::new();
        };
        let mut out = vec![first];
        if self.depth[v as usize] == 0 || k <= 1 {
            out.truncate(k);
            return out;
        }
        let mut via: Vec<NodeId> = graph
            .predecessors(v)
            .iter()
            .copied()
            .filter(|&p| p != self.parent[v as usize] && p != v && self.depth[p as usize] != NONE)
            .collect();
        via.sort_unstable_by_key(|&p| (self.depth[p as usize], p));
        via.dedup();
        // Bounded tries: on a hostile graph every referrer's path could run through `v`.
        for p in via.into_iter().take(k.saturating_mul(8).saturating_add(64)) {
            if out.len() == k {
                break;
            }
            // A referrer whose own shortest path runs through `v` would make a loop.
            if let Some(mut path) = self.path_to(p).filter(|path| !path.contains(&v)) {
                path.push(v);
                out.push(path);
            }
        }
        out
    }

    /// Bytes of memory held.
    pub fn heap_bytes(&self) -> usize {
        4 * (self.depth.len() + self.parent.len())
    }
}
