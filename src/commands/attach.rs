//! `heapsnap attach PID`: the command-line face of [`crate::attach`].

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::attach::{self, Install, Options, Route};
use crate::error::{Error, Result};
use crate::report::json::write_envelope;
use crate::report::text::{count, short_bytes};

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

#[derive(Serialize)]
struct AttachJson {
    pid: u32,
    route: Route,
    python: String,
    output: Option<String>,
    installed: bool,
    objects: u64,
    edges: u64,
    bytes: u64,
    dump_seconds: f64,
    pause_seconds: f64,
    elapsed_seconds: f64,
}

/// Runs `heapsnap attach`.
pub fn run<W: Write>(a: &AttachArgs, out: &mut W) -> Result<()> {
    if !(a.timeout.is_finite() && a.timeout > 0.0 && a.timeout <= 86_400.0) {
        return Err(Error::input(
            "attach: --timeout must be a number of seconds in (0, 86400]",
        ));
    }
    if a.install && a.signal.is_none() && a.rss_threshold.is_none() {
        return Err(Error::input(
            "attach: --install needs --signal and/or --rss-threshold",
        ));
    }
    let opts = Options {
        pid: a.pid,
        output: a
            .output
            .clone()
            .unwrap_or_else(|| attach::default_output(a.pid)),
        fork: a.fork,
        values: match a.values {
            Values::None => "none",
            Values::Names => "names",
            Values::All => "all",
        }
        .into(),
        timeout: Duration::from_secs_f64(a.timeout),
        python: a.python.clone(),
        install: a.install.then(|| Install {
            signal: a.signal.clone(),
            dir: a.dir.clone(),
            rss_threshold: a.rss_threshold.clone(),
        }),
    };
    let o = attach::attach(&opts).map_err(|f| Error::input(f.to_string()))?;
    let s = &o.status;
    let python = format!("{}.{}", o.version.0, o.version.1);
    if a.json {
        return write_envelope(
            out,
            "attach",
            &AttachJson {
                pid: a.pid,
                route: o.route,
                python,
                output: o.output.as_ref().map(|p| p.display().to_string()),
                installed: a.install,
                objects: s.objects,
                edges: s.edges,
                bytes: s.bytes,
                dump_seconds: s.seconds,
                pause_seconds: s.pause,
                elapsed_seconds: o.elapsed.as_secs_f64(),
            },
        );
    }
    let route = match o.route {
        Route::RemoteExec => "sys.remote_exec",
        Route::Gdb => "gdb",
    };
    let text = match &o.output {
        Some(p) => format!(
            "wrote {}: {} objects, {} edges, {} from process {} (CPython {python}, via {route}); dump {:.2} s, target paused {:.2} s, {:.2} s in all\n",
            p.display(),
            count(s.objects),
            count(s.edges),
            short_bytes(s.bytes),
            a.pid,
            s.seconds,
            s.pause,
            o.elapsed.as_secs_f64()
        ),
        None => format!(
            "installed the dump triggers in process {} (CPython {python}, via {route}); dumps go to {} in the target's filesystem\n",
            a.pid, a.dir
        ),
    };
    out.write_all(text.as_bytes())
        .map_err(|e| Error::io("cannot write output", e))
}
