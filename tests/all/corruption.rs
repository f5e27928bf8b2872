//! Damaged and hostile files. Every truncation and every single-bit flip of every vector
//! must be rejected by a full open (never a panic), and must never panic without
//! checksums either. Hand-made hostile files, re-checksummed so they pass the CRCs, must
//! be rejected with a message that names the section at fault.

use heapsnap::format::{kind, SectionEntry};
use heapsnap::{Snapshot, SnapshotContent, Verify};

use crate::util::{
    build, entries, patch_entry, put_u32, put_u64, rebuild, recrc_table, section_mut, sections,
    trailer, vector_bytes, VECTORS,
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

/// The sections of a file, as `util::sections` gives them.
type Secs = Vec<(u32, Vec<u8>)>;

/// A change to the sections of a file.
type Mutation = fn(&mut Secs);

/// One rule of SPEC 7 steps 6 to 13, broken on its own in the `small` vector.
struct Rule {
    /// SPEC 7 step times 10, plus the position of the check within step 6 (60..66), so
    /// that a lower number is a check the SPEC lists earlier.
    step: u32,
    /// The section kinds the mutation touches.
    kinds: &'static [u32],
    /// True if it only overwrites values (no section changes length or appears).
    value_only: bool,
    /// True if the rule is about an unknown kind or bit: an error at minor 0 only.
    strict_only: bool,
    apply: Mutation,
    expect: &'static [&'static str],
}

fn sec(s: &mut Secs, k: u32) -> &mut Vec<u8> {
    section_mut(s, k)
}

