//! Dominators and retained sizes.
//!
//! Object `d` dominates `v` when every path from the super-root to `v` passes through
//! `d`; the immediate dominator is the closest such `d`. Freeing `v`'s immediate
//! dominator (or cutting the references into it) frees `v`, so an object's retained size
//! is its shallow size plus the retained sizes of the objects it immediately dominates.
//!
//! Algorithm: an iterative depth-first search from the super-root numbers the reachable
//! objects in preorder; SEMI-NCA (Georgiadis, Tarjan and Werneck, "Finding Dominators in
//! Practice", 2004) computes semidominators in reverse preorder with iterative path
//! compression, then immediate dominators as nearest common ancestors in preorder;
//! retained sizes accumulate in reverse preorder. Nothing recurses: heap chains are
//! millions long. The search is inherently sequential; it runs beside the cycle search,
//! and the graph's reverse adjacency (the predecessor lists) is built beside it.
//! Predecessors are gathered as preorder positions a block at a time before SEMI-NCA
//! reads them, so the cache misses overlap instead of waiting on each other.
//!
//! The dominator tree is numbered in preorder (each object's dominated set an interval)
//! from the same two passes as the retained sizes; no children lists are stored, since
//! an object's children are found by walking its interval.
//!
//! Unreachable objects (garbage the collector has not reclaimed yet) have no dominator
//! and a retained size of 0; they are reported separately.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rayon::prelude::*;

use crate::column::Column;
use crate::graph::{Graph, NodeId, ReverseAdjacency, NONE};
use crate::memory;

/// The arrays of a [`Dominators`] (see its fields).
pub(crate) struct DominatorColumns<'a> {
    pub idom: &'a [NodeId],
    pub retained: &'a [u64],
    pub tree_pre: &'a [u32],
    pub size_at: &'a [u32],
    pub tree_order: &'a [NodeId],
}

/// The dominator tree of a graph and every object's retained size.
#[derive(Clone, Debug)]
pub struct Dominators {
    n: usize,
    /// Per object: its immediate dominator, `n` (the super-root) or [`NONE`].
    idom: Column<NodeId>,
    /// Per object: retained bytes (0 when unreachable). Index `n`: the super-root's.
    retained: Column<u64>,
    /// Per object: position in a preorder of the dominator tree ([`NONE`] if
    /// unreachable); per position, the size of that object's subtree: the objects `v`
    /// dominates are exactly the positions `p .. p + size_at[p]` for `p = tree_pre[v]`.
    /// Siblings are ordered by the search's preorder. Sizes are kept by position so that
    /// walks of the tree read them in ascending order.
    tree_pre: Column<u32>,
    size_at: Column<u32>,
    /// The reachable objects in that preorder (the inverse of `tree_pre`). An object's
    /// children are found by walking its interval: the first follows it, each next one
    /// follows the previous one's subtree.
    tree_order: Column<NodeId>,
}

impl Dominators {
    /// Computes dominators of `graph` from its super-root; `reverse` is its reverse
    /// adjacency ([`Graph::reverse`]: the predecessor lists SEMI-NCA needs) and `size(v)`
    /// the shallow size of object `v`.
    ///
    /// The reverse adjacency is an argument, not fetched here, so that it is built before
    /// the search starts by the caller, once: a search that built it from inside a
    /// parallel job could meet another job waiting for the same build (the 3+-thread
    /// deadlock fixed in 7321da6).
    pub fn compute(
        graph: &Graph,
        reverse: &ReverseAdjacency,
        size: impl Fn(NodeId) -> u64 + Sync,
    ) -> Dominators {
        let t = std::time::Instant::now();
        let dfs = preorder(graph);
        crate::progress::timing("dominators.dfs", t);
        Dominators::from_search(graph, reverse, dfs, size)
    }

