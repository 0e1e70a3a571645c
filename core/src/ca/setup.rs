//! Setting up a CA server in an instance directory: a self-signed root CA
//! made here, or an intermediate CA whose certificate an outside CA issued.
//!
//! Either way the CA directory (`DIRECTORY/`) ends up holding `ROOT.cer`,
//! `ROOT.srl` (`02`: the CA certificate of a self-signed CA is number 1, and
//! an intermediate CA starts at 2 as well), `ROOT.key` when the key is in the
//! file key store, `ROOT-chain.pem` for an intermediate CA, and `audit.log`
//! with the "configured" event; the instance's `certa.yaml` gets a `server`
//! section.
//!
//! Set-up is all or nothing. The CA is built in a staging directory next to
//! the target and renamed into place at the end, and the settings are saved
//! last; a set-up that fails leaves the instance as it was. An existing CA is
//! replaced only when asked, and then it is moved aside first and removed
//! only after the new one is in place.

mod certificate;
mod checks;
mod staging;

use std::path::{Component, Path, PathBuf};

use time::format_description::well_known::Rfc3339;
use time::Duration;

use self::certificate::{
    certificate_pem, certificates, parse_certificate, self_signed_certificate, single_certificate,
    verify_issued_by,
};
use self::checks::{check_is_ca, check_issued_by_chain, check_key_matches, check_valid_now};
use self::staging::{Existing, Staging};
use super::serial::format_serial;
use super::{audit, CaPaths};
use crate::fingerprint::Fingerprints;
use crate::fsutil::{write_atomic, Replace};
use crate::key::{KeyAlgorithm, KeyStore, KeyUri, SecretString, SubjectPublicKeyInfoDer};
use crate::name::SubjectName;
use crate::settings::{ServerSettings, Settings, SETTINGS_FILE};
use crate::{Error, Result};

/// The validity of a self-signed CA certificate when none is given, in days (about ten years).
pub const DEFAULT_CA_VALIDITY_DAYS: u32 = 3650;

/// The maximum validity of a CA certificate, in days (about a hundred years).
pub const MAX_CA_VALIDITY_DAYS: u32 = 36_525;

/// How far notBefore is set before the moment of set-up, so that a relying
/// party whose clock is a little behind accepts the CA certificate at once.
pub const BACKDATE: Duration = Duration::minutes(5);

/// The number of the first certificate a new CA issues.
const FIRST_ISSUED_NUMBER: u64 = 2;

/// The mode of files others may read (certificates, the serial file).
const PUBLIC_FILE_MODE: u32 = 0o644;

/// The mode of a key file.
const KEY_FILE_MODE: u32 = 0o600;

/// The inputs of a self-signed CA set-up.
#[derive(Debug, Clone)]
pub struct SelfSignedSetup {
    /// The file name root (`FLCA` gives `FLCA.cer`, `FLCA.key`, `FLCA.srl`).
    pub root: String,
    /// The CA directory, relative to the instance directory (`flca`).
    pub directory: PathBuf,
    /// The CA's subject name.
    pub subject: SubjectName,
    /// The algorithm of the new key pair.
    pub algorithm: KeyAlgorithm,
    /// How long the CA certificate is valid, in days from now.
    pub validity_days: u32,
    /// The URI of the new key; `None` gives `file:DIRECTORY/ROOT.key`.
    pub key: Option<KeyUri>,
    /// Whether an existing CA may be replaced (its directory is removed).
    pub replace: bool,
}

impl SelfSignedSetup {
    /// Returns a set-up of the CA `root` in `directory` with `subject`, an
    /// ECDSA P-256 key in `DIRECTORY/ROOT.key` and a validity of
    /// [`DEFAULT_CA_VALIDITY_DAYS`].
    pub fn new(
        root: impl Into<String>,
        directory: impl Into<PathBuf>,
        subject: SubjectName,
    ) -> Self {
        SelfSignedSetup {
            root: root.into(),
            directory: directory.into(),
            subject,
            algorithm: KeyAlgorithm::default(),
            validity_days: DEFAULT_CA_VALIDITY_DAYS,
            key: None,
            replace: false,
        }
    }
}

