//! The index cache: the arrays an analysis derives from a dump (resolved edges, reverse
//! edges, dominators, retained sizes, dominator-tree numbering, cycle ids, breadth-first
//! depths and parent edges, the type histogram and the cycle groups; in-degrees are
//! rebuilt from them in a fraction of a second when needed) saved to a file that later
//! commands map instead of recomputing.
//!
//! Where: beside the dump (`DUMP.hsidx`), or in the private cache directory
//! ([`crate::cache`], `index/<identity>.hsidx`) when the dump's folder cannot be written.
//!
//! Trust: an index is tied to its dump by the dump's *identity* (SHA-256 of its header,
//! section table and trailer, which hold every section's CRC-32) and its counts. It is
//! authenticated with HMAC-SHA-256 under a key kept in the cache directory (created
//! once, readable only by this user), so an index that came with a dump from someone
//! else, or was edited, is never used: it is recomputed. Every array's CRC-32 is in the
//! authenticated table and is checked on load, and the arrays are checked to fit
//! together (lengths, ranges), so a damaged index is recomputed, never trusted.
//!
//! Layout (all little-endian): a `Header` (112 bytes), `array_count` `Entry`s of 32
//! bytes, then each array at a 64-byte-aligned offset. Writing goes to a temporary name
//! renamed into place when complete.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bytemuck::{Pod, Zeroable};
use hmac::{KeyInit, Mac};
use memmap2::Mmap;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::analysis::{
    cycles, Analysis, Components, CycleGroup, Dominators, Needs, Paths, TypeStats,
};
use crate::cache::{cache_dir, create_private};
use crate::column::{Column, Mapped};
use crate::error::Result;
use crate::format::read::crc32;
use crate::format::{Trailer, HEADER_LEN, TRAILER_LEN};
use crate::graph::Graph;
use crate::names::TypeNames;
use crate::progress::phase;
use crate::snapshot::Snapshot;

/// The 8-byte magic of an index file.
pub const INDEX_MAGIC: [u8; 8] = *b"HSNPIDX\n";
/// The index layout version.
pub const INDEX_VERSION: u32 = 1;
/// Changes whenever an analysis changes what it computes: older indexes are recomputed.
pub const ANALYSIS_VERSION: u32 = 3;
/// File name suffix of an index beside its dump.
pub const SUFFIX: &str = "hsidx";
/// Dumps with fewer objects are analysed in well under a second and not indexed
/// (overridden by `HEAPSNAP_INDEX_MIN_OBJECTS`).
pub const DEFAULT_MIN_OBJECTS: usize = 1_000_000;

type HmacSha256 = hmac::Hmac<Sha256>;

/// The header of an index file.
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
#[repr(C)]
struct Header {
    magic: [u8; 8],
    version: u32,
    analysis: u32,
    /// Identity of the dump (see the module documentation).
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

const HEADER_BYTES: usize = std::mem::size_of::<Header>();

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

const ENTRY_BYTES: usize = std::mem::size_of::<Entry>();

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
    /// The type histogram with retained sizes: per type, count, shallow, retained,
    /// unreachable count, unreachable shallow.
    pub const TYPE_STATS: u32 = 41;
    /// The cycle groups (housekeeping edges left out): per group, cycles, objects,
    /// shallow, retained, finalizer (0 or 1), reachable cycles, the example's retained
    /// size, and the ends of its runs in the next two arrays.
    pub const CYCLE_GROUPS: u32 = 50;
    /// Each group's type multiset: (type, members per cycle) pairs, ascending by type.
    pub const CYCLE_TYPES: u32 = 51;
    /// Each group's example cycle: its members, ascending.
    pub const CYCLE_EXAMPLES: u32 = 52;
}

/// Everything an index holds.
pub struct Indexed {
    /// The graph.
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
    /// The file it was read from.
    pub file: PathBuf,
}

static DISABLED: AtomicBool = AtomicBool::new(false);

/// Turns the index cache off for this process (`--no-cache`; also
/// `HEAPSNAP_NO_CACHE=1`).
pub fn disable() {
    DISABLED.store(true, Ordering::Relaxed);
}

