//! The `heapsnap` binary end to end: output of every command on the vectors (text and
//! JSON), exit codes, the one-line error on stderr, escaping of hostile strings, and a
//! quiet exit on a closed pipe.

use std::io::Read;
use std::process::{Command as StdCommand, Stdio};

use assert_cmd::Command;
use heapsnap::content::{Edge, Fact, FactData, Object, Type};
use heapsnap::SnapshotContent;

use crate::util::{entries, update_vectors_once, vector_bytes, vector_json, vector_path, VECTORS};

fn heapsnap() -> Command {
    update_vectors_once();
    Command::cargo_bin("heapsnap").unwrap()
}

fn json_of(args: &[&str]) -> serde_json::Value {
    let text = stdout_of(args);
    assert_eq!(text.lines().count(), 1, "JSON output is one line");
    serde_json::from_str(&text).unwrap()
}

fn stdout_of(args: &[&str]) -> String {
    let out = heapsnap()
        .args(args)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out).unwrap()
}

/// Runs a failing command; returns its single stderr line.
fn error_of(args: &[&str]) -> String {
    let a = heapsnap().args(args).assert().code(2);
    let out = a.get_output();
    assert!(out.stdout.is_empty(), "nothing on stdout on error");
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(err.lines().count(), 1, "one stderr line: {err:?}");
    assert!(err.starts_with("heapsnap: "), "{err:?}");
    err
}

#[test]
fn decode_json_data_is_the_vector_json() {
    for name in VECTORS {
        let path = vector_path(name, "hsnap");
        let v = json_of(&["decode", "--json", path.to_str().unwrap()]);
        assert_eq!(v["schema"], 1);
        assert_eq!(v["kind"], "decode");
        assert_eq!(v["data"], vector_json(name), "{name}");
    }
}

#[test]
fn check_accepts_every_vector() {
    for name in VECTORS {
        let path = vector_path(name, "hsnap");
        let p = path.to_str().unwrap();
        let text = stdout_of(&["check", p]);
        assert!(text.starts_with(&format!("ok: {p}: ")), "{text}");
        assert!(text.trim_end().ends_with("(format 1.0)"), "{text}");
        let v = json_of(&["check", "--json", p]);
        assert_eq!(v["kind"], "check");
        assert_eq!(v["data"]["ok"], true);
        let objects = vector_json(name)["objects"].as_array().unwrap().len();
        assert_eq!(v["data"]["objects"], objects);
    }
}

#[test]
fn info_reports_facts_counts_and_the_rss_hint() {
    let path = vector_path("small", "hsnap");
    let p = path.to_str().unwrap();
    let v = json_of(&["info", "--json", p]);
    assert_eq!(v["schema"], 1);
    assert_eq!(v["kind"], "info");
    let d = &v["data"];
    assert_eq!(d["counts"]["objects"], 8);
    assert_eq!(d["counts"]["edges"], 10);
    assert_eq!(d["counts"]["dangling_edges"], 1);
    assert_eq!(d["process"]["python_version"], "3.11.7");
    assert_eq!(d["process"]["pid"], 4242);
    assert_eq!(d["process"]["time_utc"], "2026-01-01T00:00:00.123Z");
    assert_eq!(d["gc"]["enabled"], true);
    assert_eq!(d["shallow_bytes"], 72 + 232 + 88 + 1072 + 61 + 48 + 48 + 50);
    assert_eq!(d["rss_bytes"], 10_485_760);
    assert_eq!(d["roots_by_kind"].as_array().unwrap().len(), 6);
    // small.json: objects 0 and 3 have refcounts 3 and 4 and no edge to them; object 6
    // has more edges (2) than its refcount (1), and object 7's count is unknown.
    assert_eq!(d["counts"]["surplus_roots"], 2);
    assert!(d["hint"]
        .as_str()
        .unwrap()
        .starts_with("most of the RSS is outside Python objects"));

    let text = stdout_of(&["info", p]);
    assert!(text.contains("3.11.7"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("objects") && l.ends_with(" 8")),
        "{text}"
    );
    assert!(
        text.contains("hint: most of the RSS is outside Python objects"),
        "{text}"
    );
    // --no-verify gives the same report.
    assert_eq!(stdout_of(&["info", "--no-verify", p]), text);

    // No RSS fact: no share and no hint.
    let v = json_of(&[
        "info",
        "--json",
        vector_path("labels-none", "hsnap").to_str().unwrap(),
    ]);
    assert!(v["data"]["python_share_of_rss"].is_null());
    assert!(v["data"]["hint"].is_null());
}

#[test]
fn decode_text_lists_objects_and_edges() {
    let text = stdout_of(&["decode", vector_path("small", "hsnap").to_str().unwrap()]);
    assert!(text.contains("['name'] -> @0x10400 (#4)"), "{text}");
    assert!(text.contains("[''] -> @0x20000 (#7)"), "{text}");
    assert!(text.contains(".peer -> @0x10600 (#6)"), "{text}");
    assert!(text.contains("GC_TRACKED|POSITIONAL_EDGES"), "{text}");
    assert!(text.contains("[1] -> @0x10600 (#6)"), "{text}");
    assert!(text.contains("-> @0xdead0 (dangling)"), "{text}");
    assert!(text.contains("\"café ☃ 😀\" (truncated)"), "{text}");
}

