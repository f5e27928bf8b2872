//! Validation of an untrusted dump (SPEC section 7, steps 1 to 13, in order), producing
//! the [`Layout`] that [`crate::snapshot::Snapshot`] uses to hand out typed slices.
//! Nothing here allocates more than the file's length justifies: every count comes from
//! a section length, and the only copies are of small key columns to find duplicates.
//! Steps 1-6 (the file's frame: length, header, trailer, table, checksums, shapes) are
//! here; steps 7-13 (the records) and 14 (address uniqueness, run on demand by
//! `check_addresses`) are in `records.rs`.

mod records;

pub(crate) use records::check_addresses;

use crate::error::{Error, Result, Where};
use crate::format::read::{add, cast, crc32, len_u64, range, read_pod, table_crc, to_usize};
use crate::format::{
    align8, is_required, kind, record_width, section_name, Header, SectionEntry, Trailer,
    END_MAGIC, ENTRY_LEN, FORMAT_MAJOR, FORMAT_MINOR, HEADER_LEN, MAGIC, TRAILER_LEN,
};

/// How much of SPEC section 7 to run when opening a snapshot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Verify {
    /// Every check, including each section's CRC (the default).
    #[default]
    Full,
    /// Every check except the section CRCs (step 5), for input you trust.
    SkipChecksums,
}

/// A validated section: its byte range in the file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    pub offset: usize,
    pub len: usize,
}

/// What validation learned about a file: version, section ranges and counts.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    pub major: u16,
    pub minor: u16,
    /// Indexed by section kind; `None` for an absent optional section.
    pub spans: [Option<Span>; kind::MAX_KNOWN as usize + 1],
    pub objects: usize,
    pub edges: usize,
    pub strings: usize,
    pub types: usize,
}

impl Layout {
    pub fn bytes<'a>(&self, file: &'a [u8], k: u32) -> &'a [u8] {
        match self.spans.get(k as usize).copied().flatten() {
            Some(s) => file.get(s.offset..s.offset + s.len).unwrap_or(&[]),
            None => &[],
        }
    }

    pub fn col<'a, T: bytemuck::Pod>(&self, file: &'a [u8], k: u32) -> &'a [T] {
        bytemuck::try_cast_slice(self.bytes(file, k)).unwrap_or(&[])
    }
}

/// True if a file of format minor `minor` may use only what this reader knows (SPEC 6):
/// unknown kinds and bits are then errors rather than ignored.
#[allow(clippy::absurd_extreme_comparisons)] // FORMAT_MINOR is 0 today; it will grow.
fn knows_everything_in(minor: u16) -> bool {
    minor <= FORMAT_MINOR
}

pub(crate) fn rec(noun: &'static str, index: usize, kind: u32) -> Where {
    Where::Record {
        noun,
        index: len_u64(index),
        kind,
    }
}

