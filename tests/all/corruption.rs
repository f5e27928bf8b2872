//! Damaged and hostile files. Every truncation and every single-bit flip of every vector
//! must be rejected by a full open (never a panic), and must never panic without
//! checksums either. Hand-made hostile files, re-checksummed so they pass the CRCs, must
//! be rejected with a message that names the section at fault.

use heapsnap::format::{kind, SectionEntry};
use heapsnap::{Snapshot, Verify};

use crate::util::{
    build, entries, patch_entry, put_u32, put_u64, rebuild, section_mut, sections, trailer,
    vector_bytes, VECTORS,
};

/// Where a byte of a well-formed file is, for checking what the error names.
#[derive(Debug, PartialEq)]
enum Class {
    Header,
    MinorVersion,
    Section(u32),
    Padding(u32),
    Table,
    Trailer,
}

fn classify(file: &[u8], entries: &[(usize, SectionEntry)], pos: usize) -> Class {
    let t = trailer(file);
    if pos == 10 || pos == 11 {
        return Class::MinorVersion;
    }
    if pos < 16 {
        return Class::Header;
    }
    if pos >= file.len() - 32 {
        return Class::Trailer;
    }
    if pos >= t.table_offset as usize {
        return Class::Table;
    }
    for (_, e) in entries {
        let a = e.offset as usize;
        let b = a + e.length as usize;
        if (a..b).contains(&pos) {
            return Class::Section(e.kind);
        }
        if (b..(b + 7) & !7).contains(&pos) {
            return Class::Padding(e.kind);
        }
    }
    panic!("byte {pos} is in no class");
}

fn open_err(bytes: &[u8], verify: Verify) -> Option<String> {
    Snapshot::from_bytes(bytes, verify)
        .err()
        .map(|e| e.to_string())
}

#[test]
fn every_truncation_is_rejected() {
    for name in VECTORS {
        let file = vector_bytes(name);
        for len in 0..file.len() {
            let cut = &file[..len];
            assert!(
                open_err(cut, Verify::Full).is_some(),
                "{name}: truncation to {len} bytes accepted"
            );
            assert!(open_err(cut, Verify::SkipChecksums).is_some());
        }
        // Growing the file is damage too.
        let mut longer = file.clone();
        longer.extend_from_slice(&[0; 8]);
        assert!(open_err(&longer, Verify::Full).is_some());
    }
}

#[test]
fn every_bit_flip_is_rejected_and_names_its_place() {
    for name in VECTORS {
        let file = vector_bytes(name);
        let ents = entries(&file);
        let mut classes_seen = std::collections::BTreeSet::new();
        for pos in 0..file.len() {
            let class = classify(&file, &ents, pos);
            classes_seen.insert(format!("{class:?}"));
            for bit in 0..8 {
                let mut bad = file.clone();
                bad[pos] ^= 1 << bit;
                let skip = Snapshot::from_bytes(&bad, Verify::SkipChecksums);
                let full = Snapshot::from_bytes(&bad, Verify::Full);
                drop(skip);
                let msg = match full {
                    Ok(_) => panic!("{name}: flip of bit {bit} at byte {pos} ({class:?}) accepted"),
                    Err(e) => e.to_string(),
                };
                let expect = match &class {
                    Class::Header => "header".to_string(),
                    Class::Section(k) => format!("(kind {k}) at offset"),
                    Class::Padding(k) => format!("(kind {k}) at offset"),
                    Class::Table => "section table CRC mismatch".to_string(),
                    Class::Trailer => "trailer".to_string(),
                    // A reader accepts any minor of its major, so only the CRC over
                    // the header and the table (SPEC 3.2) catches this flip.
                    Class::MinorVersion => "header and section table CRC mismatch".to_string(),
                };
                assert!(
                    msg.contains(&expect),
                    "{name}: flip at byte {pos} ({class:?}): message {msg:?} lacks {expect:?}"
                );
            }
        }
        for class in ["Header", "Table", "Trailer", "MinorVersion"] {
            assert!(
                classes_seen.contains(class),
                "{name}: no byte of class {class}"
            );
        }
    }
}

