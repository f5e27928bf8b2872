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
//! millions long. The search is inherently sequential; it runs beside the cycle search.
//!
//! Unreachable objects (garbage the collector has not reclaimed yet) have no dominator
//! and a retained size of 0; they are reported separately.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;

use rayon::prelude::*;

use crate::graph::{Graph, NodeId, NONE};
use crate::memory;

/// A preorder numbering of the dominator tree.
#[derive(Clone, Debug)]
struct TreeNumbers {
    pre: Vec<u32>,
    size: Vec<u32>,
}

/// The dominator tree of a graph and every object's retained size.
#[derive(Clone, Debug)]
pub struct Dominators {
    n: usize,
    /// Per object: its immediate dominator, `n` (the super-root) or [`NONE`].
    idom: Vec<NodeId>,
    /// Per object: retained bytes (0 when unreachable). Index `n`: the super-root's.
    retained: Vec<u64>,
    /// Dominator-tree children, CSR over ids `0..=n` (the super-root last), each list
    /// ascending by preorder of the search.
    child_start: Vec<u64>,
    children: Vec<NodeId>,
    /// Per object: position in a preorder of the dominator tree, [`NONE`] if unreachable,
    /// and the size of its subtree: the objects `v` dominates are exactly the positions
    /// `pre[v] .. pre[v] + size[v]`. Numbered on first use (cycle grouping needs it,
    /// the histogram does not).
    tree: OnceLock<TreeNumbers>,
    reachable: usize,
}

impl Dominators {
    /// Computes dominators of `graph` from its super-root; `size(v)` is the shallow size
    /// of object `v`.
    pub fn compute(graph: &Graph, size: impl Fn(NodeId) -> u64) -> Dominators {
        let n = graph.len();
        let sr = graph.super_root();
        let t = std::time::Instant::now();
        let dfs = preorder(graph);
        super::timing("dominators.dfs", t);
        let count = dfs.order.len();
        let t = std::time::Instant::now();
        let idom_pre = semi_nca(graph, &dfs);
        super::timing("dominators.semi_nca", t);
        let t = std::time::Instant::now();

        // Retained sizes, in preorder numbering, accumulated bottom-up.
        let mut ret_pre: Vec<u64> = memory::from_fn(count, |w| {
            let v = dfs.order[w];
            if v == sr {
                0
            } else {
                size(v)
            }
        });
        for w in (1..count).rev() {
            let d = idom_pre[w] as usize;
            ret_pre[d] = ret_pre[d].saturating_add(ret_pre[w]);
        }

        let mut idom = memory::filled(n, NONE);
        let mut retained = memory::filled(n + 1, 0u64);
        retained[n] = ret_pre[0];
        for w in 1..count {
            let v = dfs.order[w] as usize;
            idom[v] = dfs.order[idom_pre[w] as usize];
            retained[v] = ret_pre[w];
        }

        // Children lists over node ids, by counting sort of the preorder sequence.
        let mut child_start = memory::filled(n + 2, 0u64);
        for &d in &idom_pre[1..] {
            child_start[dfs.order[d as usize] as usize + 1] += 1;
        }
        for i in 0..=n {
            child_start[i + 1] += child_start[i];
        }
        let mut cursor = child_start.clone();
        let mut children = memory::filled(count.saturating_sub(1), NONE);
        for (&d, &v) in idom_pre[1..].iter().zip(&dfs.order[1..]) {
            let d = dfs.order[d as usize] as usize;
            children[cursor[d] as usize] = v;
            cursor[d] += 1;
        }
        drop(cursor);

        let dom = Dominators {
            n,
            idom,
            retained,
            child_start,
            children,
            tree: OnceLock::new(),
            reachable: count - 1,
        };
        super::timing("dominators.retained_children", t);
        dom
    }

    /// The preorder numbering of the dominator tree, computed on first use.
    fn tree(&self) -> &TreeNumbers {
        self.tree.get_or_init(|| self.number_tree())
    }

    /// Numbers the dominator tree in preorder (iteratively) for the interval queries.
    fn number_tree(&self) -> TreeNumbers {
        let n = self.n;
        let mut pre = memory::filled(n, NONE);
        let mut size = memory::filled(n, 0u32);
        let mut stack: Vec<(NodeId, u64)> = vec![(n as NodeId, self.child_start[n])];
        let mut next = 0u32;
        while let Some(top) = stack.last_mut() {
            let (v, pos) = *top;
            if pos < self.child_start[v as usize + 1] {
                top.1 += 1;
                let c = self.children[pos as usize];
                pre[c as usize] = next;
                next += 1;
                stack.push((c, self.child_start[c as usize]));
            } else {
                stack.pop();
                if (v as usize) < n {
                    size[v as usize] = next - pre[v as usize];
                }
            }
        }
        TreeNumbers { pre, size }
    }

