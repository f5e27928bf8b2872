//! CPython 3.8-3.13: queue the launcher as a pending call through gdb.
//!
//! gdb stops the target for a moment and, on its main thread, calls `mmap` (one
//! anonymous page for the launcher's text: no malloc, whose lock the stopped thread may
//! hold) and `Py_AddPendingCall(PyRun_SimpleString, page)`, then detaches. Neither call
//! needs the GIL or runs Python code. The interpreter runs the pending call in its main
//! thread at its next bytecode boundary, exactly where it runs signal handlers, so the
//! dump never starts inside malloc, the collector or half an operation (which calling
//! `PyGILState_Ensure` + `PyRun_SimpleString` from gdb directly risks on a busy target).
//! A main thread blocked in a C call or a sleep runs it only when it returns: that is the
//! timeout case. What stays in the target: the one page (4 KiB), which nothing can
//! release safely while the call may still be queued.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::target::Target;
use super::Failure;

/// The first `gdb` on PATH.
fn find_gdb() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("gdb"))
        .find(|p| p.is_file())
}

/// A C string literal for gdb.
fn c_literal(s: &str) -> String {
    let mut out = String::from("\"");
    for b in s.bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\{b:03o}")),
        }
    }
    out.push('"');
    out
}

/// Queues `code` (Python source) as a pending call in the target.
pub fn inject(t: &Target, code: &str) -> Result<(), Failure> {
    let gdb = find_gdb().ok_or_else(|| {
        Failure::NoGdb(format!(
            "gdb not found on PATH: attaching to CPython {}.{} (3.8-3.13) needs gdb (apt-get install gdb)",
            t.version.0, t.version.1
        ))
    })?;
    let size = code.len() + 1;
    let page = size.div_ceil(4096) * 4096;
    let script = format!(
        "set pagination off\n\
         set confirm off\n\
         set $hs_page = (char *) mmap((void *) 0, (unsigned long) {page}, 3, 0x22, -1, (long) 0)\n\
         if $hs_page == (char *) -1\n  printf \"HEAPSNAP_MMAP_FAILED\\n\"\nelse\n\
         set {{char[{size}]}} $hs_page = {lit}\n\
         printf \"HEAPSNAP_PENDING %d\\n\", (int) Py_AddPendingCall((int (*)(void *)) PyRun_SimpleString, $hs_page)\n\
         end\n\
         detach\n\
         quit\n",
        lit = c_literal(code)
    );
    let mut file = tempfile::Builder::new()
        .prefix("heapsnap-attach-")
        .suffix(".gdb")
        .tempfile()
        .map_err(|e| Failure::Setup(format!("cannot write gdb's command file: {e}")))?;
    file.write_all(script.as_bytes())
        .and_then(|()| file.flush())
        .map_err(|e| Failure::Setup(format!("cannot write gdb's command file: {e}")))?;
    let mut child = Command::new(&gdb)
        .args(["-nx", "-batch", "-q"])
        .args([
            "-iex",
            "set auto-load no",
            "-iex",
            "set debuginfod enabled off",
        ])
        .args(["-p", &t.pid.to_string(), "-x"])
        .arg(file.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Failure::NoGdb(format!("cannot run {}: {e}", gdb.display())))?;
    // gdb's calls are short (mmap and a lock); a gdb that hangs (a stopped or D-state
    // target) is given a minute, then killed.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut out = String::new();
    let mut err = String::new();
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = stderr.as_mut() {
            let _ = e.read_to_string(&mut s);
        }
        s
    });
    if let Some(o) = stdout.as_mut() {
        let _ = o.read_to_string(&mut out);
    }
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
        }
    }
    if let Ok(s) = reader.join() {
        err = s;
    }
    let all = format!("{out}\n{err}");
    if let Some(rest) = all.split("HEAPSNAP_PENDING ").nth(1) {
        let rc = rest.split_whitespace().next().unwrap_or("");
        return if rc == "0" {
            Ok(())
        } else {
            Err(Failure::Dump(format!(
                "Py_AddPendingCall refused the request ({rc}): the target's pending-call queue is full, or it is shutting down"
            )))
        };
    }
    if all.contains("HEAPSNAP_MMAP_FAILED") {
        return Err(Failure::Dump(
            "mmap of one page failed in the target (out of memory?)".into(),
        ));
    }
    if all.contains("ptrace: Operation not permitted") {
        return Err(Failure::Ptrace(format!(
            "gdb: ptrace: Operation not permitted (another tracer is attached, or a security module refuses it): run heapsnap attach as root, and check that no debugger is attached to {}",
            t.pid
        )));
    }
    if all.contains("No symbol \"Py_AddPendingCall\"")
        || all.contains("No symbol \"PyRun_SimpleString\"")
    {
        return Err(Failure::NotCpython(format!(
            "process {} exports no Py_AddPendingCall / PyRun_SimpleString symbols (a stripped static CPython?)",
            t.pid
        )));
    }
    let last = err
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty() && !l.contains("warning:"))
        .unwrap_or("no output")
        .trim()
        .to_string();
    Err(Failure::Dump(format!(
        "gdb could not queue the request: {last}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_literals() {
        assert_eq!(c_literal("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
        assert_eq!(c_literal("é"), "\"\\303\\251\"");
    }
}
