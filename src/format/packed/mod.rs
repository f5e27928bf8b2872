//! Packed dumps (format/SPEC.md section 9): a 64-byte header (magic, transform, the
//! dump's length and SHA-256, the payload's length) and zstd frames holding the
//! *payload*, the dump's sections with their integer columns recoded so that zstd finds
//! the redundancy (byte planes, deltas, edge targets as object-index deltas).
//!
//! [`pack`] writes a packed file from the sections of a validated dump and proves,
//! before returning, that [`unpack`] gives back the same bytes. [`unpack`] reads
//! untrusted packed bytes: every claimed length is checked against the packed file's
//! size (at most [`MAX_RATIO`] times larger) and against the payload directory before
//! anything depends on it, buffers grow only with data actually decompressed, and the
//! rebuilt dump must match the SHA-256 in the header.
//!
//! The parts: `header` (the fixed records and their checks), `codec` (the section
//! codings of SPEC 9.3, both ways), `unpack` and `pack`.

mod codec;
mod header;
mod pack;
mod unpack;

pub use header::{parse_header, PackedHeader};
pub use pack::{pack, Dump, PackStats};
pub use unpack::unpack;

use crate::error::{Error, Where};

/// The 8-byte magic of a packed dump: `\x89HSNPZ\r\n`.
pub const PACKED_MAGIC: [u8; 8] = *b"\x89HSNPZ\r\n";
/// Length of the packed header.
pub const PACKED_HEADER_LEN: u64 = 64;
/// The packed container version this crate implements.
pub const PACKED_VERSION: u16 = 1;
/// A packed file may claim a dump at most this many times its own length.
pub const MAX_RATIO: u64 = 1024;
/// Largest zstd window accepted (2^27 bytes = 128 MiB of decoder memory at most).
pub const WINDOW_LOG_MAX: u32 = 27;

/// Transforms (header field `transform`).
pub mod transform {
    /// The payload is the dump itself.
    pub const NONE: u16 = 0;
    /// The payload is a section directory and coded sections (SPEC 9.2).
    pub const COLUMNS: u16 = 1;
}

/// Section codings of transform COLUMNS (SPEC 9.3).
pub mod coding {
    /// The section's bytes as they are.
    pub const RAW: u32 = 0;
    /// Byte planes of fixed-width integers.
    pub const SHUFFLE: u32 = 1;
    /// Zigzag deltas of consecutive integers, then byte planes.
    pub const DELTA: u32 = 2;
    /// Edge targets as object indexes, each a delta from the previous one (EDGE_TARGET).
    pub const TARGETS_PREV: u32 = 3;
    /// Edge targets as object indexes, each a delta from its source's (EDGE_TARGET).
    pub const TARGETS_SOURCE: u32 = 4;
}

/// True if `bytes` starts with the packed magic.
pub fn is_packed(bytes: &[u8]) -> bool {
    bytes.starts_with(&PACKED_MAGIC)
}

/// An error about a packed file (its place is the file as a whole: a packed file has no
/// sections; the message says which part).
fn bad(msg: impl Into<String>) -> Error {
    Error::invalid(Where::File, format!("packed dump: {}", msg.into()))
}
