//! Validation of an untrusted dump (SPEC section 7, steps 1 to 13, in order), producing
//! the [`Layout`] that [`crate::snapshot::Snapshot`] uses to hand out typed slices.
//! Nothing here allocates more than the file's length justifies: every count comes from
//! a section length, and the only copies are of small key columns to find duplicates.
//! Steps 1-6 (the file's frame: length, header, trailer, table, checksums, shapes) are
//! here; steps 7-13 (the records) and 14 (address uniqueness, run on demand by
//! `check_addresses`) are in `records.rs`.

mod records;

use std::mem::offset_of;

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
    /// Every section in file order, unknown kinds included: `(kind, span)`.
    pub sections: Vec<(u32, Span)>,
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

    /// The number of records in section `k` (0 if absent).
    fn entries(&self, k: u32) -> usize {
        let width = record_width(k).unwrap_or(1) as usize;
        self.spans[k as usize].map_or(0, |s| s.len / width)
    }

    /// Where section `k` starts (offset 0 if absent), for errors about it as a whole.
    fn at(&self, k: u32) -> Where {
        let offset = self.spans[k as usize].map_or(0, |s| len_u64(s.offset));
        Where::Section { kind: k, offset }
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

/// Validates `file` (SPEC 7 steps 1-13), one function per step, in order.
/// `file` must start on an 8-byte boundary.
pub(crate) fn validate(file: &[u8], verify: Verify) -> Result<Layout> {
    check_length(file)?;
    let header = check_header(file)?;
    let strict = knows_everything_in(header.minor);
    let table = check_trailer(file)?;
    let entries: &[SectionEntry] = cast(table.bytes, table.at)?;
    check_table(file, entries, table.offset, table.at)?;
    if verify == Verify::Full {
        check_checksums(file, entries)?;
    }
    let layout = check_shapes(entries, &header, strict)?;
    check_views(file, &layout)?;
    records::check_strings(file, &layout, layout.at(kind::STRING_OFFSETS))?;
    records::check_facts(file, &layout, strict)?;
    records::check_types(file, &layout, strict)?;
    records::check_objects(file, &layout, strict)?;
    records::check_labels(file, &layout)?;
    records::check_roots(file, &layout, strict)?;
    records::check_values(file, &layout, strict)?;
    Ok(layout)
}

/// Step 1: the file holds at least a header and a trailer, and is a multiple of 8 long.
fn check_length(file: &[u8]) -> Result<()> {
    let len = len_u64(file.len());
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
    Ok(())
}

/// Step 2: the header's magic, major version and reserved field.
fn check_header(file: &[u8]) -> Result<Header> {
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
            Where::Header {
                offset: len_u64(offset_of!(Header, major)),
            },
            format!(
                "unsupported format major version {} (this reader implements {FORMAT_MAJOR})",
                header.major
            ),
        ));
    }
    if header.reserved != 0 {
        return Err(Error::invalid(
            Where::Header {
                offset: len_u64(offset_of!(Header, reserved)),
            },
            format!("reserved field is {:#x}, not 0", header.reserved),
        ));
    }
    Ok(header)
}

/// The section table as step 3 found it.
struct Table<'a> {
    /// File offset of the table.
    offset: u64,
    /// The table's bytes (a whole number of entries).
    bytes: &'a [u8],
    /// The trailer, where errors about the table as a whole are reported.
    at: Where,
}

/// Step 3: the trailer's end magic, reserved field, section count and table offset, and
/// the CRC over the header and the table.
fn check_trailer(file: &[u8]) -> Result<Table<'_>> {
    let len = len_u64(file.len());
    let toff = len - TRAILER_LEN; // step 1: len >= HEADER_LEN + TRAILER_LEN
    let field = |field_offset: usize| Where::Trailer {
        offset: toff + len_u64(field_offset),
    };
    let tbytes = range(file, toff, TRAILER_LEN, field(0))?;
    let trailer: Trailer = read_pod(tbytes, field(0))?;
    if trailer.end_magic != END_MAGIC {
        return Err(Error::invalid(
            field(offset_of!(Trailer, end_magic)),
            "bad end magic (file truncated or not a heapsnap dump)",
        ));
    }
    if trailer.reserved != 0 {
        return Err(Error::invalid(
            field(offset_of!(Trailer, reserved)),
            format!("reserved field is {:#x}, not 0", trailer.reserved),
        ));
    }
    let count = u64::from(trailer.section_count);
    let max_count = (len - HEADER_LEN - TRAILER_LEN) / ENTRY_LEN;
    if count > max_count {
        return Err(Error::invalid(
            field(offset_of!(Trailer, section_count)),
            format!("section_count {count} is more than a {len}-byte file can hold ({max_count})"),
        ));
    }
    let table_len = count * ENTRY_LEN; // count <= len / 32: no overflow
    let offset = toff - table_len;
    if trailer.table_offset != offset {
        return Err(Error::invalid(
            field(offset_of!(Trailer, table_offset)),
            format!(
                "table_offset {:#x}, expected {offset:#x} (file length - 32 - 32 * section_count)",
                trailer.table_offset
            ),
        ));
    }
    let bytes = range(file, offset, table_len, field(0))?;
    let header_bytes = range(file, 0, HEADER_LEN, Where::Header { offset: 0 })?;
    let crc = table_crc(header_bytes, bytes);
    if crc != trailer.table_crc {
        return Err(Error::invalid(
            field(offset_of!(Trailer, table_crc)),
            format!(
                "header and section table CRC mismatch: stored {:#010x}, computed {crc:#010x}",
                trailer.table_crc
            ),
        ));
    }
    Ok(Table {
        offset,
        bytes,
        at: field(0),
    })
}