/// The acceptance check at the command line: for every vector and every byte-position
/// class (header, minor version, each section, each padding run, the table, the
/// trailer), the first byte of the class flipped, and the file cut there, make `check`
/// and `info` exit with code 2 and exactly one stderr line `heapsnap: <file>: ...`.
#[test]
fn every_position_class_damaged_exits_2_at_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.hsnap");
    let mut cases = 0;
    for name in VECTORS {
        let file = vector_bytes(name);
        let ents = entries(&file);
        let mut firsts: Vec<(String, usize)> = Vec::new();
        for pos in 0..file.len() {
            let class = format!("{:?}", classify(&file, &ents, pos));
            if !firsts.iter().any(|(c, _)| *c == class) {
                firsts.push((class, pos));
            }
        }
        for (class, pos) in firsts {
            let mut flipped = file.clone();
            flipped[pos] ^= 0x10;
            for (what, bytes) in [("flip", flipped), ("cut", file[..pos].to_vec())] {
                std::fs::write(&path, &bytes).unwrap();
                for cmd in ["check", "info"] {
                    let out = assert_cmd::Command::cargo_bin("heapsnap")
                        .unwrap()
                        .args([cmd, path.to_str().unwrap()])
                        .output()
                        .unwrap();
                    let err = String::from_utf8_lossy(&out.stderr);
                    let ctx = format!("{name}: {what} at byte {pos} ({class}), {cmd}");
                    assert_eq!(out.status.code(), Some(2), "{ctx}: {err}");
                    assert!(out.stdout.is_empty(), "{ctx}: output on stdout");
                    assert_eq!(err.lines().count(), 1, "{ctx}: {err}");
                    assert!(
                        err.starts_with("heapsnap: ") && err.contains("damaged.hsnap: "),
                        "{ctx}: {err}"
                    );
                    cases += 1;
                }
            }
        }
    }
    assert!(cases > 100, "only {cases} cases");
}

fn small() -> Vec<u8> {
    vector_bytes("small")
}

/// Asserts that `file` is rejected by a full open with a message containing every part.
#[track_caller]
fn rejects(file: &[u8], parts: &[&str]) {
    let msg = open_err(file, Verify::Full).expect("hostile file accepted");
    for p in parts {
        assert!(msg.contains(p), "message {msg:?} lacks {p:?}");
    }
    // Without checksums the same structural error must be found.
    assert!(open_err(file, Verify::SkipChecksums).is_some());
}

fn index_of(file: &[u8], k: u32) -> usize {
    entries(file).iter().position(|(_, e)| e.kind == k).unwrap()
}

#[test]
fn hostile_layouts() {
    let file = small();
    // Huge section_count (the table CRC cannot even be checked).
    let mut bad = file.clone();
    let n = bad.len();
    bad[n - 24..n - 20].copy_from_slice(&u32::MAX.to_le_bytes());
    rejects(&bad, &["trailer", "section_count 4294967295"]);

    // A section overlapping the previous one, and one pointing backwards.
    let i = index_of(&file, kind::STRING_OFFSETS);
    let prev = entries(&file)[i - 1].1.offset;
    rejects(
        &patch_entry(&file, i, |e| e.offset = prev),
        &["STRING_OFFSETS (kind 2)", "expected"],
    );
    let j = index_of(&file, kind::EDGE_TARGET);
    rejects(
        &patch_entry(&file, j, |e| e.offset = 0),
        &["EDGE_TARGET (kind 11)", "section offset 0x0"],
    );
    // Absurd lengths: overflowing, and past the table.
    rejects(
        &patch_entry(&file, j, |e| e.length = u64::MAX - 3),
        &["EDGE_TARGET (kind 11)", "overflows"],
    );
    rejects(
        &patch_entry(&file, j, |e| e.length = 1 << 40),
        &["EDGE_TARGET (kind 11)", "runs past the section table"],
    );
    // Kinds out of order, and a non-zero reserved field.
    rejects(
        &patch_entry(&file, j, |e| e.kind = kind::FACTS),
        &["kinds must be strictly ascending"],
    );
    rejects(
        &patch_entry(&file, j, |e| e.reserved = 1),
        &["EDGE_TARGET (kind 11)", "reserved"],
    );
    // Too short, and not a multiple of 8.
    rejects(
        &file[..40],
        &["file is 40 bytes: shorter than header + trailer (48)"],
    );
    let mut odd = file.clone();
    odd.push(0);
    rejects(&odd, &["not a multiple of 8"]);
}

#[test]
fn hostile_headers() {
    let s = sections(&small());
    rejects(&build(2, 0, &s), &["header", "major version 2"]);
    let mut bad = build(1, 0, &s);
    bad[12] = 1;
    rejects(&bad, &["header at offset 0xc", "reserved"]);
    let mut text_mode = build(1, 0, &s);
    text_mode[0] = 0x09;
    rejects(&text_mode, &["header", "magic"]);
}

