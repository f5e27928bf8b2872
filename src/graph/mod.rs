//! The object graph an analysis runs on: objects as dense ids `0..n`, edge targets
//! resolved from addresses to ids, forward and reverse CSR adjacency, and the roots (the
//! children of a synthetic super-root, id `n`).
//!
//! Ids are `u32`: a graph holds up to `u32::MAX - 1` objects (4.29 billion, twice the
//! 2^31 limit of Java-based analyzers); larger dumps are refused with a clear error.
//! Edge offsets are `u64`. Edge `k` of the graph is edge `k` of the dump, so edge labels
//! are read from the dump by the same index; an edge whose target is not in the dump
//! (dangling) has target [`NONE`] and is counted in [`Graph::dangling_edges`].
//!
//! In-degrees are counted while edges are resolved (the refcount-surplus roots need
//! them). The reverse adjacency is built on first use only: the dominator search builds
//! its own predecessor lists in search order, and only referrer queries need these.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use rayon::prelude::*;

pub use crate::address::AddressTable;
use crate::column::Column;
use crate::error::{Error, Result, Where};
use crate::format::kind;
use crate::format::object_flags::REFCOUNT_UNKNOWN;
use crate::memory;
use crate::snapshot::Snapshot;

/// A dense object id.
pub type NodeId = u32;

/// No object: a dangling edge target, an unreachable object's parent, ...
pub const NONE: NodeId = crate::address::NONE;

/// The most objects a graph can hold (ids `0..n`, the super-root is `n`, [`NONE`] is
/// reserved).
pub const MAX_OBJECTS: usize = (u32::MAX - 1) as usize;

/// Why an object is a child of the super-root (a bit set: an object can have several
/// reasons).
pub mod root_reason {
    /// A ROOTS record names it.
    pub const RECORD: u8 = 1;
    /// Its refcount exceeds the references the dump holds to it (SPEC 4.6).
    pub const SURPLUS: u8 = 2;
    /// Flag REFCOUNT_UNKNOWN (immortal): attached to the super-root so that no ordinary
    /// object is charged for it (SPEC 4.6).
    pub const IMMORTAL: u8 = 4;
}

/// The reverse adjacency of a [`Graph`] as CSR: for each object, the sources of its
/// in-edges, ascending (one per edge). Built once per graph ([`Graph::reverse`]); an
/// analysis that needs it takes it as an argument, so that it is built before the
/// analysis starts, by whoever calls it.
#[derive(Clone, Debug)]
pub struct ReverseAdjacency {
    start: Column<u64>,
    sources: Column<NodeId>,
}

impl ReverseAdjacency {
    /// `(start, sources)`: `sources[start[v]..start[v + 1]]` refer to `v`, ascending.
    pub fn csr(&self) -> (&[u64], &[NodeId]) {
        (&self.start, &self.sources)
    }
}

/// The arrays of a [`Graph`] (see [`Graph::columns`]).
pub(crate) struct GraphColumns<'a> {
    pub fwd: &'a [NodeId],
    pub roots: &'a [NodeId],
    pub type_objects: &'a [NodeId],
    pub rev_start: &'a [u64],
    pub rev_sources: &'a [NodeId],
}

/// A resolved object graph (see the module documentation).
#[derive(Clone, Debug)]
pub struct Graph {
    n: usize,
    fwd_start: Column<u64>,
    fwd: Column<NodeId>,
    /// Resolved edges into each object (saturating); `None` when the graph came from
    /// an index, whose reverse adjacency gives them.
    in_degree: Option<Column<u32>>,
    reverse: OnceLock<ReverseAdjacency>,
    roots: Column<NodeId>,
    dangling: u64,
    type_objects: Column<NodeId>,
}

