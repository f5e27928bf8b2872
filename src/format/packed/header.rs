//! The fixed records of a packed file (SPEC 9.1, 9.2): the 64-byte header, the payload
//! prefix and directory entries, with their layouts checked at compile time, and the
//! header's checks, run before anything is decompressed.

use std::mem::{offset_of, size_of};

use bytemuck::{Pod, Zeroable};

use super::{bad, transform, MAX_RATIO, PACKED_HEADER_LEN, PACKED_MAGIC, PACKED_VERSION};
use crate::error::{Error, Result, Where};
use crate::format::read::{len_u64, read_pod};
use crate::format::{HEADER_LEN, TRAILER_LEN};

/// The 64-byte header of a packed file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct PackedHeader {
    /// [`PACKED_MAGIC`].
    pub magic: [u8; 8],
    /// [`PACKED_VERSION`].
    pub version: u16,
    /// One of [`transform`].
    pub transform: u16,
    /// Zero.
    pub reserved: u32,
    /// Length of the unpacked dump.
    pub dump_len: u64,
    /// Length of the decompressed payload.
    pub payload_len: u64,
    /// SHA-256 of the unpacked dump.
    pub sha256: [u8; 32],
}

impl PackedHeader {
    /// The SHA-256 as 64 lower-case hex digits (the cache file's name).
    pub fn sha256_hex(&self) -> String {
        self.sha256.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// One payload directory entry (transform COLUMNS).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub(super) struct DirEntry {
    /// Section kind.
    pub kind: u32,
    /// One of [`super::coding`].
    pub coding: u32,
    /// Length of the section in the dump.
    pub length: u64,
    /// Length of the coded section in the payload.
    pub coded_length: u64,
}

/// Payload prefix (transform COLUMNS).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub(super) struct Prefix {
    /// The dump's format major version.
    pub major: u16,
    /// The dump's format minor version.
    pub minor: u16,
    /// Number of sections (directory entries).
    pub count: u32,
}

/// Length of a directory entry.
pub(super) const DIR_ENTRY_LEN: u64 = 24;
/// Length of the payload prefix.
pub(super) const PREFIX_LEN: u64 = 8;

// The layouts of SPEC 9.1 and 9.2; `hdr` offsets in the checks below come from these.
const _: () = {
    assert!(size_of::<PackedHeader>() as u64 == PACKED_HEADER_LEN);
    assert!(offset_of!(PackedHeader, version) == 8);
    assert!(offset_of!(PackedHeader, transform) == 10);
    assert!(offset_of!(PackedHeader, reserved) == 12);
    assert!(offset_of!(PackedHeader, dump_len) == 16);
    assert!(offset_of!(PackedHeader, payload_len) == 24);
    assert!(offset_of!(PackedHeader, sha256) == 32);
    assert!(size_of::<DirEntry>() as u64 == DIR_ENTRY_LEN);
    assert!(offset_of!(DirEntry, coding) == 4);
    assert!(offset_of!(DirEntry, length) == 8);
    assert!(offset_of!(DirEntry, coded_length) == 16);
    assert!(size_of::<Prefix>() as u64 == PREFIX_LEN);
    assert!(offset_of!(Prefix, minor) == 2);
    assert!(offset_of!(Prefix, count) == 4);
};

/// An error about the header field at `offset`.
fn hdr(offset: usize, msg: impl Into<String>) -> Error {
    bad(format!(
        "header field at offset {:#x}: {}",
        len_u64(offset),
        msg.into()
    ))
}

/// Reads and checks the header of packed bytes (SPEC 9.1): nothing is decompressed.
pub fn parse_header(packed: &[u8]) -> Result<PackedHeader> {
    let file_len = len_u64(packed.len());
    if file_len < PACKED_HEADER_LEN {
        return Err(bad(format!(
            "{file_len} bytes, shorter than the {PACKED_HEADER_LEN}-byte header"
        )));
    }
    let h: PackedHeader = read_pod(packed, Where::Header { offset: 0 })?;
    if h.magic != PACKED_MAGIC {
        return Err(hdr(offset_of!(PackedHeader, magic), "bad magic"));
    }
    if h.version != PACKED_VERSION {
        return Err(hdr(
            offset_of!(PackedHeader, version),
            format!(
                "version {} is not supported (this reader knows 1)",
                h.version
            ),
        ));
    }
    if h.transform > transform::COLUMNS {
        return Err(hdr(
            offset_of!(PackedHeader, transform),
            format!("unknown transform {}", h.transform),
        ));
    }
    if h.reserved != 0 {
        return Err(hdr(
            offset_of!(PackedHeader, reserved),
            "reserved field is not zero",
        ));
    }
    let min = HEADER_LEN + TRAILER_LEN;
    if h.dump_len < min || !h.dump_len.is_multiple_of(8) {
        return Err(hdr(
            offset_of!(PackedHeader, dump_len),
            format!(
                "dump length {} is impossible (at least {min}, a multiple of 8)",
                h.dump_len
            ),
        ));
    }
    if h.dump_len / MAX_RATIO > file_len || h.dump_len > file_len.saturating_mul(MAX_RATIO) {
        return Err(hdr(
            offset_of!(PackedHeader, dump_len),
            format!(
                "claims a {}-byte dump from {file_len} bytes, more than {MAX_RATIO} times its size",
                h.dump_len
            ),
        ));
    }
    let payload_ok = match h.transform {
        transform::NONE => h.payload_len == h.dump_len,
        _ => h.payload_len >= PREFIX_LEN && h.payload_len <= h.dump_len.saturating_mul(2),
    };
    if !payload_ok {
        return Err(hdr(
            offset_of!(PackedHeader, payload_len),
            format!(
                "payload length {} does not fit a {}-byte dump",
                h.payload_len, h.dump_len
            ),
        ));
    }
    Ok(h)
}
