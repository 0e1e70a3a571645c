//! The queue of received requests (`requests/`).
//!
//! Each request is one JSON file with its metadata and the CSR as PEM. A
//! pending request lives in `requests/pending/ID.json`. Issuing or rejecting
//! it writes `requests/ID.json` with the new state and then removes the
//! pending file, so that counting the queue needs only the names in
//! `requests/pending/`, never the content of every request ever received.
//! Should a crash come between the two steps, `requests/ID.json` wins and
//! the pending file is ignored.
//!
//! Every file is written with [`write_atomic`], so a reader sees a whole
//! request or none.

use std::fs;
use std::path::{Path, PathBuf};

use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};

use super::serial::DirectoryLock;
use crate::fsutil::{create_directory, sync_directory, write_atomic, Replace};
use crate::settings::Contact;
use crate::{Error, Result};

/// The length of a request id: 16 lowercase hexadecimal characters (64 random bits).
pub const ID_LENGTH: usize = 16;
/// The maximum length of a request's name (a file name root).
pub const MAX_NAME_LENGTH: usize = 64;
/// The maximum length of a contact's name, in characters.
pub const MAX_CONTACT_NAME_LENGTH: usize = 128;
/// The maximum length of a telephone number, in characters.
pub const MAX_PHONE_LENGTH: usize = 32;
/// The maximum length of an e-mail address (RFC 5321, section 4.5.3.1.3, limits a path to 256 octets, angle brackets included).
pub const MAX_EMAIL_LENGTH: usize = 254;
/// The maximum length of a request's source address, in characters.
pub const MAX_SOURCE_LENGTH: usize = 128;
/// The maximum length of a rejection reason, in characters.
pub const MAX_REASON_LENGTH: usize = 1024;

/// The state of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestState {
    /// Waiting for the operator.
    Pending,
    /// A certificate was issued for it.
    Issued,
    /// The operator rejected it.
    Rejected,
}

impl RequestState {
    /// The state's name as in JSON (`"pending"`).
    pub fn name(self) -> &'static str {
        match self {
            RequestState::Pending => "pending",
            RequestState::Issued => "issued",
            RequestState::Rejected => "rejected",
        }
    }
}

impl std::fmt::Display for RequestState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A request's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// The request id: 16 lowercase hexadecimal characters.
    pub id: String,
    /// The file name root the requester gave.
    pub name: String,
    /// The CSR's subject for people (`CN=host, O=Example`).
    pub subject: String,
    /// Pending, issued or rejected.
    pub state: RequestState,
    /// When the request arrived, RFC 3339 UTC with microseconds.
    pub received: String,
    /// The person to call about the request.
    pub contact: Contact,
    /// The peer address, or `"local"`.
    pub source: String,
    /// SHA-1 fingerprint of the CSR (DER).
    pub sha1_fingerprint: String,
    /// The number of the certificate issued for it.
    pub certificate_number: Option<u64>,
    /// Why the operator rejected it.
    pub reason: Option<String>,
}

/// A request as stored: its metadata and the CSR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRequest {
    /// The metadata.
    #[serde(flatten)]
    pub record: RequestRecord,
    /// The CSR, PEM.
    pub csr_pem: String,
}

/// The request files of a CA directory.
#[derive(Debug, Clone)]
pub struct RequestStore {
    directory: PathBuf,
}

impl RequestStore {
    /// The store in `directory` (the CA directory's `requests/`).
    pub fn new(directory: impl Into<PathBuf>) -> Self {
        RequestStore {
            directory: directory.into(),
        }
    }

    /// The directory of pending requests.
    pub fn pending_directory(&self) -> PathBuf {
        self.directory.join("pending")
    }

    fn pending_path(&self, id: &str) -> PathBuf {
        self.pending_directory().join(format!("{id}.json"))
    }

    fn decided_path(&self, id: &str) -> PathBuf {
        self.directory.join(format!("{id}.json"))
    }

    /// Stores a new pending request durably.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyExists`] when a request with its id exists, and
    /// [`Error::Io`] when the file cannot be written.
    pub fn create(&self, request: &StoredRequest) -> Result<()> {
        let id = &request.record.id;
        validate_id(id)?;
        let pending = self.pending_directory();
        if !pending.is_dir() {
            // One level at a time, so that each new directory's entry in its parent is synced.
            create_directory(&self.directory)?;
            create_directory(&pending)?;
        }
        if self.decided_path(id).exists() {
            return Err(duplicate_id(id));
        }
        let path = self.pending_path(id);
        match write_atomic(&path, &encode(request, &path)?, 0o644, Replace::Forbid) {
            Err(Error::AlreadyExists { .. }) => Err(duplicate_id(id)),
            other => other,
        }
    }

