//! The type histogram: per type, how many objects, their shallow bytes, and the bytes
//! they retain without double counting (an instance inside the retained set of another
//! instance of the same type is not counted again), plus unreachable objects.

use rayon::prelude::*;

use super::dominators::Dominators;
use crate::graph::NodeId;

/// One type's row.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TypeStats {
    /// Type index.
    pub ty: u32,
    /// Objects of this type.
    pub count: u64,
    /// Their shallow bytes.
    pub shallow: u64,
    /// Bytes retained by the reachable objects of this type, each counted once.
    pub retained: u64,
    /// Objects of this type not reachable from any root.
    pub unreachable: u64,
    /// Their shallow bytes.
    pub unreachable_shallow: u64,
}

/// Counts per type. `types[v]` is the type index of object `v` (`< type_count`),
/// `size(v)` its shallow size.
pub fn histogram(
    types: &[u32],
    type_count: usize,
    size: &(impl Fn(NodeId) -> u64 + Sync),
    dom: &Dominators,
) -> Vec<TypeStats> {
    histogram_with(types, type_count, size, &|v| dom.is_reachable(v), Some(dom))
}

/// [`histogram`] with reachability from any search (`reachable(v)`), and retained
/// sizes only when `dom` is given (0 otherwise): counts and shallow sizes do not need
/// the dominator tree.
pub fn histogram_with(
    types: &[u32],
    type_count: usize,
    size: &(impl Fn(NodeId) -> u64 + Sync),
    reachable: &(impl Fn(NodeId) -> bool + Sync),
    dom: Option<&Dominators>,
) -> Vec<TypeStats> {
    const CHUNK: usize = 1 << 16;
    let mut rows: Vec<TypeStats> = types
        .par_chunks(CHUNK)
        .enumerate()
        .fold(
            || vec![TypeStats::default(); type_count],
            |mut acc, (c, chunk)| {
                for (k, &t) in chunk.iter().enumerate() {
                    let v = (c * CHUNK + k) as NodeId;
                    let Some(row) = acc.get_mut(t as usize) else {
                        continue;
                    };
                    let s = size(v);
                    row.count += 1;
                    row.shallow = row.shallow.saturating_add(s);
                    if !reachable(v) {
                        row.unreachable += 1;
                        row.unreachable_shallow = row.unreachable_shallow.saturating_add(s);
                    }
                }
                acc
            },
        )
        .reduce(
            || vec![TypeStats::default(); type_count],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(b) {
                    x.count += y.count;
                    x.shallow = x.shallow.saturating_add(y.shallow);
                    x.unreachable += y.unreachable;
                    x.unreachable_shallow =
                        x.unreachable_shallow.saturating_add(y.unreachable_shallow);
                }
                a
            },
        );
    for (t, row) in rows.iter_mut().enumerate() {
        row.ty = t as u32;
    }
    if let Some(dom) = dom {
        for (t, r) in retained_by_type(types, type_count, dom)
            .into_iter()
            .enumerate()
        {
            rows[t].retained = r;
        }
    }
    rows
}

/// Per type, the retained bytes of its topmost instances: an object counts only when no
/// dominator-tree ancestor has the same type. One pass in dominator-tree preorder: an
/// object has an ancestor of its type exactly when it lies inside the interval of the
/// last counted object of that type.
pub fn retained_by_type(types: &[u32], type_count: usize, dom: &Dominators) -> Vec<u64> {
    let mut out = vec![0u64; type_count];
    let mut covered_until = vec![0u64; type_count];
    for (pos, &v) in dom.tree_order().iter().enumerate() {
        let t = types[v as usize] as usize;
        if let Some(end) = covered_until.get_mut(t) {
            let pos = pos as u64;
            if pos >= *end {
                out[t] = out[t].saturating_add(dom.retained(v));
                *end = pos + u64::from(dom.tree_size_at(pos as usize));
            }
        }
    }
    out
}
