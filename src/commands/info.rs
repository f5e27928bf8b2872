//! `heapsnap info`: who was dumped and when (process facts), what the dump holds (counts,
//! roots by kind, dangling edges), and how much of the process's resident memory the
//! Python objects account for, with a hint when most of it is elsewhere.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::error::Result;
use crate::format::read::len_u64;
use crate::format::ROOT_KIND_NAMES;
use crate::query::{utc_iso, NATIVE_HINT, NATIVE_HINT_SHARE};
use crate::report::text::{escape, human_bytes, write_rows};
use crate::report::{emit, Output};
use crate::snapshot::{Snapshot, Verify};

/// Everything `info` reports (the `data` of its JSON envelope).
#[derive(Debug, Serialize)]
pub struct InfoData {
    /// The dump's path.
    pub path: String,
    /// Format version.
    pub format: (u16, u16),
    /// File length.
    pub file_bytes: u64,
    /// Facts about the dumped process.
    pub process: Process,
    /// Facts about the dump itself.
    pub dump: Dump,
    /// Collector state before the dump.
    pub gc: Gc,
    /// Counts.
    pub counts: Counts,
    /// Roots per kind, in kind order (kinds with no root left out).
    pub roots_by_kind: Vec<RootCount>,
    /// Sum of shallow sizes.
    pub shallow_bytes: u64,
    /// RSS at dump time, if recorded.
    pub rss_bytes: Option<u64>,
    /// `shallow_bytes / rss_bytes`, if RSS is known and non-zero.
    pub python_share_of_rss: Option<f64>,
    /// The native-memory hint, when it applies.
    pub hint: Option<&'static str>,
}

/// Process facts.
#[derive(Debug, Serialize)]
pub struct Process {
    /// `python.implementation`.
    pub python_implementation: Option<String>,
    /// `python.version`.
    pub python_version: Option<String>,
    /// `python.build`.
    pub python_build: Option<String>,
    /// `platform`.
    pub platform: Option<String>,
    /// `machine`.
    pub machine: Option<String>,
    /// `pointer_size`.
    pub pointer_size: Option<u64>,
    /// `pid`.
    pub pid: Option<u64>,
    /// `time.unix_ns`.
    pub time_unix_ns: Option<u64>,
    /// `time.unix_ns` as a UTC ISO 8601 date.
    pub time_utc: Option<String>,
}

/// Facts about the dump.
#[derive(Debug, Serialize)]
pub struct Dump {
    /// `dump.mode`.
    pub mode: Option<String>,
    /// `dump.duration_ns`.
    pub duration_ns: Option<u64>,
    /// `dumper.name`.
    pub dumper_name: Option<String>,
    /// `dumper.version`.
    pub dumper_version: Option<String>,
    /// `dumper.options`.
    pub dumper_options: Option<String>,
}

/// Collector facts.
#[derive(Debug, Serialize)]
pub struct Gc {
    /// `gc.enabled`.
    pub enabled: Option<bool>,
    /// `gc.count.0..2`.
    pub count: [Option<u64>; 3],
    /// `gc.threshold.0..2`.
    pub threshold: [Option<u64>; 3],
    /// `gc.frozen`.
    pub frozen: Option<u64>,
    /// `gc.collected`.
    pub collected: Option<u64>,
}

/// Counts of what the dump holds.
#[derive(Debug, Serialize)]
pub struct Counts {
    /// Objects.
    pub objects: usize,
    /// Edges.
    pub edges: usize,
    /// Edges whose target is not in the dump.
    pub dangling_edges: u64,
    /// Types.
    pub types: usize,
    /// Strings.
    pub strings: usize,
    /// Roots stored in the dump.
    pub roots: usize,
    /// Refcount-surplus roots derived by the reader (objects held by references the
    /// dump cannot see).
    pub surplus_roots: usize,
    /// Values.
    pub values: usize,
    /// Facts.
    pub facts: usize,
}