    /// Reads a request by id; a decided request wins over a pending file left by a crash.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an id that is not 16 lowercase hexadecimal
    /// characters (the file system is not touched then), [`Error::NotFound`]
    /// for an unknown id, and [`Error::Io`] or [`Error::InvalidInput`] naming
    /// the file when it cannot be read.
    pub fn load(&self, id: &str) -> Result<StoredRequest> {
        validate_id(id)?;

        // The pending file is read first: a decision writes the decided file
        // before it removes the pending one, so a miss here means the decided
        // file exists by now, if the request exists at all.
        if let Some(pending) = read_request(&self.pending_path(id))? {
            if let Some(decided) = read_request(&self.decided_path(id))? {
                return Ok(decided);
            }
            return Ok(pending);
        }
        read_request(&self.decided_path(id))?.ok_or_else(|| Error::NotFound {
            kind: "request",
            name: id.to_owned(),
        })
    }

    /// Lists the pending requests, oldest first.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the directory cannot be listed, and
    /// [`Error::Io`] or [`Error::InvalidInput`] naming a file that cannot be read.
    pub fn pending(&self) -> Result<Vec<StoredRequest>> {
        let mut requests = Vec::new();
        for id in self.pending_ids()? {
            if self.decided_path(&id).exists() {
                continue;
            }
            if let Some(request) = read_request(&self.pending_path(&id))? {
                requests.push(request);
            }
        }
        requests.sort_by(|a, b| {
            (&a.record.received, &a.record.id).cmp(&(&b.record.received, &b.record.id))
        });
        Ok(requests)
    }

    /// Counts the files in `requests/pending/` without reading them. After a
    /// crash between the two steps of a decision, the count includes the
    /// decided request until its pending file is cleaned up.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the directory cannot be listed.
    pub fn count_pending(&self) -> Result<usize> {
        Ok(self.pending_ids()?.len())
    }

    fn pending_ids(&self) -> Result<Vec<String>> {
        let directory = self.pending_directory();
        let entries = match fs::read_dir(&directory) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("list", directory, e)),
        };
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("list", &directory, e))?;
            let name = entry.file_name();
            // Temporary files of write_atomic start with a dot and are skipped with any other stray name.
            let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            if is_valid_id(id) {
                ids.push(id.to_owned());
            }
        }
        Ok(ids)
    }

    /// Records a decision: writes the request with its new state as
    /// `requests/ID.json`, then removes the pending file. The caller holds the
    /// directory lock, which `_lock` proves, and has checked that the request
    /// is pending.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when `request` is still pending, and [`Error::Io`].
    pub fn decide(&self, request: &StoredRequest, _lock: &DirectoryLock) -> Result<()> {
        let id = &request.record.id;
        validate_id(id)?;
        if request.record.state == RequestState::Pending {
            return Err(Error::invalid_input(
                format!("state of request {id}"),
                "a decision must set the state to issued or rejected",
            ));
        }

        let path = self.decided_path(id);
        write_atomic(&path, &encode(request, &path)?, 0o644, Replace::Allow)?;

        // The removal is not synced: should a power loss undo it, the decided
        // file, which is synced, still wins, and the pending file is cleaned
        // up the next time the request is decided on. That saves one fsync
        // per decision.
        let pending = self.pending_path(id);
        match fs::remove_file(&pending) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", pending, e)),
        }
    }

    /// Removes a pending file that a crash left beside its decided request.
    /// The caller holds the directory lock, which `_lock` proves.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be removed.
    pub fn remove_stale_pending(&self, id: &str, _lock: &DirectoryLock) -> Result<()> {
        validate_id(id)?;
        if !self.decided_path(id).exists() {
            return Ok(());
        }
        let pending = self.pending_path(id);
        match fs::remove_file(&pending) {
            Ok(()) => {
                tracing::info!(
                    request = id,
                    "removed the pending file of a decided request left by a crash"
                );
                sync_directory(&self.pending_directory())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", pending, e)),
        }
    }
}

fn duplicate_id(id: &str) -> Error {
    Error::AlreadyExists {
        kind: "request",
        name: id.to_owned(),
        hint: "submit the request again to get a new id",
    }
}

fn encode(request: &StoredRequest, path: &Path) -> Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(request)
        .map_err(|e| Error::io("encode", path, std::io::Error::other(e)))?;
    bytes.push(b'\n');
    Ok(bytes)
}

fn read_request(path: &Path) -> Result<Option<StoredRequest>> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", path, e)),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        Error::invalid_input(
            format!("request file {}", path.display()),
            format!("{e}; restore it from a backup or move it out of the requests directory"),
        )
    })
}

