//! The one error type of heapsnap. Every failure (a malformed dump, an I/O error, a bad
//! writer description) is an [`Error`], and its message says what is wrong and where:
//! the section kind and file offset, the object or record index, or the path. The CLI
//! prints it as one line; the library never panics on input instead of returning one.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::format::section_name;

/// A specialized `Result` for heapsnap.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error from reading, validating, writing or reporting a snapshot.
///
/// The kind is boxed so that `Result<T, Error>` stays one pointer wide, as in rust-csv.
#[derive(Debug)]
pub struct Error(Box<Inner>);

#[derive(Debug)]
struct Inner {
    kind: ErrorKind,
    path: Option<PathBuf>,
}

/// What went wrong.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An I/O error, with what was being done (`cannot open`, `cannot read`, ...).
    Io {
        /// What was being done when it failed.
        context: &'static str,
        /// The underlying error.
        err: io::Error,
    },
    /// The input breaks a rule of the format (SPEC section 7).
    Invalid {
        /// Where in the file the problem is.
        at: Where,
        /// What is wrong there.
        msg: String,
    },
    /// A writer description (or other non-file input) is unusable.
    Input {
        /// What is wrong with it.
        msg: String,
    },
}

/// A place in a dump file, used to say where a validation error is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Where {
    /// The file as a whole (its length).
    File,
    /// The header; `offset` is the offending field's file offset.
    Header {
        /// File offset of the field.
        offset: u64,
    },
    /// The trailer; `offset` is the offending field's file offset.
    Trailer {
        /// File offset of the field.
        offset: u64,
    },
    /// Entry `entry` of the section table, at file offset `offset`.
    Table {
        /// Index of the entry in the table.
        entry: u32,
        /// Kind the entry claims.
        kind: u32,
        /// File offset of the entry.
        offset: u64,
    },
    /// A whole section.
    Section {
        /// The section's kind.
        kind: u32,
        /// File offset of the section's first byte.
        offset: u64,
    },
    /// A part of an index file (`.hsidx`, a private cache: `src/index/file.rs`): its
    /// header and table (`array` 0), or the array of kind `array`.
    Index {
        /// The array's kind, 0 for the header and table.
        array: u32,
        /// Offset in the index file (of the field, or of the array's first byte).
        offset: u64,
    },
    /// Record `index` of a section, described with a noun (`object`, `fact`, `edge`...).
    Record {
        /// What a record is called (`object`, `type`, `root`...).
        noun: &'static str,
        /// The record (or object) index.
        index: u64,
        /// The section kind holding the offending field.
        kind: u32,
    },
}

impl Error {
    /// Builds a validation error at `at`.
    pub fn invalid(at: Where, msg: impl Into<String>) -> Error {
        Error::new(ErrorKind::Invalid {
            at,
            msg: msg.into(),
        })
    }

    /// Builds an error about a writer description or other non-file input.
    pub fn input(msg: impl Into<String>) -> Error {
        Error::new(ErrorKind::Input { msg: msg.into() })
    }

    /// Builds an I/O error with what was being done.
    pub fn io(context: &'static str, err: io::Error) -> Error {
        Error::new(ErrorKind::Io { context, err })
    }

    fn new(kind: ErrorKind) -> Error {
        Error(Box::new(Inner { kind, path: None }))
    }

    /// Attaches the path of the file the error is about (shown first in the message).
    pub fn in_file(mut self, path: &Path) -> Error {
        self.0.path = Some(path.to_path_buf());
        self
    }

    /// The kind of this error.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// The path this error is about, if one was attached.
    pub fn path(&self) -> Option<&Path> {
        self.0.path.as_deref()
    }

    /// True if this is a write to a closed pipe (the CLI then exits quietly with 0).
    pub fn is_broken_pipe(&self) -> bool {
        matches!(&self.0.kind, ErrorKind::Io { err, .. } if err.kind() == io::ErrorKind::BrokenPipe)
    }
}

impl fmt::Display for Where {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Where::File => write!(f, "file"),
            Where::Header { offset } => write!(f, "header at offset {offset:#x}"),
            Where::Trailer { offset } => write!(f, "trailer at offset {offset:#x}"),
            Where::Table {
                entry,
                kind,
                offset,
            } => write!(
                f,
                "section table entry {entry} for {} (kind {kind}) at offset {offset:#x}",
                section_name(kind)
            ),
            Where::Section { kind, offset } => write!(
                f,
                "section {} (kind {kind}) at offset {offset:#x}",
                section_name(kind)
            ),
            Where::Index { array: 0, offset } => {
                write!(f, "index header at offset {offset:#x}")
            }
            Where::Index { array, offset } => {
                write!(f, "index array {array} at offset {offset:#x}")
            }
            Where::Record { noun, index, kind } => {
                write!(f, "{noun} {index} ({})", section_name(kind))
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = &self.0.path {
            write!(f, "{}: ", path.display())?;
        }
        match &self.0.kind {
            ErrorKind::Io { context, err } => write!(f, "{context}: {err}"),
            ErrorKind::Invalid {
                at: Where::File,
                msg,
            } => write!(f, "{msg}"),
            ErrorKind::Invalid { at, msg } => write!(f, "{at}: {msg}"),
            ErrorKind::Input { msg } => write!(f, "{msg}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0.kind {
            ErrorKind::Io { err, .. } => Some(err),
            _ => None,
        }
    }
}
