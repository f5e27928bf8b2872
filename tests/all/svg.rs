//! `heapsnap refs --format svg`: the picture is well-formed XML (checked by the small
//! XML reader below, which also gives the tests the elements to look at), shows every
//! object `refs --json` lists and every reference, escapes hostile dump strings, holds
//! no script, places no box over another, and is the same bytes for any thread count
//! and with `-o`.

use std::path::Path;

use assert_cmd::Command;
use heapsnap::content::{Edge, Object, Root, SnapshotContent, Type, Value};
use heapsnap::format::object_flags::{GC_TRACKED, POSITIONAL_EDGES};
use heapsnap::format::type_flags::{GC_TYPE, HAS_FINALIZER, HEAP_TYPE};
use heapsnap::format::{root_kind, LABEL_KEY_BIT};
use heapsnap::{Snapshot, Verify};
use serde_json::Value as Json;

// ---------------------------------------------------------------------------------------
// A small XML reader: well-formedness (XML 1.0, without DTDs) and a tree
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Item>,
}

#[derive(Debug)]
enum Item {
    Element(Element),
    Text(String),
}

impl Element {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn num(&self, name: &str) -> f64 {
        self.attr(name)
            .unwrap_or_else(|| panic!("<{}> has no {name}", self.name))
            .parse()
            .unwrap_or_else(|_| panic!("<{}> {name} is not a number", self.name))
    }

    fn has_class(&self, class: &str) -> bool {
        self.attr("class")
            .is_some_and(|c| c.split(' ').any(|x| x == class))
    }

    /// This element and every element below it, in document order.
    fn all(&self) -> Vec<&Element> {
        let mut out = vec![self];
        for c in &self.children {
            if let Item::Element(e) = c {
                out.extend(e.all());
            }
        }
        out
    }

    /// All text below this element, concatenated.
    fn text(&self) -> String {
        let mut out = String::new();
        for c in &self.children {
            match c {
                Item::Text(t) => out.push_str(t),
                Item::Element(e) => out.push_str(&e.text()),
            }
        }
        out
    }
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_name_char(c: char) -> bool {
    is_name_start(c) || c.is_ascii_digit() || c == '-' || c == '.'
}

struct Reader<'a> {
    s: &'a str,
    at: usize,
}

