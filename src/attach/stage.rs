//! The private directory under the target's root through which the attacher and the
//! target talk: the bootstrap, the dumper, the claim, the status and the dump (see the
//! protocol at the top of `bootstrap.py`).
//!
//! The directory is created by us with mode 0700 under the target's `/tmp` (or
//! `/var/tmp`, `/dev/shm`), filled, then handed to the target's user: only that user and
//! root can read or write it. We read files back with `O_NOFOLLOW` and check that they
//! are regular files owned by the target's user, since that user could swap them.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::target::Target;
use super::Failure;

/// What the bootstrap reports in status.json.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Status {
    /// The dump (or the install) succeeded.
    pub ok: bool,
    /// Why not.
    pub error: Option<String>,
    /// The dump's path in the target's view.
    pub path: Option<String>,
    /// Objects in the dump.
    pub objects: u64,
    /// References in the dump.
    pub edges: u64,
    /// Size of the dump file.
    pub bytes: u64,
    /// The dump's wall time, as the dumper measured it.
    pub seconds: f64,
    /// How long the target's main thread ran the bootstrap (its pause).
    pub pause: f64,
    /// The target's PID in its own namespace.
    pub pid: u64,
    /// The target's Python version.
    pub version: String,
}

/// The private directory, seen from here (`host`) and from the target (`inner`).
pub struct Stage {
    host: PathBuf,
    inner: String,
    uid: u32,
    /// Leave the directory to the target's launcher (it cleans up when it runs).
    keep_dir: bool,
    removed: bool,
}

const FILES: [&str; 7] = [
    "boot.py",
    "launch.py",
    "dumper.py",
    "claim",
    "status.tmp",
    "status.json",
    "dump.hsnap",
];

