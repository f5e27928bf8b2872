//! A validated, read-only snapshot. [`Snapshot::open`] maps the file (or reads it into an
//! 8-byte-aligned buffer when mapping is impossible), runs every check of SPEC section 7
//! (see `validate.rs`) and then hands out the columns as typed slices that point
//! into the file's bytes: no parsing, no copies.
//!
//! A packed dump (SPEC section 9, [`crate::format::packed`]) is recognised by its magic and unpacked
//! once into a cache file named by the dump's SHA-256 (`$XDG_CACHE_HOME/heapsnap/`,
//! else `~/.cache/heapsnap/`, else `heapsnap-<uid>` in the temporary directory), which
//! is then mapped like any dump; when no private cache directory can be used, it is
//! unpacked into memory.

use std::fs::File;
use std::io::Read;
use std::ops::Range;
use std::path::Path;

use std::sync::Arc;

use memmap2::Mmap;

use crate::cache::{cache_dir, create_private};
use crate::column::{Column, Mapped};
use crate::error::{Error, ErrorKind, Result};
use crate::format::packed;
use crate::format::read::len_u64;
use crate::format::{
    fact_kind, kind, FactRecord, RootRecord, TypeRecord, ValueRecord, WideSizeRecord, SIZE_SENTINEL,
};
pub use crate::validate::Verify;
use crate::validate::{check_addresses, validate, Layout};

/// The bytes of a file: a read-only map, or an owned copy in 8-byte words.
enum Data {
    Mmap(Arc<Mmap>),
    Owned { words: Vec<u64>, len: usize },
}

impl Data {
    fn bytes(&self) -> &[u8] {
        match self {
            Data::Mmap(m) => &m[..],
            Data::Owned { words, len } => {
                let all: &[u8] = bytemuck::cast_slice(words);
                &all[..*len]
            }
        }
    }

    /// Copies `bytes` into a buffer aligned to 8 bytes, so columns can be cast in place.
    fn copy_aligned(bytes: &[u8]) -> Data {
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
        Data::Owned {
            words,
            len: bytes.len(),
        }
    }
}

/// A fact's value, decoded by kind (SPEC 4.1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FactValue<'a> {
    /// Kind U64.
    U64(u64),
    /// Kind I64.
    I64(i64),
    /// Kind F64.
    F64(f64),
    /// Kind STRING, resolved to its text.
    Str(&'a str),
    /// Kind BOOL.
    Bool(bool),
}

/// A validated dump file whose columns are available as zero-copy slices.
pub struct Snapshot {
    data: Data,
    layout: Layout,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("len", &self.file_len())
            .field("objects", &self.layout.objects)
            .field("edges", &self.layout.edges)
            .finish()
    }
}

impl Snapshot {
    /// Opens and validates the dump at `path`, memory-mapping it when possible.
    ///
    /// Errors name `path`. Address uniqueness (SPEC 7 step 14) is not checked here; call
    /// [`Snapshot::check_addresses`] for it.
    pub fn open(path: &Path, verify: Verify) -> Result<Snapshot> {
        let file = File::open(path).map_err(|e| Error::io("cannot open", e).in_file(path))?;
        let file_type = file
            .metadata()
            .map_err(|e| Error::io("cannot stat", e).in_file(path))?
            .file_type();
        if !is_readable_kind(&file_type) {
            return Err(Error::input("not a regular file or a pipe").in_file(path));
        }
        let data = if file_type.is_file() {
            // SAFETY: a memory map is only sound while no one changes the file underneath
            // it. We map read-only and validate the bytes once before using them; a
            // process that modifies the file while we run could make later reads see
            // bytes that differ from the validated ones (wrong results), and one that
            // truncates it can make a read fault with SIGBUS. As in ripgrep, concurrent
            // modification or truncation of an input file by another process is outside
            // heapsnap's contract: dumps are written once, then analysed.
            match unsafe { Mmap::map(&file) } {
                Ok(m) => Data::Mmap(Arc::new(m)),
                Err(_) => read_all(file).map_err(|e| e.in_file(path))?,
            }
        } else {
            read_all(file).map_err(|e| e.in_file(path))?
        };
        let _p = crate::progress::phase("checking the dump");
        Snapshot::from_file_data(data, verify).map_err(|e| e.in_file(path))
    }

