//! The CA server: receives CSRs, keeps them pending until the operator issues
//! or rejects them, and records what it issued.
//!
//! Every change to the CA directory's shared state (the serial file,
//! `index.txt`, a request's state) happens under one exclusive file lock
//! (`ROOT.lock`), so several threads and several processes can work on one
//! instance. Issuance holds the lock from the state check to the state
//! change, signing included, so that two processes can never both issue
//! one request.
//!
//! Issued certificates are stored as `certs/HEX.cer`, PEM, where `HEX` is the
//! certificate number in OpenSSL's form (uppercase, even digit count). That is
//! the name `openssl ca` gives files in its `new_certs_dir` and the serial
//! number `index.txt` shows, so an operator can go from a line of the index to
//! the file without converting.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

use base64::Engine as _;
use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use super::audit::{self, rfc3339, AuditEvent};
use super::builder::{build_certificate, CaIdentity, IssueParams};
use super::index::{openssl_oneline, Index, IndexEntry};
pub use super::profile::Usage;
use super::requests::{
    check_text, new_id, validate_contact, validate_id, validate_name, RequestStore, StoredRequest,
    MAX_REASON_LENGTH, MAX_SOURCE_LENGTH,
};
pub use super::requests::{RequestRecord, RequestState};
use super::serial::{serial_hex, DirectoryLock, SerialFile};
use super::CaPaths;
use crate::csr::CertificateRequest;
use crate::fingerprint::Fingerprints;
use crate::fsutil::{create_directory, write_atomic, Replace};
use crate::key::{KeyStore, KeyUri, SecretString, Signer};
use crate::settings::{Contact, ServerSettings, Settings};
use crate::{Error, Result};

/// A CA server instance, opened from its settings.
///
/// `CaServer` is `Send + Sync`: one value can serve many threads.
#[derive(Debug)]
pub struct CaServer {
    instance_dir: PathBuf,
    paths: CaPaths,
    settings: ServerSettings,
    requests: RequestStore,
    serial: SerialFile,
    index: Index,
    ca: OnceLock<CaIdentity>,
    pending_count: Mutex<PendingCount>,
    journal: Mutex<Journal>,
}

/// The CA certificate and what clients check it by.
#[derive(Debug, Clone, Serialize)]
pub struct CaCertificateInfo {
    /// The CA certificate, PEM.
    pub pem: String,
    /// The certificates above an intermediate CA, issuer first, PEM; empty for a root CA.
    pub chain_pem: Vec<String>,
    /// The CA's subject for people (`CN=First Look CA, O=Example`).
    pub subject: String,
    /// Start of validity, RFC 3339 UTC.
    pub not_before: String,
    /// End of validity, RFC 3339 UTC.
    pub not_after: String,
    /// SHA-1 and SHA-256 fingerprints of the certificate (DER).
    pub fingerprints: Fingerprints,
}

/// A CSR as it arrives, with who sent it.
#[derive(Debug, Clone)]
pub struct Submission {
    /// The file name root the requester uses for the key and certificate.
    pub name: String,
    /// The CSR, PEM or DER.
    pub csr: Vec<u8>,
    /// The person to call about the request.
    pub contact: Contact,
    /// The peer address, or `"local"`.
    pub source: String,
}

/// A request in full, for the operator to check before issuing.
#[derive(Debug, Clone, Serialize)]
pub struct RequestDetails {
    /// The request's metadata.
    pub record: RequestRecord,
    /// The CSR's subject for people.
    pub subject: String,
    /// The requested public key for people, such as `ECDSA P-256`.
    pub key: String,
    /// The subject alternative names the CSR requests (`DNS:host.example`).
    pub subject_alt_names: Vec<String>,
    /// SHA-1 and SHA-256 fingerprints of the CSR (DER).
    pub fingerprints: Fingerprints,
    /// The CSR, PEM.
    pub csr_pem: String,
}

