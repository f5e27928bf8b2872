//! Strongly connected components: the reference cycles of a graph.
//!
//! Pearce's space-efficient variant of Tarjan's algorithm ("A space-efficient algorithm
//! for finding strongly connected components", 2016), made iterative: one `u32` per
//! object (`rindex`), one bit per object (`root`), and two explicit stacks; nothing
//! recurses, so million-long reference chains are fine.
//!
//! Edges can be left out by target (the housekeeping edges of `cycles.rs`), so that
//! references every object has (to its type, to module globals) do not merge the whole
//! heap into one component.

use rayon::prelude::*;

use crate::column::Column;
use crate::graph::{Graph, NodeId, NONE};
use crate::memory;

/// The strongly connected components of a graph.
#[derive(Clone, Debug)]
pub struct Components {
    /// Component id per object; ids are in reverse topological order of the condensation
    /// (a component's id is smaller than the ids of the components that refer to it).
    component: Column<u32>,
    /// Number of objects per component.
    sizes: Column<u32>,
    /// Per component: true if it is a cycle (two or more objects, or one object that
    /// refers to itself through a kept edge).
    cyclic: Column<u8>,
}

impl Components {
    /// Finds the components of `graph`, ignoring every edge whose target `t` has
    /// `skip(t)` true.
    pub fn compute(graph: &Graph, skip: impl Fn(NodeId) -> bool) -> Components {
        let n = graph.len();
        // rindex: 0 = unvisited; 1.. = visit index while active; after completion, the
        // component number counted down from n (n - 1 - rindex gives ids 0..).
        let mut rindex = memory::filled(n, 0u32);
        let mut is_root = vec![0u64; n.div_ceil(64)];
        let mut index = 1u32;
        let mut c = n as u32; // next component value, counted down
        let mut stack: Vec<NodeId> = Vec::new();
        // (node, next edge index, end of its edges)
        let mut call: Vec<(NodeId, usize, usize)> = Vec::new();
        let targets = graph.targets();
        let set_root = |bits: &mut [u64], v: usize, on: bool| {
            if on {
                bits[v / 64] |= 1 << (v % 64);
            } else {
                bits[v / 64] &= !(1 << (v % 64));
            }
        };
        for start in 0..n as NodeId {
            if rindex[start as usize] != 0 {
                continue;
            }
            rindex[start as usize] = index;
            index += 1;
            set_root(&mut is_root, start as usize, true);
            let range = graph.edge_range(start);
            call.push((start, range.start, range.end));
            while let Some(top) = call.last_mut() {
                let (v, k, end) = *top;
                if k < end {
                    top.1 = k + 1;
                    let w = targets[k];
                    if w == NONE || skip(w) {
                        continue;
                    }
                    if rindex[w as usize] == 0 {
                        rindex[w as usize] = index;
                        index += 1;
                        set_root(&mut is_root, w as usize, true);
                        let range = graph.edge_range(w);
                        call.push((w, range.start, range.end));
                    } else if rindex[w as usize] < rindex[v as usize] {
                        rindex[v as usize] = rindex[w as usize];
                        set_root(&mut is_root, v as usize, false);
                    }
                    continue;
                }
                // v is finished.
                call.pop();
                let vi = v as usize;
                if is_root[vi / 64] & (1 << (vi % 64)) != 0 {
                    index -= 1;
                    c -= 1;
                    while let Some(&w) = stack.last() {
                        if rindex[vi] > rindex[w as usize] {
                            break;
                        }
                        stack.pop();
                        rindex[w as usize] = c;
                        index -= 1;
                    }
                    rindex[vi] = c;
                } else {
                    stack.push(v);
                }
                if let Some(&(u, _, _)) = call.last() {
                    if rindex[vi] < rindex[u as usize] {
                        rindex[u as usize] = rindex[vi];
                        set_root(&mut is_root, u as usize, false);
                    }
                }
            }
        }
        // Component values run from n - 1 down to c; renumber from 0 in completion order.
        let count = (n as u32 - c) as usize;
        let component: Vec<u32> = memory::from_fn(n, |v| n as u32 - 1 - rindex[v]);
        drop(rindex);
        let mut sizes = vec![0u32; count];
        for &k in &component {
            sizes[k as usize] += 1;
        }
        let mut cyclic: Vec<bool> = sizes.iter().map(|&s| s > 1).collect();
        for v in 0..n as NodeId {
            let k = component[v as usize] as usize;
            if !cyclic[k] && graph.out_raw(v).iter().any(|&t| t == v && !skip(t)) {
                cyclic[k] = true;
            }
        }
        Components {
            component: component.into(),
            sizes: sizes.into(),
            cyclic: cyclic.into_iter().map(u8::from).collect::<Vec<u8>>().into(),
        }
    }

    /// Number of components (every object is in exactly one).
    pub fn count(&self) -> usize {
        self.sizes.len()
    }

    /// The component of `v`.
    pub fn of(&self, v: NodeId) -> u32 {
        self.component[v as usize]
    }

    /// Component id of every object.
    pub fn ids(&self) -> &[u32] {
        &self.component
    }

    /// Number of objects in component `k`.
    pub fn size(&self, k: u32) -> u32 {
        self.sizes[k as usize]
    }

    /// True if component `k` is a reference cycle.
    pub fn is_cycle(&self, k: u32) -> bool {
        self.cyclic[k as usize] != 0
    }

    /// The arrays behind the components, for the index: component per object, size
    /// and cycle flag (0 or 1) per component.
    pub(crate) fn columns(&self) -> (&[u32], &[u32], &[u8]) {
        (&self.component, &self.sizes, &self.cyclic)
    }

    /// Components from arrays saved by [`Components::columns`], or `None` if they do not
    /// fit together for `n` objects.
    pub(crate) fn from_columns(
        n: usize,
        component: Column<u32>,
        sizes: Column<u32>,
        cyclic: Column<u8>,
    ) -> Option<Components> {
        let ok = component.len() == n
            && sizes.len() == cyclic.len()
            && component.par_iter().all(|&k| (k as usize) < sizes.len());
        ok.then_some(Components {
            component,
            sizes,
            cyclic,
        })
    }
}
