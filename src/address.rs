//! Address resolution, the one place that maps an object's address to its index: an
//! open-addressing hash table from object address to dense object id, built in parallel
//! and probed in parallel ([`AddressTable`]); a sorted fallback for files where two
//! objects share an address or that hold 2^32 - 1 objects or more ([`Sorted`]); the two
//! behind one [`Resolver`]; and [`position`] for a single lookup. A leaf module: it
//! names nothing else of the crate but [`crate::memory`].
//!
//! Measured alternatives (`../shared/notes/algorithms.md`): a binary search over sorted
//! addresses is 3-5x slower per lookup; a bucket table on `(address - min) >> shift` is
//! fast only when addresses are dense, and a Python heap spreads over a few far-apart
//! regions (brk heap, mmap arenas). The multiplier of the hash is random and odd
//! (multiply-shift hashing is universal for a random odd multiplier), so a dump crafted to
//! collide cannot make the build quadratic. Lookups give the same answer for any
//! multiplier, so results stay deterministic.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use rayon::prelude::*;

/// A dense object id, as the graph numbers objects (`crate::graph::NodeId`).
pub type NodeId = u32;

/// "No object": the answer of [`AddressTable::get`] for an unknown address
/// (`crate::graph::NONE`).
pub const NONE: NodeId = u32::MAX;

/// Empty-slot marker in the key array. Address 0 itself is kept beside the table.
const EMPTY: u64 = 0;

/// Objects per parallel work item.
const CHUNK: usize = 1 << 16;

/// One slot: an address and its object id side by side, so that a lookup touches one
/// cache line, not two.
struct Slot {
    key: AtomicU64,
    id: AtomicU32,
}

/// Maps addresses to object ids. Lives only while edges are being resolved
/// (16 bytes per slot, 1.4 to 2.9 slots per object).
pub struct AddressTable {
    slots: Vec<Slot>,
    shift: u32,
    multiplier: u64,
    zero: NodeId,
}

/// Two objects share an address (SPEC 7 step 14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DuplicateAddress;

impl AddressTable {
    /// Builds the table for `addresses` (object `i` has address `addresses[i]`).
    /// Fails if an address repeats; which pair is not reported here (it depends on
    /// thread timing): callers find the first pair deterministically.
    pub fn build(addresses: &[u64]) -> Result<AddressTable, DuplicateAddress> {
        debug_assert!(addresses.len() < NONE as usize);
        // Load factor between 0.35 and 0.7.
        let slots = (addresses.len().saturating_mul(10) / 7)
            .max(16)
            .next_power_of_two();
        let shift = 64 - slots.trailing_zeros();
        let multiplier = RandomState::new().hash_one(0x5eed_u64) | 1;
        let table: Vec<Slot> = crate::memory::from_fn(slots, |_| Slot {
            key: AtomicU64::new(EMPTY),
            id: AtomicU32::new(NONE),
        });
        let zero = AtomicU32::new(NONE);
        let mask = slots - 1;
        let duplicate = addresses
            .par_chunks(CHUNK)
            .enumerate()
            .map(|(c, chunk)| {
                for (k, &a) in chunk.iter().enumerate() {
                    let id = (c * CHUNK + k) as NodeId;
                    if a == EMPTY {
                        if zero.swap(id, Ordering::Relaxed) != NONE {
                            return true;
                        }
                        continue;
                    }
                    let mut s = slot(a, multiplier, shift);
                    loop {
                        match table[s].key.compare_exchange(
                            EMPTY,
                            a,
                            Ordering::AcqRel,
                            Ordering::Acquire,
                        ) {
                            Ok(_) => {
                                table[s].id.store(id, Ordering::Relaxed);
                                break;
                            }
                            Err(existing) if existing == a => return true,
                            Err(_) => s = (s + 1) & mask,
                        }
                    }
                }
                false
            })
            .reduce(|| false, |a, b| a || b);
        if duplicate {
            return Err(DuplicateAddress);
        }
        // The build's threads have joined: every store is visible to relaxed loads.
        Ok(AddressTable {
            slots: table,
            shift,
            multiplier,
            zero: zero.into_inner(),
        })
    }

    /// The id of the object at `address`, or [`NONE`].
    #[inline]
    pub fn get(&self, address: u64) -> NodeId {
        if address == EMPTY {
            return self.zero;
        }
        let mask = self.slots.len() - 1;
        let mut s = slot(address, self.multiplier, self.shift);
        loop {
            let k = self.slots[s].key.load(Ordering::Relaxed);
            if k == address {
                return self.slots[s].id.load(Ordering::Relaxed);
            }
            if k == EMPTY {
                return NONE;
            }
            s = (s + 1) & mask;
        }
    }
}

