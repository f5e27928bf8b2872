//! Comparing dumps of one process: what grew between an older and a newer dump, and,
//! with three dumps, which objects born between the first two are still alive in the
//! third (the three-snapshot leak technique).
//!
//! Types are matched across dumps by display name (`module.qualname`, see
//! [`TypeNames`]): a type index means nothing outside its dump. Objects are matched by
//! address through the project's [`AddressTable`] (built over the older dump, probed in
//! parallel for every object of the newer one): linear in the objects, 16 bytes per slot
//! while it lives. What counts as "the same object" depends on the question:
//!
//! - a *retainer* is the same in both dumps when its address and type name are the same
//!   (a container that grew has a new shallow size but is still the same container);
//! - a *survivor* must also keep its shallow size: CPython reuses the address of a freed
//!   object for the next allocation of the same size class, so address and type alone
//!   would match a new object that happens to sit where an old one was.
//!
//! Definitions of the results:
//!
//! - **Growth by type**: per type name, objects and shallow bytes in each dump; the
//!   types whose count or bytes changed, by shallow growth, then count growth, then name.
//! - **New retainers**: reachable objects of NEW whose address and type name are not in
//!   OLD, and whose immediate dominator is not such an object (the top of each subtree of
//!   new objects: a new cache dict, not the new entries under it), by retained size in
//!   NEW.
//! - **Grown retainers**: objects of NEW that are also in OLD (address and type name)
//!   and retain more bytes in NEW than in OLD, except those with a dominator-tree child
//!   in NEW that grew by at least half as much (the module, its dict and the list inside
//!   it all grow by what the list gained: only the list is reported).
//! - **New cycles**: cycle groups of NEW (by the multiset of their members' type names)
//!   with more cycles than the group of the same types in OLD (absent: 0).
//! - **Survivors** (dumps A, B, C): objects of C equal (address, type name, shallow
//!   size) to an object of B that has no equal in A.
//!
//! Every result is sorted with a total order: the same for any thread count.

use std::collections::HashMap;

use rayon::prelude::*;
use roaring::RoaringBitmap;

use super::cycles::CycleGroup;
use super::Analysis;
use crate::address::AddressTable;
use crate::error::{Error, Result};
use crate::graph::{NodeId, MAX_OBJECTS, NONE};
use crate::names::{self, TypeNames};
use crate::snapshot::Snapshot;

/// The type names of several dumps as one table: key `k` is the `k`-th distinct display
/// name in byte order (so comparing keys compares names), and each dump's type indexes
/// map to keys.
#[derive(Clone, Debug)]
pub struct TypeTable {
    names: Vec<String>,
    keys: Vec<Vec<u32>>,
}

impl TypeTable {
    /// The table of `dumps`' type names.
    pub fn new(dumps: &[&TypeNames]) -> TypeTable {
        let mut names: Vec<String> = dumps.iter().flat_map(|n| n.all().iter().cloned()).collect();
        names.sort_unstable();
        names.dedup();
        let index: HashMap<&str, u32> = names
            .iter()
            .enumerate()
            .map(|(k, n)| (n.as_str(), k as u32))
            .collect();
        let keys = dumps
            .iter()
            .map(|n| n.all().iter().map(|s| index[s.as_str()]).collect())
            .collect();
        TypeTable { names, keys }
    }

    /// The display name of key `k`.
    pub fn name(&self, k: u32) -> &str {
        self.names.get(k as usize).map_or("?", String::as_str)
    }

    /// Number of distinct names.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True if no dump has a type.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Dump `d`'s type index to key map (`d` as given to [`TypeTable::new`]).
    pub fn keys(&self, d: usize) -> &[u32] {
        &self.keys[d]
    }
}

/// A dump seen through a [`TypeTable`].
#[derive(Clone, Copy)]
pub struct Side<'a> {
    /// The dump.
    pub snap: &'a Snapshot,
    /// Its type index to key map.
    pub keys: &'a [u32],
}