/// Step 4: each entry's reserved field, ascending kinds, offsets laid end to end from the
/// header (SPEC 3.3), and zero padding; the sections end where the table starts.
fn check_table(file: &[u8], entries: &[SectionEntry], table_offset: u64, at: Where) -> Result<()> {
    let mut expected = HEADER_LEN;
    let mut prev_kind: Option<u32> = None;
    for (i, e) in entries.iter().enumerate() {
        let entry = Where::Table {
            entry: u32::try_from(i).unwrap_or(u32::MAX),
            kind: e.kind,
            offset: table_offset + len_u64(i) * ENTRY_LEN,
        };
        if e.reserved != 0 {
            return Err(Error::invalid(
                entry,
                format!("reserved field is {:#x}, not 0", e.reserved),
            ));
        }
        if let Some(p) = prev_kind.filter(|&p| e.kind <= p) {
            return Err(Error::invalid(
                entry,
                format!(
                    "kind {} after kind {p}: kinds must be strictly ascending",
                    e.kind
                ),
            ));
        }
        prev_kind = Some(e.kind);
        if e.offset != expected {
            return Err(Error::invalid(
                entry,
                format!(
                    "section offset {:#x}, expected {expected:#x} (8-aligned end of the previous section)",
                    e.offset
                ),
            ));
        }
        let end = add(e.offset, e.length, entry, "section end")?;
        if end > table_offset {
            return Err(Error::invalid(
                entry,
                format!(
                    "length {} runs past the section table at {table_offset:#x}",
                    e.length
                ),
            ));
        }
        let next = align8(end).unwrap_or(u64::MAX); // end <= table offset < 2^64 - 7
        let section = section_at(e);
        let pad = range(file, end, next - end, section)?;
        if let Some(p) = pad.iter().position(|&b| b != 0) {
            return Err(Error::invalid(
                section,
                format!("padding byte at {:#x} is not zero", end + len_u64(p)),
            ));
        }
        expected = next;
    }
    if expected != table_offset {
        return Err(Error::invalid(
            at,
            format!(
                "sections end at {expected:#x} but the section table starts at {table_offset:#x}"
            ),
        ));
    }
    Ok(())
}

/// Step 5: each section's CRC (skipped for trusted input, [`Verify::SkipChecksums`]).
fn check_checksums(file: &[u8], entries: &[SectionEntry]) -> Result<()> {
    for e in entries {
        let at = section_at(e);
        let crc = crc32(range(file, e.offset, e.length, at)?);
        if crc != e.crc {
            return Err(Error::invalid(
                at,
                format!("CRC mismatch: stored {:#010x}, computed {crc:#010x}", e.crc),
            ));
        }
    }
    Ok(())
}

/// Where a table entry's section starts.
fn section_at(e: &SectionEntry) -> Where {
    Where::Section {
        kind: e.kind,
        offset: e.offset,
    }
}

