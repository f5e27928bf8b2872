//! The index file (`.hsidx`): its layout, its authentication, and reading and writing it.
//! A private cache, not part of the interchange format (format/SPEC.md), so its layout is
//! defined here.
//!
//! Layout (all little-endian): a [`Header`] (112 bytes), `array_count` [`Entry`]s of 32
//! bytes, then each array at a 64-byte-aligned offset; the file ends where its last array
//! ends. The header holds the dump's identity and counts, and an HMAC-SHA-256 (under the
//! user's key) of the header and the entries; each entry holds its array's CRC-32.
//!
//! Reading takes untrusted bytes, like the dump reader: every length and offset goes
//! through the checked helpers of [`crate::format::read`], and every failure is an
//! [`Error`] saying where in the index it is ([`Where::Index`]). Rows of more than one
//! value are `#[repr(C)]` plain-old-data structs viewed in place.

use std::fs::File;
use std::mem::{offset_of, size_of};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytemuck::{Pod, Zeroable};
use hmac::{KeyInit, Mac};
use memmap2::Mmap;
use rayon::prelude::*;
use sha2::Sha256;

use crate::analysis::{Components, CycleGroup, Dominators, Paths, Stored, TypeStats};
use crate::cache::create_private;
use crate::column::{Column, Mapped};
use crate::error::{Error, Result, Where};
use crate::format::read::{cast, crc32, len_u64, mul, range, read_pod, to_usize};
use crate::graph::Graph;
use crate::snapshot::Snapshot;

/// The 8-byte magic of an index file.
pub const INDEX_MAGIC: [u8; 8] = *b"HSNPIDX\n";
/// The index layout version.
pub const INDEX_VERSION: u32 = 1;
/// Changes whenever an analysis changes what it computes: older indexes are recomputed.
pub const ANALYSIS_VERSION: u32 = 3;
/// At most this many arrays (a sanity bound on the table's length).
const MAX_ARRAYS: u32 = 64;
/// Arrays start at multiples of this.
const ARRAY_ALIGN: u64 = 64;

type HmacSha256 = hmac::Hmac<Sha256>;

/// The header of an index file.
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
#[repr(C)]
pub(super) struct Header {
    magic: [u8; 8],
    version: u32,
    analysis: u32,
    /// Identity of the dump (see [`super::identity`]).
    dump: [u8; 32],
    objects: u64,
    edges: u64,
    /// Edges whose target is not in the dump.
    dangling: u64,
    array_count: u32,
    reserved: u32,
    /// HMAC-SHA-256 of the header (this field zero) and the entries.
    mac: [u8; 32],
}

/// One array of the index.
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
#[repr(C)]
struct Entry {
    kind: u32,
    /// Bytes per value.
    width: u32,
    offset: u64,
    /// Number of values.
    len: u64,
    crc: u32,
    reserved: u32,
}

/// One row of [`array::TYPE_STATS`] (stored as 5 `u64` values per type).
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
#[repr(C)]
struct TypeStatsRow {
    count: u64,
    shallow: u64,
    retained: u64,
    unreachable: u64,
    unreachable_shallow: u64,
}

/// One row of [`array::CYCLE_GROUPS`] (stored as 9 `u64` values per group).
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
#[repr(C)]
struct CycleGroupRow {
    cycles: u64,
    objects: u64,
    shallow: u64,
    retained: u64,
    /// 0 or 1.
    finalizer: u64,
    reachable: u64,
    example_retained: u64,
    /// End of the group's run of [`TypeCount`]s in [`array::CYCLE_TYPES`].
    types_end: u64,
    /// End of the group's example in [`array::CYCLE_EXAMPLES`].
    example_end: u64,
}

/// One pair of [`array::CYCLE_TYPES`] (stored as 2 `u32` values).
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
#[repr(C)]
struct TypeCount {
    ty: u32,
    per_cycle: u32,
}

const HEADER_BYTES: usize = size_of::<Header>();
const ENTRY_BYTES: usize = size_of::<Entry>();