fn enabled() -> bool {
    !DISABLED.load(Ordering::Relaxed)
        && std::env::var_os("HEAPSNAP_NO_CACHE").is_none_or(|v| v.is_empty() || v == "0")
}

/// Runs the analyses `needs` asks for on `snap` (read from `dump_path`) through the
/// index: mapped from a valid index when there is one; otherwise everything is computed
/// (so that every later command finds it) and saved. Small dumps, `--no-cache`, and
/// `--all-edges` cycles (computed fresh, the rest still from the index) are the
/// exceptions. Results are the same with or without the index.
pub fn analyze<'s>(snap: &'s Snapshot, dump_path: &Path, needs: Needs) -> Result<Analysis<'s>> {
    if !enabled() || !worth_indexing(snap) {
        return Analysis::run(snap, needs);
    }
    let t = std::time::Instant::now();
    let loaded = {
        let _p = phase("opening the index");
        load(snap, dump_path)
    };
    crate::progress::timing("index.load", t);
    let mut a = match loaded {
        Some(ix) => Analysis {
            snap,
            names: TypeNames::new(snap),
            graph: ix.graph,
            dom: Some(ix.dom),
            components: Some(ix.components),
            paths: Some(ix.paths),
            type_stats: ix.type_stats.into(),
            cycle_groups: ix.cycle_groups.into(),
        },
        None => {
            let a = Analysis::run(snap, Needs::all())?;
            let t = std::time::Instant::now();
            let saved = {
                let _p = phase("saving the index");
                save(&a, dump_path)
            };
            crate::progress::timing("index.save", t);
            if let Err(e) = saved {
                eprintln!(
                    "heapsnap: warning: analysis index not saved: {}",
                    crate::escape::escape(&e)
                );
            }
            a
        }
    };
    // Keep only what was asked for: outputs must not depend on the index.
    if !needs.dominators {
        a.dom = None;
    }
    if !needs.paths {
        a.paths = None;
    }
    a.components = match (needs.components, needs.all_edges) {
        (false, _) => None,
        (true, false) => a.components,
        (true, true) => {
            a.cycle_groups = std::sync::OnceLock::new();
            let _p = phase("reference cycles");
            Some(cycles::cycle_components(snap, &a.graph, true))
        }
    };
    Ok(a)
}

/// Where a dump's index may be: beside it, then in the cache directory.
fn candidates(snap: &Snapshot, dump_path: &Path) -> (PathBuf, Option<PathBuf>) {
    let mut beside = dump_path.as_os_str().to_owned();
    beside.push(".");
    beside.push(SUFFIX);
    let cached = cache_dir().map(|d| {
        d.join("index")
            .join(format!("{}.{SUFFIX}", hex(&identity(snap))))
    });
    (PathBuf::from(beside), cached)
}

