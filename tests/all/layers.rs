//! The crate's layers point one way: bytes (`format`) -> validated `snapshot` ->
//! `graph` -> analyses -> queries, reports and commands -> CLI. This test reads every
//! `crate::X` a module of `src/` names (comments left out) and fails on any edge the
//! table below does not allow; the table itself must have no cycle, so a back-edge
//! cannot be allowed by adding it. A node is a top-level module, except that
//! `src/format/mod.rs` (constants and record layouts, which `error` names) and the rest
//! of `src/format/` (checked readers and writers, which return `error`'s type) are
//! two nodes, `format` and `format/*`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each node and the nodes it may name. Lowest layers first.
const ALLOWED: &[(&str, &[&str])] = &[
    ("memory", &[]),
    ("escape", &[]),
    ("progress", &[]),
    ("cache", &[]),
    ("address", &["memory"]),
    ("format", &[]),
    ("error", &["format"]),
    ("format/*", &["address", "format", "error", "memory"]),
    ("output", &["error"]),
    ("column", &["memory", "error"]),
    ("validate", &["format", "format/*", "error"]),
    (
        "snapshot",
        &[
            "address", "cache", "column", "error", "format", "format/*", "progress", "validate",
            "memory",
        ],
    ),
    ("content", &["error", "format", "format/*", "snapshot"]),
    ("synth", &["error", "format", "format/*", "progress"]),
    (
        "graph",
        &[
            "address", "column", "error", "format", "memory", "progress", "snapshot",
        ],
    ),
    (
        "census",
        &["address", "error", "format", "graph", "snapshot"],
    ),
    ("names", &["address", "format", "graph", "snapshot"]),
    (
        "analysis",
        &[
            "address", "column", "error", "format", "graph", "memory", "names", "progress",
            "snapshot",
        ],
    ),
    (
        "index",
        &[
            "analysis", "cache", "column", "error", "escape", "format", "format/*", "graph",
            "memory", "names", "progress", "snapshot",
        ],
    ),
    (
        "report",
        &[
            "analysis", "content", "error", "escape", "format", "graph", "names", "snapshot",
        ],
    ),
    (
        "query",
        &["analysis", "escape", "graph", "names", "report", "snapshot"],
    ),
    ("attach", &["error", "escape"]),
    ("cli", &[]),
    (
        "commands",
        &[
            "address", "analysis", "attach", "census", "cli", "content", "error", "escape",
            "format", "format/*", "graph", "index", "memory", "names", "output", "progress",
            "query", "report", "snapshot", "synth",
        ],
    ),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The node of a file (path relative to `src/`); `None` for the crate roots.
fn node_of(rel: &Path) -> Option<String> {
    let parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    let top = parts[0].trim_end_matches(".rs").to_owned();
    match top.as_str() {
        "lib" | "main" => None,
        "format" if parts.len() > 1 && parts[1] != "mod.rs" => Some("format/*".into()),
        _ => Some(top),
    }
}

/// The source without comments (line comments and doc comments; strings are kept, and
/// no string of `src/` holds `crate::`).
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let code = match line.find("//") {
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        };
        out.push_str(code);
        out.push('\n');
    }
    out
}

/// The nodes `code` names through `crate::` paths. `format_subs` are the submodules of
/// `src/format/` (naming one is naming `format/*`).
fn named(code: &str, format_subs: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in code.match_indices("crate::") {
        if i > 0 {
            let before = code[..i].chars().next_back().unwrap();
            if before.is_alphanumeric() || before == '_' || before == ':' {
                continue; // `my_crate::`, `a::crate::` (but `$crate::` counts)
            }
        }
        let rest = &code[i + "crate::".len()..];
        let top = ident(rest);
        if top != "format" {
            if !top.is_empty() {
                found.insert(top);
            }
            continue;
        }
        let after = rest["format".len()..].strip_prefix("::").unwrap_or("");
        // `crate::format::{a, read::b}` or `crate::format::x`.
        let items: Vec<String> = match after.strip_prefix('{') {
            Some(group) => group[..group.find('}').unwrap_or(group.len())]
                .split(',')
                .map(|s| ident(s.trim()))
                .collect(),
            None => vec![ident(after)],
        };
        for it in items {
            if format_subs.contains(&it) {
                found.insert("format/*".to_owned());
            } else {
                found.insert("format".to_owned());
            }
        }
    }
    found
}

