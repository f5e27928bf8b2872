//! Chrome DevTools' `.heapsnapshot` JSON (the format V8 writes and the DevTools Memory
//! panel, memlab and other JavaScript heap tools read), streamed: the dump's objects and
//! edges are written as they are read, so a 10M-object dump needs no more memory than its
//! graph (the JSON text is never held whole).
//!
//! Layout, following V8's conventions:
//! - node 0 is the synthetic root (name `""`, id 1). Its edges: `element` 1 to node 1, a
//!   synthetic `(GC roots)` (id 3), then one `shortcut` to every root of the dump, named
//!   by why it is a root (`module 'app'`, `refcount surplus 2 (held outside the dump)`).
//!   `(GC roots)` has an `internal` edge of the same name to every root. The two routes
//!   are what DevTools (which marks what root shortcuts reach as "page owned") and memlab
//!   (which marks what the root's other edges reach) each need to ignore references from
//!   unreachable objects into reachable ones, as heapsnap does: their retained sizes of
//!   reachable objects are then heapsnap's.
//! - object `i` of the dump is node `i + 2`, id `2 * (i + 2) + 1` (odd, like V8's heap
//!   objects); `self_size` is the shallow size (capped at 2^32 - 1: readers hold fields
//!   in 32-bit arrays).
//! - node types and names: a `str` with a value is a `string` named by its text, a number
//!   with a value a `number` named by its text, a function with a name a `closure` named
//!   by it, another named object (module, class) an `object` named `<type> <name>`
//!   (`module app`, `type Session`); every other object an `object` named by its type
//!   (`dict`, `app.Session`), so that DevTools' Summary groups objects by Python type.
//! - edge types: `element` (with the position) for the references of lists, tuples and
//!   other positional containers, `property` for labelled references (dict keys,
//!   attribute and local variable names), `hidden` (with the position) for the others.
//!   References to addresses outside the dump are left out.
//! - strings: `""`, `(GC roots)`, `?`, the type names, then the dump's string table
//!   in order (labels and values point into it directly, without a lookup), then the
//!   composite names made while writing.

use std::collections::HashMap;
use std::io::Write;

use crate::analysis::Analysis;
use crate::error::{Error, Result};
use crate::format::object_flags::POSITIONAL_EDGES;
use crate::format::{LABEL_KEY_BIT, VALUE_KIND_NAMES};
use crate::graph::{NodeId, NONE};
use crate::names;

/// Fields of a node, in order.
pub const NODE_FIELDS: [&str; 7] = [
    "type",
    "name",
    "id",
    "self_size",
    "edge_count",
    "trace_node_id",
    "detachedness",
];

/// Node types (V8's list; index = the value of a node's `type` field).
pub const NODE_TYPES: [&str; 15] = [
    "hidden",
    "array",
    "string",
    "object",
    "code",
    "closure",
    "regexp",
    "number",
    "native",
    "synthetic",
    "concatenated string",
    "sliced string",
    "symbol",
    "bigint",
    "object shape",
];

/// Edge types (V8's list; index = the value of an edge's `type` field).
pub const EDGE_TYPES: [&str; 7] = [
    "context", "element", "property", "internal", "hidden", "shortcut", "weak",
];

const N_STRING: u64 = 2;
const N_OBJECT: u64 = 3;
const N_CLOSURE: u64 = 5;
const N_NUMBER: u64 = 7;
const N_SYNTHETIC: u64 = 9;

const E_ELEMENT: u64 = 1;
const E_PROPERTY: u64 = 2;
const E_INTERNAL: u64 = 3;
const E_HIDDEN: u64 = 4;
const E_SHORTCUT: u64 = 5;

/// Fixed strings at the start of the table.
const S_EMPTY: u64 = 0;
const S_GC_ROOTS: u64 = 1;
const S_UNKNOWN: u64 = 2;
const FIXED_STRINGS: [&str; 3] = ["", "(GC roots)", "?"];

/// Nodes before the dump's objects: the root and `(GC roots)`.
const SYNTHETIC_NODES: u64 = 2;