/// Number of roots of one kind.
#[derive(Debug, Serialize)]
pub struct RootCount {
    /// Kind name (`module`, `thread`, ...; `kindN` for unknown kinds).
    pub kind: String,
    /// Number of root records of that kind.
    pub count: u64,
}

/// Gathers the `info` report of a validated snapshot. Resolving the edges (for the
/// dangling count and the refcount-surplus roots) runs SPEC 7 step 14 first, so this
/// fails cleanly on a file whose objects share an address.
pub fn gather(snap: &Snapshot, path: &Path) -> Result<InfoData> {
    let st = |k: &str| snap.fact_str(k).map(str::to_string);
    let u = |k: &str| snap.fact_u64(k);
    // Count by sorting, not by a search per root: a newer-minor file may hold any
    // number of distinct (unknown) root kinds, and a linear search per root would make
    // this quadratic in the file's length.
    let mut kinds: Vec<u32> = snap.roots().iter().map(|r| r.kind).collect();
    kinds.sort_unstable();
    let roots_by_kind = kinds
        .chunk_by(|a, b| a == b)
        .map(|run| {
            let k = run[0];
            RootCount {
                kind: usize::try_from(k)
                    .ok()
                    .and_then(|k| k.checked_sub(1))
                    .and_then(|i| ROOT_KIND_NAMES.get(i))
                    .map_or_else(|| format!("kind{k}"), |s| (*s).to_string()),
                count: len_u64(run.len()),
            }
        })
        .collect();
    drop(kinds);
    // The index, when the dump has a valid one, already holds the resolved graph.
    let census = match crate::index::load_graph(snap, path) {
        Some(graph) => crate::census::from_graph(snap, &graph),
        None => crate::census::checked_census(snap)?,
    };
    let shallow = snap.total_shallow_size();
    let rss = u("rss.bytes");
    let share = rss.filter(|&r| r > 0).map(|r| shallow as f64 / r as f64);
    Ok(InfoData {
        path: path.display().to_string(),
        format: snap.version(),
        file_bytes: snap.file_len(),
        process: Process {
            python_implementation: st("python.implementation"),
            python_version: st("python.version"),
            python_build: st("python.build"),
            platform: st("platform"),
            machine: st("machine"),
            pointer_size: u("pointer_size"),
            pid: u("pid"),
            time_unix_ns: u("time.unix_ns"),
            time_utc: u("time.unix_ns").map(utc_iso),
        },
        dump: Dump {
            mode: st("dump.mode"),
            duration_ns: u("dump.duration_ns"),
            dumper_name: st("dumper.name"),
            dumper_version: st("dumper.version"),
            dumper_options: st("dumper.options"),
        },
        gc: Gc {
            enabled: snap.fact_bool("gc.enabled"),
            count: [u("gc.count.0"), u("gc.count.1"), u("gc.count.2")],
            threshold: [
                u("gc.threshold.0"),
                u("gc.threshold.1"),
                u("gc.threshold.2"),
            ],
            frozen: u("gc.frozen"),
            collected: u("gc.collected"),
        },
        counts: Counts {
            objects: snap.object_count(),
            edges: snap.edge_count(),
            dangling_edges: census.dangling_edges,
            types: snap.type_count(),
            strings: snap.string_count(),
            roots: snap.roots().len(),
            surplus_roots: census.surplus_roots.len(),
            values: snap.values().len(),
            facts: snap.facts().len(),
        },
        roots_by_kind,
        shallow_bytes: shallow,
        rss_bytes: rss,
        python_share_of_rss: share,
        hint: share
            .filter(|&s| s < NATIVE_HINT_SHARE)
            .map(|_| NATIVE_HINT),
    })
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(
        || "unknown".to_string(),
        |v| escape(&v.to_string()).into_owned(),
    )
}

fn opt_list(v: &[Option<u64>; 3]) -> String {
    v.iter()
        .map(|x| x.map_or_else(|| "?".to_string(), |x| x.to_string()))
        .collect::<Vec<_>>()
        .join("/")
}