// The layout the tests (`tests/all/index.rs`) and older files expect.
const _: () = {
    assert!(HEADER_BYTES == 112);
    assert!(offset_of!(Header, version) == 8);
    assert!(offset_of!(Header, analysis) == 12);
    assert!(offset_of!(Header, dump) == 16);
    assert!(offset_of!(Header, objects) == 48);
    assert!(offset_of!(Header, edges) == 56);
    assert!(offset_of!(Header, dangling) == 64);
    assert!(offset_of!(Header, array_count) == 72);
    assert!(offset_of!(Header, mac) == 80);
    assert!(ENTRY_BYTES == 32);
    assert!(offset_of!(Entry, width) == 4);
    assert!(offset_of!(Entry, offset) == 8);
    assert!(offset_of!(Entry, len) == 16);
    assert!(offset_of!(Entry, crc) == 24);
    assert!(size_of::<TypeStatsRow>() == 5 * size_of::<u64>());
    assert!(size_of::<CycleGroupRow>() == 9 * size_of::<u64>());
    assert!(size_of::<TypeCount>() == 2 * size_of::<u32>());
};

/// Array kinds.
mod array {
    pub const FWD: u32 = 1;
    pub const ROOTS: u32 = 3;
    pub const TYPE_OBJECTS: u32 = 4;
    pub const REV_START: u32 = 5;
    pub const REV_SOURCES: u32 = 6;
    pub const IDOM: u32 = 10;
    pub const RETAINED: u32 = 11;
    pub const TREE_PRE: u32 = 12;
    pub const TREE_SIZE: u32 = 13;
    pub const TREE_ORDER: u32 = 14;
    pub const COMPONENT: u32 = 20;
    pub const COMPONENT_SIZE: u32 = 21;
    pub const COMPONENT_CYCLIC: u32 = 22;
    pub const DEPTH: u32 = 30;
    pub const VIA: u32 = 31;
    /// The type histogram with retained sizes: a `TypeStatsRow` per type.
    pub const TYPE_STATS: u32 = 41;
    /// The cycle groups (housekeeping edges left out): a `CycleGroupRow` per group.
    pub const CYCLE_GROUPS: u32 = 50;
    /// Each group's type multiset: `TypeCount`s, ascending by type.
    pub const CYCLE_TYPES: u32 = 51;
    /// Each group's example cycle: its members, ascending.
    pub const CYCLE_EXAMPLES: u32 = 52;
}

/// Where in an index: its header and table (`array` 0) at `offset`.
fn at_header(offset: usize) -> Where {
    Where::Index {
        array: 0,
        offset: len_u64(offset),
    }
}

/// The HMAC of `header` (its `mac` field taken as zero) and `entries`, to finalize or
/// verify (in constant time).
fn mac(key: &[u8], header: &Header, entries: &[Entry]) -> HmacSha256 {
    let mut h = *header;
    h.mac = [0; 32];
    let mut m = <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(bytemuck::bytes_of(&h));
    m.update(bytemuck::cast_slice(entries));
    m
}

/// The mapped index and its authenticated table.
struct Opened {
    map: Arc<Mmap>,
    header: Header,
    entries: Vec<Entry>,
}

impl Opened {
    /// Where the array of `kind` starts (the table's start if there is none).
    fn at(&self, kind: u32) -> Where {
        let offset = self
            .entries
            .iter()
            .find(|e| e.kind == kind)
            .map_or(len_u64(HEADER_BYTES), |e| e.offset);
        Where::Index {
            array: kind,
            offset,
        }
    }

    /// The array of `kind` as `T`s, checked for its width and range.
    fn col<T: Pod>(&self, kind: u32) -> Result<Column<T>> {
        let e = self
            .entries
            .iter()
            .find(|e| e.kind == kind)
            .ok_or_else(|| Error::invalid(at_header(0), format!("array {kind} is missing")))?;
        let at = Where::Index {
            array: kind,
            offset: e.offset,
        };
        if e.width as usize != size_of::<T>() {
            return Err(Error::invalid(
                at,
                format!(
                    "values are {} bytes wide, expected {}",
                    e.width,
                    size_of::<T>()
                ),
            ));
        }
        let (offset, len) = (
            to_usize(e.offset, at, "offset")?,
            to_usize(e.len, at, "length")?,
        );
        Mapped::new(self.map.clone(), offset, len)
            .map(Column::Mapped)
            .ok_or_else(|| Error::invalid(at, "array is outside the file or misaligned"))
    }

    /// The array of `kind` as rows `R` of `T`s (`R` a `#[repr(C)]` struct of `T`s).
    fn rows<T: Pod, R: Pod>(&self, kind: u32) -> Result<Vec<R>> {
        let values: Column<T> = self.col(kind)?;
        Ok(cast::<R>(bytemuck::cast_slice(&values), self.at(kind))?.to_vec())
    }
}

