//! What the fuzz targets do with their input, kept apart from libFuzzer so that
//! `tests/all/regressions.rs` runs a regression file through exactly the same code (it
//! includes this file with `#[path]`). Everything here uses the public API of `heapsnap`
//! only.
//!
//! - [`exercise`]: opens the bytes with both [`Verify`] modes and, when a mode accepts
//!   them, runs every reader-side path the CLI has (`check`, `info`, `decode`, text and
//!   JSON), asserting only invariants that must hold for every input.
//! - [`fix_checksums`]: recomputes the section CRCs and the table CRC of bytes whose
//!   section table can be located, so that mutated files get past SPEC 7 steps 3 and 5.
//! - [`mutate_sections`]: a structure-aware mutation (a section's bytes, whole records,
//!   whole object rows, the section list, the minor version) that keeps the file's frame
//!   and checksums valid, so the fuzzer spends its time in steps 6 to 14 and the readers.

use std::io::sink;
use std::path::Path;

use heapsnap::commands::{decode, info};
use heapsnap::format::read::{crc32, table_crc};
use heapsnap::format::writer::Writer;
use heapsnap::format::{kind, record_width, SectionEntry, Trailer, FORMAT_MAJOR, FORMAT_MINOR};
use heapsnap::report::json::write_envelope;
use heapsnap::{ErrorKind, Snapshot, SnapshotContent, Verify};

/// Runs `data` through every reader path. Panics (the finding) when a path panics or an
/// invariant breaks; returns normally for any input that is rejected cleanly.
pub fn exercise(data: &[u8]) {
    let full = Snapshot::from_bytes(data, Verify::Full);
    let skip = Snapshot::from_bytes(data, Verify::SkipChecksums);
    for r in [&full, &skip] {
        if let Err(e) = r {
            check_error(e);
        }
    }
    // Skipping the CRCs removes checks, never adds one.
    if full.is_ok() {
        assert!(
            skip.is_ok(),
            "accepted with checksums, rejected without: {}",
            skip.unwrap_err()
        );
    }
    // Both modes build the same snapshot from the same bytes: use it once.
    match (&full, &skip) {
        (Ok(snap), _) => use_snapshot(snap, Some(data)),
        (Err(_), Ok(snap)) => use_snapshot(snap, None),
        (Err(_), Err(_)) => {}
    }
}

/// An open error is one line naming a place in the file (never an I/O or input error).
fn check_error(e: &heapsnap::Error) {
    let msg = e.to_string();
    assert!(!msg.is_empty());
    assert!(!msg.contains('\n'), "multi-line error: {msg:?}");
    assert!(
        matches!(e.kind(), ErrorKind::Invalid { .. }),
        "not an Invalid error: {msg}"
    );
}

/// Every accessor and command path on an opened snapshot. `verified` is the file when
/// it was opened with [`Verify::Full`] (its CRCs are right, so it can be compared with
/// a re-encoding byte for byte).
fn use_snapshot(snap: &Snapshot, verified: Option<&[u8]>) {
    accessors(snap);

    // SPEC 7 step 14, three ways: they must agree, with the same message.
    let addresses = snap.check_addresses();
    let census = heapsnap::census::checked_census(snap);
    let gathered = info::gather(snap, Path::new("fuzz.hsnap"));
    match (&addresses, &census, &gathered) {
        (Ok(()), Ok(c), Ok(d)) => {
            assert_eq!(*c, heapsnap::census::census(snap));
            assert!(c.dangling_edges <= snap.edge_count() as u64);
            assert_eq!(d.counts.dangling_edges, c.dangling_edges);
            assert_eq!(d.counts.surplus_roots, c.surplus_roots.len());
            assert!(c.surplus_roots.len() <= snap.object_count());
            assert!(c
                .surplus_roots
                .windows(2)
                .all(|w| w[0].object < w[1].object));
        }
        (Err(a), Err(c), Err(d)) => {
            check_error(a);
            assert_eq!(a.to_string(), c.to_string());
            assert_eq!(a.to_string(), d.to_string());
            // The unchecked census still answers (an edge counts for one of the objects).
            let _ = heapsnap::census::census(snap);
        }
        _ => panic!(
            "address checks disagree: check_addresses {:?}, checked_census {:?}, info {:?}",
            addresses.as_ref().err().map(ToString::to_string),
            census.as_ref().err().map(ToString::to_string),
            gathered.as_ref().err().map(ToString::to_string),
        ),
    }
    // `info` and `info --json`.
    if let Ok(d) = &gathered {
        info::write_text(d, &mut sink()).expect("info text to a sink");
        write_envelope(&mut sink(), "info", d).expect("info JSON to a sink");
    }
    // `decode` (the CLI runs it only after the address check; it must not panic either
    // way) and `decode --json`.
    decode::write_text(snap, &mut sink()).expect("decode text to a sink");
    let content = SnapshotContent::from_snapshot(snap);
    write_envelope(&mut sink(), "decode", &content).expect("decode JSON to a sink");
    round_trip(snap, &content, verified);
}