impl Reader<'_> {
    fn msg(&self, what: &str) -> String {
        let boundary = |mut i: usize| {
            while !self.s.is_char_boundary(i) {
                i -= 1;
            }
            i
        };
        let from = boundary(self.at.saturating_sub(60));
        let to = boundary((self.at + 40).min(self.s.len()));
        format!("XML: {what} at byte {}: {:?}", self.at, &self.s[from..to])
    }

    fn fail<T>(&self, what: &str) -> Result<T, String> {
        Err(self.msg(what))
    }

    fn rest(&self) -> &str {
        &self.s[self.at..]
    }

    fn eat(&mut self, prefix: &str) -> bool {
        if self.rest().starts_with(prefix) {
            self.at += prefix.len();
            true
        } else {
            false
        }
    }

    fn spaces(&mut self) {
        while let Some(c) = self.rest().chars().next() {
            if !matches!(c, ' ' | '\t' | '\n' | '\r') {
                break;
            }
            self.at += 1;
        }
    }

    fn name(&mut self) -> Result<String, String> {
        let start = self.at;
        let mut chars = self.rest().chars();
        match chars.next() {
            Some(c) if is_name_start(c) => self.at += 1,
            _ => return self.fail("a name expected"),
        }
        while let Some(c) = self.rest().chars().next() {
            if !is_name_char(c) {
                break;
            }
            self.at += 1;
        }
        Ok(self.s[start..self.at].to_owned())
    }

    /// Character data up to `stop`, entities decoded.
    fn chars_until(&mut self, stop: char) -> Result<String, String> {
        let mut out = String::new();
        while let Some(c) = self.rest().chars().next() {
            if c == stop {
                return Ok(out);
            }
            if !is_xml_char(c) {
                return self.fail(&format!("{c:?} is not an XML character"));
            }
            match c {
                '<' => return self.fail("raw '<'"),
                '&' => {
                    let end = self
                        .rest()
                        .find(';')
                        .ok_or_else(|| self.msg("'&' not an entity"))?;
                    let entity = &self.rest()[1..end];
                    let decoded = match entity {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        e if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or_else(|| self.msg("bad character reference"))?,
                        e if e.starts_with('#') => e[1..]
                            .parse::<u32>()
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or_else(|| self.msg("bad character reference"))?,
                        _ => return self.fail("unknown entity"),
                    };
                    if !is_xml_char(decoded) {
                        return self.fail("reference to a non-XML character");
                    }
                    out.push(decoded);
                    self.at += end + 1;
                }
                c => {
                    out.push(c);
                    self.at += c.len_utf8();
                }
            }
        }
        if stop == '<' {
            return Ok(out);
        }
        self.fail("unexpected end")
    }

    fn element(&mut self) -> Result<Element, String> {
        if !self.eat("<") {
            return self.fail("'<' expected");
        }
        let name = self.name()?;
        let mut attrs: Vec<(String, String)> = Vec::new();
        loop {
            let had_space = self.rest().starts_with([' ', '\t', '\n', '\r']);
            self.spaces();
            if self.eat("/>") {
                return Ok(Element {
                    name,
                    attrs,
                    children: Vec::new(),
                });
            }
            if self.eat(">") {
                break;
            }
            if !had_space {
                return self.fail("space expected between attributes");
            }
            let key = self.name()?;
            self.spaces();
            if !self.eat("=") {
                return self.fail("'=' expected");
            }
            self.spaces();
            let quote = match self.rest().chars().next() {
                Some(q @ ('"' | '\'')) => q,
                _ => return self.fail("quoted attribute value expected"),
            };
            self.at += 1;
            let value = self.chars_until(quote)?;
            self.at += 1;
            if attrs.iter().any(|(k, _)| *k == key) {
                return self.fail("duplicate attribute");
            }
            attrs.push((key, value));
        }
        let mut children = Vec::new();
        loop {
            if self.eat("</") {
                let end = self.name()?;
                if end != name {
                    return self.fail(&format!("</{end}> closes <{name}>"));
                }
                self.spaces();
                if !self.eat(">") {
                    return self.fail("'>' expected");
                }
                return Ok(Element {
                    name,
                    attrs,
                    children,
                });
            }
            if self.eat("<!--") {
                let end = self
                    .rest()
                    .find("-->")
                    .ok_or_else(|| self.msg("comment not closed"))?;
                self.at += end + 3;
                continue;
            }
            if self.rest().starts_with('<') {
                children.push(Item::Element(self.element()?));
                continue;
            }
            if self.rest().is_empty() {
                return self.fail(&format!("<{name}> not closed"));
            }
            let text = self.chars_until('<')?;
            children.push(Item::Text(text));
        }
    }
}

/// Parses a whole XML document (an optional declaration, one root element), or says
/// where the first error is.
fn try_parse_xml(s: &str) -> Result<Element, String> {
    let mut r = Reader { s, at: 0 };
    if r.eat("<?xml") {
        let end = r
            .rest()
            .find("?>")
            .ok_or_else(|| r.msg("declaration not closed"))?;
        r.at += end + 2;
    }
    r.spaces();
    let root = r.element()?;
    r.spaces();
    if !r.rest().is_empty() {
        return r.fail("content after the root element");
    }
    Ok(root)
}