impl Side<'_> {
    /// The type key of object `v`.
    #[inline]
    pub fn key(&self, v: NodeId) -> u32 {
        self.keys
            .get(self.snap.types_of()[v as usize] as usize)
            .copied()
            .unwrap_or(NONE)
    }

    /// The shallow size of object `v`.
    #[inline]
    pub fn size(&self, v: NodeId) -> u64 {
        self.snap.shallow_size(v as usize)
    }
}

/// `new - old` as a signed number, saturating.
pub fn delta(old: u64, new: u64) -> i64 {
    let d = i128::from(new) - i128::from(old);
    d.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

// ---------------------------------------------------------------------------------------
// Matching objects
// ---------------------------------------------------------------------------------------

/// For each object of `new`, the object of `old` at the same address, or [`NONE`].
/// Fails if two objects of `old` share an address (the caller names the file).
pub fn same_address(old: &Snapshot, new: &Snapshot) -> Result<Vec<NodeId>> {
    if old.object_count() > MAX_OBJECTS {
        return Err(Error::input(format!(
            "{} objects: heapsnap compares at most {MAX_OBJECTS} objects per dump",
            old.object_count()
        )));
    }
    let table = match AddressTable::build(old.addresses()) {
        Ok(t) => t,
        Err(_) => {
            old.check_addresses()?;
            return Err(Error::input("two objects share an address"));
        }
    };
    Ok(new.addresses().par_iter().map(|&a| table.get(a)).collect())
}

/// Keeps the counterparts of `at` (from [`same_address`]) whose type name is the same,
/// and, with `same_size`, whose shallow size is too; the others become [`NONE`].
pub fn matching(old: Side<'_>, new: Side<'_>, at: &[NodeId], same_size: bool) -> Vec<NodeId> {
    at.par_iter()
        .enumerate()
        .map(|(v, &o)| {
            let v = v as NodeId;
            let same =
                o != NONE && old.key(o) == new.key(v) && (!same_size || old.size(o) == new.size(v));
            if same {
                o
            } else {
                NONE
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Growth by type
// ---------------------------------------------------------------------------------------

/// One type's objects and shallow bytes in the older and the newer dump.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TypeGrowth {
    /// Type key ([`TypeTable`]).
    pub key: u32,
    /// Objects in the older dump.
    pub old_count: u64,
    /// Objects in the newer dump.
    pub new_count: u64,
    /// Shallow bytes in the older dump.
    pub old_shallow: u64,
    /// Shallow bytes in the newer dump.
    pub new_shallow: u64,
}

impl TypeGrowth {
    /// `new_count - old_count`.
    pub fn count_delta(&self) -> i64 {
        delta(self.old_count, self.new_count)
    }

    /// `new_shallow - old_shallow`.
    pub fn shallow_delta(&self) -> i64 {
        delta(self.old_shallow, self.new_shallow)
    }
}

/// Objects and shallow bytes per type key (`key_count` keys).
fn per_type(side: Side<'_>, key_count: usize) -> Vec<(u64, u64)> {
    let mut out = vec![(0u64, 0u64); key_count];
    for v in 0..side.snap.object_count() as NodeId {
        if let Some(row) = out.get_mut(side.key(v) as usize) {
            row.0 += 1;
            row.1 = row.1.saturating_add(side.size(v));
        }
    }
    out
}

/// The types whose count or shallow bytes differ between `old` and `new`, by shallow
/// growth (descending), then count growth, then name.
pub fn type_growth(old: Side<'_>, new: Side<'_>, key_count: usize) -> Vec<TypeGrowth> {
    let (a, b) = rayon::join(|| per_type(old, key_count), || per_type(new, key_count));
    let mut rows: Vec<TypeGrowth> = a
        .into_iter()
        .zip(b)
        .enumerate()
        .filter(|(_, (x, y))| x != y)
        .map(|(k, (x, y))| TypeGrowth {
            key: k as u32,
            old_count: x.0,
            new_count: y.0,
            old_shallow: x.1,
            new_shallow: y.1,
        })
        .collect();
    rows.sort_by(|x, y| {
        y.shallow_delta()
            .cmp(&x.shallow_delta())
            .then(y.count_delta().cmp(&x.count_delta()))
            .then(x.key.cmp(&y.key))
    });
    rows
}

// ---------------------------------------------------------------------------------------
// Retainers
// ---------------------------------------------------------------------------------------

/// The new retainers of `new` (see the module documentation): `matched[v]` is the
/// counterpart of `v` in the older dump by address and type name, [`NONE`] if `v` is new.
/// By retained size (descending), then id.
pub fn new_retainers(new: &Analysis<'_>, matched: &[NodeId]) -> Vec<NodeId> {
    let dom = new.dom();
    let sr = new.graph.super_root();
    let mut out: Vec<NodeId> = (0..new.graph.len() as NodeId)
        .into_par_iter()
        .filter(|&v| {
            if matched[v as usize] != NONE || !dom.is_reachable(v) {
                return false;
            }
            let p = dom.idom(v);
            p == sr || matched[p as usize] != NONE
        })
        .collect();
    out.par_sort_unstable_by(|&x, &y| dom.retained(y).cmp(&dom.retained(x)).then(x.cmp(&y)));
    out
}

/// An object whose retained size grew.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grown {
    /// The object in the newer dump.
    pub new: NodeId,
    /// The same object in the older dump.
    pub old: NodeId,
    /// Its retained bytes in the older dump (0 if it was unreachable there).
    pub old_retained: u64,
    /// Its retained bytes in the newer dump.
    pub new_retained: u64,
}

impl Grown {
    /// Retained bytes gained.
    pub fn growth(&self) -> u64 {
        self.new_retained - self.old_retained
    }
}

/// The grown retainers (see the module documentation), by growth (descending), then id
/// in the newer dump. `matched` as for [`new_retainers`].
pub fn grown_retainers(old: &Analysis<'_>, new: &Analysis<'_>, matched: &[NodeId]) -> Vec<Grown> {
    let (od, nd) = (old.dom(), new.dom());
    let growth: Vec<u64> = matched
        .par_iter()
        .enumerate()
        .map(|(v, &o)| {
            if o == NONE {
                0
            } else {
                nd.retained(v as NodeId).saturating_sub(od.retained(o))
            }
        })
        .collect();
    let mut out: Vec<Grown> = (0..new.graph.len() as NodeId)
        .into_par_iter()
        .filter(|&v| {
            let g = growth[v as usize];
            g > 0
                && nd
                    .children(v)
                    .iter()
                    .all(|&c| growth[c as usize].saturating_mul(2) < g)
        })
        .map(|v| {
            let o = matched[v as usize];
            Grown {
                new: v,
                old: o,
                old_retained: od.retained(o),
                new_retained: nd.retained(v),
            }
        })
        .collect();
    out.par_sort_unstable_by(|x, y| y.growth().cmp(&x.growth()).then(x.new.cmp(&y.new)));
    out
}

// ---------------------------------------------------------------------------------------
// Cycles
// ---------------------------------------------------------------------------------------

/// A group's totals in one dump.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CycleTotals {
    /// Cycles (components).
    pub cycles: u64,
    /// Objects in them.
    pub objects: u64,
    /// Their shallow bytes.
    pub shallow: u64,
    /// Bytes they keep alive ([`CycleGroup::retained`]).
    pub retained: u64,
    /// Cycles reachable from the roots.
    pub reachable: u64,
    /// A member's type has a finalizer.
    pub finalizer: bool,
}

/// A cycle group of the newer dump with more cycles than in the older one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CycleGrowth {
    /// The type multiset: `(type key, members per cycle)`, by key.
    pub types: Vec<(u32, u32)>,
    /// The group in the older dump (zeros if absent).
    pub old: CycleTotals,
    /// The group in the newer dump.
    pub new: CycleTotals,
    /// Members of the group's biggest cycle in the newer dump, ascending by id.
    pub example: Vec<NodeId>,
    /// Retained bytes of that cycle.
    pub example_retained: u64,
}

/// One dump's cycle groups of one type-name multiset, merged.
#[derive(Default)]
struct Merged {
    totals: CycleTotals,
    example: Vec<NodeId>,
    example_retained: u64,
}

/// Cycle groups by type-name multiset (two types of one dump with the same name are one).
fn by_names(groups: &[CycleGroup], keys: &[u32]) -> HashMap<Vec<(u32, u32)>, Merged> {
    let mut out: HashMap<Vec<(u32, u32)>, Merged> = HashMap::new();
    for g in groups {
        let mut types: Vec<(u32, u32)> = g
            .types
            .iter()
            .map(|&(t, c)| (keys.get(t as usize).copied().unwrap_or(NONE), c))
            .collect();
        types.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(types.len());
        for (k, c) in types {
            match merged.last_mut() {
                Some((lk, lc)) if *lk == k => *lc = lc.saturating_add(c),
                _ => merged.push((k, c)),
            }
        }
        let e = out.entry(merged).or_default();
        let t = &mut e.totals;
        t.cycles += g.cycles;
        t.objects += g.objects;
        t.shallow = t.shallow.saturating_add(g.shallow);
        t.retained = t.retained.saturating_add(g.retained);
        t.reachable += g.reachable;
        t.finalizer |= g.finalizer;
        // Ties: the lowest first member, so that the pick does not depend on the order
        // of `groups` among groups that merge.
        let better = e.example.is_empty()
            || g.example_retained > e.example_retained
            || (g.example_retained == e.example_retained && g.example.first() < e.example.first());
        if better {
            e.example = g.example.clone();
            e.example_retained = g.example_retained;
        }
    }
    out
}

/// The cycle groups of `new_groups` (type indexes mapped by `new_keys`) with more cycles
/// than the group of the same type names in `old_groups`; by retained growth
/// (descending), then cycle growth, then type multiset.
pub fn cycle_growth(
    old_groups: &[CycleGroup],
    old_keys: &[u32],
    new_groups: &[CycleGroup],
    new_keys: &[u32],
) -> Vec<CycleGrowth> {
    let old = by_names(old_groups, old_keys);
    let mut out: Vec<CycleGrowth> = by_names(new_groups, new_keys)
        .into_iter()
        .filter_map(|(types, m)| {
            let old = old.get(&types).map(|e| e.totals).unwrap_or_default();
            (m.totals.cycles > old.cycles).then_some(CycleGrowth {
                types,
                old,
                new: m.totals,
                example: m.example,
                example_retained: m.example_retained,
            })
        })
        .collect();
    out.sort_by(|x, y| {
        delta(y.old.retained, y.new.retained)
            .cmp(&delta(x.old.retained, x.new.retained))
            .then(delta(y.old.cycles, y.new.cycles).cmp(&delta(x.old.cycles, x.new.cycles)))
            .then_with(|| x.types.cmp(&y.types))
    });
    out
}

// ---------------------------------------------------------------------------------------
// Survivors (three dumps)
// ---------------------------------------------------------------------------------------

/// The objects born between dumps A and B that are still alive in C.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Survivors {
    /// Objects of B with no equal in A (address, type name, shallow size).
    pub born: u64,
    /// Their shallow bytes.
    pub born_shallow: u64,
    /// The objects of C equal to one of those, ascending by id in C.
    pub objects: Vec<NodeId>,
}

