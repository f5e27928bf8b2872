//! `heapsnap report` end to end on hand-made snapshots: the page's structure (one file,
//! no network, the embedded data), the leak suspects the rule finds (accumulation,
//! chain, spread, large object, none), the treemap's cap, the growth table against a
//! baseline, and hostile strings (`</script>`, quotes, U+2028, bidi controls) that must
//! not break out of the page or reach it raw.

use std::path::Path;

use assert_cmd::Command;
use heapsnap::content::{Edge, Fact, FactData, Object, Root, SnapshotContent, Type, Value};
use heapsnap::format::object_flags::{GC_TRACKED, POSITIONAL_EDGES};
use heapsnap::format::type_flags::{GC_TYPE, HEAP_TYPE};
use heapsnap::format::{root_kind, LABEL_KEY_BIT};
use heapsnap::{Snapshot, Verify};
use serde_json::Value as Json;

// ---------------------------------------------------------------------------------------
// Building snapshots
// ---------------------------------------------------------------------------------------

/// A snapshot under construction: objects get consecutive addresses, and every
/// refcount is set to the object's in-degree when built (so the roots are exactly the
/// objects given a root record).
struct Heap {
    c: SnapshotContent,
}

impl Heap {
    fn new() -> Heap {
        Heap {
            c: SnapshotContent::default(),
        }
    }

    fn string(&mut self, s: &str) -> u32 {
        if let Some(i) = self.c.strings.iter().position(|x| x == s) {
            return i as u32;
        }
        self.c.strings.push(s.to_owned());
        (self.c.strings.len() - 1) as u32
    }

    /// A type named `name` in `module` ("" or "builtins" for a builtin); returns its index.
    fn ty(&mut self, module: &str, name: &str) -> u32 {
        let (name, module) = (self.string(name), self.string(module));
        let t = self.c.types.len() as u32;
        let flags = if self.c.strings[module as usize].is_empty()
            || self.c.strings[module as usize] == "builtins"
        {
            GC_TYPE
        } else {
            GC_TYPE | HEAP_TYPE
        };
        self.c.types.push(Type {
            address: 0x1000 + 0x100 * u64::from(t),
            name,
            module,
            flags,
        });
        t
    }

    /// An object of type `t` and `size` bytes; returns its index.
    fn obj(&mut self, t: u32, size: u64) -> usize {
        let i = self.c.objects.len();
        self.c.objects.push(Object {
            address: addr(i),
            type_index: t,
            size,
            refcount: 0,
            flags: GC_TRACKED,
            edges: Vec::new(),
        });
        i
    }

    /// A reference from `from` to `to`, labelled as a dict key (`key`), an attribute
    /// (`attr`) or not at all.
    fn edge(&mut self, from: usize, to: usize, label: Label<'_>) {
        let label = match label {
            Label::Key(k) => self.string(k) | LABEL_KEY_BIT,
            Label::Attr(a) => self.string(a),
            Label::None => 0,
        };
        self.c.objects[from].edges.push(Edge {
            target: addr(to),
            label,
        });
    }

    /// Marks `list` as a sequence: its edges are labelled by position.
    fn positional(&mut self, list: usize) {
        self.c.objects[list].flags |= POSITIONAL_EDGES;
    }

    fn module_root(&mut self, object: usize, name: &str) {
        let label = self.string(name);
        self.c.roots.push(Root {
            object: object as u64,
            kind: root_kind::MODULE,
            label,
            detail: 0,
        });
        self.value(object, name, 1);
    }

    /// A VALUES record: `kind` 1 name, 2 str.
    fn value(&mut self, object: usize, text: &str, kind: u16) {
        let string = self.string(text);
        self.c.values.push(Value {
            object: object as u64,
            string,
            kind,
            flags: 0,
        });
    }

    fn fact_u64(&mut self, key: &str, v: u64) {
        let key = self.string(key);
        self.c.facts.push(Fact {
            key,
            value: FactData::U64(v),
        });
    }

