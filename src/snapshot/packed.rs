//! Packed dumps (format/SPEC.md section 9): a 64-byte header (magic, transform, the
//! dump's length and SHA-256, the payload's length) and zstd frames holding the
//! *payload*, the dump's sections with their integer columns recoded so that zstd finds
//! the redundancy (byte planes, deltas, edge targets as object-index deltas).
//!
//! [`pack`] writes a packed file from a validated dump and proves, before returning,
//! that [`unpack`] gives back the same bytes. [`unpack`] reads untrusted packed bytes:
//! every claimed length is checked against the packed file's size (at most
//! [`MAX_RATIO`] times larger) and against the payload directory before anything
//! depends on it, buffers grow only with data actually decompressed, and the rebuilt
//! dump must match the SHA-256 in the header.

use std::io::{self, Read, Write};

use bytemuck::{Pod, Zeroable};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result, Where};
use crate::format::read::{len_u64, read_pod};
use crate::format::writer::Writer;
use crate::format::{
    align8, kind, record_width, SectionEntry, Trailer, ENTRY_LEN, HEADER_LEN, TRAILER_LEN,
};

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
struct DirEntry {
    kind: u32,
    coding: u32,
    length: u64,
    coded_length: u64,
}

/// Payload prefix (transform COLUMNS).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
struct Prefix {
    major: u16,
    minor: u16,
    count: u32,
}

const DIR_ENTRY_LEN: u64 = 24;
const PREFIX_LEN: u64 = 8;
/// zstd skippable frame magic (the low 4 bits are free).
const SKIPPABLE_MAGIC: u32 = 0x184D_2A50;

/// True if `bytes` starts with the packed magic.
pub fn is_packed(bytes: &[u8]) -> bool {
    bytes.starts_with(&PACKED_MAGIC)
}

fn bad(msg: impl Into<String>) -> Error {
    Error::invalid(Where::File, format!("packed dump: {}", msg.into()))
}

fn hdr(offset: u64, msg: impl Into<String>) -> Error {
    bad(format!(
        "header field at offset {offset:#x}: {}",
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
        return Err(hdr(0, "bad magic"));
    }
    if h.version != PACKED_VERSION {
        return Err(hdr(
            8,
            format!(
                "version {} is not supported (this reader knows 1)",
                h.version
            ),
        ));
    }
    if h.transform > transform::COLUMNS {
        return Err(hdr(10, format!("unknown transform {}", h.transform)));
    }
    if h.reserved != 0 {
        return Err(hdr(12, "reserved field is not zero"));
    }
    let min = HEADER_LEN + TRAILER_LEN;
    if h.dump_len < min || !h.dump_len.is_multiple_of(8) {
        return Err(hdr(
            16,
            format!(
                "dump length {} is impossible (at least {min}, a multiple of 8)",
                h.dump_len
            ),
        ));
    }
    if h.dump_len / MAX_RATIO > file_len || h.dump_len > file_len.saturating_mul(MAX_RATIO) {
        return Err(hdr(
            16,
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
            24,
            format!(
                "payload length {} does not fit a {}-byte dump",
                h.payload_len, h.dump_len
            ),
        ));
    }
    Ok(h)
}

// ---------------------------------------------------------------------------------
// Codings.

fn zigzag(d: i64) -> u64 {
    ((d << 1) ^ (d >> 63)) as u64
}

fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

/// Byte planes: byte `b` of record `r` goes to `b * n + r` (n records of width `w`).
fn shuffle(src: &[u8], w: usize, dst: &mut Vec<u8>) {
    let n = src.len() / w;
    let base = dst.len();
    dst.resize(base + n * w, 0);
    let out = &mut dst[base..];
    for (r, rec) in src.chunks_exact(w).enumerate() {
        for (b, &x) in rec.iter().enumerate() {
            out[b * n + r] = x;
        }
    }
}

fn unshuffle(src: &[u8], w: usize) -> Vec<u8> {
    let n = src.len() / w;
    let mut out = vec![0u8; n * w];
    for (b, plane) in src.chunks_exact(n.max(1)).take(w).enumerate() {
        for (r, &x) in plane.iter().enumerate() {
            out[r * w + b] = x;
        }
    }
    out
}

/// Reads little-endian integers of width `w` (4 or 8) as u64.
fn words(bytes: &[u8], w: usize) -> impl Iterator<Item = u64> + '_ {
    bytes.chunks_exact(w).map(move |c| {
        let mut b = [0u8; 8];
        b[..w].copy_from_slice(c);
        u64::from_le_bytes(b)
    })
}

