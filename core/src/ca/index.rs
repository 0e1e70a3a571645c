//! The certificate database (`index.txt`) in OpenSSL `ca` format, so that
//! `openssl ca -status`, `-updatedb` and `-gencrl` work on a certa CA.
//!
//! Each line has six tab-separated fields: the status (`V` valid, `R`
//! revoked, `E` expired), the expiry time, the revocation time (empty unless
//! revoked), the serial number in uppercase hexadecimal, the file name
//! (always `unknown`, as OpenSSL writes it), and the subject in OpenSSL's
//! one-line form (`/C=DE/O=Example/CN=host`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use x509_parser::x509::X509Name;

use super::audit::{append_line, TornLine};
use super::serial::{serial_hex, DirectoryLock};
use crate::fsutil::{write_atomic, Replace};
use crate::{Error, Result};

/// OpenSSL's attribute file beside the database. certa issues several
/// certificates for one subject (renewals, re-keys), and OpenSSL refuses to
/// load a database with two valid certificates for one subject unless this
/// file sets `unique_subject = no`.
const ATTRIBUTES: &str = "unique_subject = no\n";

/// One line of the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// `V`, `R` or `E`.
    pub status: char,
    /// The expiry time as written (`YYMMDDHHMMSSZ`).
    pub expiry: String,
    /// The revocation time as written, empty unless revoked.
    pub revocation: String,
    /// The certificate number.
    pub number: u64,
    /// The subject in OpenSSL's one-line form.
    pub subject: String,
}

impl IndexEntry {
    /// A valid certificate numbered `number`, expiring at `not_after`.
    pub fn valid(number: u64, not_after: OffsetDateTime, subject: String) -> Self {
        IndexEntry {
            status: 'V',
            expiry: openssl_time(not_after),
            revocation: String::new(),
            number,
            subject,
        }
    }

    /// The line as OpenSSL writes it, without the newline.
    pub fn to_line(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}\tunknown\t{}",
            self.status,
            self.expiry,
            self.revocation,
            serial_hex(self.number),
            self.subject
        )
    }

    /// Parses a line, or returns `None` for one that is no database line.
    pub fn parse(line: &str) -> Option<Self> {
        let fields: Vec<&str> = line.split('\t').collect();
        let [status, expiry, revocation, serial, _file, subject] = fields[..] else {
            return None;
        };
        let mut status_chars = status.chars();
        let (Some(status), None) = (status_chars.next(), status_chars.next()) else {
            return None;
        };
        let number = u64::from_str_radix(serial, 16).ok()?;
        Some(IndexEntry {
            status,
            expiry: expiry.to_owned(),
            revocation: revocation.to_owned(),
            number,
            subject: subject.to_owned(),
        })
    }
}

/// The database file of a CA.
#[derive(Debug, Clone)]
pub struct Index {
    path: PathBuf,
}