    /// SEMI-NCA, retained sizes and the tree numbering, after the depth-first search.
    fn from_search(
        graph: &Graph,
        reverse: &ReverseAdjacency,
        dfs: Search,
        size: impl Fn(NodeId) -> u64 + Sync,
    ) -> Dominators {
        let n = graph.len();
        let sr = graph.super_root();
        let count = dfs.order.len();
        let t = std::time::Instant::now();
        let idom_pre = semi_nca(graph, reverse, &dfs);
        crate::progress::timing("dominators.semi_nca", t);
        drop(dfs.parent);
        let t = std::time::Instant::now();

        // Per search position: retained bytes, dominator subtree size, and the next
        // free dominator-tree position inside that subtree (16 bytes: at 100M objects
        // every byte here is 100 MB).
        #[derive(Clone, Copy, Default)]
        struct Node {
            retained: u64,
            size: u32,
            next: u32,
        }
        let mut node: Vec<Node> = memory::par_from_fn(count, |w| {
            let v = dfs.order[w];
            Node {
                retained: if v == sr { 0 } else { size(v) },
                size: u32::from(w != 0),
                next: 0,
            }
        });
        // Retained sizes and dominator subtree sizes, accumulated bottom-up.
        for w in (1..count).rev() {
            let d = idom_pre[w] as usize;
            let Node { retained, size, .. } = node[w];
            node[d].retained = node[d].retained.saturating_add(retained);
            node[d].size += size;
        }
        // The dominator tree's preorder (siblings in search preorder) without children
        // lists: top-down in search preorder (an immediate dominator precedes what it
        // dominates), each object takes the next free position below its dominator.
        // Once its subtree is numbered, `next` is its position plus its size. The
        // immediate dominators become object ids in place.
        let mut idom_pre = idom_pre;
        let mut tree_order = memory::filled(count - 1, NONE);
        let mut size_at = memory::filled(count - 1, 0u32);
        for w in 1..count {
            let d = idom_pre[w] as usize;
            let p = node[d].next;
            node[d].next += node[w].size;
            node[w].next = p + 1;
            idom_pre[w] = dfs.order[d];
            tree_order[p as usize] = dfs.order[w];
            size_at[p as usize] = node[w].size;
        }
        drop(dfs.order);
        let idom_of = idom_pre;
        // Scatter to object ids; the search's numbering becomes the tree numbering in
        // place (fresh memory costs more to touch than to compute here).
        let mut idom: Vec<NodeId> = memory::zeroed(n);
        let mut retained: Vec<u64> = memory::zeroed(n + 1);
        let mut tree_pre = dfs.pre;
        tree_pre.truncate(n);
        retained[n] = node[0].retained;
        const CHUNK: usize = 1 << 14;
        tree_pre
            .par_chunks_mut(CHUNK)
            .zip(idom.par_chunks_mut(CHUNK))
            .zip(retained[..n].par_chunks_mut(CHUNK))
            .for_each(|((pre, idom), retained)| {
                for i in 0..pre.len() {
                    match pre[i] {
                        NONE => idom[i] = NONE,
                        w => {
                            let x = &node[w as usize];
                            idom[i] = idom_of[w as usize];
                            retained[i] = x.retained;
                            pre[i] = x.next - x.size;
                        }
                    }
                }
            });
        crate::progress::timing("dominators.retained_tree", t);
        Dominators {
            n,
            idom: idom.into(),
            retained: retained.into(),
            tree_pre: tree_pre.into(),
            size_at: size_at.into(),
            tree_order: tree_order.into(),
        }
    }

