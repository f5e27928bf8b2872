//! Reference cycles a user can act on: the strongly connected components of the graph,
//! grouped by the multiset of their members' types (a thousand leaked `Parent <-> Child`
//! pairs are one line, not a thousand), with sizes, finalizers and reachability.
//!
//! Housekeeping edges are left out by default: references into modules, types, and the
//! dicts of modules and types (an instance's reference to its class, a function's to its
//! module globals). Nearly every object has one, and with them the whole heap is one
//! component. `all_edges` keeps them.

use std::collections::HashMap;

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

/// Groups the cyclic components of `comps` by type multiset; sorted by retained bytes,
/// then objects, descending, then by type multiset.
pub fn group_cycles(
    snap: &Snapshot,
    comps: &Components,
    dom: &Dominators,
    size: impl Fn(NodeId) -> u64,
) -> Vec<CycleGroup> {
    let type_of = snap.types_of();
    let flags_of = |t: u32| snap.types().get(t as usize).map_or(0, |r| r.flags);
    // Members of each cyclic component, by counting sort.
    let count = comps.count();
    let mut start = vec![0u64; count + 1];
    for &k in comps.ids() {
        if comps.is_cycle(k) {
            start[k as usize + 1] += 1;
        }
    }
    for k in 0..count {
        start[k + 1] += start[k];
    }
    let mut members = vec![NONE; start[count] as usize];
    let mut cursor = start.clone();
    for (v, &k) in comps.ids().iter().enumerate() {
        if comps.is_cycle(k) {
            members[cursor[k as usize] as usize] = v as NodeId;
            cursor[k as usize] += 1;
        }
    }
    drop(cursor);

    let mut groups: HashMap<Vec<(u32, u32)>, CycleGroup> = HashMap::new();
    let mut by_type: Vec<(u32, u32)> = Vec::new();
    let mut positioned: Vec<(u32, u32)> = Vec::new();
    for k in 0..count {
        let m = &members[start[k] as usize..start[k + 1] as usize];
        if m.is_empty() {
            continue;
        }
        by_type.clear();
        let mut ts: Vec<u32> = m.iter().map(|&v| type_of[v as usize]).collect();
        ts.sort_unstable();
        for t in ts {
            match by_type.last_mut() {
                Some((lt, c)) if *lt == t => *c += 1,
                _ => by_type.push((t, 1)),
            }
        }
        let shallow = m.iter().fold(0u64, |a, &v| a.saturating_add(size(v)));
        let reachable = dom.is_reachable(m[0]);
        let retained = if reachable {
            // Union of the members' dominator subtrees: sum over members not inside
            // another member's subtree.
            positioned.clear();
            positioned.extend(m.iter().map(|&v| (dom.tree_position(v), v)));
            positioned.sort_unstable();
            let mut end = 0u64;
            let mut total = 0u64;
            for &(p, v) in &positioned {
                if u64::from(p) >= end {
                    total = total.saturating_add(dom.retained(v));
                    end = u64::from(p) + u64::from(dom.tree_size(v));
                }
            }
            total
        } else {
            shallow
        };
        let finalizer = by_type
            .iter()
            .any(|&(t, _)| flags_of(t) & HAS_FINALIZER != 0);
        let g = groups.entry(by_type.clone()).or_insert_with(|| CycleGroup {
            types: by_type.clone(),
            cycles: 0,
            objects: 0,
            shallow: 0,
            retained: 0,
            finalizer,
            reachable: 0,
            example: Vec::new(),
            example_retained: 0,
        });
        g.cycles += 1;
        g.objects += m.len() as u64;
        g.shallow = g.shallow.saturating_add(shallow);
        g.retained = g.retained.saturating_add(retained);
        g.reachable += u64::from(reachable);
        if g.example.is_empty() || retained > g.example_retained {
            g.example = m.to_vec();
            g.example_retained = retained;
        }
    }
    let mut out: Vec<CycleGroup> = groups.into_values().collect();
    out.sort_by(|a, b| {
        b.retained
            .cmp(&a.retained)
            .then(b.objects.cmp(&a.objects))
            .then_with(|| a.types.cmp(&b.types))
    });
    out
}
