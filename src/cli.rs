//! Command-line definitions (clap derive). Parsing only: what each command does is in
//! [`crate::commands`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Analyze heap snapshots of Python processes.
///
/// Exit status: 0 on success, 2 on any error (invalid dump, I/O error, usage error).
#[derive(Debug, Parser)]
#[command(name = "heapsnap", version)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
    /// Worker threads for the parallel phases (default: one per core). Results are the
    /// same for any number.
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// Neither read nor write the analysis index (DUMP.hsidx, or the cache directory):
    /// compute everything afresh. Dumps under a million objects are never indexed.
    #[arg(long, global = true)]
    pub no_cache: bool,
}

/// The dump and output options every analysis command takes.
#[derive(Debug, Args)]
pub struct DumpArgs {
    /// The dump file (.hsnap).
    pub dump: PathBuf,
    /// Print a JSON envelope instead of text.
    #[arg(long)]
    pub json: bool,
    /// Skip the section checksums (faster on large trusted dumps).
    #[arg(long)]
    pub no_verify: bool,
}

/// What `top` sorts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TopBy {
    /// Number of objects.
    Count,
    /// Shallow bytes.
    Size,
    /// Retained bytes (needs the dominator tree).
    Retained,
}

/// Output format of `refs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RefsFormat {
    /// An indented tree.
    Text,
    /// Graphviz DOT.
    Dot,
    /// A self-contained SVG picture (laid out by heapsnap: no graphviz needed).
    Svg,
}

/// Output format of `export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// Comma-separated values with a header row (RFC 4180 quoting).
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// Chrome DevTools' `.heapsnapshot` JSON, for the DevTools Memory panel.
    Heapsnapshot,
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
    /// Type histogram: count, shallow and retained bytes and heap share per type.
    Top {
        #[command(flatten)]
        args: DumpArgs,
        /// Sort key.
        #[arg(long, value_enum, default_value_t = TopBy::Retained)]
        by: TopBy,
        /// Number of types shown (0: all).
        #[arg(short = 'n', long = "limit", default_value_t = 25)]
        limit: usize,
    },
    /// The biggest retainers, as a dominator tree.
    Dominators {
        #[command(flatten)]
        args: DumpArgs,
        /// Children shown per node, biggest first.
        #[arg(short = 'n', long = "limit", default_value_t = 10)]
        limit: usize,
        /// Levels of the tree shown below the roots (at most 100; at most 10,000 objects
        /// are shown in all).
        #[arg(long, default_value_t = 4)]
        depth: usize,
    },
    /// Reference cycles grouped by their types, with finalizers flagged.
    Cycles {
        #[command(flatten)]
        args: DumpArgs,
        /// Groups shown (0: all).
        #[arg(short = 'n', long = "limit", default_value_t = 20)]
        limit: usize,
        /// Keep housekeeping edges (to types, modules and their dicts) in the search.
        #[arg(long)]
        all_edges: bool,
    },
    /// Why an object is alive: shortest reference paths from the roots.
    Path {
        #[command(flatten)]
        args: DumpArgs,
        /// An address (0x7f...), an object index (#123), or a type name (paths to its
        /// instances, merged by the types along them).
        target: String,
        /// Number of distinct paths.
        #[arg(short = 'k', default_value_t = 3)]
        k: usize,
    },
    /// What an object refers to (or, with --back, what refers to it).
    Refs {
        #[command(flatten)]
        args: DumpArgs,
        /// An address (0x7f...) or an object index (#123).
        target: String,
        /// Show referrers instead of referents.
        #[arg(long)]
        back: bool,
        /// Levels of references followed.
        #[arg(long, default_value_t = 3)]
        depth: usize,
        /// Most objects shown.
        #[arg(long, default_value_t = 100)]
        max_nodes: usize,
        /// Most references shown per object.
        #[arg(long, default_value_t = 10)]
        fanout: usize,
        /// Output format.
        #[arg(long, value_enum, default_value_t = RefsFormat::Text)]
        format: RefsFormat,
        /// Write to this file instead of stdout.
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
    },
    /// Dump a running CPython process that never imported heapsnap (gdb for 3.8-3.13,
    /// sys.remote_exec for 3.14+), or install dump triggers in it.
    Attach(AttachArgs),
    /// One row per object (retained size, dominator, distance, cycle) for pandas, DuckDB...
    Export {
        #[command(flatten)]
        args: DumpArgs,
        /// Row format.
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// Write to this file instead of stdout (required with --json, which then
        /// prints a summary of the export).
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
        /// Keep housekeeping edges in the cycle search.
        #[arg(long)]
        all_edges: bool,
    },
    /// Compare dumps: growth by type, new top retainers, new cycles; with three dumps,
    /// the objects born between the first two that are still alive in the third.
    Diff {
        /// Two or three dump files, oldest first.
        #[arg(num_args = 2..=3, required = true)]
        dumps: Vec<PathBuf>,
        /// Rows shown per table (0: all).
        #[arg(short = 'n', long = "limit", default_value_t = 20)]
        limit: usize,
        /// Print a JSON envelope instead of text.
        #[arg(long)]
        json: bool,
        /// Skip the section checksums (faster on large trusted dumps).
        #[arg(long)]
        no_verify: bool,
    },
    /// Write a self-contained HTML report (works offline): overview, leak suspects,
    /// dominator treemap, histogram, cycles, paths, and growth against a baseline.
    Report {
        #[command(flatten)]
        args: DumpArgs,
        /// An older dump of the same process: adds the growth table.
        #[arg(long)]
        baseline: Option<PathBuf>,
        /// The HTML file to write.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
    },
    /// Compress a dump for sharing (zstd); heapsnap opens packed dumps directly.
    Pack {
        #[command(flatten)]
        args: DumpArgs,
        /// The packed file to write.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// zstd level (1-22). The default, 3, packs about a million objects a second to
        /// 5-10 bytes each; 19 saves another 8-15% at about 45 s per million objects.
        #[arg(long, default_value_t = 3)]
        level: i32,
    },
    /// Decompress a packed dump back to a plain dump file.
    Unpack {
        #[command(flatten)]
        args: DumpArgs,
        /// The dump file to write.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
    },
    /// Write a copy of a dump without value previews (and, with --names, without
    /// names and labels), keeping the graph intact.
    Redact {
        #[command(flatten)]
        args: DumpArgs,
        /// The dump file to write.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// Also replace type, module and root names and edge labels by placeholders.
        #[arg(long)]
        names: bool,
    },
    /// Write a deterministic synthetic heap-shaped dump (for benchmarks and scale tests).
    Synth {
        /// Number of objects.
        #[arg(long)]
        objects: u64,
        /// Average references per object (approximate).
        #[arg(long, default_value_t = 3.0)]
        edges_per_object: f64,
        /// Random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The dump file to write.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
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

/// What the dump records besides the graph (the dumper's `values`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Values {
    /// Type names only.
    None,
    /// Module, type and function names, identifier-like dict keys.
    Names,
    /// Also str keys and truncated previews of str, bytes and numbers (may hold secrets).
    All,
}