/// Every `node -> named node` edge of `src/`, with the files behind it.
fn edges() -> BTreeMap<(String, String), Vec<String>> {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let format_subs: BTreeSet<String> = std::fs::read_dir(root.join("format"))
        .unwrap()
        .map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.trim_end_matches(".rs").to_owned()
        })
        .filter(|n| n != "mod")
        .collect();
    let mut out: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&root).unwrap().to_path_buf();
        let Some(node) = node_of(&rel) else { continue };
        let code = strip_comments(&std::fs::read_to_string(&f).unwrap());
        for to in named(&code, &format_subs) {
            if to != node {
                out.entry((node.clone(), to))
                    .or_default()
                    .push(rel.display().to_string());
            }
        }
    }
    out
}

#[test]
fn the_allowed_table_has_no_cycle() {
    let table: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    assert_eq!(table.len(), ALLOWED.len(), "a node is listed twice");
    // Each node may name only nodes listed above it: then no cycle can exist.
    for (i, (node, deps)) in ALLOWED.iter().enumerate() {
        for d in *deps {
            let at = ALLOWED.iter().position(|(n, _)| n == d);
            assert!(
                at.is_some_and(|j| j < i),
                "{node} may name {d}, which is not a node listed above it"
            );
        }
    }
}

#[test]
fn modules_name_only_lower_layers() {
    let table: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut bad = Vec::new();
    let all = edges();
    assert!(
        all.len() > 40,
        "found only {} edges: is the reader broken?",
        all.len()
    );
    for ((from, to), files) in &all {
        let Some(allowed) = table.get(from.as_str()) else {
            bad.push(format!("{from} (in {files:?}) is not in the table"));
            continue;
        };
        if !allowed.contains(&to.as_str()) {
            bad.push(format!("{from} -> {to} (in {files:?})"));
        }
    }
    assert!(
        bad.is_empty(),
        "edges against the layers:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_reader_finds_grouped_and_format_paths() {
    let subs: BTreeSet<String> = ["read".to_owned(), "writer".to_owned()].into();
    let code = strip_comments(
        "use crate::format::{kind, read::crc32};\n\
         // crate::cli in a comment\n\
         let x = crate::graph::NONE; use crate::format::writer::Writer;\n\
         macro_rules! m { () => { $crate::memory::x } } use other_crate::cli;",
    );
    let got: Vec<String> = named(&code, &subs).into_iter().collect();
    assert_eq!(got, ["format", "format/*", "graph", "memory"]);
}

/// Commands share code through lower layers (`query`, `report`, `output`) or
/// `commands/mod.rs`, never through each other: no `super::<command>` and no
/// `crate::commands::<command>` in a command module.
#[test]
fn no_command_module_names_another() {
    let dir = src().join("commands");
    let commands: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "mod.rs")
        .map(|n| n.trim_end_matches(".rs").to_owned())
        .collect();
    assert!(commands.len() > 10, "found {commands:?}");
    let mut bad = Vec::new();
    for me in &commands {
        let code = strip_comments(&std::fs::read_to_string(dir.join(format!("{me}.rs"))).unwrap());
        for other in commands.iter().filter(|c| *c != me) {
            for prefix in ["super::", "crate::commands::"] {
                let hit = code
                    .match_indices(&format!("{prefix}{other}"))
                    .any(|(i, m)| {
                        let next = code[i + m.len()..].chars().next();
                        !next.is_some_and(|c| c.is_alphanumeric() || c == '_')
                    });
                // `super::{a, b}` groups name only items of commands/mod.rs unless a
                // sibling is listed: check those too.
                let grouped = code.match_indices(&format!("{prefix}{{")).any(|(i, m)| {
                    let rest = &code[i + m.len()..];
                    rest[..rest.find('}').unwrap_or(0)]
                        .split(',')
                        .any(|item| item.trim().split("::").next() == Some(other.as_str()))
                });
                if hit || grouped {
                    bad.push(format!("commands/{me}.rs names {prefix}{other}"));
                }
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
