//! Unpacking untrusted packed bytes (SPEC 9): the payload is read from the zstd frames
//! with buffers that grow only as data arrives, the directory is checked against the
//! header's lengths before any section is decoded, and the rebuilt dump is hashed as it
//! is written and compared with the header's SHA-256.

use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};

use super::codec::{coded_width, delta_decode, targets_decode, unshuffle, words};
use super::header::{DirEntry, Prefix, DIR_ENTRY_LEN, PREFIX_LEN};
use super::{
    bad, coding, parse_header, transform, PackedHeader, PACKED_HEADER_LEN, WINDOW_LOG_MAX,
};
use crate::error::{Error, Result};
use crate::format::read::len_u64;
use crate::format::writer::Writer;
use crate::format::{align8, kind, ENTRY_LEN, HEADER_LEN, TRAILER_LEN};

/// A `Write` that hashes and counts what goes through it.
pub(super) struct Hashing<W: Write> {
    pub inner: W,
    pub sha: Sha256,
    pub len: u64,
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

/// Reads the payload's prefix and directory (SPEC 9.2) and checks that the directory
/// accounts exactly for the header's dump and payload lengths, each entry's coding being
/// allowed for its kind and its lengths fitting the coding.
fn read_directory<R: Read>(r: &mut R, h: &PackedHeader) -> Result<(Prefix, Vec<DirEntry>)> {
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
    Ok((prefix, dir))
}

/// Rebuilds the dump from a payload read from `r` (transform COLUMNS), writing it to
/// `out`. `h` has been checked by [`parse_header`].
pub(super) fn decode_columns<R: Read, W: Write>(r: &mut R, h: &PackedHeader, out: W) -> Result<W> {
    let (prefix, dir) = read_directory(r, h)?;
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
