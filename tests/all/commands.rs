//! The analysis commands end to end (`top`, `dominators`, `cycles`, `path`, `refs`,
//! `export`) on small hand-made snapshots whose analysis is worked out by hand below:
//! text and `--json` output, CSV and JSONL rows, output that does not depend on
//! `--threads`, hostile strings in every output format, the one-line errors, and `-o`.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use heapsnap::content::{Edge, Object, Root, SnapshotContent, Type, Value};
use heapsnap::format::object_flags::{GC_TRACKED, POSITIONAL_EDGES, REFCOUNT_UNKNOWN};
use heapsnap::format::type_flags::{GC_TYPE, HAS_FINALIZER, HEAP_TYPE};
use heapsnap::format::{kind, root_kind, LABEL_KEY_BIT};
use heapsnap::{Snapshot, Verify};
use serde_json::Value as Json;

use crate::util::{entries, vector_bytes, vector_json, Rng, VECTORS};

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

/// Runs a `--json` command: one line, the envelope `{schema: 1, kind, data}`; returns
/// `data`.
fn json(kind: &str, args: &[&str]) -> Json {
    let text = ok(args);
    assert!(text.ends_with('\n'), "{args:?}");
    assert_eq!(text.lines().count(), 1, "{args:?}: JSON is one line");
    let v: Json = serde_json::from_str(&text).unwrap();
    assert_eq!(v["schema"], 1, "{args:?}");
    assert_eq!(v["kind"], kind, "{args:?}");
    assert_eq!(v.as_object().unwrap().len(), 3, "{args:?}: {v}");
    v["data"].clone()
}