impl Index {
    /// The database at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Index { path: path.into() }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// OpenSSL's attribute file beside the database (`index.txt.attr`).
    pub fn attributes_path(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".attr");
        PathBuf::from(name)
    }

    /// Appends `entry` durably. A torn last line left by a crash is cut off
    /// first, because OpenSSL refuses a database with a malformed line. The
    /// caller holds the directory lock, which `_lock` proves, so no other
    /// append is in progress while the file is cut.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the database or its attribute file.
    pub fn append(&self, entry: &IndexEntry, _lock: &DirectoryLock) -> Result<()> {
        let attributes = self.attributes_path();
        if !attributes.exists() {
            match write_atomic(&attributes, ATTRIBUTES.as_bytes(), 0o644, Replace::Forbid) {
                Ok(()) | Err(Error::AlreadyExists { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        append_line(&self.path, &entry.to_line(), TornLine::Remove)
    }

    /// Reads every complete line. A torn last line (no newline) and lines that
    /// are no database lines are skipped with a warning.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the database when it cannot be read; a missing
    /// database has no lines.
    pub fn read(&self) -> Result<Vec<IndexEntry>> {
        let text = match std::fs::read(&self.path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("read", &self.path, e)),
        };
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        let mut entries = Vec::new();
        for line in complete.split('\n').filter(|line| !line.is_empty()) {
            match IndexEntry::parse(line) {
                Some(entry) => entries.push(entry),
                None => {
                    tracing::warn!(path = %self.path.display(), line, "skipped an invalid index.txt line, most likely torn by a crash")
                }
            }
        }
        Ok(entries)
    }
}

/// Formats a time as OpenSSL's database does: UTCTime (`YYMMDDHHMMSSZ`) for
/// the years 1950 to 2049 and GeneralizedTime (`YYYYMMDDHHMMSSZ`) otherwise,
/// as RFC 5280 encodes validity.
pub fn openssl_time(time: OffsetDateTime) -> String {
    let time = time.to_offset(time::UtcOffset::UTC);
    let year = time.year();
    let rest = format!(
        "{:02}{:02}{:02}{:02}{:02}Z",
        u8::from(time.month()),
        time.day(),
        time.hour(),
        time.minute(),
        time.second()
    );
    if (1950..2050).contains(&year) {
        format!("{:02}{rest}", year % 100)
    } else {
        format!("{year:04}{rest}")
    }
}

/// Writes a name in OpenSSL's one-line form, as `X509_NAME_oneline` does:
/// `/SN=value` for each attribute in encoded order, with bytes outside
/// printable ASCII as `\xHH`. The form cannot hold a tab or a newline, so
/// `index.txt` lines stay whole.
pub fn openssl_oneline(name: &X509Name<'_>) -> String {
    let mut line = String::new();
    for attribute in name.iter_attributes() {
        let oid = attribute.attr_type().to_id_string();
        let label = short_name(&oid).unwrap_or(&oid);
        line.push('/');
        line.push_str(label);
        line.push('=');
        for &byte in attribute.as_slice() {
            if (0x20..0x7f).contains(&byte) {
                line.push(char::from(byte));
            } else {
                let _ = write!(line, "\\x{byte:02X}");
            }
        }
    }
    line
}

/// OpenSSL's short names of the attributes found in subject names.
fn short_name(oid: &str) -> Option<&'static str> {
    let name = match oid {
        "2.5.4.6" => "C",
        "2.5.4.8" => "ST",
        "2.5.4.7" => "L",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.3" => "CN",
        "2.5.4.4" => "SN",
        "2.5.4.42" => "GN",
        "2.5.4.5" => "serialNumber",
        "2.5.4.9" => "street",
        "2.5.4.12" => "title",
        "2.5.4.17" => "postalCode",
        "2.5.4.43" => "initials",
        "2.5.4.44" => "generationQualifier",
        "2.5.4.46" => "dnQualifier",
        "2.5.4.65" => "pseudonym",
        "2.5.4.97" => "organizationIdentifier",
        "1.2.840.113549.1.9.1" => "emailAddress",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    };
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn time_uses_utctime_before_2050() {
        assert_eq!(
            openssl_time(datetime!(2027-03-04 05:06:07 UTC)),
            "270304050607Z"
        );
    }

    #[test]
    fn time_uses_generalized_from_2050() {
        assert_eq!(
            openssl_time(datetime!(2050-01-01 00:00:00 UTC)),
            "20500101000000Z"
        );
    }

    #[test]
    fn line_round_trips() {
        let entry = IndexEntry::valid(
            0x1A,
            datetime!(2027-03-04 05:06:07 UTC),
            "/C=DE/CN=host".to_owned(),
        );
        let line = entry.to_line();
        assert_eq!(line, "V\t270304050607Z\t\t1A\tunknown\t/C=DE/CN=host");
        assert_eq!(IndexEntry::parse(&line), Some(entry));
    }

    #[test]
    fn torn_line_skipped() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let index = Index::new(dir.path().join("index.txt"));
        std::fs::write(
            index.path(),
            "V\t270304050607Z\t\t02\tunknown\t/CN=a\nV\t2703",
        )
        .expect("write");

        let entries = index.read().expect("read");

        assert_eq!(entries.len(), 1);
    }
}
