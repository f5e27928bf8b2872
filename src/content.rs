//! [`SnapshotContent`]: a whole snapshot as owned, plain data, in exactly the JSON shape
//! of the test vectors (format/vectors/README.md). It is what `heapsnap decode --json`
//! prints, what a vector's `.json` file holds, and what the writer is given: decoding a
//! valid file and encoding the result gives back the same bytes.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::format::writer::{write_columns, Columns};
use crate::format::{
    fact_kind, FactRecord, RootRecord, TypeRecord, ValueRecord, WideSizeRecord, FORMAT_MAJOR,
    FORMAT_MINOR, SIZE_SENTINEL,
};
use crate::snapshot::Snapshot;

/// A whole snapshot as plain data (the vector JSON schema).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotContent {
    /// Format version `[major, minor]`.
    pub format: (u16, u16),
    /// The string table; index 0 is `""`.
    pub strings: Vec<String>,
    /// FACTS in file order.
    pub facts: Vec<Fact>,
    /// TYPES in file order.
    pub types: Vec<Type>,
    /// Objects in file order, each with its edges.
    pub objects: Vec<Object>,
    /// ROOTS in file order.
    pub roots: Vec<Root>,
    /// VALUES in file order.
    pub values: Vec<Value>,
}

/// A fact: key string id and typed value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fact {
    /// String id of the key.
    pub key: u32,
    /// The kind and value.
    #[serde(flatten)]
    pub value: FactData,
}

/// A fact's kind and value as in the vector JSON (`"kind": "u64", "value": 8`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "lowercase")]
pub enum FactData {
    /// Unsigned integer.
    U64(u64),
    /// Signed integer.
    I64(i64),
    /// Float (written to JSON with a decimal point; NaN and infinities cannot round-trip).
    F64(f64),
    /// String id.
    String(u32),
    /// Boolean.
    Bool(bool),
}

/// A type record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Type {
    /// Address of the type object.
    pub address: u64,
    /// String id of the qualified name.
    pub name: u32,
    /// String id of the module (0 = unknown).
    pub module: u32,
    /// Type flags.
    pub flags: u32,
}

/// An object with its edges.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Object {
    /// Address.
    pub address: u64,
    /// Type index.
    #[serde(rename = "type")]
    pub type_index: u32,
    /// Full 64-bit shallow size.
    pub size: u64,
    /// Reference count.
    pub refcount: u32,
    /// Object flags.
    pub flags: u32,
    /// Outgoing edges in order.
    pub edges: Vec<Edge>,
}

/// An edge: target address and raw label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Edge {
    /// Target address.
    pub target: u64,
    /// Raw EDGE_LABEL value (bit 31 = mapping key).
    pub label: u32,
}

/// A root record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Root {
    /// Object index.
    pub object: u64,
    /// Root kind.
    pub kind: u32,
    /// String id of the label.
    pub label: u32,
    /// Detail, by kind.
    pub detail: u64,
}

/// A value record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Value {
    /// Object index.
    pub object: u64,
    /// String id.
    pub string: u32,
    /// Value kind.
    pub kind: u16,
    /// Value flags.
    pub flags: u16,
}

impl Default for SnapshotContent {
    fn default() -> Self {
        SnapshotContent {
            format: (FORMAT_MAJOR, FORMAT_MINOR),
            strings: vec![String::new()],
            facts: Vec::new(),
            types: Vec::new(),
            objects: Vec::new(),
            roots: Vec::new(),
            values: Vec::new(),
        }
    }
}

impl SnapshotContent {
    /// Decodes a validated snapshot completely. Facts of kinds this reader does not know
    /// (possible only in a newer minor version) are left out.
    pub fn from_snapshot(snap: &Snapshot) -> SnapshotContent {
        let strings = (0..snap.string_count())
            .map(|s| snap.string(s as u64).to_string())
            .collect();
        let facts = snap
            .facts()
            .iter()
            .filter_map(|f| {
                let value = match f.kind {
                    fact_kind::U64 => FactData::U64(f.value),
                    fact_kind::I64 => FactData::I64(f.value as i64),
                    fact_kind::F64 => FactData::F64(f64::from_bits(f.value)),
                    fact_kind::STRING => FactData::String(u32::try_from(f.value).ok()?),
                    fact_kind::BOOL => FactData::Bool(f.value != 0),
                    _ => return None,
                };
                Some(Fact { key: f.key, value })
            })
            .collect();
        let types = snap
            .types()
            .iter()
            .map(|t| Type {
                address: t.address,
                name: t.name,
                module: t.module,
                flags: t.flags,
            })
            .collect();
        let targets = snap.edge_targets();
        let objects = (0..snap.object_count())
            .map(|i| Object {
                address: snap.addresses()[i],
                type_index: snap.types_of()[i],
                size: snap.shallow_size(i),
                refcount: snap.refcounts()[i],
                flags: snap.flags()[i],
                edges: snap
                    .edge_range(i)
                    .map(|k| Edge {
                        target: targets[k],
                        label: snap.edge_label(k),
                    })
                    .collect(),
            })
            .collect();
        let roots = snap
            .roots()
            .iter()
            .map(|r| Root {
                object: r.object,
                kind: r.kind,
                label: r.label,
                detail: r.detail,
            })
            .collect();
        let values = snap
            .values()
            .iter()
            .map(|v| Value {
                object: v.object,
                string: v.string,
                kind: v.kind,
                flags: v.flags,
            })
            .collect();
        SnapshotContent {
            format: snap.version(),
            strings,
            facts,
            types,
            objects,
            roots,
            values,
        }
    }

