//! Reference cycles a user can act on: the strongly connected components of the graph,
//! grouped by the multiset of their members' types (a thousand leaked `Parent <-> Child`
//! pairs are one line, not a thousand), with sizes, finalizers and reachability.
//!
//! Housekeeping edges are left out by default: references into modules, types, and the
//! dicts of modules and types (an instance's reference to its class, a function's to its
//! module globals). Nearly every object has one, and with them the whole heap is one
//! component. `all_edges` keeps them.

use std::collections::HashMap;

use rayon::prelude::*;
use roaring::RoaringBitmap;

use super::components::Components;
use super::dominators::Dominators;
use crate::format::type_flags::HAS_FINALIZER;
use crate::graph::{Graph, NodeId, NONE};
use crate::snapshot::Snapshot;

/// The objects that housekeeping edges point to: modules, types, and their dicts.
pub fn housekeeping_targets(snap: &Snapshot, graph: &Graph) -> RoaringBitmap {
    let types = snap.types();
    let type_of = snap.types_of();
    let is_builtin = |t: u32, name: &str| {
        types.get(t as usize).is_some_and(|r| {
            snap.string(u64::from(r.name)) == name
                && matches!(snap.string(u64::from(r.module)), "builtins" | "")
        })
    };
    // Metatypes: builtins.type, the types of type objects, and every type whose type
    // object refers to a tuple (its __mro__ or __bases__) holding builtins.type.
    let mut metatype = vec![false; types.len()];
    for (t, m) in metatype.iter_mut().enumerate() {
        *m = is_builtin(t as u32, "type");
    }
    for &o in graph.type_objects() {
        if o != NONE {
            if let Some(m) = metatype.get_mut(type_of[o as usize] as usize) {
                *m = true;
            }
        }
    }
    let type_type: Vec<NodeId> = (0..types.len() as u32)
        .filter(|&t| is_builtin(t, "type"))
        .filter_map(|t| graph.type_objects().get(t as usize).copied())
        .filter(|&o| o != NONE)
        .collect();
    let tuple_type: Vec<bool> = (0..types.len() as u32)
        .map(|t| is_builtin(t, "tuple"))
        .collect();
    for (t, &o) in graph.type_objects().iter().enumerate() {
        if o == NONE || metatype[t] {
            continue;
        }
        metatype[t] = graph.successors(o).any(|w| {
            tuple_type.get(type_of[w as usize] as usize) == Some(&true)
                && graph.successors(w).any(|x| type_type.contains(&x))
        });
    }
    let module_type: Vec<bool> = (0..types.len() as u32)
        .map(|t| is_builtin(t, "module"))
        .collect();
    let dict_type: Vec<bool> = (0..types.len() as u32)
        .map(|t| is_builtin(t, "dict"))
        .collect();
    let mut set = RoaringBitmap::new();
    for v in 0..graph.len() as NodeId {
        let t = type_of[v as usize] as usize;
        if metatype.get(t) == Some(&true) || module_type.get(t) == Some(&true) {
            set.insert(v);
            for w in graph.successors(v) {
                if dict_type.get(type_of[w as usize] as usize) == Some(&true) {
                    set.insert(w);
                }
            }
        }
    }
    for &o in graph.type_objects() {
        if o != NONE {
            set.insert(o);
        }
    }
    set
}

/// The components of `graph` for cycle reporting: without housekeeping edges unless
/// `all_edges`.
pub fn cycle_components(snap: &Snapshot, graph: &Graph, all_edges: bool) -> Components {
    if all_edges {
        Components::compute(graph, |_| false)
    } else {
        let skip = housekeeping_targets(snap, graph);
        Components::compute(graph, |t| skip.contains(t))
    }
}