/// Every accessor, including out-of-range arguments, with the invariants validation
/// promises (edge ranges tile the edge columns, strings resolve).
fn accessors(snap: &Snapshot) {
    let n = snap.object_count();
    let e = snap.edge_count();
    assert_eq!(snap.addresses().len(), n);
    assert_eq!(snap.types_of().len(), n);
    assert_eq!(snap.sizes().len(), n);
    assert_eq!(snap.refcounts().len(), n);
    assert_eq!(snap.flags().len(), n);
    assert_eq!(snap.edge_starts().len(), n + 1);
    assert_eq!(snap.edge_targets().len(), e);
    if let Some(labels) = snap.edge_labels() {
        assert_eq!(labels.len(), e);
    }
    assert_eq!(snap.types().len(), snap.type_count());
    assert!(snap.string_count() >= 1);
    assert_eq!(snap.string(0), "");
    let mut next = 0;
    for i in 0..n {
        let r = snap.edge_range(i);
        assert_eq!(r.start, next, "edge ranges must tile the edges");
        assert!(r.end <= e);
        next = r.end;
        assert!((snap.types_of()[i] as usize) < snap.type_count());
        let _ = snap.shallow_size(i);
    }
    assert_eq!(next, e);
    for i in [n, usize::MAX] {
        assert_eq!(snap.edge_range(i), 0..0);
        assert_eq!(snap.shallow_size(i), 0);
    }
    assert_eq!(snap.edge_label(usize::MAX), 0);
    for k in 0..e {
        let _ = snap.edge_label(k);
    }
    let s = snap.string_count() as u64;
    let string_bytes: usize = (0..s).map(|id| snap.string(id).len()).sum();
    assert!(string_bytes as u64 <= snap.file_len());
    assert_eq!(snap.string(s), "");
    assert_eq!(snap.string(u64::MAX), "");
    for f in snap.facts() {
        let _ = snap.fact_value(f);
        let key = snap.string(u64::from(f.key));
        let _ = (snap.fact(key), snap.fact_u64(key));
        let _ = (snap.fact_str(key), snap.fact_bool(key));
    }
    let _ = snap.total_shallow_size();
    let index = heapsnap::address::Sorted::new(snap.addresses());
    assert_eq!(index.pairs().len(), n);
    assert!(index.pairs().windows(2).all(|w| w[0] <= w[1]));
    let _ = (
        snap.roots(),
        snap.values(),
        snap.wide_sizes(),
        snap.version(),
    );
}

/// Decoding and re-encoding. What must hold:
/// - the encoding of any accepted file opens with full verification;
/// - encoding is idempotent (decode(encode(c)) encodes to the same bytes);
/// - a verified file of a minor version this reader knows completely is canonical
///   (SPEC 3.3), so its re-encoding is the very same bytes. A newer minor's file loses
///   what this reader ignores (unknown sections and fact kinds), so only the first two
///   hold for it. A file opened without checksums may carry wrong CRCs, so only the
///   first two hold for it too.
fn round_trip(snap: &Snapshot, content: &SnapshotContent, verified: Option<&[u8]>) {
    let bytes = content
        .to_bytes()
        .expect("the content of an accepted file encodes");
    let again = match Snapshot::from_bytes(&bytes, Verify::Full) {
        Ok(s) => s,
        Err(e) => panic!("the re-encoding of an accepted file is rejected: {e}"),
    };
    assert_eq!(again.version(), snap.version());
    let bytes2 = SnapshotContent::from_snapshot(&again)
        .to_bytes()
        .expect("encodes");
    assert!(bytes2 == bytes, "encoding is not idempotent");
    #[allow(clippy::absurd_extreme_comparisons)] // FORMAT_MINOR is 0 today.
    let known_minor = snap.version().1 <= FORMAT_MINOR;
    if let (Some(file), true) = (verified, known_minor) {
        assert_eq!(snap.version().0, FORMAT_MAJOR);
        assert!(
            file == bytes.as_slice(),
            "a verified format {}.{} file is not canonical: re-encoding gives {} bytes for {}",
            snap.version().0,
            snap.version().1,
            bytes.len(),
            file.len()
        );
    }
}