/// A certificate the CA issued.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedCertificate {
    /// The certificate number, equal to the X.509 serial number.
    pub number: u64,
    /// The request it was issued for.
    pub request_id: String,
    /// The certificate's subject for people.
    pub subject: String,
    /// The profile it was issued under.
    pub usage: Usage,
    /// Start of validity, RFC 3339 UTC.
    pub not_before: String,
    /// End of validity, RFC 3339 UTC.
    pub not_after: String,
    /// The certificate, PEM.
    pub pem: String,
    /// The certificate file.
    pub path: PathBuf,
    /// SHA-1 and SHA-256 fingerprints of the certificate (DER).
    pub fingerprints: Fingerprints,
}

/// The issuances recorded in `audit.log`, read incrementally.
///
/// The audit log is the one record that ties a certificate number to its
/// request and usage; the certificate file and `index.txt` hold neither.
#[derive(Debug, Default)]
struct Journal {
    /// The byte offset up to which the log has been read.
    offset: u64,
    by_number: HashMap<u64, Issuance>,
    by_request: HashMap<String, Vec<u64>>,
}

/// The size of the pending queue as counted by this process, so that a
/// submission need not list `requests/pending/`.
///
/// NOTE: requests that another process submits are not seen until the next
/// recount, which happens when the queue looks full or the pending requests
/// are listed. A second submitting process can so push the queue past its
/// limit by what it submitted since then.
#[derive(Debug, Default)]
struct PendingCount {
    /// Pending requests on disk at the last count, plus those stored since; `None` until first counted.
    stored: Option<usize>,
    /// Submissions that have passed the limit check and are being written.
    in_flight: usize,
}

#[derive(Debug, Clone)]
struct Issuance {
    request_id: String,
    usage: Usage,
}

impl CaServer {
    /// Opens the CA server of the instance in `instance_dir`.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when the instance is no CA server, and
    /// [`Error::Io`] or [`Error::Settings`] when its settings cannot be read.
    pub fn open(instance_dir: &Path) -> Result<CaServer> {
        let settings = Settings::load(instance_dir)?;
        let Some(server) = settings.server else {
            return Err(Error::NotFound {
                kind: "CA server",
                name: format!(
                    "instance {}; set up a CA server in it first",
                    instance_dir.display()
                ),
            });
        };
        let paths = CaPaths::new(instance_dir.join(&server.directory), server.root.clone());
        Ok(CaServer {
            instance_dir: instance_dir.to_path_buf(),
            requests: RequestStore::new(paths.requests()),
            serial: SerialFile::new(paths.serial()),
            index: Index::new(paths.index()),
            paths,
            settings: server,
            ca: OnceLock::new(),
            pending_count: Mutex::new(PendingCount::default()),
            journal: Mutex::new(Journal::default()),
        })
    }

    /// The paths of the CA directory's files.
    pub fn paths(&self) -> &CaPaths {
        &self.paths
    }

    /// The server's settings.
    pub fn settings(&self) -> &ServerSettings {
        &self.settings
    }

    /// The instance directory.
    pub fn instance_dir(&self) -> &Path {
        &self.instance_dir
    }

    /// The lock file that serializes changes to the CA directory (`ROOT.lock`).
    pub fn lock_path(&self) -> PathBuf {
        self.paths
            .directory()
            .join(format!("{}.lock", self.paths.root))
    }

    /// The file a certificate number is stored in: `certs/HEX.cer`.
    pub fn certificate_path(&self, number: u64) -> PathBuf {
        self.paths
            .certs()
            .join(format!("{}.cer", serial_hex(number)))
    }

