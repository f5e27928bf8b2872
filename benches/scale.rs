//! The whole analysis at scale, phase by phase, with 1 and 2 threads, in one process:
//! `cargo bench --bench scale` (default 10M objects, ~3 edges each; set
//! `HEAPSNAP_BENCH_OBJECTS` to change it, `HEAPSNAP_BENCH_DUMP` to reuse a file).
//!
//! Prints, per thread count, the seconds of each phase (graph build, dominators and
//! retained sizes, cycles, shortest paths, histogram, cycle grouping), the full analysis
//! (graph + dominators + cycles + histogram + grouping, with the cycle search running
//! beside the dominator search as the CLI does; the minimum of three runs), the floor
//! (one sequential read of the file plus one depth-first search of the built graph) and
//! the full analysis as a
//! multiple of it, and the peak anonymous resident memory (RssAnon: the mapped file is
//! not counted) during the full analysis, then each phase's speedup from 1 to 2 threads.
//! Last, the index cache: saving it after a cold analysis, and a warm query (map the
//! index, type histogram with retained sizes). Figures are for the same file in one run,
//! so ratios are comparable even on a noisy machine.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use heapsnap::analysis::{cycles, histogram, Analysis, Dominators, EdgeSet, Needs, Paths};
use heapsnap::graph::{Graph, NodeId, NONE};
use heapsnap::synth::{generate, Params};
use heapsnap::{index, Snapshot, Verify};