/// Makes a new random request id.
pub fn new_id() -> String {
    let mut bytes = [0u8; ID_LENGTH / 2];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn is_valid_id(id: &str) -> bool {
    id.len() == ID_LENGTH && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Checks that `id` is a request id as certa makes them, so that it is safe
/// to put in a path.
///
/// # Errors
///
/// [`Error::InvalidInput`] showing the start of the id.
pub fn validate_id(id: &str) -> Result<()> {
    if is_valid_id(id) {
        return Ok(());
    }
    let shown: String = id.chars().take(40).collect();
    Err(Error::invalid_input(
        "request id",
        format!("{shown:?} is not {ID_LENGTH} lowercase hexadecimal characters; copy the id the server returned on submission"),
    ))
}

/// Checks a request's name, the file name root the requester keeps its key
/// and certificate under: 1 to 64 ASCII letters, digits, `-`, `_` and `.`,
/// not starting with a dot.
///
/// # Errors
///
/// [`Error::InvalidInput`] naming the value.
pub fn validate_name(name: &str) -> Result<()> {
    let shown: String = name.chars().take(80).collect();
    let invalid =
        |reason: &str| Error::invalid_input("request name", format!("{shown:?} {reason}"));
    if name.is_empty() {
        return Err(invalid(
            "is empty; give a file name root such as FLCAclient",
        ));
    }
    if name.len() > MAX_NAME_LENGTH {
        return Err(invalid(&format!(
            "is longer than {MAX_NAME_LENGTH} characters"
        )));
    }
    if name.starts_with('.') {
        return Err(invalid("starts with a dot"));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if !name.chars().all(allowed) {
        return Err(invalid(
            "has characters other than letters, digits, '-', '_' and '.'",
        ));
    }
    Ok(())
}

/// Checks a request's contact: a name is required; phone and e-mail are optional.
///
/// # Errors
///
/// [`Error::InvalidInput`] naming the field and the value.
pub fn validate_contact(contact: &Contact) -> Result<()> {
    if contact.name.trim().is_empty() {
        return Err(Error::invalid_input(
            "contact name",
            "the name is empty; give the name of the person the CA operator can call",
        ));
    }
    check_text("contact name", &contact.name, MAX_CONTACT_NAME_LENGTH)?;
    if let Some(phone) = &contact.phone {
        check_text("contact phone", phone, MAX_PHONE_LENGTH)?;
    }
    if let Some(email) = &contact.email {
        check_text("contact e-mail", email, MAX_EMAIL_LENGTH)?;
        let valid = email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty());
        if !valid {
            return Err(Error::invalid_input(
                "contact e-mail",
                format!("{email:?} is not an address of the form name@domain"),
            ));
        }
    }
    Ok(())
}

/// Checks free text that ends up in request files, logs and the audit log:
/// 1 to `max` characters and no control characters, so each log entry stays on one line.
///
/// # Errors
///
/// [`Error::InvalidInput`] naming the field.
pub fn check_text(what: &str, value: &str, max: usize) -> Result<()> {
    let length = value.chars().count();
    if length == 0 || length > max {
        let shown: String = value.chars().take(40).collect();
        return Err(Error::invalid_input(
            what,
            format!("{shown:?} has {length} characters; it must have 1 to {max}"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid_input(
            what,
            format!("{value:?} contains a control character such as a newline or a tab"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_id_is_valid() {
        assert!(validate_id(&new_id()).is_ok());
    }

    #[test]
    fn hostile_ids_rejected() {
        for id in [
            "../x",
            "",
            "0123456789ABCDEF",
            "0123456789abcde/",
            "0123456789abcdef0",
        ] {
            assert!(validate_id(id).is_err(), "{id:?}");
        }
    }

    #[test]
    fn names_checked() {
        assert!(validate_name("FLCAclient-1_a.b").is_ok());
        for name in ["", ".hidden", "a/b", "a b", &"x".repeat(65)] {
            assert!(validate_name(name).is_err(), "{name:?}");
        }
    }

    #[test]
    fn contact_checked() {
        let mut contact = Contact {
            name: "Ada".to_owned(),
            phone: Some("+49 30 1234".to_owned()),
            email: Some("ada@example.org".to_owned()),
        };
        assert!(validate_contact(&contact).is_ok());
        contact.email = Some("ada".to_owned());
        assert!(validate_contact(&contact).is_err());
        contact.email = None;
        contact.phone = Some("1".repeat(33));
        assert!(validate_contact(&contact).is_err());
        contact.phone = None;
        contact.name = " ".to_owned();
        assert!(validate_contact(&contact).is_err());
    }

    #[test]
    fn newline_in_text_rejected() {
        assert!(check_text("reason", "a\nb", 10).is_err());
    }
}