pub(super) fn run<W: Write>(path: &Path, json: bool, no_verify: bool, out: &mut W) -> Result<()> {
    let verify = if no_verify {
        Verify::SkipChecksums
    } else {
        Verify::Full
    };
    let snap = Snapshot::open(path, verify)?;
    let d = gather(&snap, path).map_err(|e| e.in_file(path))?;
    emit(out, json, &d)
}

impl Output for InfoData {
    const KIND: &'static str = "info";

    fn text(&self, w: &mut dyn Write) -> std::io::Result<()> {
        write_text(self, w)
    }
}

/// Writes the text form of an `info` report; every dump-derived string is escaped.
pub fn write_text(d: &InfoData, out: &mut dyn Write) -> std::io::Result<()> {
    let p = &d.process;
    let mut rows: Vec<(String, String)> = vec![
        (
            "file".into(),
            format!(
                "{} ({} bytes, format {}.{})",
                escape(&d.path),
                d.file_bytes,
                d.format.0,
                d.format.1
            ),
        ),
        (
            "python".into(),
            format!(
                "{} {}",
                opt(&p.python_implementation),
                opt(&p.python_version)
            ),
        ),
        ("build".into(), opt(&p.python_build)),
        (
            "platform".into(),
            format!(
                "{} {}, {}-byte pointers",
                opt(&p.platform),
                opt(&p.machine),
                opt(&p.pointer_size)
            ),
        ),
        ("pid".into(), opt(&p.pid)),
        ("time".into(), opt(&p.time_utc)),
    ];
    let dm = &d.dump;
    rows.push((
        "dump".into(),
        format!(
            "mode {}, took {}, by {} {}",
            opt(&dm.mode),
            dm.duration_ns.map_or_else(
                || "unknown".into(),
                |ns| format!("{:.1} ms", ns as f64 / 1e6)
            ),
            opt(&dm.dumper_name),
            opt(&dm.dumper_version)
        ),
    ));
    rows.push(("dumper options".into(), opt(&dm.dumper_options)));
    let g = &d.gc;
    rows.push((
        "gc".into(),
        format!(
            "{}, counts {}, thresholds {}, frozen {}, collected {}",
            match g.enabled {
                Some(true) => "enabled",
                Some(false) => "disabled",
                None => "unknown",
            },
            opt_list(&g.count),
            opt_list(&g.threshold),
            opt(&g.frozen),
            opt(&g.collected)
        ),
    ));
    let c = &d.counts;
    rows.push(("objects".into(), c.objects.to_string()));
    rows.push((
        "edges".into(),
        format!("{} ({} dangling)", c.edges, c.dangling_edges),
    ));
    rows.push(("types".into(), c.types.to_string()));
    rows.push(("strings".into(), c.strings.to_string()));
    let kinds = d
        .roots_by_kind
        .iter()
        .map(|r| format!("{} {}", r.kind, r.count))
        .collect::<Vec<_>>()
        .join(", ");
    rows.push(("roots".into(), format!("{} ({kinds})", c.roots)));
    rows.push((
        "hidden holders".into(),
        format!(
            "{} objects have more references than the dump shows (refcount surplus roots)",
            c.surplus_roots
        ),
    ));
    rows.push(("values".into(), c.values.to_string()));
    rows.push(("shallow total".into(), human_bytes(d.shallow_bytes)));
    rows.push((
        "rss at dump".into(),
        d.rss_bytes.map_or_else(|| "unknown".into(), human_bytes),
    ));
    rows.push((
        "python share".into(),
        d.python_share_of_rss.map_or_else(
            || "unknown".into(),
            |s| {
                if s > 0.0 && s < 0.001 {
                    "<0.1% of RSS".to_string()
                } else {
                    format!("{:.1}% of RSS", s * 100.0)
                }
            },
        ),
    ));
    write_rows(out, &rows)?;
    if let Some(h) = d.hint {
        writeln!(out, "hint: {h}")?;
    }
    Ok(())
}
