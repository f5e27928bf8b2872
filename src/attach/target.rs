//! What `/proc` says about the process to attach to: that it exists, that it runs CPython
//! (which version), whose it is, which namespaces it lives in, and whether we may ptrace
//! it. Every refusal is one [`Failure`] with a one-line message.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::Failure;

/// A process we are about to attach to.
#[derive(Debug, Clone)]
pub struct Target {
    /// Its PID as we see it.
    pub pid: u32,
    /// Its PID in its own (innermost) PID namespace.
    pub ns_pid: u32,
    /// Its executable, as a path in its own mount namespace and root.
    pub exe: PathBuf,
    /// CPython major.minor.
    pub version: (u32, u32),
    /// Its filesystem user and group ids (the owner of the files we place for it).
    pub uid: u32,
    /// See `uid`.
    pub gid: u32,
    /// Its real, effective and saved user ids.
    uids: [u32; 3],
    /// Start time in clock ticks since boot (field 22 of stat): tells a PID reused by
    /// another process apart.
    pub start: u64,
    /// Its root directory or mount namespace differs from ours.
    pub other_root: bool,
    /// Its PID namespace differs from ours.
    pub other_pid_ns: bool,
}

/// `/proc/PID/<name>`.
pub fn proc_path(pid: u32, name: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/{name}"))
}

fn denied(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::PermissionDenied) || e.raw_os_error() == Some(libc::EPERM)
}

/// Reads and checks the target; the version check comes before the ptrace check so that
/// a wrong version is reported even when we could not attach anyway.
pub fn inspect(pid: u32) -> Result<Target, Failure> {
    let status = match fs::read_to_string(proc_path(pid, "status")) {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Failure::NoProcess(format!("no such process: {pid}")))
        }
        Err(e) => {
            return Err(Failure::NoProcess(format!(
                "cannot read /proc/{pid}/status: {e}"
            )))
        }
    };
    let field = |name: &str| -> Vec<u32> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|rest| {
                rest.split_whitespace()
                    .filter_map(|w| w.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    let uids = field("Uid:");
    let gids = field("Gid:");
    let nspid = field("NSpid:");
    if uids.len() < 4 || gids.len() < 4 {
        return Err(Failure::NoProcess(format!(
            "process {pid} has no user ids in /proc/{pid}/status (a zombie?)"
        )));
    }
    let start = start_time(pid)
        .ok_or_else(|| Failure::NoProcess(format!("process {pid} exited while being inspected")))?;
    let exe = match fs::read_link(proc_path(pid, "exe")) {
        Ok(p) => p,
        Err(e) if denied(&e) => {
            return Err(Failure::Ptrace(ptrace_refusal(pid, &uids).unwrap_or_else(|| {
                format!("cannot read /proc/{pid}/exe: {e} (run heapsnap attach as the process's user or as root)")
            })))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Failure::NotCpython(format!(
                "process {pid} has no executable (a kernel thread or a zombie): not CPython"
            )))
        }
        Err(e) => {
            return Err(Failure::NoProcess(format!(
                "cannot read /proc/{pid}/exe: {e}"
            )))
        }
    };
    let maps = fs::read_to_string(proc_path(pid, "maps")).unwrap_or_default();
    let version = detect_version(&exe, &maps).map_err(|why| {
        Failure::NotCpython(format!(
            "process {pid} ({}) is not CPython: {why}",
            exe.display()
        ))
    })?;
    let (major, minor, threaded) = version;
    if threaded {
        return Err(Failure::Version(format!(
            "process {pid} runs a free-threaded CPython {major}.{minor}t: not supported (the dumper needs the GIL build)"
        )));
    }
    if major != 3 || !(8..=15).contains(&minor) {
        return Err(Failure::Version(format!(
            "process {pid} runs CPython {major}.{minor}: not supported (3.8 to 3.15)"
        )));
    }
    let same = |name: &str| -> bool {
        match (
            fs::metadata(proc_path(pid, name)),
            fs::metadata(format!("/proc/self/{name}")),
        ) {
            (Ok(a), Ok(b)) => {
                use std::os::unix::fs::MetadataExt;
                a.dev() == b.dev() && a.ino() == b.ino()
            }
            _ => true,
        }
    };
    let other_root = !same("root") || !same("ns/mnt");
    // The kernel shows /proc/PID/exe relative to *our* root: for a target chrooted
    // below it, strip the target's root to get the path in its own view.
    let exe = match fs::read_link(proc_path(pid, "root")) {
        Ok(root) if other_root && root != Path::new("/") => match exe.strip_prefix(&root) {
            Ok(rel) => Path::new("/").join(rel),
            Err(_) => exe,
        },
        _ => exe,
    };
    let other_pid_ns = !same("ns/pid");
    Ok(Target {
        pid,
        ns_pid: nspid.last().copied().unwrap_or(pid),
        exe,
        version: (major, minor),
        uid: uids[3],
        gid: gids[3],
        uids: [uids[0], uids[1], uids[2]],
        start,
        other_root,
        other_pid_ns,
    })
}

/// Field 22 (starttime) of /proc/PID/stat.
pub fn start_time(pid: u32) -> Option<u64> {
    start_time_at(&proc_path(pid, "stat"))
}