/// Step 6: presence and shape, in the order SPEC 7 lists them: presence, record widths,
/// counts, then unknown kinds (an error only in a file whose minor this reader fully
/// knows, SPEC 6). Returns the layout with its spans and counts.
fn check_shapes(entries: &[SectionEntry], header: &Header, strict: bool) -> Result<Layout> {
    let mut layout = Layout {
        major: header.major,
        minor: header.minor,
        spans: [None; kind::MAX_KNOWN as usize + 1],
        sections: Vec::with_capacity(entries.len()),
        objects: 0,
        edges: 0,
        strings: 0,
        types: 0,
    };
    let mut first_unknown: Option<&SectionEntry> = None;
    for e in entries {
        let at = section_at(e);
        let span = Span {
            offset: to_usize(e.offset, at, "offset")?,
            len: to_usize(e.length, at, "length")?,
        };
        layout.sections.push((e.kind, span));
        if record_width(e.kind).is_none() {
            first_unknown = first_unknown.or(Some(e));
            continue;
        }
        layout.spans[e.kind as usize] = Some(span);
    }
    for k in 1..=kind::MAX_KNOWN {
        if is_required(k) && layout.spans[k as usize].is_none() {
            return Err(Error::invalid(
                Where::File,
                format!("required section {} (kind {k}) is missing", section_name(k)),
            ));
        }
    }
    check_widths(entries)?;
    check_counts(&layout)?;
    if let (true, Some(e)) = (strict, first_unknown) {
        return Err(Error::invalid(
            section_at(e),
            format!(
                "unknown section kind {} in a format {}.{} file (reader is {FORMAT_MAJOR}.{FORMAT_MINOR})",
                e.kind, header.major, header.minor
            ),
        ));
    }
    layout.objects = layout.entries(kind::OBJECT_ADDRESS);
    layout.edges = layout.entries(kind::EDGE_TARGET);
    layout.strings = layout.entries(kind::STRING_OFFSETS) - 1;
    layout.types = layout.entries(kind::TYPES);
    Ok(layout)
}

/// Step 6, record widths: each known section's length is a whole number of records, and
/// a known optional section is not present empty.
fn check_widths(entries: &[SectionEntry]) -> Result<()> {
    for e in entries {
        let Some(width) = record_width(e.kind) else {
            continue;
        };
        if !e.length.is_multiple_of(width) {
            return Err(Error::invalid(
                section_at(e),
                format!("length {} is not a multiple of {width}", e.length),
            ));
        }
        if e.length == 0 && !is_required(e.kind) {
            return Err(Error::invalid(
                section_at(e),
                "optional section is present but empty (a writer omits it: SPEC 4)",
            ));
        }
    }
    Ok(())
}

/// Step 6, counts: the object columns agree on `N`, OBJECT_EDGE_START has `N + 1`
/// entries, EDGE_LABEL (if present) has `E`, STRING_OFFSETS at least one.
fn check_counts(layout: &Layout) -> Result<()> {
    let n = layout.entries(kind::OBJECT_ADDRESS);
    for k in [
        kind::OBJECT_TYPE,
        kind::OBJECT_SIZE,
        kind::OBJECT_REFCOUNT,
        kind::OBJECT_FLAGS,
    ] {
        if layout.entries(k) != n {
            return Err(Error::invalid(
                layout.at(k),
                format!(
                    "{} entries, but OBJECT_ADDRESS has {n} objects",
                    layout.entries(k)
                ),
            ));
        }
    }
    let starts = layout.entries(kind::OBJECT_EDGE_START);
    if starts != n + 1 {
        return Err(Error::invalid(
            layout.at(kind::OBJECT_EDGE_START),
            format!("{starts} entries, expected {} (objects + 1)", n + 1),
        ));
    }
    let e_count = layout.entries(kind::EDGE_TARGET);
    let labels = layout.entries(kind::EDGE_LABEL);
    if layout.spans[kind::EDGE_LABEL as usize].is_some() && labels != e_count {
        return Err(Error::invalid(
            layout.at(kind::EDGE_LABEL),
            format!("{labels} entries, but EDGE_TARGET has {e_count} edges"),
        ));
    }
    if layout.entries(kind::STRING_OFFSETS) < 1 {
        return Err(Error::invalid(
            layout.at(kind::STRING_OFFSETS),
            "empty: must hold at least one offset",
        ));
    }
    Ok(())
}

/// Every known column can be viewed in place as its records (alignment holds by the
/// layout of step 4 when the file starts on an 8-byte boundary).
fn check_views(file: &[u8], layout: &Layout) -> Result<()> {
    for k in 1..=kind::MAX_KNOWN {
        let Some(w) = record_width(k) else {
            continue;
        };
        let b = layout.bytes(file, k);
        let ok = b.is_empty()
            || match w {
                1 => true,
                4 => cast::<u32>(b, layout.at(k)).is_ok(),
                _ => cast::<u64>(b, layout.at(k)).is_ok(),
            };
        if !ok {
            return Err(Error::invalid(
                layout.at(k),
                "section is not 8-byte aligned in memory",
            ));
        }
    }
    Ok(())
}
