//! Certificate numbers: the serial file and the lock that serializes changes
//! to a CA directory.
//!
//! The serial file (`ROOT.srl`) contains the next certificate number in
//! OpenSSL's format: uppercase hexadecimal, an even number of digits, and a
//! newline (`0A\n`). A number is reserved by writing its successor durably
//! before anything is signed with it, so a crash or an error after the
//! reservation leaves a gap in the numbers, never a number used twice.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::fsutil::{write_atomic, Replace};
use crate::{Error, Result};

/// The maximum number of significant hexadecimal digits in a certificate number: certa keeps
/// numbers in a `u64`, far below RFC 5280's 20-octet limit on serial numbers.
const MAX_DIGITS: usize = 16;

/// An exclusive lock on a CA directory, held until it is dropped.
///
/// The lock is an advisory `flock` on a lock file beside the serial file, so
/// it excludes other threads (each takes the lock through its own open file)
/// and other processes alike. The operating system releases it when the
/// process dies, so a crash never leaves the directory locked.
#[derive(Debug)]
pub struct DirectoryLock {
    file: File,
    path: PathBuf,
}

impl DirectoryLock {
    /// Waits for and takes the exclusive lock on `path`, creating the file if needed.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the lock file when it cannot be opened or locked.
    pub fn acquire(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| Error::io("open lock file", path, e))?;
        // NOTE: `File::lock` is stable since Rust 1.89, above the workspace's
        // declared rust-version of 1.85; the toolchain in use is newer.
        #[allow(clippy::incompatible_msrv)]
        let locked = file.lock();
        locked.map_err(|e| Error::io("lock", path, e))?;
        tracing::trace!(path = %path.display(), "took the CA directory lock");
        Ok(DirectoryLock {
            file,
            path: path.to_path_buf(),
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for DirectoryLock {
    fn drop(&mut self) {
        // Closing the file releases the lock too; unlocking first only makes the release explicit.
        #[allow(clippy::incompatible_msrv)]
        let unlocked = self.file.unlock();
        if let Err(e) = unlocked {
            tracing::warn!(path = %self.path.display(), error = %e, "failed to unlock the CA directory lock; closing the file releases it");
        }
    }
}

/// The serial file of a CA.
#[derive(Debug, Clone)]
pub struct SerialFile {
    path: PathBuf,
}

impl SerialFile {
    /// The serial file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SerialFile { path: path.into() }
    }

    /// The serial file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the next certificate number without reserving it.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when the file does not exist, [`Error::Io`] when it
    /// cannot be read, and [`Error::InvalidInput`] naming the file and its
    /// content when it is not a serial file.
    pub fn next(&self) -> Result<u64> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound {
                    kind: "serial file",
                    name: format!(
                        "{}; set up the CA first, or restore the file from a backup",
                        self.path.display()
                    ),
                })
            }
            Err(e) => return Err(Error::io("read", &self.path, e)),
        };
        parse_serial(&text).map_err(|reason| {
            Error::invalid_input(
                format!("serial file {}", self.path.display()),
                format!("{reason} in {text:?}; restore the file from a backup or write the next certificate number as OpenSSL does, such as 0A"),
            )
        })
    }

    /// Reserves the next certificate number: reads it and durably writes its
    /// successor. The caller holds the directory lock, which `_lock` proves.
    ///
    /// # Errors
    ///
    /// As [`SerialFile::next`], plus [`Error::Io`] when the successor cannot
    /// be written (the number is then not reserved), and
    /// [`Error::InvalidInput`] when the numbers are used up.
    pub fn reserve(&self, _lock: &DirectoryLock) -> Result<u64> {
        let number = self.next()?;
        let successor = number.checked_add(1).ok_or_else(|| {
            Error::invalid_input(
                format!("serial file {}", self.path.display()),
                format!("the certificate numbers are used up at {number:X}"),
            )
        })?;
        write_atomic(
            &self.path,
            format_serial(successor).as_bytes(),
            0o644,
            Replace::Allow,
        )?;
        tracing::debug!(number, path = %self.path.display(), "reserved a certificate number");
        Ok(number)
    }

    /// Writes `next` as the next certificate number, replacing the file durably.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be written.
    pub fn write(&self, next: u64) -> Result<()> {
        write_atomic(
            &self.path,
            format_serial(next).as_bytes(),
            0o644,
            Replace::Allow,
        )
    }
}