/// The inputs of an intermediate CA set-up: an existing key pair and the
/// certificate an outside CA issued for it.
#[derive(Debug, Clone)]
pub struct IntermediateSetup {
    /// The file name root.
    pub root: String,
    /// The CA directory, relative to the instance directory.
    pub directory: PathBuf,
    /// The existing key: a `file:` URI of a PKCS#8 file (copied into
    /// `DIRECTORY/ROOT.key`), or a `pkcs11:` URI.
    pub key: KeyUri,
    /// The CA certificate the outside CA issued, PEM.
    pub certificate_pem: Vec<u8>,
    /// The outside CA's certificates, PEM, the issuer of the CA certificate first.
    pub chain_pem: Vec<u8>,
    /// Whether an existing CA may be replaced (its directory is removed).
    pub replace: bool,
}

/// The result of a set-up: the files written and the CA certificate's details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupReport {
    /// The files written, the settings file included.
    pub files: Vec<PathBuf>,
    /// The CA certificate file.
    pub certificate: PathBuf,
    /// The CA's subject, in OpenSSL's one-line form.
    pub subject: String,
    /// The end of the CA certificate's validity, RFC 3339.
    pub not_after: String,
    /// The CA certificate's SHA-1 and SHA-256 fingerprints.
    pub fingerprints: Fingerprints,
    /// The key, as a URI without a PIN value.
    pub key: String,
}

/// Makes a key pair and a self-signed CA certificate in `instance_dir`.
///
/// The certificate has serial number 1, basicConstraints cA TRUE and
/// keyUsage keyCertSign and cRLSign, both critical, and subject and authority
/// key identifiers (RFC 5280, section 4.2.1.2, method 1). Its signature is
/// verified with its own public key before it is published. The key pair is
/// made by `key_store`, protected by `secret`.
///
/// # Errors
///
/// - [`Error::InvalidInput`] for a bad root, directory, subject or validity,
/// - [`Error::AlreadyExists`] when a CA is set up already and
///   `setup.replace` is false, or the key file exists,
/// - the key store's errors, and [`Error::Io`] when a file cannot be written.
pub fn set_up_self_signed(
    instance_dir: &Path,
    setup: &SelfSignedSetup,
    key_store: &dyn KeyStore,
    secret: Option<&SecretString>,
) -> Result<SetupReport> {
    check_layout(&setup.root, &setup.directory)?;
    setup.subject.validate()?;
    check_validity_days(setup.validity_days)?;
    let mut settings = Settings::load(instance_dir)?;
    let target = instance_dir.join(&setup.directory);
    let existing = inspect_target(&target, &setup.root, &settings, setup.replace)?;

    let key = setup
        .key
        .clone()
        .unwrap_or_else(|| KeyUri::file(setup.directory.join(format!("{}.key", setup.root))));
    let key_in_ca = key
        .file_path(Path::new(""))
        .and_then(|path| inside(&path, &setup.directory));
    let key_elsewhere = match (&key_in_ca, key.file_path(instance_dir)) {
        (None, Some(path)) => Some(path),
        _ => None,
    };
    if let Some(relative) = &key_in_ca {
        if existing == Existing::Leftovers && target.join(relative).exists() {
            return Err(key_file_exists(&target.join(relative)));
        }
    }

    let staging = Staging::new(&target)?;
    let staged_key = match &key_in_ca {
        Some(relative) => KeyUri::File(staging.path().join(relative)),
        None => key.clone(),
    };
    // NOTE: a key made on a token stays there when a later step fails; only
    // key files are removed again.
    let public_key = key_store.create_key(&staged_key, setup.algorithm, secret)?;
    let outside_key = OutsideKeyFile(key_elsewhere);
    let signer = key_store.unlock(&staged_key, secret)?;
    check_same_key(&public_key, signer.public_key(), &key)?;

    let certificate_der =
        self_signed_certificate(&setup.subject, setup.validity_days, signer.as_ref())?;
    verify_issued_by(&certificate_der, signer.public_key().as_bytes()).map_err(|e| {
        Error::InvalidCertificate {
            what: "new CA certificate".to_owned(),
            reason: "its signature does not verify with its own public key; the key store signed wrongly".to_owned(),
            source: Some(Box::new(e)),
        }
    })?;

    let staged = CaPaths::new(staging.path(), &setup.root);
    write_public(
        &staged.certificate(),
        certificate_pem(&certificate_der)?.as_bytes(),
    )?;
    let report = finish_set_up(
        instance_dir,
        &setup.directory,
        &setup.root,
        FinishInput {
            staging,
            existing,
            certificate_der: &certificate_der,
            key: &key,
            chain_written: false,
            settings: &mut settings,
        },
    )?;
    outside_key.keep();
    Ok(report)
}

