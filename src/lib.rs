//! heapsnap: read, validate and analyze heap snapshots of Python processes.
//!
//! Data flows one way, and each layer names only the layers below it (checked by
//! `tests/all/layers.rs`): bytes ([`mod@format`], read through [`error`]'s checked
//! helpers) -> validated [`snapshot::Snapshot`] -> [`graph::Graph`] -> [`analysis`]
//! (stored by [`index`]) -> [`report`] renderers -> [`commands`] -> the binary, which
//! parses [`cli`]. Leaves any layer may use: [`address`] (the one address -> object
//! resolver), [`mod@escape`] (output escaping), [`memory`], [`progress`], [`cache`]. The
//! file format is specified in `format/SPEC.md`.

#[cfg(target_endian = "big")]
compile_error!(
    "heapsnap casts little-endian file bytes in place and supports only little-endian hosts"
);

pub mod address;
pub mod analysis;
pub mod attach;
pub mod cache;
pub mod census;
pub mod cli;
pub mod column;
pub mod commands;
pub mod content;
pub mod error;
pub mod escape;
pub mod format;
pub mod graph;
pub mod index;
pub mod memory;
pub mod names;
pub mod output;
pub mod progress;
pub mod query;
pub mod report;
pub mod snapshot;
pub mod synth;
mod validate;

pub use content::SnapshotContent;
pub use error::{Error, ErrorKind, Result, Where};
pub use snapshot::{Snapshot, Verify};