    /// Opens `path` by reading it into memory, never mapping it (the mmap fallback path).
    pub fn open_read(path: &Path, verify: Verify) -> Result<Snapshot> {
        let file = File::open(path).map_err(|e| Error::io("cannot open", e).in_file(path))?;
        let data = read_all(file).map_err(|e| e.in_file(path))?;
        Snapshot::from_file_data(data, verify).map_err(|e| e.in_file(path))
    }

    /// Validates a copy of `bytes` (copied to get 8-byte alignment). Packed bytes are
    /// unpacked in memory (no cache file).
    pub fn from_bytes(bytes: &[u8], verify: Verify) -> Result<Snapshot> {
        if packed::is_packed(bytes) {
            return Snapshot::unpack_in_memory(bytes, verify);
        }
        Snapshot::from_data(Data::copy_aligned(bytes), verify)
    }

    /// A dump, or a packed dump to unpack (through the cache) first.
    fn from_file_data(data: Data, verify: Verify) -> Result<Snapshot> {
        if packed::is_packed(data.bytes()) {
            return Snapshot::open_packed(data.bytes(), verify);
        }
        Snapshot::from_data(data, verify)
    }

    fn unpack_in_memory(bytes: &[u8], verify: Verify) -> Result<Snapshot> {
        let buf = packed::unpack(bytes, AlignedBuf::default())?;
        Snapshot::from_data(buf.into_data(), verify)
    }

