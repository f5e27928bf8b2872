//! The heapsnap dump format (format/SPEC.md) as Rust constants and record types: magics,
//! versions, section kinds and their names, flag bits, and the fixed-width records as
//! `#[repr(C)]` plain-old-data structs that can be cast from validated bytes in place.
//! Reading untrusted bytes is in [`read`], producing files in [`writer`], packed dumps
//! (SPEC 9: their header, codings, packing and unpacking) in [`packed`].

pub mod packed;
pub mod read;
pub mod writer;

use std::mem::{offset_of, size_of};

use bytemuck::{Pod, Zeroable};

/// The 8-byte magic at offset 0: `\x89HSNAP\r\n`.
pub const MAGIC: [u8; 8] = *b"\x89HSNAP\r\n";
/// The 8-byte magic ending the trailer: `HSNAPEND`.
pub const END_MAGIC: [u8; 8] = *b"HSNAPEND";
/// The format major version this crate implements.
pub const FORMAT_MAJOR: u16 = 1;
/// The format minor version this crate implements.
pub const FORMAT_MINOR: u16 = 0;
/// Size of the header in bytes.
pub const HEADER_LEN: u64 = 16;
/// Size of the trailer in bytes.
pub const TRAILER_LEN: u64 = 32;
/// Size of one section table entry in bytes.
pub const ENTRY_LEN: u64 = 32;

/// Section kinds (SPEC section 4).
pub mod kind {
    /// Process facts.
    pub const FACTS: u32 = 1;
    /// String table offsets (`S + 1` u64).
    pub const STRING_OFFSETS: u32 = 2;
    /// String table bytes.
    pub const STRING_BYTES: u32 = 3;
    /// Type table.
    pub const TYPES: u32 = 4;
    /// Object addresses (u64).
    pub const OBJECT_ADDRESS: u32 = 5;
    /// Object type indexes (u32).
    pub const OBJECT_TYPE: u32 = 6;
    /// Object shallow sizes (u32, `0xFFFFFFFF` = see WIDE_SIZES).
    pub const OBJECT_SIZE: u32 = 7;
    /// Object reference counts (u32).
    pub const OBJECT_REFCOUNT: u32 = 8;
    /// Object flags (u32).
    pub const OBJECT_FLAGS: u32 = 9;
    /// CSR edge starts (`N + 1` u64).
    pub const OBJECT_EDGE_START: u32 = 10;
    /// Edge target addresses (u64).
    pub const EDGE_TARGET: u32 = 11;
    /// Edge labels (u32), optional.
    pub const EDGE_LABEL: u32 = 12;
    /// Roots.
    pub const ROOTS: u32 = 13;
    /// Names and value previews, optional.
    pub const VALUES: u32 = 14;
    /// Sizes that do not fit in u32, optional.
    pub const WIDE_SIZES: u32 = 15;
    /// The largest kind this crate knows.
    pub const MAX_KNOWN: u32 = 15;
}

/// The name of a section kind, `UNKNOWN` for a kind this crate does not know.
pub fn section_name(kind: u32) -> &'static str {
    match kind {
        kind::FACTS => "FACTS",
        kind::STRING_OFFSETS => "STRING_OFFSETS",
        kind::STRING_BYTES => "STRING_BYTES",
        kind::TYPES => "TYPES",
        kind::OBJECT_ADDRESS => "OBJECT_ADDRESS",
        kind::OBJECT_TYPE => "OBJECT_TYPE",
        kind::OBJECT_SIZE => "OBJECT_SIZE",
        kind::OBJECT_REFCOUNT => "OBJECT_REFCOUNT",
        kind::OBJECT_FLAGS => "OBJECT_FLAGS",
        kind::OBJECT_EDGE_START => "OBJECT_EDGE_START",
        kind::EDGE_TARGET => "EDGE_TARGET",
        kind::EDGE_LABEL => "EDGE_LABEL",
        kind::ROOTS => "ROOTS",
        kind::VALUES => "VALUES",
        kind::WIDE_SIZES => "WIDE_SIZES",
        _ => "UNKNOWN",
    }
}

/// The record width in bytes of a known section kind (1 for raw bytes), `None` if unknown.
/// The widths come from the record types themselves; the asserts below pin them to SPEC 4.
pub const fn record_width(k: u32) -> Option<u64> {
    Some(match k {
        kind::FACTS => size_of::<FactRecord>() as u64,
        kind::VALUES => size_of::<ValueRecord>() as u64,
        kind::WIDE_SIZES => size_of::<WideSizeRecord>() as u64,
        kind::TYPES => size_of::<TypeRecord>() as u64,
        kind::ROOTS => size_of::<RootRecord>() as u64,
        kind::STRING_OFFSETS
        | kind::OBJECT_ADDRESS
        | kind::OBJECT_EDGE_START
        | kind::EDGE_TARGET => size_of::<u64>() as u64,
        kind::OBJECT_TYPE
        | kind::OBJECT_SIZE
        | kind::OBJECT_REFCOUNT
        | kind::OBJECT_FLAGS
        | kind::EDGE_LABEL => size_of::<u32>() as u64,
        kind::STRING_BYTES => 1,
        _ => return None,
    })
}

