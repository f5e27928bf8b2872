//! How objects, types, edges and roots are named for people. Every string returned here
//! comes from the dump and is raw: escaping is the job of whatever prints it (terminal,
//! DOT, CSV, JSON).

use crate::format::object_flags::POSITIONAL_EDGES;
use crate::format::{root_kind, LABEL_KEY_BIT, ROOT_KIND_NAMES, VALUE_KIND_NAMES};
use crate::graph::{root_reason, Graph, NodeId};
use crate::snapshot::Snapshot;

/// Longest value preview shown inside a description, in characters.
pub const PREVIEW_CHARS: usize = 40;

/// Display names of the dump's types: `module.qualname`, or just `qualname` for
/// builtins and types without a module.
pub struct TypeNames {
    names: Vec<String>,
}

impl TypeNames {
    /// Names every type of `snap`.
    pub fn new(snap: &Snapshot) -> TypeNames {
        let names = snap
            .types()
            .iter()
            .map(|t| {
                let name = snap.string(u64::from(t.name));
                match snap.string(u64::from(t.module)) {
                    "" | "builtins" => name.to_owned(),
                    module => format!("{module}.{name}"),
                }
            })
            .collect();
        TypeNames { names }
    }

    /// The name of type index `t` (`"?"` if out of range).
    pub fn get(&self, t: u32) -> &str {
        self.names.get(t as usize).map_or("?", String::as_str)
    }

    /// Every name, by type index.
    pub fn all(&self) -> &[String] {
        &self.names
    }

    /// Type indexes whose name is `name`, either the display name or the bare qualified
    /// name (`Channel` matches `app.bus.Channel`).
    pub fn find(&self, snap: &Snapshot, name: &str) -> Vec<u32> {
        (0..self.names.len() as u32)
            .filter(|&t| {
                self.names[t as usize] == name
                    || snap.string(u64::from(snap.types()[t as usize].name)) == name
            })
            .collect()
    }
}

/// The type name of object `v`.
pub fn type_of<'a>(snap: &Snapshot, names: &'a TypeNames, v: NodeId) -> &'a str {
    names.get(snap.types_of()[v as usize])
}

/// The VALUES record text of `v` and its kind name (`name`, `str`, ...), if any.
pub fn value_of(snap: &Snapshot, v: NodeId) -> Option<(&'static str, &str, bool)> {
    let values = snap.values();
    let i = values
        .binary_search_by_key(&u64::from(v), |r| r.object)
        .ok()?;
    let r = &values[i];
    let kind = VALUE_KIND_NAMES
        .get(usize::from(r.kind).wrapping_sub(1))
        .copied()?;
    Some((kind, snap.string(u64::from(r.string)), r.flags & 1 != 0))
}

/// A short description of object `v`: its type, its name or a clipped preview when the
/// dump has one, and its address: `function 'handler' at 0x7f...`.
pub fn describe(snap: &Snapshot, names: &TypeNames, v: NodeId) -> String {
    let ty = type_of(snap, names, v);
    let addr = snap.addresses()[v as usize];
    match value_of(snap, v) {
        Some((kind, text, truncated)) => {
            let mut shown: String = text.chars().take(PREVIEW_CHARS).collect();
            if truncated || shown.len() < text.len() {
                shown.push_str("...");
            }
            if kind == "number" {
                format!("{ty} {shown} at {addr:#x}")
            } else {
                format!("{ty} '{shown}' at {addr:#x}")
            }
        }
        None => format!("{ty} at {addr:#x}"),
    }
}

/// How edge `k` (an edge of object `src`) is shown: `.name`, `['key']`, `[j]`, or
/// `None` when the dump has no label for it.
pub fn edge_label(snap: &Snapshot, graph: &Graph, src: NodeId, k: usize) -> Option<String> {
    if snap.flags()[src as usize] & POSITIONAL_EDGES != 0 {
        return Some(format!("[{}]", k - graph.edge_range(src).start));
    }
    let label = snap.edge_label(k);
    if label == 0 {
        return None;
    }
    let text = snap.string(u64::from(label & !LABEL_KEY_BIT));
    // Raw like every string here (no Rust `{:?}` escapes): JSON keeps the key exactly,
    // and text, DOT and CSV output escape it where they print it.
    Some(if label & LABEL_KEY_BIT != 0 {
        format!("['{text}']")
    } else {
        format!(".{text}")
    })
}

/// The first edge from `src` to `dst`, if any.
pub fn edge_between(graph: &Graph, src: NodeId, dst: NodeId) -> Option<usize> {
    let range = graph.edge_range(src);
    let start = range.start;
    graph.targets()[range]
        .iter()
        .position(|&t| t == dst)
        .map(|j| start + j)
}

