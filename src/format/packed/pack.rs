//! Packing the sections of a validated dump (SPEC 9, transform COLUMNS): each section is
//! coded, the payload is decoded again and compared with the dump (by SHA-256) before
//! anything is compressed, and the zstd frame is padded if it would be more than
//! [`MAX_RATIO`] times smaller than the dump.

use std::io::{self, Read, Write};

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::codec::{coded_width, delta_encode, shuffle, targets_encode, words};
use super::header::{DirEntry, Prefix, DIR_ENTRY_LEN, PREFIX_LEN};
use super::unpack::{decode_columns, Hashing};
use super::{
    coding, transform, PackedHeader, MAX_RATIO, PACKED_HEADER_LEN, PACKED_MAGIC, PACKED_VERSION,
    WINDOW_LOG_MAX,
};
use crate::error::{Error, Result};
use crate::format::kind;
use crate::format::read::len_u64;

/// zstd skippable frame magic (the low 4 bits are free).
const SKIPPABLE_MAGIC: u32 = 0x184D_2A50;

/// What [`pack`] packs: the bytes of a dump that passed validation (SPEC 7), its
/// version, and its sections in file order, unknown kinds included. A validated
/// [`crate::snapshot::Snapshot`] hands this out from its layout (`Snapshot::dump`).
#[derive(Clone, Debug)]
pub struct Dump<'a> {
    /// The whole file.
    pub bytes: &'a [u8],
    /// Format major version.
    pub major: u16,
    /// Format minor version.
    pub minor: u16,
    /// `(kind, bytes)` of every section, in file order.
    pub sections: Vec<(u32, &'a [u8])>,
}

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
fn encode_columns(dump: &Dump<'_>) -> Result<(Prefix, Vec<DirEntry>, Vec<Vec<u8>>)> {
    let secs = &dump.sections;
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
    for &(k, bytes) in secs {
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
        major: dump.major,
        minor: dump.minor,
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

/// Packs `dump` (the sections of a dump that passed validation) at zstd `level` into
/// `out`. The payload is decoded again and compared with `dump` (by SHA-256) before
/// anything is compressed.
pub fn pack<W: Write>(dump: &Dump<'_>, level: i32, mut out: W) -> Result<(W, PackStats)> {
    let sha: [u8; 32] = Sha256::digest(dump.bytes).into();
    let (prefix, dir, bodies) = encode_columns(dump)?;
    let payload_len = PREFIX_LEN
        + DIR_ENTRY_LEN * len_u64(dir.len())
        + bodies.iter().map(|b| len_u64(b.len())).sum::<u64>();
    let header = PackedHeader {
        magic: PACKED_MAGIC,
        version: PACKED_VERSION,
        transform: transform::COLUMNS,
        reserved: 0,
        dump_len: len_u64(dump.bytes.len()),
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