/// Finds the survivors of `c` (see [`Survivors`]). Fails if A or B has two objects at
/// one address: `Err((dump, error))` with `dump` 0 for A, 1 for B.
pub fn survivors(
    a: Side<'_>,
    b: Side<'_>,
    c: Side<'_>,
) -> std::result::Result<Survivors, (usize, Error)> {
    // B against C first: it also checks that B's ids fit in the bitmap below.
    let c_in_b = same_address(b.snap, c.snap).map_err(|e| (1, e))?;
    let c_in_b = matching(b, c, &c_in_b, true);
    let b_in_a = same_address(a.snap, b.snap).map_err(|e| (0, e))?;
    let b_in_a = matching(a, b, &b_in_a, true);
    let mut born = RoaringBitmap::new();
    born.extend(
        b_in_a
            .iter()
            .enumerate()
            .filter(|(_, &o)| o == NONE)
            .map(|(v, _)| v as u32),
    );
    drop(b_in_a);
    let born_shallow = born.iter().fold(0u64, |s, v| s.saturating_add(b.size(v)));
    let objects = c_in_b
        .iter()
        .enumerate()
        .filter(|(_, &o)| o != NONE && born.contains(o))
        .map(|(v, _)| v as NodeId)
        .collect();
    Ok(Survivors {
        born: born.len(),
        born_shallow,
        objects,
    })
}