fn rules() -> Vec<Rule> {
    use kind::*;
    let r = |step, kinds, value_only, strict_only, apply, expect| Rule {
        step,
        kinds,
        value_only,
        strict_only,
        apply,
        expect,
    };
    vec![
        // Step 6, in its listed order.
        r(60, &[TYPES], false, false, |s| s.retain(|(k, _)| *k != TYPES),
          &["required section TYPES (kind 4) is missing"]),
        r(61, &[ROOTS], false, false, |s| sec(s, ROOTS).extend_from_slice(&[0; 8]),
          &["section ROOTS (kind 13) at offset", "length 152 is not a multiple of 24"]),
        r(62, &[OBJECT_REFCOUNT], false, false, |s| sec(s, OBJECT_REFCOUNT).truncate(28),
          &["section OBJECT_REFCOUNT (kind 8)", "7 entries, but OBJECT_ADDRESS has 8 objects"]),
        r(63, &[OBJECT_EDGE_START], false, false, |s| sec(s, OBJECT_EDGE_START).truncate(64),
          &["section OBJECT_EDGE_START (kind 10)", "8 entries, expected 9 (objects + 1)"]),
        r(64, &[EDGE_LABEL], false, false, |s| sec(s, EDGE_LABEL).truncate(36),
          &["section EDGE_LABEL (kind 12)", "9 entries, but EDGE_TARGET has 10 edges"]),
        r(65, &[STRING_OFFSETS], false, false, |s| sec(s, STRING_OFFSETS).clear(),
          &["section STRING_OFFSETS (kind 2)", "empty: must hold at least one offset"]),
        r(66, &[99], false, true, |s| s.push((99, vec![0; 8])),
          &["section UNKNOWN (kind 99)", "unknown section kind 99 in a format 1.0 file"]),
        // Step 7: the string table.
        r(70, &[STRING_OFFSETS, STRING_BYTES], false, false,
          |s| {
              *sec(s, STRING_OFFSETS) = vec![0; 8];
              sec(s, STRING_BYTES).clear();
          },
          &["section STRING_OFFSETS (kind 2)", "holds no string"]),
        r(70, &[STRING_OFFSETS], true, false, |s| put_u64(sec(s, STRING_OFFSETS), 0, 1),
          &["string 0 (STRING_OFFSETS): starts at 1, not 0"]),
        r(70, &[STRING_OFFSETS], true, false, |s| put_u64(sec(s, STRING_OFFSETS), 1, 1),
          &["string 0 (STRING_OFFSETS): string 0 must be empty"]),
        r(70, &[STRING_OFFSETS], true, false, |s| put_u64(sec(s, STRING_OFFSETS), 5, 0),
          &["string 4 (STRING_OFFSETS): ends at 0, before its start"]),
        r(70, &[STRING_OFFSETS], true, false,
          |s| put_u64(sec(s, STRING_OFFSETS), 47, u64::MAX),
          &["string 46 (STRING_OFFSETS)", "past the end of STRING_BYTES"]),
        r(70, &[STRING_BYTES], false, false, |s| sec(s, STRING_BYTES).push(b'x'),
          &["string 47 (STRING_OFFSETS)", "does not equal the STRING_BYTES length"]),
        r(70, &[STRING_BYTES], true, false, |s| sec(s, STRING_BYTES)[3] = 0xC3,
          &["string 1 (STRING_BYTES): not valid UTF-8 (at byte 3 of STRING_BYTES)"]),
        // Step 8: facts (16 bytes: key u32, kind u32, value u64).
        r(80, &[FACTS], true, false, |s| put_u32(sec(s, FACTS), 0, 0),
          &["fact 0 (FACTS): key string id 0"]),
        r(80, &[FACTS], true, false, |s| put_u32(sec(s, FACTS), 0, 47),
          &["fact 0 (FACTS): key string id 47 is 0 or >= string count 47"]),
        r(80, &[FACTS], true, false, |s| put_u32(sec(s, FACTS), 4, 1),
          &["fact 1 (FACTS): key string id 1 repeats"]),
        r(80, &[FACTS], true, true, |s| put_u32(sec(s, FACTS), 1, 9),
          &["fact 0 (FACTS): unknown fact kind 9"]),
        r(80, &[FACTS], true, false, |s| put_u64(sec(s, FACTS), 1, 47),
          &["fact 0 (FACTS): string value id 47 >= string count 47"]),
        r(80, &[FACTS], true, false, |s| put_u64(sec(s, FACTS), 2 * 14 + 1, 2),
          &["fact 14 (FACTS): bool value 2 is not 0 or 1"]),
        // Step 9: types (24 bytes: address u64, name, module, flags, reserved u32).
        r(90, &[TYPES], true, false, |s| put_u32(sec(s, TYPES), 2, 47),
          &["type 0 (TYPES): name string id 47 is 0 or >= string count 47"]),
        r(90, &[TYPES], true, false, |s| put_u32(sec(s, TYPES), 3, 1000),
          &["type 0 (TYPES): module string id 1000 >= string count 47"]),
        r(90, &[TYPES], true, true, |s| put_u32(sec(s, TYPES), 4, 0x18),
          &["type 0 (TYPES): reserved flag bits set: 0x10"]),
        r(90, &[TYPES], true, false, |s| put_u32(sec(s, TYPES), 5, 1),
          &["type 0 (TYPES): reserved field is 0x1, not 0"]),
        r(90, &[TYPES], true, false, |s| put_u64(sec(s, TYPES), 3, 4096),
          &["type 1 (TYPES): address 0x1000 repeats an earlier type's address"]),
        // Step 10: objects.
        r(100, &[OBJECT_TYPE], true, false, |s| put_u32(sec(s, OBJECT_TYPE), 3, 9),
          &["object 3 (OBJECT_TYPE): type index 9 >= type count 6"]),
        r(100, &[OBJECT_FLAGS], true, true, |s| put_u32(sec(s, OBJECT_FLAGS), 0, 1 << 20),
          &["object 0 (OBJECT_FLAGS): reserved flag bits set: 0x100000"]),
        r(100, &[OBJECT_SIZE], true, false, |s| put_u32(sec(s, OBJECT_SIZE), 0, u32::MAX),
          &["object 0 (OBJECT_SIZE): size is the 0xFFFFFFFF sentinel but WIDE_SIZES has no record"]),
        r(100, &[OBJECT_EDGE_START], true, false,
          |s| put_u64(sec(s, OBJECT_EDGE_START), 0, 1),
          &["object 0 (OBJECT_EDGE_START): first edge start is 1, not 0"]),
        r(100, &[OBJECT_EDGE_START], true, false,
          |s| put_u64(sec(s, OBJECT_EDGE_START), 2, 0),
          &["object 1 (OBJECT_EDGE_START): edges end at 0 before they start at 1"]),
        r(100, &[OBJECT_EDGE_START], true, false,
          |s| put_u64(sec(s, OBJECT_EDGE_START), 8, 11),
          &["object 8 (OBJECT_EDGE_START): last edge start 11 does not equal the edge count 10"]),
        // Step 11: labels.
        r(110, &[EDGE_LABEL], true, false, |s| put_u32(sec(s, EDGE_LABEL), 0, 47),
          &["edge 0 (EDGE_LABEL): label 0x2f: string id 47 >= string count 47"]),
        r(110, &[EDGE_LABEL], true, false,
          |s| put_u32(sec(s, EDGE_LABEL), 1, 0x8000_0000 | 47),
          &["edge 1 (EDGE_LABEL): label 0x8000002f: string id 47"]),
        r(110, &[EDGE_LABEL], true, false, |s| put_u32(sec(s, EDGE_LABEL), 5, 1 << 31),
          &["object 2 (EDGE_LABEL): has POSITIONAL_EDGES but its edge 1 (edge 5)"]),
        // Step 12: roots (24 bytes: object u64, kind u32, label u32, detail u64).
        r(120, &[ROOTS], true, false, |s| put_u64(sec(s, ROOTS), 3, u64::MAX),
          &["root 1 (ROOTS): object index 18446744073709551615 >= object count 8"]),
        r(120, &[ROOTS], true, true, |s| put_u32(sec(s, ROOTS), 2, 8),
          &["root 0 (ROOTS): unknown root kind 8"]),
        r(120, &[ROOTS], true, true, |s| put_u32(sec(s, ROOTS), 2, 0),
          &["root 0 (ROOTS): unknown root kind 0"]),
        r(120, &[ROOTS], true, false, |s| put_u32(sec(s, ROOTS), 6 + 2, 4),
          &["root 1 (ROOTS): root kind 4 (refcount surplus) is derived by readers"]),
        r(120, &[ROOTS], true, false, |s| put_u32(sec(s, ROOTS), 3, 47),
          &["root 0 (ROOTS): label string id 47 >= string count 47"]),
        // Step 13: values (16 bytes: object u64, string u32, kind u16, flags u16).
        r(130, &[VALUES], true, false, |s| put_u64(sec(s, VALUES), 2, 3),
          &["value 1 (VALUES): object index 3 is not greater"]),
        r(130, &[VALUES], true, false, |s| put_u64(sec(s, VALUES), 4, 8),
          &["value 2 (VALUES): object index 8 >= object count 8"]),
        r(130, &[VALUES], true, false, |s| put_u32(sec(s, VALUES), 2, 47),
          &["value 0 (VALUES): string id 47 >= string count 47"]),
        r(130, &[VALUES], true, true, |s| put_u32(sec(s, VALUES), 3, 5),
          &["value 0 (VALUES): unknown value kind 5"]),
        r(130, &[VALUES], true, true, |s| put_u32(sec(s, VALUES), 3, 1 | (6 << 16)),
          &["value 0 (VALUES): reserved flag bits set: 0x6"]),
    ]
}