/// Runs a command that must fail: exit code 2, nothing on stdout, exactly one line on
/// stderr starting with `heapsnap:`, no panic. Returns the line.
fn fail(args: &[&str]) -> String {
    let out = run(args);
    let err = String::from_utf8(out.stderr).expect("stderr is UTF-8");
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(
        out.stdout.is_empty(),
        "{args:?}: stdout {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert!(err.ends_with('\n'), "{args:?}: {err:?}");
    assert_eq!(err.lines().count(), 1, "{args:?}: {err:?}");
    assert!(err.starts_with("heapsnap: "), "{args:?}: {err:?}");
    assert_terminal_safe(&err, &format!("{args:?} stderr"));
    err
}

/// Writes `c` as `dir/name` (after checking that it is a valid dump); returns the path.
fn write_dump(dir: &Path, name: &str, c: &SnapshotContent) -> String {
    let bytes = c.to_bytes().unwrap();
    Snapshot::from_bytes(&bytes, Verify::Full).expect("the test snapshot is valid");
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_owned()
}

fn attr(id: u32) -> u32 {
    id
}

fn key(id: u32) -> u32 {
    id | LABEL_KEY_BIT
}

fn obj(address: u64, ty: u32, size: u64, rc: u32, flags: u32, edges: &[(u64, u32)]) -> Object {
    Object {
        address,
        type_index: ty,
        size,
        refcount: rc,
        flags,
        edges: edges
            .iter()
            .map(|&(target, label)| Edge { target, label })
            .collect(),
    }
}

fn ty(address: u64, name: u32, module: u32, flags: u32) -> Type {
    Type {
        address,
        name,
        module,
        flags,
    }
}

// ---------------------------------------------------------------------------------------
// The "app" snapshot and its analysis, by hand
// ---------------------------------------------------------------------------------------
//
//   #0  module 'app'  72 B   root (MODULE record)      .__dict__  -> #1
//   #1  dict         232 B                             ['cache']  -> #2, ['node'] -> #5
//   #2  list          88 B   POSITIONAL_EDGES          [0] -> #3, [1] -> #4,
//                                                      [2] -> 0xdead0 (dangling), [3] -> #6
//   #3  app.Item      48 B                             .mod  -> #0 (housekeeping: a module)
//   #4  app.Item      56 B
//   #5  app.Node      64 B   (HAS_FINALIZER)           .other -> #7
//   #6  app.Item      40 B                             .peer -> #4
//   #7  app.Node      64 B                             .other -> #5
//   #8  app.Orphan   100 B   unreachable               .ref -> #3
//   #9  app.Node      32 B   unreachable               .other -> #10
//   #10 app.Node      32 B   unreachable               .other -> #9
//   #11 str 'hello'   53 B   root (refcount 1, no reference in the dump: surplus 1)
//
// Every other refcount equals the object's in-degree, so the roots are #0 and #11.
// 12 objects, 14 edges (1 dangling), 881 shallow bytes; #8, #9, #10 are unreachable
// (164 B), the 9 others (717 B) reachable.
//
// Dominator tree (super-root -> #0, #11; #0 -> #1; #1 -> #2, #5; #2 -> #3, #4, #6: #4 is
// also reached through #6, but #2 dominates both; #5 -> #7) and retained sizes:
//   #3 48, #4 56, #6 40, #2 88+48+56+40 = 232, #7 64, #5 64+64 = 128,
//   #1 232+232+128 = 592, #0 72+592 = 664, #11 53; super-root 664+53 = 717.
//
// Breadth-first distances from the roots #0 and #11 (ascending): #0 0, #11 0, #1 1,
// #2 2, #5 2, #3 3, #4 3 (parent #2, seen before #6), #6 3, #7 3.
//
// Cycles without housekeeping edges (edges into modules, types and their dicts: #3 -> #0
// is left out): {#5, #7} (reachable, retains 128) and {#9, #10} (unreachable: its own
// 64 B), one group of two `app.Node x2` cycles, 192 B shallow, 192 B retained.
// With --all-edges also {#0, #1, #2, #3} (module + dict + list + app.Item), which
// retains everything #0 dominates: 664 B.

const MODULE_APP: u64 = 0x10000;
const DICT: u64 = 0x10100;
const LIST: u64 = 0x10200;
const ITEM3: u64 = 0x10300;
const ITEM4: u64 = 0x10400;
const NODE5: u64 = 0x10500;
const ITEM6: u64 = 0x10600;
const NODE7: u64 = 0x10700;
const ORPHAN: u64 = 0x10800;
const NODE9: u64 = 0x10900;
const NODE10: u64 = 0x10a00;
const HELLO: u64 = 0x10b00;
const DANGLING: u64 = 0xdead0;

const TOTAL: u64 = 881;

fn app_content() -> SnapshotContent {
    let s = |x: &str| x.to_owned();
    // 0    1         2           3       4       5       6      7       8         9
    // 10          11       12      13     14      15       16     17
    let strings = vec![
        s(""),
        s("module"),
        s("builtins"),
        s("dict"),
        s("list"),
        s("Item"),
        s("app"),
        s("Node"),
        s("Orphan"),
        s("str"),
        s("__dict__"),
        s("cache"),
        s("node"),
        s("mod"),
        s("peer"),
        s("other"),
        s("ref"),
        s("hello"),
    ];
    let types = vec![
        ty(0x1000, 1, 2, 0),                                   // 0 module
        ty(0x1100, 3, 2, GC_TYPE),                             // 1 dict
        ty(0x1200, 4, 2, GC_TYPE),                             // 2 list
        ty(0x1300, 5, 6, HEAP_TYPE | GC_TYPE),                 // 3 app.Item
        ty(0x1400, 7, 6, HAS_FINALIZER | HEAP_TYPE | GC_TYPE), // 4 app.Node
        ty(0x1500, 8, 6, HEAP_TYPE),                           // 5 app.Orphan
        ty(0x1600, 9, 0, 0),                                   // 6 str
    ];
    let t = GC_TRACKED;
    let objects = vec![
        obj(MODULE_APP, 0, 72, 1, t, &[(DICT, attr(10))]),
        obj(DICT, 1, 232, 1, t, &[(LIST, key(11)), (NODE5, key(12))]),
        obj(
            LIST,
            2,
            88,
            1,
            t | POSITIONAL_EDGES,
            &[(ITEM3, 0), (ITEM4, 0), (DANGLING, 0), (ITEM6, 0)],
        ),
        obj(ITEM3, 3, 48, 2, t, &[(MODULE_APP, attr(13))]),
        obj(ITEM4, 3, 56, 2, t, &[]),
        obj(NODE5, 4, 64, 2, t, &[(NODE7, attr(15))]),
        obj(ITEM6, 3, 40, 1, t, &[(ITEM4, attr(14))]),
        obj(NODE7, 4, 64, 1, t, &[(NODE5, attr(15))]),
        obj(ORPHAN, 5, 100, 0, 0, &[(ITEM3, attr(16))]),
        obj(NODE9, 4, 32, 1, t, &[(NODE10, attr(15))]),
        obj(NODE10, 4, 32, 1, t, &[(NODE9, attr(15))]),
        obj(HELLO, 6, 53, 1, 0, &[]),
    ];
    SnapshotContent {
        strings,
        types,
        objects,
        roots: vec![Root {
            object: 0,
            kind: root_kind::MODULE,
            label: 6,
            detail: 0,
        }],
        values: vec![
            Value {
                object: 0,
                string: 6,
                kind: 1, // name
                flags: 0,
            },
            Value {
                object: 11,
                string: 17,
                kind: 2, // str
                flags: 0,
            },
        ],
        ..SnapshotContent::default()
    }
}

/// The immediate dominator column of `export`.
#[derive(Clone, Copy, Debug)]
enum Idom {
    Root,
    Obj(u64),
    Unreachable,
}

/// One expected `export` row of the app snapshot (cycle ids are checked separately: only
/// which objects share one is defined).
struct Row {
    address: u64,
    ty: &'static str,
    shallow: u64,
    retained: u64,
    idom: Idom,
    distance: Option<u32>,
    root: bool,
    flags: &'static str,
}

#[allow(clippy::too_many_arguments)] // one argument per column
const fn row(
    address: u64,
    ty: &'static str,
    shallow: u64,
    retained: u64,
    idom: Idom,
    distance: Option<u32>,
    root: bool,
    flags: &'static str,
) -> Row {
    Row {
        address,
        ty,
        shallow,
        retained,
        idom,
        distance,
        root,
        flags,
    }
}

const TRACKED: &str = "GC_TRACKED";

/// Export rows without housekeeping edges (the default).
const APP_ROWS: [Row; 12] = [
    row(
        MODULE_APP,
        "module",
        72,
        664,
        Idom::Root,
        Some(0),
        true,
        TRACKED,
    ),
    row(
        DICT,
        "dict",
        232,
        592,
        Idom::Obj(MODULE_APP),
        Some(1),
        false,
        TRACKED,
    ),
    row(
        LIST,
        "list",
        88,
        232,
        Idom::Obj(DICT),
        Some(2),
        false,
        "GC_TRACKED|POSITIONAL_EDGES",
    ),
    row(
        ITEM3,
        "app.Item",
        48,
        48,
        Idom::Obj(LIST),
        Some(3),
        false,
        TRACKED,
    ),
    row(
        ITEM4,
        "app.Item",
        56,
        56,
        Idom::Obj(LIST),
        Some(3),
        false,
        TRACKED,
    ),
    row(
        NODE5,
        "app.Node",
        64,
        128,
        Idom::Obj(DICT),
        Some(2),
        false,
        TRACKED,
    ),
    row(
        ITEM6,
        "app.Item",
        40,
        40,
        Idom::Obj(LIST),
        Some(3),
        false,
        TRACKED,
    ),
    row(
        NODE7,
        "app.Node",
        64,
        64,
        Idom::Obj(NODE5),
        Some(3),
        false,
        TRACKED,
    ),
    row(
        ORPHAN,
        "app.Orphan",
        100,
        0,
        Idom::Unreachable,
        None,
        false,
        "",
    ),
    row(
        NODE9,
        "app.Node",
        32,
        0,
        Idom::Unreachable,
        None,
        false,
        TRACKED,
    ),
    row(
        NODE10,
        "app.Node",
        32,
        0,
        Idom::Unreachable,
        None,
        false,
        TRACKED,
    ),
    row(HELLO, "str", 53, 53, Idom::Root, Some(0), true, ""),
];

/// Objects on a cycle, as sets of indexes: default and with --all-edges.
const APP_CYCLES: &[&[usize]] = &[&[5, 7], &[9, 10]];
const APP_CYCLES_ALL_EDGES: &[&[usize]] = &[&[0, 1, 2, 3], &[5, 7], &[9, 10]];

/// The summary line that text output ends with.
const APP_SUMMARY_LINE: &str = "12 objects, 881 B shallow, 14 edges (1 to objects not in the dump), 2 roots; 3 unreachable objects (164 B) are garbage awaiting collection";

/// `part / TOTAL` in percent with one decimal (the documented heap share).
fn pct(part: u64) -> f64 {
    (part as f64 * 1000.0 / TOTAL as f64).round() / 10.0
}

fn hex(a: u64) -> String {
    format!("{a:#x}")
}

fn check_app_summary(s: &Json) {
    assert_eq!(s["objects"], 12, "{s}");
    assert_eq!(s["edges"], 14, "{s}");
    assert_eq!(s["dangling_edges"], 1, "{s}");
    assert_eq!(s["roots"], 2, "{s}");
    assert_eq!(s["shallow_bytes"], TOTAL, "{s}");
    assert_eq!(s["reachable_objects"], 9, "{s}");
    assert_eq!(s["unreachable_objects"], 3, "{s}");
    assert_eq!(s["unreachable_bytes"], 164, "{s}");
}

/// Checks an ObjectJson against the app snapshot's object `index`.
fn check_object(o: &Json, index: usize) {
    let r = &APP_ROWS[index];
    assert_eq!(o["index"], index, "{o}");
    assert_eq!(o["address"], hex(r.address), "{o}");
    assert_eq!(o["type"], r.ty, "{o}");
    assert_eq!(o["shallow"], r.shallow, "{o}");
    if let Some(ret) = o.get("retained") {
        assert_eq!(*ret, r.retained, "{o}");
    }
    match index {
        0 => assert_eq!(o["value"], "app", "{o}"),
        11 => assert_eq!(o["value"], "hello", "{o}"),
        _ => assert!(o.get("value").is_none(), "{o}"),
    }
}

fn app_dump(dir: &Path) -> String {
    write_dump(dir, "app.hsnap", &app_content())
}

fn last_line(text: &str) -> &str {
    text.lines().last().unwrap_or("")
}

// ---------------------------------------------------------------------------------------
// 1. Every command, text and JSON, with the known numbers
// ---------------------------------------------------------------------------------------

#[test]
fn top_ranks_types_by_retained_count_and_size() {
    let dir = tempfile::tempdir().unwrap();
    let p = app_dump(dir.path());
    // (type, count, shallow, retained per type without double counting, unreachable):
    // app.Item: #3, #4, #6 are not inside one another's dominator subtrees, 48+56+40;
    // app.Node: #5 (128, #7 inside it), the unreachable #9 and #10 retain nothing.
    let by_retained = [
        ("module", 1, 72, 664, 0),
        ("dict", 1, 232, 592, 0),
        ("list", 1, 88, 232, 0),
        ("app.Item", 3, 144, 144, 0),
        ("app.Node", 4, 192, 128, 2),
        ("str", 1, 53, 53, 0),
        ("app.Orphan", 1, 100, 0, 1),
    ];
    let find = |name: &str| *by_retained.iter().find(|r| r.0 == name).unwrap();
    let by_count = [
        "app.Node",
        "app.Item",
        "dict",
        "app.Orphan",
        "list",
        "module",
        "str",
    ];
    let by_size = [
        "dict",
        "app.Node",
        "app.Item",
        "app.Orphan",
        "list",
        "module",
        "str",
    ];

    let d = json("top", &["top", "--json", &p]);
    assert_eq!(d["by"], "retained");
    check_app_summary(&d["summary"]);
    assert_eq!(d["more_types"], 0);
    let rows = d["types"].as_array().unwrap();
    assert_eq!(rows.len(), 7);
    for (r, want) in rows.iter().zip(&by_retained) {
        assert_eq!(r["type"], want.0, "{r}");
        assert_eq!(r["count"], want.1, "{r}");
        assert_eq!(r["shallow"], want.2, "{r}");
        assert_eq!(r["retained"], want.3, "{r}");
        assert_eq!(r["unreachable"], want.4, "{r}");
        assert_eq!(r["heap_percent"].as_f64(), Some(pct(want.3)), "{r}");
    }

    for (by, order) in [("count", &by_count), ("size", &by_size)] {
        let d = json("top", &["top", "--json", "--by", by, &p]);
        assert_eq!(d["by"], by);
        let rows = d["types"].as_array().unwrap();
        let names: Vec<&str> = rows.iter().map(|r| r["type"].as_str().unwrap()).collect();
        assert_eq!(names, order.to_vec(), "--by {by}");
        for r in rows {
            let want = find(r["type"].as_str().unwrap());
            assert_eq!(r["count"], want.1, "{r}");
            assert_eq!(r["shallow"], want.2, "{r}");
            assert!(r.get("retained").is_none(), "--by {by}: {r}");
            assert_eq!(r["heap_percent"].as_f64(), Some(pct(want.2)), "{r}");
        }
    }

    // -n limits the rows; -n 0 shows all.
    let d = json("top", &["top", "--json", "--by", "count", "-n", "2", &p]);
    assert_eq!(d["types"].as_array().unwrap().len(), 2);
    assert_eq!(d["more_types"], 5);
    let d = json("top", &["top", "--json", "-n", "0", &p]);
    assert_eq!(d["types"].as_array().unwrap().len(), 7);

    // Text: a header, one row per type in the same order, the summary line.
    let text = ok(&["top", &p]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + 7 + 1, "{text}");
    assert!(
        lines[0].contains("count") && lines[0].contains("retained"),
        "{text}"
    );
    for (line, want) in lines[1..8].iter().zip(&by_retained) {
        let t: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(t[0], want.1.to_string(), "{line}");
        assert_eq!(t[1..3], [want.2.to_string(), "B".into()], "{line}");
        assert_eq!(t[3..5], [want.3.to_string(), "B".into()], "{line}");
        assert_eq!(t[5], format!("{:.1}", pct(want.3)), "{line}");
        assert_eq!(t[6], want.0, "{line}");
        if want.4 > 0 {
            assert!(
                line.ends_with(&format!("  ({} unreachable)", want.4)),
                "{line}"
            );
        } else {
            assert_eq!(t.len(), 7, "{line}");
        }
    }
    assert_eq!(lines[8], APP_SUMMARY_LINE);

    let text = ok(&["top", "--by", "size", "-n", "3", &p]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + 3 + 2, "{text}");
    assert!(!lines[0].contains("retained"), "{text}");
    for (line, name) in lines[1..4].iter().zip(&by_size) {
        let want = find(name);
        let t: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(t[0], want.1.to_string(), "{line}");
        assert_eq!(t[1], want.2.to_string(), "{line}");
        assert_eq!(t[3], format!("{:.1}", pct(want.2)), "{line}");
        assert_eq!(t[4], *name, "{line}");
    }
    assert_eq!(lines[4], "(4 more types; -n 0 shows all)");
    assert_eq!(lines[5], APP_SUMMARY_LINE);
}

/// A dominator tree in one line: `index:retained`, then `[children]`, then `{+n/bytes}`
/// when children were left out; `|+n/bytes` at the end for roots left out.
fn tree_shape(d: &Json) -> String {
    fn node(n: &Json, out: &mut String) {
        out.push_str(&format!("{}:{}", n["index"], n["retained"]));
        let kids = n["children"].as_array().unwrap();
        if !kids.is_empty() {
            out.push('[');
            for (i, k) in kids.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                node(k, out);
            }
            out.push(']');
        }
        if n["more"]["count"] != 0 {
            out.push_str(&format!(
                "{{+{}/{}}}",
                n["more"]["count"], n["more"]["retained"]
            ));
        }
    }
    let mut out = String::new();
    for (i, n) in d["tree"].as_array().unwrap().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        node(n, &mut out);
    }
    if d["more"]["count"] != 0 {
        out.push_str(&format!(
            "|+{}/{}",
            d["more"]["count"], d["more"]["retained"]
        ));
    }
    out
}