fn rss_anon_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("RssAnon:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Samples RssAnon every 2 ms and keeps the maximum since the last reset.
struct PeakMeter {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl PeakMeter {
    fn start() -> PeakMeter {
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(rss_anon_kib(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        PeakMeter { peak, stop }
    }
    fn reset(&self) {
        self.peak.store(rss_anon_kib(), Ordering::Relaxed);
    }
    fn mib(&self) -> f64 {
        self.peak.load(Ordering::Relaxed) as f64 / 1024.0
    }
}

impl Drop for PeakMeter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn secs<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed().as_secs_f64())
}

/// The floor's search: an iterative DFS from the super-root, visiting every edge.
fn dfs_count(g: &Graph) -> usize {
    let n = g.len();
    let mut seen = vec![false; n + 1];
    let mut stack: Vec<(NodeId, usize)> = vec![(g.super_root(), 0)];
    seen[n] = true;
    let mut count = 0;
    while let Some(top) = stack.last_mut() {
        let (v, pos) = *top;
        match g.out_raw(v).get(pos) {
            Some(&w) => {
                top.1 += 1;
                if w != NONE && !seen[w as usize] {
                    seen[w as usize] = true;
                    count += 1;
                    stack.push((w, 0));
                }
            }
            None => {
                stack.pop();
            }
        }
    }
    count
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without
    // it, and then there is nothing to check: return at once. An argument (a filter)
    // that does not name this bench skips it too.
    let all: Vec<String> = std::env::args().skip(1).collect();
    if !all.iter().any(|a| a == "--bench") {
        return;
    }
    let args: Vec<&String> = all.iter().filter(|a| !a.starts_with("--")).collect();
    if !args.is_empty() && !args.iter().any(|a| "scale".contains(a.as_str())) {
        return;
    }
    let objects: u64 = std::env::var("HEAPSNAP_BENCH_OBJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let path = match std::env::var_os("HEAPSNAP_BENCH_DUMP") {
        Some(p) => PathBuf::from(p),
        None => {
            let p = std::env::temp_dir().join(format!("heapsnap-bench-{objects}.hsnap"));
            if !p.exists() {
                let (w, s) = secs(|| {
                    let f = std::fs::File::create(&p).unwrap();
                    generate(
                        &Params {
                            objects,
                            edges_per_object: 3.0,
                            seed: 1,
                        },
                        std::io::BufWriter::with_capacity(1 << 22, f),
                    )
                    .unwrap()
                });
                eprintln!(
                    "synth: {} objects, {} edges in {s:.2} s",
                    w.objects, w.edges
                );
            }
            p
        }
    };
    let meter = PeakMeter::start();
    let snap = Snapshot::open(&path, Verify::SkipChecksums).unwrap();
    println!(
        "dump: {} ({} objects, {} edges, {:.0} MiB)",
        path.display(),
        snap.object_count(),
        snap.edge_count(),
        snap.file_len() as f64 / (1 << 20) as f64
    );
    let size = |v: NodeId| snap.shallow_size(v as usize);
    println!(
        "{:>8} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>6} {:>9}",
        "threads", "graph", "dom", "scc", "bfs", "hist", "group", "FULL", "floor", "x", "peak MiB"
    );
    let mut full_by_threads = Vec::new();
    let mut phases_by_threads: Vec<[f64; 7]> = Vec::new();
    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let (g, t_graph) = secs(|| Graph::from_snapshot(&snap).unwrap());
            let (dom, t_dom) = secs(|| Dominators::compute(&g, g.reverse(), size));
            let (comps, t_scc) = secs(|| cycles::cycle_components(&snap, &g, false));
            let (paths, t_bfs) = secs(|| Paths::compute(&g));
            let (_h, t_hist) =
                secs(|| histogram::histogram(snap.types_of(), snap.type_count(), &size, &dom));
            let (_groups, t_group) = secs(|| cycles::group_cycles(&snap, &comps, &dom, size));
            drop((dom, comps, paths));
            // The floor: one sequential read of the file, one DFS of the graph.
            let (_, t_read) = secs(|| {
                let bytes = std::fs::read(&path).unwrap();
                std::hint::black_box(bytes.iter().map(|&b| u64::from(b)).sum::<u64>())
            });
            let (_, t_dfs) = secs(|| std::hint::black_box(dfs_count(&g)));
            drop(g);
            // The full analysis three times (this machine is shared): the minimum.
            let mut t_full = f64::INFINITY;
            let mut peak = 0f64;
            for _ in 0..3 {
            meter.reset();
            let (a, t) = secs(|| {
                let a = Analysis::run(
                    &snap,
                    Needs {
                        dominators: true,
                        paths: false,
                        cycles: Some(EdgeSet::WithoutHousekeeping),
                    },
                )
                .unwrap();
                std::hint::black_box(a.histogram());
                std::hint::black_box(a.cycle_groups());
                a
            });
            peak = peak.max(meter.mib());
            drop(a);
            t_full = t_full.min(t);
            }
            let floor = t_read + t_dfs;
            println!(
                "{threads:>8} {t_graph:>7.2} {t_dom:>7.2} {t_scc:>7.2} {t_bfs:>7.2} {t_hist:>7.2} {t_group:>7.2} {t_full:>7.2} {floor:>7.2} {:>6.2} {peak:>9.0}",
                t_full / floor
            );
            full_by_threads.push(t_full);
            phases_by_threads.push([t_graph, t_dom, t_scc, t_bfs, t_hist, t_group, t_full]);
        });
    }
    let ratio: Vec<String> = (0..7)
        .map(|i| format!("{:>7.2}", phases_by_threads[0][i] / phases_by_threads[1][i]))
        .collect();
    println!(
        "{:>8} {}   (1-thread time / 2-thread time)",
        "speedup",
        ratio.join(" ")
    );

    // The index cache: a cold analysis of everything saves it; a warm query maps it.
    let (a, t_cold) = secs(|| Analysis::run(&snap, Needs::all()).unwrap());
    let (saved, t_save) = secs(|| index::save(&a, &path));
    drop(a);
    match saved {
        Ok(file) => {
            let (q, t_warm) = secs(|| {
                let a = index::analyze(
                    &snap,
                    &path,
                    Needs {
                        dominators: true,
                        ..Needs::default()
                    },
                )
                .unwrap();
                a.histogram().len()
            });
            let index_mib = std::fs::metadata(&file).map_or(0, |m| m.len()) as f64 / 1048576.0;
            println!(
                "index: cold analysis of everything {t_cold:.2} s, saving {t_save:.2} s ({index_mib:.0} MiB, {}); warm query (map the index + type histogram with retained sizes, {q} types) {t_warm:.3} s",
                file.display()
            );
        }
        Err(e) => println!("index: not saved ({e})"),
    }
}