/// Arguments of `heapsnap attach`.
#[derive(Debug, Args)]
pub struct AttachArgs {
    /// The process to dump: a running CPython 3.8-3.15 (it needs nothing installed).
    pub pid: u32,
    /// The dump file to write here (default: heapsnap-PID-UTCTIME.hsnap in the current
    /// directory).
    #[arg(short = 'o', long = "output", conflicts_with = "install")]
    pub output: Option<PathBuf>,
    /// Dump in a forked child of the target: its pause is the fork (plus the collection),
    /// but the child may need up to the heap's size in extra memory.
    #[arg(long)]
    pub fork: bool,
    /// What to record besides the graph.
    #[arg(long, value_enum, default_value_t = Values::Names)]
    pub values: Values,
    /// Seconds the target may take to start running our code (its main thread must reach
    /// a bytecode boundary: a long sleep or C call delays it). After that nothing is
    /// dumped.
    #[arg(long, value_name = "S", default_value_t = 10.0)]
    pub timeout: f64,
    /// The CPython (same major.minor as the target) that calls sys.remote_exec (3.14+;
    /// default: the target's own executable, inside its root).
    #[arg(long, value_name = "EXE")]
    pub python: Option<PathBuf>,
    /// Install the dump triggers in the target instead of dumping now.
    #[arg(long)]
    pub install: bool,
    /// With --install: dump on this signal.
    #[arg(long, value_name = "SIG", requires = "install")]
    pub signal: Option<String>,
    /// With --install: directory for the dumps, as the target sees it.
    #[arg(long, value_name = "D", requires = "install", default_value = "/tmp")]
    pub dir: String,
    /// With --install: dump once the RSS passes this size (e.g. 2G).
    #[arg(long, value_name = "SIZE", requires = "install")]
    pub rss_threshold: Option<String>,
    /// Print a JSON envelope instead of text.
    #[arg(long)]
    pub json: bool,
}