/// The most objects a `.heapsnapshot` can describe: readers index the node array with
/// 32-bit numbers (`to_node` = node ordinal x 7).
pub const MAX_OBJECTS: u64 = u32::MAX as u64 / NODE_FIELDS.len() as u64 - SYNTHETIC_NODES;

/// Flush the output buffer when it grows past this.
const CHUNK: usize = 1 << 20;

/// Object ids in the file, by node ordinal.
pub fn node_id(ordinal: u64) -> u64 {
    2 * ordinal + 1
}

/// The id of object `index` of the dump (`2 * (index + 2) + 1`).
pub fn object_id(index: u64) -> u64 {
    node_id(index + SYNTHETIC_NODES)
}

/// Strings made while writing (names, root descriptions), each once.
struct Extra {
    base: u64,
    index: HashMap<String, u64>,
    list: Vec<String>,
}

impl Extra {
    fn get(&mut self, s: String) -> u64 {
        if let Some(&i) = self.index.get(&s) {
            return i;
        }
        let i = self.base + self.list.len() as u64;
        self.list.push(s.clone());
        self.index.insert(s, i);
        i
    }
}

/// A byte buffer flushed to the output in large writes.
struct Out<'w, W: Write> {
    buf: Vec<u8>,
    out: &'w mut W,
}

impl<W: Write> Out<'_, W> {
    fn str(&mut self, s: &str) {
        self.buf.extend_from_slice(s.as_bytes());
    }

    fn num(&mut self, mut v: u64) {
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.buf.extend_from_slice(&tmp[i..]);
    }

    /// A JSON string literal.
    fn json(&mut self, s: &str) -> Result<()> {
        serde_json::to_writer(&mut self.buf, s)
            .map_err(|e| Error::input(format!("cannot encode JSON: {e}")))
    }

    fn maybe_flush(&mut self) -> Result<()> {
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.out.write_all(&self.buf).map_err(out_err)?;
        self.buf.clear();
        Ok(())
    }
}

fn out_err(e: std::io::Error) -> Error {
    Error::io("cannot write output", e)
}

/// How object `v` appears: node type and name (a string index).
struct Namer<'a> {
    a: &'a Analysis<'a>,
    /// Per type index: its name's string index, and whether its instances are functions.
    type_names: Vec<(u64, bool)>,
    dump_base: u64,
    string_count: u64,
    cursor: usize,
}

impl Namer<'_> {
    fn node(&mut self, v: NodeId, extra: &mut Extra) -> (u64, u64) {
        let t = self.a.snap.types_of()[v as usize];
        let (type_name, function) = self
            .type_names
            .get(t as usize)
            .copied()
            .unwrap_or((S_UNKNOWN, false));
        // VALUES records are in ascending object order: one cursor for the whole walk.
        let values = self.a.snap.values();
        while self.cursor < values.len() && values[self.cursor].object < u64::from(v) {
            self.cursor += 1;
        }
        let Some(r) = values.get(self.cursor).filter(|r| r.object == u64::from(v)) else {
            return (N_OBJECT, type_name);
        };
        let kind = VALUE_KIND_NAMES
            .get(usize::from(r.kind).wrapping_sub(1))
            .copied();
        let string = u64::from(r.string);
        if string >= self.string_count {
            return (N_OBJECT, type_name);
        }
        let text = self.dump_base + string;
        match kind {
            Some("str") => (N_STRING, text),
            Some("number") => (N_NUMBER, text),
            Some("name") if function => (N_CLOSURE, text),
            Some("name") => {
                let ty = names::type_of(self.a.snap, &self.a.names, v);
                let name = format!("{ty} {}", self.a.snap.string(string));
                (N_OBJECT, extra.get(name))
            }
            _ => (N_OBJECT, type_name),
        }
    }
}