/// Sets up an intermediate CA from an existing key and the CA certificate an
/// outside CA issued for it.
///
/// The certificate must be a CA certificate (basicConstraints cA TRUE, and
/// keyCertSign where keyUsage is present), valid now, issued for the key
/// (the key is unlocked with `secret` and a test signature is checked with
/// the certificate's public key), and signed by the first certificate of the
/// chain. A `file:` key is copied byte for byte into `DIRECTORY/ROOT.key`, so
/// that the CA directory is complete in itself.
///
/// # Errors
///
/// - [`Error::InvalidInput`] for a bad root or directory, or PEM input that
///   holds no certificate (or more than one CA certificate),
/// - [`Error::InvalidCertificate`] whose reason says "does not match the key"
///   when the certificate is for another key, "is not a CA certificate",
///   "is not valid now" (naming both dates), or "was not issued by" the
///   chain's first certificate,
/// - [`Error::AlreadyExists`] when a CA is set up already and
///   `setup.replace` is false,
/// - the key store's errors ([`Error::WrongPassword`], [`Error::NotFound`]),
///   and [`Error::Io`] when a file cannot be read or written.
pub fn set_up_intermediate(
    instance_dir: &Path,
    setup: &IntermediateSetup,
    key_store: &dyn KeyStore,
    secret: Option<&SecretString>,
) -> Result<SetupReport> {
    check_layout(&setup.root, &setup.directory)?;
    let certificate_der = single_certificate(&setup.certificate_pem)?;
    let chain = certificates("certificate chain", &setup.chain_pem)?;
    let mut settings = Settings::load(instance_dir)?;
    let target = instance_dir.join(&setup.directory);
    let existing = inspect_target(&target, &setup.root, &settings, setup.replace)?;

    let certificate = parse_certificate("CA certificate", &certificate_der)?;
    let signer = key_store.unlock(&setup.key, secret)?;
    check_key_matches(&certificate, signer.as_ref(), &setup.key)?;
    check_is_ca(&certificate)?;
    check_valid_now(&certificate)?;
    check_issued_by_chain(&certificate_der, &certificate, &chain)?;

    let staging = Staging::new(&target)?;
    let staged = CaPaths::new(staging.path(), &setup.root);
    let key = match setup.key.file_path(instance_dir) {
        Some(source) => {
            copy_key_file(&source, &staged.key())?;
            KeyUri::file(setup.directory.join(format!("{}.key", setup.root)))
        }
        None => setup.key.clone(),
    };
    write_public(
        &staged.certificate(),
        certificate_pem(&certificate_der)?.as_bytes(),
    )?;
    let chain_pem = chain
        .iter()
        .map(|der| certificate_pem(der))
        .collect::<Result<String>>()?;
    write_public(&staged.chain(), chain_pem.as_bytes())?;

    finish_set_up(
        instance_dir,
        &setup.directory,
        &setup.root,
        FinishInput {
            staging,
            existing,
            certificate_der: &certificate_der,
            key: &key,
            chain_written: true,
            settings: &mut settings,
        },
    )
}

