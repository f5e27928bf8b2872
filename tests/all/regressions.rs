//! Fuzzing regressions: every file in `tests/regressions/` (see the README there) goes
//! through exactly what the fuzz targets run (`fuzz/src/lib.rs`, included below), raw
//! and with its checksums recomputed, and through the `heapsnap` binary, which must
//! exit 0 or 2 with one line. The committed fuzz seeds go through the same code, so a
//! change that breaks one of the harness's invariants on a real dump fails here, in CI,
//! not only in a fuzzing run.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

use crate::util::{vector_bytes, VECTORS};

#[allow(dead_code)]
#[path = "../../fuzz/src/lib.rs"]
mod fuzz;

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "hsnap"))
        .collect();
    files.sort();
    files
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What both fuzz targets do with `bytes`, naming `what` if it panics.
fn fuzz_paths(what: &str, bytes: &[u8]) {
    let run = |b: &[u8]| std::panic::catch_unwind(|| fuzz::exercise(b));
    if run(bytes).is_err() {
        panic!("{what}: the `reader` fuzz target's paths panic");
    }
    if let Some(fixed) = fuzz::fix_checksums(bytes) {
        if run(&fixed).is_err() {
            panic!("{what}: the `reader_nocrc` fuzz target's paths panic");
        }
        if std::panic::catch_unwind(|| fuzz::exercise_analysis(&fixed)).is_err() {
            panic!("{what}: the `analysis` fuzz target's paths panic");
        }
    }
}

#[test]
fn every_regression_file_is_handled_cleanly() {
    for path in files_in(&root().join("tests/regressions")) {
        let what = path.display().to_string();
        fuzz_paths(&what, &std::fs::read(&path).unwrap());
        for args in [
            &["check"][..],
            &["info"],
            &["info", "--no-verify"],
            &["info", "--json"],
            &["decode"],
            &["decode", "--json"],
        ] {
            let out = Command::cargo_bin("heapsnap")
                .unwrap()
                .args(args)
                .arg(&path)
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            match out.status.code() {
                Some(0) => assert!(err.is_empty(), "{what} {args:?}: {err}"),
                Some(2) => {
                    assert!(out.stdout.is_empty(), "{what} {args:?}");
                    assert_eq!(err.lines().count(), 1, "{what} {args:?}: {err}");
                    assert!(err.starts_with("heapsnap: "), "{what} {args:?}: {err}");
                }
                code => panic!("{what} {args:?}: exit {code:?}: {err}"),
            }
        }
    }
}

/// The fuzz harness's invariants (re-encoding is canonical, the three address checks
/// agree, ...) hold for every vector and every committed seed.
#[test]
fn vectors_and_fuzz_seeds_pass_the_fuzz_harness() {
    for name in VECTORS {
        let bytes = vector_bytes(name);
        assert_eq!(fuzz::fix_checksums(&bytes).as_deref(), Some(&bytes[..]));
        fuzz_paths(name, &bytes);
    }
    for target in ["reader", "reader_nocrc", "analysis"] {
        let seeds = files_in(&root().join("fuzz/corpus").join(target));
        assert!(!seeds.is_empty(), "no seeds for {target}");
        for path in seeds {
            let bytes = std::fs::read(&path).unwrap();
            heapsnap::Snapshot::from_bytes(&bytes, heapsnap::Verify::Full)
                .unwrap_or_else(|e| panic!("seed {}: {e}", path.display()));
            fuzz_paths(&path.display().to_string(), &bytes);
        }
    }
}

/// The structure-aware mutator keeps the file's frame: whatever it does to a valid
/// file, the result has a section table and correct checksums, so it gets past SPEC 7
/// steps 3 and 5 (it may break anything after them).
#[test]
fn the_fuzz_mutator_keeps_the_frame_valid() {
    let file = vector_bytes("small");
    let identity = |_: &mut [u8], size: usize, _: usize| size;
    for seed in 0..2000u32 {
        let mut buf = file.clone();
        buf.resize(1 << 16, 0);
        let n = match fuzz::mutate_sections(&mut buf, file.len(), 1 << 16, seed, identity) {
            Some(n) => n,
            None => continue,
        };
        let out = &buf[..n];
        assert_eq!(
            fuzz::fix_checksums(out).as_deref(),
            Some(out),
            "seed {seed}"
        );
        if let Err(e) = heapsnap::Snapshot::from_bytes(out, heapsnap::Verify::Full) {
            let msg = e.to_string();
            assert!(!msg.contains("CRC"), "seed {seed}: {msg}");
        }
    }
}