/// Writes the whole `.heapsnapshot` of `a` (only its graph is needed) to `out`.
pub fn write<W: Write>(a: &Analysis<'_>, out: &mut W) -> Result<()> {
    let snap = a.snap;
    let g = &a.graph;
    let n = g.len() as u64;
    let roots = g.roots();
    let resolved_edges = g.edge_count() as u64 - g.dangling_edges();
    let edge_count = resolved_edges + 1 + 2 * roots.len() as u64;
    if n > MAX_OBJECTS || edge_count > u64::from(u32::MAX) / 3 {
        return Err(Error::input(format!(
            "{n} objects and {edge_count} references are too many for the .heapsnapshot \
             format (readers index it with 32-bit numbers: at most {MAX_OBJECTS} objects); \
             use --format csv or jsonl"
        )));
    }
    let type_count = snap.type_count() as u64;
    let string_count = snap.string_count() as u64;
    let type_base = FIXED_STRINGS.len() as u64;
    let dump_base = type_base + type_count;
    let mut extra = Extra {
        base: dump_base + string_count,
        index: HashMap::new(),
        list: Vec::new(),
    };
    let mut namer = Namer {
        a,
        type_names: a
            .names
            .all()
            .iter()
            .enumerate()
            .map(|(t, name)| {
                let function = matches!(name.as_str(), "function" | "builtin_function_or_method");
                (type_base + t as u64, function)
            })
            .collect(),
        dump_base,
        string_count,
        cursor: 0,
    };
    let mut o = Out {
        buf: Vec::with_capacity(CHUNK + 4096),
        out,
    };

    // Header.
    o.str("{\"snapshot\":{\"meta\":{\"node_fields\":");
    o.str(&serde_json::to_string(&NODE_FIELDS).unwrap_or_default());
    o.str(",\"node_types\":[");
    o.str(&serde_json::to_string(&NODE_TYPES).unwrap_or_default());
    o.str(",\"string\",\"number\",\"number\",\"number\",\"number\",\"number\"]");
    o.str(",\"edge_fields\":[\"type\",\"name_or_index\",\"to_node\"],\"edge_types\":[");
    o.str(&serde_json::to_string(&EDGE_TYPES).unwrap_or_default());
    o.str(",\"string_or_number\",\"node\"]");
    o.str(
        ",\"trace_function_info_fields\":[\"function_id\",\"name\",\"script_name\",\
         \"script_id\",\"line\",\"column\"],\"trace_node_fields\":[\"id\",\
         \"function_info_index\",\"count\",\"size\",\"children\"],\"sample_fields\":\
         [\"timestamp_us\",\"last_assigned_id\"],\"location_fields\":[\"object_index\",\
         \"script_id\",\"line\",\"column\"]},\"node_count\":",
    );
    o.num(n + SYNTHETIC_NODES);
    o.str(",\"edge_count\":");
    o.num(edge_count);
    o.str(",\"trace_function_count\":0},\n\"nodes\":[");

    // Nodes: the root, (GC roots), the objects.
    let node = |o: &mut Out<'_, W>,
                first: bool,
                ty: u64,
                name: u64,
                ordinal: u64,
                size: u64,
                edges: u64| {
        if !first {
            o.str(",");
        }
        o.num(ty);
        o.str(",");
        o.num(name);
        o.str(",");
        o.num(node_id(ordinal));
        o.str(",");
        o.num(size.min(u64::from(u32::MAX)));
        o.str(",");
        o.num(edges);
        o.str(",0,0\n");
    };
    node(
        &mut o,
        true,
        N_SYNTHETIC,
        S_EMPTY,
        0,
        0,
        1 + roots.len() as u64,
    );
    node(
        &mut o,
        false,
        N_SYNTHETIC,
        S_GC_ROOTS,
        1,
        0,
        roots.len() as u64,
    );
    let no_dangling = g.dangling_edges() == 0;
    for v in 0..n as NodeId {
        let (ty, name) = namer.node(v, &mut extra);
        let edges = if no_dangling {
            g.edge_range(v).len() as u64
        } else {
            g.out_raw(v).iter().filter(|&&t| t != NONE).count() as u64
        };
        node(
            &mut o,
            false,
            ty,
            name,
            u64::from(v) + SYNTHETIC_NODES,
            a.size(v),
            edges,
        );
        o.maybe_flush()?;
    }
    o.str("],\n\"edges\":[");

    // Edges: the root's, (GC roots)', the objects'.
    let fields = NODE_FIELDS.len() as u64;
    let to = |v: NodeId| (u64::from(v) + SYNTHETIC_NODES) * fields;
    let edge = |o: &mut Out<'_, W>, first: bool, ty: u64, name: u64, to_node: u64| {
        if !first {
            o.str(",");
        }
        o.num(ty);
        o.str(",");
        o.num(name);
        o.str(",");
        o.num(to_node);
        o.str("\n");
    };
    edge(&mut o, true, E_ELEMENT, 1, fields);
    let descriptions: Vec<u64> = roots
        .iter()
        .map(|&r| {
            let text = names::root_description(snap, g, r).unwrap_or_else(|| "root".into());
            extra.get(text)
        })
        .collect();
    for (&r, &d) in roots.iter().zip(&descriptions) {
        edge(&mut o, false, E_SHORTCUT, d, to(r));
        o.maybe_flush()?;
    }
    for (&r, &d) in roots.iter().zip(&descriptions) {
        edge(&mut o, false, E_INTERNAL, d, to(r));
        o.maybe_flush()?;
    }
    drop(descriptions);
    let flags = snap.flags();
    let targets = g.targets();
    for v in 0..n as NodeId {
        let range = g.edge_range(v);
        let start = range.start;
        let positional = flags[v as usize] & POSITIONAL_EDGES != 0;
        for k in range {
            let w = targets[k];
            if w == NONE {
                continue;
            }
            let position = (k - start) as u64;
            let (ty, name) = if positional {
                (E_ELEMENT, position)
            } else {
                match u64::from(snap.edge_label(k) & !LABEL_KEY_BIT) {
                    0 => (E_HIDDEN, position),
                    s if s < string_count => (E_PROPERTY, dump_base + s),
                    _ => (E_HIDDEN, position),
                }
            };
            edge(&mut o, false, ty, name, to(w));
        }
        o.maybe_flush()?;
    }
    o.str("],\n\"trace_function_infos\":[],\n\"trace_tree\":[],\n\"samples\":[],\n\"locations\":[],\n\"strings\":[");

    // Strings.
    let mut first = true;
    let mut sep = |o: &mut Out<'_, W>| {
        if !std::mem::take(&mut first) {
            o.str(",\n");
        }
    };
    for s in FIXED_STRINGS {
        sep(&mut o);
        o.json(s)?;
    }
    for name in a.names.all() {
        sep(&mut o);
        o.json(name)?;
    }
    for id in 0..string_count {
        sep(&mut o);
        o.json(snap.string(id))?;
        o.maybe_flush()?;
    }
    for s in &extra.list {
        sep(&mut o);
        o.json(s)?;
        o.maybe_flush()?;
    }
    o.str("]}\n");
    o.flush()?;
    o.out.flush().map_err(out_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::Needs;
    use crate::content::{Edge, Object, Root, SnapshotContent, Type, Value};
    use crate::format::root_kind;
    use crate::snapshot::{Snapshot, Verify};
    use serde_json::Value as Json;

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

    /// module 'app' (root) -> dict ['key'] -> list [0] -> str 'hi', [1] -> dangling;
    /// dict -> function 'f' (unlabelled); a garbage pair referring to the list.
    fn content() -> SnapshotContent {
        let strings = [
            "",
            "module",
            "dict",
            "list",
            "str",
            "function",
            "app",
            "key",
            "hi",
            "f",
            "X",
            "peer",
            "a\"b\n\u{202e}",
        ];
        let ty = |address, name, module| Type {
            address,
            name,
            module,
            flags: 0,
        };
        SnapshotContent {
            strings: strings.iter().map(|s| s.to_string()).collect(),
            types: vec![
                ty(0x100, 1, 0),
                ty(0x200, 2, 0),
                ty(0x300, 3, 0),
                ty(0x400, 4, 0),
                ty(0x500, 5, 0),
                ty(0x600, 10, 6),
            ],
            objects: vec![
                obj(0x1000, 0, 72, 1, 0, &[(0x2000, 0)]),
                obj(
                    0x2000,
                    1,
                    232,
                    1,
                    0,
                    &[(0x3000, 7 | LABEL_KEY_BIT), (0x5000, 0)],
                ),
                obj(
                    0x3000,
                    2,
                    88,
                    2,
                    POSITIONAL_EDGES,
                    &[(0x4000, 0), (0xdead, 0)],
                ),
                obj(0x4000, 3, 51, 1, 0, &[]),
                obj(0x5000, 4, 136, 1, 0, &[]),
                obj(0x6000, 5, 48, 1, 0, &[(0x7000, 11), (0x3000, 12)]),
                obj(0x7000, 5, 48, 1, 0, &[(0x6000, 11)]),
            ],
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
                    kind: 1,
                    flags: 0,
                },
                Value {
                    object: 3,
                    string: 8,
                    kind: 2,
                    flags: 0,
                },
                Value {
                    object: 4,
                    string: 9,
                    kind: 1,
                    flags: 0,
                },
            ],
            ..SnapshotContent::default()
        }
    }

    #[test]
    fn writes_a_devtools_snapshot() {
        let bytes = content().to_bytes().unwrap();
        let snap = Snapshot::from_bytes(&bytes, Verify::Full).unwrap();
        let a = Analysis::run(&snap, Needs::default()).unwrap();
        let mut out = Vec::new();
        write(&a, &mut out).unwrap();
        let j: Json = serde_json::from_slice(&out).unwrap();
        let meta = &j["snapshot"]["meta"];
        assert_eq!(meta["node_fields"].as_array().unwrap().len(), 7);
        assert_eq!(meta["node_types"][0][9], "synthetic");
        assert_eq!(meta["edge_types"][0][5], "shortcut");
        let nodes: Vec<u64> = j["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect();
        let edges: Vec<u64> = j["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect();
        let strings: Vec<&str> = j["strings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap())
            .collect();
        assert_eq!(j["snapshot"]["node_count"], 9);
        assert_eq!(nodes.len(), 9 * 7);
        // 7 resolved object edges + root: element + shortcut, (GC roots): internal.
        assert_eq!(j["snapshot"]["edge_count"], 10);
        assert_eq!(edges.len(), 10 * 3);
        let node = |i: usize| &nodes[7 * i..7 * i + 7];
        let ty = |i: usize| NODE_TYPES[node(i)[0] as usize];
        let name = |i: usize| strings[node(i)[1] as usize];
        assert_eq!(
            (ty(0), name(0), node(0)[2], node(0)[4]),
            ("synthetic", "", 1, 2)
        );
        assert_eq!(
            (ty(1), name(1), node(1)[2], node(1)[4]),
            ("synthetic", "(GC roots)", 3, 1)
        );
        assert_eq!((ty(2), name(2)), ("object", "module app"));
        assert_eq!((ty(3), name(3)), ("object", "dict"));
        assert_eq!((ty(4), name(4), node(4)[4]), ("object", "list", 1));
        assert_eq!((ty(5), name(5)), ("string", "hi"));
        assert_eq!((ty(6), name(6)), ("closure", "f"));
        assert_eq!((ty(7), name(7)), ("object", "app.X"));
        for i in 0..7u64 {
            let nd = node(i as usize + 2);
            assert_eq!(nd[2], object_id(i));
            assert_eq!(nd[3], snap.shallow_size(i as usize));
        }
        // Edges in order, node by node.
        let edge = |k: usize| {
            let e = &edges[3 * k..3 * k + 3];
            let t = EDGE_TYPES[e[0] as usize];
            let name = if matches!(t, "element" | "hidden") {
                e[1].to_string()
            } else {
                strings[e[1] as usize].to_owned()
            };
            (t, name, e[2] / 7)
        };
        let got: Vec<_> = (0..10).map(edge).collect();
        let s = |x: &str| x.to_owned();
        assert_eq!(
            got,
            vec![
                ("element", s("1"), 1),
                ("shortcut", s("module 'app'"), 2),
                ("internal", s("module 'app'"), 2),
                ("hidden", s("0"), 3),
                ("property", s("key"), 4),
                ("hidden", s("1"), 6),
                ("element", s("0"), 5),
                ("property", s("peer"), 8),
                ("property", s("a\"b\n\u{202e}"), 4),
                ("property", s("peer"), 7),
            ]
        );
        // Per-node edge counts add up.
        let total: u64 = (0..9).map(|i| node(i)[4]).sum();
        assert_eq!(total, 10);
    }
}
