//! Helpers shared by the test modules: locating vectors, taking a file apart into its
//! sections and putting it back together (with fresh CRCs), and patching table entries.

#![allow(dead_code)]

use std::path::PathBuf;

use heapsnap::format::writer::Writer;
use heapsnap::format::{SectionEntry, Trailer};
use heapsnap::SnapshotContent;

/// Names of the committed vectors.
pub const VECTORS: [&str; 4] = ["empty", "small", "wide", "labels-none"];

pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("format/vectors")
}

pub fn vector_path(name: &str, ext: &str) -> PathBuf {
    vectors_dir().join(format!("{name}.{ext}"))
}

pub fn vector_json(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(vector_path(name, "json")).expect("vector json");
    serde_json::from_str(&text).expect("vector json parses")
}

pub fn vector_content(name: &str) -> SnapshotContent {
    serde_json::from_value(vector_json(name)).expect("vector json matches the schema")
}

/// True when the run should regenerate the committed `.hsnap` files.
pub fn updating() -> bool {
    std::env::var_os("HEAPSNAP_UPDATE_VECTORS").is_some_and(|v| v == "1")
}

/// With `HEAPSNAP_UPDATE_VECTORS=1`, writes every vector's `.hsnap` once per test run,
/// before any test reads one.
pub fn update_vectors_once() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if updating() {
            for name in VECTORS {
                let bytes = vector_content(name).to_bytes().expect("encode vector");
                std::fs::write(vector_path(name, "hsnap"), bytes).expect("write vector");
            }
        }
    });
}

pub fn vector_bytes(name: &str) -> Vec<u8> {
    update_vectors_once();
    std::fs::read(vector_path(name, "hsnap"))
        .expect("vector hsnap (generate with HEAPSNAP_UPDATE_VECTORS=1)")
}

pub fn trailer(file: &[u8]) -> Trailer {
    bytemuck::pod_read_unaligned(&file[file.len() - 32..])
}

/// The table entries of a well-formed file, with each entry's file offset.
pub fn entries(file: &[u8]) -> Vec<(usize, SectionEntry)> {
    let t = trailer(file);
    (0..t.section_count as usize)
        .map(|i| {
            let off = t.table_offset as usize + 32 * i;
            (off, bytemuck::pod_read_unaligned(&file[off..off + 32]))
        })
        .collect()
}

/// The sections of a well-formed file as `(kind, bytes)`.
pub fn sections(file: &[u8]) -> Vec<(u32, Vec<u8>)> {
    entries(file)
        .into_iter()
        .map(|(_, e)| {
            let a = e.offset as usize;
            (e.kind, file[a..a + e.length as usize].to_vec())
        })
        .collect()
}

/// Lays out `sections` (in the given order) as a file with fresh CRCs.
pub fn build(major: u16, minor: u16, sections: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut w = Writer::new(Vec::new(), major, minor).unwrap();
    for (k, b) in sections {
        w.begin_section(*k).unwrap();
        w.write_bytes(b).unwrap();
        w.end_section().unwrap();
    }
    w.finish().unwrap()
}

/// Takes `file` apart, lets `f` change its sections, and rebuilds it with fresh CRCs.
pub fn rebuild(file: &[u8], f: impl FnOnce(&mut Vec<(u32, Vec<u8>)>)) -> Vec<u8> {
    let mut s = sections(file);
    f(&mut s);
    build(1, 0, &s)
}

/// The bytes of section `kind` in a sections list.
pub fn section_mut(s: &mut [(u32, Vec<u8>)], kind: u32) -> &mut Vec<u8> {
    &mut s
        .iter_mut()
        .find(|(k, _)| *k == kind)
        .expect("section present")
        .1
}

/// Changes table entry `i` with `f` and recomputes the table CRC (not section CRCs).
pub fn patch_entry(file: &[u8], i: usize, f: impl FnOnce(&mut SectionEntry)) -> Vec<u8> {
    let mut out = file.to_vec();
    let (off, mut e) = entries(file)[i];
    f(&mut e);
    out[off..off + 32].copy_from_slice(bytemuck::bytes_of(&e));
    recrc_table(&mut out);
    out
}

/// Recomputes the trailer's CRC from the header and the table bytes it points at.
pub fn recrc_table(file: &mut [u8]) {
    let mut t = trailer(file);
    let a = t.table_offset as usize;
    let b = a + 32 * t.section_count as usize;
    t.table_crc = heapsnap::format::read::table_crc(&file[..16], &file[a..b]);
    let n = file.len();
    file[n - 32..].copy_from_slice(bytemuck::bytes_of(&t));
}

pub fn put_u32(bytes: &mut [u8], index: usize, v: u32) {
    bytes[4 * index..4 * index + 4].copy_from_slice(&v.to_le_bytes());
}

pub fn put_u64(bytes: &mut [u8], index: usize, v: u64) {
    bytes[8 * index..8 * index + 8].copy_from_slice(&v.to_le_bytes());
}

/// SplitMix64: a small seeded generator.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}