/// Every node of a JSON dominator tree, depth first.
fn tree_nodes(d: &Json) -> Vec<Json> {
    fn walk(n: &Json, out: &mut Vec<Json>) {
        out.push(n.clone());
        for k in n["children"].as_array().unwrap() {
            walk(k, out);
        }
    }
    let mut out = Vec::new();
    for n in d["tree"].as_array().unwrap() {
        walk(n, &mut out);
    }
    out
}

#[test]
fn dominators_show_the_tree_with_retained_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let p = app_dump(dir.path());
    let d = json("dominators", &["dominators", "--json", &p]);
    check_app_summary(&d["summary"]);
    assert_eq!(d["reachable_bytes"], 717);
    // Children biggest first: #2 (232) before #5 (128); #4 (56), #3 (48), #6 (40).
    assert_eq!(
        tree_shape(&d),
        "0:664[1:592[2:232[4:56,3:48,6:40],5:128[7:64]]],11:53"
    );
    for n in tree_nodes(&d) {
        let i = n["index"].as_u64().unwrap() as usize;
        check_object(&n, i);
        // Only the super-root's children say why they are roots.
        match i {
            0 => {
                let r = n["root"].as_str().unwrap();
                assert!(r.starts_with("module") && r.contains("app"), "{r}");
            }
            11 => {
                let r = n["root"].as_str().unwrap();
                assert!(r.contains("refcount surplus 1"), "{r}");
            }
            _ => assert!(n.get("root").is_none(), "{n}"),
        }
    }

    // --depth 2: #1's children are summed up (#2 232 + #5 128).
    let d = json("dominators", &["dominators", "--json", "--depth", "2", &p]);
    assert_eq!(tree_shape(&d), "0:664[1:592{+2/360}],11:53");
    // -n 1: only the biggest child at each level.
    let d = json("dominators", &["dominators", "--json", "-n", "1", &p]);
    assert_eq!(
        tree_shape(&d),
        "0:664[1:592[2:232[4:56]{+2/88}]{+1/128}]|+1/53"
    );

    // Text: retained, heap%, shallow, then the object indented two spaces per level.
    let text = ok(&["dominators", &p]);
    let lines: Vec<&str> = text.lines().collect();
    let want = [
        (0, MODULE_APP, 664, 72, "module"),
        (1, DICT, 592, 232, "dict"),
        (2, LIST, 232, 88, "list"),
        (3, ITEM4, 56, 56, "app.Item"),
        (3, ITEM3, 48, 48, "app.Item"),
        (3, ITEM6, 40, 40, "app.Item"),
        (2, NODE5, 128, 64, "app.Node"),
        (3, NODE7, 64, 64, "app.Node"),
        (0, HELLO, 53, 53, "str"),
    ];
    assert_eq!(lines.len(), 1 + want.len() + 1, "{text}");
    assert!(lines[0].contains("retained") && lines[0].contains("object"));
    for (line, &(level, addr, ret, shallow, ty)) in lines[1..].iter().zip(&want) {
        let t: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(t[..2], [ret.to_string().as_str(), "B"], "{line}");
        assert_eq!(t[2], format!("{:.1}", pct(ret)), "{line}");
        assert_eq!(t[3..5], [shallow.to_string().as_str(), "B"], "{line}");
        // The object column starts after the three right-aligned columns.
        let at = line.find(&format!("  {ty}")).unwrap() + 2;
        let lead = line[..at].len() - line[..at].trim_end().len() - 2;
        assert_eq!(lead, 2 * level, "indent of {line:?}");
        assert!(line.contains(&format!(" at {}", hex(addr))), "{line}");
    }
    assert!(lines[1].contains("[root: module"), "{text}");
    assert!(lines[9].contains("\"hello\""), "{text}");
    assert!(
        lines[9].contains("[root: ") && lines[9].contains("refcount surplus 1"),
        "{text}"
    );
    assert_eq!(lines[10], APP_SUMMARY_LINE);

    let text = ok(&["dominators", "-n", "1", "--depth", "2", &p]);
    assert!(
        text.lines()
            .any(|l| l.trim_start() == "(+2 more, 360 B together)"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.trim_start() == "(+1 more, 53 B together)"),
        "{text}"
    );
}