/// Formats a number as OpenSSL writes serial files: uppercase hexadecimal,
/// an even number of digits, and a newline.
pub fn format_serial(number: u64) -> String {
    format!("{}\n", serial_hex(number))
}

/// Formats a number as uppercase hexadecimal with an even number of digits,
/// as OpenSSL names certificate files and writes `index.txt` serial numbers.
pub fn serial_hex(number: u64) -> String {
    let hex = format!("{number:X}");
    if hex.len() % 2 == 1 {
        format!("0{hex}")
    } else {
        hex
    }
}

/// Parses the content of a serial file. Lowercase digits and a missing
/// newline are accepted, as OpenSSL accepts them.
///
/// # Errors
///
/// Why the text is no certificate number, for the caller to put in its error.
pub fn parse_serial(text: &str) -> std::result::Result<u64, String> {
    let digits = text.strip_suffix('\n').unwrap_or(text);
    let digits = digits.strip_suffix('\r').unwrap_or(digits);
    if digits.is_empty() {
        return Err("no hexadecimal digits".to_owned());
    }
    if let Some(bad) = digits.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!("{bad:?} is not a hexadecimal digit"));
    }
    let significant = digits.trim_start_matches('0');
    if significant.len() > MAX_DIGITS {
        return Err(format!(
            "the number has more than {MAX_DIGITS} significant hexadecimal digits"
        ));
    }
    let number = u64::from_str_radix(digits, 16).map_err(|e| e.to_string())?;
    if number == 0 {
        return Err("0 is no valid certificate number".to_owned());
    }
    Ok(number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_pads_to_even_digits() {
        assert_eq!(format_serial(2), "02\n");
        assert_eq!(format_serial(0x100), "0100\n");
        assert_eq!(format_serial(0xAB), "AB\n");
    }

    #[test]
    fn parse_accepts_openssl_output() {
        assert_eq!(parse_serial("0A\n"), Ok(10));
        assert_eq!(parse_serial("0a"), Ok(10));
        assert_eq!(parse_serial("0100\r\n"), Ok(256));
    }

    #[test]
    fn parse_rejects_garbage() {
        assert!(parse_serial("").is_err());
        assert!(parse_serial("\n").is_err());
        assert!(parse_serial("0x0A\n").is_err());
        assert!(parse_serial("12 34\n").is_err());
        assert!(parse_serial("00\n").is_err());
        assert!(parse_serial("1FFFFFFFFFFFFFFFF\n").is_err());
    }

    #[test]
    fn reserve_advances_file() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let serial = SerialFile::new(dir.path().join("CA.srl"));
        serial.write(2).expect("write");
        let lock = DirectoryLock::acquire(&dir.path().join("CA.lock")).expect("lock");

        let first = serial.reserve(&lock).expect("first");
        let second = serial.reserve(&lock).expect("second");

        assert_eq!(first, 2);
        assert_eq!(second, 3);
        assert_eq!(
            std::fs::read_to_string(serial.path()).expect("read"),
            "04\n"
        );
    }

    #[test]
    fn malformed_file_named_in_error() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let serial = SerialFile::new(dir.path().join("CA.srl"));
        std::fs::write(serial.path(), "hello\n").expect("write");
        let lock = DirectoryLock::acquire(&dir.path().join("CA.lock")).expect("lock");

        let message = serial
            .reserve(&lock)
            .expect_err("a malformed serial file must be refused")
            .to_string();

        assert!(message.contains("CA.srl"), "{message}");
        assert!(message.contains("\"hello\\n\""), "{message}");
        assert_eq!(
            std::fs::read_to_string(serial.path()).expect("read"),
            "hello\n"
        );
    }

    #[test]
    fn missing_file_not_found() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let serial = SerialFile::new(dir.path().join("CA.srl"));
        assert!(matches!(serial.next(), Err(Error::NotFound { .. })));
    }
}