/// The table entries of `file` with their file offsets, if the trailer points at a
/// table inside the file (nothing else is checked).
fn table(file: &[u8]) -> Option<(Trailer, Vec<(usize, SectionEntry)>)> {
    let len = file.len();
    if len < 48 || !len.is_multiple_of(8) {
        return None;
    }
    let t: Trailer = bytemuck::pod_read_unaligned(&file[len - 32..]);
    let start = usize::try_from(t.table_offset).ok()?;
    let count = usize::try_from(t.section_count).ok()?;
    let end = start.checked_add(count.checked_mul(32)?)?;
    if start < 16 || end > len - 32 {
        return None;
    }
    let entries = (0..count)
        .map(|i| {
            let off = start + 32 * i;
            (off, bytemuck::pod_read_unaligned(&file[off..off + 32]))
        })
        .collect();
    Some((t, entries))
}

/// `data` with every section CRC that can be computed (the section's range lies inside
/// the file) and the table CRC recomputed; `None` if no table can be located.
pub fn fix_checksums(data: &[u8]) -> Option<Vec<u8>> {
    let (mut t, entries) = table(data)?;
    let mut out = data.to_vec();
    for (off, mut e) in entries {
        let range = usize::try_from(e.offset).ok().and_then(|a| {
            let b = a.checked_add(usize::try_from(e.length).ok()?)?;
            (b <= data.len()).then_some(a..b)
        });
        if let Some(r) = range {
            e.crc = crc32(&data[r]);
            out[off..off + 32].copy_from_slice(bytemuck::bytes_of(&e));
        }
    }
    let start = t.table_offset as usize;
    let end = start + 32 * t.section_count as usize;
    t.table_crc = table_crc(&out[..16], &out[start..end]);
    let len = out.len();
    out[len - 32..].copy_from_slice(bytemuck::bytes_of(&t));
    Some(out)
}

/// A file taken apart: header version and `(kind, bytes)` per section, in table order.
struct Parts {
    major: u16,
    minor: u16,
    sections: Vec<(u32, Vec<u8>)>,
}

fn split(file: &[u8]) -> Option<Parts> {
    let (_, entries) = table(file)?;
    let mut sections = Vec::with_capacity(entries.len());
    for (_, e) in entries {
        let a = usize::try_from(e.offset).ok()?;
        let b = a.checked_add(usize::try_from(e.length).ok()?)?;
        sections.push((e.kind, file.get(a..b)?.to_vec()));
    }
    Some(Parts {
        major: u16::from_le_bytes([file[8], file[9]]),
        minor: u16::from_le_bytes([file[10], file[11]]),
        sections,
    })
}

/// Lays `p` out as a canonical file with fresh CRCs (kinds sorted, duplicates dropped).
fn join(mut p: Parts) -> Vec<u8> {
    p.sections.sort_by_key(|s| s.0);
    p.sections.dedup_by_key(|s| s.0);
    let mut w = Writer::new(Vec::new(), p.major, p.minor).expect("header to a Vec");
    for (k, b) in &p.sections {
        w.begin_section(*k).expect("ascending kinds");
        w.write_bytes(b).expect("write to a Vec");
        w.end_section().expect("close section");
    }
    w.finish().expect("table to a Vec")
}

/// A small deterministic generator (xorshift64*) for the mutator's choices.
pub struct Rng(u64);