/// Field 22 (starttime) of a stat file.
pub fn start_time_at(path: &Path) -> Option<u64> {
    let stat = fs::read_to_string(path).ok()?;
    // the command name (field 2) is in parentheses and may hold spaces and ')'
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

impl Target {
    /// True while the same process (same PID, same start time) exists.
    pub fn alive(&self) -> bool {
        start_time(self.pid) == Some(self.start)
    }

    /// The path of `p` (absolute, in the target's filesystem view) seen from here.
    pub fn host_path(&self, p: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root{}", self.pid, p))
    }
}

/// Major, minor and free-threading of the CPython that `exe` (or a libpython in `maps`)
/// is; an error says why it is not one.
fn detect_version(exe: &Path, maps: &str) -> Result<(u32, u32, bool), String> {
    let name = exe
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = name.strip_suffix(" (deleted)").unwrap_or(&name);
    if let Some(v) = name.strip_prefix("python").and_then(parse_version) {
        return Ok(v);
    }
    for line in maps.lines() {
        if let Some(i) = line.find("/libpython") {
            let lib = &line[i + "/libpython".len()..];
            let lib = lib.split(".so").next().unwrap_or("");
            if let Some(v) = parse_version(lib) {
                return Ok(v);
            }
        }
    }
    if name.starts_with("pypy") {
        return Err("it is PyPy".into());
    }
    Err("no pythonX.Y executable and no libpythonX.Y in its memory map".into())
}

/// "3.11" / "3.13t" / "3.11d" -> (3, 11, threaded).
fn parse_version(s: &str) -> Option<(u32, u32, bool)> {
    let (major, rest) = s.split_once('.')?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let tail = &rest[digits.len()..];
    if digits.is_empty() || !tail.chars().all(|c| matches!(c, 't' | 'd' | 'm')) {
        return None;
    }
    Some((
        major.parse().ok()?,
        digits.parse().ok()?,
        tail.contains('t'),
    ))
}

/// Effective capabilities of this process include CAP_SYS_PTRACE (bit 19).
fn have_cap_sys_ptrace() -> bool {
    let Ok(status) = fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << 19) != 0)
}

fn user_name(uid: u32) -> String {
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    for line in passwd.lines() {
        let mut f = line.split(':');
        let (Some(name), _, Some(id)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if id.parse() == Ok(uid) {
            return format!("{name} (uid {uid})");
        }
    }
    format!("uid {uid}")
}

/// Why the kernel would refuse us ptrace on `pid` (owned by `uids`), or None when it
/// should allow it.
fn ptrace_refusal(pid: u32, uids: &[u32]) -> Option<String> {
    // SAFETY: getuid/geteuid cannot fail and touch no memory.
    let (ruid, euid) = unsafe { (libc::getuid(), libc::geteuid()) };
    let cap = have_cap_sys_ptrace();
    let scope = fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok());
    if scope == Some(3) {
        return Some(
            "kernel.yama.ptrace_scope is 3: no process may be traced until the next reboot".into(),
        );
    }
    if !cap {
        let same_user = uids.iter().take(3).all(|&u| u == ruid && u == euid);
        if !same_user {
            let owner = user_name(uids.get(1).copied().unwrap_or(0));
            return Some(if euid == 0 {
                format!(
                    "process {pid} belongs to {owner}, and this root lacks the capability CAP_SYS_PTRACE (in a container: --cap-add SYS_PTRACE)"
                )
            } else {
                format!(
                    "process {pid} belongs to {owner}, and you are {} without CAP_SYS_PTRACE: run heapsnap attach as that user, or as root (sudo)",
                    user_name(euid)
                )
            });
        }
        if scope == Some(2) {
            return Some("kernel.yama.ptrace_scope is 2: only root (CAP_SYS_PTRACE) may attach: run heapsnap attach with sudo".into());
        }
        if scope == Some(1) {
            return Some("kernel.yama.ptrace_scope is 1: only a parent may trace its child: run heapsnap attach with sudo, or allow it with `sysctl kernel.yama.ptrace_scope=0`".into());
        }
    }
    None
}

/// Fails with the reason when the kernel will not let us ptrace the target.
pub fn check_ptrace(t: &Target) -> Result<(), Failure> {
    match ptrace_refusal(t.pid, &t.uids) {
        Some(why) => Err(Failure::Ptrace(why)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_names_and_maps() {
        let v = |exe: &str, maps: &str| detect_version(Path::new(exe), maps);
        assert_eq!(v("/usr/bin/python3.11", ""), Ok((3, 11, false)));
        assert_eq!(v("/usr/bin/python3.13t", ""), Ok((3, 13, true)));
        assert_eq!(
            v(
                "/usr/bin/uwsgi",
                "7f00-7f01 r-xp 0 08:01 1 /usr/lib/libpython3.12.so.1.0\n"
            ),
            Ok((3, 12, false))
        );
        assert!(v("/usr/bin/pypy3.10", "").is_err());
        assert!(v("/bin/sleep", "7f00-7f01 r-xp 0 08:01 1 /lib/libc.so.6\n").is_err());
        assert!(v("/usr/bin/python3.x", "").is_err());
    }
}
