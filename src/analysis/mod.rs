//! The analyses that answer "what is using the memory and why is it alive", computed
//! over a [`Graph`]: dominators and retained sizes, reference cycles, shortest paths from
//! the roots, and the type histogram.
//!
//! [`Analysis::run`] computes what a command needs. The dominator search is sequential;
//! the cycle search and the breadth-first search run beside it on other threads
//! (`rayon::join`). Every result is the same for any number of threads.

pub mod components;
pub mod cycles;
pub mod diff;
pub mod dominators;
pub mod histogram;
pub mod paths;
pub mod suspects;

use std::sync::OnceLock;

use serde::Serialize;

use crate::error::Result;
use crate::graph::{Graph, NodeId};
use crate::names::TypeNames;
use crate::progress::phase;
use crate::snapshot::Snapshot;
pub use components::Components;
pub use cycles::CycleGroup;
pub use dominators::Dominators;
pub use histogram::TypeStats;
pub use paths::Paths;

/// Which edges the cycle search follows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EdgeSet {
    /// Every edge but the housekeeping ones (see [`cycles`]): what every report uses,
    /// and what the index stores.
    #[default]
    WithoutHousekeeping,
    /// Every edge (`--all-edges`).
    All,
}

impl EdgeSet {
    /// [`EdgeSet::All`] for `--all-edges`, else the default.
    pub fn all_if(all_edges: bool) -> EdgeSet {
        if all_edges {
            EdgeSet::All
        } else {
            EdgeSet::WithoutHousekeeping
        }
    }
}

/// Which analyses to run. The object graph is always built.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// Dominator tree and retained sizes.
    pub dominators: bool,
    /// Shortest paths from the roots.
    pub paths: bool,
    /// Strongly connected components (reference cycles), over which edges.
    pub cycles: Option<EdgeSet>,
}

impl Needs {
    /// Everything (housekeeping edges left out of the cycle search): what the index holds.
    pub fn all() -> Needs {
        Needs {
            dominators: true,
            paths: true,
            cycles: Some(EdgeSet::WithoutHousekeeping),
        }
    }
}

/// The results of every analysis, as stored (by the index) and read back:
/// [`Analysis::from_columns`] builds an analysis from them.
pub struct Stored {
    /// The object graph.
    pub graph: Graph,
    /// Dominators and retained sizes.
    pub dom: Dominators,
    /// Cycles (housekeeping edges left out).
    pub components: Components,
    /// Shortest paths from the roots.
    pub paths: Paths,
    /// The type histogram with retained sizes.
    pub type_stats: Vec<TypeStats>,
    /// The cycle groups of `components`.
    pub cycle_groups: Vec<CycleGroup>,
}

/// A snapshot, its graph, and the analyses computed over it.
pub struct Analysis<'s> {
    /// The dump.
    pub snap: &'s Snapshot,
    /// Its object graph.
    pub graph: Graph,
    /// Display names of its types.
    pub names: TypeNames,
    /// Dominators, if asked for.
    pub dom: Option<Dominators>,
    /// Components, if asked for.
    pub components: Option<Components>,
    /// Shortest paths, if asked for.
    pub paths: Option<Paths>,
    /// The type histogram with retained sizes, once computed (or read from the index).
    type_stats: OnceLock<Vec<TypeStats>>,
    /// The cycle groups of `components`, once computed (or read from the index).
    cycle_groups: OnceLock<Vec<CycleGroup>>,
}