    /// Reads the CA certificate and, for an intermediate CA, its chain.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when a file cannot be read and [`Error::InvalidCertificate`]
    /// when the CA certificate is not a PEM certificate.
    pub fn ca_certificate(&self) -> Result<CaCertificateInfo> {
        let path = self.paths.certificate();
        let der = read_pem_certificate(&path)?;
        let certificate = parse_certificate(&der, &path)?;
        let chain_pem = match std::fs::read_to_string(self.paths.chain()) {
            Ok(text) => split_pem_blocks(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::io("read", self.paths.chain(), e)),
        };
        let validity = certificate.validity();
        Ok(CaCertificateInfo {
            pem: pem_encode("CERTIFICATE", &der),
            chain_pem,
            subject: certificate.subject().to_string(),
            not_before: rfc3339(validity.not_before.to_datetime()),
            not_after: rfc3339(validity.not_after.to_datetime()),
            fingerprints: Fingerprints::of(&der),
        })
    }

    /// Checks a CSR and its metadata and stores them as a pending request.
    ///
    /// A CSR or metadata that fails a check stores nothing.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCsr`] for a CSR that cannot be parsed, has a bad
    /// signature or breaks certa's policy; [`Error::InvalidInput`] for a bad
    /// name, contact or source; [`Error::QueueFull`] when
    /// `max_pending_requests` requests are pending; [`Error::Io`].
    pub fn submit(&self, submission: Submission) -> Result<RequestRecord> {
        let csr = match check_submission(&submission) {
            Ok(csr) => csr,
            Err(e) => {
                tracing::info!(source = ?submission.source, error = %e, "rejected a submission");
                return Err(e);
            }
        };

        self.reserve_queue_slot(&submission.source)?;

        let record = RequestRecord {
            id: new_id(),
            name: submission.name,
            subject: csr.subject().to_owned(),
            state: RequestState::Pending,
            received: received_now(),
            contact: submission.contact,
            source: submission.source,
            sha1_fingerprint: csr.fingerprints().sha1.clone(),
            certificate_number: None,
            reason: None,
        };
        let stored = StoredRequest {
            record,
            csr_pem: csr.to_pem(),
        };
        let created = self.requests.create(&stored);
        self.release_queue_slot(created.is_ok());
        created?;

        let record = stored.record;
        tracing::info!(request = %record.id, subject = %record.subject, source = %record.source, "received a request");
        audit::append(
            &self.paths.audit_log(),
            AuditEvent::RequestReceived {
                request_id: record.id.clone(),
                subject: record.subject.clone(),
                fingerprint: record.sha1_fingerprint.clone(),
                source: record.source.clone(),
            },
        )?;
        Ok(record)
    }

    /// Returns a request's metadata.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an id that is not 16 lowercase hexadecimal
    /// characters, [`Error::NotFound`] for an unknown id, and [`Error::Io`].
    pub fn request(&self, id: &str) -> Result<RequestRecord> {
        Ok(self.requests.load(id)?.record)
    }

    /// Lists the pending requests, oldest first.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the queue cannot be read.
    pub fn pending(&self) -> Result<Vec<RequestRecord>> {
        let pending: Vec<RequestRecord> = self
            .requests
            .pending()?
            .into_iter()
            .map(|stored| stored.record)
            .collect();
        if let Ok(mut count) = self.pending_count.lock() {
            count.stored = Some(pending.len());
        }
        Ok(pending)
    }

    /// Returns a request in full: its metadata and what the CSR requests.
    ///
    /// # Errors
    ///
    /// As [`CaServer::request`], plus [`Error::InvalidCsr`] when the stored
    /// CSR no longer parses.
    pub fn show(&self, id: &str) -> Result<RequestDetails> {
        let stored = self.requests.load(id)?;
        let csr = CertificateRequest::from_bytes(stored.csr_pem.as_bytes())?;
        Ok(RequestDetails {
            subject: csr.subject().to_owned(),
            key: csr.key_description(),
            subject_alt_names: csr.subject_alt_names().to_vec(),
            fingerprints: csr.fingerprints().clone(),
            csr_pem: stored.csr_pem,
            record: stored.record,
        })
    }