/// Opens `file`, checks it is the authentic index of `snap` (`id` its identity, `key`
/// the user's key) and every array's CRC, and returns the mapping and table.
fn open_checked(snap: &Snapshot, id: &[u8; 32], key: &[u8], file: &Path) -> Result<Opened> {
    let f = File::open(file).map_err(|e| Error::io("cannot open", e))?;
    let meta = f.metadata().map_err(|e| Error::io("cannot read", e))?;
    if !meta.is_file() {
        return Err(Error::invalid(Where::File, "not a regular file"));
    }
    // SAFETY: as for dumps (`Snapshot::open`): mapped read-only, validated before use;
    // an index is written once under a temporary name and renamed, never modified.
    let map = Arc::new(unsafe { Mmap::map(&f) }.map_err(|e| Error::io("cannot map", e))?);
    let header: Header = read_pod(&map, at_header(0))?;
    check_header(&header, snap, id)?;
    let table_len = mul(
        u64::from(header.array_count),
        len_u64(ENTRY_BYTES),
        at_header(offset_of!(Header, array_count)),
        "table length",
    )?;
    let table = range(
        &map,
        len_u64(HEADER_BYTES),
        table_len,
        at_header(HEADER_BYTES),
    )?;
    let entries: Vec<Entry> = table
        .chunks_exact(ENTRY_BYTES)
        .map(bytemuck::pod_read_unaligned)
        .collect();
    mac(key, &header, &entries)
        .verify_slice(&header.mac)
        .map_err(|_| {
            Error::invalid(
                at_header(offset_of!(Header, mac)),
                "the MAC does not verify (written under another key, or changed since)",
            )
        })?;
    // Every array's checksum, in parallel; the first bad one (in table order) is named.
    let bad = entries
        .par_iter()
        .map(|e| check_crc(&map, e).err())
        .collect::<Vec<_>>()
        .into_iter()
        .flatten()
        .next();
    if let Some(e) = bad {
        return Err(e);
    }
    Ok(Opened {
        map,
        header,
        entries,
    })
}

/// The header's magic, versions, dump identity and counts.
fn check_header(h: &Header, snap: &Snapshot, id: &[u8; 32]) -> Result<()> {
    let fail = |field: usize, msg: String| Err(Error::invalid(at_header(field), msg));
    if h.magic != INDEX_MAGIC {
        return fail(0, "bad magic: not an index".into());
    }
    if h.version != INDEX_VERSION {
        let v = h.version;
        return fail(
            offset_of!(Header, version),
            format!("layout version {v}, this reader knows {INDEX_VERSION}"),
        );
    }
    if h.analysis != ANALYSIS_VERSION {
        let v = h.analysis;
        return fail(
            offset_of!(Header, analysis),
            format!("analysis version {v}, this reader computes {ANALYSIS_VERSION}"),
        );
    }
    if &h.dump != id {
        return fail(offset_of!(Header, dump), "the index of another dump".into());
    }
    let (n, e) = (len_u64(snap.object_count()), len_u64(snap.edge_count()));
    if h.objects != n || h.edges != e {
        return fail(
            offset_of!(Header, objects),
            format!(
                "{} objects and {} edges, the dump has {n} and {e}",
                h.objects, h.edges
            ),
        );
    }
    if h.array_count > MAX_ARRAYS {
        return fail(
            offset_of!(Header, array_count),
            format!("{} arrays, more than {MAX_ARRAYS}", h.array_count),
        );
    }
    Ok(())
}

/// The CRC-32 of entry `e`'s array.
fn check_crc(map: &[u8], e: &Entry) -> Result<()> {
    let at = Where::Index {
        array: e.kind,
        offset: e.offset,
    };
    let len = mul(e.len, u64::from(e.width), at, "array length")?;
    let crc = crc32(range(map, e.offset, len, at)?);
    if crc != e.crc {
        return Err(Error::invalid(
            at,
            format!("CRC mismatch: stored {:#010x}, computed {crc:#010x}", e.crc),
        ));
    }
    Ok(())
}

/// An error for arrays (the first at `at`) that an analysis found not to fit together
/// or the dump.
fn misfit(at: Where, what: &str) -> Error {
    Error::invalid(
        at,
        format!("the {what} arrays do not fit the dump or each other"),
    )
}