#[test]
fn cycles_are_grouped_with_finalizers_and_reachability() {
    let dir = tempfile::tempdir().unwrap();
    let p = app_dump(dir.path());
    let node_group = |g: &Json| {
        assert_eq!(
            g["types"],
            serde_json::json!([{"type": "app.Node", "count": 2}])
        );
        assert_eq!(g["cycles"], 2, "{g}");
        assert_eq!(g["objects"], 4, "{g}");
        assert_eq!(g["shallow"], 192, "{g}");
        // The reachable cycle retains 128 (#5 dominates #7); the unreachable one counts
        // its own 64 bytes.
        assert_eq!(g["retained"], 192, "{g}");
        assert_eq!(g["finalizer"], true, "{g}");
        assert_eq!(g["reachable_cycles"], 1, "{g}");
        // The example is the cycle retaining most: {#5, #7}.
        let ex = g["example"].as_array().unwrap();
        assert_eq!(ex.len(), 2, "{g}");
        check_object(&ex[0], 5);
        check_object(&ex[1], 7);
        assert_eq!(g["example_size"], 2, "{g}");
        assert_eq!(g["example_retained"], 128, "{g}");
    };

    let d = json("cycles", &["cycles", "--json", &p]);
    check_app_summary(&d["summary"]);
    assert_eq!(d["all_edges"], false);
    assert_eq!(d["cycles"], 2);
    assert_eq!(d["group_count"], 1);
    let groups = d["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1);
    node_group(&groups[0]);

    let d = json("cycles", &["cycles", "--json", "--all-edges", &p]);
    assert_eq!(d["all_edges"], true);
    assert_eq!(d["cycles"], 3);
    assert_eq!(d["group_count"], 2);
    let groups = d["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    let g = &groups[0];
    assert_eq!(
        g["types"],
        serde_json::json!([
            {"type": "module", "count": 1},
            {"type": "dict", "count": 1},
            {"type": "list", "count": 1},
            {"type": "app.Item", "count": 1},
        ])
    );
    assert_eq!(g["cycles"], 1);
    assert_eq!(g["objects"], 4);
    assert_eq!(g["shallow"], 72 + 232 + 88 + 48);
    assert_eq!(g["retained"], 664);
    assert_eq!(g["finalizer"], false);
    assert_eq!(g["reachable_cycles"], 1);
    let ex: Vec<u64> = g["example"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["index"].as_u64().unwrap())
        .collect();
    assert_eq!(ex, [0, 1, 2, 3]);
    assert_eq!(g["example_retained"], 664);
    node_group(&groups[1]);

    let d = json(
        "cycles",
        &["cycles", "--json", "--all-edges", "-n", "1", &p],
    );
    assert_eq!(d["groups"].as_array().unwrap().len(), 1);
    assert_eq!(d["group_count"], 2);

    let text = ok(&["cycles", &p]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert!(
        lines[0].starts_with("2 reference cycles in 1 groups"),
        "{text}"
    );
    let t: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(t[..7], ["2", "4", "192", "B", "192", "B", "1"], "{text}");
    assert!(
        lines[2].ends_with("app.Node x2  [has __del__/finalizer]"),
        "{text}"
    );
    assert_eq!(
        lines[3].trim(),
        "e.g. app.Node at 0x10500, app.Node at 0x10700"
    );
    assert_eq!(lines[4], APP_SUMMARY_LINE);

    let text = ok(&["cycles", "--all-edges", "-n", "1", &p]);
    assert!(
        text.starts_with("3 reference cycles in 2 groups (all edges)"),
        "{text}"
    );
    assert!(text.contains("module + dict + list + app.Item"), "{text}");
    assert!(!text.contains("finalizer"), "{text}");
    assert!(text.contains("(1 more groups; -n 0 shows all)"), "{text}");
}

/// The steps of a JSON path as `(edge label, object index)`.
fn steps(path: &Json) -> Vec<(Option<String>, u64)> {
    path["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s.get("edge").map(|e| e.as_str().unwrap().to_owned()),
                s["object"]["index"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn st(label: Option<&str>, i: u64) -> (Option<String>, u64) {
    (label.map(str::to_owned), i)
}

#[test]
fn path_explains_why_an_object_is_alive() {
    let dir = tempfile::tempdir().unwrap();
    let p = app_dump(dir.path());

    // #6 by address: module .__dict__ -> dict ['cache'] -> list [3] -> app.Item (the
    // dangling edge is item [2]).
    let d = json("path", &["path", "--json", &p, "0x10600"]);
    check_app_summary(&d["summary"]);
    check_object(&d["target"], 6);
    assert_eq!(d["depth"], 3);
    let paths = d["paths"].as_array().unwrap();
    assert_eq!(paths.len(), 1, "{d}");
    assert_eq!(
        steps(&paths[0]),
        [
            st(None, 0),
            st(Some(".__dict__"), 1),
            st(Some("['cache']"), 2),
            st(Some("[3]"), 6),
        ]
    );
    let root = paths[0]["root"].as_str().unwrap();
    assert!(root.starts_with("module") && root.contains("app"), "{root}");
    let chain = paths[0]["chain"].as_str().unwrap();
    assert!(chain.starts_with("module"), "{chain}");
    assert!(
        chain.ends_with(".__dict__ -> dict['cache'] -> list[3] -> app.Item"),
        "{chain}"
    );
    for (s, i) in paths[0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .zip([0, 1, 2, 6])
    {
        check_object(&s["object"], i);
    }

    // #4 by index, -k 3: the shortest path through the list, then the one through its
    // other referrer #6.
    let d = json("path", &["path", "--json", &p, "#4", "-k", "3"]);
    assert_eq!(d["depth"], 3);
    let paths = d["paths"].as_array().unwrap();
    assert_eq!(paths.len(), 2, "{d}");
    assert_eq!(
        steps(&paths[0]),
        [
            st(None, 0),
            st(Some(".__dict__"), 1),
            st(Some("['cache']"), 2),
            st(Some("[1]"), 4),
        ]
    );
    assert_eq!(
        steps(&paths[1]),
        [
            st(None, 0),
            st(Some(".__dict__"), 1),
            st(Some("['cache']"), 2),
            st(Some("[3]"), 6),
            st(Some(".peer"), 4),
        ]
    );
    let d = json("path", &["path", "--json", &p, "#4", "-k", "1"]);
    assert_eq!(d["paths"].as_array().unwrap().len(), 1);

    // The cycle member #7: one path (the other referrer's path runs through #7 itself).
    let d = json("path", &["path", "--json", &p, "#7"]);
    assert_eq!(d["depth"], 3);
    let paths = d["paths"].as_array().unwrap();
    assert_eq!(paths.len(), 1);
    assert_eq!(
        steps(&paths[0]),
        [
            st(None, 0),
            st(Some(".__dict__"), 1),
            st(Some("['node']"), 5),
            st(Some(".other"), 7),
        ]
    );

    // Unreachable: no depth, no paths.
    let d = json("path", &["path", "--json", &p, "0x10800"]);
    check_object(&d["target"], 8);
    assert!(d["depth"].is_null(), "{d}");
    assert_eq!(d["paths"], serde_json::json!([]));
    // A root: depth 0, one path of one step.
    let d = json("path", &["path", "--json", &p, "#11"]);
    assert_eq!(d["depth"], 0);
    let paths = d["paths"].as_array().unwrap();
    assert_eq!(paths.len(), 1);
    assert_eq!(steps(&paths[0]), [st(None, 11)]);
    assert!(paths[0]["root"]
        .as_str()
        .unwrap()
        .contains("refcount surplus 1"));

    // Text.
    let text = ok(&["path", &p, "0x10600"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "app.Item at 0x10600 is alive: 1 path shown, the shortest 3 references long"
    );
    assert!(lines[2].starts_with("path 1 from module"), "{text}");
    assert!(
        lines[3].ends_with(".__dict__ -> dict['cache'] -> list[3] -> app.Item"),
        "{text}"
    );
    let step_lines: Vec<Vec<&str>> = lines[4..8]
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(step_lines[0][0], "module", "{text}");
    assert_eq!(
        step_lines[1],
        [".__dict__", "dict", "at", "0x10100"],
        "{text}"
    );
    assert_eq!(
        step_lines[2],
        ["['cache']", "list", "at", "0x10200"],
        "{text}"
    );
    assert_eq!(
        step_lines[3],
        ["[3]", "app.Item", "at", "0x10600"],
        "{text}"
    );
    assert_eq!(last_line(&text), APP_SUMMARY_LINE);

    let text = ok(&["path", &p, "#4"]);
    assert!(
        text.starts_with(
            "app.Item at 0x10400 is alive: 2 paths shown, the shortest 3 references long"
        ),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == [".peer", "app.Item", "at", "0x10400"]),
        "{text}"
    );
    let text = ok(&["path", &p, "#8"]);
    assert!(
        text.starts_with(
            "app.Orphan at 0x10800 is not reachable from any root: it is garbage awaiting collection\n"
        ),
        "{text}"
    );
    let text = ok(&["path", &p, "#11"]);
    assert!(
        text.starts_with("str at 0x10b00 is itself a root: "),
        "{text}"
    );
    assert!(text.lines().next().unwrap().contains("refcount surplus 1"));
}

#[test]
fn path_to_a_type_merges_instances_by_path_shape() {
    let dir = tempfile::tempdir().unwrap();
    let p = app_dump(dir.path());

    // The three Items all hang off the list: one shape with [*] for the position.
    for name in ["Item", "app.Item"] {
        let d = json("path", &["path", "--json", &p, name]);
        check_app_summary(&d["summary"]);
        assert_eq!(d["type"], name);
        assert_eq!(d["instances"], 3);
        assert_eq!(d["unreachable_instances"], 0);
        assert_eq!(d["more_groups"], 0);
        let groups = d["groups"].as_array().unwrap();
        assert_eq!(groups.len(), 1, "{d}");
        assert_eq!(groups[0]["instances"], 3);
        let chain = groups[0]["chain"].as_str().unwrap();
        assert!(
            chain.ends_with(".__dict__ -> dict['cache'] -> list[*] -> app.Item"),
            "{chain}"
        );
        check_object(&groups[0]["example"], 3);
    }

    // Nodes: #5 and #7 have different shapes, #9 and #10 are unreachable.
    let d = json("path", &["path", "--json", &p, "Node"]);
    assert_eq!(d["instances"], 4);
    assert_eq!(d["unreachable_instances"], 2);
    let groups = d["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2, "{d}");
    let chains: Vec<&str> = groups
        .iter()
        .map(|g| g["chain"].as_str().unwrap())
        .collect();
    assert!(
        chains[0].ends_with(".__dict__ -> dict['node'] -> app.Node"),
        "{chains:?}"
    );
    assert!(
        chains[1].ends_with(".__dict__ -> dict['node'] -> app.Node.other -> app.Node"),
        "{chains:?}"
    );
    check_object(&groups[0]["example"], 5);
    check_object(&groups[1]["example"], 7);
    let d = json("path", &["path", "--json", &p, "Node", "-k", "1"]);
    assert_eq!(d["groups"].as_array().unwrap().len(), 1);
    assert_eq!(d["more_groups"], 1);

    let text = ok(&["path", &p, "Node", "-k", "1"]);
    assert!(
        text.starts_with("4 instances of Node (2 unreachable: garbage awaiting collection)\n"),
        "{text}"
    );
    assert!(
        text.contains("1 reached by: ") && text.contains("(e.g. app.Node at 0x10500)"),
        "{text}"
    );
    assert!(
        text.contains("(1 more path shapes; -k raises the number shown)"),
        "{text}"
    );
    assert_eq!(last_line(&text), APP_SUMMARY_LINE);
    let text = ok(&["path", &p, "Orphan"]);
    assert!(
        text.starts_with("1 instances of Orphan (1 unreachable: garbage awaiting collection)\n"),
        "{text}"
    );
}

/// Objects of a `refs --json` result as `(index, distance, finalizer, in_cycle, more)`,
/// and references as `(from, to, label)`.
type RefsShape = (
    Vec<(u64, u64, bool, bool, u64)>,
    Vec<(u64, u64, Option<String>)>,
);

fn refs_shape(d: &Json) -> RefsShape {
    let objects = d["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["index"].as_u64().unwrap(),
                o["distance"].as_u64().unwrap(),
                o["finalizer"].as_bool().unwrap(),
                o["in_cycle"].as_bool().unwrap(),
                o["more"].as_u64().unwrap(),
            )
        })
        .collect();
    let refs = d["references"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["from"].as_u64().unwrap(),
                r["to"].as_u64().unwrap(),
                r.get("label").map(|l| l.as_str().unwrap().to_owned()),
            )
        })
        .collect();
    (objects, refs)
}

fn rf(from: u64, to: u64, label: &str) -> (u64, u64, Option<String>) {
    (from, to, Some(label.to_owned()))
}

#[test]
fn refs_shows_referents_and_referrers() {
    let dir = tempfile::tempdir().unwrap();
    let p = app_dump(dir.path());

    // From the dict, three levels, breadth first: positions
    // 0 #1, 1 #2, 2 #5, 3 #3, 4 #4, 5 #6, 6 #7, 7 #0 (level 3, not expanded). Among them,
    // #5 <-> #7 is a cycle (#0 -> #1 is not followed: #0 is at the depth limit).
    let d = json("refs", &["refs", "--json", &p, "0x10100"]);
    assert_eq!(d["direction"], "referents");
    assert_eq!(d["truncated"], false);
    let (objects, refs) = refs_shape(&d);
    assert_eq!(
        objects,
        [
            (1, 0, false, false, 0),
            (2, 1, false, false, 0),
            (5, 1, true, true, 0),
            (3, 2, false, false, 0),
            (4, 2, false, false, 0),
            (6, 2, false, false, 0),
            (7, 2, true, true, 0),
            (0, 3, false, false, 0),
        ]
    );
    assert_eq!(
        refs,
        [
            rf(0, 1, "['cache']"),
            rf(0, 2, "['node']"),
            rf(1, 3, "[0]"),
            rf(1, 4, "[1]"),
            rf(1, 5, "[3]"),
            rf(2, 6, ".other"),
            rf(3, 7, ".mod"),
            rf(5, 4, ".peer"),
            rf(6, 2, ".other"),
        ]
    );
    for o in d["objects"].as_array().unwrap() {
        check_object(o, o["index"].as_u64().unwrap() as usize);
        assert!(
            o.get("retained").is_none(),
            "refs computes no dominators: {o}"
        );
    }

    let text = ok(&["refs", &p, "0x10100"]);
    assert_eq!(
        text,
        "dict at 0x10100 (232 B)\n\
         \x20 ['cache'] -> list at 0x10200 (88 B)\n\
         \x20   [0] -> app.Item at 0x10300 (48 B)\n\
         \x20     .mod -> module \"app\" at 0x10000 (72 B)\n\
         \x20   [1] -> app.Item at 0x10400 (56 B)\n\
         \x20   [3] -> app.Item at 0x10600 (40 B)\n\
         \x20     .peer -> app.Item at 0x10400 (shown above)\n\
         \x20 ['node'] -> app.Node at 0x10500 (64 B) [finalizer] [cycle]\n\
         \x20   .other -> app.Node at 0x10700 (64 B) [finalizer] [cycle]\n\
         \x20     .other -> app.Node at 0x10500 (shown above)\n"
    );

    // Referrers of #4: the list (as item [1]) and #6 (.peer), then theirs.
    let d = json("refs", &["refs", "--json", "--back", &p, "#4"]);
    assert_eq!(d["direction"], "referrers");
    let (objects, refs) = refs_shape(&d);
    let idx: Vec<u64> = objects.iter().map(|o| o.0).collect();
    assert_eq!(idx, [4, 2, 6, 1, 0]);
    let dist: Vec<u64> = objects.iter().map(|o| o.1).collect();
    assert_eq!(dist, [0, 1, 1, 2, 3]);
    assert_eq!(
        refs,
        [
            rf(1, 0, "[1]"),
            rf(2, 0, ".peer"),
            rf(3, 1, "['cache']"),
            rf(1, 2, "[3]"),
            rf(4, 3, ".__dict__"),
        ]
    );
    let text = ok(&["refs", "--back", &p, "#4"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "app.Item at 0x10400 (56 B)");
    assert_eq!(lines[1], "  <- [1] list at 0x10200 (88 B)");
    assert_eq!(lines[2], "    <- ['cache'] dict at 0x10100 (232 B)");

    // Limits: --fanout 1 keeps the first referent of the list and counts the others.
    let d = json(
        "refs",
        &["refs", "--json", &p, "#2", "--fanout", "1", "--depth", "1"],
    );
    assert_eq!(d["truncated"], true);
    let (objects, refs) = refs_shape(&d);
    assert_eq!(objects, [(2, 0, false, false, 2), (3, 1, false, false, 0)]);
    assert_eq!(refs, [rf(0, 1, "[0]")]);
    let text = ok(&["refs", &p, "#2", "--fanout", "1", "--depth", "1"]);
    assert!(text.contains("\n  ... 2 more\n"), "{text}");
    assert!(text.ends_with("(limits reached: raise --max-nodes or --fanout to see more)\n"));
    // --max-nodes 2: the dict and the list.
    let d = json("refs", &["refs", "--json", &p, "#1", "--max-nodes", "2"]);
    assert_eq!(d["truncated"], true);
    let (objects, _) = refs_shape(&d);
    assert_eq!(objects.iter().map(|o| o.0).collect::<Vec<_>>(), [1, 2]);
    // --depth 0: the object alone.
    let d = json("refs", &["refs", "--json", &p, "#1", "--depth", "0"]);
    assert_eq!(d["objects"].as_array().unwrap().len(), 1);
    assert_eq!(d["references"], serde_json::json!([]));

    // DOT: one node per object, one edge per reference, labels as above.
    let dot = ok(&["refs", "--format", "dot", &p, "0x10100"]);
    let literals = check_dot(&dot);
    assert!(dot.starts_with("digraph referents {\n"), "{dot}");
    let node_lines = dot
        .lines()
        .filter(|l| l.contains(" [label=") && !l.contains("->"));
    assert_eq!(node_lines.count(), 8, "{dot}");
    let edge_lines: Vec<&str> = dot.lines().filter(|l| l.contains(" -> ")).collect();
    assert_eq!(edge_lines.len(), 9, "{dot}");
    assert_eq!(edge_lines[0].trim(), "n0 -> n1 [label=\"['cache']\"];");
    assert!(
        literals.iter().any(|l| l == "dict\n0x10100 (232 B)"),
        "{literals:?}"
    );
    let dot = ok(&["refs", "--format", "dot", "--back", &p, "#4"]);
    check_dot(&dot);
    assert!(dot.starts_with("digraph referrers {\n"), "{dot}");
}

//   #0 module 'a'  100 B  root (MODULE)   .s -> #2, .none -> #3
//   #1 module 'b'  100 B  root (MODULE)   .s -> #2, .none -> #3
//   #2 app.Shared  500 B  held by both modules: no object dominates it
//   #3 NoneType     16 B  REFCOUNT_UNKNOWN: immortal, a root of its own
// Every object hangs off the super-root: #0 and #1 retain only themselves (SPEC 4.6: an
// immortal is never charged to ordinary objects), the super-root 716 B.
fn shared_content() -> SnapshotContent {
    let strings = [
        "", "module", "builtins", "NoneType", "Shared", "app", "a", "b", "s", "none",
    ];
    SnapshotContent {
        strings: strings.iter().map(|s| s.to_string()).collect(),
        types: vec![
            ty(0x1000, 1, 2, 0),
            ty(0x1100, 3, 2, 0),
            ty(0x1200, 4, 5, HEAP_TYPE),
        ],
        objects: vec![
            obj(
                0x30000,
                0,
                100,
                0,
                GC_TRACKED,
                &[(0x30200, attr(8)), (0x30300, attr(9))],
            ),
            obj(
                0x30100,
                0,
                100,
                0,
                GC_TRACKED,
                &[(0x30200, attr(8)), (0x30300, attr(9))],
            ),
            obj(0x30200, 2, 500, 2, GC_TRACKED, &[]),
            obj(0x30300, 1, 16, u32::MAX, REFCOUNT_UNKNOWN, &[]),
        ],
        roots: vec![
            Root {
                object: 0,
                kind: root_kind::MODULE,
                label: 6,
                detail: 0,
            },
            Root {
                object: 1,
                kind: root_kind::MODULE,
                label: 7,
                detail: 0,
            },
        ],
        ..SnapshotContent::default()
    }
}

#[test]
fn shared_objects_and_immortals_hang_off_the_super_root() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_dump(dir.path(), "shared.hsnap", &shared_content());

    let d = json("dominators", &["dominators", "--json", &p]);
    assert_eq!(d["reachable_bytes"], 716);
    assert_eq!(d["summary"]["roots"], 3);
    assert_eq!(d["summary"]["unreachable_objects"], 0);
    assert_eq!(tree_shape(&d), "2:500,0:100,1:100,3:16");
    let tree = d["tree"].as_array().unwrap();
    assert_eq!(tree[0]["root"], "reachable from several roots");
    assert!(
        tree[1]["root"].as_str().unwrap().contains('a'),
        "{}",
        tree[1]
    );
    assert!(
        tree[3]["root"].as_str().unwrap().contains("immortal"),
        "{}",
        tree[3]
    );

    let d = json("top", &["top", "--json", &p]);
    let rows: Vec<(String, u64)> = d["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["type"].as_str().unwrap().to_owned(),
                r["retained"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("app.Shared".into(), 500),
            ("module".into(), 200),
            ("NoneType".into(), 16)
        ]
    );

    let rows = parse_csv(&ok(&["export", "--format", "csv", &p]));
    let col =
        |r: usize, c: &str| rows[r + 1][COLUMNS.iter().position(|x| *x == c).unwrap()].clone();
    for (r, retained, root, distance) in [
        (0, "100", "true", "0"),
        (1, "100", "true", "0"),
        (2, "500", "false", "1"),
        (3, "16", "true", "0"),
    ] {
        assert_eq!(col(r, "retained_size"), retained, "row {r}");
        assert_eq!(col(r, "idom"), "root", "row {r}");
        assert_eq!(col(r, "root"), root, "row {r}");
        assert_eq!(col(r, "distance"), distance, "row {r}");
    }
    assert_eq!(col(3, "flags"), "REFCOUNT_UNKNOWN");

    // Two paths to the shared object, one through each module.
    let d = json("path", &["path", "--json", &p, "0x30200"]);
    let paths = d["paths"].as_array().unwrap();
    assert_eq!(paths.len(), 2);
    assert_eq!(steps(&paths[0]), [st(None, 0), st(Some(".s"), 2)]);
    assert_eq!(steps(&paths[1]), [st(None, 1), st(Some(".s"), 2)]);
    let text = ok(&["path", &p, "#3"]);
    assert!(
        text.starts_with("NoneType at 0x30300 is itself a root: immortal\n"),
        "{text}"
    );
}

/// Parses CSV (RFC 4180, LF or CRLF line ends); fails on malformed quoting.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut at_field_start = true;
    let mut quoted_field = false;
    while let Some(c) = chars.next() {
        if at_field_start && c == '"' {
            at_field_start = false;
            quoted_field = true;
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(x) => field.push(x),
                    None => panic!("unterminated quoted CSV field"),
                }
            }
            assert!(
                matches!(chars.peek(), None | Some(',' | '\n' | '\r')),
                "text after a closing quote: {:?}",
                chars.clone().take(20).collect::<String>()
            );
            continue;
        }
        at_field_start = false;
        match c {
            ',' => {
                row.push(std::mem::take(&mut field));
                at_field_start = true;
                quoted_field = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
                at_field_start = true;
                quoted_field = false;
            }
            '"' => panic!("a quote inside an unquoted CSV field"),
            _ => {
                assert!(!quoted_field);
                field.push(c);
            }
        }
    }
    assert!(
        row.is_empty() && field.is_empty(),
        "the last CSV line is not terminated"
    );
    rows
}

const COLUMNS: [&str; 12] = [
    "index",
    "address",
    "type",
    "shallow_size",
    "retained_size",
    "idom",
    "distance",
    "cycle",
    "cycle_size",
    "root",
    "reachable",
    "flags",
];

/// Checks export rows (CSV fields as text) against the app snapshot; `cycles` lists the
/// members of each cycle.
fn check_app_rows(rows: &[Vec<String>], cycles: &[&[usize]]) {
    assert_eq!(rows.len(), APP_ROWS.len());
    for (i, (got, want)) in rows.iter().zip(&APP_ROWS).enumerate() {
        let in_cycle = cycles.iter().find(|c| c.contains(&i));
        let idom = match want.idom {
            Idom::Root => "root".to_owned(),
            Idom::Obj(a) => hex(a),
            Idom::Unreachable => String::new(),
        };
        let expect = [
            i.to_string(),
            hex(want.address),
            want.ty.to_owned(),
            want.shallow.to_string(),
            want.retained.to_string(),
            idom,
            want.distance.map(|d| d.to_string()).unwrap_or_default(),
            got[7].clone(), // cycle id: checked below
            in_cycle.map_or(1, |c| c.len()).to_string(),
            want.root.to_string(),
            want.distance.is_some().to_string(),
            want.flags.to_owned(),
        ];
        assert_eq!(got[..], expect[..], "row {i}");
        if in_cycle.is_none() {
            assert_eq!(got[7], "", "row {i}");
        }
    }
    // Members of one cycle share an id; different cycles have different ids.
    let mut ids = Vec::new();
    for c in cycles {
        let id = &rows[c[0]][7];
        assert!(id.parse::<u64>().is_ok(), "cycle id {id:?}");
        for &m in c.iter() {
            assert_eq!(&rows[m][7], id, "row {m}");
        }
        ids.push(id.clone());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), cycles.len());
}