// The byte layouts of SPEC 3 and 4, checked at compile time: a field moved or widened in
// a record type fails the build rather than misreading files.
const _: () = {
    assert!(size_of::<Header>() as u64 == HEADER_LEN);
    assert!(offset_of!(Header, major) == 8);
    assert!(offset_of!(Header, minor) == 10);
    assert!(offset_of!(Header, reserved) == 12);
    assert!(size_of::<Trailer>() as u64 == TRAILER_LEN);
    assert!(offset_of!(Trailer, table_offset) == 0);
    assert!(offset_of!(Trailer, section_count) == 8);
    assert!(offset_of!(Trailer, table_crc) == 12);
    assert!(offset_of!(Trailer, reserved) == 16);
    assert!(offset_of!(Trailer, end_magic) == 24);
    assert!(size_of::<SectionEntry>() as u64 == ENTRY_LEN);
    assert!(offset_of!(SectionEntry, crc) == 4);
    assert!(offset_of!(SectionEntry, offset) == 8);
    assert!(offset_of!(SectionEntry, length) == 16);
    assert!(offset_of!(SectionEntry, reserved) == 24);
    assert!(size_of::<FactRecord>() == 16);
    assert!(offset_of!(FactRecord, kind) == 4);
    assert!(offset_of!(FactRecord, value) == 8);
    assert!(size_of::<TypeRecord>() == 24);
    assert!(offset_of!(TypeRecord, name) == 8);
    assert!(offset_of!(TypeRecord, module) == 12);
    assert!(offset_of!(TypeRecord, flags) == 16);
    assert!(offset_of!(TypeRecord, reserved) == 20);
    assert!(size_of::<RootRecord>() == 24);
    assert!(offset_of!(RootRecord, kind) == 8);
    assert!(offset_of!(RootRecord, label) == 12);
    assert!(offset_of!(RootRecord, detail) == 16);
    assert!(size_of::<ValueRecord>() == 16);
    assert!(offset_of!(ValueRecord, string) == 8);
    assert!(offset_of!(ValueRecord, kind) == 12);
    assert!(offset_of!(ValueRecord, flags) == 14);
    assert!(size_of::<WideSizeRecord>() == 16);
    assert!(offset_of!(WideSizeRecord, size) == 8);
};

/// True if a known section kind must be present in every file.
pub fn is_required(k: u32) -> bool {
    matches!(k, 1..=11 | kind::ROOTS)
}

/// Fact kinds (SPEC 4.1).
pub mod fact_kind {
    /// Unsigned 64-bit integer.
    pub const U64: u32 = 1;
    /// Signed 64-bit integer (two's complement).
    pub const I64: u32 = 2;
    /// IEEE 754 binary64 bit pattern.
    pub const F64: u32 = 3;
    /// String id.
    pub const STRING: u32 = 4;
    /// 0 or 1.
    pub const BOOL: u32 = 5;
}

/// Type flags (SPEC 4.3).
pub mod type_flags {
    /// Instances run code when destroyed.
    pub const HAS_FINALIZER: u32 = 1 << 0;
    /// Instances keep attributes inline.
    pub const MANAGED_DICT: u32 = 1 << 1;
    /// Created at run time.
    pub const HEAP_TYPE: u32 = 1 << 2;
    /// Instances may be tracked by the cyclic collector.
    pub const GC_TYPE: u32 = 1 << 3;
    /// All bits defined by format 1.0.
    pub const KNOWN: u32 = 0xF;
    /// Names of the bits, lowest first.
    pub const NAMES: [&str; 4] = ["HAS_FINALIZER", "MANAGED_DICT", "HEAP_TYPE", "GC_TYPE"];
}

/// Object flags (SPEC 4.4).
pub mod object_flags {
    /// Tracked by the cyclic collector.
    pub const GC_TRACKED: u32 = 1 << 0;
    /// Its finalizer already ran.
    pub const GC_FINALIZED: u32 = 1 << 1;
    /// Listed in `gc.garbage`.
    pub const GC_GARBAGE: u32 = 1 << 2;
    /// The size is an estimate.
    pub const SIZE_ESTIMATED: u32 = 1 << 3;
    /// The refcount is not a real count.
    pub const REFCOUNT_UNKNOWN: u32 = 1 << 4;
    /// Edge `j` is item `[j]`.
    pub const POSITIONAL_EDGES: u32 = 1 << 5;
    /// Not all references were enumerated.
    pub const EDGES_INCOMPLETE: u32 = 1 << 6;
    /// All bits defined by format 1.0.
    pub const KNOWN: u32 = 0x7F;
    /// Names of the bits, lowest first.
    pub const NAMES: [&str; 7] = [
        "GC_TRACKED",
        "GC_FINALIZED",
        "GC_GARBAGE",
        "SIZE_ESTIMATED",
        "REFCOUNT_UNKNOWN",
        "POSITIONAL_EDGES",
        "EDGES_INCOMPLETE",
    ];
}

