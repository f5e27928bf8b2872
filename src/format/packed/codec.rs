//! The section codings of a COLUMNS payload (SPEC 9.3), both ways: byte planes
//! (SHUFFLE), zigzag deltas (DELTA) and edge targets as object-index deltas
//! (TARGETS_PREV, TARGETS_SOURCE). Decoders take untrusted coded bytes and never index
//! out of range; the targets decoder checks every object index it is given.

use super::{bad, coding};
use crate::error::Result;
use crate::format::read::len_u64;
use crate::format::{kind, record_width};

pub(super) fn zigzag(d: i64) -> u64 {
    ((d << 1) ^ (d >> 63)) as u64
}

pub(super) fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

/// Byte planes: byte `b` of record `r` goes to `b * n + r` (n records of width `w`).
pub(super) fn shuffle(src: &[u8], w: usize, dst: &mut Vec<u8>) {
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

pub(super) fn unshuffle(src: &[u8], w: usize) -> Vec<u8> {
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
pub(super) fn words(bytes: &[u8], w: usize) -> impl Iterator<Item = u64> + '_ {
    bytes.chunks_exact(w).map(move |c| {
        let mut b = [0u8; 8];
        b[..w].copy_from_slice(c);
        u64::from_le_bytes(b)
    })
}

pub(super) fn put_word(out: &mut Vec<u8>, v: u64, w: usize) {
    out.extend_from_slice(&v.to_le_bytes()[..w]);
}

/// DELTA: `zigzag(v[i] - v[i-1])` at width `w` (wrapping; `v[-1] = 0`), then planes.
pub(super) fn delta_encode(src: &[u8], w: usize, dst: &mut Vec<u8>) {
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

pub(super) fn delta_decode(coded: &[u8], w: usize) -> Vec<u8> {
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
pub(super) fn targets_encode(
    targets: &[u64],
    resolved: &[u64],
    starts: &[u64],
    by_source: bool,
) -> Vec<u8> {
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

pub(super) fn targets_decode(
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
pub(super) fn coded_width(kind: u32, coding: u32) -> Option<usize> {
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