    /// Encodes this content as the one canonical dump file. The content is laid out as
    /// given, not validated (open the result to validate it).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut string_offsets = Vec::with_capacity(self.strings.len() + 1);
        let mut string_bytes = Vec::new();
        string_offsets.push(0u64);
        for s in &self.strings {
            string_bytes.extend_from_slice(s.as_bytes());
            string_offsets.push(string_bytes.len() as u64);
        }
        let facts: Vec<FactRecord> = self
            .facts
            .iter()
            .map(|f| {
                let (kind, value) = match f.value {
                    FactData::U64(v) => (fact_kind::U64, v),
                    FactData::I64(v) => (fact_kind::I64, v as u64),
                    FactData::F64(v) => (fact_kind::F64, v.to_bits()),
                    FactData::String(v) => (fact_kind::STRING, u64::from(v)),
                    FactData::Bool(v) => (fact_kind::BOOL, u64::from(v)),
                };
                FactRecord {
                    key: f.key,
                    kind,
                    value,
                }
            })
            .collect();
        let types: Vec<TypeRecord> = self
            .types
            .iter()
            .map(|t| TypeRecord {
                address: t.address,
                name: t.name,
                module: t.module,
                flags: t.flags,
                reserved: 0,
            })
            .collect();
        let n = self.objects.len();
        let mut addresses = Vec::with_capacity(n);
        let mut types_of = Vec::with_capacity(n);
        let mut sizes = Vec::with_capacity(n);
        let mut refcounts = Vec::with_capacity(n);
        let mut flags = Vec::with_capacity(n);
        let mut edge_starts = Vec::with_capacity(n + 1);
        let mut edge_targets = Vec::new();
        let mut edge_labels = Vec::new();
        let mut wide_sizes = Vec::new();
        edge_starts.push(0u64);
        for (i, o) in self.objects.iter().enumerate() {
            addresses.push(o.address);
            types_of.push(o.type_index);
            if o.size >= u64::from(SIZE_SENTINEL) {
                sizes.push(SIZE_SENTINEL);
                wide_sizes.push(WideSizeRecord {
                    object: i as u64,
                    size: o.size,
                });
            } else {
                sizes.push(u32::try_from(o.size).map_err(|_| Error::input("size overflow"))?);
            }
            refcounts.push(o.refcount);
            flags.push(o.flags);
            for e in &o.edges {
                edge_targets.push(e.target);
                edge_labels.push(e.label);
            }
            edge_starts.push(edge_targets.len() as u64);
        }
        let roots: Vec<RootRecord> = self
            .roots
            .iter()
            .map(|r| RootRecord {
                object: r.object,
                kind: r.kind,
                label: r.label,
                detail: r.detail,
            })
            .collect();
        let values: Vec<ValueRecord> = self
            .values
            .iter()
            .map(|v| ValueRecord {
                object: v.object,
                string: v.string,
                kind: v.kind,
                flags: v.flags,
            })
            .collect();
        let cols = Columns {
            major: self.format.0,
            minor: self.format.1,
            facts: &facts,
            string_offsets: &string_offsets,
            string_bytes: &string_bytes,
            types: &types,
            addresses: &addresses,
            types_of: &types_of,
            sizes: &sizes,
            refcounts: &refcounts,
            flags: &flags,
            edge_starts: &edge_starts,
            edge_targets: &edge_targets,
            edge_labels: &edge_labels,
            roots: &roots,
            values: &values,
            wide_sizes: &wide_sizes,
        };
        write_columns(Vec::new(), &cols)
    }
}