/// Reads the index `file` of `snap` (`id` its identity), authenticated under `key`: the
/// arrays are checked to fit the dump and each other before any is used.
pub(super) fn read(snap: &Snapshot, id: &[u8; 32], key: &[u8], file: &Path) -> Result<Stored> {
    let ix = open_checked(snap, id, key, file)?;
    let n = snap.object_count();
    let graph = Graph::from_columns(
        snap,
        ix.col(array::FWD)?,
        ix.col(array::ROOTS)?,
        ix.col(array::TYPE_OBJECTS)?,
        ix.header.dangling,
        ix.col(array::REV_START)?,
        ix.col(array::REV_SOURCES)?,
    )
    .ok_or_else(|| misfit(ix.at(array::FWD), "graph"))?;
    let dom = Dominators::from_columns(
        n,
        ix.col(array::IDOM)?,
        ix.col(array::RETAINED)?,
        ix.col(array::TREE_PRE)?,
        ix.col(array::TREE_SIZE)?,
        ix.col(array::TREE_ORDER)?,
    )
    .ok_or_else(|| misfit(ix.at(array::IDOM), "dominator"))?;
    let components = Components::from_columns(
        n,
        ix.col(array::COMPONENT)?,
        ix.col(array::COMPONENT_SIZE)?,
        ix.col(array::COMPONENT_CYCLIC)?,
    )
    .ok_or_else(|| misfit(ix.at(array::COMPONENT), "component"))?;
    let paths = Paths::from_columns(
        n,
        snap.edge_count(),
        ix.col(array::DEPTH)?,
        ix.col(array::VIA)?,
    )
    .ok_or_else(|| misfit(ix.at(array::DEPTH), "shortest-path"))?;
    let type_stats = type_stats_from(
        &ix.rows::<u64, TypeStatsRow>(array::TYPE_STATS)?,
        snap,
        ix.at(array::TYPE_STATS),
    )?;
    let cycle_groups = cycle_groups_from(
        &ix.rows::<u64, CycleGroupRow>(array::CYCLE_GROUPS)?,
        &ix.rows::<u32, TypeCount>(array::CYCLE_TYPES)?,
        &ix.col::<u32>(array::CYCLE_EXAMPLES)?,
        snap.type_count(),
        n,
        ix.at(array::CYCLE_GROUPS),
    )?;
    // Checking read every page; a query needs few of them again. Drop them from this
    // process's resident set (they stay in the page cache and fault back on use).
    // SAFETY: as in `Snapshot::release`: a read-only shared file mapping, written once
    // and renamed into place, so the pages read back are the bytes just checked.
    let _ = unsafe { ix.map.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
    Ok(Stored {
        graph,
        dom,
        components,
        paths,
        type_stats,
        cycle_groups,
    })
}

/// The type histogram from its rows: one per type of the dump.
fn type_stats_from(rows: &[TypeStatsRow], snap: &Snapshot, at: Where) -> Result<Vec<TypeStats>> {
    if rows.len() != snap.type_count() {
        return Err(Error::invalid(
            at,
            format!(
                "{} rows, the dump has {} types",
                rows.len(),
                snap.type_count()
            ),
        ));
    }
    Ok(rows
        .iter()
        .zip(0u32..)
        .map(|(r, ty)| TypeStats {
            ty,
            count: r.count,
            shallow: r.shallow,
            retained: r.retained,
            unreachable: r.unreachable,
            unreachable_shallow: r.unreachable_shallow,
        })
        .collect())
}

/// The cycle groups from their three arrays, checked to fit together: runs within the
/// arrays, types below `type_count`, members below `n`. `groups_at` is where the groups'
/// array starts.
fn cycle_groups_from(
    groups: &[CycleGroupRow],
    types: &[TypeCount],
    examples: &[u32],
    type_count: usize,
    n: usize,
    groups_at: Where,
) -> Result<Vec<CycleGroup>> {
    let base = match groups_at {
        Where::Index { offset, .. } => offset,
        _ => 0,
    };
    let (mut types_at, mut example_at) = (0usize, 0usize);
    let mut out = Vec::with_capacity(groups.len());
    for (i, r) in groups.iter().enumerate() {
        let at = Where::Index {
            array: array::CYCLE_GROUPS,
            offset: base.saturating_add(len_u64(i * size_of::<CycleGroupRow>())),
        };
        let bad = |what: &str| Error::invalid(at, format!("group {i}: {what}"));
        let types_end = to_usize(r.types_end, at, "end of the types")?;
        let example_end = to_usize(r.example_end, at, "end of the example")?;
        let pairs = types
            .get(types_at..types_end)
            .ok_or_else(|| bad("its types run outside their array"))?;
        let example = examples
            .get(example_at..example_end)
            .ok_or_else(|| bad("its example runs outside its array"))?;
        let types_ok = !pairs.is_empty()
            && pairs
                .iter()
                .all(|p| (p.ty as usize) < type_count && p.per_cycle > 0)
            && pairs.windows(2).all(|w| w[0].ty < w[1].ty);
        if !types_ok {
            return Err(bad("types not ascending, out of range or counted 0"));
        }
        let example_ok = !example.is_empty()
            && example.iter().all(|&v| (v as usize) < n)
            && example.windows(2).all(|w| w[0] < w[1]);
        if !example_ok {
            return Err(bad("example members not ascending or out of range"));
        }
        if r.finalizer > 1 {
            return Err(bad("finalizer is neither 0 nor 1"));
        }
        out.push(CycleGroup {
            types: pairs.iter().map(|p| (p.ty, p.per_cycle)).collect(),
            cycles: r.cycles,
            objects: r.objects,
            shallow: r.shallow,
            retained: r.retained,
            finalizer: r.finalizer == 1,
            reachable: r.reachable,
            example: example.to_vec(),
            example_retained: r.example_retained,
        });
        (types_at, example_at) = (types_end, example_end);
    }
    if types_at != types.len() || example_at != examples.len() {
        return Err(Error::invalid(
            groups_at,
            "the groups leave values of their types or examples over",
        ));
    }
    Ok(out)
}

/// What an index file holds, borrowed from a complete analysis.
pub(super) struct Contents<'a> {
    pub graph: &'a Graph,
    pub dom: &'a Dominators,
    pub components: &'a Components,
    pub paths: &'a Paths,
    pub type_stats: &'a [TypeStats],
    pub cycle_groups: &'a [CycleGroup],
}