    /// Issues a certificate for a pending request, signed by `signer`.
    ///
    /// These steps run under the directory lock:
    ///
    /// 1. check that the request is pending;
    /// 2. reserve the certificate number durably, so that a failure from here
    ///    on leaves a gap in the numbers, never a reused number;
    /// 3. build and sign the certificate, and check its signature with the
    ///    CA's public key;
    /// 4. write `certs/HEX.cer`, and append to `index.txt` and `audit.log`;
    /// 5. mark the request issued.
    ///
    /// `validity_days` defaults to the server's setting.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidInput`] for a malformed id, a validity of 0 days, a
    ///   signer whose key is not the CA's, or a request that is not pending
    ///   (the message names its state);
    /// - [`Error::NotFound`] for an unknown id;
    /// - the signer's and the certificate builder's errors;
    /// - [`Error::Io`] for a file that cannot be read or written.
    pub fn issue(
        &self,
        id: &str,
        usage: Usage,
        validity_days: Option<u32>,
        signer: &dyn Signer,
    ) -> Result<IssuedCertificate> {
        validate_id(id)?;
        let validity_days = validity_days.unwrap_or(self.settings.validity_days);
        if validity_days == 0 {
            return Err(Error::invalid_input("validity", "0 days; give at least 1"));
        }
        let ca = self.ca_identity()?;
        if signer.public_key() != ca.public_key() {
            return Err(Error::invalid_input(
                "CA key",
                format!(
                    "the key given for signing is not the key of the CA certificate {}; unlock the key named in the server settings ({})",
                    self.paths.certificate().display(),
                    self.settings.key
                ),
            ));
        }

        let lock = self.lock()?;
        let mut stored = self.requests.load(id)?;
        self.check_pending(&stored, &lock)?;
        let csr = CertificateRequest::from_bytes(stored.csr_pem.as_bytes())?;

        let number = self.serial.reserve(&lock)?;
        let params = IssueParams {
            serial: number,
            usage,
            validity_days,
            now: OffsetDateTime::now_utc(),
        };
        let der = build_certificate(ca, signer, &csr, &params)?;
        let issued = self.store_certificate(&stored.record, number, usage, &der, &lock)?;

        stored.record.state = RequestState::Issued;
        stored.record.certificate_number = Some(number);
        self.requests.decide(&stored, &lock)?;
        drop(lock);

        self.note_decided();
        tracing::info!(request = id, number, usage = %usage, subject = %issued.subject, "issued a certificate");
        Ok(issued)
    }

    /// Unlocks the CA key in `key_store` with `secret` and issues a
    /// certificate for a pending request, as [`CaServer::issue`].
    ///
    /// The key is unlocked before anything is changed, so a wrong password
    /// leaves every file as it was.
    ///
    /// # Errors
    ///
    /// [`Error::WrongPassword`] and the key store's other errors, an invalid
    /// key URI in the settings, and the errors of [`CaServer::issue`].
    pub fn issue_with_key_store(
        &self,
        id: &str,
        usage: Usage,
        validity_days: Option<u32>,
        key_store: &dyn KeyStore,
        secret: Option<&SecretString>,
    ) -> Result<IssuedCertificate> {
        validate_id(id)?;
        let key: KeyUri = self.settings.key.parse()?;
        let signer = key_store.unlock(&key, secret)?;
        self.issue(id, usage, validity_days, signer.as_ref())
    }