    /// Unpacks `bytes` into the cache (or reuses the cached copy) and maps the result;
    /// in memory when no cache directory is usable or writing there fails.
    fn open_packed(bytes: &[u8], verify: Verify) -> Result<Snapshot> {
        let header = packed::parse_header(bytes)?;
        let Some(dir) = cache_dir() else {
            return Snapshot::unpack_in_memory(bytes, verify);
        };
        let name = format!("{}.hsnap", header.sha256_hex());
        let path = dir.join(&name);
        if let Some(snap) = Snapshot::open_cached(&path, header.dump_len, verify) {
            return Ok(snap);
        }
        let tmp = dir.join(format!(
            ".{name}.{}.{}.tmp",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        let Ok(file) = create_private(&tmp) else {
            return Snapshot::unpack_in_memory(bytes, verify);
        };
        let written = packed::unpack(bytes, std::io::BufWriter::with_capacity(1 << 20, file))
            .and_then(|w| {
                w.into_inner()
                    .map_err(|e| Error::io("cannot write", e.into_error()))
            });
        let file = match written {
            Ok(f) => f,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return match e.kind() {
                    ErrorKind::Io { .. } => Snapshot::unpack_in_memory(bytes, verify),
                    _ => Err(e),
                };
            }
        };
        drop(file);
        let snap = File::open(&tmp)
            .map_err(|e| Error::io("cannot open", e))
            // SAFETY: as in `open`; the file is ours, in a directory only we can write.
            .and_then(|f| unsafe { Mmap::map(&f) }.map_err(|e| Error::io("cannot map", e)))
            .and_then(|m| Snapshot::from_data(Data::Mmap(Arc::new(m)), verify));
        match snap {
            Ok(snap) => {
                // Another process may have renamed the same content there first: same bytes.
                let _ = std::fs::rename(&tmp, &path);
                let _ = std::fs::remove_file(&tmp);
                Ok(snap)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// The cached unpacked dump at `path` if it is a regular file of the right length
    /// that validates; a cached file that fails validation is removed.
    fn open_cached(path: &Path, len: u64, verify: Verify) -> Option<Snapshot> {
        let meta = std::fs::symlink_metadata(path).ok()?;
        if !meta.file_type().is_file() || meta.len() != len {
            return None;
        }
        let file = File::open(path).ok()?;
        // SAFETY: as in `open`; the cache directory is private to this user.
        let map = unsafe { Mmap::map(&file) }.ok()?;
        match Snapshot::from_data(Data::Mmap(Arc::new(map)), verify) {
            Ok(snap) => Some(snap),
            Err(_) => {
                let _ = std::fs::remove_file(path);
                None
            }
        }
    }

    /// The bytes of the (unpacked) dump.
    pub fn bytes(&self) -> &[u8] {
        self.data.bytes()
    }

    /// The validated dump as [`packed::pack`] takes it: its bytes, version and sections
    /// in file order (from the validated layout, unknown kinds included).
    pub fn dump(&self) -> packed::Dump<'_> {
        let bytes = self.data.bytes();
        packed::Dump {
            bytes,
            major: self.layout.major,
            minor: self.layout.minor,
            sections: self
                .layout
                .sections
                .iter()
                .map(|&(k, s)| (k, bytes.get(s.offset..s.offset + s.len).unwrap_or(&[])))
                .collect(),
        }
    }

    fn from_data(data: Data, verify: Verify) -> Result<Snapshot> {
        let layout = validate(data.bytes(), verify)?;
        let snap = Snapshot { data, layout };
        // Verifying the checksums read every page; the analyses read the columns they
        // need again. Start from an empty resident set rather than the whole file.
        snap.release_all();
        Ok(snap)
    }

    fn release_all(&self) {
        if let Data::Mmap(m) = &self.data {
            // SAFETY: as in `release`.
            let _ = unsafe { m.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
        }
    }

    /// True if the file is memory-mapped rather than read into memory.
    pub fn is_mapped(&self) -> bool {
        matches!(self.data, Data::Mmap(_))
    }

    /// The file's length in bytes.
    pub fn file_len(&self) -> u64 {
        len_u64(self.data.bytes().len())
    }

    /// The format version `(major, minor)` from the header.
    pub fn version(&self) -> (u16, u16) {
        (self.layout.major, self.layout.minor)
    }

    fn col<T: bytemuck::Pod>(&self, k: u32) -> &[T] {
        self.layout.col(self.data.bytes(), k)
    }

    /// Number of objects `N`.
    pub fn object_count(&self) -> usize {
        self.layout.objects
    }

    /// Number of edges `E`.
    pub fn edge_count(&self) -> usize {
        self.layout.edges
    }

    /// Number of strings `S` (at least 1).
    pub fn string_count(&self) -> usize {
        self.layout.strings
    }

    /// Number of types `T`.
    pub fn type_count(&self) -> usize {
        self.layout.types
    }

    /// FACTS records.
    pub fn facts(&self) -> &[FactRecord] {
        self.col(kind::FACTS)
    }

    /// TYPES records.
    pub fn types(&self) -> &[TypeRecord] {
        self.col(kind::TYPES)
    }

    /// OBJECT_ADDRESS: one address per object.
    pub fn addresses(&self) -> &[u64] {
        self.col(kind::OBJECT_ADDRESS)
    }

    /// OBJECT_TYPE: one type index per object.
    pub fn types_of(&self) -> &[u32] {
        self.col(kind::OBJECT_TYPE)
    }

    /// OBJECT_SIZE: raw u32 sizes (the sentinel marks a wide size; see [`Self::shallow_size`]).
    pub fn sizes(&self) -> &[u32] {
        self.col(kind::OBJECT_SIZE)
    }

    /// OBJECT_REFCOUNT.
    pub fn refcounts(&self) -> &[u32] {
        self.col(kind::OBJECT_REFCOUNT)
    }

    /// OBJECT_FLAGS.
    pub fn flags(&self) -> &[u32] {
        self.col(kind::OBJECT_FLAGS)
    }

    /// OBJECT_EDGE_START: `N + 1` CSR offsets into the edge columns.
    pub fn edge_starts(&self) -> &[u64] {
        self.col(kind::OBJECT_EDGE_START)
    }

    /// OBJECT_EDGE_START as a [`Column`]: a view of the mapped file (no copy) when the
    /// dump is mapped.
    pub fn edge_starts_column(&self) -> Column<u64> {
        let span = self.layout.spans[kind::OBJECT_EDGE_START as usize];
        match (&self.data, span) {
            (Data::Mmap(m), Some(span)) => {
                Mapped::new(m.clone(), span.offset, span.len / 8).map(Column::Mapped)
            }
            _ => None,
        }
        .unwrap_or_else(|| self.edge_starts().to_vec().into())
    }

    /// Lets the operating system drop this process's pages of the sections `kinds`
    /// (they stay in the page cache and are read back if touched again): the graph
    /// build reads addresses and edge targets once, and on a dump of many gigabytes they
    /// would otherwise stay in the resident set for the rest of the analysis. Does
    /// nothing when the dump is not mapped.
    pub fn release(&self, kinds: &[u32]) {
        let Data::Mmap(m) = &self.data else {
            return;
        };
        const PAGE: usize = 4096;
        for &k in kinds {
            let Some(Some(span)) = self.layout.spans.get(k as usize).copied() else {
                continue;
            };
            let start = span.offset.next_multiple_of(PAGE);
            let end = (span.offset + span.len) & !(PAGE - 1);
            if end > start {
                // SAFETY: MADV_DONTNEED on a read-only shared file mapping only drops
                // this process's page table entries; the next access reads the same
                // file bytes back from the page cache (the contents cannot change: see
                // `open`). No reference into the map is invalidated.
                let _ = unsafe {
                    m.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start)
                };
            }
        }
    }

    /// EDGE_TARGET: one target address per edge.
    pub fn edge_targets(&self) -> &[u64] {
        self.col(kind::EDGE_TARGET)
    }

    /// EDGE_LABEL, or `None` when the file has none (all labels 0).
    pub fn edge_labels(&self) -> Option<&[u32]> {
        self.layout.spans[kind::EDGE_LABEL as usize].map(|_| self.col(kind::EDGE_LABEL))
    }

    /// The label of edge `k` (0 when there is no EDGE_LABEL section or `k` is out of range).
    pub fn edge_label(&self, k: usize) -> u32 {
        self.edge_labels()
            .and_then(|l| l.get(k))
            .copied()
            .unwrap_or(0)
    }

    /// The edge index range of object `i` (empty if `i` is out of range).
    pub fn edge_range(&self, i: usize) -> Range<usize> {
        let starts = self.edge_starts();
        match (starts.get(i), i.checked_add(1).and_then(|j| starts.get(j))) {
            // Validated: starts are non-decreasing and <= E, which fits in usize.
            (Some(&a), Some(&b)) => to_index(a)..to_index(b),
            _ => 0..0,
        }
    }

    /// ROOTS records.
    pub fn roots(&self) -> &[RootRecord] {
        self.col(kind::ROOTS)
    }

    /// VALUES records (empty if absent).
    pub fn values(&self) -> &[ValueRecord] {
        self.col(kind::VALUES)
    }

    /// WIDE_SIZES records (empty if absent).
    pub fn wide_sizes(&self) -> &[WideSizeRecord] {
        self.col(kind::WIDE_SIZES)
    }

    /// String `id`, or `""` if `id` is out of range.
    pub fn string(&self, id: u64) -> &str {
        let offs: &[u64] = self.col(kind::STRING_OFFSETS);
        let bytes = self.layout.bytes(self.data.bytes(), kind::STRING_BYTES);
        let Ok(id) = usize::try_from(id) else {
            return "";
        };
        match (offs.get(id), offs.get(id.wrapping_add(1))) {
            (Some(&a), Some(&b)) => bytes
                .get(to_index(a)..to_index(b))
                .and_then(|s| std::str::from_utf8(s).ok())
                .unwrap_or(""),
            _ => "",
        }
    }

    /// The full shallow size of object `i` (0 if `i` is out of range).
    pub fn shallow_size(&self, i: usize) -> u64 {
        match self.sizes().get(i) {
            Some(&SIZE_SENTINEL) => {
                let wide = self.wide_sizes();
                match wide.binary_search_by_key(&len_u64(i), |w| w.object) {
                    Ok(j) => wide[j].size,
                    Err(_) => u64::from(SIZE_SENTINEL),
                }
            }
            Some(&s) => u64::from(s),
            None => 0,
        }
    }

    /// Sum of all shallow sizes, saturating at `u64::MAX`.
    pub fn total_shallow_size(&self) -> u64 {
        let narrow: u64 = self
            .sizes()
            .iter()
            .filter(|&&s| s != SIZE_SENTINEL)
            .fold(0u64, |acc, &s| acc.saturating_add(u64::from(s)));
        self.wide_sizes()
            .iter()
            .fold(narrow, |acc, w| acc.saturating_add(w.size))
    }

    /// Decodes a fact record's value (`None` for a kind this reader does not know).
    pub fn fact_value(&self, f: &FactRecord) -> Option<FactValue<'_>> {
        Some(match f.kind {
            fact_kind::U64 => FactValue::U64(f.value),
            fact_kind::I64 => FactValue::I64(f.value as i64),
            fact_kind::F64 => FactValue::F64(f64::from_bits(f.value)),
            fact_kind::STRING => FactValue::Str(self.string(f.value)),
            fact_kind::BOOL => FactValue::Bool(f.value != 0),
            _ => return None,
        })
    }

    /// The value of the fact whose key is `key`, if present and of a known kind.
    pub fn fact(&self, key: &str) -> Option<FactValue<'_>> {
        self.facts()
            .iter()
            .find(|f| self.string(u64::from(f.key)) == key)
            .and_then(|f| self.fact_value(f))
    }

    /// The value of U64 fact `key`, if present with that kind.
    pub fn fact_u64(&self, key: &str) -> Option<u64> {
        match self.fact(key) {
            Some(FactValue::U64(v)) => Some(v),
            _ => None,
        }
    }

    /// The value of STRING fact `key`, if present with that kind.
    pub fn fact_str(&self, key: &str) -> Option<&str> {
        match self.fact(key) {
            Some(FactValue::Str(v)) => Some(v),
            _ => None,
        }
    }

    /// The value of BOOL fact `key`, if present with that kind.
    pub fn fact_bool(&self, key: &str) -> Option<bool> {
        match self.fact(key) {
            Some(FactValue::Bool(v)) => Some(v),
            _ => None,
        }
    }

    /// SPEC 7 step 14: fails if two objects share an address. Sorts a copy of the
    /// address column (8 bytes per object).
    pub fn check_addresses(&self) -> Result<()> {
        check_addresses(self.addresses())
    }
}

/// A validated in-file offset as an index (validation guarantees it fits).
fn to_index(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// Reads a whole file or stream into an 8-byte-aligned buffer.
/// Reads a whole file or stream straight into an 8-byte-aligned buffer (no second
/// copy): memory grows with the bytes actually received, at most doubling.
fn read_all(mut file: File) -> Result<Data> {
    let mut words: Vec<u64> = Vec::new();
    let mut len = 0usize;
    loop {
        if len == words.len() * 8 {
            let grown = (words.len() * 2).max(8192);
            words.resize(grown, 0);
        }
        let buf = &mut bytemuck::cast_slice_mut::<u64, u8>(&mut words)[len..];
        match file.read(buf) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("cannot read", e)),
        }
    }
    words.truncate(len.div_ceil(8));
    words.shrink_to_fit();
    Ok(Data::Owned { words, len })
}

/// An 8-byte-aligned growable buffer that unpacking writes into.
#[derive(Default)]
struct AlignedBuf {
    words: Vec<u64>,
    len: usize,
}

impl AlignedBuf {
    fn into_data(mut self) -> Data {
        self.words.truncate(self.len.div_ceil(8));
        self.words.shrink_to_fit();
        Data::Owned {
            words: self.words,
            len: self.len,
        }
    }
}

impl std::io::Write for AlignedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let end = self.len + buf.len();
        if end > self.words.len() * 8 {
            let grown = (self.words.len() * 2).max(end.div_ceil(8)).max(1024);
            self.words.resize(grown, 0);
        }
        bytemuck::cast_slice_mut::<u64, u8>(&mut self.words)[self.len..end].copy_from_slice(buf);
        self.len = end;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Regular files and pipes can be read to their end; devices (`/dev/zero`) and
/// directories cannot be dumps.
#[cfg(unix)]
fn is_readable_kind(t: &std::fs::FileType) -> bool {
    use std::os::unix::fs::FileTypeExt;
    t.is_file() || t.is_fifo() || t.is_socket()
}

#[cfg(not(unix))]
fn is_readable_kind(t: &std::fs::FileType) -> bool {
    !t.is_dir()
}