/// Cycles of the same type composition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CycleGroup {
    /// The type multiset: `(type index, members of that type per cycle)`, by type index.
    pub types: Vec<(u32, u32)>,
    /// Number of cycles (components) in the group.
    pub cycles: u64,
    /// Objects in all of them.
    pub objects: u64,
    /// Their shallow bytes.
    pub shallow: u64,
    /// Bytes the cycles keep alive: for a reachable cycle, the union of what its members
    /// retain (the members and what only they hold); for an unreachable one, its members'
    /// own bytes (the collector frees at least those).
    pub retained: u64,
    /// True if a member's type has a finalizer (`__del__`): before Python 3.4 such
    /// cycles were uncollectable, and their finalizers run in unspecified order.
    pub finalizer: bool,
    /// Cycles of the group reachable from the roots (the rest is garbage the collector
    /// has not reclaimed yet).
    pub reachable: u64,
    /// Members of the cycle in the group with the largest retained size (ties: lowest
    /// component id), ascending by id.
    pub example: Vec<NodeId>,
    /// Retained bytes of that example cycle.
    pub example_retained: u64,
}

/// One cyclic component, summarised.
struct CycleFacts {
    types: Vec<(u32, u32)>,
    objects: u64,
    shallow: u64,
    retained: u64,
    reachable: bool,
}

/// Components smaller than this sort their members' types; larger ones count them in
/// a table with a slot per type.
const SORT_TYPES_BELOW: usize = 256;
/// Larger components are summarised in pieces of this many members, in parallel.
const PIECE: usize = 1 << 14;