    /// Rejects a pending request with a reason.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a malformed id, an empty or overlong
    /// reason, or a request that is not pending (the message names its
    /// state); [`Error::NotFound`] for an unknown id; [`Error::Io`].
    pub fn reject(&self, id: &str, reason: &str) -> Result<RequestRecord> {
        validate_id(id)?;
        check_text("rejection reason", reason.trim(), MAX_REASON_LENGTH)?;

        let lock = self.lock()?;
        let mut stored = self.requests.load(id)?;
        self.check_pending(&stored, &lock)?;
        stored.record.state = RequestState::Rejected;
        stored.record.reason = Some(reason.trim().to_owned());
        self.requests.decide(&stored, &lock)?;
        audit::append(
            &self.paths.audit_log(),
            AuditEvent::Rejected {
                request_id: id.to_owned(),
                subject: stored.record.subject.clone(),
                reason: reason.trim().to_owned(),
            },
        )?;
        drop(lock);

        self.note_decided();
        tracing::info!(request = id, reason = reason.trim(), "rejected a request");
        Ok(stored.record)
    }

    /// Lists the certificates issued for a request, by number.
    ///
    /// # Errors
    ///
    /// As [`CaServer::request`], plus the errors of [`CaServer::certificate`].
    pub fn certificates_for_request(&self, id: &str) -> Result<Vec<IssuedCertificate>> {
        self.requests.load(id)?;
        let numbers = {
            let journal = self.journal()?;
            journal.by_request.get(id).cloned().unwrap_or_default()
        };
        numbers
            .into_iter()
            .map(|number| self.certificate(number))
            .collect()
    }

    /// Returns an issued certificate by number.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for a number the audit log records no issuance of,
    /// [`Error::Io`] and [`Error::InvalidCertificate`] when its file cannot be read.
    pub fn certificate(&self, number: u64) -> Result<IssuedCertificate> {
        let issuance = {
            let journal = self.journal()?;
            journal.by_number.get(&number).cloned()
        };
        let Some(issuance) = issuance else {
            return Err(Error::NotFound {
                kind: "certificate",
                name: format!("number {number} ({})", serial_hex(number)),
            });
        };
        let path = self.certificate_path(number);
        let der = read_pem_certificate(&path)?;
        issued_certificate(number, &issuance.request_id, issuance.usage, &der, path)
    }

    /// Lists every issued certificate, by number.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] and [`Error::InvalidCertificate`] when a certificate cannot be read.
    pub fn issued(&self) -> Result<Vec<IssuedCertificate>> {
        let mut numbers: Vec<u64> = self.journal()?.by_number.keys().copied().collect();
        numbers.sort_unstable();
        numbers
            .into_iter()
            .map(|number| self.certificate(number))
            .collect()
    }

    fn lock(&self) -> Result<DirectoryLock> {
        DirectoryLock::acquire(&self.lock_path())
    }

    fn ca_identity(&self) -> Result<&CaIdentity> {
        if let Some(ca) = self.ca.get() {
            return Ok(ca);
        }
        let der = read_pem_certificate(&self.paths.certificate())?;
        let ca = CaIdentity::from_der(&der)?;
        Ok(self.ca.get_or_init(|| ca))
    }

    /// Checks under the lock that a request is pending. A request the audit
    /// log shows as issued, whose state a crash kept from being recorded, is
    /// marked issued now and refused.
    fn check_pending(&self, stored: &StoredRequest, lock: &DirectoryLock) -> Result<()> {
        let record = &stored.record;
        if record.state != RequestState::Pending {
            self.requests.remove_stale_pending(&record.id, lock)?;
            return Err(not_pending(record));
        }

        let recorded = {
            let journal = self.journal()?;
            journal
                .by_request
                .get(&record.id)
                .and_then(|n| n.last().copied())
        };
        if let Some(number) = recorded {
            let mut repaired = stored.clone();
            repaired.record.state = RequestState::Issued;
            repaired.record.certificate_number = Some(number);
            self.requests.decide(&repaired, lock)?;
            tracing::warn!(request = %record.id, number, "marked a request issued that the audit log records as issued; a crash had kept its state from being saved");
            return Err(not_pending(&repaired.record));
        }
        Ok(())
    }