    /// Number of objects reachable from the super-root.
    pub fn reachable_count(&self) -> usize {
        self.reachable
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
    /// search preorder.
    pub fn children(&self, v: NodeId) -> &[NodeId] {
        let v = v as usize;
        &self.children[self.child_start[v] as usize..self.child_start[v + 1] as usize]
    }

    /// Position of `v` in the dominator-tree preorder ([`NONE`] if unreachable).
    pub fn tree_position(&self, v: NodeId) -> u32 {
        self.tree().pre[v as usize]
    }

    /// Number of objects `v` dominates, itself included (0 if unreachable).
    pub fn tree_size(&self, v: NodeId) -> u32 {
        self.tree().size[v as usize]
    }

    /// True if `a` dominates `b` (every object dominates itself).
    pub fn dominates(&self, a: NodeId, b: NodeId) -> bool {
        let t = self.tree();
        let (pa, pb) = (t.pre[a as usize], t.pre[b as usize]);
        pa != NONE && pb != NONE && pb >= pa && pb - pa < t.size[a as usize]
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

/// Predecessor lists over preorder positions (unreachable predecessors dropped; the
/// super-root, position 0, listed for the roots), as CSR, by a parallel counting sort
/// of the forward edges. The order inside a list depends on thread timing; SEMI-NCA's
/// result does not (a semidominator is a minimum over the list).
fn preorder_predecessors(graph: &Graph, s: &Search) -> (Vec<u64>, Vec<u32>) {
    let count = s.order.len();
    let slots: Vec<AtomicU64> = memory::from_fn(count, |_| AtomicU64::new(0));
    fn each_edge<F: Fn(u32, u32) + Sync>(graph: &Graph, s: &Search, f: F) {
        let n = graph.len();
        (0..n as NodeId)
            .into_par_iter()
            .with_min_len(1 << 12)
            .for_each(|u| {
                let pu = s.pre[u as usize];
                if pu == NONE {
                    return;
                }
                for &t in graph.out_raw(u) {
                    if t != NONE {
                        let pt = s.pre[t as usize];
                        if pt != NONE {
                            f(pu, pt);
                        }
                    }
                }
            });
        for &r in graph.roots() {
            f(0, s.pre[r as usize]);
        }
    }
    each_edge(graph, s, |_, pt| {
        slots[pt as usize].fetch_add(1, Ordering::Relaxed);
    });
    // Exclusive prefix sums: each slot becomes its list's write cursor.
    let mut total = 0u64;
    for c in &slots {
        let k = c.load(Ordering::Relaxed);
        c.store(total, Ordering::Relaxed);
        total += k;
    }
    let preds: Vec<AtomicU32> = memory::from_fn(total as usize, |_| AtomicU32::new(0));
    each_edge(graph, s, |pu, pt| {
        let at = slots[pt as usize].fetch_add(1, Ordering::Relaxed);
        preds[at as usize].store(pu, Ordering::Relaxed);
    });
    // After the fill, slot w holds the end of list w, which is where list w + 1 starts.
    let mut start = Vec::with_capacity(count + 1);
    start.push(0);
    start.extend(slots.into_iter().map(AtomicU64::into_inner));
    (
        start,
        preds.into_iter().map(AtomicU32::into_inner).collect(),
    )
}

/// SEMI-NCA over preorder positions; returns the immediate dominator of each position
/// (position 0, the super-root, maps to itself).
fn semi_nca(graph: &Graph, s: &Search) -> Vec<u32> {
    let count = s.order.len();
    let t = std::time::Instant::now();
    let (start, preds) = preorder_predecessors(graph, s);
    super::timing("dominators.predecessors", t);
    let mut semi: Vec<u32> = memory::from_fn(count, |w| w as u32);
    // Per position: [ancestor, label]. The ancestor is the search parent once the
    // position is linked (above the one being processed); the label is the smallest
    // semidominator on the compressed path above it (stored as the value, not the node,
    // since only the value is ever read). Side by side, one cache line per step.
    let mut forest: Vec<[u32; 2]> = memory::from_fn(count, |w| [s.parent[w], w as u32]);
    let mut path: Vec<u32> = Vec::new();
    for w in (1..count).rev() {
        let w32 = w as u32;
        let mut best = w32;
        for &v in &preds[start[w] as usize..start[w + 1] as usize] {
            // An unlinked predecessor (v <= w) is its own semidominator candidate.
            let candidate = if v <= w32 {
                v
            } else {
                eval(v, w32, &mut forest, &mut path)
            };
            best = best.min(candidate);
        }
        semi[w] = best;
        forest[w][1] = best;
    }
    drop(preds);
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