/// Groups the cyclic components of `comps` by type multiset; sorted by retained bytes,
/// then objects, descending, then by type multiset. Components are summarised in
/// parallel; the grouping goes in component order, so the result does not depend on
/// the thread count.
///
/// What a reachable cycle retains is the union of its members' dominator subtrees: the
/// sum of the retained sizes of the members whose immediate dominator is not a member.
/// (A member `v` lies in another member `u`'s subtree only if its immediate dominator
/// `d` is a member too: a path from the roots reaches `u` without `d`, then `v` along
/// the cycle, so `d` is on the cycle's path from `u` to `v`, and `v` leads back to `u`.)
pub fn group_cycles(
    snap: &Snapshot,
    comps: &Components,
    dom: &Dominators,
    size: impl Fn(NodeId) -> u64 + Sync,
) -> Vec<CycleGroup> {
    let type_of = snap.types_of();
    let type_count = snap.types().len();
    let flags_of = |t: u32| snap.types().get(t as usize).map_or(0, |r| r.flags);
    // Dense numbers for the cyclic components, in component order.
    let mut rank = vec![NONE; comps.count()];
    let mut cyclic: Vec<u32> = Vec::new();
    for (k, r) in rank.iter_mut().enumerate() {
        if comps.is_cycle(k as u32) {
            *r = cyclic.len() as u32;
            cyclic.push(k as u32);
        }
    }
    if cyclic.is_empty() {
        return Vec::new();
    }
    // Members of each cyclic component, ascending (a counting sort by object id, so
    // that the columns indexed by object are read in order).
    let mut start = Vec::with_capacity(cyclic.len() + 1);
    let mut total = 0u64;
    start.push(0u64);
    for &k in &cyclic {
        total += u64::from(comps.size(k));
        start.push(total);
    }
    let mut members = vec![NONE; total as usize];
    let mut cursor: Vec<u64> = start[..cyclic.len()].to_vec();
    for (v, &k) in comps.ids().iter().enumerate() {
        if comps.is_cycle(k) {
            let c = &mut cursor[rank[k as usize] as usize];
            if let Some(slot) = members.get_mut(*c as usize) {
                *slot = v as NodeId;
            }
            *c += 1;
        }
    }
    drop(cursor);
    drop(rank);

    let members_of = |r: usize| &members[start[r] as usize..start[r + 1] as usize];
    let facts: Vec<CycleFacts> = (0..cyclic.len())
        .into_par_iter()
        .with_min_len(64)
        .map(|r| {
            summarise(
                cyclic[r],
                members_of(r),
                type_of,
                type_count,
                comps,
                dom,
                &size,
            )
        })
        .collect();

    let mut groups: HashMap<Vec<(u32, u32)>, (CycleGroup, usize)> = HashMap::new();
    for (r, f) in facts.into_iter().enumerate() {
        let g = groups.entry(f.types).or_insert_with_key(|types| {
            let group = CycleGroup {
                types: types.clone(),
                cycles: 0,
                objects: 0,
                shallow: 0,
                retained: 0,
                finalizer: types.iter().any(|&(t, _)| flags_of(t) & HAS_FINALIZER != 0),
                reachable: 0,
                example: Vec::new(),
                example_retained: 0,
            };
            (group, r)
        });
        let (g, example) = (&mut g.0, &mut g.1);
        if g.cycles == 0 || f.retained > g.example_retained {
            *example = r;
            g.example_retained = f.retained;
        }
        g.cycles += 1;
        g.objects += f.objects;
        g.shallow = g.shallow.saturating_add(f.shallow);
        g.retained = g.retained.saturating_add(f.retained);
        g.reachable += u64::from(f.reachable);
    }
    let mut out: Vec<CycleGroup> = groups
        .into_values()
        .map(|(mut g, r)| {
            g.example = members_of(r).to_vec();
            g
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

/// True if member `v` of component `k` heads its own part of the cycle's dominated
/// set: its immediate dominator is not in `k` (see [`group_cycles`]).
fn heads(v: NodeId, k: u32, comps: &Components, dom: &Dominators) -> bool {
    comps.ids().get(dom.idom(v) as usize) != Some(&k)
}

/// Type multiset, sizes and reachability of component `k`, whose members are `m`.
fn summarise(
    k: u32,
    m: &[NodeId],
    type_of: &[u32],
    type_count: usize,
    comps: &Components,
    dom: &Dominators,
    size: &(impl Fn(NodeId) -> u64 + Sync),
) -> CycleFacts {
    let mut types: Vec<(u32, u32)> = Vec::new();
    if m.len() < SORT_TYPES_BELOW {
        let mut ts: Vec<u32> = m.iter().map(|&v| type_of[v as usize]).collect();
        ts.sort_unstable();
        for t in ts {
            match types.last_mut() {
                Some((lt, c)) if *lt == t => *c += 1,
                _ => types.push((t, 1)),
            }
        }
    } else {
        let counts = in_pieces(
            m,
            |piece| {
                let mut counts = vec![0u32; type_count];
                for &v in piece {
                    if let Some(c) = counts.get_mut(type_of[v as usize] as usize) {
                        *c += 1;
                    }
                }
                counts
            },
            |a, b| a.iter().zip(&b).map(|(x, y)| x + y).collect(),
        );
        types.extend((0..type_count as u32).zip(counts).filter(|&(_, c)| c != 0));
    }
    let reachable = m.first().is_some_and(|&v| dom.is_reachable(v));
    // Shallow bytes, and the retained bytes of the members that head their own part.
    let (shallow, heads_retained) = in_pieces(
        m,
        |piece| {
            piece.iter().fold((0u64, 0u64), |(s, r), &v| {
                let r = if reachable && heads(v, k, comps, dom) {
                    r.saturating_add(dom.retained(v))
                } else {
                    r
                };
                (s.saturating_add(size(v)), r)
            })
        },
        |(s1, r1), (s2, r2)| (s1.saturating_add(s2), r1.saturating_add(r2)),
    );
    CycleFacts {
        types,
        objects: m.len() as u64,
        shallow,
        retained: if reachable { heads_retained } else { shallow },
        reachable,
    }
}

/// `f` over `m`, in parallel pieces of [`PIECE`] members when it has more, the results
/// combined by `join` (which must not depend on the order).
fn in_pieces<T: Send>(
    m: &[NodeId],
    f: impl Fn(&[NodeId]) -> T + Sync,
    join: impl Fn(T, T) -> T + Sync,
) -> T {
    if m.len() <= PIECE {
        return f(m);
    }
    m.par_chunks(PIECE)
        .map(&f)
        .reduce_with(&join)
        .unwrap_or_else(|| f(&[]))
}