/// Asserts that `file` is rejected with the same message with and without checksums
/// (its CRCs are fresh), containing every part; returns the message.
#[track_caller]
fn rejects_same(file: &[u8], parts: &[&str]) -> String {
    let full = open_err(file, Verify::Full).expect("hostile file accepted");
    let skip = open_err(file, Verify::SkipChecksums).expect("accepted without checksums");
    assert_eq!(
        full, skip,
        "the CRCs are fresh: both modes find the same fault"
    );
    for p in parts {
        assert!(full.contains(p), "message {full:?} lacks {p:?}");
    }
    full
}

/// Every rule of SPEC 7 steps 6 to 13, broken alone, is rejected with a message that
/// names the record (or section) at fault; the rules about unknown kinds and bits hold
/// only at the reader's own minor (SPEC 6) and are ignored at a newer one.
#[test]
fn every_record_rule_of_spec_7_is_enforced() {
    let file = small();
    for (i, rule) in rules().iter().enumerate() {
        let mut s = sections(&file);
        (rule.apply)(&mut s);
        let msg = rejects_same(&build(1, 0, &s), rule.expect);
        assert_eq!(msg.lines().count(), 1, "rule {i}: {msg}");
        let newer = Snapshot::from_bytes(&build(1, 1, &s), Verify::Full);
        match (rule.strict_only, newer) {
            (true, Err(e)) => panic!("rule {i}: rejected at minor 1: {e}"),
            (false, Ok(_)) => panic!("rule {i}: accepted at minor 1"),
            _ => {}
        }
    }
    // WIDE_SIZES (4.8), on the `wide` vector (records for objects 0, 1 and 3).
    let wide = vector_bytes("wide");
    let cases: [(Mutation, &str); 4] = [
        (
            |s| {
                let b = sec(s, kind::WIDE_SIZES);
                let (r0, r1) = (b[..16].to_vec(), b[16..32].to_vec());
                b[..16].copy_from_slice(&r1);
                b[16..32].copy_from_slice(&r0);
            },
            "wide size 1 (WIDE_SIZES): object index 0 is not greater",
        ),
        (
            |s| put_u64(sec(s, kind::WIDE_SIZES), 4, 99),
            "wide size 2 (WIDE_SIZES): object index 99 >= object count 4",
        ),
        (
            |s| put_u64(sec(s, kind::WIDE_SIZES), 2, 2),
            "wide size 1 (WIDE_SIZES): object 2 has OBJECT_SIZE 4294967294, not the 0xFFFFFFFF sentinel",
        ),
        (
            |s| put_u64(sec(s, kind::WIDE_SIZES), 1, 5),
            "wide size 0 (WIDE_SIZES): size 5 is below 0xFFFFFFFF",
        ),
    ];
    for (apply, expect) in cases {
        let mut s = sections(&wide);
        apply(&mut s);
        rejects_same(&build(1, 0, &s), &[expect]);
    }
}