    /// Writes the certificate file and appends the certificate to `index.txt` and `audit.log`.
    fn store_certificate(
        &self,
        record: &RequestRecord,
        number: u64,
        usage: Usage,
        der: &[u8],
        lock: &DirectoryLock,
    ) -> Result<IssuedCertificate> {
        let certs = self.paths.certs();
        if !certs.is_dir() {
            create_directory(&certs)?;
        }
        let path = self.certificate_path(number);
        let pem = pem_encode("CERTIFICATE", der);
        write_atomic(&path, pem.as_bytes(), 0o644, Replace::Forbid)?;

        let certificate = parse_certificate(der, &path)?;
        let entry = IndexEntry::valid(
            number,
            certificate.validity().not_after.to_datetime(),
            openssl_oneline(certificate.subject()),
        );
        self.index.append(&entry, lock)?;

        let issued = issued_certificate(number, &record.id, usage, der, path)?;
        audit::append(
            &self.paths.audit_log(),
            AuditEvent::Issued {
                request_id: record.id.clone(),
                number,
                subject: issued.subject.clone(),
                usage: usage.to_string(),
                fingerprint: issued.fingerprints.sha256.clone(),
            },
        )?;
        Ok(issued)
    }

    /// Takes a place in the pending queue for a submission about to be
    /// written, or fails with [`Error::QueueFull`]. The place is taken before
    /// the slow, durable write, so concurrent submissions in this process
    /// cannot overshoot the limit together.
    fn reserve_queue_slot(&self, source: &str) -> Result<()> {
        let limit = self.settings.max_pending_requests;
        let mut count = self.pending_count.lock().map_err(|_| poisoned())?;
        let mut stored = match count.stored {
            Some(stored) => stored,
            None => self.requests.count_pending()?,
        };
        if stored + count.in_flight >= limit {
            // Another process may have issued or rejected requests since the
            // last count. The recount also counts the files of submissions still in
            // flight here, so it errs on the side of a full queue.
            stored = self.requests.count_pending()?;
        }
        count.stored = Some(stored);
        if stored + count.in_flight >= limit {
            tracing::warn!(
                limit,
                source,
                "rejected a submission: the pending queue is full"
            );
            return Err(Error::QueueFull { limit });
        }
        count.in_flight += 1;
        Ok(())
    }

    fn release_queue_slot(&self, stored: bool) {
        if let Ok(mut count) = self.pending_count.lock() {
            count.in_flight = count.in_flight.saturating_sub(1);
            if stored {
                count.stored = count.stored.map(|n| n + 1);
            }
        }
    }

    fn note_decided(&self) {
        if let Ok(mut count) = self.pending_count.lock() {
            count.stored = count.stored.map(|n| n.saturating_sub(1));
        }
    }

    /// The journal, brought up to date with what other threads and processes appended.
    fn journal(&self) -> Result<MutexGuard<'_, Journal>> {
        let mut journal = self.journal.lock().map_err(|_| poisoned())?;
        let (records, offset) = audit::read_from(&self.paths.audit_log(), journal.offset)?;
        journal.offset = offset;
        for record in records {
            let AuditEvent::Issued {
                request_id,
                number,
                usage,
                ..
            } = record.event
            else {
                continue;
            };
            let Ok(usage) = usage.parse::<Usage>() else {
                tracing::warn!(
                    number,
                    usage,
                    "skipped an issued event with an unknown usage in the audit log"
                );
                continue;
            };
            journal
                .by_request
                .entry(request_id.clone())
                .or_default()
                .push(number);
            journal
                .by_number
                .insert(number, Issuance { request_id, usage });
        }
        Ok(journal)
    }
}

/// Checks a submission's metadata and parses and verifies its CSR.
fn check_submission(submission: &Submission) -> Result<CertificateRequest> {
    validate_name(&submission.name)?;
    validate_contact(&submission.contact)?;
    check_text("request source", &submission.source, MAX_SOURCE_LENGTH)?;
    CertificateRequest::from_bytes(&submission.csr)
}

