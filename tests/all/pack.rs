//! Packed dumps (SPEC section 9) and `heapsnap redact`: byte-identical round trips
//! (vectors, random snapshots, a dump that compresses beyond the ratio limit), the
//! analysis commands on a packed file against the plain one (through the cache),
//! hostile packed files (one line, exit 2), and redaction that leaves no secret string
//! in the file while the analyses' numbers stay the same.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use heapsnap::content::{Edge, Fact, FactData, Object, Root, SnapshotContent, Type, Value};
use heapsnap::format::packed::{self, PackedHeader, MAX_RATIO, PACKED_HEADER_LEN};
use heapsnap::format::writer::{write_columns, Columns};
use heapsnap::format::{root_kind, LABEL_KEY_BIT};
use heapsnap::{Snapshot, Verify};
use proptest::prelude::*;
use serde_json::Value as Json;

use crate::util::{update_vectors_once, vector_bytes, vector_path, VECTORS};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// Packs `dump`, which must validate (`pack` takes a validated snapshot's sections).
fn pack_at(dump: &[u8], level: i32) -> (Vec<u8>, packed::PackStats) {
    let snap = Snapshot::from_bytes(dump, Verify::Full).expect("a valid dump");
    packed::pack(&snap.dump(), level, Vec::new()).expect("pack")
}

fn pack_bytes(dump: &[u8]) -> Vec<u8> {
    pack_at(dump, 3).0
}

fn unpack_bytes(p: &[u8]) -> heapsnap::Result<Vec<u8>> {
    packed::unpack(p, Vec::new())
}

fn header(p: &[u8]) -> PackedHeader {
    bytemuck::pod_read_unaligned(&p[..PACKED_HEADER_LEN as usize])
}

fn set_header(p: &mut [u8], h: &PackedHeader) {
    p[..PACKED_HEADER_LEN as usize].copy_from_slice(bytemuck::bytes_of(h));
}

/// Runs the binary with its cache in `cache`.
fn run(cache: &Path, args: &[&str]) -> std::process::Output {
    update_vectors_once();
    Command::cargo_bin("heapsnap")
        .unwrap()
        .env("XDG_CACHE_HOME", cache)
        .args(args)
        .output()
        .unwrap()
}

