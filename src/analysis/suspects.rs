//! Leak suspects: the objects where the heap accumulates, found on the dominator tree.
//! A free function ([`find`]) over plain inputs ([`Heap`]) returning plain data
//! ([`Suspect`]); `report` (and any other front end) describes them.
//!
//! Let `H` be the shallow bytes of every object in the dump (what `heap%` is measured
//! against everywhere). An object is *heavy* when it retains more than 10% of `H`. Every
//! dominator-tree ancestor of a heavy object is heavy, so the heavy objects form a tree
//! below the super-root with at most nine leaves (their subtrees are disjoint). The
//! search ([`find`]) walks that tree from the super-root and stops at the first object of each
//! branch that is one of these *accumulation points* (the suspects):
//!
//! 1. **accumulation**: group the object's dominator-tree children by type; the group
//!    with the most retained bytes (ties: more members, then the lower type index) has
//!    at least 16 members and retains at least half of what the object retains (a list
//!    of 20,000 bound methods, a dict of 10,000 cached strings);
//! 2. **chain** (checked first): the object is the 16th of its type on the walk from
//!    the super-root, each of those 16 at most two steps below the previous one (a
//!    linked list `Node -> Node` or `Node -> dict -> Node`, a chain of frames); the
//!    suspect is the topmost object of that run (extended upwards while the gaps stay
//!    at most two; when the run is of a builtin type two steps apart, as the instance
//!    dicts of `Node -> dict -> Node`, the run of the class between them is taken);
//! 3. **spread**: no child is heavy, and neither rule above holds (the bytes are spread
//!    over children of mixed types, none holding 10%);
//! 4. **large object**: no child is heavy and the object's own shallow size is at least
//!    half of what it retains (one huge buffer).
//!
//! Otherwise the walk goes on into every heavy child. An object found by two branches is
//! reported once; suspects are listed by retained size.

use std::collections::HashMap;

use super::Dominators;
use crate::graph::NodeId;

/// A suspect retains more than this percentage of the heap.
pub const SUSPECT_PERCENT: u64 = 10;
/// Members of the biggest same-type group of children that make an accumulation point.
pub const ACCUMULATION_MIN_CHILDREN: usize = 16;
/// ... when the group retains at least this percentage of what the object retains.
pub const ACCUMULATION_SHARE_PERCENT: u64 = 50;
/// Objects of one type on the walk, each at most [`CHAIN_GAP`] steps below the
/// previous, that make a chain.
pub const CHAIN_MIN: u32 = 16;
/// 1: each object holds the next (`Node -> Node`); 2: through one other object, such as
/// an instance dict (`Node -> dict -> Node`).
pub const CHAIN_GAP: usize = 2;

/// Why an object is a suspect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Many children of one type: the type index of that group.
    Accumulation(u32),
    /// The topmost of a chain of objects of one type.
    Chain,
    /// No heavy child, and the bytes spread over children of mixed types.
    Spread,
    /// No heavy child, and the object itself is at least half of what it retains.
    LargeObject,
}

/// One suspect: the object and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Suspect {
    /// The object.
    pub v: NodeId,
    /// Which rule found it.
    pub reason: Reason,
}

/// What the rules read: the dominator tree, each object's type index and shallow
/// size, the heap total `H`, and which types are classes (heap types).
pub struct Heap<'a> {
    /// The dominator tree (with retained sizes).
    pub dom: &'a Dominators,
    /// The super-root of the graph the tree was computed on.
    pub super_root: NodeId,
    /// Type index per object.
    pub types: &'a [u32],
    /// Shallow size per object.
    pub size: &'a dyn Fn(NodeId) -> u64,
    /// `H`: the shallow bytes of every object in the dump.
    pub heap: u64,
    /// True for the type indexes of classes (heap types).
    pub is_class: &'a dyn Fn(u32) -> bool,
}

/// True if `retained` is more than [`SUSPECT_PERCENT`] of `heap`.
pub fn is_heavy(retained: u64, heap: u64) -> bool {
    u128::from(retained) * 100 > u128::from(heap) * u128::from(SUSPECT_PERCENT)
}

/// Per type: (members, retained bytes) of `v`'s dominator-tree children.
pub fn children_by_type(h: &Heap<'_>, v: NodeId) -> HashMap<u32, (u64, u64)> {
    let (dom, types) = (h.dom, h.types);
    let mut by: HashMap<u32, (u64, u64)> = HashMap::new();
    for c in dom.children(v) {
        let e = by.entry(types[c as usize]).or_default();
        e.0 += 1;
        e.1 = e.1.saturating_add(dom.retained(c));
    }
    by
}

/// The biggest group of [`children_by_type`]: most retained bytes, then most members,
/// then the lowest type index.
pub fn biggest_group(by: &HashMap<u32, (u64, u64)>) -> Option<(u32, u64, u64)> {
    by.iter()
        .map(|(&t, &(n, r))| (t, n, r))
        .max_by(|x, y| x.2.cmp(&y.2).then(x.1.cmp(&y.1)).then(y.0.cmp(&x.0)))
}