/// True if dumps this large are indexed.
pub fn worth_indexing(snap: &Snapshot) -> bool {
    let min = std::env::var("HEAPSNAP_INDEX_MIN_OBJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_MIN_OBJECTS);
    snap.object_count() >= min
}

/// The dump's identity: SHA-256 of its header, section table and trailer (which hold
/// every section's CRC-32 and length) and its length.
pub fn identity(snap: &Snapshot) -> [u8; 32] {
    let bytes = snap.bytes();
    let mut h = Sha256::new();
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(&bytes[..(HEADER_LEN as usize).min(bytes.len())]);
    // The snapshot is validated: its trailer and table are where the trailer says.
    let trailer_at = bytes.len().saturating_sub(TRAILER_LEN as usize);
    let table_at = bytes
        .get(trailer_at..)
        .filter(|t| t.len() == std::mem::size_of::<Trailer>())
        .map(bytemuck::pod_read_unaligned::<Trailer>)
        .and_then(|t| usize::try_from(t.table_offset).ok())
        .filter(|&o| o <= trailer_at)
        .unwrap_or(trailer_at);
    h.update(&bytes[table_at..]);
    h.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The key that authenticates this user's indexes, created on first use. `None` when
/// no private cache directory is usable (indexes are then neither read nor written).
fn key() -> Option<Vec<u8>> {
    // Once per process: two analyses (`diff`) may ask at the same time.
    static KEY: std::sync::OnceLock<Option<Vec<u8>>> = std::sync::OnceLock::new();
    KEY.get_or_init(read_or_create_key).clone()
}

fn read_or_create_key() -> Option<Vec<u8>> {
    let path = cache_dir()?.join("index.key");
    if let Ok(k) = std::fs::read(&path) {
        return (k.len() == 32).then_some(k);
    }
    let mut k = vec![0u8; 32];
    File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut k))
        .ok()?;
    let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
    let mut f = create_private(&tmp).ok()?;
    f.write_all(&k).ok()?;
    drop(f);
    // Another process may have created one meanwhile: the first one stays.
    let _ = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    std::fs::read(&path).ok().filter(|k| k.len() == 32)
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

/// The resolved graph of `snap` from its index, if it has a valid one (and the index
/// is enabled).
pub fn load_graph(snap: &Snapshot, dump_path: &Path) -> Option<Graph> {
    (enabled() && worth_indexing(snap))
        .then(|| load(snap, dump_path))
        .flatten()
        .map(|ix| ix.graph)
}

/// Opens the index of `snap` (read from `dump_path`) if a valid one exists.
pub fn load(snap: &Snapshot, dump_path: &Path) -> Option<Indexed> {
    let key = key()?;
    let (beside, cached) = candidates(snap, dump_path);
    let id = identity(snap);
    std::iter::once(beside)
        .chain(cached)
        .find_map(|file| open(snap, &id, &key, &file).map(|parts| (parts, file)))
        .map(
            |((graph, dom, components, paths, type_stats, cycle_groups), file)| Indexed {
                graph,
                dom,
                components,
                paths,
                type_stats,
                cycle_groups,
                file,
            },
        )
}

type Parts = (
    Graph,
    Dominators,
    Components,
    Paths,
    Vec<TypeStats>,
    Vec<CycleGroup>,
);

const STATS_WIDTH: usize = 5;
const GROUP_WIDTH: usize = 9;

fn open(snap: &Snapshot, id: &[u8; 32], key: &[u8], file: &Path) -> Option<Parts> {
    let f = File::open(file).ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    // SAFETY: as for dumps (`Snapshot::open`): mapped read-only, validated before use;
    // an index is written once under a temporary name and renamed, never modified.
    let map = Arc::new(unsafe { Mmap::map(&f) }.ok()?);
    let header: Header = bytemuck::pod_read_unaligned(map.get(..HEADER_BYTES)?);
    let n = snap.object_count();
    if header.magic != INDEX_MAGIC
        || header.version != INDEX_VERSION
        || header.analysis != ANALYSIS_VERSION
        || &header.dump != id
        || header.objects != n as u64
        || header.edges != snap.edge_count() as u64
        || header.array_count > 64
    {
        return None;
    }
    let count = header.array_count as usize;
    let table = map.get(HEADER_BYTES..HEADER_BYTES + count * ENTRY_BYTES)?;
    let entries: Vec<Entry> = table
        .chunks_exact(ENTRY_BYTES)
        .map(bytemuck::pod_read_unaligned)
        .collect();
    mac(key, &header, &entries).verify_slice(&header.mac).ok()?;
    // Every array's checksum, in parallel.
    let intact = entries.par_iter().all(|e| {
        let bytes = usize::try_from(e.len)
            .ok()
            .and_then(|l| l.checked_mul(e.width as usize))
            .and_then(|b| {
                let o = usize::try_from(e.offset).ok()?;
                map.get(o..o.checked_add(b)?)
            });
        bytes.is_some_and(|b| crc32(b) == e.crc)
    });
    if !intact {
        return None;
    }
    let get = |kind: u32| entries.iter().find(|e| e.kind == kind);
    fn col<T: Pod>(map: &Arc<Mmap>, e: Option<&Entry>) -> Option<Column<T>> {
        let e = e?;
        if e.width as usize != std::mem::size_of::<T>() {
            return None;
        }
        Mapped::new(
            map.clone(),
            usize::try_from(e.offset).ok()?,
            usize::try_from(e.len).ok()?,
        )
        .map(Column::Mapped)
    }
    let graph = Graph::from_columns(
        snap,
        col(&map, get(array::FWD))?,
        col(&map, get(array::ROOTS))?,
        col(&map, get(array::TYPE_OBJECTS))?,
        header.dangling,
        col(&map, get(array::REV_START))?,
        col(&map, get(array::REV_SOURCES))?,
    )?;
    let dom = Dominators::from_columns(
        n,
        col(&map, get(array::IDOM))?,
        col(&map, get(array::RETAINED))?,
        col(&map, get(array::TREE_PRE))?,
        col(&map, get(array::TREE_SIZE))?,
        col(&map, get(array::TREE_ORDER))?,
    )?;
    let components = Components::from_columns(
        n,
        col(&map, get(array::COMPONENT))?,
        col(&map, get(array::COMPONENT_SIZE))?,
        col(&map, get(array::COMPONENT_CYCLIC))?,
    )?;
    let paths = Paths::from_columns(
        n,
        snap.edge_count(),
        col(&map, get(array::DEPTH))?,
        col(&map, get(array::VIA))?,
    )?;
    let stats: Column<u64> = col(&map, get(array::TYPE_STATS))?;
    if stats.len() != snap.type_count() * STATS_WIDTH {
        return None;
    }
    let type_stats = stats
        .chunks_exact(STATS_WIDTH)
        .enumerate()
        .map(|(t, r)| TypeStats {
            ty: t as u32,
            count: r[0],
            shallow: r[1],
            retained: r[2],
            unreachable: r[3],
            unreachable_shallow: r[4],
        })
        .collect();
    let cycle_groups = cycle_groups_from(
        &col(&map, get(array::CYCLE_GROUPS))?,
        &col(&map, get(array::CYCLE_TYPES))?,
        &col(&map, get(array::CYCLE_EXAMPLES))?,
        snap.type_count(),
        n,
    )?;
    // Checking read every page; a query needs few of them again. Drop them from this
    // process's resident set (they stay in the page cache and fault back on use).
    // SAFETY: as in `Snapshot::release`: a read-only shared file mapping, written once
    // and renamed into place, so the pages read back are the bytes just checked.
    let _ = unsafe { map.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
    Some((graph, dom, components, paths, type_stats, cycle_groups))
}

/// The cycle groups from their three arrays, checked to fit together: runs within the
/// arrays, types below `types`, members below `n`.
fn cycle_groups_from(
    groups: &[u64],
    types: &[u32],
    examples: &[u32],
    type_count: usize,
    n: usize,
) -> Option<Vec<CycleGroup>> {
    if !groups.len().is_multiple_of(GROUP_WIDTH) || !types.len().is_multiple_of(2) {
        return None;
    }
    let (mut types_at, mut example_at) = (0usize, 0usize);
    let mut out = Vec::with_capacity(groups.len() / GROUP_WIDTH);
    for r in groups.chunks_exact(GROUP_WIDTH) {
        let types_end = usize::try_from(r[7]).ok()?;
        let example_end = usize::try_from(r[8]).ok()?;
        let pairs = types.get(types_at.checked_mul(2)?..types_end.checked_mul(2)?)?;
        let example = examples.get(example_at..example_end)?;
        let pairs: Vec<(u32, u32)> = pairs.chunks_exact(2).map(|p| (p[0], p[1])).collect();
        let types_ok = !pairs.is_empty()
            && pairs
                .iter()
                .all(|&(t, c)| (t as usize) < type_count && c > 0)
            && pairs.windows(2).all(|w| w[0].0 < w[1].0);
        let example_ok = !example.is_empty()
            && example.iter().all(|&v| (v as usize) < n)
            && example.windows(2).all(|w| w[0] < w[1]);
        if !types_ok || !example_ok || r[4] > 1 {
            return None;
        }
        out.push(CycleGroup {
            types: pairs,
            cycles: r[0],
            objects: r[1],
            shallow: r[2],
            retained: r[3],
            finalizer: r[4] == 1,
            reachable: r[5],
            example: example.to_vec(),
            example_retained: r[6],
        });
        (types_at, example_at) = (types_end, example_end);
    }
    (types_at * 2 == types.len() && example_at == examples.len()).then_some(out)
}

/// Saves the analysis of `snap` as its index: beside the dump if possible, else in the
/// cache directory. Returns the file written.
pub fn save(a: &Analysis<'_>, dump_path: &Path) -> Result<PathBuf, String> {
    let (snap, graph, dom, components, paths) =
        (a.snap, &a.graph, a.dom(), a.components(), a.paths());
    let stats: Vec<u64> = a
        .histogram()
        .iter()
        .flat_map(|r| {
            [
                r.count,
                r.shallow,
                r.retained,
                r.unreachable,
                r.unreachable_shallow,
            ]
        })
        .collect();
    let (mut group_rows, mut group_types, mut group_examples) =
        (Vec::new(), Vec::new(), Vec::new());
    for g in a.cycle_groups() {
        group_types.extend(g.types.iter().flat_map(|&(t, c)| [t, c]));
        group_examples.extend_from_slice(&g.example);
        group_rows.extend([
            g.cycles,
            g.objects,
            g.shallow,
            g.retained,
            u64::from(g.finalizer),
            g.reachable,
            g.example_retained,
            (group_types.len() / 2) as u64,
            group_examples.len() as u64,
        ]);
    }
    let key = key().ok_or("no private cache directory for the index key")?;
    let g = graph.columns();
    let d = dom.columns();
    let (component, component_size, cyclic) = components.columns();
    let (depth, via) = paths.columns();
    fn raw<T: Pod>(kind: u32, values: &[T]) -> (u32, u32, &[u8]) {
        (
            kind,
            std::mem::size_of::<T>() as u32,
            bytemuck::cast_slice(values),
        )
    }
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
        raw(array::TYPE_STATS, &stats),
        raw(array::CYCLE_GROUPS, &group_rows),
        raw(array::CYCLE_TYPES, &group_types),
        raw(array::CYCLE_EXAMPLES, &group_examples),
    ];
    let crcs: Vec<u32> = arrays.iter().map(|(_, _, b)| crc32(b)).collect();
    let mut offset = (HEADER_BYTES + arrays.len() * ENTRY_BYTES).next_multiple_of(64) as u64;
    let mut entries = Vec::with_capacity(arrays.len());
    // The file ends where its last array ends (no padding after it).
    let mut file_len = offset;
    for (&(kind, width, bytes), &crc) in arrays.iter().zip(&crcs) {
        entries.push(Entry {
            kind,
            width,
            offset,
            len: (bytes.len() / width as usize) as u64,
            crc,
            reserved: 0,
        });
        file_len = offset + bytes.len() as u64;
        offset = file_len.next_multiple_of(64);
    }
    let mut header = Header {
        magic: INDEX_MAGIC,
        version: INDEX_VERSION,
        analysis: ANALYSIS_VERSION,
        dump: identity(snap),
        objects: snap.object_count() as u64,
        edges: snap.edge_count() as u64,
        dangling: graph.dangling_edges(),
        array_count: arrays.len() as u32,
        reserved: 0,
        mac: [0; 32],
    };
    header.mac = mac(&key, &header, &entries).finalize().into_bytes().into();

    // Written in parallel pieces at their offsets: filling the page cache is most of
    // the cost, and it scales with threads.
    let write = |file: &Path| -> std::io::Result<()> {
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
            f.write_all_at(bytemuck::bytes_of(&header), 0)?;
            f.write_all_at(bytemuck::cast_slice(&entries), HEADER_BYTES as u64)?;
            let pieces: Vec<(u64, &[u8])> = arrays
                .iter()
                .zip(&entries)
                .flat_map(|((_, _, bytes), e)| {
                    bytes
                        .chunks(PIECE)
                        .enumerate()
                        .map(move |(i, c)| (e.offset + (i * PIECE) as u64, c))
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
    };
    let (beside, cached) = candidates(snap, dump_path);
    match write(&beside) {
        Ok(()) => Ok(beside),
        Err(first) => {
            let cached =
                cached.ok_or_else(|| format!("cannot write {}: {first}", beside.display()))?;
            if let Some(dir) = cached.parent() {
                let mut builder = std::fs::DirBuilder::new();
                #[cfg(unix)]
                {
                    use std::os::unix::fs::DirBuilderExt;
                    builder.mode(0o700);
                }
                let _ = builder.create(dir);
            }
            write(&cached)
                .map(|()| cached.clone())
                .map_err(|e| format!("cannot write {}: {e}", cached.display()))
        }
    }
}