/// JSONL rows as CSV-like text fields (null -> "", strings unquoted, booleans and
/// numbers as text), checking each line's keys.
fn jsonl_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|line| {
            let v: Json = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            let o = v.as_object().unwrap();
            let mut keys: Vec<&str> = o.keys().map(String::as_str).collect();
            let mut want = COLUMNS.to_vec();
            keys.sort_unstable();
            want.sort_unstable();
            assert_eq!(keys, want, "{line}");
            COLUMNS
                .iter()
                .map(|&c| match &o[c] {
                    Json::Null => String::new(),
                    Json::String(s) => s.clone(),
                    x => x.to_string(),
                })
                .collect()
        })
        .collect()
}

#[test]
fn export_writes_one_row_per_object_in_csv_and_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    let p = app_dump(dir.path());

    let csv = ok(&["export", "--format", "csv", &p]);
    let rows = parse_csv(&csv);
    assert_eq!(rows[0], COLUMNS, "header");
    check_app_rows(&rows[1..], APP_CYCLES);

    let jsonl = ok(&["export", "--format", "jsonl", &p]);
    assert_eq!(jsonl.lines().count(), 12);
    let jrows = jsonl_rows(&jsonl);
    // JSONL keeps JSON types: numbers, booleans, null for "none".
    let first: Json = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert_eq!(first["retained_size"], 664);
    assert_eq!(first["root"], true);
    assert!(first["cycle"].is_null());
    let orphan: Json = serde_json::from_str(jsonl.lines().nth(8).unwrap()).unwrap();
    assert!(
        orphan["idom"].is_null() && orphan["distance"].is_null(),
        "{orphan}"
    );
    assert_eq!(orphan["reachable"], false);
    assert_eq!(jrows, rows[1..], "JSONL rows agree with the CSV rows");

    // --all-edges: {#0, #1, #2, #3} is a cycle too.
    let csv = ok(&["export", "--format", "csv", "--all-edges", &p]);
    let rows = parse_csv(&csv);
    check_app_rows(&rows[1..], APP_CYCLES_ALL_EDGES);
    let jsonl = ok(&["export", "--format", "jsonl", "--all-edges", &p]);
    assert_eq!(jsonl_rows(&jsonl), rows[1..]);
}

