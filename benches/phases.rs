//! Criterion micro benchmarks of each analysis phase on a synthetic 1M-object dump
//! (`heapsnap synth`, ~3 edges per object): graph build (address resolution + CSR),
//! dominators, cycle components, breadth-first paths, histogram, cycle grouping.
//! `cargo bench --bench phases`. For 10M objects and 1-vs-2-thread figures in one run,
//! see `benches/scale.rs`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use heapsnap::analysis::{cycles, histogram, Dominators, Paths};
use heapsnap::graph::{Graph, NodeId};
use heapsnap::synth::{generate, Params};
use heapsnap::{Snapshot, Verify};

fn phases(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phases.hsnap");
    let file = std::fs::File::create(&path).unwrap();
    generate(
        &Params {
            objects: 1_000_000,
            edges_per_object: 3.0,
            seed: 7,
        },
        std::io::BufWriter::new(file),
    )
    .unwrap();
    let snap = Snapshot::open(&path, Verify::SkipChecksums).unwrap();
    let size = |v: NodeId| snap.shallow_size(v as usize);
    let graph = Graph::from_snapshot(&snap).unwrap();
    let dom = Dominators::compute(&graph, graph.reverse(), size);
    let comps = cycles::cycle_components(&snap, &graph, false);

    let mut g = c.benchmark_group("phases_1M");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("graph", |b| {
        b.iter(|| black_box(Graph::from_snapshot(&snap).unwrap()))
    });
    g.bench_function("dominators", |b| {
        b.iter(|| black_box(Dominators::compute(&graph, graph.reverse(), size)))
    });
    g.bench_function("components", |b| {
        b.iter(|| black_box(cycles::cycle_components(&snap, &graph, false)))
    });
    g.bench_function("paths", |b| b.iter(|| black_box(Paths::compute(&graph))));
    g.bench_function("histogram", |b| {
        b.iter(|| {
            black_box(histogram::histogram(
                snap.types_of(),
                snap.type_count(),
                &size,
                &dom,
            ))
        })
    });
    g.bench_function("cycle_groups", |b| {
        b.iter(|| black_box(cycles::group_cycles(&snap, &comps, &dom, size)))
    });
    g.finish();
}

criterion_group!(benches, phases);
criterion_main!(benches);