/// The fallback for any file: `(address, object index)` pairs sorted, probed by binary
/// search (16 bytes per object, 3-5x slower per lookup than [`AddressTable`]). Where
/// two objects share an address, a lookup finds one of them, the same one every time.
/// Object indexes are `u64`: a file may hold more than 2^32 objects.
pub struct Sorted(Vec<(u64, u64)>);

impl Sorted {
    /// Sorts `addresses` (object `i` has address `addresses[i]`).
    pub fn new(addresses: &[u64]) -> Sorted {
        let mut v: Vec<(u64, u64)> = addresses.iter().zip(0u64..).map(|(&a, i)| (a, i)).collect();
        v.par_sort_unstable();
        Sorted(v)
    }

    /// The index of an object at `address`.
    #[inline]
    pub fn get(&self, address: u64) -> Option<u64> {
        self.0
            .binary_search_by_key(&address, |p| p.0)
            .ok()
            .map(|k| self.0[k].1)
    }

    /// The pairs, ascending.
    pub fn pairs(&self) -> &[(u64, u64)] {
        &self.0
    }
}

/// Address -> object index for any file: the hash table when it can hold the file (no
/// address repeats, fewer than [`NONE`] objects), else [`Sorted`]. Both give the same
/// answer wherever an address is unique.
pub enum Resolver {
    /// The fast table.
    Table(AddressTable),
    /// The fallback.
    Sorted(Sorted),
}

impl Resolver {
    /// Builds the resolver for `addresses` (object `i` has address `addresses[i]`).
    pub fn new(addresses: &[u64]) -> Resolver {
        if addresses.len() < NONE as usize {
            if let Ok(t) = AddressTable::build(addresses) {
                return Resolver::Table(t);
            }
        }
        Resolver::Sorted(Sorted::new(addresses))
    }

    /// The index of an object at `address`.
    #[inline]
    pub fn get(&self, address: u64) -> Option<u64> {
        match self {
            Resolver::Table(t) => match t.get(address) {
                NONE => None,
                id => Some(u64::from(id)),
            },
            Resolver::Sorted(s) => s.get(address),
        }
    }
}

/// The index of the first object at `address`, by a linear scan: for one lookup, where
/// building a table would cost as much.
pub fn position(addresses: &[u64], address: u64) -> Option<u64> {
    addresses
        .iter()
        .position(|&a| a == address)
        .map(|i| i as u64)
}

#[inline]
fn slot(address: u64, multiplier: u64, shift: u32) -> usize {
    (address.wrapping_mul(multiplier) >> shift) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_address_and_only_those() {
        let addrs: Vec<u64> = (0..100_000u64)
            .map(|i| i * 48 + (i % 7) * 0x10_0000_0000)
            .collect();
        let t = AddressTable::build(&addrs).unwrap();
        for (i, &a) in addrs.iter().enumerate() {
            assert_eq!(t.get(a), i as NodeId);
        }
        assert_eq!(t.get(1), NONE);
        assert_eq!(t.get(u64::MAX), NONE);
    }

    #[test]
    fn address_zero_and_duplicates() {
        let t = AddressTable::build(&[5, 0, 9]).unwrap();
        assert_eq!((t.get(0), t.get(5), t.get(9), t.get(7)), (1, 0, 2, NONE));
        assert!(AddressTable::build(&[5, 0, 5]).is_err());
        assert!(AddressTable::build(&[0, 3, 0]).is_err());
        assert_eq!(AddressTable::build(&[]).unwrap().get(0), NONE);
    }

    #[test]
    fn resolver_falls_back_on_duplicates_and_agrees_elsewhere() {
        let unique = [7u64, 0, 3, 1 << 40];
        let dup = [7u64, 0, 7, 1 << 40];
        assert!(matches!(Resolver::new(&unique), Resolver::Table(_)));
        assert!(matches!(Resolver::new(&dup), Resolver::Sorted(_)));
        for addrs in [&unique, &dup] {
            let (r, s) = (Resolver::new(addrs), Sorted::new(addrs));
            for probe in [7u64, 0, 3, 1 << 40, 5, u64::MAX] {
                let got = r.get(probe);
                assert_eq!(got, s.get(probe));
                assert_eq!(got.is_some(), addrs.contains(&probe));
                if let Some(i) = got {
                    assert_eq!(addrs[i as usize], probe);
                }
            }
        }
        assert_eq!(position(&dup, 7), Some(0));
        assert_eq!(position(&dup, 1 << 40), Some(3));
        assert_eq!(position(&dup, 5), None);
        let s = Sorted::new(&dup);
        assert_eq!(s.pairs(), &[(0, 1), (7, 0), (7, 2), (1 << 40, 3)]);
    }
}