#[test]
fn invalid_input_exits_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.hsnap");
    let bytes = vector_bytes("small");
    std::fs::write(&cut, &bytes[..bytes.len() - 8]).unwrap();
    for cmd in ["info", "check", "decode"] {
        let err = error_of(&[cmd, cut.to_str().unwrap()]);
        assert!(err.contains("cut.hsnap: trailer at offset 0x"), "{err}");
    }
    let bad = dir.path().join("bad.hsnap");
    let mut damaged = bytes.clone();
    let strings_at = entries(&bytes)
        .iter()
        .find(|(_, e)| e.kind == heapsnap::format::kind::STRING_BYTES)
        .map(|(_, e)| e.offset as usize)
        .unwrap();
    damaged[strings_at + 3] ^= 4;
    std::fs::write(&bad, &damaged).unwrap();
    let err = error_of(&["check", bad.to_str().unwrap()]);
    assert!(
        err.contains("bad.hsnap: section STRING_BYTES (kind 3) at offset 0x"),
        "{err}"
    );
    assert!(err.contains("CRC mismatch"), "{err}");

    let missing = dir.path().join("missing.hsnap");
    let err = error_of(&["info", missing.to_str().unwrap()]);
    assert!(err.contains("missing.hsnap: cannot open"), "{err}");

    heapsnap().args(["info"]).assert().code(2);
    heapsnap().args(["frobnicate"]).assert().code(2);
}

#[test]
fn hostile_strings_are_escaped_in_text_output() {
    let evil = "red\x1b[31m \u{202E}txt.exe";
    let c = SnapshotContent {
        strings: vec![
            String::new(),
            "python.version".into(),
            evil.into(),
            "Evil".into(),
        ],
        facts: vec![Fact {
            key: 1,
            value: FactData::String(2),
        }],
        types: vec![Type {
            address: 0x100,
            name: 3,
            module: 2,
            flags: 0,
        }],
        objects: vec![Object {
            address: 0x200,
            type_index: 0,
            size: 16,
            refcount: 1,
            flags: 0,
            edges: vec![Edge {
                target: 0x100,
                label: 2,
            }],
        }],
        ..SnapshotContent::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evil.hsnap");
    std::fs::write(&path, c.to_bytes().unwrap()).unwrap();
    for cmd in ["info", "decode"] {
        let text = stdout_of(&[cmd, path.to_str().unwrap()]);
        assert!(!text.contains('\x1b'), "{cmd}: raw ESC in {text:?}");
        assert!(!text.contains('\u{202E}'), "{cmd}: raw RLO in {text:?}");
        assert!(
            text.contains("red\\u{1b}[31m \\u{202e}txt.exe"),
            "{cmd}: {text}"
        );
    }
    // JSON keeps the exact string (JSON escapes control characters itself).
    let v = json_of(&["decode", "--json", path.to_str().unwrap()]);
    assert_eq!(v["data"]["strings"][2], evil);
}

#[test]
fn closed_stdout_exits_0_quietly() {
    // A dump whose text listing is far larger than a pipe buffer.
    let objects = (0..20_000u64)
        .map(|i| Object {
            address: 0x1000 + 16 * i,
            type_index: 0,
            size: 32,
            refcount: 1,
            flags: 0,
            edges: vec![Edge {
                target: 0x1000,
                label: 0,
            }],
        })
        .collect();
    let c = SnapshotContent {
        strings: vec![String::new(), "object".into()],
        types: vec![Type {
            address: 1,
            name: 1,
            module: 0,
            flags: 0,
        }],
        objects,
        ..SnapshotContent::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.hsnap");
    std::fs::write(&path, c.to_bytes().unwrap()).unwrap();
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("heapsnap"))
        .args(["decode", path.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "stderr: {err}");
    assert_eq!(err, "");
}

/// Devices and directories are refused at once (`/dev/zero` would stream without end);
/// a dump arriving through a pipe is read to its end and validated like a file.
#[test]
fn devices_are_refused_and_pipes_are_read() {
    for path in ["/dev/zero", "/dev/null", "/"] {
        let err = error_of(&["info", path]);
        assert!(
            err.contains("not a regular file or a pipe"),
            "{path}: {err}"
        );
    }
    let out = heapsnap()
        .args(["check", "/dev/stdin"])
        .write_stdin(vector_bytes("small")) // through a pipe
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.starts_with("ok: /dev/stdin: 8 objects"), "{text}");
}

#[test]
fn attach_refusals_are_one_line() {
    // a PID that has just exited (and cannot have been reused by a CPython so soon)
    let mut child = StdCommand::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let err = error_of(&["attach", &pid.to_string()]);
    assert!(
        err.starts_with("heapsnap: attach: no such process"),
        "{err}"
    );
    // a process that is not CPython
    let mut sleeper = StdCommand::new("sleep").arg("30").spawn().unwrap();
    let err = error_of(&["attach", &sleeper.id().to_string()]);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert!(err.starts_with("heapsnap: attach: not CPython: "), "{err}");
    // usage errors
    let err = error_of(&["attach", "1", "--timeout", "0"]);
    assert!(err.contains("--timeout"), "{err}");
    let err = error_of(&["attach", "1", "--install"]);
    assert!(err.contains("--signal"), "{err}");
}