fn ok(cache: &Path, args: &[&str]) -> String {
    let out = run(cache, args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    assert!(err.is_empty(), "{args:?}: stderr {err:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a command that must fail: exit 2, nothing on stdout, one stderr line.
fn fail(cache: &Path, args: &[&str]) -> String {
    let out = run(cache, args);
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(out.stdout.is_empty(), "{args:?}: stdout on error");
    assert_eq!(err.lines().count(), 1, "{args:?}: one stderr line: {err:?}");
    assert!(err.starts_with("heapsnap: "), "{err:?}");
    err
}

fn json(cache: &Path, args: &[&str]) -> Json {
    let text = ok(cache, args);
    let v: Json = serde_json::from_str(&text).unwrap();
    v["data"].clone()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------------------------------
// Random valid snapshots
// ---------------------------------------------------------------------------------------

/// A valid snapshot from a seed: clustered and scattered addresses, edges to objects and
/// dangling ones, labels, wide sizes, roots and values; duplicate addresses when `dup`.
fn random_content(n: usize, seed: u64, dup: bool) -> SnapshotContent {
    let mut x = seed | 1;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let strings: Vec<String> = ["", "pid", "dict", "builtins", "Node", "app", "k", "v", "x"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let types = vec![
        Type {
            address: 0x1001,
            name: 2,
            module: 3,
            flags: 8,
        },
        Type {
            address: 0x2001,
            name: 4,
            module: 5,
            flags: 4,
        },
    ];
    let base = rnd() & 0x7fff_ffff_0000;
    let mut addresses: Vec<u64> = (0..n as u64)
        .map(|i| match rnd() % 4 {
            0 => rnd() & !7,
            _ => base + 16 * i,
        })
        .collect();
    addresses.sort_unstable();
    addresses.dedup();
    if dup && addresses.len() > 2 {
        addresses[1] = addresses[0];
    }
    let n = addresses.len();
    let objects: Vec<Object> = (0..n)
        .map(|i| {
            let flags = (rnd() as u32) & 0x7F;
            let degree = rnd() % 5;
            let edges = (0..degree)
                .map(|_| {
                    let target = if rnd() % 6 == 0 {
                        rnd()
                    } else {
                        addresses[(rnd() as usize) % n]
                    };
                    let label = if flags & 0x20 != 0 {
                        0
                    } else {
                        match rnd() % 4 {
                            0 => 0,
                            1 => 6 | LABEL_KEY_BIT,
                            2 => LABEL_KEY_BIT,
                            _ => 1 + (rnd() % 8) as u32,
                        }
                    };
                    Edge { target, label }
                })
                .collect();
            Object {
                address: addresses[i],
                type_index: (rnd() % 2) as u32,
                size: match rnd() % 10 {
                    0 => 0xFFFF_FFFF + rnd() % 1000,
                    _ => 16 + rnd() % 500,
                },
                refcount: (rnd() % 4) as u32,
                flags,
                edges,
            }
        })
        .collect();
    let roots = (0..n.min(3))
        .map(|i| Root {
            object: i as u64,
            kind: root_kind::MODULE,
            label: 5,
            detail: 0,
        })
        .collect();
    let mut values = Vec::new();
    for i in 0..n {
        if rnd() % 3 == 0 {
            let kind = 1 + (rnd() % 4) as u16;
            values.push(Value {
                object: i as u64,
                string: 7,
                kind,
                flags: 0,
            });
        }
    }
    SnapshotContent {
        format: (1, 0),
        strings,
        facts: vec![Fact {
            key: 1,
            value: FactData::U64(seed),
        }],
        types,
        objects,
        roots,
        values,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_snapshots_pack_and_unpack_to_the_same_bytes(
        n in 0usize..60, seed in any::<u64>(), dup in any::<bool>()
    ) {
        let dump = random_content(n, seed, dup).to_bytes().unwrap();
        Snapshot::from_bytes(&dump, Verify::Full).unwrap();
        let p = pack_bytes(&dump);
        prop_assert!(packed::is_packed(&p));
        prop_assert_eq!(unpack_bytes(&p).unwrap(), dump.clone());
        // The reader opens packed bytes like a dump.
        let snap = Snapshot::from_bytes(&p, Verify::Full).unwrap();
        prop_assert_eq!(snap.bytes(), &dump[..]);
    }
}

#[test]
fn vectors_pack_and_unpack_to_the_same_bytes() {
    for name in VECTORS {
        let dump = vector_bytes(name);
        for level in [1, 19] {
            let (p, stats) = pack_at(&dump, level);
            assert_eq!(stats.packed_len, p.len() as u64);
            assert_eq!(stats.dump_len, dump.len() as u64);
            let h = header(&p);
            assert_eq!(h.dump_len, dump.len() as u64);
            assert_eq!(unpack_bytes(&p).unwrap(), dump, "{name} at level {level}");
        }
    }
}

#[test]
fn a_dump_that_compresses_beyond_the_ratio_limit_is_padded() {
    // 200,000 identical objects at a constant stride: the coded columns are constant.
    let n = 200_000usize;
    let addresses: Vec<u64> = (0..n as u64).map(|i| 0x7f00_0000_0000 + 32 * i).collect();
    let zeros = vec![0u32; n];
    let sizes = vec![32u32; n];
    let starts = vec![0u64; n + 1];
    let offsets = [0u64, 0, 4];
    let types = [heapsnap::format::TypeRecord {
        address: 0x10,
        name: 1,
        module: 0,
        flags: 0,
        reserved: 0,
    }];
    let cols = Columns {
        major: 1,
        minor: 0,
        string_offsets: &offsets,
        string_bytes: b"Leaf",
        types: &types,
        addresses: &addresses,
        types_of: &zeros,
        sizes: &sizes,
        refcounts: &zeros,
        flags: &zeros,
        edge_starts: &starts,
        ..Columns::default()
    };
    let dump = write_columns(Vec::new(), &cols).unwrap();
    Snapshot::from_bytes(&dump, Verify::Full).unwrap();
    let p = pack_bytes(&dump);
    assert!(p.len() as u64 * MAX_RATIO >= dump.len() as u64);
    // It took a skippable frame of padding to get there.
    assert!(p.windows(4).any(|w| w == 0x184D_2A50u32.to_le_bytes()));
    assert!(
        (p.len() as u64) < dump.len() as u64 / 500,
        "{} bytes",
        p.len()
    );
    assert_eq!(unpack_bytes(&p).unwrap(), dump);
}

// ---------------------------------------------------------------------------------------
// The commands on packed files
// ---------------------------------------------------------------------------------------

/// A heap with a leak, cycles, labels and previews (some of them "secrets").
fn app_content() -> SnapshotContent {
    let strings: Vec<String> = [
        "",                        // 0
        "pid",                     // 1
        "dict",                    // 2
        "builtins",                // 3
        "SecretSessionType",       // 4
        "secretapp.internal",      // 5
        "secretapp",               // 6 root label
        "secret_attribute_name",   // 7
        "secret-key@example.com",  // 8
        "str",                     // 9
        "SECRET-PREVIEW-hunter2",  // 10
        "SECRET-BYTES-\\x00\\xff", // 11
        "987654321012345",         // 12 number preview
        "SecretModuleNameValue",   // 13 NAME value
        "module",                  // 14
        "MainThreadSecretName",    // 15
        "unused-secret-string",    // 16 referenced by nothing
        "list",                    // 17
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let types = vec![
        Type {
            address: 0x100,
            name: 2,
            module: 3,
            flags: 8,
        }, // dict
        Type {
            address: 0x200,
            name: 4,
            module: 5,
            flags: 12,
        }, // SecretSessionType
        Type {
            address: 0x300,
            name: 9,
            module: 3,
            flags: 0,
        }, // str
        Type {
            address: 0x400,
            name: 14,
            module: 3,
            flags: 8,
        }, // module
        Type {
            address: 0x500,
            name: 17,
            module: 3,
            flags: 8,
        }, // list
    ];
    let a = |i: u64| 0x7f00_0000_1000 + 0x40 * i;
    let e = |t: u64, label: u32| Edge {
        target: a(t),
        label,
    };
    let mut objects = vec![
        // 0: module, 1: its dict
        Object {
            address: a(0),
            type_index: 3,
            size: 72,
            refcount: 1,
            flags: 1,
            edges: vec![e(1, 0)],
        },
        Object {
            address: a(1),
            type_index: 0,
            size: 640,
            refcount: 1,
            flags: 1,
            edges: vec![e(2, LABEL_KEY_BIT | 8), e(3, 7), e(6, LABEL_KEY_BIT | 8)],
        },
        // 2: a list of sessions
        Object {
            address: a(2),
            type_index: 4,
            size: 120,
            refcount: 1,
            flags: 0x21,
            edges: vec![e(4, 0), e(5, 0)],
        },
        // 3: a string preview, 4/5: sessions in a cycle with their strings
        Object {
            address: a(3),
            type_index: 2,
            size: 70,
            refcount: 1,
            flags: 0,
            edges: vec![],
        },
        Object {
            address: a(4),
            type_index: 1,
            size: 56,
            refcount: 2,
            flags: 1,
            edges: vec![e(5, 7), e(7, 7), e(0x100, 0)],
        },
        Object {
            address: a(5),
            type_index: 1,
            size: 56,
            refcount: 3,
            flags: 1,
            edges: vec![e(4, 7), e(8, LABEL_KEY_BIT | 8)],
        },
        Object {
            address: a(6),
            type_index: 2,
            size: 90,
            refcount: 1,
            flags: 0,
            edges: vec![],
        },
        Object {
            address: a(7),
            type_index: 2,
            size: 80,
            refcount: 1,
            flags: 0,
            edges: vec![],
        },
        Object {
            address: a(8),
            type_index: 2,
            size: 60,
            refcount: 1,
            flags: 0,
            edges: vec![],
        },
    ];
    // Garbage: a cycle no root reaches.
    objects.push(Object {
        address: a(9),
        type_index: 1,
        size: 56,
        refcount: 1,
        flags: 1,
        edges: vec![e(10, 7)],
    });
    objects.push(Object {
        address: a(10),
        type_index: 1,
        size: 56,
        refcount: 1,
        flags: 1,
        edges: vec![e(9, 7)],
    });
    SnapshotContent {
        format: (1, 0),
        strings,
        facts: vec![Fact {
            key: 1,
            value: FactData::U64(4242),
        }],
        types,
        objects,
        roots: vec![
            Root {
                object: 0,
                kind: root_kind::MODULE,
                label: 6,
                detail: 0,
            },
            Root {
                object: 2,
                kind: root_kind::THREAD,
                label: 15,
                detail: 7,
            },
        ],
        values: vec![
            Value {
                object: 0,
                string: 13,
                kind: 1,
                flags: 0,
            },
            Value {
                object: 3,
                string: 10,
                kind: 2,
                flags: 1,
            },
            Value {
                object: 6,
                string: 11,
                kind: 3,
                flags: 0,
            },
            Value {
                object: 7,
                string: 12,
                kind: 4,
                flags: 0,
            },
            Value {
                object: 8,
                string: 8,
                kind: 2,
                flags: 0,
            },
        ],
    }
}

const ANALYSES: [&[&str]; 5] = [
    &["top", "--json"],
    &["top", "--json", "--by", "count"],
    &["dominators", "--json", "--depth", "6"],
    &["cycles", "--json"],
    &["decode", "--json"],
];

#[test]
fn analyses_of_a_packed_file_match_the_plain_file_and_use_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let dump = app_content().to_bytes().unwrap();
    let plain = write(dir.path(), "app.hsnap", &dump);
    let packed_path = dir.path().join("app.hsnap.zst");
    let out = ok(
        &cache,
        &["pack", s(&plain), "-o", s(&packed_path), "--level", "3"],
    );
    assert!(out.starts_with("packed "), "{out}");
    let p = std::fs::read(&packed_path).unwrap();
    assert!(packed::is_packed(&p));
    for round in 0..2 {
        for args in ANALYSES {
            let mut a = args.to_vec();
            a.push(s(&plain));
            let want = ok(&cache, &a);
            *a.last_mut().unwrap() = s(&packed_path);
            assert_eq!(ok(&cache, &a), want, "{args:?}, round {round}");
        }
        ok(&cache, &["check", s(&packed_path)]);
        ok(&cache, &["path", s(&packed_path), "SecretSessionType"]);
    }
    // One cache file, named by the dump's SHA-256, holding the dump; no temporary left.
    let cached: Vec<_> = std::fs::read_dir(cache.join("heapsnap"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    let name = cached[0].file_name().unwrap().to_str().unwrap().to_owned();
    assert_eq!(name, format!("{}.hsnap", header(&p).sha256_hex()));
    assert_eq!(std::fs::read(&cached[0]).unwrap(), dump);
    // A damaged cache file is noticed, replaced, and the answer is the same.
    let mut bad = dump.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x40;
    std::fs::write(&cached[0], &bad).unwrap();
    let mut a = ANALYSES[0].to_vec();
    a.push(s(&plain));
    let want = ok(&cache, &a);
    *a.last_mut().unwrap() = s(&packed_path);
    assert_eq!(ok(&cache, &a), want);
    assert_eq!(std::fs::read(&cached[0]).unwrap(), dump);
    // unpack gives the same bytes back; a plain dump is not a packed one.
    let back = dir.path().join("back.hsnap");
    ok(&cache, &["unpack", s(&packed_path), "-o", s(&back)]);
    assert_eq!(std::fs::read(&back).unwrap(), dump);
    let err = fail(&cache, &["unpack", s(&plain), "-o", s(&back)]);
    assert!(err.contains("not a packed dump"), "{err}");
    // Without a usable cache directory, packed files are unpacked in memory.
    let not_a_dir = write(dir.path(), "file", b"x");
    let out = run(&not_a_dir, &["top", "--json", s(&packed_path)]);
    assert_eq!(out.status.code(), Some(0));
    *a.last_mut().unwrap() = s(&plain);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), ok(&cache, &a));
}

#[test]
fn pack_and_unpack_on_the_command_line_round_trip_the_vectors() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    for name in VECTORS {
        let plain = vector_path(name, "hsnap");
        let p = dir.path().join(format!("{name}.hsnpz"));
        let v = json(
            &cache,
            &["pack", "--json", s(&plain), "-o", s(&p), "--level", "1"],
        );
        assert_eq!(v["dump_bytes"], std::fs::read(&plain).unwrap().len());
        let back = dir.path().join(format!("{name}.back"));
        let v = json(&cache, &["unpack", "--json", s(&p), "-o", s(&back)]);
        assert_eq!(v["output"], s(&back));
        assert_eq!(
            std::fs::read(&back).unwrap(),
            std::fs::read(&plain).unwrap()
        );
    }
    let err = fail(
        &cache,
        &[
            "pack",
            s(&vector_path("small", "hsnap")),
            "-o",
            "x",
            "--level",
            "0",
        ],
    );
    assert!(err.contains("--level"), "{err}");
    // A damaged dump is not packed.
    let mut bad = vector_bytes("small");
    let n = bad.len();
    bad[n / 2] ^= 1;
    let bad = write(dir.path(), "bad.hsnap", &bad);
    let out = dir.path().join("bad.hsnpz");
    fail(&cache, &["pack", s(&bad), "-o", s(&out)]);
    assert!(!out.exists());
}

// ---------------------------------------------------------------------------------------
// Hostile packed files
// ---------------------------------------------------------------------------------------

/// Compresses `payload` as one zstd frame.
fn frame(payload: &[u8]) -> Vec<u8> {
    zstd::bulk::compress(payload, 1).unwrap()
}

fn packed_file(
    transform: u16,
    dump_len: u64,
    payload_len: u64,
    sha: [u8; 32],
    frames: &[u8],
) -> Vec<u8> {
    let h = PackedHeader {
        magic: packed::PACKED_MAGIC,
        version: 1,
        transform,
        reserved: 0,
        dump_len,
        payload_len,
        sha256: sha,
    };
    let mut v = bytemuck::bytes_of(&h).to_vec();
    v.extend_from_slice(frames);
    v
}

fn sha256(b: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(b).into()
}

#[test]
fn hostile_packed_files_fail_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let dump = vector_bytes("small");
    let good = pack_bytes(&dump);
    let mut cases: Vec<(&str, Vec<u8>, &str)> = Vec::new();

    let mut v = good.clone();
    v.truncate(v.len() - 9);
    cases.push(("truncated frame", v, "zstd frame"));
    cases.push(("header only", good[..64].to_vec(), "packed dump"));
    cases.push(("short header", good[..40].to_vec(), "shorter than"));

    let mut v = good.clone();
    let mut h = header(&v);
    h.dump_len += 8;
    set_header(&mut v, &h);
    cases.push(("lying dump length", v, "the directory describes"));

    let mut v = good.clone();
    let mut h = header(&v);
    h.payload_len -= 8;
    set_header(&mut v, &h);
    cases.push(("lying payload length", v, "packed dump"));

    let mut v = good.clone();
    let mut h = header(&v);
    h.dump_len = (v.len() as u64 + 8) * MAX_RATIO;
    set_header(&mut v, &h);
    cases.push(("ratio over the limit", v, "more than 1024 times"));

    let mut v = good.clone();
    let mut h = header(&v);
    h.sha256[0] ^= 1;
    set_header(&mut v, &h);
    cases.push(("forged checksum", v, "SHA-256"));

    let mut v = good.clone();
    let mid = 64 + (v.len() - 64) / 2;
    v[mid] ^= 0x10;
    cases.push(("damaged frame", v, "packed dump"));

    let mut v = good.clone();
    v.extend_from_slice(&frame(b"trailing"));
    cases.push(("a second frame", v, "more than"));

    let mut v = good.clone();
    v.extend_from_slice(b"garbage!");
    cases.push(("trailing garbage", v, "zstd frame"));

    let mut v = good.clone();
    v[8] = 2;
    cases.push(("unknown version", v, "version 2"));

    let mut v = good.clone();
    v[10] = 7;
    cases.push(("unknown transform", v, "transform 7"));

    let mut v = good.clone();
    v[5] = b'X';
    cases.push(("wrong magic", v, "")); // then it is read as a (broken) plain dump

    // A zip bomb: 256 MiB of zeros in a few KiB, claimed as a small dump (the reader
    // stops after the claimed length) and as itself (over the ratio limit).
    let bomb = {
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..256 {
            std::io::Write::write_all(&mut enc, &chunk).unwrap();
        }
        enc.finish().unwrap()
    };
    assert!(bomb.len() < 64 << 10, "{}", bomb.len());
    let claimed = (bomb.len() as u64 + 64) * MAX_RATIO / 8 * 8;
    cases.push((
        "zip bomb, claimed small",
        packed_file(0, claimed, claimed, [0; 32], &bomb),
        "more than",
    ));
    cases.push((
        "zip bomb, claimed whole",
        packed_file(0, 256 << 20, 256 << 20, [0; 32], &bomb),
        "more than 1024 times",
    ));

    // Transform NONE with the dump itself works; with its SHA wrong it does not.
    let none = packed_file(
        0,
        dump.len() as u64,
        dump.len() as u64,
        sha256(&dump),
        &frame(&dump),
    );
    assert_eq!(unpack_bytes(&none).unwrap(), dump);
    cases.push((
        "transform 0, wrong SHA",
        packed_file(
            0,
            dump.len() as u64,
            dump.len() as u64,
            [7; 32],
            &frame(&dump),
        ),
        "SHA-256",
    ));

    // Forged payloads of transform COLUMNS.
    let dir_entry = |kind: u32, coding: u32, length: u64, coded: u64| {
        let mut b = Vec::new();
        b.extend_from_slice(&kind.to_le_bytes());
        b.extend_from_slice(&coding.to_le_bytes());
        b.extend_from_slice(&length.to_le_bytes());
        b.extend_from_slice(&coded.to_le_bytes());
        b
    };
    let columns = |count: u32, dir: &[Vec<u8>], bodies: &[u8], dump_len: u64| {
        let mut pl = vec![1, 0, 0, 0];
        pl.extend_from_slice(&count.to_le_bytes());
        for d in dir {
            pl.extend_from_slice(d);
        }
        pl.extend_from_slice(bodies);
        packed_file(1, dump_len, pl.len() as u64, [0; 32], &frame(&pl))
    };
    cases.push((
        "too many sections",
        columns(1 << 30, &[], &[], 4096),
        "sections cannot fit",
    ));
    cases.push((
        "descending kinds",
        columns(
            2,
            &[dir_entry(5, 0, 8, 8), dir_entry(3, 0, 8, 8)],
            &[0; 16],
            16 + 16 + 64 + 32,
        ),
        "kinds must ascend",
    ));
    cases.push((
        "coding not allowed",
        columns(1, &[dir_entry(3, 2, 8, 8)], &[0; 8], 16 + 8 + 32 + 32),
        "coding not allowed",
    ));
    cases.push((
        "targets without objects",
        columns(1, &[dir_entry(11, 3, 8, 8)], &[0; 8], 16 + 8 + 32 + 32),
        "needs OBJECT_ADDRESS",
    ));
    // One object with one edge whose code names object 5.
    let mut bodies = Vec::new();
    bodies.extend_from_slice(&0x1000u64.to_le_bytes()); // OBJECT_ADDRESS
    bodies.extend_from_slice(&[0u8; 16]); // OBJECT_EDGE_START, delta: 0 then +1 (zigzag 2)
    bodies[8 + 1] = 2; // plane 0 of the second start
    bodies.extend_from_slice(&(1 + 2 * 5u64).to_le_bytes()); // EDGE_TARGET code
    cases.push((
        "target out of range",
        columns(
            3,
            &[
                dir_entry(5, 0, 8, 8),
                dir_entry(10, 2, 16, 16),
                dir_entry(11, 3, 8, 8),
            ],
            &bodies,
            16 + 8 + 16 + 8 + 3 * 32 + 32,
        ),
        "names no object",
    ));

    for (what, bytes, msg) in &cases {
        let path = write(dir.path(), "hostile.hsnpz", bytes);
        assert!(
            unpack_bytes(bytes).is_err() || *what == "wrong magic",
            "{what}"
        );
        for cmd in ["check", "top"] {
            let err = fail(&cache, &[cmd, s(&path)]);
            assert!(err.contains(msg), "{what}: {err}");
        }
        let err = fail(
            &cache,
            &["unpack", s(&path), "-o", s(&dir.path().join("out"))],
        );
        assert!(
            !dir.path().join("out").exists(),
            "{what}: output left behind"
        );
        if *what != "wrong magic" {
            assert!(err.contains(msg), "{what}: {err}");
        }
    }
    // Nothing hostile reached the cache.
    let left: Vec<_> = std::fs::read_dir(cache.join("heapsnap"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

// ---------------------------------------------------------------------------------------
// redact
// ---------------------------------------------------------------------------------------

/// `data` with every string field named in `keys` removed, recursively.
fn strip(v: &Json, keys: &[&str]) -> Json {
    match v {
        Json::Object(m) => Json::Object(
            m.iter()
                .filter(|(k, _)| !keys.contains(&k.as_str()))
                .map(|(k, x)| (k.clone(), strip(x, keys)))
                .collect(),
        ),
        Json::Array(a) => Json::Array(a.iter().map(|x| strip(x, keys)).collect()),
        x => x.clone(),
    }
}

/// The rows of `top` without names, in a name-independent order.
fn top_numbers(v: &Json) -> Vec<String> {
    let mut rows: Vec<String> = v["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| strip(t, &["type"]).to_string())
        .collect();
    rows.sort();
    rows
}

#[test]
fn redact_removes_previews_and_with_names_every_name() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let content = app_content();
    let plain = write(dir.path(), "app.hsnap", &content.to_bytes().unwrap());
    let previews: Vec<&str> = content
        .values
        .iter()
        .filter(|v| v.kind != 1)
        .map(|v| content.strings[v.string as usize].as_str())
        .collect();
    let names = [
        "SecretSessionType",
        "secretapp",
        "secret_attribute_name",
        "SecretModuleNameValue",
        "MainThreadSecretName",
    ];

    let red = dir.path().join("red.hsnap");
    let v = json(&cache, &["redact", "--json", s(&plain), "-o", s(&red)]);
    assert_eq!(v["previews_removed"], 4);
    let bytes = std::fs::read(&red).unwrap();
    Snapshot::from_bytes(&bytes, Verify::Full)
        .unwrap()
        .check_addresses()
        .unwrap();
    // Without --names, edge labels stay: a preview that is also a dict key stays too.
    let labels: Vec<&str> = content
        .objects
        .iter()
        .flat_map(|o| &o.edges)
        .filter(|e| e.label != 0)
        .map(|e| content.strings[(e.label & !LABEL_KEY_BIT) as usize].as_str())
        .collect();
    let only_previews = previews.iter().filter(|p| !labels.contains(p));
    assert_eq!(only_previews.clone().count(), 3);
    for p in only_previews.chain(["unused-secret-string"].iter()) {
        assert!(
            !contains(&bytes, p.as_bytes()),
            "preview {p:?} left in the file"
        );
    }
    for n in names {
        assert!(
            contains(&bytes, n.as_bytes()),
            "name {n:?} kept without --names"
        );
    }
    for args in ANALYSES.iter().take(4) {
        let mut a = args.to_vec();
        a.push(s(&plain));
        let want = strip(&json(&cache, &a), &["value"]);
        *a.last_mut().unwrap() = s(&red);
        assert_eq!(strip(&json(&cache, &a), &["value"]), want, "{args:?}");
    }

    let red = dir.path().join("red-names.hsnap");
    ok(&cache, &["redact", s(&plain), "-o", s(&red), "--names"]);
    let bytes = std::fs::read(&red).unwrap();
    let snap = Snapshot::from_bytes(&bytes, Verify::Full).unwrap();
    for p in previews
        .iter()
        .chain(names.iter())
        .chain(["secretapp.internal", "unused-secret-string"].iter())
    {
        assert!(!contains(&bytes, p.as_bytes()), "{p:?} left in the file");
    }
    // "secret-key@example.com" was a key label and a preview: gone too.
    assert!(!contains(&bytes, b"secret-key"));
    // The interpreter's own type names stay (analyses rely on them); the rest are
    // placeholders; the graph is the same.
    let decoded = SnapshotContent::from_snapshot(&snap);
    let type_names: Vec<&str> = decoded
        .types
        .iter()
        .map(|t| decoded.strings[t.name as usize].as_str())
        .collect();
    assert_eq!(type_names, ["dict", "type_1", "str", "module", "list"]);
    for (a, b) in decoded.objects.iter().zip(&content.objects) {
        assert_eq!(
            (a.address, a.type_index, a.size, a.refcount, a.flags),
            (b.address, b.type_index, b.size, b.refcount, b.flags)
        );
        let ta: Vec<u64> = a.edges.iter().map(|e| e.target).collect();
        let tb: Vec<u64> = b.edges.iter().map(|e| e.target).collect();
        assert_eq!(ta, tb);
        // Same label kinds, the same placeholder for the same string.
        for (x, y) in a.edges.iter().zip(&b.edges) {
            assert_eq!(x.label & LABEL_KEY_BIT, y.label & LABEL_KEY_BIT);
            assert_eq!(x.label == 0, y.label == 0);
        }
    }
    assert_eq!(decoded.objects.len(), content.objects.len());
    let label = |c: &SnapshotContent, i: usize, k: usize| {
        c.strings[(c.objects[i].edges[k].label & !LABEL_KEY_BIT) as usize].clone()
    };
    assert_eq!(label(&decoded, 1, 0), label(&decoded, 1, 2));
    assert!(label(&decoded, 1, 0).starts_with("key_"));
    assert!(label(&decoded, 1, 1).starts_with("attr_"));
    let roots: Vec<(u64, u32, u64)> = decoded
        .roots
        .iter()
        .map(|r| (r.object, r.kind, r.detail))
        .collect();
    assert_eq!(
        roots,
        [(0, root_kind::MODULE, 0), (2, root_kind::THREAD, 7)]
    );
    assert_eq!(decoded.values.len(), 1);
    assert_eq!(decoded.strings[decoded.values[0].string as usize], "name_1");

    let mut a = vec!["top", "--json"];
    a.push(s(&plain));
    let want = top_numbers(&json(&cache, &a));
    *a.last_mut().unwrap() = s(&red);
    assert_eq!(top_numbers(&json(&cache, &a)), want);
    let mut a = vec!["dominators", "--json", "--depth", "6"];
    a.push(s(&plain));
    let want = strip(&json(&cache, &a), &["value", "type", "root"]);
    *a.last_mut().unwrap() = s(&red);
    assert_eq!(strip(&json(&cache, &a), &["value", "type", "root"]), want);

    // Packed input works too; a newer minor version is refused.
    let p = dir.path().join("app.hsnpz");
    ok(&cache, &["pack", s(&plain), "-o", s(&p), "--level", "1"]);
    let red2 = dir.path().join("red2.hsnap");
    ok(&cache, &["redact", s(&p), "-o", s(&red2), "--names"]);
    assert_eq!(std::fs::read(&red2).unwrap(), bytes);
    let mut newer = content.clone();
    newer.format = (1, 1);
    let newer_path = write(dir.path(), "newer.hsnap", &newer.to_bytes().unwrap());
    let err = fail(
        &cache,
        &[
            "redact",
            s(&newer_path),
            "-o",
            s(&dir.path().join("n.hsnap")),
        ],
    );
    assert!(err.contains("newer"), "{err}");
}