fn poisoned() -> Error {
    Error::io(
        "use the in-memory state of",
        "CA server",
        std::io::Error::other("a thread panicked while holding a lock; restart the server"),
    )
}

fn not_pending(record: &RequestRecord) -> Error {
    let detail = match (record.state, record.certificate_number) {
        (RequestState::Issued, Some(number)) => format!(
            "it was already issued as certificate number {number}; fetch that certificate, or ask for a new request"
        ),
        (RequestState::Rejected, _) => format!(
            "it was rejected ({}); the requester must submit a new request",
            record.reason.as_deref().unwrap_or("no reason given")
        ),
        (state, _) => format!("it is {state}"),
    };
    Error::invalid_input(
        format!("state of request {}", record.id),
        format!("the request is {}, not pending: {detail}", record.state),
    )
}

/// The current time, RFC 3339 UTC with microseconds in fixed width, so that
/// request times sort as text.
fn received_now() -> String {
    let now = OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.microsecond()
    )
}

fn issued_certificate(
    number: u64,
    request_id: &str,
    usage: Usage,
    der: &[u8],
    path: PathBuf,
) -> Result<IssuedCertificate> {
    let certificate = parse_certificate(der, &path)?;
    let validity = certificate.validity();
    Ok(IssuedCertificate {
        number,
        request_id: request_id.to_owned(),
        subject: certificate.subject().to_string(),
        usage,
        not_before: rfc3339(validity.not_before.to_datetime()),
        not_after: rfc3339(validity.not_after.to_datetime()),
        pem: pem_encode("CERTIFICATE", der),
        path,
        fingerprints: Fingerprints::of(der),
    })
}

fn parse_certificate<'a>(der: &'a [u8], path: &Path) -> Result<X509Certificate<'a>> {
    let (_, certificate) =
        X509Certificate::from_der(der).map_err(|e| Error::InvalidCertificate {
            what: path.display().to_string(),
            reason: "the DER encoding is not an X.509 certificate".to_owned(),
            source: Some(Box::new(e)),
        })?;
    Ok(certificate)
}

/// Reads the first PEM certificate in a file and returns its DER.
fn read_pem_certificate(path: &Path) -> Result<Vec<u8>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::NotFound {
                kind: "certificate file",
                name: path.display().to_string(),
            })
        }
        Err(e) => return Err(Error::io("read", path, e)),
    };
    let (_, pem) =
        x509_parser::pem::parse_x509_pem(&bytes).map_err(|e| Error::InvalidCertificate {
            what: path.display().to_string(),
            reason: "the file holds no PEM certificate".to_owned(),
            source: Some(Box::new(e)),
        })?;
    if pem.label != "CERTIFICATE" {
        return Err(Error::InvalidCertificate {
            what: path.display().to_string(),
            reason: format!("the PEM block is labelled {:?}, not CERTIFICATE", pem.label),
            source: None,
        });
    }
    Ok(pem.contents)
}

/// Encodes DER as PEM with 64-character lines and LF line ends.
fn pem_encode(label: &str, der: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in encoded.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

/// Splits a PEM file into its blocks, each ending with a newline.
fn split_pem_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim_end();
        if line.starts_with("-----BEGIN ") {
            current = Some(String::new());
        }
        if let Some(block) = current.as_mut() {
            block.push_str(line);
            block.push('\n');
        }
        if line.starts_with("-----END ") {
            if let Some(block) = current.take() {
                blocks.push(block);
            }
        }
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<CaServer>();
    }

    #[test]
    fn pem_blocks_split() {
        let text = "junk\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n";
        let blocks = split_pem_blocks(text);
        assert_eq!(blocks.len(), 2);
        assert!(blocks[1].contains("BBBB"));
    }

    #[test]
    fn received_time_is_fixed_width() {
        assert_eq!(received_now().len(), "2026-01-02T03:04:05.000006Z".len());
    }
}