/// SPEC 7 lists its checks in order: a file that breaks two rules is reported for the
/// one listed first, whatever the order of the sections involved. Every pair of rules
/// on distinct sections is combined (the later one only overwrites values, so it
/// cannot change what the earlier check reads).
#[test]
fn two_broken_rules_report_the_one_spec_7_lists_first() {
    let file = small();
    let rules = rules();
    let mut pairs = 0;
    for a in &rules {
        for b in &rules {
            let disjoint = a.kinds.iter().all(|k| !b.kinds.contains(k));
            let both_shape = a.step < 70 && b.step < 70;
            if b.step <= a.step || !disjoint || !(b.value_only || both_shape) {
                continue;
            }
            let mut s = sections(&file);
            (a.apply)(&mut s);
            (b.apply)(&mut s);
            rejects_same(&build(1, 0, &s), a.expect);
            pairs += 1;
        }
    }
    assert!(pairs > 500, "only {pairs} pairs");
}

/// SPEC 7 steps 1 to 5: the rules not pinned down by `hostile_layouts` and
/// `hostile_headers`, each with the message naming the field and its offset, and the
/// order between steps.
#[test]
fn every_frame_rule_of_spec_7_is_enforced_in_order() {
    let file = small();
    let n = file.len();
    let toff = n - 32;
    // Step 3: end magic, reserved field, table offset.
    let mut bad = file.clone();
    bad[n - 1] = b'X';
    rejects(
        &bad,
        &[&format!(
            "trailer at offset {:#x}: bad end magic",
            toff + 24
        )],
    );
    let mut bad = file.clone();
    bad[n - 16] = 1;
    rejects(
        &bad,
        &[&format!(
            "trailer at offset {:#x}: reserved field is 0x1",
            toff + 16
        )],
    );
    let mut bad = file.clone();
    put_u64(&mut bad[toff..], 0, trailer(&file).table_offset + 32);
    rejects(
        &bad,
        &[&format!("trailer at offset {toff:#x}: table_offset")],
    );
    // Step 4: a gap between the last section and the table; non-zero padding.
    let last = entries(&file).len() - 1;
    rejects(
        &patch_entry(&file, last, |e| e.length -= 8),
        &["sections end at", "but the section table starts at"],
    );
    let (_, strings) = entries(&file)[index_of(&file, kind::STRING_BYTES)];
    let end = (strings.offset + strings.length) as usize;
    assert_ne!(end % 8, 0, "STRING_BYTES of `small` is followed by padding");
    let mut bad = file.clone();
    bad[end] = 1;
    rejects(
        &bad,
        &[
            "section STRING_BYTES (kind 3) at offset",
            &format!("padding byte at {end:#x} is not zero"),
        ],
    );
    // Step 5: a section CRC (Full only).
    let mut crc_bad = file.clone();
    crc_bad[strings.offset as usize] ^= 1;
    let msg = open_err(&crc_bad, Verify::Full).unwrap();
    assert!(
        msg.contains("STRING_BYTES (kind 3)") && msg.contains("CRC mismatch"),
        "{msg}"
    );

    // Order: step 2 before 3, 3 before 4, 4 before 5, 5 before 6.
    let mut bad = file.clone();
    bad[8] = 7; // major 7
    bad[n - 1] = b'X';
    rejects(&bad, &["header at offset 0x8", "major version 7"]);
    let mut bad = patch_entry(&file, 0, |e| e.reserved = 1);
    bad[n - 16] = 1;
    rejects(&bad, &["trailer at offset", "reserved"]);
    let mut bad = crc_bad.clone();
    bad[end] = 1;
    rejects(&bad, &["padding byte"]);
    let mut s = sections(&file);
    sec(&mut s, kind::ROOTS).extend_from_slice(&[0; 8]);
    let mut bad = build(1, 0, &s);
    let (_, strings) = entries(&bad)[index_of(&bad, kind::STRING_BYTES)];
    bad[strings.offset as usize] ^= 1;
    assert!(open_err(&bad, Verify::Full)
        .unwrap()
        .contains("CRC mismatch"));
    assert!(open_err(&bad, Verify::SkipChecksums)
        .unwrap()
        .contains("not a multiple of 24"));
}