/// Survivors of one type in C.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SurvivorType {
    /// Type key.
    pub key: u32,
    /// Their shallow bytes.
    pub shallow: u64,
    /// How many no root reaches in C (garbage awaiting collection).
    pub unreachable: u64,
    /// The survivors, ascending by id in C.
    pub objects: Vec<NodeId>,
}

/// Groups `objects` of `c` by type, by shallow bytes (descending), then count, then
/// name. `reachable(v)` says whether `v` is reachable in C.
pub fn survivors_by_type(
    c: Side<'_>,
    objects: &[NodeId],
    reachable: impl Fn(NodeId) -> bool,
) -> Vec<SurvivorType> {
    let mut groups: HashMap<u32, SurvivorType> = HashMap::new();
    for &v in objects {
        let key = c.key(v);
        let g = groups.entry(key).or_insert_with(|| SurvivorType {
            key,
            shallow: 0,
            unreachable: 0,
            objects: Vec::new(),
        });
        g.shallow = g.shallow.saturating_add(c.size(v));
        g.unreachable += u64::from(!reachable(v));
        g.objects.push(v);
    }
    let mut out: Vec<SurvivorType> = groups.into_values().collect();
    out.sort_by(|x, y| {
        y.shallow
            .cmp(&x.shallow)
            .then(y.objects.len().cmp(&x.objects.len()))
            .then(x.key.cmp(&y.key))
    });
    out
}