impl Graph {
    /// Builds the graph of a validated snapshot. Fails if two objects share an address
    /// (SPEC 7 step 14: resolution would be ambiguous) or the dump holds more than
    /// [`MAX_OBJECTS`] objects.
    pub fn from_snapshot(snap: &Snapshot) -> Result<Graph> {
        let n = snap.object_count();
        check_size(n)?;
        let t0 = std::time::Instant::now();
        let table = match AddressTable::build(snap.addresses()) {
            Ok(t) => t,
            Err(_) => {
                snap.check_addresses()?;
                unreachable!("the address table found a duplicate that a sort did not");
            }
        };
        crate::progress::timing("graph.table", t0);
        let t0 = std::time::Instant::now();
        let targets = snap.edge_targets();
        let mut fwd = memory::filled(targets.len(), NONE);
        let counts: Vec<AtomicU32> = memory::from_fn(n, |_| AtomicU32::new(0));
        let dangling: u64 = fwd
            .par_chunks_mut(1 << 16)
            .zip(targets.par_chunks(1 << 16))
            .map(|(out, inp)| {
                let mut missing = 0u64;
                for (o, &a) in out.iter_mut().zip(inp) {
                    *o = table.get(a);
                    if *o == NONE {
                        missing += 1;
                    } else {
                        saturating_increment(&counts[*o as usize]);
                    }
                }
                missing
            })
            .sum();
        let in_degree: Vec<u32> = counts.into_iter().map(AtomicU32::into_inner).collect();
        let type_objects = snap.types().iter().map(|t| table.get(t.address)).collect();
        drop(table);
        crate::progress::timing("graph.resolve", t0);
        // A copy in huge pages: every search reads it at random, and through 4 KiB pages
        // of the mapped file that costs a page walk per read (the searches ran 2x slower).
        let starts = snap.edge_starts();
        let fwd_start: Column<u64> = memory::par_from_fn(starts.len(), |i| starts[i]).into();
        let reasons = root_reasons(snap, &in_degree);
        let roots = (0..n as NodeId)
            .filter(|&v| reasons[v as usize] != 0)
            .collect();
        // The analyses do not read these sections again (commands that print an
        // object's address read its page back): at 100M objects they are 4 GB of
        // resident set otherwise.
        snap.release(&[
            kind::OBJECT_ADDRESS,
            kind::EDGE_TARGET,
            kind::OBJECT_REFCOUNT,
            kind::OBJECT_FLAGS,
        ]);
        Ok(Graph {
            n,
            fwd_start,
            fwd: fwd.into(),
            in_degree: Some(in_degree.into()),
            reverse: OnceLock::new(),
            roots,
            dangling,
            type_objects,
        })
    }