/// SplitMix64: a small, seeded, reproducible generator for the mutation test.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    /// A value a hostile file would put in a count, offset, length or index field.
    fn absurd(&mut self, file_len: usize) -> u64 {
        let len = file_len as u64;
        let pool = [
            0,
            1,
            7,
            8,
            47,
            u64::from(u32::MAX) - 1,
            u64::from(u32::MAX),
            1 << 32,
            1 << 31,
            1 << 63,
            u64::MAX,
            u64::MAX - 7,
            u64::MAX / 8,
            len,
            len - 32,
            len + 8,
        ];
        if self.chance(4) {
            self.next()
        } else {
            pool[self.below(pool.len())]
        }
    }
}

/// One seeded mutation of a valid `file`, and what was done (for a failure message).
fn mutate(file: &[u8], rng: &mut Rng) -> (Vec<u8>, Vec<String>) {
    let mut did = Vec::new();
    // A newer minor reaches the "ignore what you do not know" paths (SPEC 6).
    let minor: u16 = if rng.chance(4) {
        [1, 2, u16::MAX][rng.below(3)]
    } else {
        0
    };
    let mut s = sections(file);
    let mut restructured = minor != 0;
    if rng.chance(2) {
        restructured = true;
        let i = rng.below(s.len());
        match rng.below(6) {
            0 => {
                // Absurd value in a record field (fresh CRCs: reaches steps 7-13 in Full).
                let b = &mut s[i].1;
                let v = rng.absurd(file.len());
                if b.len() >= 8 && rng.chance(2) {
                    let at = rng.below(b.len() / 8);
                    put_u64(b, at, v);
                    did.push(format!("u64 {v:#x} at record word {at} of kind {}", s[i].0));
                } else if b.len() >= 4 {
                    let at = rng.below(b.len() / 4);
                    put_u32(b, at, v as u32);
                    did.push(format!(
                        "u32 {:#x} at word {at} of kind {}",
                        v as u32, s[i].0
                    ));
                }
            }
            1 => {
                let j = rng.below(s.len());
                let (a, b) = (s[i].1.clone(), s[j].1.clone());
                s[i].1 = b;
                s[j].1 = a;
                did.push(format!("swap contents of kinds {} and {}", s[i].0, s[j].0));
            }
            2 => {
                let k = s.remove(i).0;
                did.push(format!("drop kind {k}"));
            }
            3 => {
                let cut = rng.below(s[i].1.len() + 1);
                s[i].1.truncate(cut);
                did.push(format!("truncate kind {} to {cut}", s[i].0));
            }
            4 => {
                let extra: Vec<u8> = (0..1 + rng.below(32)).map(|_| rng.next() as u8).collect();
                did.push(format!("append {} bytes to kind {}", extra.len(), s[i].0));
                s[i].1.extend_from_slice(&extra);
            }
            _ => {
                let k = [0, 16, 99, u32::MAX][rng.below(4)];
                if s.iter().all(|(x, _)| *x != k) {
                    let pos = s.iter().position(|(x, _)| *x > k).unwrap_or(s.len());
                    let len = 8 * rng.below(4);
                    s.insert(pos, (k, vec![0xA5; len]));
                    did.push(format!("insert kind {k} ({len} bytes)"));
                }
            }
        }
    }
    let mut out = if restructured {
        build(1, minor, &s)
    } else {
        file.to_vec()
    };
    if minor != 0 {
        did.push(format!("minor {minor}"));
    }
    // An absurd table field with the table CRC recomputed, so the layout checks of
    // step 4 run rather than stopping at the CRC of step 3.
    let count = trailer(&out).section_count as usize;
    if count > 0 && rng.chance(3) {
        let entry = trailer(&out).table_offset as usize + 32 * rng.below(count);
        let v = rng.absurd(out.len());
        match rng.below(5) {
            0 => put_u32(&mut out[entry..], 0, v as u32),
            1 => put_u32(&mut out[entry..], 1, v as u32),
            2 => put_u64(&mut out[entry..], 1, v),
            3 => put_u64(&mut out[entry..], 2, v),
            _ => {
                // Two entries swapped (a section swap at the table level).
                let other = trailer(&out).table_offset as usize + 32 * rng.below(count);
                let a = out[entry..entry + 32].to_vec();
                out.copy_within(other..other + 32, entry);
                out[other..other + 32].copy_from_slice(&a);
            }
        }
        recrc_table(&mut out);
        did.push(format!(
            "table field at {entry:#x} := {v:#x} (table CRC recomputed)"
        ));
    }
    // Raw damage: byte overwrites, splices, absurd trailer fields.
    let raw = if did.is_empty() { 1 } else { rng.below(3) };
    for _ in 0..raw {
        match rng.below(4) {
            0 | 1 => {
                for _ in 0..1 + rng.below(8) {
                    let at = rng.below(out.len());
                    out[at] = rng.next() as u8;
                    did.push(format!("byte at {at}"));
                }
            }
            2 => {
                let a = rng.below(out.len() + 1);
                let b = (a + rng.below(64)).min(out.len());
                let insert: Vec<u8> = if rng.chance(2) {
                    (0..rng.below(64)).map(|_| rng.next() as u8).collect()
                } else {
                    let c = rng.below(out.len());
                    out[c..(c + rng.below(64)).min(out.len())].to_vec()
                };
                did.push(format!("splice {a}..{b} := {} bytes", insert.len()));
                out.splice(a..b, insert);
            }
            _ => {
                if out.len() >= 32 {
                    let t = out.len() - 32;
                    let v = rng.absurd(out.len());
                    if rng.chance(2) {
                        put_u64(&mut out[t..], 0, v);
                        did.push(format!("table_offset := {v:#x}"));
                    } else {
                        put_u32(&mut out[t..], 2, v as u32);
                        did.push(format!("section_count := {:#x}", v as u32));
                    }
                }
            }
        }
    }
    (out, did)
}