/// The state both kinds of set-up pass to [`finish_set_up`].
struct FinishInput<'a> {
    staging: Staging,
    existing: Existing,
    certificate_der: &'a [u8],
    /// The key's final URI.
    key: &'a KeyUri,
    chain_written: bool,
    settings: &'a mut Settings,
}

/// Writes the serial file and the audit record into the staging directory,
/// moves the CA into place, saves the settings, and reports.
fn finish_set_up(
    instance_dir: &Path,
    directory: &Path,
    root: &str,
    input: FinishInput<'_>,
) -> Result<SetupReport> {
    let certificate = parse_certificate("CA certificate", input.certificate_der)?;
    let subject = certificate.subject().to_string();
    let not_after = certificate
        .validity()
        .not_after
        .to_datetime()
        .format(&Rfc3339)
        .map_err(|e| Error::crypto("formatting the CA certificate's notAfter", e))?;
    let fingerprints = Fingerprints::of(input.certificate_der);
    let key_shown = input.key.to_string();

    let staged = CaPaths::new(input.staging.path(), root);
    write_public(
        &staged.serial(),
        format_serial(FIRST_ISSUED_NUMBER).as_bytes(),
    )?;
    audit::record_configured(&staged, &subject, &fingerprints, &key_shown)?;

    let published = input.staging.publish(input.existing)?;
    let mut server = ServerSettings::new(root, directory, key_shown.clone());
    if let Some(old) = &input.settings.server {
        server.listen.clone_from(&old.listen);
        server.max_pending_requests = old.max_pending_requests;
        server.validity_days = old.validity_days;
        if old.directory != directory {
            tracing::info!(old = %old.directory.display(), new = %directory.display(), "the replaced CA's directory is left as it is");
        }
        if let Some(https) = &old.https {
            tracing::warn!(certificate = %https.certificate.display(), "the HTTPS settings are dropped, because the replaced CA issued the server's TLS certificate; issue a new one to serve HTTPS again");
        }
    }
    input.settings.server = Some(server);
    if let Err(e) = input.settings.save(instance_dir) {
        published.roll_back();
        return Err(e);
    }
    published.finish()?;
    // The "configured" event is in the audit log that was published with the CA.
    tracing::info!(root, directory = %directory.display(), subject = %subject, key = %key_shown, "CA set up");

    let paths = CaPaths::new(instance_dir.join(directory), root);
    let mut files = vec![paths.certificate()];
    files.extend(input.key.file_path(instance_dir));
    if input.chain_written {
        files.push(paths.chain());
    }
    files.extend([
        paths.serial(),
        paths.audit_log(),
        instance_dir.join(SETTINGS_FILE),
    ]);
    Ok(SetupReport {
        files,
        certificate: paths.certificate(),
        subject,
        not_after,
        fingerprints,
        key: key_shown,
    })
}

/// Checks the file name root and the directory an operator gave.
fn check_layout(root: &str, directory: &Path) -> Result<()> {
    let root_valid = !root.is_empty()
        && root.len() <= 64
        && !root.starts_with(['.', '-'])
        && root
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !root_valid {
        return Err(Error::invalid_input(
            "file name root",
            format!("{root:?} must be 1 to 64 letters, digits, '.', '_' or '-', not starting with '.' or '-', as in FLCA"),
        ));
    }
    let mut components = directory.components().peekable();
    let directory_valid = components.peek().is_some()
        && components.all(
            |c| matches!(c, Component::Normal(name) if !name.to_string_lossy().starts_with('.')),
        );
    if !directory_valid {
        return Err(Error::invalid_input(
            "CA directory",
            format!(
                "{:?} must be a relative path below the instance directory, without '.' or '..', as in flca",
                directory.display().to_string()
            ),
        ));
    }
    Ok(())
}