#[test]
fn hostile_sections() {
    let file = small();
    // A length that is not a multiple of the record width.
    let bad = rebuild(&file, |s| {
        section_mut(s, kind::EDGE_TARGET).extend_from_slice(&[0; 5])
    });
    rejects(
        &bad,
        &[
            "section EDGE_TARGET (kind 11) at offset",
            "not a multiple of 8",
        ],
    );
    // Non-monotonic edge starts.
    let bad = rebuild(&file, |s| {
        let b = section_mut(s, kind::OBJECT_EDGE_START);
        put_u64(b, 1, 5);
        put_u64(b, 2, 2);
    });
    rejects(&bad, &["object 1 (OBJECT_EDGE_START)", "must not decrease"]);
    // Type index out of range.
    let bad = rebuild(&file, |s| put_u32(section_mut(s, kind::OBJECT_TYPE), 3, 9));
    rejects(
        &bad,
        &["object 3 (OBJECT_TYPE): type index 9 >= type count 6"],
    );
    // Invalid UTF-8 in a string.
    let bad = rebuild(&file, |s| section_mut(s, kind::STRING_BYTES)[3] = 0xFF);
    rejects(&bad, &["STRING_BYTES", "not valid UTF-8"]);
    // Unknown section kind in a minor-0 file; ignored in a newer minor.
    let mut s = sections(&file);
    s.push((99, vec![1; 8]));
    rejects(
        &build(1, 0, &s),
        &["section UNKNOWN (kind 99)", "unknown section kind 99"],
    );
    Snapshot::from_bytes(&build(1, 1, &s), Verify::Full)
        .expect("newer minor: unknown kind ignored");
    // A missing required section.
    let mut s = sections(&file);
    s.retain(|(k, _)| *k != kind::ROOTS);
    rejects(
        &build(1, 0, &s),
        &["required section ROOTS (kind 13) is missing"],
    );
    // Object columns that disagree on N.
    let bad = rebuild(&file, |s| section_mut(s, kind::OBJECT_FLAGS).truncate(4));
    rejects(
        &bad,
        &["OBJECT_FLAGS (kind 9)", "OBJECT_ADDRESS has 8 objects"],
    );
    // Unknown flag bits: an error at minor 0, ignored at a newer minor.
    let mut s = sections(&file);
    put_u32(section_mut(&mut s, kind::OBJECT_FLAGS), 0, 1 << 20);
    rejects(
        &build(1, 0, &s),
        &["object 0 (OBJECT_FLAGS)", "reserved flag bits"],
    );
    Snapshot::from_bytes(&build(1, 3, &s), Verify::Full).expect("newer minor: flag ignored");
}

#[test]
fn hostile_records() {
    let file = small();
    // A label on a positional object (object 2 is the list; its edges are 4..7).
    let bad = rebuild(&file, |s| put_u32(section_mut(s, kind::EDGE_LABEL), 4, 7));
    rejects(&bad, &["object 2 (EDGE_LABEL)", "POSITIONAL_EDGES"]);
    // A label string id out of range.
    let bad = rebuild(&file, |s| {
        put_u32(section_mut(s, kind::EDGE_LABEL), 0, 0x8000_0fff)
    });
    rejects(&bad, &["edge 0 (EDGE_LABEL)", "string id 4095"]);
    // A root on a missing object, a value out of order, a duplicate fact key.
    let bad = rebuild(&file, |s| put_u64(section_mut(s, kind::ROOTS), 0, 8));
    rejects(
        &bad,
        &["root 0 (ROOTS)", "object index 8 >= object count 8"],
    );
    let bad = rebuild(&file, |s| put_u64(section_mut(s, kind::VALUES), 2, 3));
    rejects(&bad, &["value 1 (VALUES)", "not greater"]);
    let bad = rebuild(&file, |s| put_u32(section_mut(s, kind::FACTS), 4, 1));
    rejects(&bad, &["fact 1 (FACTS)", "repeats"]);
    // A bool fact that is neither 0 nor 1 (fact 14 is gc.enabled).
    let bad = rebuild(&file, |s| {
        put_u64(section_mut(s, kind::FACTS), 2 * 14 + 1, 2)
    });
    rejects(&bad, &["fact 14 (FACTS)", "bool value 2"]);
    // A wide size without its record.
    let wide = vector_bytes("wide");
    let mut s = sections(&wide);
    s.retain(|(k, _)| *k != kind::WIDE_SIZES);
    rejects(
        &build(1, 0, &s),
        &["object 0 (OBJECT_SIZE)", "WIDE_SIZES has no record"],
    );
    // A type whose name is string 0.
    let bad = rebuild(&file, |s| put_u32(section_mut(s, kind::TYPES), 2, 0));
    rejects(&bad, &["type 0 (TYPES)", "name string id 0"]);
    // String table offsets past the bytes.
    let bad = rebuild(&file, |s| {
        let b = section_mut(s, kind::STRING_OFFSETS);
        let last = b.len() / 8 - 1;
        put_u64(b, last, 1 << 50);
    });
    rejects(&bad, &["STRING_OFFSETS", "past the end of STRING_BYTES"]);
}

#[test]
fn duplicate_addresses_fail_check_addresses() {
    let bad = rebuild(&small(), |s| {
        let b = section_mut(s, kind::OBJECT_ADDRESS);
        let first = b[..8].to_vec();
        b[40..48].copy_from_slice(&first);
    });
    let snap = Snapshot::from_bytes(&bad, Verify::Full).expect("step 14 is deferred");
    let msg = snap.check_addresses().unwrap_err().to_string();
    assert!(msg.contains("object 5 (OBJECT_ADDRESS)"), "{msg}");
    assert!(msg.contains("object 0"), "{msg}");
}