/// The suspects, by retained bytes (ties: by id). See the module documentation.
pub fn find(h: &Heap<'_>) -> Vec<Suspect> {
    let (dom, types, heap) = (h.dom, h.types, h.heap);
    let heavy_children = |v: NodeId| -> Vec<NodeId> {
        let mut kids: Vec<NodeId> = dom
            .children(v)
            .iter()
            .copied()
            .filter(|&c| is_heavy(dom.retained(c), heap))
            .collect();
        kids.sort_unstable_by(|&x, &y| dom.retained(y).cmp(&dom.retained(x)).then(x.cmp(&y)));
        kids
    };
    let is_class = h.is_class;
    let mut found: Vec<Suspect> = Vec::new();
    // Depth-first over heavy objects: the path from the super-root, how often each type
    // occurs on it, and per level the heavy children still to visit.
    let mut path: Vec<NodeId> = Vec::new();
    // Per type: the positions on `path` of its objects, ascending.
    let mut on_path: HashMap<u32, Vec<usize>> = HashMap::new();
    let mut stack: Vec<std::vec::IntoIter<NodeId>> = vec![heavy_children(h.super_root).into_iter()];
    while let Some(level) = stack.last_mut() {
        let Some(v) = level.next() else {
            stack.pop();
            if let Some(u) = path.pop() {
                if let Some(at) = on_path.get_mut(&types[u as usize]) {
                    at.pop();
                }
            }
            continue;
        };
        let t = types[v as usize];
        let here = path.len();
        let at = on_path.entry(t).or_default();
        at.push(here);
        let chain = chain_start(at).map(|first| (at[first], here - at[at.len() - 2]));
        let verdict = if let Some((start, gap)) = chain {
            // In `Node -> dict -> Node -> dict`, the run of dicts may start above the
            // first Node (with the dict holding it): the chain is the class's.
            let mut top = path[start];
            let other = types[path[here - 1] as usize];
            if gap == 2 && other != t && is_class(other) && !is_class(t) {
                if let Some(pos) = on_path.get(&other).filter(|p| !p.is_empty()) {
                    top = path[pos[run_start(pos)]];
                }
            }
            Some(Suspect {
                v: top,
                reason: Reason::Chain,
            })
        } else {
            let groups = children_by_type(h, v);
            let retained = dom.retained(v);
            match biggest_group(&groups) {
                Some((gt, members, group_retained))
                    if members as usize >= ACCUMULATION_MIN_CHILDREN
                        && u128::from(group_retained) * 100
                            >= u128::from(retained) * u128::from(ACCUMULATION_SHARE_PERCENT) =>
                {
                    Some(Suspect {
                        v,
                        reason: Reason::Accumulation(gt),
                    })
                }
                _ => None,
            }
        };
        let kids = if verdict.is_some() {
            Vec::new()
        } else {
            heavy_children(v)
        };
        let verdict = verdict.or_else(|| {
            kids.is_empty().then(|| {
                let large = u128::from((h.size)(v)) * 2 >= u128::from(dom.retained(v));
                Suspect {
                    v,
                    reason: if large {
                        Reason::LargeObject
                    } else {
                        Reason::Spread
                    },
                }
            })
        });
        if let Some(f) = verdict {
            if !found.iter().any(|g| g.v == f.v) {
                found.push(f);
            }
        }
        // Enter v (even when it ends its branch, so that leaving it is uniform).
        path.push(v);
        stack.push(kids.into_iter());
    }
    found.sort_by(|x, y| {
        dom.retained(y.v)
            .cmp(&dom.retained(x.v))
            .then(x.v.cmp(&y.v))
    });
    found
}

/// The index in `at` (ascending positions on the walk of one type's objects) where the
/// run that ends with its last position starts: each position at most [`CHAIN_GAP`]
/// below the previous one.
pub fn run_start(at: &[usize]) -> usize {
    let mut first = at.len().saturating_sub(1);
    while first > 0 && at[first] - at[first - 1] <= CHAIN_GAP {
        first -= 1;
    }
    first
}

/// [`run_start`] if that run has at least [`CHAIN_MIN`] objects.
pub fn chain_start(at: &[usize]) -> Option<usize> {
    let first = run_start(at);
    (at.len() - first >= CHAIN_MIN as usize).then_some(first)
}

/// The number of objects of type `t` on the heavy single-child descent from `top`.
pub fn chain_length(h: &Heap<'_>, top: NodeId, t: u32) -> u64 {
    let (dom, types, heap) = (h.dom, h.types, h.heap);
    let mut n = 0u64;
    let mut v = top;
    loop {
        if types[v as usize] == t {
            n += 1;
        }
        let mut heavy = dom
            .children(v)
            .into_iter()
            .filter(|&c| is_heavy(dom.retained(c), heap));
        match (heavy.next(), heavy.next()) {
            (Some(c), None) => v = c,
            _ => return n,
        }
    }
}