fn parse_xml(s: &str) -> Element {
    try_parse_xml(s).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_xml_reader_rejects_what_it_must() {
    parse_xml("<?xml version=\"1.0\"?>\n<a x=\"1\" y='&lt;&#x41;'><b/>t&amp;<c></c></a>\n");
    for bad in [
        "<a><b></a></b>",
        "<a>x < y</a>",
        "<a>AT&T</a>",
        "<a x=\"1\" x=\"2\"/>",
        "<a x=1/>",
        "<a>\u{1b}</a>",
        "<a>\u{FFFE}</a>",
        "<a x=\"<\"/>",
        "<a/><b/>",
        "<a>&#0;</a>",
        "<a>",
    ] {
        assert!(try_parse_xml(bad).is_err(), "accepted {bad:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------------------

fn run(args: &[&str]) -> String {
    let out = Command::cargo_bin("heapsnap")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    assert!(err.is_empty(), "{args:?}: stderr {err:?}");
    String::from_utf8(out.stdout).expect("stdout is UTF-8")
}

fn write_dump(dir: &Path, name: &str, c: &SnapshotContent) -> String {
    let bytes = c.to_bytes().unwrap();
    Snapshot::from_bytes(&bytes, Verify::Full).expect("the test snapshot is valid");
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Markup, both quotes, an entity, an SQL comment, a newline, an ANSI colour, a bidi
/// override, a zero-width space and a non-character (not allowed in XML).
const HOSTILE: &str = "<script>alert(1)</script>\"'&amp;--\n\x1b[31m\u{202E}x\u{200B}\u{FFFE}]]>";

fn evil(tag: &str) -> String {
    format!("{tag}{HOSTILE}")
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

//   #0 module (value: a hostile name), root (MODULE, hostile label)  .attr<H> -> #1
//   #1 dict   ['key<H>'] -> #2, .attr<H> -> #3
//   #2 mod<H>.Evil<H> (HAS_FINALIZER)  .attr<H> -> #4          (#2 <-> #4: a cycle)
//   #3 list   [0] -> #2, [1] -> #5, [2] -> #6, [3] -> 0xdead (not in the dump)
//   #4 mod<H>.Evil<H>  .attr<H> -> #2
//   #5 str (value: a hostile string)
//   #6 mod<H>.Evil<H>  .self -> #6 (a self-reference)
fn hostile_content() -> SnapshotContent {
    let strings = vec![
        String::new(),
        "module".into(),
        "builtins".into(),
        "dict".into(),
        "list".into(),
        "str".into(),
        evil("Evil"),  // 6
        evil("mod"),   // 7
        evil("val"),   // 8
        evil("attr"),  // 9
        evil("key"),   // 10
        evil("root"),  // 11
        evil("name"),  // 12
        "self".into(), // 13
    ];
    let types = vec![
        ty(0x1000, 1, 2, 0),
        ty(0x1100, 3, 2, GC_TYPE),
        ty(0x1200, 4, 2, GC_TYPE),
        ty(0x1300, 5, 2, 0),
        ty(0x1400, 6, 7, HAS_FINALIZER | HEAP_TYPE | GC_TYPE),
    ];
    let t = GC_TRACKED;
    let objects = vec![
        obj(0x20000, 0, 72, 0, t, &[(0x20100, 9)]),
        obj(
            0x20100,
            1,
            232,
            1,
            t,
            &[(0x20200, 10 | LABEL_KEY_BIT), (0x20300, 9)],
        ),
        obj(0x20200, 4, 48, 3, t, &[(0x20400, 9)]),
        obj(
            0x20300,
            2,
            88,
            1,
            t | POSITIONAL_EDGES,
            &[(0x20200, 0), (0x20500, 0), (0x20600, 0), (0xdead0, 0)],
        ),
        obj(0x20400, 4, 48, 1, t, &[(0x20200, 9)]),
        obj(0x20500, 3, 60, 1, 0, &[]),
        obj(0x20600, 4, 48, 2, t, &[(0x20600, 13)]),
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

/// Characters that must not appear raw in the picture's text: controls, bidi and
/// invisible format characters, non-characters.
fn unsafe_char(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(c,
            '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{2028}' | '\u{2029}'
            | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}'
            | '\u{FFFE}' | '\u{FFFF}')
}

/// A box of the picture: object position, and its rectangle.
#[derive(Debug)]
struct Box_ {
    index: usize,
    class: String,
    x: f64,
    y: f64,
    w: f64,
    h: f64,
    text: String,
}

/// Checks what every picture must be; returns its boxes and its `(from, to)` paths.
fn check_picture(svg: &str, what: &str) -> (Element, Vec<Box_>, Vec<(usize, usize)>) {
    let root = parse_xml(svg);
    assert_eq!(root.name, "svg", "{what}");
    assert_eq!(
        root.attr("xmlns"),
        Some("http://www.w3.org/2000/svg"),
        "{what}"
    );
    let lower = svg.to_lowercase();
    for bad in [
        "<script",
        "javascript:",
        "<foreignobject",
        "<iframe",
        "<image",
        "<a ",
        "@import",
        "url(http",
    ] {
        assert!(!lower.contains(bad), "{what}: {bad}");
    }
    let (w, h) = (root.num("width"), root.num("height"));
    let mut boxes = Vec::new();
    let mut paths = Vec::new();
    for e in root.all() {
        for (k, v) in &e.attrs {
            assert!(
                !k.to_lowercase().starts_with("on"),
                "{what}: event handler {k}"
            );
            assert!(
                !k.contains("href") || v.starts_with('#'),
                "{what}: external reference {k}={v}"
            );
            assert!(
                !v.chars().any(unsafe_char),
                "{what}: unsafe character in {k}={v:?}"
            );
        }
        if e.name == "path" && e.has_class("edge") {
            paths.push((e.num("data-from") as usize, e.num("data-to") as usize));
        }
        if e.name == "g" && e.has_class("node") {
            let id = e.attr("id").unwrap();
            let rect = e
                .all()
                .into_iter()
                .find(|r| r.name == "rect")
                .unwrap_or_else(|| panic!("{what}: {id} has no rect"));
            let b = Box_ {
                index: id.strip_prefix('n').unwrap().parse().unwrap(),
                class: e.attr("class").unwrap().to_owned(),
                x: rect.num("x"),
                y: rect.num("y"),
                w: rect.num("width"),
                h: rect.num("height"),
                text: e.text(),
            };
            assert!(
                b.x >= 0.0 && b.y >= 0.0 && b.x + b.w <= w && b.y + b.h <= h,
                "{what}: {id} outside the picture ({w} x {h}): {b:?}"
            );
            boxes.push(b);
        }
    }
    let text = root.text();
    if let Some(c) = text.chars().find(|&c| unsafe_char(c)) {
        panic!("{what}: raw {c:?} in the text");
    }
    // No two boxes overlap.
    for (i, a) in boxes.iter().enumerate() {
        for b in &boxes[i + 1..] {
            let apart = a.x + a.w <= b.x + 0.01
                || b.x + b.w <= a.x + 0.01
                || a.y + a.h <= b.y + 0.01
                || b.y + b.h <= a.y + 0.01;
            assert!(apart, "{what}: boxes overlap: {a:?} {b:?}");
        }
    }
    (root, boxes, paths)
}

/// `refs` with `args` as SVG and as JSON: the picture shows exactly the objects and
/// references of the JSON, each object with its address.
fn check_against_json(dump: &str, args: &[&str], what: &str) -> (String, Vec<Box_>) {
    let mut svg_args = vec!["refs", dump];
    svg_args.extend_from_slice(args);
    svg_args.extend_from_slice(&["--format", "svg"]);
    let svg = run(&svg_args);
    let (_, boxes, mut paths) = check_picture(&svg, what);
    let mut json_args = vec!["refs", "--json", dump];
    json_args.extend_from_slice(args);
    let env: Json = serde_json::from_str(&run(&json_args)).unwrap();
    let data = &env["data"];
    let objects = data["objects"].as_array().unwrap();
    assert_eq!(boxes.len(), objects.len(), "{what}: one box per object");
    for (i, o) in objects.iter().enumerate() {
        let b = boxes.iter().find(|b| b.index == i).unwrap();
        let address = o["address"].as_str().unwrap();
        assert!(
            b.text.contains(address),
            "{what}: box {i} lacks {address}: {b:?}"
        );
        assert_eq!(
            b.class.contains("finalizer"),
            o["finalizer"] == true,
            "{what}: {b:?}"
        );
        assert_eq!(
            b.class.contains("cycle"),
            o["in_cycle"] == true,
            "{what}: {b:?}"
        );
        assert_eq!(b.class.contains("target"), i == 0, "{what}: {b:?}");
    }
    let mut refs: Vec<(usize, usize)> = data["references"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["from"].as_u64().unwrap() as usize,
                r["to"].as_u64().unwrap() as usize,
            )
        })
        .collect();
    refs.sort_unstable();
    paths.sort_unstable();
    assert_eq!(paths, refs, "{what}: one path per reference");
    (svg, boxes)
}

#[test]
fn svg_shows_every_object_and_reference_and_escapes_hostile_strings() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_dump(dir.path(), "evil.hsnap", &hostile_content());
    for target in ["#0", "#1", "#2", "#3", "#4", "#5", "#6"] {
        for extra in [
            &["--depth", "5"][..],
            &["--back", "--depth", "5"][..],
            &["--depth", "1"][..],
        ] {
            let mut args = vec![target];
            args.extend_from_slice(extra);
            let what = format!("refs {args:?}");
            let (svg, boxes) = check_against_json(&p, &args, &what);
            // The hostile strings are there, escaped: markup as entities, controls and
            // bidi characters as visible \u{..} sequences.
            assert!(svg.contains("&lt;script&gt;"), "{what}");
            assert!(
                svg.contains("\\u{202e}") && svg.contains("\\u{1b}") && svg.contains("\\u{fffe}"),
                "{what}"
            );
            assert!(!svg.contains("]]>"), "{what}");
            let all_text: String = boxes.iter().map(|b| b.text.as_str()).collect();
            assert!(
                all_text.contains("<script>alert(1)</script>\"'&amp;--"),
                "{what}"
            );
        }
    }
    // The cycle #2 <-> #4 and the finalizer class, seen from the dict.
    let (svg, boxes) = check_against_json(&p, &["#1", "--depth", "3"], "refs #1");
    let target = boxes.iter().find(|b| b.index == 0).unwrap();
    assert_eq!(target.class, "node target");
    assert!(boxes.iter().filter(|b| b.class.contains("cycle")).count() >= 2);
    assert!(boxes.iter().any(|b| b.class.contains("finalizer")));
    let root = parse_xml(&svg);
    let legend = root
        .all()
        .into_iter()
        .find(|e| e.has_class("legend"))
        .expect("a legend")
        .text();
    for words in ["target", "finalizer", "cycle"] {
        assert!(legend.contains(words), "legend: {legend}");
    }
}

#[test]
fn svg_is_the_same_for_any_thread_count_and_with_o() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_dump(dir.path(), "evil.hsnap", &hostile_content());
    let synth = dir.path().join("synth.hsnap");
    let synth = synth.to_str().unwrap();
    run(&["synth", "--objects", "3000", "--seed", "7", "-o", synth]);
    for (dump, target) in [(p.as_str(), "#1"), (synth, "#0"), (synth, "#100")] {
        for back in [false, true] {
            let mut args = vec!["refs", dump, target, "--format", "svg", "--depth", "3"];
            if back {
                args.push("--back");
            }
            let mut one = vec!["--threads", "1"];
            one.extend_from_slice(&args);
            let mut two = vec!["--threads", "2"];
            two.extend_from_slice(&args);
            let a = run(&one);
            assert_eq!(a, run(&two), "{args:?}");
            let file = dir.path().join("out.svg");
            let mut with_o = args.clone();
            with_o.extend_from_slice(&["-o", file.to_str().unwrap()]);
            assert_eq!(run(&with_o), "", "{args:?}: nothing on stdout with -o");
            assert_eq!(std::fs::read_to_string(&file).unwrap(), a, "{args:?}");
        }
    }
}

#[test]
fn larger_pictures_are_well_formed_without_overlaps() {
    let dir = tempfile::tempdir().unwrap();
    let synth = dir.path().join("synth.hsnap");
    let synth = synth.to_str().unwrap();
    run(&["synth", "--objects", "5000", "--seed", "3", "-o", synth]);
    for (target, extra) in [
        (
            "#0",
            &["--depth", "4", "--max-nodes", "150", "--fanout", "6"][..],
        ),
        ("#42", &["--back", "--depth", "4", "--max-nodes", "150"][..]),
        ("#4000", &["--depth", "6", "--fanout", "3"][..]),
    ] {
        let mut args = vec![target];
        args.extend_from_slice(extra);
        let (_, boxes) = check_against_json(synth, &args, &format!("synth refs {args:?}"));
        assert!(boxes.len() > 1, "{args:?}");
    }
}