/// Uses everything a command could use of an accepted snapshot: every accessor (also
/// with out-of-range arguments), the census, the decoded content, `info` and `decode`
/// in text and JSON, and a re-encoding that must be valid again.
fn exercise(snap: &Snapshot, bytes_len: usize) {
    use heapsnap::commands::{decode, info};
    let (n, e, s) = (snap.object_count(), snap.edge_count(), snap.string_count());
    let _ = (
        snap.version(),
        snap.file_len(),
        snap.type_count(),
        snap.is_mapped(),
    );
    for f in snap.facts() {
        let _ = snap.fact_value(f);
    }
    for key in ["pid", "rss.bytes", "python.version", "gc.enabled", ""] {
        let _ = (snap.fact(key), snap.fact_u64(key), snap.fact_str(key));
        let _ = snap.fact_bool(key);
    }
    for id in (0..s as u64 + 2).chain([u64::MAX]) {
        let _ = snap.string(id);
    }
    for i in (0..n + 2).chain([usize::MAX]) {
        let _ = (snap.shallow_size(i), snap.edge_range(i));
    }
    for k in (0..e + 2).chain([usize::MAX]) {
        let _ = snap.edge_label(k);
    }
    let _ = (
        snap.total_shallow_size(),
        snap.edge_labels(),
        heapsnap::address::Sorted::new(snap.addresses())
            .pairs()
            .len(),
    );
    let _ = (
        snap.types(),
        snap.types_of(),
        snap.sizes(),
        snap.refcounts(),
    );
    let _ = (
        snap.roots(),
        snap.values(),
        snap.wide_sizes(),
        snap.edge_targets(),
    );
    let unique = snap.check_addresses().is_ok();
    let census = heapsnap::census::census(snap);
    assert_eq!(heapsnap::census::checked_census(snap).is_ok(), unique);
    assert!(census.dangling_edges <= e as u64);
    let content = SnapshotContent::from_snapshot(snap);
    serde_json::to_vec(&content).unwrap();
    let path = std::path::Path::new("mutant.hsnap");
    match info::gather(snap, path) {
        Ok(d) => {
            assert!(unique);
            serde_json::to_vec(&d).unwrap();
            let mut text = Vec::new();
            info::write_text(&d, &mut text).unwrap();
            assert!(!text.contains(&0x1b), "raw ESC in info text");
        }
        Err(err) => assert!(!unique, "gather failed on unique addresses: {err}"),
    }
    let mut text = Vec::new();
    decode::write_text(snap, &mut text).unwrap();
    assert!(!text.contains(&0x1b), "raw ESC in decode text");
    assert!(
        text.len() < 4096 + 3000 * bytes_len,
        "decode text out of proportion"
    );
    // What was accepted decodes to content that encodes to a valid file.
    let again = content.to_bytes().unwrap();
    if let Err(err) = Snapshot::from_bytes(&again, Verify::Full) {
        panic!("re-encoded accepted content is invalid: {err}");
    }
}