/// Why `v` is a root, as text: `module 'app'`, `thread 'MainThread'`,
/// `refcount surplus 2 (held outside the dump)`, `immortal`, ...; `None` if it is not
/// a root of `graph`.
pub fn root_description(snap: &Snapshot, graph: &Graph, v: NodeId) -> Option<String> {
    if !graph.is_root(v) {
        return None;
    }
    let records = snap.roots();
    let first = records.partition_point(|r| r.object < u64::from(v));
    // Records need not be sorted; fall back to a scan when the guess misses.
    let record = records
        .get(first)
        .filter(|r| r.object == u64::from(v))
        .or_else(|| records.iter().find(|r| r.object == u64::from(v)));
    if let Some(r) = record {
        let kind = ROOT_KIND_NAMES
            .get((r.kind as usize).wrapping_sub(1))
            .copied()
            .unwrap_or("root");
        let label = snap.string(u64::from(r.label));
        return Some(match (r.kind, label) {
            (root_kind::MODULE, l) => format!("module '{l}'"),
            (root_kind::THREAD, l) => format!("thread '{l}' ({})", r.detail),
            (_, "") => kind.to_owned(),
            (_, l) => format!("{kind} '{l}'"),
        });
    }
    let reasons = root_reasons_of(snap, graph, v);
    if reasons & root_reason::IMMORTAL != 0 {
        return Some("immortal".to_owned());
    }
    let rc = u64::from(snap.refcounts()[v as usize]);
    Some(format!(
        "refcount surplus {} (held outside the dump)",
        rc.saturating_sub(graph.in_degree(v))
    ))
}

fn root_reasons_of(snap: &Snapshot, graph: &Graph, v: NodeId) -> u8 {
    use crate::format::object_flags::REFCOUNT_UNKNOWN;
    if snap.flags()[v as usize] & REFCOUNT_UNKNOWN != 0 {
        root_reason::IMMORTAL
    } else if u64::from(snap.refcounts()[v as usize]) > graph.in_degree(v) {
        root_reason::SURPLUS
    } else {
        0
    }
}

/// Parses an object reference given on the command line: `0x...` (an address) or
/// `#N` / `@N` (an object index). `None` if `text` is neither (it may be a type name).
pub fn parse_object_ref(
    snap: &Snapshot,
    graph: &Graph,
    text: &str,
) -> Option<Result<NodeId, String>> {
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        let Ok(addr) = u64::from_str_radix(hex, 16) else {
            return Some(Err(format!("\"{text}\" is not a hexadecimal address")));
        };
        let found = crate::address::position(snap.addresses(), addr);
        return Some(match found {
            Some(i) => Ok(i as NodeId),
            None => Err(format!("no object at address {addr:#x} in the dump")),
        });
    }
    if let Some(num) = text.strip_prefix('#').or_else(|| text.strip_prefix('@')) {
        return Some(match num.parse::<usize>() {
            Ok(i) if i < graph.len() => Ok(i as NodeId),
            Ok(i) => Err(format!(
                "object index {i} is out of range (the dump has {} objects)",
                graph.len()
            )),
            Err(_) => Err(format!("\"{text}\" is not an object index")),
        });
    }
    None
}

/// A path from a root in one line: `module 'app' -> dict['cache'] -> list[3] -> Item`.
/// Each step is an object and the index of the edge into it (`None` for the root).
/// With `merged`, list positions and dict keys become `[*]`, so that the paths to the
/// items of one container read the same, except the keys of a module's globals, which
/// name the variable that holds everything below. Used by `path` and `diff`.
pub fn path_chain(
    snap: &Snapshot,
    graph: &Graph,
    names: &TypeNames,
    path: &[(NodeId, Option<usize>)],
    merged: bool,
) -> String {
    let mut line = String::new();
    for (i, &(v, k)) in path.iter().enumerate() {
        if i > 0 {
            if let Some(label) = k.and_then(|k| edge_label(snap, graph, path[i - 1].0, k)) {
                let generic = label.starts_with('[')
                    && !(i >= 2 && type_of(snap, names, path[i - 2].0) == "module");
                line.push_str(if merged && generic { "[*]" } else { &label });
            }
            line.push_str(" -> ");
        }
        line.push_str(type_of(snap, names, v));
        if i == 0 {
            if let Some((_, text, _)) = value_of(snap, v) {
                let clipped: String = text.chars().take(PREVIEW_CHARS).collect();
                line.push_str(&format!(" '{clipped}'"));
            }
        }
    }
    line
}
