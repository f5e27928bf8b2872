//! `heapsnap attach PID`: the command-line face of [`crate::attach`].

use std::io::Write;
use std::time::Duration;

use serde::Serialize;

use crate::attach::{self, Install, Options, Route};
use crate::cli::{AttachArgs, Values};
use crate::error::{Error, Result};
use crate::report::json::write_envelope;
use crate::report::text::{count, short_bytes};

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
