//! Durable file writes.
//!
//! Every file certa writes that must survive a crash goes through
//! [`write_atomic`]: a temporary file in the same directory, `fsync`, rename
//! over the target, and `fsync` of the directory, so that a reader sees the
//! old content or the new one, never a part.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Whether [`write_atomic`] may replace an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// Replace the file if it exists.
    Allow,
    /// Fail with [`Error::AlreadyExists`] if the file exists.
    Forbid,
}

/// Writes `contents` to `path` atomically and durably, with Unix `mode`.
///
/// # Errors
///
/// [`Error::Io`] naming the file when any step fails (the temporary file is
/// removed then), and [`Error::AlreadyExists`] when `replace` is
/// [`Replace::Forbid`] and the file exists.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32, replace: Replace) -> Result<()> {
    let directory = parent_directory(path);
    let mut temporary = tempfile::Builder::new()
        .prefix(".certa-")
        .suffix(".tmp")
        .permissions(permissions(mode))
        .tempfile_in(directory)
        .map_err(|e| Error::io("create a temporary file in", directory, e))?;

    temporary
        .write_all(contents)
        .map_err(|e| Error::io("write", temporary.path(), e))?;
    temporary
        .as_file()
        .sync_all()
        .map_err(|e| Error::io("sync", temporary.path(), e))?;

    match replace {
        Replace::Allow => temporary
            .persist(path)
            .map_err(|e| Error::io("rename a temporary file to", path, e.error))?,
        Replace::Forbid => temporary.persist_noclobber(path).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                Error::AlreadyExists {
                    kind: "file",
                    name: path.display().to_string(),
                    hint: "remove it or choose another name",
                }
            } else {
                Error::io("rename a temporary file to", path, e.error)
            }
        })?,
    };

    sync_directory(directory)
}

/// Flushes a directory's entries to disk, so that a rename or a new file in it is durable.
///
/// # Errors
///
/// [`Error::Io`] naming the directory.
pub fn sync_directory(directory: &Path) -> Result<()> {
    File::open(directory)
        .and_then(|dir| dir.sync_all())
        .map_err(|e| Error::io("sync directory", directory, e))
}

/// Creates `directory` and its parents, and makes the new entries durable.
///
/// # Errors
///
/// [`Error::Io`] naming the directory.
pub fn create_directory(directory: &Path) -> Result<()> {
    fs::create_dir_all(directory).map_err(|e| Error::io("create directory", directory, e))?;
    sync_directory(directory)?;
    sync_directory(parent_directory(directory))
}

/// The directory a path is in; `.` for a bare file name.
pub fn parent_directory(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

fn permissions(mode: u32) -> fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    fs::Permissions::from_mode(mode)
}

/// Returns a free, visible name next to `target` for a file or directory
/// that is replaced but kept: `NAME.replaced-YYYYMMDDTHHMMSSZ`, with `-2`,
/// `-3`... when that is taken.
pub fn replaced_path(target: &Path) -> PathBuf {
    let stamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap_or_else(|_| "unknown-time".to_owned());
    let base = format!("{}.replaced-{stamp}", target.display());
    let mut candidate = PathBuf::from(&base);
    let mut counter = 2;
    while candidate.exists() {
        candidate = PathBuf::from(format!("{base}-{counter}"));
        counter += 1;
    }
    candidate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_sets_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("secret.key");

        write_atomic(&path, b"contents", 0o600, Replace::Forbid).expect("first write");

        let mode = fs::metadata(&path).expect("metadata").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(fs::read(&path).expect("read back"), b"contents");
    }

    #[test]
    fn write_atomic_forbid_keeps_old_file() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("file");
        write_atomic(&path, b"old", 0o644, Replace::Forbid).expect("first write");

        let error = write_atomic(&path, b"new", 0o644, Replace::Forbid).unwrap_err();

        assert!(matches!(error, Error::AlreadyExists { .. }), "{error}");
        assert_eq!(fs::read(&path).expect("read back"), b"old");
        let leftovers = fs::read_dir(dir.path()).expect("list").count();
        assert_eq!(leftovers, 1, "the temporary file must be removed");
    }

    #[test]
    fn write_atomic_allow_replaces() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("file");
        write_atomic(&path, b"old", 0o644, Replace::Allow).expect("first write");
        write_atomic(&path, b"new", 0o644, Replace::Allow).expect("second write");
        assert_eq!(fs::read(&path).expect("read back"), b"new");
    }
}