    /// The resolved arrays, for the index: edge targets, roots, type objects, and the
    /// reverse adjacency (built if it was not yet), from which in-degrees follow.
    pub(crate) fn columns(&self) -> GraphColumns<'_> {
        let (rev_start, rev_sources) = self.reverse_csr();
        GraphColumns {
            fwd: &self.fwd,
            roots: &self.roots,
            type_objects: &self.type_objects,
            rev_start,
            rev_sources,
        }
    }

    /// The graph of `snap` from arrays saved by [`Graph::columns`] (and its dangling
    /// edge count), or `None` if they do not fit the snapshot.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_columns(
        snap: &Snapshot,
        fwd: Column<NodeId>,
        roots: Column<NodeId>,
        type_objects: Column<NodeId>,
        dangling: u64,
        rev_start: Column<u64>,
        rev_sources: Column<NodeId>,
    ) -> Option<Graph> {
        let n = snap.object_count();
        let in_range = |v: &NodeId| (*v as usize) < n;
        let fwd_start = snap.edge_starts_column();
        let ok = n <= MAX_OBJECTS
            && fwd_start.len() == n + 1
            && fwd_start.first() == Some(&0)
            && fwd_start.last() == Some(&(fwd.len() as u64))
            && fwd_start.par_windows(2).all(|w| w[0] <= w[1])
            && fwd.len() == snap.edge_count()
            && type_objects.len() == snap.type_count()
            && rev_start.len() == n + 1
            && rev_start.first() == Some(&0)
            && rev_start.last() == Some(&(rev_sources.len() as u64))
            && rev_start.par_windows(2).all(|w| w[0] <= w[1])
            && fwd.par_iter().all(|&t| t == NONE || in_range(&t))
            && roots.iter().all(in_range)
            && roots.windows(2).all(|w| w[0] < w[1])
            && type_objects.iter().all(|&t| t == NONE || in_range(&t))
            && rev_sources.par_iter().all(in_range);
        if !ok {
            return None;
        }
        let reverse = OnceLock::new();
        let _ = reverse.set(ReverseAdjacency {
            start: rev_start,
            sources: rev_sources,
        });
        Some(Graph {
            n,
            fwd_start,
            fwd,
            in_degree: None,
            reverse,
            roots,
            dangling,
            type_objects,
        })
    }

    /// Builds a graph from CSR adjacency over ids `0..n` (targets may be [`NONE`] for
    /// dangling edges) and the super-root's children (any order, repeats allowed).
    ///
    /// # Panics
    /// If `starts` is not `n + 1` non-decreasing offsets ending at `targets.len()`, or a
    /// target or root is not below `n` (targets may also be [`NONE`]).
    pub fn from_csr(n: usize, starts: Vec<u64>, targets: Vec<NodeId>, roots: &[NodeId]) -> Graph {
        assert!(n <= MAX_OBJECTS);
        assert_eq!(starts.len(), n + 1);
        assert!(starts.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(starts[n], targets.len() as u64);
        assert!(targets.iter().all(|&t| t == NONE || (t as usize) < n));
        assert!(roots.iter().all(|&r| (r as usize) < n));
        let dangling = targets.iter().filter(|&&t| t == NONE).count() as u64;
        let mut in_degree = vec![0u32; n];
        for &t in &targets {
            if t != NONE {
                in_degree[t as usize] = in_degree[t as usize].saturating_add(1);
            }
        }
        let mut roots = roots.to_vec();
        roots.sort_unstable();
        roots.dedup();
        Graph {
            n,
            fwd_start: starts.into(),
            fwd: targets.into(),
            in_degree: Some(in_degree.into()),
            reverse: OnceLock::new(),
            roots: roots.into(),
            dangling,
            type_objects: Vec::new().into(),
        }
    }

    /// Builds a graph from an edge list `(source, target)` (kept in this order per
    /// source); convenient for tests and generators.
    pub fn from_edges(n: usize, edges: &[(NodeId, NodeId)], roots: &[NodeId]) -> Graph {
        let mut starts = vec![0u64; n + 1];
        for &(s, _) in edges {
            starts[s as usize + 1] += 1;
        }
        for i in 0..n {
            starts[i + 1] += starts[i];
        }
        let mut cursor = starts.clone();
        let mut targets = vec![NONE; edges.len()];
        for &(s, t) in edges {
            let c = &mut cursor[s as usize];
            targets[*c as usize] = t;
            *c += 1;
        }
        Graph::from_csr(n, starts, targets, roots)
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.n
    }

    /// True if the graph has no objects.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The id of the synthetic super-root (`n`).
    pub fn super_root(&self) -> NodeId {
        self.n as NodeId
    }

    /// Number of edges, dangling ones included.
    pub fn edge_count(&self) -> usize {
        self.fwd.len()
    }

    /// Edges whose target is not in the dump.
    pub fn dangling_edges(&self) -> u64 {
        self.dangling
    }

    /// The super-root's children, ascending.
    pub fn roots(&self) -> &[NodeId] {
        &self.roots
    }

    /// Per type index of the dump, the object that is the type object ([`NONE`] if the
    /// dump does not hold it). Empty for graphs not built from a dump.
    pub fn type_objects(&self) -> &[NodeId] {
        &self.type_objects
    }

    /// Edge index range of object `v` (into [`Graph::targets`] and the dump's labels).
    #[inline]
    pub fn edge_range(&self, v: NodeId) -> std::ops::Range<usize> {
        let v = v as usize;
        self.fwd_start[v] as usize..self.fwd_start[v + 1] as usize
    }

    /// The object whose edge `k` is (`k` must be below [`Graph::edge_count`]).
    pub fn edge_source(&self, k: usize) -> NodeId {
        // The last object whose edges start at or before k, among those with edges.
        let k = k as u64;
        (self.fwd_start.partition_point(|&s| s <= k) - 1) as NodeId
    }

    /// Every edge target, [`NONE`] where dangling.
    pub fn targets(&self) -> &[NodeId] {
        &self.fwd
    }

    /// The raw out-edge targets of `v`, [`NONE`] included; for the super-root, the roots.
    #[inline]
    pub fn out_raw(&self, v: NodeId) -> &[NodeId] {
        if v as usize == self.n {
            &self.roots
        } else {
            &self.fwd[self.edge_range(v)]
        }
    }

    /// The objects `v` refers to (dangling edges skipped, repeats kept).
    #[inline]
    pub fn successors(&self, v: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        self.out_raw(v).iter().copied().filter(|&t| t != NONE)
    }

    /// The objects that refer to `v`, ascending, one entry per edge. The first call
    /// builds the reverse adjacency for every object (12 bytes per object and per edge).
    pub fn predecessors(&self, v: NodeId) -> &[NodeId] {
        let (start, sources) = self.reverse_csr();
        let v = v as usize;
        &sources[start[v] as usize..start[v + 1] as usize]
    }

    /// The reverse adjacency, built on first use (in parallel pieces). Only one task
    /// at a time should be the first to ask: a thread building it may, while waiting for
    /// its pieces, run another task that asks too and then waits for the very build it
    /// interrupted (a deadlock, seen with 3+ threads). Analyses therefore take it as an
    /// argument ([`crate::analysis::Dominators::compute`]) from a caller that asked once.
    pub fn reverse(&self) -> &ReverseAdjacency {
        self.reverse.get_or_init(|| {
            reverse(
                self.n,
                &self.fwd_start,
                &self.fwd,
                self.in_degree.as_deref(),
            )
        })
    }

    /// The reverse adjacency as CSR: `sources[start[v]..start[v + 1]]` are the objects
    /// that refer to `v`, ascending. Built on first use ([`Graph::reverse`]).
    pub fn reverse_csr(&self) -> (&[u64], &[NodeId]) {
        self.reverse().csr()
    }

    /// Number of resolved edges into `v` (saturating at `u32::MAX`).
    #[inline]
    pub fn in_degree(&self, v: NodeId) -> u64 {
        match &self.in_degree {
            Some(d) => u64::from(d[v as usize]),
            None => {
                let start = self.reverse_csr().0;
                start[v as usize + 1] - start[v as usize]
            }
        }
    }

    /// True if `v` is a child of the super-root.
    pub fn is_root(&self, v: NodeId) -> bool {
        self.roots.binary_search(&v).is_ok()
    }
}

