//! Producing dump files. [`Writer`] streams sections to any `io::Write` in ascending
//! kind order, from byte or record slices and in as many chunks as the caller likes (no
//! copy of column data is made), computing each CRC on the way and appending the section
//! table and trailer on [`Writer::finish`]. [`Columns`] + [`write_columns`] lay out a
//! whole snapshot from borrowed columns, applying the SPEC's omission rules, so the
//! output is the one canonical file for that content.

use std::io::Write;

use bytemuck::Pod;

use super::{
    align8, kind, FactRecord, Header, RootRecord, SectionEntry, Trailer, TypeRecord, ValueRecord,
    WideSizeRecord, END_MAGIC, ENTRY_LEN, HEADER_LEN, MAGIC,
};
use crate::error::{Error, Result};
use crate::format::read::{len_u64, table_crc};

const ZEROS: [u8; 8] = [0; 8];

struct Open {
    kind: u32,
    offset: u64,
    length: u64,
    hasher: crc32fast::Hasher,
}

/// Streams a dump file: header, sections in ascending kind order, table, trailer.
pub struct Writer<W: Write> {
    out: W,
    header: Header,
    pos: u64,
    entries: Vec<SectionEntry>,
    open: Option<Open>,
}

impl<W: Write> Writer<W> {
    /// Starts a file with format version `major.minor`, writing the header.
    pub fn new(mut out: W, major: u16, minor: u16) -> Result<Writer<W>> {
        let header = Header {
            magic: MAGIC,
            major,
            minor,
            reserved: 0,
        };
        out.write_all(bytemuck::bytes_of(&header))
            .map_err(|e| Error::io("cannot write header", e))?;
        Ok(Writer {
            out,
            header,
            pos: HEADER_LEN,
            entries: Vec::new(),
            open: None,
        })
    }

    /// Opens a section of `kind`, which must be greater than every kind written so far.
    pub fn begin_section(&mut self, kind: u32) -> Result<()> {
        if self.open.is_some() {
            return Err(Error::input(format!(
                "writer: section kind {kind} begun while another is open"
            )));
        }
        if let Some(last) = self.entries.last() {
            if kind <= last.kind {
                return Err(Error::input(format!(
                    "writer: section kind {kind} after kind {}: kinds must ascend",
                    last.kind
                )));
            }
        }
        self.open = Some(Open {
            kind,
            offset: self.pos,
            length: 0,
            hasher: crc32fast::Hasher::new(),
        });
        Ok(())
    }

    /// Appends raw bytes to the open section.
    pub fn write_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        let open = self
            .open
            .as_mut()
            .ok_or_else(|| Error::input("writer: data written outside a section"))?;
        self.out
            .write_all(bytes)
            .map_err(|e| Error::io("cannot write section", e))?;
        open.hasher.update(bytes);
        open.length += len_u64(bytes.len());
        self.pos += len_u64(bytes.len());
        Ok(())
    }

    /// Appends records (little-endian host layout) to the open section.
    pub fn write_records<T: Pod>(&mut self, records: &[T]) -> Result<()> {
        self.write_bytes(bytemuck::cast_slice(records))
    }

    /// Closes the open section, padding the file to the next 8-byte boundary.
    pub fn end_section(&mut self) -> Result<()> {
        let open = self
            .open
            .take()
            .ok_or_else(|| Error::input("writer: end_section without begin_section"))?;
        self.pad()?;
        self.entries.push(SectionEntry {
            kind: open.kind,
            crc: open.hasher.finalize(),
            offset: open.offset,
            length: open.length,
            reserved: 0,
        });
        Ok(())
    }

    /// Writes a whole section of records in one call.
    pub fn section<T: Pod>(&mut self, kind: u32, records: &[T]) -> Result<()> {
        self.begin_section(kind)?;
        self.write_records(records)?;
        self.end_section()
    }

    fn pad(&mut self) -> Result<()> {
        let aligned = align8(self.pos).ok_or_else(|| Error::input("writer: file too large"))?;
        let n = (aligned - self.pos) as usize; // < 8
        self.out
            .write_all(&ZEROS[..n])
            .map_err(|e| Error::io("cannot write padding", e))?;
        self.pos = aligned;
        Ok(())
    }

    /// Writes the section table and trailer and returns the output.
    pub fn finish(mut self) -> Result<W> {
        if self.open.is_some() {
            return Err(Error::input("writer: finish with a section still open"));
        }
        let table: &[u8] = bytemuck::cast_slice(&self.entries);
        let count = u32::try_from(self.entries.len())
            .map_err(|_| Error::input("writer: too many sections"))?;
        let trailer = Trailer {
            table_offset: self.pos,
            section_count: count,
            table_crc: table_crc(bytemuck::bytes_of(&self.header), table),
            reserved: 0,
            end_magic: END_MAGIC,
        };
        self.out
            .write_all(table)
            .and_then(|()| self.out.write_all(bytemuck::bytes_of(&trailer)))
            .and_then(|()| self.out.flush())
            .map_err(|e| Error::io("cannot write section table", e))?;
        debug_assert_eq!(len_u64(table.len()), ENTRY_LEN * u64::from(count));
        Ok(self.out)
    }
}

