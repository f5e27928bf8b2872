//! The index cache: the arrays an analysis derives from a dump (resolved edges, reverse
//! edges, dominators, retained sizes, dominator-tree numbering, cycle ids, breadth-first
//! depths and parent edges, the type histogram and the cycle groups; in-degrees are
//! rebuilt from them in a fraction of a second when needed) saved to a file that later
//! commands map instead of recomputing. This module is the policy (when to index, where
//! the file goes, what a miss computes); [`file`] is the file itself.
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

mod file;

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use sha2::{Digest, Sha256};

use crate::analysis::{Analysis, Needs, Stored};
use crate::cache::{cache_dir, create_private};
use crate::error::{Error, ErrorKind, Result};
use crate::format::{Trailer, HEADER_LEN, TRAILER_LEN};
use crate::graph::Graph;
use crate::progress::phase;
use crate::snapshot::Snapshot;
pub use file::{ANALYSIS_VERSION, INDEX_MAGIC, INDEX_VERSION};

/// File name suffix of an index beside its dump.
pub const SUFFIX: &str = "hsidx";
/// Dumps with fewer objects are analysed in well under a second and not indexed
/// (overridden by `HEAPSNAP_INDEX_MIN_OBJECTS`).
pub const DEFAULT_MIN_OBJECTS: usize = 1_000_000;

/// Everything an index holds, and the file it was read from.
pub struct Indexed {
    /// The analyses.
    pub stored: Stored,
    /// The file.
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
/// index. Results are the same with or without it. The whole policy:
///
/// - Small dumps ([`worth_indexing`]) and `--no-cache` ([`disable`]): computed, never
///   indexed.
/// - A valid index: mapped; what `needs` does not ask for is dropped, and cycles over
///   all edges (`--all-edges`, not stored) are computed afresh.
/// - No valid index, and `needs` asks for the dominators: everything is computed (the
///   dominator search is most of the cost; the cycle and path searches run beside it)
///   and saved, so that every later command finds it.
/// - No valid index otherwise (a command that needs at most the graph and the shortest
///   paths, such as `top --by count`, `refs` or `export --format heapsnapshot`): only
///   what it needs is computed, and nothing is saved. An index is only ever written
///   whole, so a later command never finds part of one.
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
    if let Some(ix) = loaded {
        return Ok(Analysis::from_columns(snap, ix.stored, needs));
    }
    if !needs.dominators {
        return Analysis::run(snap, needs);
    }
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
            crate::escape::escape(&e.to_string())
        );
    }
    Ok(a.keep_only(needs))
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

/// The resolved graph of `snap` from its index, if it has a valid one (and the index
/// is enabled).
pub fn load_graph(snap: &Snapshot, dump_path: &Path) -> Option<Graph> {
    (enabled() && worth_indexing(snap))
        .then(|| load(snap, dump_path))
        .flatten()
        .map(|ix| ix.stored.graph)
}

/// Opens the index of `snap` (read from `dump_path`) if a valid one exists: beside the
/// dump, else in the cache directory. An index that is missing, stale, foreign or
/// damaged is not used (the analysis is recomputed); with `HEAPSNAP_TIMINGS` set, why
/// is told on stderr.
pub fn load(snap: &Snapshot, dump_path: &Path) -> Option<Indexed> {
    let key = key()?;
    let (beside, cached) = candidates(snap, dump_path);
    let id = identity(snap);
    std::iter::once(beside)
        .chain(cached)
        .find_map(|path| match file::read(snap, &id, &key, &path) {
            Ok(parts) => Some((parts, path)),
            Err(e) => {
                not_used(&path, e);
                None
            }
        })
        .map(|(stored, file)| Indexed { stored, file })
}

/// Tells why the index at `path` was not used, when timings are asked for (a missing
/// file is the usual case, and not told).
fn not_used(path: &Path, e: Error) {
    let missing =
        matches!(e.kind(), ErrorKind::Io { err, .. } if err.kind() == io::ErrorKind::NotFound);
    if !missing && std::env::var_os("HEAPSNAP_TIMINGS").is_some() {
        let why = e.in_file(path).to_string();
        eprintln!("timing index.unused: {}", crate::escape::escape(&why));
    }
}

/// Saves the analysis of `snap` as its index: beside the dump if possible, else in the
/// cache directory. Returns the file written. `a` must hold every analysis.
pub fn save(a: &Analysis<'_>, dump_path: &Path) -> Result<PathBuf> {
    let key = key().ok_or_else(|| Error::input("no private cache directory for the index key"))?;
    let (type_stats, cycle_groups) = (a.histogram(), a.cycle_groups());
    let contents = file::Contents {
        graph: &a.graph,
        dom: a.dom(),
        components: a.components(),
        paths: a.paths(),
        type_stats: &type_stats,
        cycle_groups: &cycle_groups,
    };
    let (beside, cached) = candidates(a.snap, dump_path);
    file::write(
        &contents,
        a.snap,
        identity(a.snap),
        &key,
        (&beside, cached.as_deref()),
    )
}
