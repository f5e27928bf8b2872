//! The index cache (`DUMP.hsidx`, see `src/index/`) end to end: every analysis command
//! prints the same bytes cold (computing and saving the index), warm (mapping it) and
//! with `--no-cache`; where the index is written (beside the dump, else the private
//! cache directory) and when not (`--no-cache`, `HEAPSNAP_NO_CACHE`, small dumps); a
//! damaged, truncated, foreign-key or stale index, or one forged under the user's own key
//! with arrays out of range, is recomputed and rewritten, never trusted and never a
//! panic; and the index does not depend on `--threads`.
//!
//! Every command runs with its own `XDG_CACHE_HOME` (and `HOME`) in the test's temporary
//! directory, `HEAPSNAP_INDEX_MIN_OBJECTS=0` (unless the test is about the threshold)
//! and `HEAPSNAP_TIMINGS=1`: the `timing index.load` / `timing index.save` lines on stderr
//! tell a warm run (a load attempt, no save) from a cold one (a load attempt, then a
//! save), and `timing resolving references` tells that the graph was computed.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use heapsnap::content::{Edge, Object, Root, SnapshotContent, Type, Value};
use heapsnap::format::object_flags::{GC_TRACKED, POSITIONAL_EDGES, REFCOUNT_UNKNOWN};
use heapsnap::format::type_flags::{GC_TYPE, HAS_FINALIZER, HEAP_TYPE};
use heapsnap::format::{root_kind, LABEL_KEY_BIT};
use heapsnap::{Snapshot, Verify};
use hmac::{KeyInit, Mac};

use crate::util::Rng;

// ---------------------------------------------------------------------------------------
// A private world per test, and running the binary in it
// ---------------------------------------------------------------------------------------

/// A test's temporary directory: `cache` is its `XDG_CACHE_HOME`, `dumps` holds its dumps.
struct World {
    _root: tempfile::TempDir,
    home: PathBuf,
    cache: PathBuf,
    dumps: PathBuf,
}

/// What one successful run printed, and what its stderr timings say it did.
#[derive(Debug)]
struct Run {
    stdout: Vec<u8>,
    stderr: String,
    /// `timing index.load` lines: analyses that looked for an index.
    tried: usize,
    /// `timing index.save` lines: analyses that found none valid and saved one.
    saved: usize,
    /// The object graph was computed (not mapped from an index).
    computed: bool,
}

impl Run {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

impl World {
    fn new() -> World {
        let root = tempfile::tempdir().unwrap();
        let home = root.path().join("home");
        let cache = root.path().join("cache");
        let dumps = root.path().join("dumps");
        std::fs::create_dir(&home).unwrap();
        std::fs::create_dir(&dumps).unwrap();
        World {
            _root: root,
            home,
            cache,
            dumps,
        }
    }

    /// The binary with this world's environment.
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::cargo_bin("heapsnap").unwrap();
        c.args(args)
            .env("XDG_CACHE_HOME", &self.cache)
            .env("HOME", &self.home)
            .env("HEAPSNAP_INDEX_MIN_OBJECTS", "0")
            .env("HEAPSNAP_TIMINGS", "1")
            .env_remove("HEAPSNAP_NO_CACHE")
            .current_dir(&self.dumps);
        c
    }

