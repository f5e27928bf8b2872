//! `heapsnap diff` end to end on three hand-made dumps of one "process" whose
//! differences are worked out by hand below: growth by type, new and grown retainers,
//! new cycles, the three-dump survivors (with addresses reused by objects of another
//! type or size, which must not match), text and `--json`, `-n`, notes, errors, escaping,
//! and output that does not depend on `--threads`.

use std::path::Path;

use assert_cmd::Command;
use heapsnap::content::{Edge, Fact, FactData, Object, Root, SnapshotContent, Type, Value};
use heapsnap::format::object_flags::{GC_TRACKED, POSITIONAL_EDGES};
use heapsnap::format::type_flags::{GC_TYPE, HAS_FINALIZER, HEAP_TYPE};
use heapsnap::format::{root_kind, LABEL_KEY_BIT};
use heapsnap::{Snapshot, Verify};
use serde_json::{json, Value as Json};

// ---------------------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------------------

fn run(args: &[&str]) -> std::process::Output {
    Command::cargo_bin("heapsnap")
        .unwrap()
        .args(args)
        .output()
        .unwrap()
}

/// Runs a command that must succeed quietly; returns its stdout.
fn ok(args: &[&str]) -> String {
    let out = run(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    assert!(err.is_empty(), "{args:?}: stderr {err:?}");
    String::from_utf8(out.stdout).expect("stdout is UTF-8")
}

/// Runs `diff ... --json`: one line, the envelope; returns `data`.
fn diff_json(args: &[&str]) -> Json {
    let mut all = vec!["diff", "--json"];
    all.extend_from_slice(args);
    let text = ok(&all);
    assert_eq!(text.lines().count(), 1, "{args:?}: JSON is one line");
    let v: Json = serde_json::from_str(&text).unwrap();
    assert_eq!(v["schema"], 1);
    assert_eq!(v["kind"], "diff");
    assert_eq!(v.as_object().unwrap().len(), 3);
    v["data"].clone()
}

/// Runs a command that must fail: exit 2, empty stdout, one `heapsnap: ` line on stderr.
fn fail(args: &[&str]) -> String {
    let out = run(args);
    let err = String::from_utf8(out.stderr).expect("stderr is UTF-8");
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(out.stdout.is_empty(), "{args:?}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: {err:?}");
    assert!(err.starts_with("heapsnap: "), "{args:?}: {err:?}");
    err
}

fn write_dump(dir: &Path, name: &str, c: &SnapshotContent) -> String {
    let bytes = c.to_bytes().unwrap();
    Snapshot::from_bytes(&bytes, Verify::Full).expect("the test snapshot is valid");
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_owned()
}

// ---------------------------------------------------------------------------------------
// Building dumps
// ---------------------------------------------------------------------------------------

const S_MODULE: u32 = 1;
const S_BUILTINS: u32 = 2;
const S_DICT: u32 = 3;
const S_LIST: u32 = 4;
const S_APP: u32 = 5;
const S_SESSION: u32 = 6;
const S_NODE: u32 = 7;
const S_CACHE: u32 = 8;
const S_MAIN: u32 = 9;
const S_DICT_ATTR: u32 = 10;
const S_SESSIONS: u32 = 11;
const S_NODES: u32 = 12;
const S_CACHE_KEY: u32 = 13;
const S_OTHER: u32 = 14;
const S_DATA: u32 = 15;
const S_PEER: u32 = 16;
const S_STR: u32 = 17;
const S_PID: u32 = 18;
const S_TIME: u32 = 19;
const S_EVIL: u32 = 20;

const EVIL: &str = "Ev\x1b[31mil\u{202E}";

fn strings() -> Vec<String> {
    [
        "",
        "module",
        "builtins",
        "dict",
        "list",
        "app",
        "Session",
        "Node",
        "Cache",
        "__main__",
        "__dict__",
        "sessions",
        "nodes",
        "cache",
        "other",
        "data",
        "peer",
        "str",
        "pid",
        "time.unix_ns",
        EVIL,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn ty(address: u64, name: u32, module: u32, flags: u32) -> Type {
    Type {
        address,
        name,
        module,
        flags,
    }
}

const APP: u32 = HEAP_TYPE | GC_TYPE;

/// An object before its refcount is known.
struct O {
    address: u64,
    ty: u32,
    size: u64,
    edges: Vec<(u64, u32)>,
    positional: bool,
    /// References from outside the dump (a refcount-surplus root when > 0).
    outside: u32,
}

fn o(address: u64, ty: u32, size: u64, edges: &[(u64, u32)]) -> O {
    O {
        address,
        ty,
        size,
        edges: edges.to_vec(),
        positional: false,
        outside: 0,
    }
}

/// A list: positional edges.
fn list(address: u64, ty: u32, size: u64, items: &[u64]) -> O {
    O {
        positional: true,
        ..o(
            address,
            ty,
            size,
            &items.iter().map(|&a| (a, 0)).collect::<Vec<_>>(),
        )
    }
}

/// Held from outside the dump (a refcount-surplus root).
fn held(mut x: O) -> O {
    x.outside = 1;
    x
}

fn attr(id: u32) -> u32 {
    id
}

fn key(id: u32) -> u32 {
    id | LABEL_KEY_BIT
}

/// A dump of `objects` (the first is module `__main__`, a MODULE root); refcounts are
/// the in-dump references plus `outside`.
fn dump(types: Vec<Type>, objects: Vec<O>, time: u64) -> SnapshotContent {
    let mut refs = std::collections::HashMap::<u64, u32>::new();
    for x in &objects {
        for &(t, _) in &x.edges {
            *refs.entry(t).or_default() += 1;
        }
    }
    let objects = objects
        .iter()
        .map(|x| Object {
            address: x.address,
            type_index: x.ty,
            size: x.size,
            refcount: refs.get(&x.address).copied().unwrap_or(0) + x.outside,
            flags: GC_TRACKED | if x.positional { POSITIONAL_EDGES } else { 0 },
            edges: x
                .edges
                .iter()
                .map(|&(target, label)| Edge { target, label })
                .collect(),
        })
        .collect();
    SnapshotContent {
        strings: strings(),
        facts: vec![
            Fact {
                key: S_PID,
                value: FactData::U64(4242),
            },
            Fact {
                key: S_TIME,
                value: FactData::U64(time),
            },
        ],
        types,
        objects,
        roots: vec![Root {
            object: 0,
            kind: root_kind::MODULE,
            label: S_MAIN,
            detail: 0,
        }],
        values: vec![Value {
            object: 0,
            string: S_MAIN,
            kind: 1, // name
            flags: 0,
        }],
        ..SnapshotContent::default()
    }
}

// ---------------------------------------------------------------------------------------
// The three dumps, and what diff must find, by hand
// ---------------------------------------------------------------------------------------
//
// A (9 objects, 736 B; types module, dict, list, app.Session, app.Node (__del__),
// app.Cache):
//   M   0x1000 module '__main__' 72  root      .__dict__ -> G
//   G   0x1100 dict 232                        ['sessions'] -> L, ['nodes'] -> NL
//   L   0x1200 list 88                         [S0]
//   S0  0x2000 app.Session 48
//   NL  0x1300 list 72                         [N1a]
//   N1a 0x3000 app.Node 64 <-> N1b 0x3010 app.Node 64  (.other)
//   X5  0x5000 app.Cache 40    held outside (surplus root)
//   X6  0x6000 app.Session 56  held outside
//
// B: X5 and X6 are gone and their addresses reused; 11 objects are born (not in A with
// the same address, type and size), 1224 B:
//   L (resized to 120: born), S1 0x2100, S2 0x2200, S3 0x2300, S5 0x5000 (was an
//   app.Cache), S6 0x6000 (was 56 B), all app.Session 48, in L = [S0 S1 S2 S5 S6 S3];
//   N2a 0x3100 <-> N2b 0x3110 in NL = [N1a N2a]; K 0x4000 app.Cache 48 .data -> KD
//   0x4100 dict 640, under G['cache']; U 0x8000 app.Session 48 unreachable.
//
// C (20 objects, 1968 B): its type table is in another order, has a str type, and
// app.Session twice (a redefined class: S5, S7 use the second record); types are matched
// by name. L = [S0 S1 S2' S5 S6 S7] (still 120 B); S2' 0x2200 is an app.Session of
// 64 B (reused address, other size) and S7 0x7000 (born after B) holds S2' (.peer) and
// back: a new {app.Session x2} cycle; 0x2300 is a str of 48 B held outside; NL = [N1a
// N2a N3a] with a third Node pair N3a 0x3200 <-> N3b 0x3210; K, KD, U as in B.
//
// Survivors (born in B, same address, type and size in C): KD (dict 640); S1, S5, S6, U
// (app.Session, 192 B, U unreachable); N2a, N2b (app.Node 128); L (list 120); K
// (app.Cache 48): 9 objects, 1128 B. Not: S2 (size), S3 (type), S0 (in A), S7 (not in B).
//
// Growth, C against A (+11 objects, +1232 B), by shallow growth:
//   dict +1 +640, app.Node +4 +256, app.Session +5 +248 (2/104 -> 7/352), str +1 +48,
//   list 0 +32, app.Cache 0 +8; module unchanged.
//
// Retained in A: S0 48, L 136, N1a 128, NL 200, G 568, M 640.
// Retained in C: L 120+5*48+64 = 424, NL 72+3*128 = 456, K 688, G 232+424+456+688 =
// 1800, M 1872; the super-root 1920 (U, 48 B, unreachable).
//
// New retainers (address and type not in A, reachable, immediate dominator not new):
// K 688 (held by G), N2a 128, N3a 128 (by NL), S2' 64, then S1, X3 (a root), S5, S7 48;
// not N2b, N3b, KD (their dominators are new), not S6 (0x6000 was an app.Session in A:
// the same retainer by address and type), not U (unreachable).
//
// Grown retainers: M +1232 is left out (its child G grew by as much), G +1232 (568 ->
// 1800: its children L +288 and NL +256 are less than half), L +288, NL +256.
//
// New cycles (housekeeping edges into the module and its dict left out): app.Node x2,
// 1 -> 3 cycles, 128 -> 384 B; app.Session x2 (two type records, one name) 0 -> 1, 112 B.

const M: u64 = 0x1000;
const G: u64 = 0x1100;
const L: u64 = 0x1200;
const NL: u64 = 0x1300;
const S0: u64 = 0x2000;
const S1: u64 = 0x2100;
const S2: u64 = 0x2200;
const S3: u64 = 0x2300;
const N1A: u64 = 0x3000;
const N1B: u64 = 0x3010;
const N2A: u64 = 0x3100;
const N2B: u64 = 0x3110;
const N3A: u64 = 0x3200;
const N3B: u64 = 0x3210;
const K: u64 = 0x4000;
const KD: u64 = 0x4100;
const X5: u64 = 0x5000;
const X6: u64 = 0x6000;
const S7: u64 = 0x7000;
const U: u64 = 0x8000;

/// Type table of A and B: module, dict, list, app.Session, app.Node, app.Cache.
fn ab_types() -> Vec<Type> {
    vec![
        ty(0xa000, S_MODULE, S_BUILTINS, 0),
        ty(0xa100, S_DICT, S_BUILTINS, GC_TYPE),
        ty(0xa200, S_LIST, S_BUILTINS, GC_TYPE),
        ty(0xa300, S_SESSION, S_APP, APP),
        ty(0xa400, S_NODE, S_APP, APP | HAS_FINALIZER),
        ty(0xa500, S_CACHE, S_APP, APP),
    ]
}

fn dump_a() -> SnapshotContent {
    let (module, dict, list_t, session, node, cache) = (0, 1, 2, 3, 4, 5);
    dump(
        ab_types(),
        vec![
            o(M, module, 72, &[(G, attr(S_DICT_ATTR))]),
            o(G, dict, 232, &[(L, key(S_SESSIONS)), (NL, key(S_NODES))]),
            list(L, list_t, 88, &[S0]),
            o(S0, session, 48, &[]),
            list(NL, list_t, 72, &[N1A]),
            o(N1A, node, 64, &[(N1B, attr(S_OTHER))]),
            o(N1B, node, 64, &[(N1A, attr(S_OTHER))]),
            held(o(X5, cache, 40, &[])),
            held(o(X6, session, 56, &[])),
        ],
        1_000,
    )
}

fn dump_b() -> SnapshotContent {
    let (module, dict, list_t, session, node, cache) = (0, 1, 2, 3, 4, 5);
    dump(
        ab_types(),
        vec![
            o(M, module, 72, &[(G, attr(S_DICT_ATTR))]),
            o(
                G,
                dict,
                232,
                &[
                    (L, key(S_SESSIONS)),
                    (NL, key(S_NODES)),
                    (K, key(S_CACHE_KEY)),
                ],
            ),
            list(L, list_t, 120, &[S0, S1, S2, X5, X6, S3]),
            o(S0, session, 48, &[]),
            o(S1, session, 48, &[]),
            o(S2, session, 48, &[]),
            o(S3, session, 48, &[]),
            o(X5, session, 48, &[]),
            o(X6, session, 48, &[]),
            list(NL, list_t, 72, &[N1A, N2A]),
            o(N1A, node, 64, &[(N1B, attr(S_OTHER))]),
            o(N1B, node, 64, &[(N1A, attr(S_OTHER))]),
            o(N2A, node, 64, &[(N2B, attr(S_OTHER))]),
            o(N2B, node, 64, &[(N2A, attr(S_OTHER))]),
            o(K, cache, 48, &[(KD, attr(S_DATA))]),
            o(KD, dict, 640, &[]),
            o(U, session, 48, &[]),
        ],
        2_000,
    )
}

fn c_types() -> Vec<Type> {
    vec![
        ty(0xa600, S_STR, S_BUILTINS, 0),               // 0 str
        ty(0xa300, S_SESSION, S_APP, APP),              // 1 app.Session
        ty(0xa400, S_NODE, S_APP, APP | HAS_FINALIZER), // 2 app.Node
        ty(0xa000, S_MODULE, S_BUILTINS, 0),            // 3 module
        ty(0xa100, S_DICT, S_BUILTINS, GC_TYPE),        // 4 dict
        ty(0xa200, S_LIST, S_BUILTINS, GC_TYPE),        // 5 list
        ty(0xa500, S_CACHE, S_APP, APP),                // 6 app.Cache
        ty(0xa700, S_SESSION, S_APP, APP),              // 7 app.Session (redefined)
    ]
}

/// C's objects, in this order (ids): M G L S0 S1 S2' X3 S5 S6 S7 NL N1a N1b N2a N2b
/// N3a N3b K KD U.
fn c_objects() -> Vec<O> {
    let (s, session, node, module, dict, list_t, cache, session2) = (0, 1, 2, 3, 4, 5, 6, 7);
    vec![
        o(M, module, 72, &[(G, attr(S_DICT_ATTR))]),
        o(
            G,
            dict,
            232,
            &[
                (L, key(S_SESSIONS)),
                (NL, key(S_NODES)),
                (K, key(S_CACHE_KEY)),
            ],
        ),
        list(L, list_t, 120, &[S0, S1, S2, X5, X6, S7]),
        o(S0, session, 48, &[]),
        o(S1, session, 48, &[]),
        o(S2, session, 64, &[(S7, attr(S_PEER))]),
        held(o(S3, s, 48, &[])),
        o(X5, session2, 48, &[]),
        o(X6, session, 48, &[]),
        o(S7, session2, 48, &[(S2, attr(S_PEER))]),
        list(NL, list_t, 72, &[N1A, N2A, N3A]),
        o(N1A, node, 64, &[(N1B, attr(S_OTHER))]),
        o(N1B, node, 64, &[(N1A, attr(S_OTHER))]),
        o(N2A, node, 64, &[(N2B, attr(S_OTHER))]),
        o(N2B, node, 64, &[(N2A, attr(S_OTHER))]),
        o(N3A, node, 64, &[(N3B, attr(S_OTHER))]),
        o(N3B, node, 64, &[(N3A, attr(S_OTHER))]),
        o(K, cache, 48, &[(KD, attr(S_DATA))]),
        o(KD, dict, 640, &[]),
        o(U, session, 48, &[]),
    ]
}

fn dump_c() -> SnapshotContent {
    dump(c_types(), c_objects(), 3_000)
}

struct Dumps {
    _dir: tempfile::TempDir,
    a: String,
    b: String,
    c: String,
}

fn dumps() -> Dumps {
    let dir = tempfile::tempdir().unwrap();
    Dumps {
        a: write_dump(dir.path(), "a.hsnap", &dump_a()),
        b: write_dump(dir.path(), "b.hsnap", &dump_b()),
        c: write_dump(dir.path(), "c.hsnap", &dump_c()),
        _dir: dir,
    }
}

fn hex(a: u64) -> String {
    format!("{a:#x}")
}

/// `(address, type, retained)` of JSON objects.
fn objects(list: &Json) -> Vec<(String, String, u64)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["address"].as_str().unwrap().to_owned(),
                o["type"].as_str().unwrap().to_owned(),
                o["retained"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn obj3(a: u64, t: &str, r: u64) -> (String, String, u64) {
    (hex(a), t.to_owned(), r)
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

/// The sections shared by `diff A C` and `diff A B C` (C against A).
fn check_against_a(d: &Json) {
    assert_eq!(d["objects_delta"], 11);
    assert_eq!(d["shallow_delta"], 1232);
    assert_eq!(d["notes"], json!([]));
    let row = |t: &str, c: [i64; 3], s: [i64; 3]| {
        json!({"type": t, "count_old": c[0], "count_new": c[1], "count_delta": c[2],
               "shallow_old": s[0], "shallow_new": s[1], "shallow_delta": s[2]})
    };
    assert_eq!(
        d["types"],
        json!([
            row("dict", [1, 2, 1], [232, 872, 640]),
            row("app.Node", [2, 6, 4], [128, 384, 256]),
            row("app.Session", [2, 7, 5], [104, 352, 248]),
            row("str", [0, 1, 1], [0, 48, 48]),
            row("list", [2, 2, 0], [160, 192, 32]),
            row("app.Cache", [1, 1, 0], [40, 48, 8]),
        ])
    );
    assert_eq!(d["more_types"], 0);

    assert_eq!(
        objects(&d["new_retainers"]),
        vec![
            obj3(K, "app.Cache", 688),
            obj3(N2A, "app.Node", 128),
            obj3(N3A, "app.Node", 128),
            obj3(S2, "app.Session", 64),
            obj3(S1, "app.Session", 48),
            obj3(S3, "str", 48),
            obj3(X5, "app.Session", 48),
            obj3(S7, "app.Session", 48),
        ]
    );
    let nr = d["new_retainers"].as_array().unwrap();
    assert_eq!(nr[0]["held_by"]["address"], hex(G));
    assert_eq!(nr[0]["held_by"]["type"], "dict");
    assert_eq!(nr[1]["held_by"]["address"], hex(NL));
    assert_eq!(nr[3]["held_by"]["address"], hex(L));
    assert!(nr[0].get("root").is_none());
    assert!(nr[5].get("held_by").is_none());
    assert_eq!(nr[5]["root"], "refcount surplus 1 (held outside the dump)");
    assert_eq!(d["more_new_retainers"], json!({"count": 0, "bytes": 0}));

    let grown: Vec<(String, u64, u64, u64)> = d["grown_retainers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["address"].as_str().unwrap().to_owned(),
                g["retained_old"].as_u64().unwrap(),
                g["retained"].as_u64().unwrap(),
                g["retained_growth"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        grown,
        vec![
            (hex(G), 568, 1800, 1232),
            (hex(L), 136, 424, 288),
            (hex(NL), 200, 456, 256),
        ]
    );
    let g0 = &d["grown_retainers"][0];
    assert_eq!(
        (g0["type"].as_str(), g0["index_old"].as_u64()),
        (Some("dict"), Some(1))
    );
    assert_eq!(d["grown_retainers"][1]["shallow_old"], 88);
    assert_eq!(d["grown_retainers"][1]["shallow"], 120);

    let cycles = d["new_cycles"].as_array().unwrap();
    assert_eq!(cycles.len(), 2, "{cycles:?}");
    let node = &cycles[0];
    assert_eq!(node["types"], json!([{"type": "app.Node", "count": 2}]));
    let nums = |c: &Json, keys: &[&str]| -> Vec<i64> {
        keys.iter().map(|k| c[*k].as_i64().unwrap()).collect()
    };
    let keys = [
        "cycles_old",
        "cycles_new",
        "cycles_delta",
        "objects_old",
        "objects_new",
        "shallow_old",
        "shallow_new",
        "retained_old",
        "retained_new",
        "retained_delta",
        "reachable_cycles",
        "example_size",
        "example_retained",
    ];
    assert_eq!(
        nums(node, &keys),
        vec![1, 3, 2, 2, 6, 128, 384, 128, 384, 256, 3, 2, 128]
    );
    assert_eq!(node["finalizer"], true);
    let session = &cycles[1];
    assert_eq!(
        session["types"],
        json!([{"type": "app.Session", "count": 2}])
    );
    assert_eq!(
        nums(session, &keys),
        vec![0, 1, 1, 0, 2, 0, 112, 0, 112, 112, 1, 2, 112]
    );
    assert_eq!(session["finalizer"], false);
    let members: Vec<&str> = session["example"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["address"].as_str().unwrap())
        .collect();
    assert_eq!(members, vec![hex(S2), hex(S7)]);
    assert_eq!(d["more_new_cycles"], 0);
}

#[test]
fn two_dumps_growth_retainers_and_cycles() {
    let t = dumps();
    let d = diff_json(&["-n", "0", &t.a, &t.c]);
    assert_eq!(
        (d["old"].as_str(), d["new"].as_str()),
        (Some("old"), Some("new"))
    );
    let info: Vec<(String, String, u64, u64)> = d["dumps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["label"].as_str().unwrap().to_owned(),
                x["path"].as_str().unwrap().to_owned(),
                x["objects"].as_u64().unwrap(),
                x["shallow_bytes"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        info,
        vec![
            ("old".to_owned(), t.a.clone(), 9, 736),
            ("new".to_owned(), t.c.clone(), 20, 1968),
        ]
    );
    assert_eq!(d["dumps"][1]["unreachable_objects"], 1);
    assert_eq!(d["dumps"][1]["unreachable_bytes"], 48);
    check_against_a(&d);
    assert_eq!(d["survivors"], Json::Null);

    // The default limit (20) shows everything here; -n 1 one row per table.
    assert_eq!(diff_json(&[&t.a, &t.c]), d);
    let one = diff_json(&["-n", "1", &t.a, &t.c]);
    assert_eq!(one["types"].as_array().unwrap().len(), 1);
    assert_eq!(one["more_types"], 5);
    assert_eq!(
        objects(&one["new_retainers"]),
        vec![obj3(K, "app.Cache", 688)]
    );
    assert_eq!(
        one["more_new_retainers"],
        json!({"count": 7, "bytes": 128 + 128 + 64 + 4 * 48})
    );
    assert_eq!(one["grown_retainers"].as_array().unwrap().len(), 1);
    assert_eq!(
        one["more_grown_retainers"],
        json!({"count": 2, "bytes": 288 + 256})
    );
    assert_eq!(one["new_cycles"].as_array().unwrap().len(), 1);
    assert_eq!(one["more_new_cycles"], 1);

    // A dump against itself: nothing changed.
    let same = diff_json(&[&t.a, &t.a]);
    for k in ["types", "new_retainers", "grown_retainers", "new_cycles"] {
        assert_eq!(same[k], json!([]), "{k}");
    }
    assert_eq!(
        (
            same["objects_delta"].as_i64(),
            same["shallow_delta"].as_i64()
        ),
        (Some(0), Some(0))
    );
}

#[test]
fn three_dumps_find_the_survivors() {
    let t = dumps();
    let d = diff_json(&["-n", "0", &t.a, &t.b, &t.c]);
    assert_eq!(
        (d["old"].as_str(), d["new"].as_str()),
        (Some("A"), Some("C"))
    );
    let labels: Vec<&str> = d["dumps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["A", "B", "C"]);
    assert_eq!(d["dumps"][1]["objects"], 17);
    assert!(d["dumps"][1].get("unreachable_objects").is_none());
    check_against_a(&d);

    let s = &d["survivors"];
    assert_eq!(s["born"], 11);
    assert_eq!(s["born_shallow"], 1224);
    assert_eq!(s["alive"], 9);
    assert_eq!(s["alive_shallow"], 1128);
    assert_eq!(s["unreachable"], 1);
    assert_eq!(s["more_types"], 0);
    let globals = "module '__main__'.__dict__ -> dict";
    let shape = |n: u64, chain: String, example: u64| json!({"objects": n, "root": "module '__main__'", "chain": chain, "example": hex(example)});
    let row = |t: &str, count: u64, shallow: u64, unreachable: u64, ex: &[u64], paths: Json| {
        json!({"type": t, "count": count, "shallow": shallow, "unreachable": unreachable,
               "examples": ex.iter().map(|&a| hex(a)).collect::<Vec<_>>(),
               "paths": paths, "more_paths": 0})
    };
    assert_eq!(
        s["types"],
        json!([
            row(
                "dict",
                1,
                640,
                0,
                &[KD],
                json!([shape(
                    1,
                    format!("{globals}['cache'] -> app.Cache.data -> dict"),
                    KD
                )])
            ),
            row(
                "app.Session",
                4,
                192,
                1,
                &[S1, X5, X6, U],
                json!([shape(
                    3,
                    format!("{globals}['sessions'] -> list[*] -> app.Session"),
                    S1
                )])
            ),
            row(
                "app.Node",
                2,
                128,
                0,
                &[N2A, N2B],
                json!([
                    shape(1, format!("{globals}['nodes'] -> list[*] -> app.Node"), N2A),
                    shape(
                        1,
                        format!("{globals}['nodes'] -> list[*] -> app.Node.other -> app.Node"),
                        N2B
                    ),
                ])
            ),
            row(
                "list",
                1,
                120,
                0,
                &[L],
                json!([shape(1, format!("{globals}['sessions'] -> list"), L)])
            ),
            row(
                "app.Cache",
                1,
                48,
                0,
                &[K],
                json!([shape(1, format!("{globals}['cache'] -> app.Cache"), K)])
            ),
        ])
    );
    // -n limits the survivor types too.
    let one = diff_json(&["-n", "1", &t.a, &t.b, &t.c]);
    assert_eq!(one["survivors"]["types"].as_array().unwrap().len(), 1);
    assert_eq!(one["survivors"]["more_types"], 4);
    assert_eq!(one["survivors"]["alive"], 9);
}

#[test]
fn reused_addresses_match_only_with_the_same_type_and_size() {
    // B against itself as C: every born object survives. With C's objects at the same
    // addresses but with other sizes, or other types, they do not.
    let t = dumps();
    let d = diff_json(&[&t.a, &t.b, &t.b]);
    assert_eq!(d["survivors"]["alive"], 11);
    assert_eq!(d["survivors"]["alive_shallow"], 1224);

    let dir = tempfile::tempdir().unwrap();
    let mut moved = c_objects();
    for x in &mut moved[1..] {
        x.size += 8;
    }
    let c2 = write_dump(dir.path(), "c2.hsnap", &dump(c_types(), moved, 3_000));
    let d = diff_json(&[&t.a, &t.b, &c2]);
    assert_eq!(d["survivors"]["alive"], 0);
    assert_eq!(d["survivors"]["born"], 11);
    assert_eq!(d["survivors"]["types"], json!([]));

    // The same sizes, but every app.Session of C is a str now: the sessions no longer
    // survive, the rest do.
    let mut retyped = c_objects();
    for x in &mut retyped {
        if x.ty == 1 || x.ty == 7 {
            x.ty = 0;
        }
    }
    let c3 = write_dump(dir.path(), "c3.hsnap", &dump(c_types(), retyped, 3_000));
    let d = diff_json(&[&t.a, &t.b, &c3]);
    assert_eq!(d["survivors"]["alive"], 5);
    let types: Vec<&str> = d["survivors"]["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["dict", "app.Node", "list", "app.Cache"]);
}

#[test]
fn text_output_lists_every_section() {
    let t = dumps();
    let text = ok(&["diff", "-n", "0", &t.a, &t.b, &t.c]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], format!("A   {}: 9 objects, 736 B", t.a));
    assert_eq!(lines[1], format!("B   {}: 17 objects, 1.7 KiB", t.b));
    assert_eq!(lines[2], format!("C   {}: 20 objects, 1.9 KiB", t.c));
    assert_eq!(lines[3], "C against A: +11 objects, +1.2 KiB");
    let has = |needle: &str| {
        assert!(
            lines.iter().any(|l| l.contains(needle)),
            "{needle:?} missing from:\n{text}"
        )
    };
    has("growth by type, C against A");
    assert!(
        lines
            .iter()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["7", "+5", "352", "B", "+248", "B", "app.Session"]),
        "{text}"
    );
    has("new retainers: objects not in A, topmost in C's dominator tree");
    has("688 B        48 B  app.Cache at 0x4000  held by dict at 0x1100");
    has("str at 0x2300  [root: refcount surplus 1 (held outside the dump)]");
    has("grown retainers:");
    has("+1.2 KiB     1.8 KiB  dict at 0x1100  (was 568 B)");
    has("new cycles: cycle groups with more cycles in C than in A");
    has("app.Node x2  [has __del__/finalizer]");
    has("app.Session x2");
    has("survivors: objects born between A and B");
    has("9 of the 11 objects (1.2 KiB) born between A and B are alive in C (1.1 KiB); 1 unreachable");
    has("app.Session  (1 unreachable)");
    has("e.g. 0x2100, 0x5000, 0x6000, 0x8000");
    has("3 via module '__main__'.__dict__ -> dict['sessions'] -> list[*] -> app.Session  [root: module '__main__']");

    let two = ok(&["diff", &t.a, &t.c]);
    assert!(two.starts_with(&format!("old {}: 9 objects", t.a)), "{two}");
    assert!(two.contains("new against old: +11 objects"), "{two}");
    assert!(!two.contains("survivors"), "{two}");
    let same = ok(&["diff", &t.a, &t.a]);
    assert!(same.contains("  no type changed\n"), "{same}");
    assert_eq!(same.matches("\n  none\n").count(), 3, "{same}");
}

#[test]
fn output_is_identical_for_any_thread_count() {
    let t = dumps();
    for args in [
        vec!["diff", "-n", "0", &t.a, &t.b, &t.c],
        vec!["diff", "--json", "-n", "0", &t.a, &t.b, &t.c],
        vec!["diff", "--json", &t.a, &t.c],
    ] {
        let one = ok(&[&["--threads", "1"][..], &args].concat());
        let two = ok(&[&["--threads", "2"][..], &args].concat());
        let four = ok(&[&["--threads", "4"][..], &args, &["--no-verify"]].concat());
        assert_eq!(one, two, "{args:?}");
        assert_eq!(one, four, "{args:?}");
    }
}

#[test]
fn notes_flag_other_processes_and_the_wrong_order() {
    let t = dumps();
    let d = diff_json(&[&t.c, &t.a]);
    assert_eq!(
        d["notes"],
        json!(["new was dumped before old: give the dumps oldest first"])
    );
    let dir = tempfile::tempdir().unwrap();
    let mut other = dump_c();
    other.facts[0].value = FactData::U64(7);
    let p = write_dump(dir.path(), "other.hsnap", &other);
    let d = diff_json(&[&t.a, &t.b, &p]);
    let notes = d["notes"].as_array().unwrap();
    assert_eq!(notes.len(), 1);
    let n = notes[0].as_str().unwrap();
    assert!(n.contains("4242 in A, 4242 in B, 7 in C"), "{n}");
    let text = ok(&["diff", &t.a, &t.b, &p]);
    assert!(
        text.contains("note: the dumps are of different processes"),
        "{text}"
    );
}

#[test]
fn errors_are_one_line_naming_the_file() {
    let t = dumps();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.hsnap");
    let missing = missing.to_str().unwrap();
    for args in [
        vec!["diff", &t.a, missing],
        vec!["diff", missing, &t.c],
        vec!["diff", "--json", &t.a, missing, &t.c],
    ] {
        let err = fail(&args);
        assert!(err.contains("missing.hsnap"), "{err}");
    }
    // A truncated middle dump.
    let bytes = std::fs::read(&t.b).unwrap();
    let cut = dir.path().join("cut.hsnap");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = fail(&["diff", &t.a, cut.to_str().unwrap(), &t.c]);
    assert!(err.contains("cut.hsnap"), "{err}");
    // Two objects at one address in the middle dump (only diff reads B's addresses).
    let mut dup = dump_b();
    dup.objects[16].address = dup.objects[15].address;
    let bytes = dup.to_bytes().unwrap();
    let p = dir.path().join("dup.hsnap");
    std::fs::write(&p, bytes).unwrap();
    let err = fail(&["diff", &t.a, p.to_str().unwrap(), &t.c]);
    assert!(err.contains("dup.hsnap") && err.contains("0x4100"), "{err}");
}

#[test]
fn dump_strings_are_escaped_in_text_and_exact_in_json() {
    let t = dumps();
    let dir = tempfile::tempdir().unwrap();
    let mut types = c_types();
    types.push(ty(0xa800, S_EVIL, S_APP, APP));
    let mut objects = c_objects();
    objects.push(held(o(0x9000, 8, 16, &[])));
    let p = write_dump(dir.path(), "evil.hsnap", &dump(types, objects, 3_000));
    let evil = format!("app.{EVIL}");
    let d = diff_json(&["-n", "0", &t.a, &t.b, &p]);
    assert!(d["types"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["type"] == evil.as_str()));
    assert!(d["new_retainers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["type"] == evil.as_str()));
    let text = ok(&["diff", "-n", "0", &t.a, &t.b, &p]);
    assert!(
        !text
            .chars()
            .any(|c| (c.is_control() && c != '\n') || c == '\u{202E}'),
        "{text}"
    );
    assert!(text.contains("app.Ev\\u{1b}[31mil\\u{202e}"), "{text}");
}