/// Validates `file` (SPEC 7 steps 1-13). `file` must start on an 8-byte boundary.
pub(crate) fn validate(file: &[u8], verify: Verify) -> Result<Layout> {
    let len = len_u64(file.len());
    // Step 1: length.
    let min = HEADER_LEN + TRAILER_LEN;
    if len < min {
        return Err(Error::invalid(
            Where::File,
            format!("file is {len} bytes: shorter than header + trailer ({min})"),
        ));
    }
    if !len.is_multiple_of(8) {
        return Err(Error::invalid(
            Where::File,
            format!("file is {len} bytes: not a multiple of 8"),
        ));
    }
    // Step 2: header.
    let header: Header = read_pod(file, Where::Header { offset: 0 })?;
    if header.magic != MAGIC {
        let hint = if header.magic[1..6] == MAGIC[1..6] {
            " (damaged by a text-mode or 7-bit transfer?)"
        } else {
            ": not a heapsnap dump"
        };
        return Err(Error::invalid(
            Where::Header { offset: 0 },
            format!("bad magic {:02x?}{hint}", header.magic),
        ));
    }
    if header.major != FORMAT_MAJOR {
        return Err(Error::invalid(
            Where::Header { offset: 8 },
            format!(
                "unsupported format major version {} (this reader implements {FORMAT_MAJOR})",
                header.major
            ),
        ));
    }
    if header.reserved != 0 {
        return Err(Error::invalid(
            Where::Header { offset: 12 },
            format!("reserved field is {:#x}, not 0", header.reserved),
        ));
    }
    let strict = knows_everything_in(header.minor);

    // Step 3: trailer.
    let toff = len - TRAILER_LEN;
    let tbytes = range(file, toff, TRAILER_LEN, Where::Trailer { offset: toff })?;
    let trailer: Trailer = read_pod(tbytes, Where::Trailer { offset: toff })?;
    if trailer.end_magic != END_MAGIC {
        return Err(Error::invalid(
            Where::Trailer { offset: toff + 24 },
            "bad end magic (file truncated or not a heapsnap dump)",
        ));
    }
    if trailer.reserved != 0 {
        return Err(Error::invalid(
            Where::Trailer { offset: toff + 16 },
            format!("reserved field is {:#x}, not 0", trailer.reserved),
        ));
    }
    let count = u64::from(trailer.section_count);
    let max_count = (len - min) / ENTRY_LEN;
    if count > max_count {
        return Err(Error::invalid(
            Where::Trailer { offset: toff + 8 },
            format!("section_count {count} is more than a {len}-byte file can hold ({max_count})"),
        ));
    }
    let table_len = count * ENTRY_LEN; // count <= len / 32: no overflow
    let expected_table = toff - table_len;
    if trailer.table_offset != expected_table {
        return Err(Error::invalid(
            Where::Trailer { offset: toff },
            format!(
                "table_offset {:#x}, expected {expected_table:#x} (file length - 32 - 32 * section_count)",
                trailer.table_offset
            ),
        ));
    }
    let table_bytes = range(
        file,
        expected_table,
        table_len,
        Where::Trailer { offset: toff },
    )?;
    let header_bytes = range(file, 0, HEADER_LEN, Where::Header { offset: 0 })?;
    let crc = table_crc(header_bytes, table_bytes);
    if crc != trailer.table_crc {
        return Err(Error::invalid(
            Where::Trailer { offset: toff + 12 },
            format!(
                "header and section table CRC mismatch: stored {:#010x}, computed {crc:#010x}",
                trailer.table_crc
            ),
        ));
    }

    // Step 4: table entries and layout.
    let entries: &[SectionEntry] = cast(table_bytes, Where::Trailer { offset: toff })?;
    let mut expected = HEADER_LEN;
    let mut prev_kind: Option<u32> = None;
    for (i, e) in entries.iter().enumerate() {
        let entry_off = expected_table + len_u64(i) * ENTRY_LEN;
        let at = Where::Table {
            entry: u32::try_from(i).unwrap_or(u32::MAX),
            kind: e.kind,
            offset: entry_off,
        };
        if e.reserved != 0 {
            return Err(Error::invalid(
                at,
                format!("reserved field is {:#x}, not 0", e.reserved),
            ));
        }
        if let Some(p) = prev_kind {
            if e.kind <= p {
                return Err(Error::invalid(
                    at,
                    format!(
                        "kind {} after kind {p}: kinds must be strictly ascending",
                        e.kind
                    ),
                ));
            }
        }
        prev_kind = Some(e.kind);
        if e.offset != expected {
            return Err(Error::invalid(
                at,
                format!(
                    "section offset {:#x}, expected {expected:#x} (8-aligned end of the previous section)",
                    e.offset
                ),
            ));
        }
        let end = add(e.offset, e.length, at, "section end")?;
        if end > expected_table {
            return Err(Error::invalid(
                at,
                format!(
                    "length {} runs past the section table at {expected_table:#x}",
                    e.length
                ),
            ));
        }
        let next = align8(end).unwrap_or(u64::MAX); // end <= table offset < 2^64 - 7
        let at_section = Where::Section {
            kind: e.kind,
            offset: e.offset,
        };
        let pad = range(file, end, next - end, at_section)?;
        if let Some(p) = pad.iter().position(|&b| b != 0) {
            return Err(Error::invalid(
                at_section,
                format!("padding byte at {:#x} is not zero", end + len_u64(p)),
            ));
        }
        expected = next;
    }
    if expected != expected_table {
        return Err(Error::invalid(
            Where::Trailer { offset: toff },
            format!(
                "sections end at {expected:#x} but the section table starts at {expected_table:#x}"
            ),
        ));
    }

    // Step 5: checksums.
    if verify == Verify::Full {
        for e in entries {
            let at = Where::Section {
                kind: e.kind,
                offset: e.offset,
            };
            let crc = crc32(range(file, e.offset, e.length, at)?);
            if crc != e.crc {
                return Err(Error::invalid(
                    at,
                    format!("CRC mismatch: stored {:#010x}, computed {crc:#010x}", e.crc),
                ));
            }
        }
    }

    // Step 6: presence and shape.
    let mut layout = Layout {
        major: header.major,
        minor: header.minor,
        spans: [None; kind::MAX_KNOWN as usize + 1],
        objects: 0,
        edges: 0,
        strings: 0,
        types: 0,
    };
    // In the order of SPEC 7 step 6: presence, record widths, counts, then unknown
    // kinds (an error only in a file whose minor this reader fully knows, SPEC 6).
    let mut first_unknown: Option<&SectionEntry> = None;
    for e in entries {
        if record_width(e.kind).is_none() {
            first_unknown = first_unknown.or(Some(e));
            continue;
        }
        let at = Where::Section {
            kind: e.kind,
            offset: e.offset,
        };
        layout.spans[e.kind as usize] = Some(Span {
            offset: to_usize(e.offset, at, "offset")?,
            len: to_usize(e.length, at, "length")?,
        });
    }
    for k in 1..=kind::MAX_KNOWN {
        if is_required(k) && layout.spans[k as usize].is_none() {
            return Err(Error::invalid(
                Where::File,
                format!("required section {} (kind {k}) is missing", section_name(k)),
            ));
        }
    }
    for e in entries {
        let Some(width) = record_width(e.kind) else {
            continue;
        };
        if !e.length.is_multiple_of(width) {
            return Err(Error::invalid(
                Where::Section {
                    kind: e.kind,
                    offset: e.offset,
                },
                format!("length {} is not a multiple of {width}", e.length),
            ));
        }
        if e.length == 0 && !is_required(e.kind) {
            return Err(Error::invalid(
                Where::Section {
                    kind: e.kind,
                    offset: e.offset,
                },
                "optional section is present but empty (a writer omits it: SPEC 4)",
            ));
        }
    }
    let entries_of = |k: u32| -> usize {
        let width = record_width(k).unwrap_or(1) as usize;
        layout.spans[k as usize].map_or(0, |s| s.len / width)
    };
    let sec = |k: u32| -> Where {
        let offset = layout.spans[k as usize].map_or(0, |s| len_u64(s.offset));
        Where::Section { kind: k, offset }
    };
    let n = entries_of(kind::OBJECT_ADDRESS);
    for k in [
        kind::OBJECT_TYPE,
        kind::OBJECT_SIZE,
        kind::OBJECT_REFCOUNT,
        kind::OBJECT_FLAGS,
    ] {
        if entries_of(k) != n {
            return Err(Error::invalid(
                sec(k),
                format!(
                    "{} entries, but OBJECT_ADDRESS has {n} objects",
                    entries_of(k)
                ),
            ));
        }
    }
    if entries_of(kind::OBJECT_EDGE_START) != n + 1 {
        return Err(Error::invalid(
            sec(kind::OBJECT_EDGE_START),
            format!(
                "{} entries, expected {} (objects + 1)",
                entries_of(kind::OBJECT_EDGE_START),
                n + 1
            ),
        ));
    }
    let e_count = entries_of(kind::EDGE_TARGET);
    if layout.spans[kind::EDGE_LABEL as usize].is_some() && entries_of(kind::EDGE_LABEL) != e_count
    {
        return Err(Error::invalid(
            sec(kind::EDGE_LABEL),
            format!(
                "{} entries, but EDGE_TARGET has {e_count} edges",
                entries_of(kind::EDGE_LABEL)
            ),
        ));
    }
    if entries_of(kind::STRING_OFFSETS) < 1 {
        return Err(Error::invalid(
            sec(kind::STRING_OFFSETS),
            "empty: must hold at least one offset",
        ));
    }
    if let (true, Some(e)) = (strict, first_unknown) {
        return Err(Error::invalid(
            Where::Section {
                kind: e.kind,
                offset: e.offset,
            },
            format!(
                "unknown section kind {} in a format {}.{} file (reader is {FORMAT_MAJOR}.{FORMAT_MINOR})",
                e.kind, header.major, header.minor
            ),
        ));
    }
    layout.objects = n;
    layout.edges = e_count;
    layout.strings = entries_of(kind::STRING_OFFSETS) - 1;
    layout.types = entries_of(kind::TYPES);

    // Check that every column can be viewed in place (alignment holds by layout).
    for k in 1..=kind::MAX_KNOWN {
        if let Some(w) = record_width(k) {
            let b = layout.bytes(file, k);
            let ok = b.is_empty()
                || match w {
                    1 => true,
                    4 => cast::<u32>(b, sec(k)).is_ok(),
                    _ => cast::<u64>(b, sec(k)).is_ok(),
                };
            if !ok {
                return Err(Error::invalid(
                    sec(k),
                    "section is not 8-byte aligned in memory",
                ));
            }
        }
    }

    records::check_strings(file, &layout, sec(kind::STRING_OFFSETS))?;
    records::check_facts(file, &layout, strict)?;
    records::check_types(file, &layout, strict)?;
    records::check_objects(file, &layout, strict)?;
    records::check_labels(file, &layout)?;
    records::check_roots(file, &layout, strict)?;
    records::check_values(file, &layout, strict)?;
    Ok(layout)
}