fn put_word(out: &mut Vec<u8>, v: u64, w: usize) {
    out.extend_from_slice(&v.to_le_bytes()[..w]);
}

/// DELTA: `zigzag(v[i] - v[i-1])` at width `w` (wrapping; `v[-1] = 0`), then planes.
fn delta_encode(src: &[u8], w: usize, dst: &mut Vec<u8>) {
    let mut tmp = Vec::with_capacity(src.len());
    let mut prev = 0u64;
    for v in words(src, w) {
        let z = if w == 4 {
            u64::from(zigzag(i64::from((v as u32).wrapping_sub(prev as u32) as i32)) as u32)
        } else {
            zigzag(v.wrapping_sub(prev) as i64)
        };
        put_word(&mut tmp, z, w);
        prev = v;
    }
    shuffle(&tmp, w, dst);
}

fn delta_decode(coded: &[u8], w: usize) -> Vec<u8> {
    let planes = unshuffle(coded, w);
    let mut out = Vec::with_capacity(planes.len());
    let mut prev = 0u64;
    for z in words(&planes, w) {
        let v = if w == 4 {
            u64::from((prev as u32).wrapping_add(unzigzag(z) as u32))
        } else {
            prev.wrapping_add(unzigzag(z) as u64)
        };
        put_word(&mut out, v, w);
        prev = v;
    }
    out
}

/// TARGETS_PREV and TARGETS_SOURCE: for each edge, 0 if its target is not an object's
/// address (the address then follows, in order, after the codes), else
/// `1 + zigzag(j - r)` where `j` is the target's object index and `r` the reference:
/// the previous resolved target in the section (0 at first) for TARGETS_PREV, the
/// edge's source object for TARGETS_SOURCE. Codes as byte planes, then the literals.
fn targets_encode(targets: &[u64], resolved: &[u64], starts: &[u64], by_source: bool) -> Vec<u8> {
    let mut codes = Vec::with_capacity(targets.len() * 8);
    let mut literals = Vec::new();
    let mut prev = 0u64;
    for (i, se) in starts.windows(2).enumerate() {
        let (a, b) = (se[0] as usize, se[1] as usize);
        let edges = targets.get(a..b).unwrap_or(&[]);
        for (&t, &j) in edges.iter().zip(resolved.get(a..b).unwrap_or(&[])) {
            match (j != u64::MAX).then_some(j) {
                Some(j) => {
                    let r = if by_source { i as u64 } else { prev };
                    let c = 1 + zigzag(j.wrapping_sub(r) as i64);
                    put_word(&mut codes, c, 8);
                    prev = j;
                }
                None => {
                    put_word(&mut codes, 0, 8);
                    put_word(&mut literals, t, 8);
                }
            }
        }
    }
    let mut out = Vec::with_capacity(codes.len() + literals.len());
    shuffle(&codes, 8, &mut out);
    out.extend_from_slice(&literals);
    out
}

fn targets_decode(
    coded: &[u8],
    length: usize,
    addrs: &[u64],
    starts: &[u64],
    by_source: bool,
) -> Result<Vec<u8>> {
    let (codes, literals) = coded.split_at(length.min(coded.len()));
    let codes = unshuffle(codes, 8);
    let e = len_u64(codes.len() / 8);
    let n = addrs.len();
    if starts.len() != n + 1 || starts.first() != Some(&0) || starts.last() != Some(&e) {
        return Err(bad(
            "EDGE_TARGET: the object columns do not describe its edges",
        ));
    }
    let mut out = Vec::with_capacity(codes.len());
    let mut lit = words(literals, 8);
    let mut codes = words(&codes, 8);
    let mut prev = 0u64;
    for (i, se) in starts.windows(2).enumerate() {
        if se[1] < se[0] || se[1] > e {
            return Err(bad("EDGE_TARGET: edge starts out of order"));
        }
        for k in se[0]..se[1] {
            let c = codes.next().unwrap_or(0);
            let t = if c == 0 {
                lit.next()
                    .ok_or_else(|| bad("EDGE_TARGET: fewer literal addresses than codes 0"))?
            } else {
                let r = if by_source { i as u64 } else { prev };
                let j = r.wrapping_add(unzigzag(c - 1) as u64);
                let t = usize::try_from(j)
                    .ok()
                    .and_then(|j| addrs.get(j))
                    .ok_or_else(|| bad(format!("EDGE_TARGET: edge {k} names no object")))?;
                prev = j;
                *t
            };
            put_word(&mut out, t, 8);
        }
    }
    if lit.next().is_some() {
        return Err(bad("EDGE_TARGET: more literal addresses than codes 0"));
    }
    Ok(out)
}