    /// The arrays behind the dominator tree, for the index.
    pub(crate) fn columns(&self) -> DominatorColumns<'_> {
        DominatorColumns {
            idom: &self.idom,
            retained: &self.retained,
            tree_pre: &self.tree_pre,
            size_at: &self.size_at,
            tree_order: &self.tree_order,
        }
    }

    /// Dominators from arrays saved by [`Dominators::columns`], or `None` if they do not
    /// fit together for `n` objects.
    pub(crate) fn from_columns(
        n: usize,
        idom: Column<NodeId>,
        retained: Column<u64>,
        tree_pre: Column<u32>,
        size_at: Column<u32>,
        tree_order: Column<NodeId>,
    ) -> Option<Dominators> {
        let reach = tree_order.len() as u64;
        let ok = idom.len() == n
            && retained.len() == n + 1
            && tree_pre.len() == n
            && tree_order.len() <= n
            && size_at.len() == tree_order.len()
            && idom.par_iter().all(|&d| d == NONE || d as usize <= n)
            && tree_order.par_iter().all(|&v| (v as usize) < n)
            && idom.par_iter().filter(|&&d| d != NONE).count() == tree_order.len()
            && tree_pre
                .par_iter()
                .all(|&p| p == NONE || u64::from(p) < reach)
            && size_at
                .par_iter()
                .enumerate()
                .all(|(p, &s)| s >= 1 && p as u64 + u64::from(s) <= reach);
        ok.then_some(Dominators {
            n,
            idom,
            retained,
            tree_pre,
            size_at,
            tree_order,
        })
    }

    /// Number of objects reachable from the super-root.
    pub fn reachable_count(&self) -> usize {
        self.tree_order.len()
    }

    /// True if `v` is reachable from the roots.
    pub fn is_reachable(&self, v: NodeId) -> bool {
        self.idom[v as usize] != NONE
    }

    /// The immediate dominator of `v`: an object, the super-root (`n`) or [`NONE`] for an
    /// unreachable object.
    pub fn idom(&self, v: NodeId) -> NodeId {
        self.idom[v as usize]
    }

    /// Every object's immediate dominator (see [`Dominators::idom`]).
    pub fn idoms(&self) -> &[NodeId] {
        &self.idom
    }

    /// Retained bytes of `v` (`n` gives the total of everything reachable).
    pub fn retained(&self, v: NodeId) -> u64 {
        self.retained[v as usize]
    }

    /// Every object's retained size, then the super-root's.
    pub fn retained_sizes(&self) -> &[u64] {
        &self.retained
    }

    /// The objects `v` immediately dominates (`v` may be the super-root), ascending by
    /// search preorder: a walk of `v`'s dominator-tree interval, one step per child.
    pub fn children(&self, v: NodeId) -> Vec<NodeId> {
        self.children_iter(v).collect()
    }

    /// [`Dominators::children`] without collecting them (the super-root can have
    /// millions).
    pub fn children_iter(&self, v: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        let (mut p, end) = if v as usize == self.n {
            (0, self.tree_order.len())
        } else {
            match self.tree_pre.get(v as usize) {
                Some(&pre) if pre != NONE => {
                    let end = u64::from(pre) + u64::from(self.size_at[pre as usize]);
                    (pre as usize + 1, end as usize)
                }
                _ => (0, 0),
            }
        };
        let end = end.min(self.tree_order.len());
        std::iter::from_fn(move || {
            (p < end).then(|| {
                let c = self.tree_order[p];
                p += (self.size_at[p] as usize).max(1);
                c
            })
        })
    }

    /// The `keep` children of `v` that retain the most (ties: the lowest id), biggest
    /// first, with the number of children and what they retain together. The
    /// super-root's children (often millions) are found by a parallel scan of the
    /// immediate dominators; anyone else's by a walk of its interval.
    pub fn biggest_children(&self, v: NodeId, keep: usize) -> BiggestChildren {
        let biggest = if v as usize == self.n {
            self.idom
                .par_iter()
                .enumerate()
                .fold(
                    || Biggest::new(keep),
                    |mut b, (c, &d)| {
                        if d == v {
                            b.add(self.retained[c], c as NodeId);
                        }
                        b
                    },
                )
                .reduce(|| Biggest::new(keep), Biggest::merge)
        } else {
            let mut b = Biggest::new(keep);
            for c in self.children_iter(v) {
                b.add(self.retained(c), c);
            }
            b
        };
        BiggestChildren {
            kept: biggest
                .kept
                .into_sorted_vec()
                .into_iter()
                .map(|(_, c)| c)
                .collect(),
            count: biggest.count,
            retained: biggest.retained,
        }
    }

    /// The reachable objects in dominator-tree preorder (each object before the objects
    /// it dominates; siblings in search preorder).
    pub fn tree_order(&self) -> &[NodeId] {
        &self.tree_order
    }

    /// Position of `v` in the dominator-tree preorder ([`NONE`] if unreachable).
    pub fn tree_position(&self, v: NodeId) -> u32 {
        self.tree_pre[v as usize]
    }

    /// Number of objects `v` dominates, itself included (0 if unreachable).
    pub fn tree_size(&self, v: NodeId) -> u32 {
        match self.tree_pre[v as usize] {
            NONE => 0,
            p => self.size_at[p as usize],
        }
    }

    /// Subtree size of the object at dominator-tree position `p` (see
    /// [`Dominators::tree_order`]).
    pub fn tree_size_at(&self, p: usize) -> u32 {
        self.size_at[p]
    }

    /// True if `a` dominates `b` (every object dominates itself).
    pub fn dominates(&self, a: NodeId, b: NodeId) -> bool {
        let (pa, pb) = (self.tree_pre[a as usize], self.tree_pre[b as usize]);
        pa != NONE && pb != NONE && pb >= pa && pb - pa < self.size_at[pa as usize]
    }
}

