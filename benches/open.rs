//! Opening a large dump: a synthetic 1M-object / 3M-edge file written with the column
//! writer, opened with full verification (CRCs) and without checksums.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use heapsnap::format::writer::{write_columns, Columns};
use heapsnap::format::{FactRecord, RootRecord, TypeRecord};
use heapsnap::{Snapshot, Verify};

const OBJECTS: u64 = 1_000_000;
const EDGES_PER_OBJECT: u64 = 3;

fn synthetic(path: &std::path::Path) {
    let strings = ["", "pointer_size", "object", "builtins"];
    let mut string_bytes = Vec::new();
    let mut string_offsets = vec![0u64];
    for s in strings {
        string_bytes.extend_from_slice(s.as_bytes());
        string_offsets.push(string_bytes.len() as u64);
    }
    let facts = [FactRecord {
        key: 1,
        kind: 1,
        value: 8,
    }];
    let types = [TypeRecord {
        address: 0x10,
        name: 2,
        module: 3,
        flags: 8,
        reserved: 0,
    }];
    let n = OBJECTS as usize;
    let addresses: Vec<u64> = (0..OBJECTS).map(|i| 0x1000 + 64 * i).collect();
    let types_of = vec![0u32; n];
    let sizes: Vec<u32> = (0..OBJECTS).map(|i| 16 + (i % 64) as u32 * 8).collect();
    let refcounts = vec![1u32; n];
    let flags = vec![1u32; n];
    let edge_starts: Vec<u64> = (0..=OBJECTS).map(|i| i * EDGES_PER_OBJECT).collect();
    let edge_targets: Vec<u64> = (0..OBJECTS * EDGES_PER_OBJECT)
        .map(|k| addresses[((k * 7919) % OBJECTS) as usize])
        .collect();
    let edge_labels: Vec<u32> = (0..OBJECTS * EDGES_PER_OBJECT)
        .map(|k| (k % 4) as u32)
        .collect();
    let roots = [RootRecord {
        object: 0,
        kind: 1,
        label: 0,
        detail: 0,
    }];
    let cols = Columns {
        major: 1,
        minor: 0,
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
        values: &[],
        wide_sizes: &[],
    };
    let file = std::fs::File::create(path).expect("create bench file");
    write_columns(std::io::BufWriter::new(file), &cols).expect("write bench file");
}

fn open(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("synthetic.hsnap");
    synthetic(&path);
    let mut g = c.benchmark_group("open_1M_objects_3M_edges");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    g.bench_function("verify_full", |b| {
        b.iter(|| black_box(Snapshot::open(&path, Verify::Full).expect("valid")))
    });
    g.bench_function("skip_checksums", |b| {
        b.iter(|| black_box(Snapshot::open(&path, Verify::SkipChecksums).expect("valid")))
    });
    g.finish();
}

criterion_group!(benches, open);
criterion_main!(benches);