/// The width a coding other than RAW works on for section `kind`, if allowed.
fn coded_width(kind: u32, coding: u32) -> Option<usize> {
    let w = match kind {
        kind::STRING_OFFSETS | 5..=kind::EDGE_LABEL => record_width(kind)? as usize,
        _ => return None,
    };
    match coding {
        coding::SHUFFLE | coding::DELTA => Some(w),
        coding::TARGETS_PREV | coding::TARGETS_SOURCE if kind == kind::EDGE_TARGET => Some(w),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------
// Decoding.

/// A `Write` that hashes and counts what goes through it.
struct Hashing<W: Write> {
    inner: W,
    sha: Sha256,
    len: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        self.len += len_u64(n);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads exactly `n` bytes, growing the buffer only as data arrives.
fn read_n<R: Read>(r: &mut R, n: u64, what: &str) -> Result<Vec<u8>> {
    let mut v = Vec::with_capacity(usize::try_from(n.min(1 << 20)).unwrap_or(0));
    r.take(n).read_to_end(&mut v).map_err(zstd_err)?;
    if len_u64(v.len()) != n {
        return Err(bad(format!(
            "the payload ends inside {what} ({} of {n} bytes)",
            v.len()
        )));
    }
    Ok(v)
}

fn zstd_err(e: io::Error) -> Error {
    bad(format!("zstd frame: {e}"))
}

/// Rebuilds the dump from a payload read from `r` (transform COLUMNS), writing it to
/// `out`. `h` has been checked by [`parse_header`].
fn decode_columns<R: Read, W: Write>(r: &mut R, h: &PackedHeader, out: W) -> Result<W> {
    let prefix: Prefix = bytemuck::pod_read_unaligned(&read_n(r, PREFIX_LEN, "the prefix")?);
    let count = u64::from(prefix.count);
    if count > (h.dump_len - HEADER_LEN - TRAILER_LEN) / ENTRY_LEN {
        return Err(bad(format!(
            "{count} sections cannot fit a {}-byte dump",
            h.dump_len
        )));
    }
    let dir_bytes = read_n(r, count * DIR_ENTRY_LEN, "the directory")?;
    let dir: Vec<DirEntry> = dir_bytes
        .chunks_exact(DIR_ENTRY_LEN as usize)
        .map(bytemuck::pod_read_unaligned)
        .collect();
    // The directory must account for the claimed lengths exactly.
    let mut dump_len = HEADER_LEN + TRAILER_LEN + ENTRY_LEN * count;
    let mut payload_len = PREFIX_LEN + DIR_ENTRY_LEN * count;
    let mut last_kind = None;
    for (i, d) in dir.iter().enumerate() {
        let what = |m: &str| {
            bad(format!(
                "directory entry {i} (kind {}, coding {}): {m}",
                d.kind, d.coding
            ))
        };
        if last_kind.is_some_and(|k| d.kind <= k) {
            return Err(what("kinds must ascend"));
        }
        last_kind = Some(d.kind);
        let ok = match d.coding {
            coding::RAW => d.coded_length == d.length,
            _ => match coded_width(d.kind, d.coding) {
                None => return Err(what("coding not allowed for this kind")),
                Some(w) => {
                    d.length.is_multiple_of(w as u64)
                        && if d.kind == kind::EDGE_TARGET && d.coding >= coding::TARGETS_PREV {
                            d.coded_length >= d.length
                                && (d.coded_length - d.length).is_multiple_of(8)
                                && d.coded_length - d.length <= d.length
                        } else {
                            d.coded_length == d.length
                        }
                }
            },
        };
        if !ok {
            return Err(what("lengths do not fit the coding"));
        }
        dump_len = align8(d.length)
            .and_then(|l| dump_len.checked_add(l))
            .ok_or_else(|| what("length overflows"))?;
        payload_len = payload_len
            .checked_add(d.coded_length)
            .ok_or_else(|| what("length overflows"))?;
    }
    if dump_len != h.dump_len || payload_len != h.payload_len {
        return Err(bad(format!(
            "the directory describes a {dump_len}-byte dump and a {payload_len}-byte payload, \
             the header {} and {}",
            h.dump_len, h.payload_len
        )));
    }
    let mut w = Writer::new(out, prefix.major, prefix.minor)?;
    let mut addrs: Vec<u64> = Vec::new();
    let mut starts: Vec<u64> = Vec::new();
    let (mut have_addrs, mut have_starts) = (false, false);
    for d in &dir {
        let coded = read_n(r, d.coded_length, "a section")?;
        let length = d.length as usize; // <= coded_length, which fit in memory
        let plain = match d.coding {
            coding::RAW => coded,
            coding::SHUFFLE => unshuffle(&coded, coded_width(d.kind, d.coding).unwrap_or(1)),
            coding::DELTA => delta_decode(&coded, coded_width(d.kind, d.coding).unwrap_or(1)),
            _ => {
                if !(have_addrs && have_starts) {
                    return Err(bad(
                        "EDGE_TARGET coded as TARGETS needs OBJECT_ADDRESS and OBJECT_EDGE_START",
                    ));
                }
                let by_source = d.coding == coding::TARGETS_SOURCE;
                targets_decode(&coded, length, &addrs, &starts, by_source)?
            }
        };
        if d.kind == kind::OBJECT_ADDRESS {
            addrs = words(&plain, 8).collect();
            have_addrs = true;
        } else if d.kind == kind::OBJECT_EDGE_START {
            starts = words(&plain, 8).collect();
            have_starts = true;
        }
        w.begin_section(d.kind)?;
        w.write_bytes(&plain)?;
        w.end_section()?;
    }
    w.finish()
}

/// Unpacks untrusted packed bytes into `out`, checking the length and SHA-256 of what
/// was written against the header. Returns `out`.
pub fn unpack<W: Write>(packed: &[u8], out: W) -> Result<W> {
    let h = parse_header(packed)?;
    let frames = &packed[PACKED_HEADER_LEN as usize..];
    let mut dec = zstd::stream::read::Decoder::with_buffer(frames).map_err(zstd_err)?;
    dec.window_log_max(WINDOW_LOG_MAX).map_err(zstd_err)?;
    let mut hashing = Hashing {
        inner: out,
        sha: Sha256::new(),
        len: 0,
    };
    hashing = match h.transform {
        transform::NONE => {
            // Read errors are the frame's, write errors the output's.
            let mut src = (&mut dec).take(h.payload_len);
            let mut buf = vec![0u8; 1 << 16];
            let mut n = 0u64;
            loop {
                let k = match src.read(&mut buf) {
                    Ok(0) => break,
                    Ok(k) => k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(zstd_err(e)),
                };
                hashing
                    .write_all(&buf[..k])
                    .map_err(|e| Error::io("cannot write", e))?;
                n += len_u64(k);
            }
            if n != h.payload_len {
                return Err(bad(format!(
                    "the frame holds {n} bytes, the header claims {}",
                    h.payload_len
                )));
            }
            hashing
        }
        _ => decode_columns(&mut (&mut dec).take(h.payload_len), &h, hashing)?,
    };
    let mut extra = [0u8; 1];
    if dec.read(&mut extra).map_err(zstd_err)? != 0 {
        return Err(bad(format!(
            "the frame holds more than the {} bytes the header claims",
            h.payload_len
        )));
    }
    hashing.flush().map_err(|e| Error::io("cannot write", e))?;
    if hashing.len != h.dump_len {
        return Err(bad(format!(
            "unpacked to {} bytes, the header claims {}",
            hashing.len, h.dump_len
        )));
    }
    let sha: [u8; 32] = hashing.sha.finalize().into();
    if sha != h.sha256 {
        return Err(bad(
            "the unpacked dump does not match the SHA-256 in the header",
        ));
    }
    Ok(hashing.inner)
}

// ---------------------------------------------------------------------------------
// Encoding.

/// What [`pack`] wrote.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct PackStats {
    /// Length of the dump.
    pub dump_len: u64,
    /// Length of the payload before compression.
    pub payload_len: u64,
    /// Length of the packed file.
    pub packed_len: u64,
}

/// The section table of a validated dump: `(kind, bytes)` in file order.
fn sections(dump: &[u8]) -> Result<Vec<(u32, &[u8])>> {
    let broken = || Error::input("pack: the dump's section table is unreadable");
    let tail = dump
        .len()
        .checked_sub(TRAILER_LEN as usize)
        .ok_or_else(broken)?;
    let t: Trailer = read_pod(&dump[tail..], Where::File)?;
    let table = usize::try_from(t.table_offset).map_err(|_| broken())?;
    (0..t.section_count as usize)
        .map(|i| {
            let at = table + i * ENTRY_LEN as usize;
            let e: SectionEntry = read_pod(dump.get(at..).ok_or_else(broken)?, Where::File)?;
            let a = usize::try_from(e.offset).map_err(|_| broken())?;
            let b = usize::try_from(e.length)
                .ok()
                .and_then(|l| a.checked_add(l))
                .ok_or_else(broken)?;
            Ok((e.kind, dump.get(a..b).ok_or_else(broken)?))
        })
        .collect()
}

/// The object index of each target address (`u64::MAX` if none has it); any one of
/// several objects sharing an address.
fn resolve(addrs: &[u64], targets: &[u64]) -> Vec<u64> {
    let r = crate::address::Resolver::new(addrs);
    targets
        .par_iter()
        .map(|&a| r.get(a).unwrap_or(u64::MAX))
        .collect()
}

/// Codes the sections of a validated dump (transform COLUMNS): the directory entries
/// and the coded bytes of each section.
fn encode_columns(dump: &[u8]) -> Result<(Prefix, Vec<DirEntry>, Vec<Vec<u8>>)> {
    let secs = sections(dump)?;
    let header: crate::format::Header = read_pod(dump, Where::File)?;
    let column = |k: u32| -> Option<Vec<u64>> {
        secs.iter()
            .find(|s| s.0 == k)
            .map(|s| words(s.1, 8).collect())
    };
    let starts = column(kind::OBJECT_EDGE_START);
    let addrs = column(kind::OBJECT_ADDRESS);
    let have_addrs = addrs.is_some();
    let mut dir = Vec::with_capacity(secs.len());
    let mut bodies = Vec::with_capacity(secs.len());
    for &(k, bytes) in &secs {
        let mut coding = match k {
            kind::STRING_OFFSETS | kind::OBJECT_ADDRESS | kind::OBJECT_EDGE_START => coding::DELTA,
            kind::OBJECT_TYPE
            | kind::OBJECT_SIZE
            | kind::OBJECT_REFCOUNT
            | kind::OBJECT_FLAGS
            | kind::EDGE_LABEL => coding::SHUFFLE,
            kind::EDGE_TARGET if have_addrs && starts.is_some() => coding::TARGETS_PREV,
            _ => coding::RAW,
        };
        if coding != coding::RAW && coded_width(k, coding).is_none_or(|w| bytes.len() % w != 0) {
            coding = coding::RAW;
        }
        let mut body = Vec::with_capacity(bytes.len());
        match coding {
            coding::SHUFFLE => shuffle(bytes, coded_width(k, coding).unwrap_or(1), &mut body),
            coding::DELTA => delta_encode(bytes, coded_width(k, coding).unwrap_or(1), &mut body),
            _ if k == kind::EDGE_TARGET => {
                // Whichever reference compresses better (a quick zstd level 1 says).
                let starts = starts.as_deref().unwrap_or(&[]);
                let targets: Vec<u64> = words(bytes, 8).collect();
                let resolved = resolve(addrs.as_deref().unwrap_or(&[]), &targets);
                let prev = targets_encode(&targets, &resolved, starts, false);
                let source = targets_encode(&targets, &resolved, starts, true);
                let cost = |b: &[u8]| zstd::bulk::compress(b, 1).map_or(b.len(), |z| z.len());
                let (cost_prev, cost_source) = (cost(&prev), cost(&source));
                (coding, body) = if cost_source < cost_prev {
                    (coding::TARGETS_SOURCE, source)
                } else {
                    (coding::TARGETS_PREV, prev)
                };
            }
            _ => body.extend_from_slice(bytes),
        }
        dir.push(DirEntry {
            kind: k,
            coding,
            length: len_u64(bytes.len()),
            coded_length: len_u64(body.len()),
        });
        bodies.push(body);
    }
    let prefix = Prefix {
        major: header.major,
        minor: header.minor,
        count: u32::try_from(secs.len()).map_err(|_| Error::input("pack: too many sections"))?,
    };
    Ok((prefix, dir, bodies))
}

/// A reader over the payload pieces, in order.
fn payload_reader<'a>(
    prefix: &'a Prefix,
    dir: &'a [DirEntry],
    bodies: &'a [Vec<u8>],
) -> impl Read + 'a {
    let mut r: Box<dyn Read + 'a> =
        Box::new(bytemuck::bytes_of(prefix).chain(bytemuck::cast_slice::<DirEntry, u8>(dir)));
    for b in bodies {
        r = Box::new(r.chain(b.as_slice()));
    }
    r
}