    fn fact_str(&mut self, key: &str, v: &str) {
        let (key, v) = (self.string(key), self.string(v));
        self.c.facts.push(Fact {
            key,
            value: FactData::String(v),
        });
    }

    fn total(&self) -> u64 {
        self.c.objects.iter().map(|o| o.size).sum()
    }

    /// The content, with refcounts equal to in-degrees and values sorted by object.
    fn build(mut self) -> SnapshotContent {
        let mut indeg = vec![0u32; self.c.objects.len()];
        for o in &self.c.objects {
            for e in &o.edges {
                let i = ((e.target - addr(0)) / 0x100) as usize;
                indeg[i] += 1;
            }
        }
        for (o, d) in self.c.objects.iter_mut().zip(indeg) {
            o.refcount = d;
        }
        self.c.values.sort_by_key(|v| v.object);
        self.c.roots.sort_by_key(|r| r.object);
        self.c
    }
}

#[derive(Clone, Copy)]
enum Label<'a> {
    Key(&'a str),
    Attr(&'a str),
    None,
}

fn addr(i: usize) -> u64 {
    0x7f00_0000_0000 + 0x100 * i as u64
}

fn hex(i: usize) -> String {
    format!("{:#x}", addr(i))
}

/// The objects of the leak snapshot that the tests look at.
struct Leak {
    content: SnapshotContent,
    total: u64,
    cache: usize,
    list: usize,
    items: usize,
}

/// `module 'app'` -> its globals dict -> `['cache']` a dict -> `['items']` a list of
/// `items` `app.Item` objects of 400 B; beside the cache, ten 2,000-byte strings. The cache dict retains 80% of the heap (the sizes are chosen for
/// that with 200 items), nearly all of it through the list.
fn leak(items: usize) -> Leak {
    let mut h = Heap::new();
    let module = h.ty("", "module");
    let dict = h.ty("", "dict");
    let list = h.ty("", "list");
    let item = h.ty("app", "Item");
    let str_ = h.ty("", "str");
    let m = h.obj(module, 72);
    let globals = h.obj(dict, 592);
    let cache = h.obj(dict, 1000);
    let l = h.obj(list, 56 + 8 * items as u64);
    h.module_root(m, "app");
    h.edge(m, globals, Label::Attr("__dict__"));
    h.edge(globals, cache, Label::Key("cache"));
    h.edge(cache, l, Label::Key("items"));
    h.positional(l);
    for _ in 0..items {
        let i = h.obj(item, 400);
        h.edge(l, i, Label::None);
    }
    for k in 0..10 {
        let s = h.obj(str_, 2000);
        h.value(s, &format!("filler {k}"), 2);
        h.edge(globals, s, Label::Key(&format!("s{k}")));
    }
    h.fact_u64("rss.bytes", 4 * h.total());
    h.fact_str("python.version", "3.12.1");
    h.fact_u64("pid", 4242);
    let total = h.total();
    Leak {
        content: h.build(),
        total,
        cache,
        list: l,
        items,
    }
}

// ---------------------------------------------------------------------------------------
// Running the binary and reading the page
// ---------------------------------------------------------------------------------------

fn write_dump(dir: &Path, name: &str, c: &SnapshotContent) -> String {
    let bytes = c.to_bytes().unwrap();
    Snapshot::from_bytes(&bytes, Verify::Full).expect("the test snapshot is valid");
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Runs `heapsnap report` with `args`, which must succeed quietly; returns stdout.
fn report(args: &[&str]) -> String {
    let out = Command::cargo_bin("heapsnap")
        .unwrap()
        .arg("report")
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    assert!(err.is_empty(), "{args:?}: stderr {err:?}");
    String::from_utf8(out.stdout).unwrap()
}

const DATA_OPEN: &str = r#"<script type="application/json" id="heapsnap-data">"#;

/// Checks what every page must be and returns its embedded data.
fn page_data(html: &str) -> Json {
    assert!(html.starts_with("<!DOCTYPE html>"), "{}", &html[..40]);
    assert!(html.trim_end().ends_with("</html>"));
    assert!(html.contains("<meta charset=\"utf-8\">"));
    // Offline: a policy that forbids every fetch, and nothing that points outside.
    assert!(html.contains("content=\"default-src 'none';"), "no CSP");
    assert_eq!(html.matches(DATA_OPEN).count(), 1);
    // The markup and the script (not the data, which is text) refer to nothing outside.
    // (The SVG namespace is a name, not an address: nothing fetches it.)
    let data_start = html.find(DATA_OPEN).unwrap() + DATA_OPEN.len();
    let data_end = data_start + html[data_start..].find("</script>").unwrap();
    let outside = format!("{}{}", &html[..data_start], &html[data_end..])
        .replace("'http://www.w3.org/2000/svg'", "");
    for needle in ["http://", "https://", "//cdn", " src=", "@import", "url("] {
        assert!(!outside.contains(needle), "the page refers to {needle:?}");
    }
    // Exactly two script elements close: the data and the script.
    assert_eq!(html.to_ascii_lowercase().matches("</script").count(), 2);
    assert_eq!(html.to_ascii_lowercase().matches("<script").count(), 2);
    assert!(!html.contains("{{"), "a template marker is left");
    let start = html.find(DATA_OPEN).unwrap() + DATA_OPEN.len();
    let len = html[start..].find("</script>").unwrap();
    let json = &html[start..start + len];
    for c in ['<', '>', '&', '\u{2028}', '\u{2029}'] {
        assert!(!json.contains(c), "raw {c:?} in the embedded JSON");
    }
    serde_json::from_str(json).expect("the embedded data is JSON")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[test]
fn report_of_a_leak_names_the_list_as_the_suspect() {
    let dir = tempfile::tempdir().unwrap();
    let l = leak(200);
    let dump = write_dump(dir.path(), "leak.hsnap", &l.content);
    let out = dir.path().join("report.html");
    let stdout = report(&[&dump, "-o", out.to_str().unwrap()]);
    assert!(
        stdout.starts_with(&format!("wrote {}", out.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("list at {}: 200 app.Item objects", hex(l.list))),
        "{stdout}"
    );
    // Nothing else is left beside the report.
    let mut files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, ["leak.hsnap", "report.html"]);

    let html = read(&out);
    let d = page_data(&html);
    assert_eq!(d["version"], 1);
    for id in [
        "overview",
        "suspects",
        "dominator-tree",
        "types",
        "growth",
        "cycles",
    ] {
        assert!(html.contains(&format!("<section id=\"{id}\"")), "{id}");
    }
    assert!(html.contains("<title>heapsnap report: leak.hsnap</title>"));

    // Overview tiles.
    let o = &d["overview"];
    let objects = 4 + l.items as u64 + 10;
    assert_eq!(o["objects"], objects);
    assert_eq!(o["heap_bytes"], l.total);
    assert_eq!(o["reachable_bytes"], l.total);
    assert_eq!(o["rss_bytes"], 4 * l.total);
    assert_eq!(o["rss_percent"], 25.0);
    assert!(o["hint"]
        .as_str()
        .unwrap()
        .contains("outside Python objects"));
    assert_eq!(o["biggest"]["object"]["type"], "module");
    assert_eq!(o["biggest"]["root"], "module 'app'");
    assert_eq!(o["biggest"]["heap_percent"], 100.0);

    // The cache dict holds 80% of the heap, nearly all of it through the list: the
    // list is where it accumulates.
    let cache_retained = 1000 + (56 + 8 * 200) + 200 * 400;
    assert_eq!(cache_retained * 5, l.total * 4, "the sizes give 80%");
    let suspects = d["suspects"].as_array().unwrap();
    assert_eq!(suspects.len(), 1, "{suspects:?}");
    let s = &suspects[0];
    assert_eq!(s["object"]["type"], "list");
    assert_eq!(s["object"]["address"], hex(l.list));
    assert_eq!(s["object"]["retained"], cache_retained - 1000);
    assert_eq!(s["reason"], "accumulation");
    assert_eq!(s["children"], 200);
    assert_eq!(s["group"]["type"], "app.Item");
    assert_eq!(s["group"]["count"], 200);
    assert_eq!(s["group"]["retained"], 200 * 400);
    assert_eq!(s["examples"].as_array().unwrap().len(), 5);
    assert_eq!(s["examples"][0]["type"], "app.Item");
    // Dominators above it, topmost first: module, globals, the cache (80.0%).
    let doms: Vec<&str> = s["dominators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["object"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(doms, ["module", "dict", "dict"]);
    assert_eq!(s["dominators"][2]["object"]["address"], hex(l.cache));
    assert_eq!(s["dominators"][2]["heap_percent"], 80.0);
    assert_eq!(s["dominators_above"], 0);
    // Its retention path, as `heapsnap path` shows it.
    let p = &s["paths"][0];
    assert_eq!(p["root"], "module 'app'");
    assert_eq!(
        p["chain"],
        "module 'app'.__dict__ -> dict['cache'] -> dict['items'] -> list"
    );
    let path_json = Command::cargo_bin("heapsnap")
        .unwrap()
        .args(["path", &dump, &hex(l.list), "--json", "-k", "3"])
        .output()
        .unwrap();
    let path_json: Json = serde_json::from_slice(&path_json.stdout).unwrap();
    assert_eq!(s["paths"], path_json["data"]["paths"], "the same as `path`");

    // The tree: parents first, the cap kept, the suspect's children embedded.
    let nodes = d["tree"]["nodes"].as_array().unwrap();
    assert_eq!(nodes[0][0], -1);
    assert_eq!(nodes[0][2], l.total);
    for (i, n) in nodes.iter().enumerate().skip(1) {
        let parent = n[0].as_i64().unwrap();
        assert!(parent >= 0 && (parent as usize) < i, "row {i}: {n:?}");
    }
    assert_eq!(
        nodes.len() as u64 - 1 + d["tree"]["omitted"].as_u64().unwrap(),
        objects
    );
    let list_row = nodes.iter().position(|n| n[5] == hex(l.list)).unwrap();
    assert_eq!(nodes[list_row][4], 200, "children of the list");
    assert!(nodes.iter().filter(|n| n[0] == list_row).count() >= 120);

    // The type histogram, by retained bytes.
    let rows = d["histogram"]["rows"].as_array().unwrap();
    let item = rows.iter().find(|r| r[0] == "app.Item").unwrap();
    assert_eq!(item[1], 200);
    assert_eq!(item[2], 200 * 400);
    assert_eq!(rows[0][0], "module");
    assert_eq!(d["cycles"]["groups"].as_array().unwrap().len(), 0);
    assert!(d["growth"].is_null());

    // --json says where the report went and what it found.
    let out2 = dir.path().join("again.html");
    let env: Json = serde_json::from_str(&report(&[
        &dump,
        "-o",
        out2.to_str().unwrap(),
        "--json",
        "--threads",
        "1",
    ]))
    .unwrap();
    assert_eq!(env["schema"], 1);
    assert_eq!(env["kind"], "report");
    assert_eq!(env["data"]["suspects"][0]["address"], hex(l.list));
    assert_eq!(env["data"]["suspects"][0]["reason"], "accumulation");
    assert_eq!(
        env["data"]["bytes"],
        std::fs::metadata(&out2).unwrap().len()
    );
    assert_eq!(
        read(&out2),
        html,
        "the same dump gives the same page, with any number of threads"
    );
}

#[test]
fn the_treemap_is_capped() {
    let dir = tempfile::tempdir().unwrap();
    let l = leak(5000);
    let dump = write_dump(dir.path(), "big.hsnap", &l.content);
    let out = dir.path().join("r.html");
    report(&[&dump, "-o", out.to_str().unwrap(), "--no-verify"]);
    let d = page_data(&read(&out));
    let nodes = d["tree"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3001, "3,000 objects and the super-root");
    assert_eq!(
        d["tree"]["omitted"],
        (5000 + 14 - 3000) as u64,
        "every other reachable object is counted"
    );
    assert_eq!(d["suspects"][0]["object"]["address"], hex(l.list));
    assert_eq!(d["suspects"][0]["group"]["count"], 5000);
}

#[test]
fn suspects_chain_spread_large_and_none() {
    let dir = tempfile::tempdir().unwrap();

    // A linked list: 40 app.Node objects, each holding the next and a 1,000-byte
    // payload: a chain, reported at its head.
    let mut h = Heap::new();
    let module = h.ty("", "module");
    let dict = h.ty("", "dict");
    let node = h.ty("app", "Node");
    let bytes = h.ty("", "bytes");
    let m = h.obj(module, 72);
    let g = h.obj(dict, 200);
    h.module_root(m, "app");
    h.edge(m, g, Label::Attr("__dict__"));
    let mut prev = g;
    let mut head = 0;
    for k in 0..40 {
        let n = h.obj(node, 48);
        let payload = h.obj(bytes, 1000);
        h.edge(n, payload, Label::Attr("payload"));
        if k == 0 {
            h.edge(prev, n, Label::Key("head"));
            head = n;
        } else {
            h.edge(prev, n, Label::Attr("next"));
        }
        prev = n;
    }
    let dump = write_dump(dir.path(), "chain.hsnap", &h.build());
    let out = dir.path().join("chain.html");
    report(&[&dump, "-o", out.to_str().unwrap()]);
    let d = page_data(&read(&out));
    let s = &d["suspects"].as_array().unwrap();
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(s[0]["reason"], "chain");
    assert_eq!(s[0]["object"]["address"], hex(head));
    assert_eq!(s[0]["group"]["type"], "app.Node");
    // The chain goes on while a single child holds more than 10%: 40 nodes x 1,048 B
    // of 42,192 B; node k retains (40 - k) x 1,048 B, heavy for k < 36.
    assert_eq!(s[0]["group"]["count"], 36);

    // The same before Python 3.11: each Node's attributes in its own dict. The dicts
    // (the module's included) form a run too, one step off: the chain is the Nodes'.
    let mut h = Heap::new();
    let module = h.ty("", "module");
    let dict = h.ty("", "dict");
    let node = h.ty("app", "Node");
    let bytes = h.ty("", "bytes");
    let m = h.obj(module, 72);
    let g = h.obj(dict, 200);
    h.module_root(m, "app");
    h.edge(m, g, Label::Attr("__dict__"));
    let mut prev = g;
    let mut head = 0;
    for k in 0..30 {
        let n = h.obj(node, 48);
        let d = h.obj(dict, 100);
        let payload = h.obj(bytes, 1000);
        h.edge(n, d, Label::Attr("__dict__"));
        h.edge(d, payload, Label::Key("payload"));
        h.edge(prev, n, Label::Key(if k == 0 { "head" } else { "next" }));
        if k == 0 {
            head = n;
        }
        prev = d;
    }
    let dump = write_dump(dir.path(), "chain310.hsnap", &h.build());
    let out = dir.path().join("chain310.html");
    report(&[&dump, "-o", out.to_str().unwrap()]);
    let d = page_data(&read(&out));
    let s = &d["suspects"].as_array().unwrap();
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(s[0]["reason"], "chain");
    assert_eq!(s[0]["object"]["address"], hex(head));
    assert_eq!(s[0]["group"]["type"], "app.Node");
    // 30 x 1,148 B of 34,712 B: node k retains (30 - k) x 1,148 B, heavy for k < 27.
    assert_eq!(s[0]["group"]["count"], 27);
    assert_eq!(
        s[0]["summary"],
        "a chain of 27 app.Node objects, each keeping the next alive"
    );

    // One big buffer: a large object. Beside it, a dict of a few mixed big values
    // (none over 10%, fewer than 16 of a kind): spread.
    let mut h = Heap::new();
    let module = h.ty("", "module");
    let dict = h.ty("", "dict");
    let bytes = h.ty("", "bytes");
    let tuple = h.ty("", "tuple");
    let m = h.obj(module, 72);
    let g = h.obj(dict, 200);
    h.module_root(m, "app");
    h.edge(m, g, Label::Attr("__dict__"));
    let buffer = h.obj(bytes, 50_000);
    h.edge(g, buffer, Label::Key("buffer"));
    let mixed = h.obj(dict, 400);
    h.edge(g, mixed, Label::Key("mixed"));
    for k in 0..8 {
        let v = h.obj(if k % 2 == 0 { bytes } else { tuple }, 5000);
        h.edge(mixed, v, Label::Key(&format!("k{k}")));
    }
    let total = h.total();
    assert!(50_000 * 10 > total && 5000 * 10 < total);
    let dump = write_dump(dir.path(), "mixed.hsnap", &h.build());
    let out = dir.path().join("mixed.html");
    let stdout = report(&[&dump, "-o", out.to_str().unwrap()]);
    let d = page_data(&read(&out));
    let s = d["suspects"].as_array().unwrap();
    let found: Vec<(&str, &str)> = s
        .iter()
        .map(|x| {
            (
                x["reason"].as_str().unwrap(),
                x["object"]["address"].as_str().unwrap(),
            )
        })
        .collect();
    let (b, mx) = (hex(buffer), hex(mixed));
    assert_eq!(
        found,
        [("large object", b.as_str()), ("spread", mx.as_str())]
    );
    assert!(
        stdout.contains("the object itself takes 48.8 KiB"),
        "{stdout}"
    );

    // A flat heap: 50 modules of equal size; nothing retains 10%.
    let mut h = Heap::new();
    let module = h.ty("", "module");
    for k in 0..50 {
        let m = h.obj(module, 100);
        h.module_root(m, &format!("m{k}"));
    }
    let dump = write_dump(dir.path(), "flat.hsnap", &h.build());
    let out = dir.path().join("flat.html");
    let stdout = report(&[&dump, "-o", out.to_str().unwrap()]);
    assert!(stdout.contains("no leak suspect"), "{stdout}");
    let d = page_data(&read(&out));
    assert_eq!(d["suspects"].as_array().unwrap().len(), 0);
    assert!(d["overview"]["rss_bytes"].is_null());
}

#[test]
fn growth_against_a_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let old = write_dump(dir.path(), "old.hsnap", &leak(50).content);
    let new = write_dump(dir.path(), "new.hsnap", &leak(200).content);
    let out = dir.path().join("g.html");
    report(&[&new, "--baseline", &old, "-o", out.to_str().unwrap()]);
    let d = page_data(&read(&out));
    let g = &d["growth"];
    assert_eq!(g["baseline"], old);
    assert_eq!(g["baseline_objects"], 4 + 50 + 10);
    assert_eq!(g["more"], 0);
    // [type, count before, count now, bytes before, bytes now], by byte growth; the
    // types that did not change are left out.
    assert_eq!(
        g["rows"],
        serde_json::json!([
            ["app.Item", 50, 200, 50 * 400, 200 * 400],
            ["list", 1, 1, 56 + 8 * 50, 56 + 8 * 200],
        ])
    );

    // A missing baseline is one error line and no report.
    let missing = dir.path().join("missing.hsnap");
    let out2 = dir.path().join("never.html");
    let res = Command::cargo_bin("heapsnap")
        .unwrap()
        .args(["report", &new, "--baseline"])
        .arg(&missing)
        .arg("-o")
        .arg(&out2)
        .output()
        .unwrap();
    assert_eq!(res.status.code(), Some(2));
    let err = String::from_utf8(res.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("missing.hsnap"), "{err}");
    assert!(!out2.exists());
}

#[test]
fn hostile_names_stay_text() {
    const SCRIPT: &str = "</script><script>alert(1)</script>";
    let dir = tempfile::tempdir().unwrap();
    let mut h = Heap::new();
    let module = h.ty("", "module");
    let dict = h.ty("", "dict");
    let list = h.ty("", "list");
    // A type named to close the data element, in a module with quotes, bidi and line
    // separators.
    let evil = h.ty("m\"od'\u{202E}", SCRIPT);
    let str_ = h.ty("", "str");
    let m = h.obj(module, 72);
    let g = h.obj(dict, 200);
    h.module_root(m, "<!--app\u{2028}\u{2029}-->");
    h.edge(m, g, Label::Attr("__dict__"));
    let l = h.obj(list, 1000);
    h.edge(g, l, Label::Key("</script><b>\"key\"</b>\u{2066}"));
    h.positional(l);
    for _ in 0..100 {
        let e = h.obj(evil, 100);
        h.edge(l, e, Label::None);
    }
    let s = h.obj(str_, 500);
    h.value(s, "<img src=x onerror=alert(2)>\u{202E}gpj.exe\u{0}", 2);
    h.edge(g, s, Label::Key("preview"));
    h.fact_str("python.version", "3.12</title><script>alert(3)</script>");
    let content = h.build();
    // The dump's own file name is hostile too.
    let dump = write_dump(dir.path(), "x\"<i>'&.hsnap", &content);
    let out = dir.path().join("evil.html");
    let stdout = report(&[&dump, "-o", out.to_str().unwrap()]);
    assert!(
        !stdout.contains('\u{202E}') && !stdout.contains('\u{2028}'),
        "{stdout}"
    );

    let html = read(&out);
    // page_data checks that only our two script elements exist and that the JSON has
    // no raw <, >, &, U+2028 or U+2029.
    let d = page_data(&html);
    for raw in [
        "alert(1)</script>",
        "<img",
        "<b>",
        "<!--app",
        "alert(3)</script>",
        "<i>",
    ] {
        assert!(!html.contains(raw), "raw {raw:?} in the page");
    }
    for c in ['\u{202E}', '\u{2066}', '\u{2028}', '\u{2029}', '\u{0}'] {
        assert!(!html.contains(c), "raw {c:?} in the page");
    }
    // Rendered here: HTML-escaped (and terminal-escaped) title and subtitle.
    assert!(html.contains("<title>heapsnap report: x&quot;&lt;i&gt;&#39;&amp;.hsnap</title>"));
    assert!(html.contains("Python 3.12&lt;/title&gt;&lt;script&gt;alert(3)&lt;/script&gt;"));
    // Embedded: the same strings, control and bidi characters visible as escapes.
    let s = &d["suspects"][0];
    assert_eq!(s["object"]["type"], "list");
    assert_eq!(
        s["group"]["type"],
        format!("m\"od'\\u{{202e}}.{SCRIPT}"),
        "type names keep <, > and quotes as text"
    );
    assert_eq!(
        s["paths"][0]["root"],
        "module '<!--app\\u{2028}\\u{2029}-->'"
    );
    assert_eq!(
        s["paths"][0]["steps"][2]["edge"],
        "['</script><b>\"key\"</b>\\u{2066}']"
    );
    let rows = d["tree"]["nodes"].as_array().unwrap();
    assert!(rows
        .iter()
        .any(|n| n[6] == "<img src=x onerror=alert(2)>\\u{202e}gpj.exe\\u{0}"));
    // The script inserts dump strings as text only.
    let script = &html[html.rfind("<script>").unwrap()..];
    for sink in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
    ] {
        assert!(!script.contains(sink), "the script uses {sink}");
    }
}
