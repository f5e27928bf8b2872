//! Progress on stderr. Each long step of a command (resolving references, the dominator
//! search, the cycle search, writing rows...) is a [`Phase`]: while it runs, a spinner
//! line names it, but only when stderr is a terminal (never in pipes, files or CI logs,
//! and never on stdout). Steps that run at the same time on different threads get a line
//! each. With the environment variable `HEAPSNAP_TIMINGS` set, each phase also prints
//! `timing <phase>: <seconds>` to stderr when it ends (for profiling; not a contract).

use std::io::IsTerminal;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A running step; it ends (spinner removed, timing printed) when dropped.
pub struct Phase {
    name: &'static str,
    start: Instant,
    bar: Option<ProgressBar>,
}

/// The spinners' shared display, or `None` when stderr is not a terminal.
fn display() -> Option<&'static MultiProgress> {
    static DISPLAY: OnceLock<Option<MultiProgress>> = OnceLock::new();
    DISPLAY
        .get_or_init(|| {
            (std::io::stderr().is_terminal() && std::env::var_os("HEAPSNAP_NO_PROGRESS").is_none())
                .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
        })
        .as_ref()
}

/// Starts the step `name` (a fixed text such as `"dominators"`).
pub fn phase(name: &'static str) -> Phase {
    let bar = display().map(|d| {
        let bar = d.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(name);
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    Phase {
        name,
        start: Instant::now(),
        bar,
    }
}

impl Drop for Phase {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
            if let Some(d) = display() {
                d.remove(&bar);
            }
        }
        timing(self.name, self.start);
    }
}

/// Prints `timing <phase>: <seconds>` to stderr when `HEAPSNAP_TIMINGS` is set.
pub fn timing(phase: &str, since: Instant) {
    if std::env::var_os("HEAPSNAP_TIMINGS").is_some() {
        eprintln!("timing {phase}: {:.3} s", since.elapsed().as_secs_f64());
    }
}