impl Rng {
    /// A generator seeded by libFuzzer's seed.
    pub fn new(seed: u32) -> Rng {
        Rng(u64::from(seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn bits(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.bits() % n as u64) as usize
        }
    }
}

/// Values that sit on the boundaries validation checks.
fn interesting(p: &Parts, rng: &mut Rng) -> u64 {
    let len_of = |k: u32| {
        p.sections
            .iter()
            .find(|s| s.0 == k)
            .map_or(0, |s| s.1.len() as u64 / record_width(k).unwrap_or(1))
    };
    let base = match rng.below(6) {
        0 => len_of(kind::OBJECT_ADDRESS),
        1 => len_of(kind::EDGE_TARGET),
        2 => len_of(kind::STRING_OFFSETS).saturating_sub(1),
        3 => len_of(kind::TYPES),
        4 => len_of(kind::STRING_BYTES),
        _ => u64::from(u32::MAX),
    };
    match rng.below(4) {
        0 => base.wrapping_sub(1),
        1 => base.wrapping_add(1),
        2 => [0, 1, u64::MAX, 1 << 31, u64::from(u32::MAX) + 1][rng.below(5)],
        _ => base,
    }
}

/// Inserts a copy of row `i` of every object column (the new object gets no edges), or
/// removes row `i` together with its edges, keeping the columns consistent.
fn object_row(p: &mut Parts, rng: &mut Rng, insert: bool) -> Option<()> {
    let n = p
        .sections
        .iter()
        .find(|s| s.0 == kind::OBJECT_ADDRESS)?
        .1
        .len()
        / 8;
    let i = rng.below(n + usize::from(insert));
    let starts_at = p
        .sections
        .iter()
        .position(|s| s.0 == kind::OBJECT_EDGE_START)?;
    let starts: Vec<u64> = p.sections[starts_at]
        .1
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let edges = if insert {
        0..0
    } else {
        let a = usize::try_from(*starts.get(i)?).ok()?;
        let b = usize::try_from(*starts.get(i + 1)?).ok()?;
        a..b.max(a)
    };
    for (k, bytes) in &mut p.sections {
        let w = match *k {
            kind::OBJECT_ADDRESS | kind::OBJECT_EDGE_START => 8,
            kind::OBJECT_TYPE | kind::OBJECT_SIZE | kind::OBJECT_REFCOUNT | kind::OBJECT_FLAGS => 4,
            kind::EDGE_TARGET if !insert => 8,
            kind::EDGE_LABEL if !insert => 4,
            _ => continue,
        };
        if matches!(*k, kind::EDGE_TARGET | kind::EDGE_LABEL) {
            let a = edges.start.checked_mul(w);
            let b = edges.end.checked_mul(w).filter(|&b| b <= bytes.len());
            if let (Some(a), Some(b)) = (a, b) {
                bytes.drain(a..b);
            }
            continue;
        }
        if *k == kind::OBJECT_EDGE_START {
            let mut s = starts.clone();
            if insert {
                let at = i.min(s.len());
                let v = s.get(at).copied().unwrap_or(0);
                s.insert(at, v);
            } else if i < s.len() {
                let removed = edges.len() as u64;
                s.remove(i);
                for v in &mut s[i..] {
                    *v = v.wrapping_sub(removed);
                }
            }
            *bytes = s.iter().flat_map(|v| v.to_le_bytes()).collect();
            continue;
        }
        let rows = bytes.len() / w;
        if insert {
            let src = i.min(rows.saturating_sub(1));
            let row = bytes.get(src * w..src * w + w).map(<[u8]>::to_vec)?;
            let mut row = row;
            if *k == kind::OBJECT_ADDRESS {
                row = rng.bits().to_le_bytes().to_vec();
            }
            let at = (i * w).min(bytes.len());
            bytes.splice(at..at, row);
        } else if i < rows {
            bytes.drain(i * w..i * w + w);
        }
    }
    Some(())
}

/// One structure-aware mutation of `data[..size]` into `data` (at most `max_size`
/// bytes); returns the new size, or `None` if `data` has no section table to work on
/// (the caller then mutates the raw bytes). `raw` is libFuzzer's own byte mutator,
/// applied to the bytes of one section.
pub fn mutate_sections(
    data: &mut [u8],
    size: usize,
    max_size: usize,
    seed: u32,
    raw: impl Fn(&mut [u8], usize, usize) -> usize,
) -> Option<usize> {
    let mut p = split(&data[..size])?;
    let mut rng = Rng::new(seed);
    let count = p.sections.len();
    match rng.below(16) {
        // The bytes of one section, through libFuzzer's mutator (most of the time).
        0..=8 if count > 0 => {
            let s = &mut p.sections[rng.below(count)].1;
            let room = max_size.saturating_sub(size).min(4096);
            let len = s.len();
            s.resize(len + room, 0);
            let new_len = raw(s, len, len + room);
            s.truncate(new_len);
        }
        // A boundary value at a record-aligned position of one section.
        9 | 10 if count > 0 => {
            let v = interesting(&p, &mut rng);
            let (k, s) = &mut p.sections[rng.below(count)];
            let w = record_width(*k).unwrap_or(8).max(1) as usize;
            let records = s.len() / w;
            if records > 0 {
                let at = rng.below(records) * w + 4 * rng.below(w.div_ceil(4));
                if rng.below(2) == 0 && at + 8 <= s.len() {
                    s[at..at + 8].copy_from_slice(&v.to_le_bytes());
                } else if at + 4 <= s.len() {
                    s[at..at + 4].copy_from_slice(&(v as u32).to_le_bytes());
                }
            }
        }
        // Duplicate or drop one record of one section.
        11 if count > 0 => {
            let (k, s) = &mut p.sections[rng.below(count)];
            let w = record_width(*k).unwrap_or(8).max(1) as usize;
            let records = s.len() / w;
            if records > 0 {
                let r = rng.below(records) * w;
                if rng.below(2) == 0 {
                    let rec = s[r..r + w].to_vec();
                    s.splice(r..r, rec);
                } else {
                    s.drain(r..r + w);
                }
            }
        }
        // Add or remove an object, consistently across the object columns.
        12 => {
            let insert = rng.below(2) == 0;
            object_row(&mut p, &mut rng, insert)?;
        }
        // Drop, duplicate under another kind, or retag a section.
        13 if count > 0 => {
            let i = rng.below(count);
            match rng.below(3) {
                0 => {
                    p.sections.remove(i);
                }
                1 => {
                    let s = p.sections[i].1.clone();
                    p.sections.push((rng.below(20) as u32, s));
                }
                _ => p.sections[i].0 = rng.below(20) as u32,
            }
        }
        // Another (minor) version.
        14 => {
            p.minor = [0, 1, 2, u16::MAX][rng.below(4)];
            if rng.below(8) == 0 {
                p.major = [0, 2, u16::MAX][rng.below(3)];
            }
        }
        // An unknown section (ignored in a newer minor, an error otherwise).
        _ => {
            let len = rng.below(40);
            let bytes = (0..len).map(|_| rng.bits() as u8).collect();
            p.sections.push((16 + rng.below(4) as u32, bytes));
        }
    }
    let out = join(p);
    if out.len() > max_size {
        return None;
    }
    data[..out.len()].copy_from_slice(&out);
    Some(out.len())
}

/// Runs `data` (checksums not verified: callers fix them first) through the analysis
/// engine and through every analysis command of the CLI, text and JSON. Panics (the
/// finding) when a path panics or an invariant breaks.
pub fn exercise_analysis(data: &[u8]) {
    use heapsnap::analysis::{Analysis, EdgeSet, Needs};
    use heapsnap::graph::NodeId;

    let Ok(snap) = Snapshot::from_bytes(data, Verify::SkipChecksums) else {
        return;
    };
    let mut needs = Needs::all();
    for all_edges in [false, true] {
        needs.cycles = Some(EdgeSet::all_if(all_edges));
        let a = match Analysis::run(&snap, needs) {
            Ok(a) => a,
            Err(e) => {
                check_error(&e);
                return;
            }
        };
        let s = a.summary();
        let dom = a.dom();
        let n = a.graph.len();
        let sr = a.graph.super_root();
        if s.shallow_bytes < u64::MAX / 4 {
            assert_eq!(
                dom.retained(sr) + s.unreachable_bytes.unwrap(),
                s.shallow_bytes,
                "reachable + unreachable != total"
            );
        }
        for v in 0..n.min(64) as NodeId {
            if dom.is_reachable(v) {
                assert!(dom.retained(v) >= a.size(v).min(u64::MAX / 4) || a.size(v) > u64::MAX / 4);
                let d = dom.idom(v);
                assert!(d == sr || dom.dominates(d, v));
                let paths = a.paths().paths_to(&a.graph, v, 3);
                assert!(!paths.is_empty() && paths.len() <= 3);
                for p in &paths {
                    assert_eq!(p.last().map(|s| s.0), Some(v));
                    assert!(a.graph.is_root(p[0].0));
                }
            } else {
                assert_eq!(dom.retained(v), 0);
                assert!(a.paths().depth(v).is_none());
            }
            let _ = heapsnap::names::describe(&snap, &a.names, v);
            let _ = heapsnap::names::root_description(&snap, &a.graph, v);
            for k in a.graph.edge_range(v).take(8) {
                let _ = heapsnap::names::edge_label(&snap, &a.graph, v, k);
            }
            let _ = a.graph.predecessors(v);
        }
        let rows = a.histogram();
        assert_eq!(rows.iter().map(|r| r.count).sum::<u64>(), n as u64);
        for g in a.cycle_groups() {
            assert!(g.cycles >= 1 && g.objects >= g.cycles && g.reachable <= g.cycles);
        }
    }
    commands(data, &snap);
}

/// The analysis commands of the CLI on `data`, written to a scratch file: each must
/// succeed or fail with one line.
fn commands(data: &[u8], snap: &Snapshot) {
    use heapsnap::cli::{Command, DumpArgs, ExportFormat, RefsFormat, TopBy};

    let path = std::env::temp_dir().join(format!("heapsnap-fuzz-{}.hsnap", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let args = |json: bool| DumpArgs {
        dump: path.clone(),
        json,
        no_verify: true,
    };
    let type_name = snap
        .types()
        .first()
        .map(|t| snap.string(u64::from(t.name)).to_owned())
        .unwrap_or_else(|| "dict".to_owned());
    let mut cmds = Vec::new();
    for json in [false, true] {
        for by in [TopBy::Count, TopBy::Size, TopBy::Retained] {
            cmds.push(Command::Top {
                args: args(json),
                by,
                limit: 5,
            });
        }
        cmds.push(Command::Dominators {
            args: args(json),
            limit: 3,
            depth: 3,
        });
        for all_edges in [false, true] {
            cmds.push(Command::Cycles {
                args: args(json),
                limit: 3,
                all_edges,
            });
        }
        for target in ["#0".to_owned(), type_name.clone()] {
            cmds.push(Command::Path {
                args: args(json),
                target,
                k: 2,
            });
        }
        for (back, format) in [(false, RefsFormat::Text), (true, RefsFormat::Dot)] {
            cmds.push(Command::Refs {
                args: args(json),
                target: "#0".to_owned(),
                back,
                depth: 2,
                max_nodes: 20,
                fanout: 4,
                format,
                output: None,
            });
        }
    }
    for format in [ExportFormat::Csv, ExportFormat::Jsonl] {
        cmds.push(Command::Export {
            args: args(false),
            format,
            output: None,
            all_edges: false,
        });
    }
    // The workflow commands: SVG and .heapsnapshot renderings, the HTML report (with
    // the dump as its own baseline), a two- and a three-dump diff, pack then unpack,
    // redact with and without names. Their files go to scratch paths.
    let scratch = |ext: &str| {
        std::env::temp_dir().join(format!("heapsnap-fuzz-{}.{ext}", std::process::id()))
    };
    cmds.push(Command::Refs {
        args: args(false),
        target: "#0".to_owned(),
        back: true,
        depth: 2,
        max_nodes: 20,
        fanout: 4,
        format: RefsFormat::Svg,
        output: None,
    });
    cmds.push(Command::Export {
        args: args(false),
        format: ExportFormat::Heapsnapshot,
        output: None,
        all_edges: false,
    });
    cmds.push(Command::Report {
        args: args(false),
        baseline: Some(path.clone()),
        output: scratch("html"),
    });
    for n in [2, 3] {
        cmds.push(Command::Diff {
            dumps: vec![path.clone(); n],
            limit: 3,
            json: n == 3,
            no_verify: true,
        });
    }
    cmds.push(Command::Pack {
        args: args(false),
        output: scratch("hsnpz"),
        level: 1,
    });
    cmds.push(Command::Unpack {
        args: DumpArgs {
            dump: scratch("hsnpz"),
            json: false,
            no_verify: true,
        },
        output: scratch("unpacked"),
    });
    for names in [false, true] {
        cmds.push(Command::Redact {
            args: args(false),
            output: scratch("redacted"),
            names,
        });
    }
    for cmd in &cmds {
        if let Err(e) = heapsnap::commands::run(cmd, &mut sink()) {
            let msg = e.to_string();
            assert!(
                !msg.contains('\n'),
                "multi-line error from {cmd:?}: {msg:?}"
            );
        }
    }
    let _ = std::fs::remove_file(&path);
    for ext in ["html", "hsnpz", "unpacked", "redacted"] {
        let _ = std::fs::remove_file(scratch(ext));
    }
}
