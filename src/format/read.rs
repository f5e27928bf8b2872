//! Checked primitives for reading untrusted bytes, in the manner of regex-automata's
//! `wire.rs`: every conversion and every piece of arithmetic on a length or offset taken
//! from a file goes through a helper that fails with an [`Error`] naming the field and
//! where it is, instead of overflowing, truncating or panicking.

use bytemuck::Pod;
use rayon::prelude::*;

use crate::error::{Error, Result, Where};

/// `a + b`, or an error naming `what` at `at` on overflow.
pub fn add(a: u64, b: u64, at: Where, what: &str) -> Result<u64> {
    a.checked_add(b)
        .ok_or_else(|| Error::invalid(at, format!("{what} overflows: {a} + {b}")))
}

/// `a * b`, or an error naming `what` at `at` on overflow.
pub fn mul(a: u64, b: u64, at: Where, what: &str) -> Result<u64> {
    a.checked_mul(b)
        .ok_or_else(|| Error::invalid(at, format!("{what} overflows: {a} * {b}")))
}

/// Converts a file-derived `u64` to `usize`, or an error naming `what` at `at`.
pub fn to_usize(v: u64, at: Where, what: &str) -> Result<usize> {
    usize::try_from(v).map_err(|_| Error::invalid(at, format!("{what} {v} does not fit in memory")))
}

/// Converts an in-memory length to `u64` (infallible on supported targets).
pub fn len_u64(v: usize) -> u64 {
    // usize is at most 64 bits on every target Rust supports.
    v as u64
}

/// The bytes `[offset, offset + len)` of `bytes`, or an error at `at` if out of range.
pub fn range(bytes: &[u8], offset: u64, len: u64, at: Where) -> Result<&[u8]> {
    let end = add(offset, len, at, "end of range")?;
    let start = to_usize(offset, at, "offset")?;
    let end = to_usize(end, at, "end")?;
    bytes.get(start..end).ok_or_else(|| {
        Error::invalid(
            at,
            format!(
                "range {offset:#x}..{end:#x} is outside the file ({} bytes)",
                bytes.len()
            ),
        )
    })
}

/// Reads a `T` from the start of `bytes` (any alignment), or an error if too short.
pub fn read_pod<T: Pod>(bytes: &[u8], at: Where) -> Result<T> {
    let n = std::mem::size_of::<T>();
    match bytes.get(..n) {
        Some(b) => Ok(bytemuck::pod_read_unaligned(b)),
        None => Err(Error::invalid(
            at,
            format!("need {n} bytes, only {} available", bytes.len()),
        )),
    }
}

/// Views `bytes` as a slice of `T` in place, or an error at `at` if the length is not a
/// multiple of the record width or the bytes are misaligned.
pub fn cast<T: Pod>(bytes: &[u8], at: Where) -> Result<&[T]> {
    let width = std::mem::size_of::<T>();
    if width != 0 && !bytes.len().is_multiple_of(width) {
        return Err(Error::invalid(
            at,
            format!("length {} is not a multiple of {width}", bytes.len()),
        ));
    }
    bytemuck::try_cast_slice(bytes)
        .map_err(|e| Error::invalid(at, format!("cannot view as {width}-byte records: {e:?}")))
}

/// CRC-32 (ISO-HDLC, as zlib) of `bytes`. Large inputs are checksummed in parallel
/// pieces whose CRCs are then combined.
pub fn crc32(bytes: &[u8]) -> u32 {
    const PIECE: usize = 16 << 20;
    if bytes.len() <= PIECE {
        return crc32fast::hash(bytes);
    }
    let parts: Vec<(u32, u64)> = bytes
        .par_chunks(PIECE)
        .map(|c| (crc32fast::hash(c), c.len() as u64))
        .collect();
    let mut h = crc32fast::Hasher::new();
    for (i, (crc, len)) in parts.into_iter().enumerate() {
        let piece = crc32fast::Hasher::new_with_initial_len(crc, len);
        if i == 0 {
            h = piece;
        } else {
            h.combine(&piece);
        }
    }
    h.finalize()
}

/// The trailer's `table_crc` (SPEC 3.2): CRC-32 of the 16 header bytes followed by the
/// section table, so that every byte of the file, the minor version included, is
/// covered by a checksum.
pub fn table_crc(header: &[u8], table: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(header);
    h.update(table);
    h.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_in_pieces_equals_crc32_in_one() {
        // Three and a half pieces of bytes that are not periodic.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let bytes: Vec<u8> = (0..(56 << 20))
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        for len in [0, 1, (16 << 20) - 1, 16 << 20, (16 << 20) + 1, bytes.len()] {
            assert_eq!(
                crc32(&bytes[..len]),
                crc32fast::hash(&bytes[..len]),
                "{len}"
            );
        }
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn crc_is_iso_hdlc() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn checked_helpers_name_the_field() {
        let at = Where::Header { offset: 8 };
        let e = add(u64::MAX, 1, at, "section end").unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "header at offset 0x8: section end overflows: {} + 1",
                u64::MAX
            )
        );
        assert!(range(&[0u8; 4], 2, 4, at).is_err());
        assert!(cast::<u64>(&[0u8; 12], at)
            .unwrap_err()
            .to_string()
            .contains("not a multiple of 8"));
    }
}