// ---------------------------------------------------------------------------------------
// 6. -o FILE
// ---------------------------------------------------------------------------------------

#[test]
fn output_files_are_written_and_stdout_stays_empty() {
    let dir = tempfile::tempdir().unwrap();
    let p = app_dump(dir.path());
    let file = |name: &str| dir.path().join(name);
    let read = |path: &PathBuf| std::fs::read_to_string(path).unwrap();

    for (format, name) in [("csv", "rows.csv"), ("jsonl", "rows.jsonl")] {
        let f = file(name);
        let stdout_rows = ok(&["export", "--format", format, &p]);
        assert_eq!(
            ok(&["export", "--format", format, &p, "-o", f.to_str().unwrap()]),
            ""
        );
        assert_eq!(read(&f), stdout_rows, "{format}");
        // With --json, the rows go to the file and a summary to stdout.
        std::fs::remove_file(&f).unwrap();
        let d = json(
            "export",
            &[
                "export",
                "--json",
                "--format",
                format,
                &p,
                "--output",
                f.to_str().unwrap(),
            ],
        );
        assert_eq!(read(&f), stdout_rows, "{format}");
        assert_eq!(d["format"], format);
        assert_eq!(d["output"], f.to_str().unwrap());
        assert_eq!(d["rows"], 12);
        assert_eq!(d["columns"], serde_json::json!(COLUMNS));
        check_app_summary(&d["summary"]);
    }

    for (fmt, name) in [("text", "refs.txt"), ("dot", "refs.dot")] {
        let f = file(name);
        let stdout_text = ok(&["refs", "--format", fmt, &p, "#1"]);
        assert_eq!(
            ok(&["refs", "--format", fmt, &p, "#1", "-o", f.to_str().unwrap()]),
            ""
        );
        assert_eq!(read(&f), stdout_text, "{fmt}");
    }
    // With --json the envelope goes to the file instead of stdout, like the text.
    let f = file("refs.json");
    let stdout_json = ok(&["refs", "--json", &p, "#1"]);
    assert_eq!(
        ok(&["refs", "--json", &p, "#1", "-o", f.to_str().unwrap()]),
        ""
    );
    assert_eq!(read(&f), stdout_json);

    // An output file that cannot be created: the usual one-line error.
    let bad = dir.path().join("no-such-dir").join("x.csv");
    let err = fail(&["export", "--format", "csv", &p, "-o", bad.to_str().unwrap()]);
    assert!(err.contains("x.csv"), "{err}");
    let err = fail(&["refs", &p, "#1", "-o", bad.to_str().unwrap()]);
    assert!(err.contains("x.csv"), "{err}");
}

// ---------------------------------------------------------------------------------------
// 5. Errors
// ---------------------------------------------------------------------------------------

#[test]
fn bad_targets_and_options_fail_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = app_dump(dir.path());
    for cmd in ["path", "refs"] {
        let err = fail(&[cmd, &p, "0xdeadbeef"]);
        assert!(err.contains("0xdeadbeef"), "{err}");
        // The dangling edge's target is not an object either.
        fail(&[cmd, &p, "0xdead0"]);
        fail(&[cmd, "--json", &p, "0x10"]);
        let err = fail(&[cmd, &p, "#12"]);
        assert!(err.contains("12") && err.contains("out of range"), "{err}");
        fail(&[cmd, "--json", &p, "#99999999999999999999"]);
        fail(&[cmd, &p, "0xzz"]);
        fail(&[cmd, &p, "#-1"]);
    }
    let err = fail(&["path", &p, "Nope"]);
    assert!(err.contains("Nope"), "{err}");
    // A near miss names the candidates.
    let err = fail(&["path", &p, "node"]);
    assert!(err.contains("app.Node"), "{err}");
    fail(&["path", "--json", &p, "Nope"]);
    // refs takes objects only.
    let err = fail(&["refs", &p, "Item"]);
    assert!(err.contains("Item"), "{err}");
    // export --json needs -o.
    let err = fail(&["export", "--json", "--format", "csv", &p]);
    assert!(err.contains("-o"), "{err}");
    fail(&["export", "--json", "--format", "jsonl", &p]);
}

#[test]
fn corrupt_and_missing_dumps_fail_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = vector_bytes("small");
    // Flip one bit in the middle of each object vector: the section CRC catches it.
    let mut files = Vec::new();
    for k in [kind::OBJECT_SIZE, kind::EDGE_TARGET, kind::STRING_BYTES] {
        let (_, e) = entries(&bytes)
            .into_iter()
            .find(|(_, e)| e.kind == k)
            .unwrap();
        let mut bad = bytes.clone();
        bad[e.offset as usize + e.length as usize / 2] ^= 0x10;
        let path = dir.path().join(format!("bad{k}.hsnap"));
        std::fs::write(&path, bad).unwrap();
        files.push(path.to_str().unwrap().to_owned());
    }
    let missing = dir.path().join("missing.hsnap");
    for f in &files {
        for args in analysis_commands(f) {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let err = fail(&args);
            assert!(err.contains("CRC mismatch"), "{args:?}: {err}");
            assert!(err.contains(f.as_str()), "{args:?}: {err}");
        }
    }
    for args in analysis_commands(missing.to_str().unwrap()) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let err = fail(&args);
        assert!(err.contains("missing.hsnap"), "{args:?}: {err}");
    }
}

/// Every analysis command on `dump`, text and JSON (export to stdout in both formats).
fn analysis_commands(dump: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let base: [&[&str]; 9] = [
        &["top"],
        &["dominators"],
        &["cycles"],
        &["cycles", "--all-edges"],
        &["path", "#0"],
        &["refs", "#0"],
        &["refs", "#0", "--back", "--format", "dot"],
        &["export", "--format", "csv"],
        &["export", "--format", "jsonl"],
    ];
    for b in base {
        let mut a: Vec<String> = b.iter().map(|s| s.to_string()).collect();
        a.insert(1, dump.to_owned());
        out.push(a.clone());
        if a[0] != "export" {
            a.push("--json".into());
            out.push(a);
        }
    }
    out
}

/// Every committed vector (the empty one too): every command that needs no target
/// succeeds, with the vector's object count in its summary.
#[test]
fn commands_run_on_every_vector() {
    for name in VECTORS {
        let path = crate::util::vector_path(name, "hsnap");
        let p = path.to_str().unwrap();
        let objects = vector_json(name)["objects"].as_array().unwrap().len();
        for cmd in ["top", "dominators", "cycles"] {
            let d = json(cmd, &[cmd, "--json", p]);
            assert_eq!(d["summary"]["objects"], objects, "{name} {cmd}");
            ok(&[cmd, p]);
        }
        let csv = parse_csv(&ok(&["export", "--format", "csv", p]));
        assert_eq!(csv.len(), objects + 1, "{name}");
        assert_eq!(
            ok(&["export", "--format", "jsonl", p]).lines().count(),
            objects
        );
        if objects > 0 {
            ok(&["path", p, "#0"]);
            ok(&["refs", p, "#0"]);
            ok(&["refs", "--back", "--format", "dot", p, "#0"]);
        } else {
            fail(&["path", p, "#0"]);
            fail(&["refs", p, "#0"]);
        }
    }
}

// ---------------------------------------------------------------------------------------
// 3. The same bytes for any number of threads
// ---------------------------------------------------------------------------------------

const RANDOM_OBJECTS: usize = 3000;