/// Seeded random mutations of every vector: byte overwrites, splices, section swaps,
/// drops, truncations and insertions, absurd values in record fields (with fresh CRCs)
/// and in table fields (with the table CRC recomputed), absurd trailer fields, newer
/// minor versions. Each must give a one-line error or a snapshot that every consumer
/// can use without panicking, with and without checksums. `HEAPSNAP_MUTATIONS=N`
/// runs N per vector instead of 5000 (about 1 s for all in a debug build).
#[test]
fn seeded_mutations_never_panic() {
    let per_vector: u64 = std::env::var("HEAPSNAP_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let started = std::time::Instant::now();
    let (mut accepted, mut rejected) = (0, 0);
    for (v, name) in VECTORS.iter().enumerate() {
        let file = vector_bytes(name);
        for iter in 0..per_vector {
            let seed = 0x4853_4E41_5000_0000 ^ ((v as u64) << 32) ^ iter;
            let mut rng = Rng(seed);
            let (bad, did) = mutate(&file, &mut rng);
            let outcome = std::panic::catch_unwind(|| {
                let mut counts = (0, 0);
                for verify in [Verify::Full, Verify::SkipChecksums] {
                    match Snapshot::from_bytes(&bad, verify) {
                        Ok(snap) => {
                            exercise(&snap, bad.len());
                            counts.0 += 1;
                        }
                        Err(e) => {
                            let msg = e.to_string();
                            assert!(!msg.is_empty() && !msg.contains('\n'), "{msg:?}");
                            counts.1 += 1;
                        }
                    }
                }
                counts
            });
            match outcome {
                Ok((a, r)) => {
                    accepted += a;
                    rejected += r;
                }
                Err(p) => {
                    eprintln!("{name}: mutation {iter} (seed {seed:#x}) panicked: {did:?}");
                    std::panic::resume_unwind(p);
                }
            }
        }
    }
    eprintln!(
        "seeded mutations: {accepted} opens accepted, {rejected} rejected, in {:?}",
        started.elapsed()
    );
    if per_vector >= 5000 {
        assert!(
            accepted > 1000 && rejected > 20_000,
            "{accepted} / {rejected}"
        );
    }
}

/// Canonical form (SPEC 7 steps 6 and 11) and the zero fields of roots (step 12): an
/// optional section present but empty, an EDGE_LABEL section of zeros, a label on a
/// GC_GARBAGE root and a detail on a MODULE root are all rejected.
#[test]
fn canonical_form_and_zero_root_fields_are_enforced() {
    let file = small();
    let cases: [(Mutation, &[&str]); 4] = [
        (
            |s| sec(s, kind::VALUES).clear(),
            &[
                "section VALUES (kind 14)",
                "optional section is present but empty",
            ],
        ),
        (
            |s| sec(s, kind::EDGE_LABEL).iter_mut().for_each(|b| *b = 0),
            &["section EDGE_LABEL (kind 12)", "every label is 0"],
        ),
        // small.json: root 3 is GC_GARBAGE (kind 5); root 0 is a MODULE (kind 1).
        (
            |s| put_u32(sec(s, kind::ROOTS), (3 * 24 + 12) / 4, 1),
            &["root 3 (ROOTS)", "root kind 5 has label 1, not 0"],
        ),
        (
            |s| put_u64(sec(s, kind::ROOTS), 2, 7),
            &["root 0 (ROOTS)", "root kind 1 has detail 0x7, not 0"],
        ),
    ];
    for (apply, expect) in cases {
        let mut s = sections(&file);
        apply(&mut s);
        rejects_same(&build(1, 0, &s), expect);
    }
}
