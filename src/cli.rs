//! Command-line definitions (clap derive). Parsing only: what each command does is in
//! [`crate::commands`].

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Analyze heap snapshots of Python processes.
///
/// Exit status: 0 on success, 2 on any error (invalid dump, I/O error, usage error).
#[derive(Debug, Parser)]
#[command(name = "heapsnap", version)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// A heapsnap command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show process facts, counts, and how much of the RSS Python objects account for.
    Info {
        /// The dump file (.hsnap).
        dump: PathBuf,
        /// Print a JSON envelope instead of text.
        #[arg(long)]
        json: bool,
        /// Skip the section checksums (faster on large trusted dumps).
        #[arg(long)]
        no_verify: bool,
    },
    /// Validate a dump completely (checksums and address uniqueness included).
    Check {
        /// The dump file (.hsnap).
        dump: PathBuf,
        /// Print a JSON envelope instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print the complete decoded content of a dump.
    Decode {
        /// The dump file (.hsnap).
        dump: PathBuf,
        /// Print a JSON envelope whose data is the test-vector JSON schema.
        #[arg(long)]
        json: bool,
    },
}
