//! The one way heapsnap writes a file: [`AtomicFile`] writes under a temporary name in
//! the destination's directory (the destination's name plus `.tmp-<pid>-<random>`, so
//! two processes, or two writes in one, never share it), syncs it to disk and renames
//! it onto the destination; until then the destination is untouched, so a reader never
//! sees half a file, and a failed write leaves nothing behind. Every command that
//! writes a file (`pack`, `unpack`, `redact`, `synth`, `report`, `export -o`,
//! `refs -o`) goes through it.

use std::collections::hash_map::RandomState;
use std::fs::File;
use std::hash::BuildHasher;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A file being written; renamed onto its destination by [`AtomicFile::commit`],
/// removed if dropped before.
pub struct AtomicFile {
    tmp: PathBuf,
    dest: PathBuf,
    file: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Creates the temporary file for `dest`; an error names it.
    pub fn create(dest: &Path) -> Result<AtomicFile> {
        let tmp = temp_name(dest);
        AtomicFile::create_as(dest, tmp.clone())
            .map_err(|e| Error::io("cannot create", e).in_file(&tmp))
    }

    /// [`AtomicFile::create`] with a plain I/O error, for callers that word it.
    pub fn create_io(dest: &Path) -> io::Result<AtomicFile> {
        AtomicFile::create_as(dest, temp_name(dest))
    }

    fn create_as(dest: &Path, tmp: PathBuf) -> io::Result<AtomicFile> {
        let file = File::options().write(true).create_new(true).open(&tmp)?;
        Ok(AtomicFile {
            tmp,
            dest: dest.to_path_buf(),
            file: Some(BufWriter::with_capacity(1 << 20, file)),
        })
    }

    /// The temporary file's name.
    pub fn tmp_path(&self) -> &Path {
        &self.tmp
    }

    /// The buffered writer to the temporary file.
    pub fn writer(&mut self) -> &mut BufWriter<File> {
        self.file.as_mut().expect("written after commit")
    }

    /// Flushes and syncs the temporary file and renames it onto the destination.
    pub fn commit(mut self) -> io::Result<()> {
        let file = self.file.take().expect("committed twice");
        let file = file.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&self.tmp, &self.dest)
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer().write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.writer().flush()
    }
}

/// A fresh temporary name beside `dest`: `dest` plus `.tmp-<pid>-<random>`, the name
/// part cut short when it would pass the usual 255-byte limit of a file name.
fn temp_name(dest: &Path) -> PathBuf {
    let random = RandomState::new().hash_one(std::process::id()) as u32;
    let suffix = format!(".tmp-{}-{random:08x}", std::process::id());
    let name = dest.file_name().unwrap_or_default().to_string_lossy();
    let mut keep = name.len().min(255 - suffix.len());
    while !name.is_char_boundary(keep) {
        keep -= 1;
    }
    let mut full = dest.as_os_str().to_owned();
    if keep < name.len() {
        full = dest.with_file_name(&name[..keep]).into_os_string();
    }
    full.push(suffix);
    PathBuf::from(full)
}

/// Runs `f` on a buffered writer to `dest`'s temporary file and commits it when `f`
/// succeeds. Errors name the temporary file when it cannot be created, `dest` after.
pub fn write_atomically<T>(
    dest: &Path,
    f: impl FnOnce(&mut BufWriter<File>) -> Result<T>,
) -> Result<T> {
    let mut file = AtomicFile::create(dest)?;
    let v = f(file.writer())?;
    let flushed = file.writer().flush();
    flushed
        .and_then(|()| file.commit())
        .map_err(|e| Error::io("cannot write", e).in_file(dest))?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_renames_and_drop_removes() {
        let dir = std::env::temp_dir().join(format!("heapsnap-output-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dest = dir.join("out.txt");
        let mut f = AtomicFile::create(&dest).unwrap();
        let tmp = f.tmp_path().to_path_buf();
        assert_eq!(tmp.parent(), dest.parent());
        f.write_all(b"hello").unwrap();
        assert!(!dest.exists() && tmp.exists());
        f.commit().unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"hello");
        assert!(!tmp.exists());
        let long = dir.join("d".repeat(250));
        assert!(temp_name(&long).file_name().unwrap().len() <= 255);
        write_atomically(&long, |w| {
            w.write_all(b"x").unwrap();
            Ok(())
        })
        .unwrap();
        std::fs::remove_file(&long).unwrap();

        let mut g = AtomicFile::create(&dest).unwrap();
        let tmp = g.tmp_path().to_path_buf();
        g.write_all(b"partial").unwrap();
        drop(g);
        assert!(!tmp.exists());
        assert_eq!(std::fs::read(&dest).unwrap(), b"hello");

        let failed = write_atomically(&dest, |w| {
            w.write_all(b"x").unwrap();
            Err::<(), _>(Error::input("stop"))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read(&dest).unwrap(), b"hello");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
