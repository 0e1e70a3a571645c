//! The audit log (`audit.log`): one JSON object per line and per event, in
//! the order the events happened.
//!
//! Each line has the time (RFC 3339 UTC), the event's name, and the ids,
//! numbers, subjects and fingerprints involved. No line contains a password,
//! a PIN or key material. The log is also the journal the CA server reads to
//! learn which request each certificate was issued for.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::CaPaths;
use crate::fingerprint::Fingerprints;
use crate::fsutil::{parent_directory, sync_directory};
use crate::{Error, Result};

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditEvent {
    /// The CA was set up.
    Configured {
        /// The CA's subject, in OpenSSL's one-line form.
        subject: String,
        /// The SHA-256 fingerprint of the CA certificate.
        fingerprint: String,
        /// Whether the key is in the file key store or on a token, as a key URI without a PIN value.
        key: String,
    },
    /// A CSR arrived and is pending.
    RequestReceived {
        /// The request id.
        request_id: String,
        /// The CSR's subject.
        subject: String,
        /// The SHA-1 fingerprint of the CSR.
        fingerprint: String,
        /// The peer address, or `"local"`.
        source: String,
    },
    /// A certificate was issued.
    Issued {
        /// The request id.
        request_id: String,
        /// The certificate number.
        number: u64,
        /// The certificate's subject.
        subject: String,
        /// The profile it was issued under.
        usage: String,
        /// The SHA-256 fingerprint of the certificate.
        fingerprint: String,
    },
    /// A request was rejected.
    Rejected {
        /// The request id.
        request_id: String,
        /// The CSR's subject.
        subject: String,
        /// The operator's reason.
        reason: String,
    },
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When the event happened, RFC 3339 UTC.
    pub time: String,
    /// The event.
    #[serde(flatten)]
    pub event: AuditEvent,
}

/// Appends `event` to the audit log at `path`, durably.
///
/// # Errors
///
/// [`Error::Io`] naming the log when it cannot be written.
pub fn append(path: &Path, event: AuditEvent) -> Result<()> {
    let record = AuditRecord {
        time: now_rfc3339(),
        event,
    };
    let line = serde_json::to_string(&record)
        .map_err(|e| Error::io("encode an audit record for", path, std::io::Error::other(e)))?;
    append_line(path, &line, TornLine::Terminate)
}

/// Records in the CA directory's audit log that the CA was set up.
///
/// `key` is the key URI as shown to people (without a PIN value).
///
/// # Errors
///
/// [`Error::Io`] naming the log when it cannot be written.
pub fn record_configured(
    paths: &CaPaths,
    subject: &str,
    certificate: &Fingerprints,
    key: &str,
) -> Result<()> {
    append(
        &paths.audit_log(),
        AuditEvent::Configured {
            subject: subject.to_owned(),
            fingerprint: certificate.sha256.clone(),
            key: key.to_owned(),
        },
    )
}

/// Reads every complete, valid record of the audit log. A missing log has none.
///
/// # Errors
///
/// [`Error::Io`] naming the log when it cannot be read.
pub fn read_all(path: &Path) -> Result<Vec<AuditRecord>> {
    Ok(read_from(path, 0)?.0)
}

/// Reads the records of the audit log that start at byte `offset` and returns
/// them with the offset after the last complete line.
///
/// A last line without a newline was torn by a crash, or is being written; it
/// is left for a later read. A line that is not a valid record (the remains of
/// a torn write) is skipped with a warning.
///
/// # Errors
///
/// [`Error::Io`] naming the log when it cannot be read.
pub fn read_from(path: &Path, offset: u64) -> Result<(Vec<AuditRecord>, u64)> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), offset)),
        Err(e) => return Err(Error::io("open", path, e)),
    };
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| Error::io("seek in", path, e))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| Error::io("read", path, e))?;

    let complete = match bytes.iter().rposition(|&b| b == b'\n') {
        Some(last_newline) => last_newline + 1,
        None => 0,
    };
    let mut records = Vec::new();
    for (index, line) in bytes[..complete].split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<AuditRecord>(line) {
            Ok(record) => records.push(record),
            Err(e) => tracing::warn!(
                path = %path.display(),
                offset,
                line = index + 1,
                error = %e,
                "skipped an unreadable audit log line, most likely torn by a crash"
            ),
        }
    }
    Ok((records, offset + complete as u64))
}

/// The repair [`append_line`] makes of a last line without a newline, which
/// a crash or a power loss tore in the middle of its write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TornLine {
    /// End it with a newline and keep it, for readers to skip. Safe without a
    /// lock: an append of another process that a reader catches half-done only
    /// gains an empty line after it.
    Terminate,
    /// Cut it off, for files whose readers reject bad lines, as OpenSSL does
    /// with `index.txt`. Only a caller that holds the directory lock may ask
    /// for it, because no other append may be in progress while the file is cut.
    Remove,
}