fn check_validity_days(days: u32) -> Result<()> {
    if days == 0 || days > MAX_CA_VALIDITY_DAYS {
        return Err(Error::invalid_input(
            "validity",
            format!("{days} days; give 1 to {MAX_CA_VALIDITY_DAYS} days"),
        ));
    }
    Ok(())
}

/// Lists the files whose presence in the CA directory means a CA is there.
fn ca_files(target: &Path, root: &str) -> [PathBuf; 7] {
    let paths = CaPaths::new(target, root);
    [
        paths.certificate(),
        paths.serial(),
        paths.chain(),
        paths.index(),
        paths.certs(),
        paths.requests(),
        paths.audit_log(),
    ]
}

/// Finds out what is at the target and whether set-up may go on.
fn inspect_target(
    target: &Path,
    root: &str,
    settings: &Settings,
    replace: bool,
) -> Result<Existing> {
    let ca_file = ca_files(target, root)
        .into_iter()
        .find(|path| path.exists());
    let configured = settings.server.as_ref();
    if !replace {
        if let Some(server) = configured {
            return Err(Error::AlreadyExists {
                kind: "CA",
                name: format!("{} in {}", server.root, server.directory.display()),
                hint: "this instance is a CA server already; set up again with replace to make a new CA, which deletes the old CA directory",
            });
        }
        if let Some(path) = &ca_file {
            return Err(Error::AlreadyExists {
                kind: "CA",
                name: path.display().to_string(),
                hint: "the CA directory holds a CA's files; set up again with replace, or choose another directory",
            });
        }
    }

    if !target.exists() {
        return Ok(Existing::Nothing);
    }
    if !target.is_dir() {
        return Err(Error::invalid_input(
            "CA directory",
            format!("{} exists and is not a directory", target.display()),
        ));
    }
    let old_ca =
        ca_file.is_some() || configured.is_some_and(|server| target.ends_with(&server.directory));
    Ok(if old_ca {
        Existing::OldCa
    } else {
        Existing::Leftovers
    })
}

/// `path` relative to `directory` when it lies inside it (compared by components).
fn inside(path: &Path, directory: &Path) -> Option<PathBuf> {
    let relative = path.strip_prefix(directory).ok()?;
    let normal = relative.components().count() > 0
        && relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    normal.then(|| relative.to_path_buf())
}

/// A key file that set-up made outside the CA directory, removed again
/// when set-up fails after making it.
struct OutsideKeyFile(Option<PathBuf>);

impl OutsideKeyFile {
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for OutsideKeyFile {
    fn drop(&mut self) {
        let Some(path) = &self.0 else { return };
        if let Err(e) = std::fs::remove_file(path) {
            tracing::warn!(key = %path.display(), error = %e, "could not remove the key file of a failed set-up");
        }
    }
}

fn key_file_exists(path: &Path) -> Error {
    Error::AlreadyExists {
        kind: "key file",
        name: path.display().to_string(),
        hint: "certa never overwrites a key; move it away, or set up an intermediate CA with it",
    }
}

fn check_same_key(
    created: &SubjectPublicKeyInfoDer,
    unlocked: &SubjectPublicKeyInfoDer,
    key: &KeyUri,
) -> Result<()> {
    if created == unlocked {
        return Ok(());
    }
    Err(Error::KeyStore {
        operation: format!("unlocking the new key {key}"),
        source: "the key store returned another public key than the one it made".into(),
    })
}

/// Copies a key file byte for byte, with mode 0600.
fn copy_key_file(source: &Path, destination: &Path) -> Result<()> {
    let contents = match std::fs::read(source) {
        Ok(contents) => zeroize::Zeroizing::new(contents),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::NotFound {
                kind: "key file",
                name: source.display().to_string(),
            })
        }
        Err(e) => return Err(Error::io("read", source, e)),
    };
    write_atomic(destination, &contents, KEY_FILE_MODE, Replace::Forbid)
}

fn write_public(path: &Path, contents: &[u8]) -> Result<()> {
    write_atomic(path, contents, PUBLIC_FILE_MODE, Replace::Forbid)
}