impl<'s> Analysis<'s> {
    /// Builds the graph of `snap` and runs the analyses in `needs`.
    pub fn run(snap: &'s Snapshot, needs: Needs) -> Result<Analysis<'s>> {
        let graph = {
            let _p = phase("resolving references");
            Graph::from_snapshot(snap)?
        };
        let size = |v: NodeId| snap.shallow_size(v as usize);
        let g = &graph;
        let (dom, (components, paths)) = rayon::join(
            || {
                needs.dominators.then(|| {
                    let _p = phase("dominators and retained sizes");
                    // This side alone asks for the reverse adjacency (see `compute`).
                    Dominators::compute(g, g.reverse(), size)
                })
            },
            || {
                rayon::join(
                    || {
                        needs.cycles.map(|edges| {
                            let _p = phase("reference cycles");
                            cycles::cycle_components(snap, g, edges == EdgeSet::All)
                        })
                    },
                    || {
                        needs.paths.then(|| {
                            let _p = phase("shortest paths from the roots");
                            Paths::compute(g)
                        })
                    },
                )
            },
        );
        Ok(Analysis {
            snap,
            names: TypeNames::new(snap),
            graph,
            dom,
            components,
            paths,
            type_stats: OnceLock::new(),
            cycle_groups: OnceLock::new(),
        })
    }

    /// An analysis of `snap` from stored results (the index), keeping only what `needs`
    /// asks for, so that what a command prints never depends on what was stored.
    /// Cycles over [`EdgeSet::All`] are computed afresh (only the others are stored).
    pub fn from_columns(snap: &'s Snapshot, stored: Stored, needs: Needs) -> Analysis<'s> {
        let a = Analysis {
            snap,
            names: TypeNames::new(snap),
            graph: stored.graph,
            dom: Some(stored.dom),
            components: Some(stored.components),
            paths: Some(stored.paths),
            type_stats: stored.type_stats.into(),
            cycle_groups: stored.cycle_groups.into(),
        };
        a.keep_only(needs)
    }

    /// This analysis with only what `needs` asks for (it must hold at least that, cycles
    /// without housekeeping edges standing for cycles over any edges): what is not asked
    /// for is dropped, and cycles over all edges are computed.
    pub fn keep_only(mut self, needs: Needs) -> Analysis<'s> {
        if !needs.dominators {
            self.dom = None;
            self.type_stats = OnceLock::new();
        }
        if !needs.paths {
            self.paths = None;
        }
        match needs.cycles {
            None => {
                self.components = None;
                self.cycle_groups = OnceLock::new();
            }
            Some(EdgeSet::WithoutHousekeeping) => {}
            Some(EdgeSet::All) => {
                self.cycle_groups = OnceLock::new();
                let _p = phase("reference cycles");
                self.components = Some(cycles::cycle_components(self.snap, &self.graph, true));
            }
        }
        self
    }

    /// Shallow size of object `v`.
    pub fn size(&self, v: NodeId) -> u64 {
        self.snap.shallow_size(v as usize)
    }

    /// The dominators (panics if not computed: a bug in the caller's [`Needs`]).
    pub fn dom(&self) -> &Dominators {
        self.dom.as_ref().expect("dominators were not computed")
    }

    /// The components (panics if not computed).
    pub fn components(&self) -> &Components {
        self.components
            .as_ref()
            .expect("components were not computed")
    }

    /// The shortest paths (panics if not computed).
    pub fn paths(&self) -> &Paths {
        self.paths.as_ref().expect("paths were not computed")
    }

    /// Totals every command reports beside its result.
    pub fn summary(&self) -> Summary {
        let total = self.snap.total_shallow_size();
        let (reachable, unreachable_bytes) = match (&self.dom, &self.paths) {
            (Some(d), _) => {
                let sr = self.graph.super_root();
                (
                    Some(d.reachable_count() as u64),
                    Some(total.saturating_sub(d.retained(sr))),
                )
            }
            (None, Some(p)) => {
                let (count, bytes) = p
                    .depths()
                    .iter()
                    .enumerate()
                    .filter(|(_, &d)| d != crate::graph::NONE)
                    .fold((0u64, 0u64), |(c, b), (v, _)| {
                        (c + 1, b.saturating_add(self.size(v as NodeId)))
                    });
                (Some(count), Some(total.saturating_sub(bytes)))
            }
            (None, None) => (None, None),
        };
        Summary {
            objects: self.graph.len() as u64,
            edges: self.graph.edge_count() as u64,
            dangling_edges: self.graph.dangling_edges(),
            roots: self.graph.roots().len() as u64,
            shallow_bytes: total,
            reachable_objects: reachable,
            unreachable_objects: reachable.map(|r| self.graph.len() as u64 - r),
            unreachable_bytes,
        }
    }

    /// The type histogram: with retained sizes when dominators were computed, else
    /// counts and shallow sizes, with reachability from the shortest-path search (one of
    /// the two is needed).
    pub fn histogram(&self) -> Vec<TypeStats> {
        let size = |v: NodeId| self.size(v);
        let (types, type_count) = (self.snap.types_of(), self.snap.type_count());
        match (&self.dom, &self.paths) {
            (Some(dom), _) => self
                .type_stats
                .get_or_init(|| histogram::histogram(types, type_count, &size, dom))
                .clone(),
            (None, Some(paths)) => histogram::histogram_with(
                types,
                type_count,
                &size,
                &|v| paths.depth(v).is_some(),
                None,
            ),
            (None, None) => panic!("histogram needs dominators or paths"),
        }
    }

    /// Cycle groups (needs dominators and components).
    pub fn cycle_groups(&self) -> Vec<CycleGroup> {
        self.cycle_groups
            .get_or_init(|| {
                let _p = phase("grouping cycles");
                cycles::group_cycles(self.snap, self.components(), self.dom(), |v| self.size(v))
            })
            .clone()
    }
}

/// Graph totals.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Summary {
    /// Objects in the dump.
    pub objects: u64,
    /// Edges in the dump.
    pub edges: u64,
    /// Edges whose target is not in the dump (counted, not followed).
    pub dangling_edges: u64,
    /// Objects attached to the super-root (root records, refcount surplus, immortal).
    pub roots: u64,
    /// Shallow bytes of every object.
    pub shallow_bytes: u64,
    /// Objects reachable from the roots (when dominators were computed).
    pub reachable_objects: Option<u64>,
    /// Objects not reachable from any root: garbage awaiting collection.
    pub unreachable_objects: Option<u64>,
    /// Their shallow bytes.
    pub unreachable_bytes: Option<u64>,
}