fn random_hex() -> String {
    let mut b = [0u8; 8];
    // SAFETY: getrandom writes at most b.len() bytes into b.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if n != b.len() as isize {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b = ((t as u64) ^ u64::from(std::process::id()).rotate_left(32)).to_le_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn write_new(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

/// Renders a str as a Python string literal (a JSON string is one).
pub fn py_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

impl Stage {
    /// Creates the directory under the target's root and writes the bootstrap (`boot`,
    /// with its configuration line filled in by the caller), the dumper and, for
    /// `sys.remote_exec`, the launcher file.
    pub fn create(
        t: &Target,
        boot: &dyn Fn(&str) -> String,
        launcher: bool,
    ) -> Result<Stage, Failure> {
        let mut last = None;
        for base in ["/tmp", "/var/tmp", "/dev/shm"] {
            let inner = format!("{base}/heapsnap-attach-{}", random_hex());
            let host = t.host_path(&inner);
            match fs::DirBuilder::new().mode(0o700).create(&host) {
                Ok(()) => {
                    let mut st = Stage {
                        host,
                        inner,
                        uid: t.uid,
                        keep_dir: false,
                        removed: false,
                    };
                    st.fill(t, boot, launcher).map_err(|e| {
                        Failure::Setup(format!(
                            "cannot prepare {} in the target's filesystem: {e}",
                            st.inner
                        ))
                    })?;
                    return Ok(st);
                }
                Err(e) if denied(&e) && base == "/tmp" => {
                    // /proc/PID/root refused: not ours to look into
                    return Err(Failure::Ptrace(format!(
                        "cannot write into the target's filesystem (/proc/{}/root{base}): {e}: run heapsnap attach as the process's user or as root",
                        t.pid
                    )));
                }
                Err(e) => last = Some((base, e)),
            }
        }
        let (base, e) = last.expect("three tries");
        Err(Failure::Setup(format!(
            "cannot create a directory in the target's /tmp, /var/tmp or /dev/shm (last: {base}: {e})"
        )))
    }

    fn fill(
        &mut self,
        t: &Target,
        boot: &dyn Fn(&str) -> String,
        launcher: bool,
    ) -> io::Result<()> {
        write_new(&self.host.join("boot.py"), boot(&self.inner).as_bytes())?;
        write_new(&self.host.join("dumper.py"), super::DUMPER.as_bytes())?;
        if launcher {
            write_new(&self.host.join("launch.py"), self.launcher(true).as_bytes())?;
        }
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != t.uid {
            for name in ["boot.py", "dumper.py", "launch.py"] {
                let p = self.host.join(name);
                if p.exists() {
                    std::os::unix::fs::lchown(&p, Some(t.uid), Some(t.gid))?;
                }
            }
            std::os::unix::fs::lchown(&self.host, Some(t.uid), Some(t.gid))?;
        }
        Ok(())
    }

    /// The target-side path of a file of the directory.
    pub fn inner(&self, name: &str) -> String {
        format!("{}/{name}", self.inner)
    }

    /// The code the target runs first (a pending call's string, or launch.py): run the
    /// bootstrap in a fresh globals dict; when the bootstrap is gone (the attacher gave
    /// up), do nothing, and as a file remove itself. It binds no name where it runs.
    pub fn launcher(&self, as_file: bool) -> String {
        let boot = py_str(&self.inner("boot.py"));
        let mut s = format!(
            "try:\n    exec(compile(open({boot}, 'rb').read(), {boot}, 'exec'), {{'__name__': '_heapsnap_attach'}})\nexcept Exception:\n    pass\n"
        );
        if as_file {
            s.push_str(&format!(
                "try:\n    __import__('os').unlink({})\n    __import__('os').rmdir({})\nexcept Exception:\n    pass\n",
                py_str(&self.inner("launch.py")),
                py_str(&self.inner)
            ));
        }
        s
    }

    /// Waits for the target's status: up to `timeout` for the target to start (claim the
    /// request), then as long as the dump takes while the target lives. On timeout we
    /// claim the request ourselves, so that the target, if it gets there later, does
    /// nothing but clean up.
    pub fn wait(&mut self, t: &Target, timeout: Duration) -> Result<Status, Failure> {
        let start = Instant::now();
        let status = self.host.join("status.json");
        let claim = self.host.join("claim");
        let mut claimed_by_target = false;
        loop {
            if let Some(s) = self.read_status(&status)? {
                return Ok(s);
            }
            if !t.alive() {
                return Err(Failure::Dump(format!(
                    "process {} exited before it reported back",
                    t.pid
                )));
            }
            if !claimed_by_target {
                if claim.exists() {
                    claimed_by_target = true;
                } else if start.elapsed() >= timeout {
                    match write_new(&claim, b"") {
                        Ok(()) => {
                            self.cancel();
                            return Err(Failure::Timeout(format!(
                                "process {} ran no Python code within {:.1} s (its main thread is blocked: a long sleep, a lock, I/O or a C call); nothing was dumped. Try again, or raise --timeout",
                                t.pid,
                                timeout.as_secs_f64()
                            )));
                        }
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                            claimed_by_target = true;
                        }
                        Err(e) => {
                            return Err(Failure::Setup(format!(
                                "cannot write {}: {e}",
                                claim.display()
                            )))
                        }
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn read_status(&self, path: &Path) -> Result<Option<Status>, Failure> {
        let mut f = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Failure::Dump(format!(
                    "cannot read the target's status: {e}"
                )))
            }
        };
        let mut text = String::new();
        Read::by_ref(&mut f)
            .take(1 << 16)
            .read_to_string(&mut text)
            .map_err(|e| Failure::Dump(format!("cannot read the target's status: {e}")))?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Failure::Dump(format!("the target's status is unreadable: {e}")))
    }

    /// Copies the dump out to `out` (through `out`.tmp-PID, renamed when complete) and
    /// removes it from the target's filesystem. Returns the bytes copied.
    pub fn take_dump(&self, out: &Path) -> Result<u64, Failure> {
        let src = self.host.join("dump.hsnap");
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            Failure::Dump(format!("{what} {}: {e}", src.display()))
        };
        let mut f = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&src)
            .map_err(|e| fail("cannot open the dump", &e))?;
        let meta = f.metadata().map_err(|e| fail("cannot stat the dump", &e))?;
        if !meta.is_file() || meta.uid() != self.uid || meta.nlink() != 1 {
            return Err(fail(
                "refusing to copy",
                &"not a regular file of the target's user",
            ));
        }
        let tmp = PathBuf::from(format!("{}.tmp-{}", out.display(), std::process::id()));
        let copy = (|| -> io::Result<u64> {
            let mut o = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            let n = io::copy(&mut f, &mut o)?;
            o.sync_all()?;
            fs::rename(&tmp, out)?;
            Ok(n)
        })();
        match copy {
            Ok(n) => {
                let _ = fs::remove_file(&src);
                Ok(n)
            }
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(Failure::Setup(format!(
                    "cannot write {}: {e}",
                    out.display()
                )))
            }
        }
    }

    /// After a timeout: remove the bootstrap and the dumper (a late launcher then finds
    /// nothing to run); launch.py and the directory stay for the launcher to remove.
    fn cancel(&mut self) {
        let launcher = self.host.join("launch.py").exists();
        for name in ["boot.py", "dumper.py", "claim"] {
            let _ = fs::remove_file(self.host.join(name));
        }
        self.keep_dir = launcher;
        if !launcher {
            let _ = fs::remove_dir(&self.host);
        }
        self.removed = true;
    }

    /// Removes everything we or the bootstrap left in the directory, and the directory.
    pub fn remove(&mut self) {
        if self.removed || self.keep_dir {
            return;
        }
        for name in FILES {
            let _ = fs::remove_file(self.host.join(name));
        }
        // the dumper's temporary file, should the target have died mid-dump
        if let Ok(entries) = fs::read_dir(&self.host) {
            for e in entries.flatten() {
                if e.file_name()
                    .to_string_lossy()
                    .starts_with("dump.hsnap.tmp-")
                {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        let _ = fs::remove_dir(&self.host);
        self.removed = true;
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        self.remove();
    }
}

fn denied(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::PermissionDenied || e.raw_os_error() == Some(libc::EPERM)
}