fn check_size(n: usize) -> Result<()> {
    if n > MAX_OBJECTS {
        return Err(Error::invalid(
            Where::Record {
                noun: "object",
                index: MAX_OBJECTS as u64,
                kind: kind::OBJECT_ADDRESS,
            },
            format!("{n} objects: heapsnap analyses at most {MAX_OBJECTS} objects per dump"),
        ));
    }
    Ok(())
}

/// Adds 1 to `c`, saturating (an object can have more than 2^32 referrers only in a
/// dump with more than 2^32 edges).
#[inline]
fn saturating_increment(c: &AtomicU32) {
    if c.fetch_add(1, Ordering::Relaxed) == u32::MAX {
        c.store(u32::MAX, Ordering::Relaxed);
    }
}

/// Why each object is a root (bits of [`root_reason`]; 0 for none), from the ROOTS
/// records, the refcount surplus and the immortal flag.
pub fn root_reasons(snap: &Snapshot, in_degree: &[u32]) -> Vec<u8> {
    let n = snap.object_count();
    let mut reasons: Vec<u8> = snap
        .refcounts()
        .par_iter()
        .zip(snap.flags().par_iter())
        .zip(in_degree.par_iter())
        .map(|((&rc, &flags), &found)| {
            if flags & REFCOUNT_UNKNOWN != 0 {
                root_reason::IMMORTAL
            } else if rc > found {
                root_reason::SURPLUS
            } else {
                0
            }
        })
        .collect();
    for r in snap.roots() {
        if let Some(x) = usize::try_from(r.object)
            .ok()
            .and_then(|i| reasons.get_mut(i))
        {
            *x |= root_reason::RECORD;
        }
    }
    debug_assert_eq!(reasons.len(), n);
    reasons
}