/// An array to write: its kind, its value width and its bytes.
type Array<'a> = (u32, u32, &'a [u8]);

fn raw<T: Pod>(kind: u32, values: &[T]) -> Array<'_> {
    (kind, size_of::<T>() as u32, bytemuck::cast_slice(values))
}

/// Rows of `R` stored as values of `T` (`R` a `#[repr(C)]` struct of `T`s).
fn rows_as<T: Pod, R: Pod>(kind: u32, rows: &[R]) -> Array<'_> {
    raw::<T>(kind, bytemuck::cast_slice(rows))
}

/// Writes the index of `snap` (`id` its identity) holding `c`, authenticated under
/// `key`, to `beside`, else (if that cannot be written) to `cached`, creating its
/// directory (readable only by this user). Returns the file written.
pub(super) fn write(
    c: &Contents<'_>,
    snap: &Snapshot,
    id: [u8; 32],
    key: &[u8],
    (beside, cached): (&Path, Option<&Path>),
) -> Result<PathBuf> {
    let stats: Vec<TypeStatsRow> = c
        .type_stats
        .iter()
        .map(|r| TypeStatsRow {
            count: r.count,
            shallow: r.shallow,
            retained: r.retained,
            unreachable: r.unreachable,
            unreachable_shallow: r.unreachable_shallow,
        })
        .collect();
    let (mut group_rows, mut group_types, mut group_examples) =
        (Vec::new(), Vec::new(), Vec::new());
    for g in c.cycle_groups {
        group_types.extend(
            g.types
                .iter()
                .map(|&(ty, per_cycle)| TypeCount { ty, per_cycle }),
        );
        group_examples.extend_from_slice(&g.example);
        group_rows.push(CycleGroupRow {
            cycles: g.cycles,
            objects: g.objects,
            shallow: g.shallow,
            retained: g.retained,
            finalizer: u64::from(g.finalizer),
            reachable: g.reachable,
            example_retained: g.example_retained,
            types_end: len_u64(group_types.len()),
            example_end: len_u64(group_examples.len()),
        });
    }
    let g = c.graph.columns();
    let d = c.dom.columns();
    let (component, component_size, cyclic) = c.components.columns();
    let (depth, via) = c.paths.columns();
    let arrays = [
        raw(array::FWD, g.fwd),
        raw(array::ROOTS, g.roots),
        raw(array::TYPE_OBJECTS, g.type_objects),
        raw(array::REV_START, g.rev_start),
        raw(array::REV_SOURCES, g.rev_sources),
        raw(array::IDOM, d.idom),
        raw(array::RETAINED, d.retained),
        raw(array::TREE_PRE, d.tree_pre),
        raw(array::TREE_SIZE, d.size_at),
        raw(array::TREE_ORDER, d.tree_order),
        raw(array::COMPONENT, component),
        raw(array::COMPONENT_SIZE, component_size),
        raw(array::COMPONENT_CYCLIC, cyclic),
        raw(array::DEPTH, depth),
        raw(array::VIA, via),
        rows_as::<u64, _>(array::TYPE_STATS, &stats),
        rows_as::<u64, _>(array::CYCLE_GROUPS, &group_rows),
        rows_as::<u32, _>(array::CYCLE_TYPES, &group_types),
        raw(array::CYCLE_EXAMPLES, &group_examples),
    ];
    let (entries, file_len) = lay_out(&arrays);
    let mut header = Header {
        magic: INDEX_MAGIC,
        version: INDEX_VERSION,
        analysis: ANALYSIS_VERSION,
        dump: id,
        objects: len_u64(snap.object_count()),
        edges: len_u64(snap.edge_count()),
        dangling: c.graph.dangling_edges(),
        array_count: arrays.len() as u32,
        reserved: 0,
        mac: [0; 32],
    };
    header.mac = mac(key, &header, &entries).finalize().into_bytes().into();
    let write = |file: &Path| {
        write_file(file, &header, &entries, &arrays, file_len)
            .map(|()| file.to_path_buf())
            .map_err(|e| Error::io("cannot write", e).in_file(file))
    };
    match (write(beside), cached) {
        (Ok(file), _) => Ok(file),
        (Err(first), None) => Err(first),
        (Err(_), Some(cached)) => {
            if let Some(dir) = cached.parent() {
                let mut builder = std::fs::DirBuilder::new();
                #[cfg(unix)]
                {
                    use std::os::unix::fs::DirBuilderExt;
                    builder.mode(0o700);
                }
                let _ = builder.create(dir);
            }
            write(cached)
        }
    }
}

