//! The private per-user cache directory: unpacked copies of packed dumps
//! ([`crate::snapshot`]) and analysis indexes that cannot sit beside their dump
//! ([`crate::index`]). Everything in it can be deleted at any time.

use std::fs::File;
use std::path::Path;

/// The cache directory: `$XDG_CACHE_HOME/heapsnap`, else
/// `$HOME/.cache/heapsnap`, else `heapsnap-<uid>` in the temporary directory; created
/// private (mode 0700). `None` if it cannot be created or is not a directory owned by
/// this user that no one else can write to (a planted file could then pass for a dump).
pub fn cache_dir() -> Option<std::path::PathBuf> {
    let env_dir = |var: &str| {
        std::env::var_os(var)
            .map(std::path::PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let dir = env_dir("XDG_CACHE_HOME")
        .map(|d| d.join("heapsnap"))
        .or_else(|| env_dir("HOME").map(|h| h.join(".cache").join("heapsnap")))
        .unwrap_or_else(|| std::env::temp_dir().join(format!("heapsnap-{}", user_id())));
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(&dir).ok()?;
    let meta = std::fs::symlink_metadata(&dir).ok()?;
    if !meta.is_dir() {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if meta.uid() != user_id() || meta.mode() & 0o022 != 0 {
            return None;
        }
    }
    Some(dir)
}

#[cfg(unix)]
pub fn user_id() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(not(unix))]
pub fn user_id() -> u32 {
    0
}

/// Creates a new file only this user can read and write.
pub fn create_private(path: &Path) -> std::io::Result<File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}
