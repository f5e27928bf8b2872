//! The reference census of a validated snapshot: every edge target resolved to an
//! object, which gives the dangling edges (targets not in the dump), each object's
//! in-degree, and from those the refcount-surplus roots that SPEC 4.6 has readers
//! derive: an object whose reference count exceeds the references the dump holds to it
//! is kept alive by something the dump cannot see (a C static, interpreter state, an
//! extension's private pointer).
//!
//! Resolution is the graph's ([`Graph::from_snapshot`]: a parallel hash table, 1.6 s for
//! 30M edges). Only a dump with repeated addresses, which the graph refuses, is resolved
//! by a sorted copy of the addresses and a binary search per edge (O(E log N)).

use crate::address::Sorted;
use crate::error::Result;
use crate::format::object_flags::REFCOUNT_UNKNOWN;
use crate::graph::{Graph, NodeId};
use crate::snapshot::Snapshot;

/// An object held by references the dump cannot see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SurplusRoot {
    /// Object index.
    pub object: u64,
    /// Its reference count minus the edges to it in the dump (at least 1).
    pub surplus: u64,
}

/// What the census found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Census {
    /// Edges whose target is not the address of any object in the dump.
    pub dangling_edges: u64,
    /// Refcount-surplus roots, by ascending object index.
    pub surplus_roots: Vec<SurplusRoot>,
}

/// Resolves every edge of `snap` and derives the refcount-surplus roots.
///
/// Addresses are assumed unique (SPEC 7 step 14); with duplicates, an edge counts for
/// one of the objects that share its target. [`checked_census`] fails on them instead.
pub fn census(snap: &Snapshot) -> Census {
    match Graph::from_snapshot(snap) {
        Ok(graph) => from_graph(snap, &graph),
        Err(_) => resolve(snap, &Sorted::new(snap.addresses())),
    }
}

/// [`census`], but fails, like [`Snapshot::check_addresses`], if two objects share an
/// address, since resolving edges is then ambiguous.
pub fn checked_census(snap: &Snapshot) -> Result<Census> {
    Ok(from_graph(snap, &Graph::from_snapshot(snap)?))
}

/// The census from the resolved graph of `snap`.
pub fn from_graph(snap: &Snapshot, graph: &Graph) -> Census {
    let surplus_roots = snap
        .refcounts()
        .iter()
        .zip(snap.flags())
        .zip(0u64..)
        .filter(|((_, &flags), _)| flags & REFCOUNT_UNKNOWN == 0)
        .filter_map(|((&rc, _), object)| {
            let found = graph.in_degree(object as NodeId);
            let surplus = u64::from(rc).checked_sub(found)?;
            (surplus > 0).then_some(SurplusRoot { object, surplus })
        })
        .collect();
    Census {
        dangling_edges: graph.dangling_edges(),
        surplus_roots,
    }
}

fn resolve(snap: &Snapshot, sorted: &Sorted) -> Census {
    let mut in_degree = vec![0u32; snap.addresses().len()];
    let mut dangling_edges = 0u64;
    for &target in snap.edge_targets() {
        match sorted.get(target) {
            Some(k) => {
                let i = usize::try_from(k).unwrap_or(usize::MAX);
                if let Some(d) = in_degree.get_mut(i) {
                    *d = d.saturating_add(1);
                }
            }
            None => dangling_edges += 1,
        }
    }
    let surplus_roots = snap
        .refcounts()
        .iter()
        .zip(snap.flags())
        .zip(&in_degree)
        .zip(0u64..)
        .filter(|(((_, &flags), _), _)| flags & REFCOUNT_UNKNOWN == 0)
        .filter_map(|(((&rc, _), &found), object)| {
            let surplus = u64::from(rc).checked_sub(u64::from(found))?;
            (surplus > 0).then_some(SurplusRoot { object, surplus })
        })
        .collect();
    Census {
        dangling_edges,
        surplus_roots,
    }
}
