//! CPython 3.14+: `sys.remote_exec(pid, launch.py)` (PEP 768), from an interpreter of the
//! target's major.minor.
//!
//! The interpreter is the target's own executable, run inside the target's root and
//! mount namespace when those differ from ours (`nsenter --mount --root`, and
//! `--pid` when the `/proc` visible there is the target's PID namespace's), because a
//! chroot's or container's interpreter needs its own libraries; or the one given with
//! `--python` (run here, with our PIDs).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::target::{self, Target};
use super::Failure;

/// The helper run by the calling interpreter: argv = [pid, script]. Prints OK, or
/// ERR <kind> <message>.
const HELPER: &str = r#"
import sys
pid, script = int(sys.argv[1]), sys.argv[2]
try:
    sys.remote_exec(pid, script)
except PermissionError as e:
    print("ERR ptrace", e)
except ProcessLookupError as e:
    print("ERR gone", e)
except Exception as e:
    print("ERR other", type(e).__name__, e)
else:
    print("OK")
"#;

/// Asks the target to run `script` (a path in the target's view).
pub fn inject(t: &Target, python: Option<&Path>, script: &str) -> Result<(), Failure> {
    let mut cmd;
    let pid;
    if let Some(py) = python {
        check_version(t, py)?;
        cmd = Command::new(py);
        pid = t.pid;
    } else if !t.other_root && !t.other_pid_ns {
        cmd = Command::new(&t.exe);
        pid = t.pid;
    } else {
        // Which PIDs does the /proc inside the target's root show?
        let inner = t.host_path(&format!("/proc/{}/stat", t.ns_pid));
        let outer = t.host_path(&format!("/proc/{}/stat", t.pid));
        let (enter_pid_ns, p) = if t.other_pid_ns && target::start_time_at(&inner) == Some(t.start)
        {
            (true, t.ns_pid)
        } else if target::start_time_at(&outer) == Some(t.start) {
            (false, t.pid)
        } else {
            return Err(Failure::Setup(format!(
                "the target's root has no /proc showing process {} (sys.remote_exec reads /proc/PID/maps there): mount one, or give --python",
                t.pid
            )));
        };
        cmd = Command::new("nsenter");
        cmd.arg(format!("--target={}", t.pid))
            .args(["--mount", "--root", "--wd=/"]);
        if enter_pid_ns {
            cmd.arg("--pid");
        }
        cmd.arg("--").arg(&t.exe);
        pid = p;
    }
    cmd.args(["-I", "-S", "-c", HELPER])
        .arg(pid.to_string())
        .arg(script);
    let out = run_with_timeout(cmd, Duration::from_secs(60))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().rev().find(|l| !l.is_empty()).unwrap_or("");
    if line == "OK" {
        return Ok(());
    }
    if let Some(msg) = line.strip_prefix("ERR ptrace ") {
        return Err(Failure::Ptrace(format!(
            "sys.remote_exec: {msg}: run heapsnap attach as the process's user or as root"
        )));
    }
    if let Some(msg) = line.strip_prefix("ERR gone ") {
        return Err(Failure::NoProcess(format!("sys.remote_exec: {msg}")));
    }
    if let Some(msg) = line.strip_prefix("ERR other ") {
        return Err(Failure::Dump(format!("sys.remote_exec failed: {msg}")));
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no output");
    Err(Failure::Setup(format!(
        "could not run CPython {}.{} ({}) to call sys.remote_exec: {}",
        t.version.0,
        t.version.1,
        t.exe.display(),
        last.trim()
    )))
}

fn check_version(t: &Target, py: &Path) -> Result<(), Failure> {
    let mut cmd = Command::new(py);
    cmd.args([
        "-I",
        "-S",
        "-c",
        "import sys; print('%d.%d' % sys.version_info[:2])",
    ]);
    let out = run_with_timeout(cmd, Duration::from_secs(30))?;
    let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let want = format!("{}.{}", t.version.0, t.version.1);
    if v != want {
        return Err(Failure::Version(format!(
            "--python {} is CPython {v}, the target is {want}: sys.remote_exec needs the same major.minor",
            py.display()
        )));
    }
    Ok(())
}

fn run_with_timeout(mut cmd: Command, limit: Duration) -> Result<std::process::Output, Failure> {
    use std::process::Stdio;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Failure::Setup(format!("cannot run {:?}: {e}", cmd.get_program())))?;
    let id = child.id();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    let watchdog = std::thread::spawn(move || {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if flag.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // SAFETY: kill(2) on our own child's pid; at worst ESRCH.
        unsafe {
            libc::kill(id as libc::pid_t, libc::SIGKILL);
        }
    });
    let out = child.wait_with_output();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = watchdog.join();
    out.map_err(|e| Failure::Setup(format!("cannot run {:?}: {e}", cmd.get_program())))
}