/// The biggest children of an object ([`Dominators::biggest_children`]).
pub struct BiggestChildren {
    /// The biggest ones, biggest first.
    pub kept: Vec<NodeId>,
    /// Number of children.
    pub count: u64,
    /// What all the children retain together (saturating).
    pub retained: u64,
}

/// The `keep` biggest of a stream of objects (by retained size, then lowest id), with
/// the count and total retained size of all of them. Any split of the stream, merged,
/// gives the same result.
struct Biggest {
    keep: usize,
    /// Its top is the smallest kept one (ties: the highest id).
    kept: BinaryHeap<(Reverse<u64>, NodeId)>,
    count: u64,
    retained: u64,
}

impl Biggest {
    fn new(keep: usize) -> Biggest {
        Biggest {
            keep,
            kept: BinaryHeap::with_capacity(keep + 1),
            count: 0,
            retained: 0,
        }
    }

    fn add(&mut self, retained: u64, v: NodeId) {
        self.count += 1;
        self.retained = self.retained.saturating_add(retained);
        self.offer((Reverse(retained), v));
    }

    fn offer(&mut self, item: (Reverse<u64>, NodeId)) {
        if self.kept.len() < self.keep {
            self.kept.push(item);
        } else if let Some(mut worst) = self.kept.peek_mut() {
            if item < *worst {
                *worst = item;
            }
        }
    }

    fn merge(mut self, other: Biggest) -> Biggest {
        self.count += other.count;
        self.retained = self.retained.saturating_add(other.retained);
        for item in other.kept {
            self.offer(item);
        }
        self
    }
}

/// A depth-first search from the super-root.
struct Search {
    /// Node at each preorder position (position 0 is the super-root).
    order: Vec<NodeId>,
    /// Preorder position of each node `0..=n` ([`NONE`] if unreachable).
    pre: Vec<u32>,
    /// Preorder position of each position's parent in the search tree.
    parent: Vec<u32>,
}

fn preorder(graph: &Graph) -> Search {
    let n = graph.len();
    let sr = graph.super_root();
    debug_assert_eq!(sr as usize, n);
    let mut pre = memory::filled(n + 1, NONE);
    let mut order = memory::with_capacity(n + 1);
    let mut parent = memory::with_capacity(n + 1);
    pre[n] = 0;
    order.push(sr);
    parent.push(0);
    // The super-root's children one by one, each a search over the object graph whose
    // stack holds (preorder position, next edge index, end of its edges).
    let targets = graph.targets();
    let mut stack: Vec<(u32, usize, usize)> = Vec::new();
    for &r in graph.roots() {
        if pre[r as usize] != NONE {
            continue;
        }
        let p = order.len() as u32;
        pre[r as usize] = p;
        parent.push(0);
        order.push(r);
        let range = graph.edge_range(r);
        stack.push((p, range.start, range.end));
        while let Some(top) = stack.last_mut() {
            let (pv, k, end) = *top;
            if k == end {
                stack.pop();
                continue;
            }
            top.1 = k + 1;
            let w = targets[k];
            if w != NONE && pre[w as usize] == NONE {
                let p = order.len() as u32;
                pre[w as usize] = p;
                parent.push(pv);
                order.push(w);
                let range = graph.edge_range(w);
                stack.push((p, range.start, range.end));
            }
        }
    }
    Search { order, pre, parent }
}