/// Reverse CSR: for each object, the sources of its in-edges, ascending (one per edge).
///
/// Deterministic for any thread count: the id range is split into parts, and each part
/// scans all edges in source order, keeping those whose target is in the part.
fn reverse(
    n: usize,
    fwd_start: &[u64],
    fwd: &[NodeId],
    in_degree: Option<&[u32]>,
) -> ReverseAdjacency {
    let mut start = Vec::with_capacity(n + 1);
    let mut total = 0u64;
    start.push(0);
    for &d in in_degree.unwrap_or_default() {
        total += u64::from(d);
        start.push(total);
    }
    // A saturated in-degree undercounts: recount exactly (only with > 2^32 edges, or
    // when the in-degrees are not known).
    if in_degree.is_none_or(|d| d.contains(&u32::MAX)) {
        let mut exact = vec![0u64; n + 1];
        for &t in fwd {
            if t != NONE {
                exact[t as usize + 1] += 1;
            }
        }
        for i in 0..n {
            exact[i + 1] += exact[i];
        }
        start = exact;
    }
    let parts = rayon::current_num_threads().clamp(1, 64);
    let bounds: Vec<usize> = (0..=parts).map(|p| n * p / parts).collect();
    let mut sources = memory::filled(start[n] as usize, NONE);
    {
        let mut rest: &mut [NodeId] = &mut sources;
        let mut slices = Vec::with_capacity(parts);
        for p in 0..parts {
            let len = (start[bounds[p + 1]] - start[bounds[p]]) as usize;
            let (head, tail) = rest.split_at_mut(len);
            slices.push((bounds[p], bounds[p + 1], head));
            rest = tail;
        }
        slices.into_par_iter().for_each(|(lo, hi, slice)| {
            let base = start[lo];
            let mut cursor: Vec<u64> = start[lo..hi].iter().map(|&s| s - base).collect();
            for v in 0..n {
                for &t in &fwd[fwd_start[v] as usize..fwd_start[v + 1] as usize] {
                    let t = t as usize;
                    if t >= lo && t < hi {
                        let c = &mut cursor[t - lo];
                        slice[*c as usize] = v as NodeId;
                        *c += 1;
                    }
                }
            }
        });
    }
    ReverseAdjacency {
        start: start.into(),
        sources: sources.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_lists_sources_in_order_for_any_thread_count() {
        let edges = [(0, 1), (0, 2), (2, 1), (1, 1), (3, NONE), (3, 0), (2, 1)];
        for threads in [1, 2, 3, 7] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let g = pool.install(|| Graph::from_edges(4, &edges, &[3, 0, 3]));
            assert_eq!(g.predecessors(0), &[3]);
            assert_eq!(g.predecessors(1), &[0, 1, 2, 2]);
            assert_eq!(g.predecessors(2), &[0]);
            assert_eq!(g.predecessors(3), &[] as &[u32]);
            assert_eq!(g.dangling_edges(), 1);
            assert_eq!(g.roots(), &[0, 3]);
            assert_eq!(g.successors(3).collect::<Vec<_>>(), vec![0]);
            assert_eq!(g.out_raw(g.super_root()), &[0, 3]);
        }
    }
}