/// Appends one line to a log file durably: one `write` with `O_APPEND`, then `fdatasync`.
///
/// A crash can tear at most the last line; `torn` selects how the next append
/// repairs it, so that the new line always starts on a line of its own.
///
/// # Errors
///
/// [`Error::Io`] naming the file.
pub(crate) fn append_line(path: &Path, line: &str, torn: TornLine) -> Result<()> {
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o644)
        .open(path)
        .map_err(|e| Error::io("open for appending", path, e))?;
    let length = file
        .metadata()
        .map_err(|e| Error::io("read the metadata of", path, e))?
        .len();

    let mut buffer = String::with_capacity(line.len() + 2);
    if length > 0 && !ends_with_newline(&file, length, path)? {
        match torn {
            TornLine::Terminate => buffer.push('\n'),
            TornLine::Remove => {
                let kept = end_of_last_line(&file, length, path)?;
                file.set_len(kept)
                    .map_err(|e| Error::io("truncate the torn last line of", path, e))?;
            }
        }
        tracing::warn!(path = %path.display(), ?torn, "repaired a torn last line, most likely left by a crash");
    }
    buffer.push_str(line);
    buffer.push('\n');

    (&file)
        .write_all(buffer.as_bytes())
        .map_err(|e| Error::io("append to", path, e))?;
    file.sync_data().map_err(|e| Error::io("sync", path, e))?;
    if length == 0 {
        // The file may be new; its directory entry must be durable too.
        sync_directory(parent_directory(path))?;
    }
    Ok(())
}

fn ends_with_newline(file: &std::fs::File, length: u64, path: &Path) -> Result<bool> {
    let mut last = [0u8; 1];
    file.read_exact_at(&mut last, length - 1)
        .map_err(|e| Error::io("read the end of", path, e))?;
    Ok(last[0] == b'\n')
}

/// The length of the file up to and including its last newline; 0 when it has none.
fn end_of_last_line(file: &std::fs::File, length: u64, path: &Path) -> Result<u64> {
    const CHUNK: u64 = 64 * 1024;
    let mut end = length;
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        let mut chunk = vec![0u8; usize::try_from(end - start).unwrap_or(0)];
        file.read_exact_at(&mut chunk, start)
            .map_err(|e| Error::io("read", path, e))?;
        if let Some(position) = chunk.iter().rposition(|&b| b == b'\n') {
            return Ok(start + position as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// The current time, RFC 3339 UTC with whole seconds.
pub(crate) fn now_rfc3339() -> String {
    rfc3339(OffsetDateTime::now_utc())
}

/// Formats a time as RFC 3339 UTC with whole seconds.
pub(crate) fn rfc3339(time: OffsetDateTime) -> String {
    let whole_seconds = time
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(time);
    whole_seconds
        .format(&Rfc3339)
        .unwrap_or_else(|_| whole_seconds.unix_timestamp().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(id: &str) -> AuditEvent {
        AuditEvent::Rejected {
            request_id: id.to_owned(),
            subject: "CN=client".to_owned(),
            reason: "unknown requester".to_owned(),
        }
    }

    #[test]
    fn append_then_read() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("audit.log");

        append(&path, rejected("a")).expect("append");
        append(&path, rejected("b")).expect("append");

        let records = read_all(&path).expect("read");
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].event, rejected("b"));
    }

    #[test]
    fn line_format_is_flat_json() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("audit.log");

        append(&path, rejected("a")).expect("append");

        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.starts_with("{\"time\":\""), "{text}");
        assert!(text.contains("\"event\":\"rejected\""), "{text}");
        assert!(text.ends_with("}\n"), "{text}");
    }

    #[test]
    fn torn_line_repaired_by_next_append() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("audit.log");
        append(&path, rejected("a")).expect("append");
        let mut file = OpenOptions::new().append(true).open(&path).expect("open");
        file.write_all(b"{\"time\":\"20").expect("tear");

        assert_eq!(read_all(&path).expect("read torn").len(), 1);
        append(&path, rejected("b")).expect("append");

        let records = read_all(&path).expect("read repaired");
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].event, rejected("b"));
    }

    #[test]
    fn torn_line_removed_when_asked() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("index.txt");
        std::fs::write(&path, "one\ntw").expect("write");

        append_line(&path, "three", TornLine::Remove).expect("append");

        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "one\nthree\n"
        );
    }

    #[test]
    fn read_from_resumes() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("audit.log");
        append(&path, rejected("a")).expect("append");
        let (first, offset) = read_from(&path, 0).expect("read");
        append(&path, rejected("b")).expect("append");

        let (second, _) = read_from(&path, offset).expect("read again");

        assert_eq!(first.len(), 1);
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].event, rejected("b"));
    }
}
