//! The `heapsnap` binary: parse the command line, run the command, map the result to an
//! exit code. This is the one place that prints a fatal error (`heapsnap: <message>`,
//! terminal-escaped here as a whole).
//! Exit codes: 0 success (also when stdout is a closed pipe), 2 any error.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = heapsnap::cli::Cli::parse();
    if let Some(n) = cli.threads {
        // Fails only if a pool exists already, which cannot happen this early.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(usize::from(n))
            .build_global();
    }
    if cli.no_cache {
        heapsnap::index::disable();
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let result = heapsnap::commands::run(&cli.command, &mut out).and_then(|()| {
        out.flush()
            .map_err(|e| heapsnap::Error::io("cannot write output", e))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            // The one escape of the message: it may hold paths and dump strings.
            eprintln!("heapsnap: {}", heapsnap::escape::escape(&e.to_string()));
            ExitCode::from(2)
        }
    }
}
