//! `heapsnap attach PID`: dump a running CPython process that never imported heapsnap.
//!
//! 1. `target`: check the process (exists, CPython 3.8-3.15, ptrace allowed).
//! 2. `stage`: write the bootstrap and the dumper (embedded in this binary) into a
//!    private directory under the target's root.
//! 3. Make the target run the bootstrap at its next bytecode boundary in its main thread:
//!    `remote` (`sys.remote_exec`, 3.14+) or `gdb` (a pending call, 3.8-3.13).
//! 4. Wait for its status (the request is cancelled after `timeout` if the target has not
//!    started it), copy the dump out, remove every file.
//!
//! Every failure is a [`Failure`]: one line that says which kind it is.

mod gdb;
mod remote;
mod stage;
mod target;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use stage::Status;

/// The dumper, the same file as `tools/python/heapsnap/dumper.py`.
pub const DUMPER: &str = include_str!("../../tools/python/heapsnap/dumper.py");
/// The script the target runs (see its header for the protocol).
const BOOTSTRAP: &str = include_str!("bootstrap.py");

/// What to do in the target.
#[derive(Debug, Clone)]
pub struct Options {
    /// The target's PID.
    pub pid: u32,
    /// Where to write the dump (ignored with `install`).
    pub output: PathBuf,
    /// Dump in a forked child of the target.
    pub fork: bool,
    /// The dumper's `values`: "names", "all" or "none".
    pub values: String,
    /// How long the target may take to start running our code.
    pub timeout: Duration,
    /// The interpreter that calls `sys.remote_exec` (3.14+).
    pub python: Option<PathBuf>,
    /// Install triggers instead of dumping.
    pub install: Option<Install>,
}

/// The triggers of `--install` (the dumper's `install()`).
#[derive(Debug, Clone)]
pub struct Install {
    /// Dump on this signal.
    pub signal: Option<String>,
    /// Directory for the dumps, in the target's view.
    pub dir: String,
    /// Dump once the RSS passes this ("2G").
    pub rss_threshold: Option<String>,
}

/// How the target was made to run the bootstrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// `sys.remote_exec` (3.14+).
    RemoteExec,
    /// A pending call queued through gdb (3.8-3.13).
    Gdb,
}

/// The result of a successful attach.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// What the target reported.
    pub status: Status,
    /// The route taken.
    pub route: Route,
    /// The target's CPython major.minor.
    pub version: (u32, u32),
    /// The dump written here (None with `install`).
    pub output: Option<PathBuf>,
    /// From the start of `attach` to the dump in place.
    pub elapsed: Duration,
}

/// Why an attach failed; each kind is one line.
#[derive(Debug, Clone)]
pub enum Failure {
    /// No such process.
    NoProcess(String),
    /// The process is not CPython.
    NotCpython(String),
    /// A CPython version (or build) we cannot dump.
    Version(String),
    /// The kernel will not let us trace it.
    Ptrace(String),
    /// gdb is needed and missing.
    NoGdb(String),
    /// The target ran no Python code within the timeout.
    Timeout(String),
    /// The dump (or install) itself failed in the target.
    Dump(String),
    /// Preparing the request failed (files, helper processes).
    Setup(String),
}

impl Failure {
    /// The kind, as the first words of the message.
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::NoProcess(_) => "no such process",
            Failure::NotCpython(_) => "not CPython",
            Failure::Version(_) => "version not supported",
            Failure::Ptrace(_) => "ptrace not permitted",
            Failure::NoGdb(_) => "gdb missing",
            Failure::Timeout(_) => "timed out",
            Failure::Dump(_) => "dump failed",
            Failure::Setup(_) => "cannot prepare the attach",
        }
    }

    fn msg(&self) -> &str {
        match self {
            Failure::NoProcess(m)
            | Failure::NotCpython(m)
            | Failure::Version(m)
            | Failure::Ptrace(m)
            | Failure::NoGdb(m)
            | Failure::Timeout(m)
            | Failure::Dump(m)
            | Failure::Setup(m) => m,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "attach: {}: {}", self.kind(), self.msg())
    }
}

/// Python literal of an optional str.
fn py_opt(s: Option<&str>) -> String {
    s.map_or_else(|| "None".into(), stage::py_str)
}

/// The bootstrap with its configuration line for the directory `dir` (target's view).
fn bootstrap(opts: &Options, dir: &str) -> String {
    let (install, signal, install_dir, rss) = match &opts.install {
        Some(i) => (
            1,
            py_opt(i.signal.as_deref()),
            stage::py_str(&i.dir),
            py_opt(i.rss_threshold.as_deref()),
        ),
        None => (0, "None".into(), "None".into(), "None".into()),
    };
    let cfg = format!(
        "_CFG = {{\"dir\": {}, \"fork\": {}, \"values\": {}, \"install\": {install}, \"signal\": {signal}, \"install_dir\": {install_dir}, \"rss_threshold\": {rss}}}",
        stage::py_str(dir),
        u8::from(opts.fork),
        stage::py_str(&opts.values),
    );
    BOOTSTRAP.replacen("_CFG = None  # replaced by the attacher", &cfg, 1)
}

/// Attaches to `opts.pid` and dumps it (or installs the triggers).
pub fn attach(opts: &Options) -> Result<Outcome, Failure> {
    let t0 = Instant::now();
    let t = target::inspect(opts.pid)?;
    target::check_ptrace(&t)?;
    let route = if t.version >= (3, 14) {
        Route::RemoteExec
    } else {
        Route::Gdb
    };
    let boot = |dir: &str| bootstrap(opts, dir);
    let mut st = stage::Stage::create(&t, &boot, route == Route::RemoteExec)?;
    match route {
        Route::RemoteExec => remote::inject(&t, opts.python.as_deref(), &st.inner("launch.py"))?,
        Route::Gdb => gdb::inject(&t, &st.launcher(false))?,
    }
    let status = st.wait(&t, opts.timeout)?;
    if !status.ok {
        return Err(Failure::Dump(format!(
            "process {}: {}",
            t.pid,
            status.error.as_deref().unwrap_or("no reason given")
        )));
    }
    let output = if opts.install.is_some() {
        None
    } else {
        st.take_dump(&opts.output)?;
        Some(opts.output.clone())
    };
    st.remove();
    Ok(Outcome {
        status,
        route,
        version: t.version,
        output,
        elapsed: t0.elapsed(),
    })
}

/// The default output file: `heapsnap-PID-UTCSTAMP.hsnap` in the current directory.
pub fn default_output(pid: u32) -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    Path::new(".").join(format!(
        "heapsnap-{pid}-{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z.hsnap",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    ))
}

/// Days since 1970-01-01 -> (year, month, day) (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_428), (2025, 12, 6));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn bootstrap_gets_its_configuration() {
        let opts = Options {
            pid: 1,
            output: "x".into(),
            fork: true,
            values: "all".into(),
            timeout: Duration::from_secs(1),
            python: None,
            install: None,
        };
        let b = bootstrap(&opts, "/tmp/heapsnap-attach-\"x");
        assert!(b.contains(
            r#"_CFG = {"dir": "/tmp/heapsnap-attach-\"x", "fork": 1, "values": "all", "install": 0"#
        ));
        assert!(!b.contains("_CFG = None  # replaced"));
    }
}