/// Edge label bit 31: the label is a mapping key, not an attribute name (SPEC 4.5).
pub const LABEL_KEY_BIT: u32 = 1 << 31;
/// The OBJECT_SIZE value meaning "see WIDE_SIZES".
pub const SIZE_SENTINEL: u32 = u32::MAX;

/// Root kinds (SPEC 4.6); index `k - 1` of [`ROOT_KIND_NAMES`] names kind `k`.
pub mod root_kind {
    /// A module in the module table.
    pub const MODULE: u32 = 1;
    /// Held by interpreter state.
    pub const INTERPRETER: u32 = 2;
    /// A thread's frame or state.
    pub const THREAD: u32 = 3;
    /// Refcount exceeds the edges found: derived by readers, never stored
    /// (see [`crate::census`]).
    pub const REFCOUNT_SURPLUS: u32 = 4;
    /// In `gc.garbage`.
    pub const GC_GARBAGE: u32 = 5;
    /// Immortal object.
    pub const IMMORTAL: u32 = 6;
    /// Anything else.
    pub const OTHER: u32 = 7;
}

/// Lower-case names of root kinds 1..=7.
pub const ROOT_KIND_NAMES: [&str; 7] = [
    "module",
    "interpreter",
    "thread",
    "refcount_surplus",
    "gc_garbage",
    "immortal",
    "other",
];

/// Value kinds (SPEC 4.7): names of kinds 1..=4.
pub const VALUE_KIND_NAMES: [&str; 4] = ["name", "str", "bytes", "number"];
/// VALUES flag bit 0: the string is a prefix of the value.
pub const VALUE_TRUNCATED: u16 = 1;

/// The 16-byte header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct Header {
    /// [`MAGIC`].
    pub magic: [u8; 8],
    /// Format major version.
    pub major: u16,
    /// Format minor version.
    pub minor: u16,
    /// Zero.
    pub reserved: u32,
}

/// The 32-byte trailer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct Trailer {
    /// File offset of the section table.
    pub table_offset: u64,
    /// Number of table entries.
    pub section_count: u32,
    /// CRC-32 of the table bytes.
    pub table_crc: u32,
    /// Zero.
    pub reserved: u64,
    /// [`END_MAGIC`].
    pub end_magic: [u8; 8],
}

/// One 32-byte section table entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct SectionEntry {
    /// Section kind.
    pub kind: u32,
    /// CRC-32 of the section's bytes (padding excluded).
    pub crc: u32,
    /// File offset of the first byte.
    pub offset: u64,
    /// Length in bytes, padding excluded.
    pub length: u64,
    /// Zero.
    pub reserved: u64,
}

/// A FACTS record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct FactRecord {
    /// String id of the key.
    pub key: u32,
    /// One of [`fact_kind`].
    pub kind: u32,
    /// The value, interpreted by kind.
    pub value: u64,
}

/// A TYPES record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct TypeRecord {
    /// Address of the type object.
    pub address: u64,
    /// String id of the qualified name.
    pub name: u32,
    /// String id of the module name, 0 if unknown.
    pub module: u32,
    /// [`type_flags`].
    pub flags: u32,
    /// Zero.
    pub reserved: u32,
}

/// A ROOTS record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct RootRecord {
    /// Object index.
    pub object: u64,
    /// One of [`root_kind`].
    pub kind: u32,
    /// String id, 0 for none.
    pub label: u32,
    /// Meaning by kind.
    pub detail: u64,
}

/// A VALUES record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct ValueRecord {
    /// Object index.
    pub object: u64,
    /// String id.
    pub string: u32,
    /// Value kind (1..=4).
    pub kind: u16,
    /// [`VALUE_TRUNCATED`]; other bits zero.
    pub flags: u16,
}

/// A WIDE_SIZES record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct WideSizeRecord {
    /// Object index.
    pub object: u64,
    /// Shallow size, `>= 0xFFFFFFFF`.
    pub size: u64,
}

/// `align8(x)`: the smallest multiple of 8 `>= x`, `None` on overflow.
pub fn align8(x: u64) -> Option<u64> {
    x.checked_add(7).map(|v| v & !7)
}

/// Names of the set bits of `flags` from `names` (lowest bit first), joined by `|`;
/// unknown set bits are shown as `bitN`.
pub fn flag_names(flags: u32, names: &[&str]) -> String {
    let mut out = Vec::new();
    for bit in 0..32 {
        if flags & (1 << bit) != 0 {
            match names.get(bit) {
                Some(name) => out.push((*name).to_string()),
                None => out.push(format!("bit{bit}")),
            }
        }
    }
    out.join("|")
}