/// A whole snapshot as borrowed columns, ready to be written by [`write_columns`].
///
/// The writer does not validate content (that is the reader's job); it only lays it out.
#[derive(Clone, Copy, Debug, Default)]
pub struct Columns<'a> {
    /// Format major version for the header.
    pub major: u16,
    /// Format minor version for the header.
    pub minor: u16,
    /// FACTS records.
    pub facts: &'a [FactRecord],
    /// STRING_OFFSETS (`S + 1` entries).
    pub string_offsets: &'a [u64],
    /// STRING_BYTES.
    pub string_bytes: &'a [u8],
    /// TYPES records.
    pub types: &'a [TypeRecord],
    /// OBJECT_ADDRESS.
    pub addresses: &'a [u64],
    /// OBJECT_TYPE.
    pub types_of: &'a [u32],
    /// OBJECT_SIZE (with the sentinel for wide sizes).
    pub sizes: &'a [u32],
    /// OBJECT_REFCOUNT.
    pub refcounts: &'a [u32],
    /// OBJECT_FLAGS.
    pub flags: &'a [u32],
    /// OBJECT_EDGE_START (`N + 1` entries).
    pub edge_starts: &'a [u64],
    /// EDGE_TARGET.
    pub edge_targets: &'a [u64],
    /// EDGE_LABEL; omitted from the file when empty or all zero.
    pub edge_labels: &'a [u32],
    /// ROOTS records.
    pub roots: &'a [RootRecord],
    /// VALUES records; omitted when empty.
    pub values: &'a [ValueRecord],
    /// WIDE_SIZES records; omitted when empty.
    pub wide_sizes: &'a [WideSizeRecord],
}

/// Writes `cols` as a complete dump file to `out` and returns `out`.
pub fn write_columns<W: Write>(out: W, cols: &Columns<'_>) -> Result<W> {
    let mut w = Writer::new(out, cols.major, cols.minor)?;
    w.section(kind::FACTS, cols.facts)?;
    w.section(kind::STRING_OFFSETS, cols.string_offsets)?;
    w.section(kind::STRING_BYTES, cols.string_bytes)?;
    w.section(kind::TYPES, cols.types)?;
    w.section(kind::OBJECT_ADDRESS, cols.addresses)?;
    w.section(kind::OBJECT_TYPE, cols.types_of)?;
    w.section(kind::OBJECT_SIZE, cols.sizes)?;
    w.section(kind::OBJECT_REFCOUNT, cols.refcounts)?;
    w.section(kind::OBJECT_FLAGS, cols.flags)?;
    w.section(kind::OBJECT_EDGE_START, cols.edge_starts)?;
    w.section(kind::EDGE_TARGET, cols.edge_targets)?;
    if cols.edge_labels.iter().any(|&l| l != 0) {
        w.section(kind::EDGE_LABEL, cols.edge_labels)?;
    }
    w.section(kind::ROOTS, cols.roots)?;
    if !cols.values.is_empty() {
        w.section(kind::VALUES, cols.values)?;
    }
    if !cols.wide_sizes.is_empty() {
        w.section(kind::WIDE_SIZES, cols.wide_sizes)?;
    }
    w.finish()
}
