//! heapsnap: read, validate and analyze heap snapshots of Python processes.
//!
//! Data flows one way: bytes ([`mod@format`]) -> validated [`snapshot::Snapshot`] ->
//! [`graph::Graph`] -> [`analysis`] -> [`commands`] -> [`report`] -> CLI. The file format is specified in `format/SPEC.md`.

#[cfg(target_endian = "big")]
compile_error!(
    "heapsnap casts little-endian file bytes in place and supports only little-endian hosts"
);

pub mod analysis;
pub mod attach;
pub mod cache;
pub mod census;
pub mod cli;
pub mod column;
pub mod commands;
pub mod content;
pub mod error;
pub mod format;
pub mod graph;
pub mod index;
pub mod memory;
pub mod names;
pub mod progress;
pub mod report;
pub mod snapshot;
pub mod synth;
mod validate;

pub use content::SnapshotContent;
pub use error::{Error, ErrorKind, Result, Where};
pub use snapshot::{Snapshot, Verify};