/// The table entries of `arrays` (CRCs included) at 64-byte-aligned offsets after the
/// header and table, and the file's length: it ends where its last array ends.
fn lay_out(arrays: &[Array<'_>]) -> (Vec<Entry>, u64) {
    let crcs: Vec<u32> = arrays.par_iter().map(|(_, _, b)| crc32(b)).collect();
    let mut offset =
        len_u64(HEADER_BYTES + arrays.len() * ENTRY_BYTES).next_multiple_of(ARRAY_ALIGN);
    let mut entries = Vec::with_capacity(arrays.len());
    let mut file_len = offset;
    for (&(kind, width, bytes), &crc) in arrays.iter().zip(&crcs) {
        entries.push(Entry {
            kind,
            width,
            offset,
            len: len_u64(bytes.len() / width as usize),
            crc,
            reserved: 0,
        });
        file_len = offset + len_u64(bytes.len());
        offset = file_len.next_multiple_of(ARRAY_ALIGN);
    }
    (entries, file_len)
}

/// Writes an index file under a temporary name in `file`'s directory, then renames it
/// into place. Written in parallel pieces at their offsets: filling the page cache is
/// most of the cost, and it scales with threads.
fn write_file(
    file: &Path,
    header: &Header,
    entries: &[Entry],
    arrays: &[Array<'_>],
    file_len: u64,
) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    const PIECE: usize = 8 << 20;
    let dir = file.parent().unwrap_or(Path::new("."));
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    // Unique per call: two analyses in one process (`diff D D`) may save at once.
    static SAVES: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        SAVES.fetch_add(1, Ordering::Relaxed)
    ));
    let f = create_private(&tmp)?;
    let result = (|| {
        f.set_len(file_len)?;
        f.write_all_at(bytemuck::bytes_of(header), 0)?;
        f.write_all_at(bytemuck::cast_slice(entries), HEADER_BYTES as u64)?;
        let pieces: Vec<(u64, &[u8])> = arrays
            .iter()
            .zip(entries)
            .flat_map(|((_, _, bytes), e)| {
                bytes
                    .chunks(PIECE)
                    .enumerate()
                    .map(move |(i, c)| (e.offset + len_u64(i * PIECE), c))
            })
            .collect();
        pieces
            .par_iter()
            .try_for_each(|&(at, bytes)| f.write_all_at(bytes, at))?;
        drop(f);
        std::fs::rename(&tmp, file)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