/// A random heap: builtin and application types (some with finalizers), type objects in
/// the dump, lists with positional edges, labelled edges of every kind, dangling edges,
/// refcount-surplus, immortal and recorded roots, values, a wide size.
fn random_content(seed: u64) -> SnapshotContent {
    let mut rng = Rng(seed);
    let mut strings = vec![String::new()];
    let mut intern = |s: String| -> u32 {
        strings.push(s);
        (strings.len() - 1) as u32
    };
    let builtins = intern("builtins".into());
    let app = intern("app".into());
    let builtin_names = ["type", "module", "dict", "list", "str", "tuple"];
    let mut types = Vec::new();
    for (i, name) in builtin_names.iter().enumerate() {
        let id = intern((*name).into());
        types.push(ty(0x1000 + 0x40 * i as u64, id, builtins, GC_TYPE));
    }
    for i in 0..12u64 {
        let id = intern(format!("T{i}"));
        let flags = HEAP_TYPE | if i % 4 == 0 { HAS_FINALIZER } else { 0 };
        types.push(ty(0x2000 + 0x40 * i, id, app, flags));
    }
    let labels: Vec<u32> = (0..20).map(|i| intern(format!("a{i}"))).collect();
    let (t_type, t_module, t_list) = (0u32, 1u32, 3u32);
    let n = RANDOM_OBJECTS;
    let mut objects: Vec<Object> = Vec::with_capacity(n);
    // The type objects first, then the rest.
    for t in &types {
        objects.push(obj(t.address, t_type, 400, 0, GC_TRACKED, &[]));
    }
    let first = objects.len();
    for i in first..n {
        let t = match rng.below(10) {
            0 => t_module,
            1..=3 => 2 + rng.below(4) as u32, // dict, list, str, tuple
            _ => 6 + rng.below(12) as u32,
        };
        let size = 16 + 8 * rng.below(64);
        objects.push(obj(0x100000 + 0x40 * i as u64, t, size, 0, GC_TRACKED, &[]));
    }
    objects[first + 7].size = 5_000_000_000; // a wide size
    let addr: Vec<u64> = objects.iter().map(|o| o.address).collect();
    for i in first..n {
        let positional = objects[i].type_index == t_list;
        let degree = match rng.below(10) {
            0..=2 => 0,
            3..=6 => 1 + rng.below(2),
            _ => 2 + rng.below(5),
        };
        let mut edges = Vec::new();
        if objects[i].type_index >= 6 && rng.chance(50) {
            // An instance's reference to its class (a housekeeping edge).
            edges.push(Edge {
                target: types[objects[i].type_index as usize].address,
                label: 0,
            });
        }
        for _ in 0..degree {
            let target = if rng.chance(2) {
                0xdead_0000 + 8 * rng.below(100)
            } else if rng.chance(70) {
                // Mostly forward and nearby: chains, trees and a few cycles.
                let j = (i as u64 + 1 + rng.below(40)).min(n as u64 - 1);
                addr[j as usize]
            } else {
                addr[first + rng.below((n - first) as u64) as usize]
            };
            let label = if positional {
                0
            } else {
                match rng.below(4) {
                    0 => 0,
                    1 => attr(labels[rng.below(20) as usize]),
                    2 => key(labels[rng.below(20) as usize]),
                    _ => key(0), // the empty key
                }
            };
            edges.push(Edge { target, label });
        }
        if positional {
            objects[i].flags |= POSITIONAL_EDGES;
        }
        objects[i].edges = edges;
    }
    // Refcounts: the in-degree, with surplus roots and immortals here and there.
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
        if i >= first {
            if rng.chance(2) {
                o.refcount += 1 + rng.below(3) as u32;
            } else if rng.chance(1) {
                o.flags |= REFCOUNT_UNKNOWN;
                o.refcount = u32::MAX;
            }
        }
    }
    let mut roots = Vec::new();
    let mut values = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        if o.type_index == t_module && rng.chance(60) {
            roots.push(Root {
                object: i as u64,
                kind: root_kind::MODULE,
                label: labels[i % 20],
                detail: 0,
            });
        }
        if i >= first && rng.chance(10) {
            values.push(Value {
                object: i as u64,
                string: labels[rng.below(20) as usize],
                kind: 1 + rng.below(4) as u16,
                flags: rng.below(2) as u16,
            });
        }
    }
    roots.push(Root {
        object: first as u64 + 1,
        kind: root_kind::THREAD,
        label: labels[0],
        detail: 12345,
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

/// Every command, text and JSON, on `dump`, with targets chosen from `targets`.
fn thread_matrix(dump: &str, targets: &[String], types: &[&str]) -> Vec<Vec<String>> {
    let mut list = analysis_commands(dump);
    let s = |v: &[&str]| -> Vec<String> { v.iter().map(|x| x.to_string()).collect() };
    for t in targets {
        for json in [false, true] {
            let mut cmds = vec![
                s(&["path", dump, t, "-k", "5"]),
                s(&["refs", dump, t, "--depth", "4", "--max-nodes", "300"]),
                s(&["refs", dump, t, "--back", "--depth", "3"]),
            ];
            if !json {
                cmds.push(s(&["refs", dump, t, "--format", "dot", "--fanout", "3"]));
            }
            for mut c in cmds {
                if json {
                    c.push("--json".into());
                }
                list.push(c);
            }
        }
    }
    for ty in types {
        list.push(s(&["path", dump, ty]));
        list.push(s(&["path", "--json", dump, ty, "-k", "10"]));
    }
    list.push(s(&["top", dump, "--by", "count", "-n", "0"]));
    list.push(s(&["top", dump, "--by", "size", "--json"]));
    list.push(s(&[
        "dominators",
        dump,
        "-n",
        "3",
        "--depth",
        "6",
        "--json",
    ]));
    list.push(s(&["cycles", dump, "-n", "0", "--all-edges", "--json"]));
    list.push(s(&["export", dump, "--format", "csv", "--all-edges"]));
    list
}

fn assert_same_for_any_thread_count(cmds: &[Vec<String>]) {
    for c in cmds {
        let args: Vec<&str> = c.iter().map(String::as_str).collect();
        let one = run(&[&["--threads", "1"][..], &args].concat());
        assert_eq!(
            one.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&one.stderr)
        );
        assert!(!one.stdout.is_empty(), "{args:?}");
        for threads in ["2", "4"] {
            let other = run(&[&["--threads", threads][..], &args].concat());
            assert_eq!(other.status.code(), Some(0), "{args:?} --threads {threads}");
            assert!(
                other.stdout == one.stdout,
                "{args:?}: --threads {threads} differs from --threads 1"
            );
            assert_eq!(other.stderr, one.stderr, "{args:?} --threads {threads}");
        }
        // And the global option after the command, and --no-verify, change nothing.
        let mut late = args.clone();
        late.extend(["--threads", "2", "--no-verify"]);
        let late = run(&late);
        assert!(
            late.stdout == one.stdout,
            "{args:?} --threads 2 --no-verify"
        );
    }
}

#[test]
fn output_is_identical_for_any_thread_count_on_the_app_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let p = app_dump(dir.path());
    let targets: Vec<String> = ["#1", "#4", "#7", "#8", "0x10b00"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_same_for_any_thread_count(&thread_matrix(&p, &targets, &["Item", "Node"]));
}

#[test]
fn output_is_identical_for_any_thread_count_on_a_random_heap() {
    let dir = tempfile::tempdir().unwrap();
    let c = random_content(0x5eed_0001);
    let p = write_dump(dir.path(), "random.hsnap", &c);
    let n = c.objects.len() as u64;
    let mut rng = Rng(7);
    let targets: Vec<String> = (0..3)
        .map(|_| format!("#{}", 18 + rng.below(n - 18)))
        .collect();
    let cmds = thread_matrix(&p, &targets, &["T0", "T3", "dict"]);
    assert_same_for_any_thread_count(&cmds);

    // The export agrees with a plain breadth-first search from the roots worked out
    // here: distances, reachability, root flags, sizes and types.
    let jsonl = ok(&["export", "--format", "jsonl", &p]);
    let rows: Vec<Json> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), c.objects.len());
    let index: std::collections::HashMap<u64, usize> = c
        .objects
        .iter()
        .enumerate()
        .map(|(i, o)| (o.address, i))
        .collect();
    let mut indegree = vec![0u64; c.objects.len()];
    for o in &c.objects {
        for e in &o.edges {
            if let Some(&j) = index.get(&e.target) {
                indegree[j] += 1;
            }
        }
    }
    let is_root: Vec<bool> = c
        .objects
        .iter()
        .enumerate()
        .map(|(i, o)| {
            c.roots.iter().any(|r| r.object == i as u64)
                || o.flags & REFCOUNT_UNKNOWN != 0
                || u64::from(o.refcount) > indegree[i]
        })
        .collect();
    let mut dist = vec![None; c.objects.len()];
    let mut queue: std::collections::VecDeque<usize> =
        (0..c.objects.len()).filter(|&i| is_root[i]).collect();
    for &r in &queue {
        dist[r] = Some(0u64);
    }
    while let Some(v) = queue.pop_front() {
        for e in &c.objects[v].edges {
            if let Some(&w) = index.get(&e.target) {
                if dist[w].is_none() {
                    dist[w] = Some(dist[v].unwrap() + 1);
                    queue.push_back(w);
                }
            }
        }
    }
    let names = ["type", "module", "dict", "list", "str", "tuple"];
    for (i, (r, o)) in rows.iter().zip(&c.objects).enumerate() {
        assert_eq!(r["index"], i);
        assert_eq!(r["address"], hex(o.address));
        let t = o.type_index as usize;
        let want_type = if t < 6 {
            names[t].to_owned()
        } else {
            format!("app.T{}", t - 6)
        };
        assert_eq!(r["type"], want_type, "row {i}");
        assert_eq!(r["shallow_size"], o.size, "row {i}");
        assert_eq!(r["root"], is_root[i], "row {i}");
        assert_eq!(r["reachable"], dist[i].is_some(), "row {i}");
        assert_eq!(r["distance"], serde_json::json!(dist[i]), "row {i}");
        let retained = r["retained_size"].as_u64().unwrap();
        if dist[i].is_some() {
            assert!(retained >= o.size, "row {i}");
            // The immediate dominator is nearer to the roots.
            match r["idom"].as_str().unwrap() {
                "root" => {}
                a => {
                    let d = index[&u64::from_str_radix(&a[2..], 16).unwrap()];
                    assert!(dist[d].unwrap() < dist[i].unwrap(), "row {i}");
                }
            }
        } else {
            assert_eq!(retained, 0, "row {i}");
            assert!(r["idom"].is_null(), "row {i}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// 4. Hostile strings
// ---------------------------------------------------------------------------------------

/// Markup, both quotes, an SQL comment, a newline, an ANSI colour and a bidi override.
const HOSTILE: &str = "<script>alert(1)</script>\"'--\n\x1b[31m\u{202E}x";

/// True for characters that must never reach a terminal raw: controls (other than the
/// line feed that ends lines), bidi controls and other invisible format characters.
fn unsafe_char(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(c,
            '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{2028}' | '\u{2029}'
            | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

fn assert_terminal_safe(text: &str, what: &str) {
    if let Some((at, c)) = text.char_indices().find(|&(_, c)| unsafe_char(c)) {
        panic!(
            "{what}: raw {c:?} at byte {at}: {:?}",
            &text[at.saturating_sub(40)..(at + 10).min(text.len())]
        );
    }
    // The hostile newline would follow the `--` raw.
    assert!(
        !text.contains("--\n"),
        "{what}: raw newline from a dump string: {text}"
    );
}

/// Checks DOT text: outside string literals only identifiers, numbers and punctuation;
/// every literal closed on its line, with only `\"`, `\\` and `\n` escapes and no raw
/// control or bidi character. Returns the literals, unescaped (`\n` as a newline).
fn check_dot(dot: &str) -> Vec<String> {
    let mut literals = Vec::new();
    for line in dot.lines() {
        let mut outside = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            if c != '"' {
                assert!(
                    c.is_ascii_alphanumeric() || " _[]{}=;,->.".contains(c),
                    "DOT: {c:?} outside a string in {line:?}"
                );
                outside.push(c);
                continue;
            }
            let mut lit = String::new();
            loop {
                match chars.next() {
                    None => panic!("DOT: string not closed on its line: {line:?}"),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some('"') => lit.push('"'),
                        Some('\\') => lit.push('\\'),
                        Some('n') => lit.push('\n'),
                        x => panic!("DOT: escape \\{x:?} in {line:?}"),
                    },
                    Some(c) => {
                        assert!(!unsafe_char(c), "DOT: raw {c:?} in {line:?}");
                        lit.push(c);
                    }
                }
            }
            outside.push_str("\"\"");
            literals.push(lit);
        }
        let t = outside.trim_end();
        assert!(
            t.ends_with(';') || t.ends_with('{') || t == "}",
            "DOT statement: {line:?}"
        );
    }
    literals
}

/// Strings of the hostile snapshot.
fn evil(tag: &str) -> String {
    format!("{tag}{HOSTILE}")
}

//   #0 module (value: a hostile name), root (MODULE, hostile label)
//        .attr<H> -> #1
//   #1 dict  ['key<H>'] -> #2, .attr<H> -> #3
//   #2 mod<H>.Evil<H> (HAS_FINALIZER)  .attr<H> -> #4
//   #3 list  [0] -> #2, [1] -> #5
//   #4 mod<H>.Evil<H>  .attr<H> -> #2
//   #5 str (value: a hostile string)
fn hostile_content() -> SnapshotContent {
    let strings = vec![
        String::new(),
        "module".into(),
        "builtins".into(),
        "dict".into(),
        "list".into(),
        "str".into(),
        evil("Evil"), // 6
        evil("mod"),  // 7
        evil("val"),  // 8
        evil("attr"), // 9
        evil("key"),  // 10
        evil("root"), // 11
        evil("name"), // 12
    ];
    let types = vec![
        ty(0x1000, 1, 2, 0),
        ty(0x1100, 3, 2, 0),
        ty(0x1200, 4, 2, 0),
        ty(0x1300, 5, 2, 0),
        ty(0x1400, 6, 7, HAS_FINALIZER | HEAP_TYPE),
    ];
    let objects = vec![
        obj(0x20000, 0, 72, 0, 0, &[(0x20100, attr(9))]),
        obj(
            0x20100,
            1,
            232,
            1,
            0,
            &[(0x20200, key(10)), (0x20300, attr(9))],
        ),
        obj(0x20200, 4, 48, 3, 0, &[(0x20400, attr(9))]),
        obj(
            0x20300,
            2,
            72,
            1,
            POSITIONAL_EDGES,
            &[(0x20200, 0), (0x20500, 0)],
        ),
        obj(0x20400, 4, 48, 1, 0, &[(0x20200, attr(9))]),
        obj(0x20500, 3, 60, 1, 0, &[]),
    ];
    SnapshotContent {
        strings,
        types,
        objects,
        roots: vec![Root {
            object: 0,
            kind: root_kind::MODULE,
            label: 11,
            detail: 0,
        }],
        values: vec![
            Value {
                object: 0,
                string: 12,
                kind: 1,
                flags: 0,
            },
            Value {
                object: 5,
                string: 8,
                kind: 2,
                flags: 0,
            },
        ],
        ..SnapshotContent::default()
    }
}

#[test]
fn hostile_strings_are_escaped_in_text_and_dot_and_exact_in_csv_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_dump(dir.path(), "evil.hsnap", &hostile_content());
    let evil_type = format!("{}.{}", evil("mod"), evil("Evil"));
    let attr_label = format!(".{}", evil("attr"));
    let key_label = format!("['{}']", evil("key"));
    let bare = evil("Evil");

    // Text and DOT, every command: no raw control, bidi or newline from the dump.
    let mut text_cmds = analysis_commands(&p);
    text_cmds.retain(|c| !c.contains(&"--json".to_owned()) && c[0] != "export");
    for t in ["#0", "#1", "#2", "#3", "#4", "#5"] {
        for extra in [&[][..], &["--back"][..]] {
            let mut c: Vec<String> = ["refs", &p, t, "--depth", "5"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            c.extend(extra.iter().map(|s| s.to_string()));
            text_cmds.push(c.clone());
            c.extend(["--format".into(), "dot".into()]);
            text_cmds.push(c);
        }
        text_cmds.push(vec![
            "path".into(),
            p.clone(),
            t.into(),
            "-k".into(),
            "9".into(),
        ]);
    }
    text_cmds.push(vec!["path".into(), p.clone(), bare.clone()]);
    text_cmds.push(vec!["path".into(), p.clone(), evil_type.clone()]);
    text_cmds.push(vec![
        "dominators".into(),
        p.clone(),
        "--depth".into(),
        "9".into(),
    ]);
    text_cmds.push(vec!["cycles".into(), p.clone(), "--all-edges".into()]);
    for c in &text_cmds {
        let args: Vec<&str> = c.iter().map(String::as_str).collect();
        let out = ok(&args);
        assert_terminal_safe(&out, &format!("{args:?}"));
        if c.contains(&"dot".to_owned()) {
            let literals = check_dot(&out);
            // The labels are all there: escaped for a terminal, then for DOT.
            if c[2] == "#1" && !c.contains(&"--back".to_owned()) {
                assert!(
                    literals.iter().any(|l| l.starts_with(
                        "mod<script>alert(1)</script>\"'--\\u{a}\\u{1b}[31m\\u{202e}x.Evil"
                    )),
                    "{literals:?}"
                );
                assert!(
                    literals.iter().any(|l| l.starts_with("['key<script>")),
                    "{literals:?}"
                );
            }
        } else if ["top", "cycles", "dominators"].contains(&args[0]) {
            // The type name is shown, escaped.
            assert!(
                out.contains(
                    "mod<script>alert(1)</script>\"'--\\u{a}\\u{1b}[31m\\u{202e}x.Evil<script>"
                ),
                "{args:?}: {out}"
            );
        }
    }
    let text = ok(&["path", &p, "#2"]);
    assert!(
        text.contains("['key<script>alert(1)</script>\"'--\\u{a}\\u{1b}[31m\\u{202e}x']"),
        "{text}"
    );
    let text = ok(&["refs", &p, "#3"]);
    assert!(
        text.contains("\"val<script>alert(1)</script>\\\"'--\\u{a}\\u{1b}[31m\\u{202e}x\""),
        "{text}"
    );

    // CSV: the type field quoted, so the rows stay rows; the name comes back exactly.
    let csv = ok(&["export", "--format", "csv", &p]);
    let rows = parse_csv(&csv);
    assert_eq!(rows.len(), 1 + 6);
    assert!(rows.iter().all(|r| r.len() == COLUMNS.len()));
    assert_eq!(rows[3][2], evil_type);
    assert_eq!(rows[5][2], evil_type);
    assert_eq!(rows[1][2], "module");
    let jsonl = ok(&["export", "--format", "jsonl", &p]);
    assert_eq!(jsonl.lines().count(), 6);
    assert_eq!(jsonl_rows(&jsonl), rows[1..]);

    // JSON: the strings exactly.
    let d = json("top", &["top", "--json", &p]);
    assert!(d["types"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["type"] == evil_type.as_str()));
    let d = json("path", &["path", "--json", &p, "#2"]);
    let path = &d["paths"][0];
    assert_eq!(
        steps(path),
        [
            st(None, 0),
            st(Some(&attr_label), 1),
            st(Some(&key_label), 2)
        ]
    );
    assert_eq!(path["steps"][0]["object"]["value"], evil("name"));
    assert_eq!(path["steps"][2]["object"]["type"], evil_type.as_str());
    assert!(path["root"].as_str().unwrap().contains("root<script>"));
    let d = json("refs", &["refs", "--json", &p, "#3"]);
    assert_eq!(d["objects"][2]["value"], evil("val"));
    assert_eq!(d["objects"][1]["type"], evil_type.as_str());
    assert_eq!(d["objects"][1]["finalizer"], true);
    let d = json("refs", &["refs", "--json", &p, "#1"]);
    let labels: Vec<&str> = d["references"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["label"].as_str())
        .collect();
    assert!(labels.contains(&key_label.as_str()), "{labels:?}");
    assert!(labels.contains(&attr_label.as_str()), "{labels:?}");
    assert!(labels.contains(&"[1]"), "{labels:?}");
    let d = json("cycles", &["cycles", "--json", &p]);
    assert_eq!(d["groups"][0]["types"][0]["type"], evil_type.as_str());
    assert_eq!(d["groups"][0]["finalizer"], true);
    for name in [bare.as_str(), evil_type.as_str()] {
        let d = json("path", &["path", "--json", &p, name]);
        assert_eq!(d["type"], name);
        assert_eq!(d["instances"], 2);
    }

    // Errors that quote a hostile target: still one safe line.
    fail(&["path", &p, HOSTILE]);
    fail(&["refs", &p, HOSTILE]);
    fail(&["path", &p, "evil"]); // a near miss: the hint names the hostile type
    fail(&["path", &p, &format!("0x{HOSTILE}")]);
    fail(&["path", &p, &format!("#{HOSTILE}")]);
}