/// SEMI-NCA over preorder positions; returns the immediate dominator of each position
/// (position 0, the super-root, maps to itself).
fn semi_nca(graph: &Graph, reverse: &ReverseAdjacency, s: &Search) -> Vec<u32> {
    let count = s.order.len();
    let n = graph.len();
    // The roots' predecessor is the super-root (position 0): their semidominator is 0.
    let mut is_root = vec![0u64; n.div_ceil(64)];
    for &r in graph.roots() {
        is_root[r as usize / 64] |= 1 << (r % 64);
    }
    let (rstart, sources) = reverse.csr();
    let mut semi: Vec<u32> = memory::from_fn(count, |w| w as u32);
    // Per position: [ancestor, label]. The ancestor is the search parent once the
    // position is linked (above the one being processed); the label is the smallest
    // semidominator on the compressed path above it (stored as the value, not the node,
    // since only the value is ever read). Side by side, one cache line per step.
    let mut forest: Vec<[u32; 2]> = memory::from_fn(count, |w| [s.parent[w], w as u32]);
    let mut path: Vec<u32> = Vec::new();
    // Positions are processed in blocks, descending. First the block's predecessors are
    // gathered as preorder positions: independent loads the processor overlaps, where
    // the semidominator loop below would wait for each in turn. The super-root stands
    // for a root's predecessors (its semidominator is then 0 whatever the others are).
    const BLOCK: usize = 4096;
    let mut gathered: Vec<u32> = Vec::new();
    let mut ends: Vec<usize> = Vec::with_capacity(BLOCK);
    let mut hi = count;
    while hi > 1 {
        let lo = hi.saturating_sub(BLOCK).max(1);
        gathered.clear();
        ends.clear();
        for w in (lo..hi).rev() {
            let x = s.order[w] as usize;
            if is_root[x / 64] & (1 << (x % 64)) != 0 {
                gathered.push(0);
            } else {
                let preds = &sources[rstart[x] as usize..rstart[x + 1] as usize];
                gathered.extend(preds.iter().map(|&u| s.pre[u as usize]));
            }
            ends.push(gathered.len());
        }
        let mut from = 0;
        for (w, &end) in (lo..hi).rev().zip(&ends) {
            let w32 = w as u32;
            let mut best = w32;
            for &v in &gathered[from..end] {
                // An unlinked predecessor (v <= w) is its own semidominator candidate;
                // an unreachable one (NONE) does not count.
                let candidate = if v <= w32 {
                    v
                } else if v == NONE {
                    continue;
                } else {
                    eval(v, w32, &mut forest, &mut path)
                };
                best = best.min(candidate);
            }
            from = end;
            semi[w] = best;
            forest[w][1] = best;
        }
        hi = lo;
    }
    // Immediate dominators: the nearest ancestor not below the semidominator.
    let mut idom = memory::from_fn(count, |w| s.parent[w]);
    for w in 1..count {
        let mut d = idom[w];
        while d > semi[w] {
            d = idom[d as usize];
        }
        idom[w] = d;
    }
    idom
}

/// The smallest semidominator on the linked path from `v` (linked: `v > w`) up to, not
/// including, the first unlinked ancestor; compresses that path.
fn eval(v: u32, w: u32, forest: &mut [[u32; 2]], path: &mut Vec<u32>) -> u32 {
    // Collect the linked nodes whose ancestor is linked too.
    path.clear();
    let mut u = v;
    while forest[u as usize][0] > w {
        path.push(u);
        u = forest[u as usize][0];
    }
    // Compress from the top down: each node takes its ancestor's label if smaller, and
    // points past it.
    for &x in path.iter().rev() {
        let [a_anc, a_label] = forest[forest[x as usize][0] as usize];
        let node = &mut forest[x as usize];
        if a_label < node[1] {
            node[1] = a_label;
        }
        node[0] = a_anc;
    }
    forest[v as usize][1]
}