/// Objects whose shortest paths have the same shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathShape {
    /// Why the path's first object is a root.
    pub root: String,
    /// The path with list positions and dict keys merged (`[*]`), as `heapsnap path
    /// TYPE` prints it: `module '__main__' -> dict['cache'] -> list[*] -> app.Session`.
    pub chain: String,
    /// Objects with this shape.
    pub objects: u64,
    /// The first of them (lowest id).
    pub example: NodeId,
}

/// The shortest-path shapes of `objects` (ascending ids) in `a` (which must have
/// paths), most objects first, then by root and chain. Unreachable objects are left
/// out. Strings are raw dump text.
pub fn path_shapes(a: &Analysis<'_>, objects: &[NodeId]) -> Vec<PathShape> {
    let paths = a.paths();
    let mut roots: HashMap<NodeId, String> = HashMap::new();
    let mut shapes: HashMap<(String, String), (u64, NodeId)> = HashMap::new();
    for &v in objects {
        let Some(p) = paths.steps_to(&a.graph, v) else {
            continue;
        };
        let root = roots
            .entry(p[0].0)
            .or_insert_with(|| {
                names::root_description(a.snap, &a.graph, p[0].0)
                    .unwrap_or_else(|| "root".to_owned())
            })
            .clone();
        let e = shapes
            .entry((
                root,
                names::path_chain(a.snap, &a.graph, &a.names, &p, true),
            ))
            .or_insert((0, v));
        e.0 += 1;
    }
    let mut out: Vec<PathShape> = shapes
        .into_iter()
        .map(|((root, chain), (objects, example))| PathShape {
            root,
            chain,
            objects,
            example,
        })
        .collect();
    out.sort_by(|x, y| {
        y.objects
            .cmp(&x.objects)
            .then_with(|| (&x.root, &x.chain).cmp(&(&y.root, &y.chain)))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_saturate() {
        assert_eq!(delta(5, 3), -2);
        assert_eq!(delta(3, 5), 2);
        assert_eq!(delta(0, u64::MAX), i64::MAX);
        assert_eq!(delta(u64::MAX, 0), i64::MIN);
    }
}