    /// Runs `args` with extra environment (`None` removes a variable); it must succeed
    /// without a panic, and print nothing on stderr but timings (and, if `warnings`,
    /// `heapsnap: warning:` lines).
    fn run_env(&self, args: &[&str], env: &[(&str, Option<&str>)], warnings: bool) -> Run {
        let mut c = self.command(args);
        for (k, v) in env {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        let out = c.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!stderr.contains("panicked"), "{args:?} {env:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?} {env:?}: {stderr}");
        for line in stderr.lines() {
            assert!(
                line.starts_with("timing ")
                    || (warnings && line.starts_with("heapsnap: warning: ")),
                "{args:?} {env:?}: unexpected stderr line {line:?}"
            );
        }
        let count = |p: &str| stderr.lines().filter(|l| l.starts_with(p)).count();
        Run {
            stdout: out.stdout,
            tried: count("timing index.load: "),
            saved: count("timing index.save: "),
            computed: stderr
                .lines()
                .any(|l| l.starts_with("timing resolving references: ")),
            stderr,
        }
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[], false)
    }

    /// Runs `args` with `--no-cache`: nothing looked up, nothing saved.
    fn fresh(&self, args: &[&str]) -> Run {
        let r = self.run(&[&["--no-cache"][..], args].concat());
        assert_eq!((r.tried, r.saved), (0, 0), "--no-cache {args:?}: {r:?}");
        assert!(r.computed, "--no-cache {args:?}");
        r
    }

    /// Runs `args` expecting it to find no valid index for its `k` analyses and save.
    fn cold(&self, args: &[&str], k: usize) -> Run {
        let r = self.run(args);
        assert_eq!((r.tried, r.saved), (k, k), "cold {args:?}: {}", r.stderr);
        assert!(r.computed, "cold {args:?}");
        r
    }

    /// Runs `args`, a command that needs no dominators ([`saves_index`] false), expecting
    /// it to find no valid index for its `k` analyses, compute what it needs, and save
    /// nothing.
    fn cold_unsaved(&self, args: &[&str], k: usize) -> Run {
        let r = self.run(args);
        assert_eq!((r.tried, r.saved), (k, 0), "cold {args:?}: {}", r.stderr);
        assert!(r.computed, "cold {args:?}");
        assert!(
            !r.stderr
                .lines()
                .any(|l| l.starts_with("timing dominators and retained sizes: ")),
            "cold {args:?} computed the dominators it does not need: {}",
            r.stderr
        );
        r
    }

    /// Runs `args` expecting it to map valid indexes for its `k` analyses.
    fn warm(&self, args: &[&str], k: usize) -> Run {
        let r = self.run(args);
        assert_eq!((r.tried, r.saved), (k, 0), "warm {args:?}: {}", r.stderr);
        assert!(
            !r.computed,
            "warm {args:?} resolved references: {}",
            r.stderr
        );
        r
    }

    /// Writes a synthetic dump `name`.
    fn synth(&self, name: &str, objects: usize, seed: u64) -> PathBuf {
        let path = self.dumps.join(name);
        let (n, s) = (objects.to_string(), seed.to_string());
        let r = self.run(&[
            "synth",
            "--objects",
            &n,
            "--seed",
            &s,
            "-o",
            path.to_str().unwrap(),
        ]);
        assert_eq!((r.tried, r.saved), (0, 0), "synth analyses nothing");
        path
    }

    /// Writes `c` as dump `name` (checking that it is valid).
    fn write(&self, name: &str, c: &SnapshotContent) -> PathBuf {
        let bytes = c.to_bytes().unwrap();
        Snapshot::from_bytes(&bytes, Verify::Full).expect("the test dump is valid");
        let path = self.dumps.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// The index files in the cache directory.
    fn cached_indexes(&self) -> Vec<PathBuf> {
        let dir = self.cache.join("heapsnap").join("index");
        let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|rd| rd.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Every file whose name ends in `.hsidx` anywhere in the world (temporary files
    /// included), relative to the world.
    fn all_index_files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            let Ok(rd) = std::fs::read_dir(dir) else {
                return;
            };
            for e in rd {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.to_string_lossy().contains(".hsidx") {
                    out.push(p);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.dumps, &mut out);
        walk(&self.cache, &mut out);
        out.sort();
        out
    }

    fn key(&self) -> Vec<u8> {
        let k = std::fs::read(self.cache.join("heapsnap").join("index.key")).unwrap();
        assert_eq!(k.len(), 32);
        k
    }
}

/// `DUMP.hsidx`.
fn beside(dump: &Path) -> PathBuf {
    let mut s = dump.as_os_str().to_owned();
    s.push(".hsidx");
    PathBuf::from(s)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A file's bytes, modification time and inode: a rewrite (by rename) changes the
/// inode even within one tick of the clock.
fn stamp(p: &Path) -> (Vec<u8>, std::time::SystemTime, u64) {
    let m = std::fs::metadata(p).unwrap();
    (std::fs::read(p).unwrap(), m.modified().unwrap(), m.ino())
}

fn remove_if_present(p: &Path) {
    match std::fs::remove_file(p) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("remove {}: {e}", p.display()),
    }
}

// ---------------------------------------------------------------------------------------
// The same results with the index as without
// ---------------------------------------------------------------------------------------

/// One command: its arguments, the file it writes (if any), and the dumps it analyses.
struct Case {
    args: Vec<String>,
    output: Option<PathBuf>,
    analysed: Vec<PathBuf>,
}

fn case(args: &[&str], output: Option<&Path>, analysed: &[&Path]) -> Case {
    Case {
        args: args.iter().map(|a| a.to_string()).collect(),
        output: output.map(Path::to_path_buf),
        analysed: analysed.iter().map(|p| p.to_path_buf()).collect(),
    }
}

/// The first line where `a` and `b` differ, for failure messages (outputs can be long).
fn first_difference(a: &[u8], b: &[u8]) -> String {
    let (a, b) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
    let (mut la, mut lb) = (a.lines(), b.lines());
    for line in 1.. {
        match (la.next(), lb.next()) {
            (None, None) => break,
            (x, y) if x != y => return format!("line {line}:\n  {x:?}\n  {y:?}"),
            _ => {}
        }
    }
    format!("same lines, {} vs {} bytes", a.len(), b.len())
}

/// Reads and removes the output file of `c` (empty if it has none).
fn take_output(c: &Case) -> Vec<u8> {
    match &c.output {
        Some(p) => {
            let bytes = std::fs::read(p)
                .unwrap_or_else(|e| panic!("{:?}: output {}: {e}", c.args, p.display()));
            std::fs::remove_file(p).unwrap();
            assert!(!bytes.is_empty(), "{:?}: empty output file", c.args);
            bytes
        }
        None => Vec::new(),
    }
}

/// True if `args` runs a command that, finding no index, computes and saves one: one
/// that needs the dominators. The others (`refs`, `top --by count|size`, `export
/// --format heapsnapshot`) compute only what they need and save nothing (`src/index`).
fn saves_index(args: &[&str]) -> bool {
    let mut rest = args.iter().copied().filter(|a| *a != "--no-cache");
    let command = loop {
        match rest.next() {
            Some("--threads") => {
                rest.next();
            }
            other => break other.unwrap_or_default(),
        }
    };
    let after = |flag: &str| args.windows(2).find(|w| w[0] == flag).map(|w| w[1]);
    match command {
        "refs" => false,
        "top" => !matches!(after("--by"), Some("count" | "size")),
        "export" => after("--format") != Some("heapsnapshot"),
        _ => true,
    }
}

/// Runs `c` cold (no index: it computes and saves one beside each dump it analyses, or,
/// for a command that needs no dominators, computes what it needs and saves nothing; a
/// `top` then saves one), warm (it maps them, rewriting nothing), with `--no-cache` and
/// with `HEAPSNAP_NO_CACHE=1`: the four print the same bytes and write the same file.
fn check_case(w: &World, c: &Case) {
    let args: Vec<&str> = c.args.iter().map(String::as_str).collect();
    let k = c.analysed.len();
    for d in &c.analysed {
        remove_if_present(&beside(d));
    }
    for p in w.cached_indexes() {
        std::fs::remove_file(p).unwrap();
    }
    let cold = if saves_index(&args) {
        w.cold(&args, k)
    } else {
        let r = w.cold_unsaved(&args, k);
        for d in &c.analysed {
            assert!(!beside(d).exists(), "{args:?} saved an index of {d:?}");
            w.cold(&["top", s(d)], 1);
        }
        r
    };
    let cold_file = take_output(c);
    assert!(
        !cold.stdout.is_empty() || c.output.is_some(),
        "{args:?} printed nothing"
    );
    let stamps: Vec<_> = c
        .analysed
        .iter()
        .map(|d| {
            assert!(beside(d).is_file(), "{args:?}: no index beside {d:?}");
            stamp(&beside(d))
        })
        .collect();

    let warm = w.warm(&args, k);
    assert!(
        warm.stdout == cold.stdout,
        "{args:?}: warm output differs from cold: {}",
        first_difference(&cold.stdout, &warm.stdout)
    );
    assert!(
        take_output(c) == cold_file,
        "{args:?}: warm output file differs"
    );

    let fresh = w.fresh(&args);
    assert!(
        fresh.stdout == cold.stdout,
        "{args:?}: output differs from --no-cache: {}",
        first_difference(&cold.stdout, &fresh.stdout)
    );
    assert!(
        take_output(c) == cold_file,
        "{args:?}: --no-cache output file differs"
    );

    let env = w.run_env(&args, &[("HEAPSNAP_NO_CACHE", Some("1"))], false);
    assert_eq!(
        (env.tried, env.saved),
        (0, 0),
        "HEAPSNAP_NO_CACHE=1 {args:?}"
    );
    assert!(
        env.stdout == cold.stdout,
        "{args:?}: output differs with HEAPSNAP_NO_CACHE=1"
    );
    assert!(
        take_output(c) == cold_file,
        "{args:?}: HEAPSNAP_NO_CACHE=1 output file differs"
    );

    // Neither the warm nor the uncached runs rewrote an index.
    for (d, before) in c.analysed.iter().zip(&stamps) {
        assert!(
            stamp(&beside(d)) == *before,
            "{args:?}: the index of {d:?} was rewritten"
        );
    }
    assert!(
        w.cached_indexes().is_empty(),
        "{args:?}: an index went to the cache directory although the dump's folder is writable"
    );
}

/// The single-dump analysis commands on `d`, with `targets` (`#i` or addresses) and
/// type names for `path`.
fn single_dump_cases(w: &World, d: &Path, targets: &[&str], types: &[&str]) -> Vec<Case> {
    let p = s(d);
    let one = [d];
    let mut v = vec![
        case(&["top", p], None, &one),
        case(&["top", p, "--by", "count"], None, &one),
        case(&["top", p, "--by", "retained"], None, &one),
        case(&["top", p, "--by", "size", "-n", "0", "--json"], None, &one),
        case(&["top", p, "--by", "count", "--json"], None, &one),
        case(&["dominators", p], None, &one),
        case(
            &["dominators", p, "-n", "5", "--depth", "6", "--json"],
            None,
            &one,
        ),
        case(&["cycles", p], None, &one),
        case(&["cycles", p, "--all-edges"], None, &one),
        case(&["cycles", p, "-n", "0", "--json"], None, &one),
        case(
            &["cycles", p, "-n", "0", "--all-edges", "--json"],
            None,
            &one,
        ),
        case(&["export", p, "--format", "csv"], None, &one),
        case(&["export", p, "--format", "jsonl"], None, &one),
        case(&["export", p, "--format", "csv", "--all-edges"], None, &one),
    ];
    let hs = w.dumps.join("out.heapsnapshot");
    v.push(case(
        &["export", p, "--format", "heapsnapshot", "-o", s(&hs)],
        Some(&hs),
        &one,
    ));
    let csv = w.dumps.join("out.csv");
    v.push(case(
        &["export", p, "--format", "csv", "-o", s(&csv), "--json"],
        Some(&csv),
        &one,
    ));
    let html = w.dumps.join("report.html");
    v.push(case(&["report", p, "-o", s(&html)], Some(&html), &one));
    v.push(case(
        &["report", p, "-o", s(&html), "--json"],
        Some(&html),
        &one,
    ));
    for t in targets {
        v.push(case(&["path", p, t], None, &one));
        v.push(case(&["path", p, t, "-k", "5", "--json"], None, &one));
        v.push(case(&["refs", p, t], None, &one));
        v.push(case(&["refs", "--back", p, t], None, &one));
        v.push(case(
            &["refs", p, t, "--depth", "4", "--max-nodes", "300", "--json"],
            None,
            &one,
        ));
        v.push(case(
            &["refs", "--back", p, t, "--format", "dot", "--depth", "2"],
            None,
            &one,
        ));
    }
    for t in types {
        v.push(case(&["path", p, t], None, &one));
        v.push(case(&["path", p, t, "-k", "10", "--json"], None, &one));
    }
    v
}

#[test]
fn every_command_prints_the_same_with_and_without_the_index_on_a_synthetic_dump() {
    let w = World::new();
    let d = w.synth("small.hsnap", 4000, 3);
    for c in single_dump_cases(&w, &d, &["#0", "#1234", "#3999"], &["dict", "list"]) {
        check_case(&w, &c);
    }
}

#[test]
fn every_command_prints_the_same_with_and_without_the_index_on_another_synthetic_dump() {
    let w = World::new();
    let d = w.synth("larger.hsnap", 9000, 11);
    for c in single_dump_cases(&w, &d, &["#7", "#8001"], &["tuple", "function"]) {
        check_case(&w, &c);
    }
}

#[test]
fn every_command_prints_the_same_with_and_without_the_index_on_a_heap_with_garbage() {
    let w = World::new();
    let c = garbage_content(0x1dea_5eed, 3000);
    let d = w.write("garbage.hsnap", &c);
    // The dump has what this test is about: unreachable objects, cycles among them,
    // dangling edges, finalizers.
    let top = w.fresh(&["top", s(&d), "--json"]).text();
    let v: serde_json::Value = serde_json::from_str(&top).unwrap();
    let sum = &v["data"]["summary"];
    assert!(sum["unreachable_objects"].as_u64().unwrap() > 500, "{sum}");
    assert!(sum["dangling_edges"].as_u64().unwrap() > 0, "{sum}");
    let cyc = w.fresh(&["cycles", s(&d), "--json", "-n", "0"]).text();
    assert!(
        cyc.contains("\"reachable_cycles\":0"),
        "no unreachable cycle group: {cyc}"
    );
    assert!(
        cyc.contains("\"finalizer\":true"),
        "no cycle with a finalizer: {cyc}"
    );
    // Targets: a type object, live objects, a garbage object on a cycle, an object
    // with a dangling edge.
    let garbage = format!("#{}", c.objects.len() - 3);
    let live = format!("#{}", c.objects.len() / 3);
    let dangling = c
        .objects
        .iter()
        .position(|o| o.edges.iter().any(|e| e.target >= DANGLING))
        .map(|i| format!("#{i}"))
        .unwrap();
    let immortal = c
        .objects
        .iter()
        .find(|o| o.flags & REFCOUNT_UNKNOWN != 0)
        .map(|o| format!("{:#x}", o.address))
        .unwrap();
    let targets = ["#0", "#9", &live, &garbage, &dangling, &immortal];
    for case in single_dump_cases(&w, &d, &targets, &["Ring", "Node", "module"]) {
        check_case(&w, &case);
    }
}

#[test]
fn diff_and_report_baseline_print_the_same_with_and_without_the_index() {
    let w = World::new();
    let a = w.synth("a.hsnap", 3000, 21);
    let b = w.synth("b.hsnap", 5000, 22);
    let c = w.synth("c.hsnap", 6000, 23);
    let g = w.write("g.hsnap", &garbage_content(99, 2500));
    let html = w.dumps.join("growth.html");
    let cases = [
        case(&["diff", s(&a), s(&b)], None, &[&a, &b]),
        case(&["diff", "--json", s(&a), s(&b)], None, &[&a, &b]),
        case(&["diff", "-n", "0", s(&b), s(&a)], None, &[&b, &a]),
        case(&["diff", s(&g), s(&c)], None, &[&g, &c]),
        case(
            &["diff", "--json", "-n", "0", s(&c), s(&g)],
            None,
            &[&c, &g],
        ),
        // Three dumps: the first and the last are analysed.
        case(&["diff", s(&a), s(&b), s(&c)], None, &[&a, &c]),
        case(&["diff", "--json", s(&a), s(&b), s(&c)], None, &[&a, &c]),
        // The baseline of a report is not analysed.
        case(
            &["report", s(&c), "--baseline", s(&a), "-o", s(&html)],
            Some(&html),
            &[&c],
        ),
    ];
    for c in &cases {
        check_case(&w, c);
    }
}

#[test]
fn a_packed_dump_gets_an_index_beside_it_and_the_same_results() {
    let w = World::new();
    let d = w.synth("plain.hsnap", 4000, 5);
    let packed = w.dumps.join("packed.hsnapz");
    w.run(&["pack", s(&d), "-o", s(&packed)]);
    let p = s(&packed);
    for args in [
        &["top", p][..],
        &["dominators", p, "--json"],
        &["cycles", p],
        &["path", p, "#100"],
        &["refs", "--back", p, "#100"],
        &["export", p, "--format", "jsonl"],
    ] {
        check_case(&w, &case(args, None, &[&packed]));
        // The same output as the plain dump's.
        assert!(
            w.fresh(args).stdout == w.fresh(&replace(args, p, s(&d))).stdout,
            "{args:?}: packed and plain differ"
        );
    }
    assert!(!beside(&d).exists(), "the plain dump was not analysed");
}

fn replace<'a>(args: &[&'a str], from: &str, to: &'a str) -> Vec<&'a str> {
    args.iter()
        .map(|&a| if a == from { to } else { a })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Where the index goes, and when there is none
// ---------------------------------------------------------------------------------------

#[test]
fn the_index_is_written_beside_the_dump_once_and_left_alone_by_warm_runs() {
    let w = World::new();
    let d = w.synth("d.hsnap", 3000, 4);
    let ix = beside(&d);
    assert!(!ix.exists());
    let cold = w.cold(&["top", s(&d)], 1);
    assert!(ix.is_file(), "no {}", ix.display());
    // Exactly one index, private, nothing left behind (no temporary file, nothing in
    // the cache directory but the key).
    assert_eq!(w.all_index_files(), vec![ix.clone()]);
    let meta = std::fs::metadata(&ix).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let key = w.cache.join("heapsnap").join("index.key");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let bytes = std::fs::read(&ix).unwrap();
    assert_eq!(&bytes[..8], b"HSNPIDX\n");
    let before = stamp(&ix);
    let key_before = std::fs::read(&key).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    // Every command maps the same index; none rewrites it.
    let p = s(&d);
    for args in [
        &["top", p][..],
        &["top", p, "--by", "count"],
        &["dominators", p],
        &["cycles", p, "--all-edges"],
        &["path", p, "dict"],
        &["refs", p, "#5"],
        &["export", p, "--format", "csv"],
    ] {
        w.warm(args, 1);
        assert!(stamp(&ix) == before, "{args:?} rewrote the index");
    }
    assert_eq!(w.warm(&["top", p], 1).stdout, cold.stdout);
    // A relative path (the commands run in the dumps' folder) finds the same index.
    assert_eq!(w.warm(&["top", "d.hsnap"], 1).stdout, cold.stdout);
    assert!(stamp(&ix) == before, "a relative path rewrote the index");
    assert_eq!(std::fs::read(&key).unwrap(), key_before, "the key changed");
    assert_eq!(w.all_index_files(), vec![ix]);
}

#[test]
fn no_cache_flag_and_environment_variable_write_no_index() {
    let w = World::new();
    let d = w.synth("d.hsnap", 3000, 6);
    let p = s(&d);
    let cmds: [&[&str]; 4] = [
        &["top", p],
        &["dominators", p],
        &["cycles", p],
        &["export", p, "--format", "csv"],
    ];
    for args in cmds {
        w.fresh(args);
        // The flag after the command too.
        let late = w.run(&[args, &["--no-cache"][..]].concat());
        assert_eq!((late.tried, late.saved), (0, 0), "{args:?} --no-cache");
        for v in ["1", "yes", "true"] {
            let r = w.run_env(args, &[("HEAPSNAP_NO_CACHE", Some(v))], false);
            assert_eq!((r.tried, r.saved), (0, 0), "HEAPSNAP_NO_CACHE={v} {args:?}");
        }
    }
    assert!(w.all_index_files().is_empty(), "{:?}", w.all_index_files());
    // `HEAPSNAP_NO_CACHE=0` (or empty) leaves the cache on.
    w.run_env(&["top", p], &[("HEAPSNAP_NO_CACHE", Some("0"))], false);
    assert!(beside(&d).is_file());
    std::fs::remove_file(beside(&d)).unwrap();
    w.run_env(&["top", p], &[("HEAPSNAP_NO_CACHE", Some(""))], false);
    assert!(beside(&d).is_file());
    // And --no-cache does not read a valid index either: it computes.
    let r = w.fresh(&["top", p]);
    assert!(r.computed);
}

#[test]
fn dumps_below_the_threshold_get_no_index() {
    let w = World::new();
    let d = w.synth("d.hsnap", 3000, 7);
    let p = s(&d);
    let default = [("HEAPSNAP_INDEX_MIN_OBJECTS", None)];
    let expected = w.fresh(&["dominators", p]).stdout;
    for args in [&["top", p][..], &["dominators", p], &["cycles", p]] {
        let r = w.run_env(args, &default, false);
        assert_eq!((r.tried, r.saved), (0, 0), "{args:?}: {}", r.stderr);
    }
    let r = w.run_env(&["dominators", p], &default, false);
    assert_eq!(r.stdout, expected);
    // One object more than the dump holds: no index; exactly as many: an index.
    let r = w.run_env(
        &["top", p],
        &[("HEAPSNAP_INDEX_MIN_OBJECTS", Some("3001"))],
        false,
    );
    assert_eq!((r.tried, r.saved), (0, 0));
    assert!(w.all_index_files().is_empty(), "{:?}", w.all_index_files());
    assert!(!w.cache.join("heapsnap").join("index.key").exists());
    let r = w.run_env(
        &["top", p],
        &[("HEAPSNAP_INDEX_MIN_OBJECTS", Some("3000"))],
        false,
    );
    assert_eq!((r.tried, r.saved), (1, 1));
    assert!(beside(&d).is_file());
    // A valid index is not used for a dump below the threshold either.
    let r = w.run_env(&["dominators", p], &default, false);
    assert_eq!((r.tried, r.saved), (0, 0));
    assert!(r.computed);
    assert_eq!(r.stdout, expected);
}

/// Checks that the index of `d` goes to the cache directory (as `<hex>.hsidx`) and that
/// later runs map it from there; `beside_ok` is false when nothing may appear beside.
fn check_index_in_cache(w: &World, d: &Path, beside_ok: bool) {
    let p = s(d);
    let expected: Vec<Vec<u8>> = [&["top", p][..], &["dominators", p, "--json"]]
        .iter()
        .map(|a| w.fresh(a).stdout)
        .collect();
    let cold = w.cold(&["top", p], 1);
    assert_eq!(cold.stdout, expected[0]);
    let cached = w.cached_indexes();
    assert_eq!(cached.len(), 1, "{cached:?}");
    let name = cached[0].file_name().unwrap().to_str().unwrap();
    let hex = name.strip_suffix(".hsidx").unwrap();
    assert_eq!(hex.len(), 64, "{name}");
    assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()), "{name}");
    assert_eq!(
        std::fs::metadata(&cached[0]).unwrap().permissions().mode() & 0o777,
        0o600
    );
    if !beside_ok {
        assert!(!beside(d).is_file());
    }
    let before = stamp(&cached[0]);
    let warm = w.warm(&["top", p], 1);
    assert_eq!(warm.stdout, expected[0]);
    let warm = w.warm(&["dominators", p, "--json"], 1);
    assert_eq!(warm.stdout, expected[1]);
    assert!(
        stamp(&cached[0]) == before,
        "the cached index was rewritten"
    );
    assert_eq!(w.cached_indexes(), cached);
    // Nothing left behind in the dump's folder.
    let names: Vec<String> = std::fs::read_dir(d.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

#[test]
fn a_read_only_dump_directory_puts_the_index_in_the_cache_directory() {
    let w = World::new();
    let ro = w.dumps.join("ro");
    std::fs::create_dir(&ro).unwrap();
    let d = ro.join("d.hsnap");
    std::fs::copy(w.synth("tmp.hsnap", 3000, 8), &d).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    // Root ignores the mode: find out whether the folder is really read-only.
    let probe = ro.join("probe");
    if std::fs::write(&probe, b"x").is_ok() {
        std::fs::remove_file(&probe).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
        eprintln!(
            "note: a_read_only_dump_directory_puts_the_index_in_the_cache_directory skipped: \
             a 0o555 folder is writable here (running as root?); the fallback is tested by \
             an_unwritable_place_beside_the_dump_puts_the_index_in_the_cache_directory"
        );
        return;
    }
    check_index_in_cache(&w, &d, false);
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The same fallback without relying on file modes (which root ignores): the place
/// beside the dump is taken by a directory, or the dump's name is so long that the
/// index's temporary name does not fit in a file name.
#[test]
fn an_unwritable_place_beside_the_dump_puts_the_index_in_the_cache_directory() {
    let w = World::new();
    let d = w.synth("blocked.hsnap", 3000, 9);
    std::fs::create_dir(beside(&d)).unwrap();
    check_index_in_cache(&w, &d, true);
    assert!(beside(&d).is_dir());

    let w = World::new();
    let long = format!("{}.hsnap", "d".repeat(240));
    let d = w.synth(&long, 3000, 10);
    check_index_in_cache(&w, &d, false);
}

/// An insecure (group/world-writable) cache directory is not used: no key, no index
/// anywhere, a warning, and the right output.
#[test]
fn an_insecure_cache_directory_disables_the_index() {
    let w = World::new();
    let d = w.synth("d.hsnap", 3000, 12);
    let expected = w.fresh(&["dominators", s(&d)]).stdout;
    let dir = w.cache.join("heapsnap");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    for _ in 0..2 {
        let r = w.run_env(&["dominators", s(&d)], &[], true);
        assert_eq!(r.stdout, expected);
        assert!(r.computed);
    }
    assert!(w.all_index_files().is_empty(), "{:?}", w.all_index_files());
    assert!(!dir.join("index.key").exists());
    // A key of the wrong length is not used either.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(dir.join("index.key"), [7u8; 16]).unwrap();
    let r = w.run_env(&["dominators", s(&d)], &[], true);
    assert_eq!(r.stdout, expected);
    assert!(w.all_index_files().is_empty(), "{:?}", w.all_index_files());
}

// ---------------------------------------------------------------------------------------
// Damaged, foreign and stale indexes
// ---------------------------------------------------------------------------------------

/// A world with a synthetic dump, its valid index (bytes) and the `--no-cache` output
/// of a few commands.
struct Tamper {
    w: World,
    d: PathBuf,
    good: Vec<u8>,
    cmds: Vec<Vec<String>>,
    expected: Vec<Vec<u8>>,
}

impl Tamper {
    fn new(seed: u64) -> Tamper {
        let w = World::new();
        let d = w.synth("t.hsnap", 5000, seed);
        let p = s(&d);
        let cmds: Vec<Vec<String>> = [
            &["top", p][..],
            &["dominators", p, "--json"],
            &["cycles", p, "-n", "0"],
            &["path", p, "dict"],
            &["refs", "--back", p, "#123"],
            &["export", p, "--format", "csv"],
        ]
        .iter()
        .map(|a| a.iter().map(|x| x.to_string()).collect())
        .collect();
        let expected: Vec<Vec<u8>> = cmds.iter().map(|c| w.fresh(&strs(c)).stdout).collect();
        let cold = w.cold(&strs(&cmds[0]), 1);
        assert_eq!(cold.stdout, expected[0]);
        let good = std::fs::read(beside(&d)).unwrap();
        Tamper {
            w,
            d,
            good,
            cmds,
            expected,
        }
    }

    /// Puts `bad` in place of the index, runs command `i`: it must print exactly the
    /// `--no-cache` output, recompute, and rewrite the index as it was; the next run maps
    /// it.
    fn expect_recovery(&self, bad: &[u8], i: usize, what: &str) {
        assert!(bad != self.good.as_slice(), "{what}: not a change");
        let ix = beside(&self.d);
        std::fs::write(&ix, bad).unwrap();
        let i = i % self.cmds.len();
        let args = strs(&self.cmds[i]);
        let r = self.w.run(&args);
        assert!(
            r.stdout == self.expected[i],
            "{what}: {args:?} differs from --no-cache: {}",
            first_difference(&self.expected[i], &r.stdout)
        );
        // Why the index was not used is told (with timings on), saying where.
        assert!(
            r.stderr.contains("timing index.unused: ") && r.stderr.contains("index "),
            "{what}: {args:?} did not say why: {}",
            r.stderr
        );
        if saves_index(&args) {
            assert_eq!(
                (r.tried, r.saved),
                (1, 1),
                "{what}: {args:?} did not recompute"
            );
        } else {
            // It computed what it needs and left the index alone; a command that needs
            // the dominators rewrites it.
            assert_eq!((r.tried, r.saved), (1, 0), "{what}: {args:?}");
            assert!(r.computed, "{what}: {args:?} did not recompute");
            assert!(std::fs::read(&ix).unwrap() == bad, "{what}: {args:?} wrote");
            self.w.cold(&strs(&self.cmds[0]), 1);
        }
        assert!(
            std::fs::read(&ix).unwrap() == self.good,
            "{what}: the index was not rewritten as it was"
        );
        let j = (i + 1) % self.cmds.len();
        let next = self.w.warm(&strs(&self.cmds[j]), 1);
        assert!(next.stdout == self.expected[j], "{what}: after the rewrite");
        assert!(self.w.cached_indexes().is_empty(), "{what}");
    }
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The layout of an index (see `src/index/file.rs`): a 112-byte header (array count at 72,
/// HMAC at 80..112), 32-byte entries (kind, width, offset, len, crc, reserved), arrays.
const HEADER_BYTES: usize = 112;
const ENTRY_BYTES: usize = 32;

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// An index taken apart, to damage or forge.
#[derive(Clone)]
struct Ix(Vec<u8>);

#[derive(Clone, Copy, Debug)]
struct Entry {
    at: usize,
    kind: u32,
    width: u64,
    offset: u64,
    len: u64,
}

impl Ix {
    fn count(&self) -> usize {
        u32_at(&self.0, 72) as usize
    }

    fn entries(&self) -> Vec<Entry> {
        (0..self.count())
            .map(|i| {
                let at = HEADER_BYTES + ENTRY_BYTES * i;
                Entry {
                    at,
                    kind: u32_at(&self.0, at),
                    width: u64::from(u32_at(&self.0, at + 4)),
                    offset: u64_at(&self.0, at + 8),
                    len: u64_at(&self.0, at + 16),
                }
            })
            .collect()
    }

    fn entry(&self, kind: u32) -> Entry {
        *self
            .entries()
            .iter()
            .find(|e| e.kind == kind)
            .unwrap_or_else(|| panic!("no array {kind}"))
    }

    fn end_of_table(&self) -> usize {
        HEADER_BYTES + ENTRY_BYTES * self.count()
    }

    fn get_u32(&self, kind: u32, i: usize) -> u32 {
        let e = self.entry(kind);
        assert_eq!(e.width, 4);
        assert!((i as u64) < e.len);
        u32_at(&self.0, e.offset as usize + 4 * i)
    }

    fn get_u64(&self, kind: u32, i: usize) -> u64 {
        let e = self.entry(kind);
        assert_eq!(e.width, 8);
        assert!((i as u64) < e.len);
        u64_at(&self.0, e.offset as usize + 8 * i)
    }

    fn set_u32(&mut self, kind: u32, i: usize, v: u32) {
        let e = self.entry(kind);
        assert_eq!(e.width, 4);
        assert!((i as u64) < e.len);
        let at = e.offset as usize + 4 * i;
        self.0[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    fn set_u64(&mut self, kind: u32, i: usize, v: u64) {
        let e = self.entry(kind);
        assert_eq!(e.width, 8);
        assert!((i as u64) < e.len);
        let at = e.offset as usize + 8 * i;
        self.0[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }

    /// Sets a field of an entry: 4 width, 8 offset, 16 len (u32 width, u64 others).
    fn set_entry(&mut self, kind: u32, field: usize, v: u64) {
        let at = self.entry(kind).at + field;
        if field == 4 {
            self.0[at..at + 4].copy_from_slice(&(v as u32).to_le_bytes());
        } else {
            self.0[at..at + 8].copy_from_slice(&v.to_le_bytes());
        }
    }

    /// Recomputes every array's CRC-32 (where the entry's range is in the file) and the
    /// HMAC under `key`: what `heapsnap` itself would have written.
    fn reseal(&mut self, key: &[u8]) {
        for e in self.entries() {
            let bytes = e
                .len
                .checked_mul(e.width)
                .and_then(|b| e.offset.checked_add(b))
                .and_then(|end| self.0.get(e.offset as usize..end as usize));
            if let Some(b) = bytes {
                let crc = crc32fast::hash(b);
                self.0[e.at + 24..e.at + 28].copy_from_slice(&crc.to_le_bytes());
            }
        }
        let end = self.end_of_table();
        let mut header = self.0[..HEADER_BYTES].to_vec();
        header[80..112].fill(0);
        let mut m = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).unwrap();
        m.update(&header);
        m.update(&self.0[HEADER_BYTES..end]);
        let mac: [u8; 32] = m.finalize().into_bytes().into();
        self.0[80..112].copy_from_slice(&mac);
    }
}

/// Array kinds of the index (see `src/index/file.rs`).
mod kind {
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
    pub const TYPE_STATS: u32 = 41;
    pub const CYCLE_GROUPS: u32 = 50;
    pub const CYCLE_TYPES: u32 = 51;
    pub const CYCLE_EXAMPLES: u32 = 52;
    /// The arrays these tests forge (an index may hold more: kinds it does not know a
    /// reader ignores).
    pub const ALL: [u32; 19] = [
        FWD,
        ROOTS,
        TYPE_OBJECTS,
        REV_START,
        REV_SOURCES,
        IDOM,
        RETAINED,
        TREE_PRE,
        TREE_SIZE,
        TREE_ORDER,
        COMPONENT,
        COMPONENT_SIZE,
        COMPONENT_CYCLIC,
        DEPTH,
        VIA,
        TYPE_STATS,
        CYCLE_GROUPS,
        CYCLE_TYPES,
        CYCLE_EXAMPLES,
    ];
}

#[test]
fn the_index_layout_is_as_these_tests_expect() {
    // The damage and forgery tests below rely on this layout: check it, so that they
    // cannot pass by damaging the wrong bytes.
    let t = Tamper::new(30);
    let ix = Ix(t.good.clone());
    assert_eq!(&ix.0[..8], b"HSNPIDX\n");
    assert_eq!(u64_at(&ix.0, 48), 5000, "objects");
    let kinds: Vec<u32> = ix.entries().iter().map(|e| e.kind).collect();
    for k in kind::ALL {
        assert_eq!(
            kinds.iter().filter(|&&x| x == k).count(),
            1,
            "array {k} in {kinds:?}"
        );
    }
    let mut end = ix.end_of_table() as u64;
    for e in ix.entries() {
        assert!(e.offset >= end && e.offset % 64 == 0, "{e:?}");
        end = e.offset + e.len * e.width;
        assert!(end <= ix.0.len() as u64, "{e:?}");
    }
    assert_eq!(ix.entry(kind::IDOM).len, 5000);
    assert_eq!(ix.entry(kind::RETAINED).len, 5001);
    // Resealing an unchanged index under the user's key gives the same bytes.
    let mut again = ix.clone();
    again.0[80..112].fill(0);
    for e in ix.entries() {
        again.0[e.at + 24..e.at + 28].fill(0);
    }
    again.reseal(&t.w.key());
    assert!(again.0 == t.good, "the forger does not reproduce the index");
}

#[test]
fn a_flipped_byte_in_any_array_is_detected_and_the_index_rewritten() {
    let t = Tamper::new(31);
    let ix = Ix(t.good.clone());
    let mut tested = 0;
    for (i, e) in ix.entries().iter().enumerate() {
        let bytes = (e.len * e.width) as usize;
        if bytes == 0 {
            continue;
        }
        for at in [
            e.offset as usize,
            e.offset as usize + bytes / 2,
            e.offset as usize + bytes - 1,
        ] {
            let mut bad = t.good.clone();
            bad[at] ^= 0x01 << (at % 8);
            t.expect_recovery(&bad, i + at, &format!("array {} byte {at}", e.kind));
            tested += 1;
        }
    }
    assert!(tested >= 3 * kind::ALL.len(), "{tested}");
    // The middle of the file, whatever is there.
    let mut bad = t.good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0xff;
    if Ix(bad.clone())
        .entries()
        .iter()
        .any(|e| (e.offset..e.offset + e.len * e.width).contains(&(mid as u64)))
    {
        t.expect_recovery(&bad, 0, "middle byte");
    }
}

#[test]
fn a_truncated_or_extended_index_is_detected_and_rewritten() {
    let t = Tamper::new(32);
    let n = t.good.len();
    let end = Ix(t.good.clone()).end_of_table();
    for (i, len) in [
        0,
        1,
        8,
        111,
        112,
        end - 1,
        end,
        end + 1,
        n / 2,
        n - 64,
        n - 1,
    ]
    .into_iter()
    .enumerate()
    {
        t.expect_recovery(&t.good[..len], i, &format!("truncated to {len} of {n}"));
    }
    // Bytes appended or the last array's padding changed are outside every array: the
    // index stays valid and gives the same output.
    let mut longer = t.good.clone();
    longer.extend_from_slice(&[0xee; 100]);
    std::fs::write(beside(&t.d), &longer).unwrap();
    for (i, c) in t.cmds.iter().enumerate() {
        let r = t.w.warm(&strs(c), 1);
        assert!(r.stdout == t.expected[i], "{c:?} with bytes appended");
    }
}

#[test]
fn a_flipped_byte_in_the_header_or_table_is_detected_and_rewritten() {
    let t = Tamper::new(33);
    let ix = Ix(t.good.clone());
    // One byte of each header field: magic, version, analysis version, dump identity,
    // objects, edges, dangling, array count, reserved, HMAC.
    let mut spots = vec![0, 7, 8, 12, 16, 47, 48, 56, 64, 72, 75, 76, 80, 111];
    // And of each field of a few entries: kind, width, offset, len, crc, reserved.
    for e in ix.entries().iter().step_by(6) {
        spots.extend([0, 4, 8, 15, 16, 24, 28].map(|f| e.at + f));
    }
    for (i, at) in spots.into_iter().enumerate() {
        let bit = if i % 2 == 0 { 0x01u8 } else { 0x80 };
        let mut bad = t.good.clone();
        bad[at] ^= bit;
        t.expect_recovery(&bad, i, &format!("header/table byte {at} ^ {bit:#x}"));
    }
}

#[test]
fn random_bytes_of_the_same_length_are_not_an_index() {
    let t = Tamper::new(34);
    let mut rng = Rng(0xbad_1dea);
    for i in 0..3 {
        let mut bad: Vec<u8> = (0..t.good.len()).map(|_| rng.next() as u8).collect();
        if i == 1 {
            // With a valid header: the table and the arrays are noise.
            bad[..HEADER_BYTES].copy_from_slice(&t.good[..HEADER_BYTES]);
        }
        if i == 2 {
            // With a valid header and table: the arrays are noise.
            let end = Ix(t.good.clone()).end_of_table();
            bad[..end].copy_from_slice(&t.good[..end]);
        }
        t.expect_recovery(&bad, i, &format!("random bytes {i}"));
    }
    t.expect_recovery(&vec![0u8; t.good.len()], 3, "zeros");
}

#[test]
fn an_index_written_under_another_key_is_not_trusted() {
    let t = Tamper::new(35);
    let other = t.w.home.join("other-cache");
    let env = [("XDG_CACHE_HOME", Some(other.to_str().unwrap()))];
    // The other user's run: the index beside the dump is not valid under its key.
    let r = t.w.run_env(&strs(&t.cmds[1]), &env, false);
    assert_eq!((r.tried, r.saved), (1, 1));
    assert!(r.stdout == t.expected[1]);
    let foreign = std::fs::read(beside(&t.d)).unwrap();
    assert_ne!(
        std::fs::read(other.join("heapsnap").join("index.key")).unwrap(),
        t.w.key()
    );
    // Same arrays, another HMAC.
    assert_eq!(foreign.len(), t.good.len());
    assert!(foreign[..80] == t.good[..80] && foreign[112..] == t.good[112..]);
    assert!(foreign[80..112] != t.good[80..112]);
    for i in 0..t.cmds.len() {
        t.expect_recovery(&foreign, i, "index under another key");
    }
    // In the cache directory (where an index goes when the dump's folder is read-only)
    // the same.
    let blocked = t.w.synth("blocked.hsnap", 3000, 36);
    std::fs::create_dir(beside(&blocked)).unwrap();
    let args = ["dominators", s(&blocked)];
    let expected = t.w.fresh(&args).stdout;
    t.w.run_env(&args, &env, false);
    let theirs = std::fs::read_dir(other.join("heapsnap").join("index"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .next()
        .unwrap();
    let mine = t.w.cache.join("heapsnap").join("index");
    std::fs::create_dir_all(&mine).unwrap();
    let planted = mine.join(theirs.file_name().unwrap());
    std::fs::copy(&theirs, &planted).unwrap();
    let r = t.w.run(&args);
    assert_eq!((r.tried, r.saved), (1, 1));
    assert_eq!(r.stdout, expected);
    assert!(std::fs::read(&planted).unwrap() != std::fs::read(&theirs).unwrap());
    assert_eq!(t.w.warm(&args, 1).stdout, expected);
}

#[test]
fn the_index_of_another_dump_is_not_used() {
    let t = Tamper::new(37);
    let other = t.w.synth("other.hsnap", 5000, 38);
    t.w.cold(&["top", s(&other)], 1);
    let theirs = std::fs::read(beside(&other)).unwrap();
    assert_ne!(theirs, t.good);
    for i in 0..t.cmds.len() {
        t.expect_recovery(&theirs, i, "index of another dump with as many objects");
    }
    // A forged copy of the other dump's index with this dump's identity but the other
    // dump's counts, resealed with the right key, is rejected on the counts.
    let mut forged = Ix(theirs.clone());
    forged.0[16..48].copy_from_slice(&t.good[16..48]);
    let edges_differ = forged.0[56..64] != t.good[56..64];
    forged.reseal(&t.w.key());
    if edges_differ {
        t.expect_recovery(&forged.0, 0, "another dump's arrays under this identity");
    }
}

#[test]
fn an_overwritten_dump_is_analysed_afresh() {
    let w = World::new();
    let d = w.dumps.join("d.hsnap");
    let a = std::fs::read(w.synth("a.tmp", 5000, 40)).unwrap();
    let b = std::fs::read(w.synth("b.tmp", 5000, 41)).unwrap();
    let c = std::fs::read(w.synth("c.tmp", 7000, 42)).unwrap();
    assert_ne!(a, b);
    let p = s(&d);
    let cmds: [&[&str]; 5] = [
        &["top", p],
        &["dominators", p, "--json"],
        &["cycles", p],
        &["path", p, "#100"],
        &["export", p, "--format", "jsonl"],
    ];
    let mut seen: Vec<Vec<Vec<u8>>> = Vec::new();
    for (bytes, what) in [
        (&a, "A"),
        (&b, "B (same object count)"),
        (&c, "C"),
        (&a, "A again"),
    ] {
        std::fs::write(&d, bytes).unwrap(); // in place: same inode, same name
        let expected: Vec<Vec<u8>> = cmds.iter().map(|a| w.fresh(a).stdout).collect();
        let r = w.run(cmds[0]);
        assert_eq!(
            (r.tried, r.saved),
            (1, 1),
            "{what}: the stale index was used"
        );
        assert!(r.stdout == expected[0], "{what}: {:?}", cmds[0]);
        for (args, e) in cmds.iter().zip(&expected).skip(1) {
            let r = w.warm(args, 1);
            assert!(r.stdout == *e, "{what}: {args:?}");
        }
        seen.push(expected);
    }
    assert!(seen[0] != seen[1] && seen[1] != seen[2], "the dumps differ");
    assert!(seen[0] == seen[3]);
    // Replaced by rename, as a dumper writing a new file would.
    let tmp = w.dumps.join("new.tmp");
    std::fs::write(&tmp, &b).unwrap();
    std::fs::rename(&tmp, &d).unwrap();
    let r = w.run(cmds[1]);
    assert_eq!((r.tried, r.saved), (1, 1));
    assert!(r.stdout == seen[1][1]);
}

/// `info` reads the resolved graph from a valid index but never writes one: its output is
/// the same without an index, with a valid one, with a damaged one and with
/// `--no-cache`; `check` never touches the index either.
#[test]
fn info_is_the_same_with_and_without_the_index() {
    let w = World::new();
    let g = w.write("g.hsnap", &garbage_content(70, 2500));
    let d = w.synth("d.hsnap", 5000, 71);
    for dump in [&g, &d] {
        let p = s(dump);
        let args: [&[&str]; 2] = [&["info", p], &["info", "--json", p]];
        let nocache = |a: &[&str]| w.run(&[&["--no-cache"][..], a].concat()).stdout;
        let expected: Vec<Vec<u8>> = args.iter().map(|a| nocache(a)).collect();
        // Whether `info` resolved the references itself (`timing graph.table`).
        let resolved = |r: &Run| r.stderr.contains("timing graph.table: ");
        for (a, e) in args.iter().zip(&expected) {
            let r = w.run(a);
            assert_eq!((r.tried, r.saved), (0, 0), "{a:?}");
            assert!(r.stdout == *e, "{a:?} without an index");
            assert!(resolved(&r), "{a:?}: {}", r.stderr);
            w.run(&["check", p]);
            assert!(!beside(dump).exists(), "{a:?} wrote an index");
        }
        w.cold(&["top", p], 1);
        let good = stamp(&beside(dump));
        for (a, e) in args.iter().zip(&expected) {
            let r = w.run(a);
            assert!(r.stdout == *e, "{a:?} with the index");
            assert!(!resolved(&r), "{a:?} did not use the index: {}", r.stderr);
            assert!(nocache(a) == *e, "{a:?} --no-cache");
        }
        let mut bad = good.0.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0x10;
        std::fs::write(beside(dump), &bad).unwrap();
        for (a, e) in args.iter().zip(&expected) {
            let r = w.run(a);
            assert!(r.stdout == *e, "{a:?} with a damaged index");
            assert!(resolved(&r), "{a:?} used a damaged index");
        }
        assert!(
            std::fs::read(beside(dump)).unwrap() == bad,
            "info rewrote the index"
        );
        std::fs::write(beside(dump), &good.0).unwrap();
        w.run(&["check", p]);
        assert!(std::fs::read(beside(dump)).unwrap() == good.0);
    }
}

#[test]
fn a_dump_copied_with_its_index_keeps_using_it() {
    // The index is tied to the dump's content, not its name.
    let w = World::new();
    let d = w.synth("d.hsnap", 4000, 43);
    let args = ["dominators", s(&d)];
    let cold = w.cold(&args, 1);
    let copy = w.dumps.join("copy.hsnap");
    std::fs::copy(&d, &copy).unwrap();
    std::fs::copy(beside(&d), beside(&copy)).unwrap();
    let r = w.warm(&["dominators", s(&copy)], 1);
    assert_eq!(r.stdout, cold.stdout);
}

/// Two processes analysing the same dump at once both print the right output and leave
/// one valid index.
#[test]
fn concurrent_cold_runs_leave_one_valid_index() {
    let w = World::new();
    let d = w.synth("d.hsnap", 8000, 44);
    let p = s(&d);
    let args = ["dominators", p, "--json"];
    let expected = w.fresh(&args).stdout;
    for _ in 0..3 {
        remove_if_present(&beside(&d));
        let children: Vec<_> = (0..4)
            .map(|_| {
                let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("heapsnap"));
                c.args(args)
                    .env("XDG_CACHE_HOME", &w.cache)
                    .env("HOME", &w.home)
                    .env("HEAPSNAP_INDEX_MIN_OBJECTS", "0")
                    .env_remove("HEAPSNAP_NO_CACHE")
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped());
                c.spawn().unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(0), "{err}");
            assert!(err.is_empty(), "{err}");
            assert!(out.stdout == expected);
        }
        assert_eq!(w.all_index_files(), vec![beside(&d)]);
        assert_eq!(w.warm(&args, 1).stdout, expected);
    }
}

/// `diff D D` analyses the same dump twice at once, in one process: both analyses save
/// its index.
#[test]
fn diff_of_a_dump_with_itself_saves_its_index_quietly() {
    let w = World::new();
    let d = w.synth("d.hsnap", 20_000, 45);
    let args = ["diff", s(&d), s(&d)];
    let expected = w.fresh(&args).stdout;
    for round in 0..60 {
        remove_if_present(&beside(&d));
        for p in w.cached_indexes() {
            std::fs::remove_file(p).unwrap();
        }
        // No warning (the harness fails on any stderr line but timings), right output.
        let r = w.run(&args);
        assert!(r.stdout == expected, "round {round}");
        assert!(
            beside(&d).is_file() && w.cached_indexes().is_empty(),
            "round {round}: index files {:?}",
            w.all_index_files()
        );
        assert_eq!(w.warm(&args, 2).stdout, expected);
    }
}

// ---------------------------------------------------------------------------------------
// Forged indexes (valid HMAC and CRCs, under the user's own key): the range checks
// ---------------------------------------------------------------------------------------

/// Forges the index of the tamper world with `f`, resealed under the user's key: commands
/// `cmds` must reject it (recompute, print the `--no-cache` output, rewrite it).
fn expect_forgery_rejected(t: &Tamper, what: &str, cmds: &[usize], f: impl Fn(&mut Ix)) {
    let key = t.w.key();
    for &i in cmds {
        let mut ix = Ix(t.good.clone());
        f(&mut ix);
        ix.reseal(&key);
        t.expect_recovery(&ix.0, i, what);
    }
}

#[test]
fn forged_arrays_out_of_range_are_rejected() {
    let t = Tamper::new(50);
    let good = Ix(t.good.clone());
    let n = 5000u32;
    let edges = good.entry(kind::FWD).len;
    let types = good.entry(kind::TYPE_OBJECTS).len;
    let components = good.entry(kind::COMPONENT_SIZE).len;
    let reach = good.entry(kind::TREE_ORDER).len;
    assert!(reach > 10 && good.entry(kind::ROOTS).len >= 2);
    // The first cycle group has two types or more and its example two members or more
    // (the ends of its runs are 2+).
    assert!(good.entry(kind::CYCLE_GROUPS).len >= 9);
    assert!(good.get_u64(kind::CYCLE_GROUPS, 7) >= 2 && good.get_u64(kind::CYCLE_GROUPS, 8) >= 2);
    let a_reachable = good.get_u32(kind::TREE_ORDER, reach as usize / 2) as usize;
    let a_reached = (0..n as usize)
        .find(|&v| good.get_u64(kind::VIA, v) != u64::MAX)
        .unwrap();

    type Forgery = (&'static str, Box<dyn Fn(&mut Ix)>);
    let forgeries: Vec<Forgery> = vec![
        (
            "edge target n",
            Box::new(move |ix| ix.set_u32(kind::FWD, 3, n)),
        ),
        (
            "edge target n+1",
            Box::new(move |ix| ix.set_u32(kind::FWD, edges as usize - 1, n + 1)),
        ),
        ("root n", Box::new(move |ix| ix.set_u32(kind::ROOTS, 0, n))),
        (
            "roots not ascending",
            Box::new(|ix| {
                let (a, b) = (ix.get_u32(kind::ROOTS, 0), ix.get_u32(kind::ROOTS, 1));
                ix.set_u32(kind::ROOTS, 0, b);
                ix.set_u32(kind::ROOTS, 1, a);
            }),
        ),
        (
            "type object n",
            Box::new(move |ix| ix.set_u32(kind::TYPE_OBJECTS, types as usize - 1, n)),
        ),
        (
            "reverse starts not ascending",
            Box::new(|ix| ix.set_u64(kind::REV_START, 7, u64::MAX)),
        ),
        (
            "reverse source n",
            Box::new(move |ix| ix.set_u32(kind::REV_SOURCES, 0, n)),
        ),
        (
            "dominator n+1",
            Box::new(move |ix| ix.set_u32(kind::IDOM, a_reachable, n + 1)),
        ),
        (
            "tree position past the reachable",
            Box::new(move |ix| ix.set_u32(kind::TREE_PRE, a_reachable, reach as u32)),
        ),
        (
            "subtree past the reachable",
            Box::new(move |ix| ix.set_u32(kind::TREE_SIZE, a_reachable, reach as u32 + 1)),
        ),
        (
            "tree order n",
            Box::new(move |ix| ix.set_u32(kind::TREE_ORDER, 0, n)),
        ),
        (
            "component past the sizes",
            Box::new(move |ix| ix.set_u32(kind::COMPONENT, 17, components as u32)),
        ),
        (
            "reaching edge past the edges",
            Box::new(move |ix| ix.set_u64(kind::VIA, a_reached, edges)),
        ),
        // Lengths that do not fit the dump or each other.
        (
            "retained one short",
            Box::new(move |ix| ix.set_entry(kind::RETAINED, 16, u64::from(n))),
        ),
        (
            "idom one short",
            Box::new(move |ix| ix.set_entry(kind::IDOM, 16, u64::from(n) - 1)),
        ),
        (
            "depth one short",
            Box::new(move |ix| ix.set_entry(kind::DEPTH, 16, u64::from(n) - 1)),
        ),
        (
            "edges one short",
            Box::new(move |ix| ix.set_entry(kind::FWD, 16, edges - 1)),
        ),
        (
            "cycle flags one short",
            Box::new(move |ix| ix.set_entry(kind::COMPONENT_CYCLIC, 16, components - 1)),
        ),
        (
            "type stats one row short",
            Box::new(move |ix| ix.set_entry(kind::TYPE_STATS, 16, 5 * (types - 1))),
        ),
        // Cycle groups: nine u64 per group, the last two the ends of its runs of
        // (type, count) pairs and example members.
        (
            "cycle group type past the types",
            // The last pair's type: the greatest of its group, so the order holds.
            Box::new(move |ix| {
                let last = ix.entry(kind::CYCLE_TYPES).len as usize - 2;
                ix.set_u32(kind::CYCLE_TYPES, last, types as u32);
            }),
        ),
        (
            "cycle group type count 0",
            Box::new(|ix| ix.set_u32(kind::CYCLE_TYPES, 1, 0)),
        ),
        (
            "cycle example member n",
            Box::new(move |ix| {
                let last = ix.entry(kind::CYCLE_EXAMPLES).len as usize - 1;
                ix.set_u32(kind::CYCLE_EXAMPLES, last, n);
            }),
        ),
        (
            "cycle example not ascending",
            Box::new(|ix| {
                let (a, b) = (
                    ix.get_u32(kind::CYCLE_EXAMPLES, 0),
                    ix.get_u32(kind::CYCLE_EXAMPLES, 1),
                );
                ix.set_u32(kind::CYCLE_EXAMPLES, 0, b);
                ix.set_u32(kind::CYCLE_EXAMPLES, 1, a);
            }),
        ),
        (
            "cycle group types not ascending",
            Box::new(|ix| {
                let (a, b) = (
                    ix.get_u32(kind::CYCLE_TYPES, 0),
                    ix.get_u32(kind::CYCLE_TYPES, 2),
                );
                ix.set_u32(kind::CYCLE_TYPES, 0, b);
                ix.set_u32(kind::CYCLE_TYPES, 2, a);
            }),
        ),
        (
            "cycle group finalizer flag 2",
            Box::new(|ix| ix.set_u64(kind::CYCLE_GROUPS, 4, 2)),
        ),
        (
            "cycle group types run past the array",
            Box::new(|ix| ix.set_u64(kind::CYCLE_GROUPS, 7, u64::MAX / 2)),
        ),
        (
            "cycle group example run past the array",
            Box::new(|ix| {
                let len = ix.entry(kind::CYCLE_EXAMPLES).len;
                ix.set_u64(kind::CYCLE_GROUPS, 8, len + 1);
            }),
        ),
        (
            "cycle types longer than their runs",
            Box::new(|ix| {
                let e = ix.entry(kind::CYCLE_TYPES).len;
                ix.set_entry(kind::CYCLE_TYPES, 16, e + 2);
            }),
        ),
        (
            "cycle groups one value short",
            Box::new(|ix| {
                let len = ix.entry(kind::CYCLE_GROUPS).len;
                ix.set_entry(kind::CYCLE_GROUPS, 16, len - 1);
            }),
        ),
        (
            "tree order longer than the objects",
            Box::new(move |ix| ix.set_entry(kind::TREE_ORDER, 16, u64::from(n) + 1)),
        ),
        // Widths, offsets and lengths that do not describe an array.
        (
            "idom as 8-byte values",
            Box::new(move |ix| {
                ix.set_entry(kind::IDOM, 4, 8);
                ix.set_entry(kind::IDOM, 16, u64::from(n) / 2);
            }),
        ),
        (
            "edges misaligned",
            Box::new(|ix| {
                let o = ix.entry(kind::FWD).offset;
                ix.set_entry(kind::FWD, 8, o + 1);
            }),
        ),
        (
            "depth past the end",
            Box::new(|ix| {
                let end = ix.0.len() as u64;
                ix.set_entry(kind::DEPTH, 8, end - 64);
            }),
        ),
        (
            "huge length",
            Box::new(|ix| ix.set_entry(kind::VIA, 16, u64::MAX / 4)),
        ),
        (
            "huge offset",
            Box::new(|ix| ix.set_entry(kind::VIA, 8, u64::MAX - 7)),
        ),
        (
            "an array missing",
            Box::new(|ix| {
                let c = ix.count() as u32 - 1;
                ix.0[72..76].copy_from_slice(&c.to_le_bytes());
            }),
        ),
        (
            "another kind in place of one",
            Box::new(|ix| {
                let at = ix.entry(kind::TREE_SIZE).at;
                ix.0[at..at + 4].copy_from_slice(&99u32.to_le_bytes());
            }),
        ),
        (
            "array count too large",
            Box::new(|ix| ix.0[72..76].copy_from_slice(&65u32.to_le_bytes())),
        ),
        (
            "other counts",
            Box::new(|ix| {
                let e = u64_at(&ix.0, 56) + 1;
                ix.0[56..64].copy_from_slice(&e.to_le_bytes());
            }),
        ),
        (
            "other version",
            Box::new(|ix| ix.0[8..12].copy_from_slice(&2u32.to_le_bytes())),
        ),
        (
            "other analysis version",
            Box::new(|ix| ix.0[12..16].copy_from_slice(&0u32.to_le_bytes())),
        ),
    ];
    for (k, (what, f)) in forgeries.iter().enumerate() {
        expect_forgery_rejected(&t, what, &[k, k + 3], f);
    }
}

/// An index under the user's key whose dominator array calls an object of the tree
/// order unreachable (`NONE`, a value the range check admits): `dominators` must not
/// panic.
#[test]
fn a_forged_index_with_an_unreachable_object_in_the_tree_order_does_not_panic() {
    let t = Tamper::new(51);
    let good = Ix(t.good.clone());
    let reach = good.entry(kind::TREE_ORDER).len as usize;
    let v = good.get_u32(kind::TREE_ORDER, reach / 2) as usize;
    expect_forgery_rejected(&t, "idom NONE for a reachable object", &[1], move |ix| {
        ix.set_u32(kind::IDOM, v, u32::MAX)
    });
}

// ---------------------------------------------------------------------------------------
// Threads
// ---------------------------------------------------------------------------------------

#[test]
fn the_index_and_the_results_do_not_depend_on_the_thread_count() {
    let w = World::new();
    let d = w.synth("d.hsnap", 10_000, 60);
    let g = w.write("g.hsnap", &garbage_content(61, 3000));
    let mut index = Vec::new();
    for dump in [&d, &g] {
        let p = s(dump);
        let cmds: [&[&str]; 8] = [
            &["top", p],
            &["top", p, "--by", "count", "--json"],
            &["dominators", p, "--json", "-n", "0"],
            &["cycles", p, "-n", "0"],
            &["cycles", p, "--all-edges", "--json"],
            &["path", p, "#50", "-k", "5"],
            &["refs", "--back", p, "#50", "--json"],
            &["export", p, "--format", "csv"],
        ];
        let mut bytes = Vec::new();
        for args in cmds {
            let with = |t: &'static str| [&["--threads", t][..], args].concat();
            let f = w.fresh(&with("4"));
            for (cold, warm) in [("1", "2"), ("2", "1")] {
                remove_if_present(&beside(dump));
                let c = if saves_index(&with(cold)) {
                    w.cold(&with(cold), 1)
                } else {
                    let c = w.cold_unsaved(&with(cold), 1);
                    w.cold(&["--threads", cold, "top", p], 1);
                    c
                };
                bytes.push(std::fs::read(beside(dump)).unwrap());
                let h = w.warm(&with(warm), 1);
                assert!(
                    c.stdout == h.stdout,
                    "{args:?}: --threads {cold} cold differs from --threads {warm} warm"
                );
                assert!(c.stdout == f.stdout, "{args:?}: differs from --no-cache");
            }
        }
        // The same index bytes whatever the thread count and the command.
        assert!(
            bytes.windows(2).all(|b| b[0] == b[1]),
            "{p}: index bytes differ"
        );
        index.push(bytes.pop().unwrap());
    }
    assert!(index[0] != index[1]);
}

// ---------------------------------------------------------------------------------------
// A heap with garbage: unreachable cycles, dangling edges, finalizers, immortals
// ---------------------------------------------------------------------------------------

/// Dangling edge targets are at and above this address.
const DANGLING: u64 = 0xdead_0000;

/// `n` objects: the type objects, a live part (two thirds: modules as roots, a thread
/// root, refcount-surplus roots, an immortal, mostly forward references with some back
/// references, instance-to-class references, dangling references) and garbage (rings of
/// one to five objects, a self-reference here and there, references into the live part,
/// none from it).
fn garbage_content(seed: u64, n: usize) -> SnapshotContent {
    let mut rng = Rng(seed);
    let mut strings = vec![String::new()];
    let mut intern = |x: &str| -> u32 {
        strings.push(x.to_owned());
        (strings.len() - 1) as u32
    };
    let builtins = intern("builtins");
    let app = intern("app");
    let specs = [
        ("type", builtins, GC_TYPE),
        ("module", builtins, GC_TYPE),
        ("dict", builtins, GC_TYPE),
        ("list", builtins, GC_TYPE),
        ("str", builtins, 0),
        ("Node", app, HEAP_TYPE | GC_TYPE | HAS_FINALIZER),
        ("Leaf", app, HEAP_TYPE | GC_TYPE),
        ("Ring", app, HEAP_TYPE | GC_TYPE),
    ];
    let types: Vec<Type> = specs
        .iter()
        .enumerate()
        .map(|(i, &(name, module, flags))| Type {
            address: 0x1000 + 0x40 * i as u64,
            name: intern(name),
            module,
            flags,
        })
        .collect();
    let labels: Vec<u32> = (0..16).map(|i| intern(&format!("f{i}"))).collect();
    let (t_type, t_module, t_list, t_str) = (0u32, 1u32, 3u32, 4u32);
    let first = types.len();
    let live_end = first + (n - first) * 2 / 3;
    let obj = |address, type_index, size| Object {
        address,
        type_index,
        size,
        refcount: 0,
        flags: GC_TRACKED,
        edges: Vec::new(),
    };
    let mut objects: Vec<Object> = types.iter().map(|t| obj(t.address, t_type, 400)).collect();
    for i in first..n {
        let t = match rng.below(20) {
            0 if i < live_end => t_module,
            1..=5 => 2,
            6..=8 => t_list,
            9..=11 => t_str,
            12..=13 => 5,
            14..=16 => 6,
            _ => 7,
        };
        let size = 16 + 8 * rng.below(40);
        objects.push(obj(0x10_0000 + 0x40 * i as u64, t, size));
    }
    let addr: Vec<u64> = objects.iter().map(|o| o.address).collect();
    let label = |rng: &mut Rng, positional: bool| -> u32 {
        if positional {
            0
        } else {
            match rng.below(3) {
                0 => labels[rng.below(16) as usize],
                1 => labels[rng.below(16) as usize] | LABEL_KEY_BIT,
                _ => 0,
            }
        }
    };
    // The live part.
    for i in first..live_end {
        let positional = objects[i].type_index == t_list;
        let mut edges = Vec::new();
        if objects[i].type_index >= 5 && rng.chance(40) {
            edges.push(Edge {
                target: types[objects[i].type_index as usize].address,
                label: 0,
            });
        }
        let degree = if objects[i].type_index == t_str {
            0
        } else {
            rng.below(5)
        };
        for _ in 0..degree {
            let target = if rng.chance(4) {
                DANGLING + 8 * rng.below(64)
            } else if rng.chance(85) {
                addr[(i + 1 + rng.below(30) as usize).min(live_end - 1)]
            } else {
                addr[first + rng.below((live_end - first) as u64) as usize]
            };
            edges.push(Edge {
                target,
                label: label(&mut rng, positional),
            });
        }
        if positional {
            objects[i].flags |= POSITIONAL_EDGES;
        }
        objects[i].edges = edges;
    }
    // The garbage: rings.
    let mut i = live_end;
    while i < n {
        let len = (1 + rng.below(5) as usize).min(n - i);
        for j in i..i + len {
            let positional = objects[j].type_index == t_list;
            let next = if j + 1 < i + len { j + 1 } else { i };
            let mut edges = Vec::new();
            if len > 1 || rng.chance(50) {
                edges.push(Edge {
                    target: addr[next],
                    label: label(&mut rng, positional),
                });
            }
            if rng.chance(20) {
                // Into the live part: does not make the garbage reachable.
                edges.push(Edge {
                    target: addr[first + rng.below((live_end - first) as u64) as usize],
                    label: label(&mut rng, positional),
                });
            }
            if rng.chance(10) && j + 10 < n {
                edges.push(Edge {
                    target: addr[j + 1 + rng.below(9) as usize],
                    label: label(&mut rng, positional),
                });
            }
            if positional {
                objects[j].flags |= POSITIONAL_EDGES;
            }
            objects[j].edges = edges;
        }
        i += len;
    }
    // Refcounts: the in-degree; surplus roots and an immortal in the live part only.
    let index: std::collections::HashMap<u64, usize> =
        addr.iter().enumerate().map(|(i, &a)| (a, i)).collect();
    let mut indegree = vec![0u32; n];
    for o in &objects {
        for e in &o.edges {
            if let Some(&j) = index.get(&e.target) {
                indegree[j] += 1;
            }
        }
    }
    for (i, o) in objects.iter_mut().enumerate() {
        o.refcount = indegree[i];
        if (first..live_end).contains(&i) && rng.chance(1) {
            o.refcount += 1 + rng.below(3) as u32;
        }
    }
    objects[first + 5].flags |= REFCOUNT_UNKNOWN;
    objects[first + 5].refcount = u32::MAX;
    let mut roots = Vec::new();
    let mut values = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        if o.type_index == t_module {
            roots.push(Root {
                object: i as u64,
                kind: root_kind::MODULE,
                label: labels[i % 16],
                detail: 0,
            });
            values.push(Value {
                object: i as u64,
                string: labels[i % 16],
                kind: 1,
                flags: 0,
            });
        } else if o.type_index == t_str && rng.chance(50) {
            values.push(Value {
                object: i as u64,
                string: labels[rng.below(16) as usize],
                kind: 2,
                flags: 0,
            });
        }
    }
    roots.push(Root {
        object: first as u64,
        kind: root_kind::THREAD,
        label: labels[0],
        detail: 4242,
    });
    SnapshotContent {
        strings,
        types,
        objects,
        roots,
        values,
        ..SnapshotContent::default()
    }
}