/// Packs `dump` (the bytes of a dump that passed validation) at zstd `level` into `out`.
/// The payload is
/// decoded again and compared with `dump` (by SHA-256) before anything is compressed.
pub fn pack<W: Write>(dump: &[u8], level: i32, mut out: W) -> Result<(W, PackStats)> {
    let sha: [u8; 32] = Sha256::digest(dump).into();
    let (prefix, dir, bodies) = encode_columns(dump)?;
    let payload_len = PREFIX_LEN
        + DIR_ENTRY_LEN * len_u64(dir.len())
        + bodies.iter().map(|b| len_u64(b.len())).sum::<u64>();
    let header = PackedHeader {
        magic: PACKED_MAGIC,
        version: PACKED_VERSION,
        transform: transform::COLUMNS,
        reserved: 0,
        dump_len: len_u64(dump.len()),
        payload_len,
        sha256: sha,
    };
    // Prove the round trip before writing anything.
    let check = decode_columns(
        &mut payload_reader(&prefix, &dir, &bodies),
        &header,
        Hashing {
            inner: io::sink(),
            sha: Sha256::new(),
            len: 0,
        },
    )
    .map_err(|e| {
        Error::input(format!(
            "pack: internal error, the coding does not invert: {e}"
        ))
    })?;
    let back: [u8; 32] = check.sha.finalize().into();
    if back != sha || check.len != header.dump_len {
        return Err(Error::input(
            "pack: internal error, the coding does not give back the same bytes",
        ));
    }
    let wr = |e| Error::io("cannot write", e);
    out.write_all(bytemuck::bytes_of(&header)).map_err(wr)?;
    let mut counted = Counting { inner: out, len: 0 };
    let mut enc = zstd::stream::write::Encoder::new(&mut counted, level).map_err(wr)?;
    enc.set_pledged_src_size(Some(payload_len)).map_err(wr)?;
    enc.include_checksum(true).map_err(wr)?;
    enc.window_log(WINDOW_LOG_MAX.min(window_for(payload_len)))
        .map_err(wr)?;
    enc.long_distance_matching(payload_len > 1 << 23)
        .map_err(wr)?;
    io::copy(&mut payload_reader(&prefix, &dir, &bodies), &mut enc).map_err(wr)?;
    enc.finish().map_err(wr)?;
    let mut packed_len = PACKED_HEADER_LEN + counted.len;
    // Readers refuse a dump more than MAX_RATIO times the packed file: pad with a
    // skippable frame if this one compressed that well.
    let need = header.dump_len.div_ceil(MAX_RATIO);
    if packed_len < need {
        let pad = (need - packed_len).max(8) - 8;
        let size = u32::try_from(pad).map_err(|_| Error::input("pack: padding too large"))?;
        counted
            .write_all(&SKIPPABLE_MAGIC.to_le_bytes())
            .and_then(|()| counted.write_all(&size.to_le_bytes()))
            .and_then(|()| io::copy(&mut io::repeat(0).take(pad), &mut counted).map(|_| ()))
            .map_err(wr)?;
        packed_len = PACKED_HEADER_LEN + counted.len;
    }
    counted.inner.flush().map_err(wr)?;
    Ok((
        counted.inner,
        PackStats {
            dump_len: header.dump_len,
            payload_len,
            packed_len,
        },
    ))
}

/// The smallest window log (10..=27) that covers `len` bytes.
fn window_for(len: u64) -> u32 {
    let mut log = 10;
    while log < WINDOW_LOG_MAX && (1u64 << log) < len {
        log += 1;
    }
    log
}

struct Counting<W: Write> {
    inner: W,
    len: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.len += len_u64(n);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codings_invert() {
        let src: Vec<u8> = (0..64u8).map(|x| x.wrapping_mul(37)).collect();
        for w in [4, 8] {
            let mut s = Vec::new();
            shuffle(&src, w, &mut s);
            assert_eq!(unshuffle(&s, w), src);
            let mut d = Vec::new();
            delta_encode(&src, w, &mut d);
            assert_eq!(delta_decode(&d, w), src);
        }
        for d in [0i64, 1, -1, i64::MAX, i64::MIN] {
            assert_eq!(unzigzag(zigzag(d)), d);
        }
    }
}
