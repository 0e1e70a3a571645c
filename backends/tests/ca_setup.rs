//! CA server set-up with the file key store, checked with OpenSSL and pkilint:
//! a self-signed CA of each key algorithm, refusal to overwrite a CA, replacing
//! one, failures that leave nothing behind, and intermediate CAs whose
//! certificate OpenSSL issued.

#![cfg(feature = "file")]
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use certa_backends::file::FileKeyStore;
use certa_core::ca::setup::{
    set_up_intermediate, set_up_self_signed, IntermediateSetup, SelfSignedSetup, SetupReport,
};
use certa_core::key::{
    KeyAlgorithm, KeyStore, KeyUri, SecretString, Signer, SubjectPublicKeyInfoDer,
};
use certa_core::name::SubjectName;
use certa_core::settings::Settings;
use certa_core::Error;
use certa_test_support::{assert_openssl_verifies, assert_pkilint_clean, openssl, openssl_ok};
use tempfile::TempDir;

const PASSWORD: &str = "ca password";

fn secret(password: &str) -> SecretString {
    SecretString::from(password.to_owned())
}

fn subject() -> SubjectName {
    let mut subject = SubjectName::common_name("First Look CA");
    subject.organization = Some("Example".to_owned());
    subject.country = Some("DE".to_owned());
    subject
}

fn self_signed(algorithm: KeyAlgorithm) -> SelfSignedSetup {
    let mut setup = SelfSignedSetup::new("FLCA", "flca", subject());
    setup.algorithm = algorithm;
    setup
}

fn set_up(instance: &Path, setup: &SelfSignedSetup) -> certa_core::Result<SetupReport> {
    let store = FileKeyStore::new(instance);
    set_up_self_signed(instance, setup, &store, Some(&secret(PASSWORD)))
}

/// Every file below `dir` with its bytes, for before-and-after comparisons.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(directory) = pending.pop() {
        for entry in fs::read_dir(&directory).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.insert(path.clone(), fs::read(&path).unwrap());
            }
        }
    }
    files
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn check_self_signed_ca(algorithm: KeyAlgorithm) {
    let instance = tempfile::tempdir().unwrap();
    let report = set_up(instance.path(), &self_signed(algorithm)).unwrap();
    let ca = instance.path().join("flca");
    let certificate = ca.join("FLCA.cer");
    let key = ca.join("FLCA.key");

    assert_eq!(report.certificate, certificate);
    let text = openssl_ok([
        "x509",
        "-in",
        certificate.to_str().unwrap(),
        "-noout",
        "-text",
    ]);
    assert!(
        text.contains("X509v3 Basic Constraints: critical"),
        "{text}"
    );
    assert!(text.contains("CA:TRUE"), "{text}");
    assert!(text.contains("X509v3 Key Usage: critical"), "{text}");
    assert!(text.contains("Certificate Sign, CRL Sign"), "{text}");
    assert!(text.contains("X509v3 Subject Key Identifier"), "{text}");
    assert!(text.contains("X509v3 Authority Key Identifier"), "{text}");
    assert!(text.contains("Serial Number: 1 (0x1)"), "{text}");
    assert!(
        text.contains("Subject: C = DE, O = Example, CN = First Look CA"),
        "{text}"
    );
    assert_openssl_verifies(&certificate, &certificate);
    assert_pkilint_clean(&certificate);

    let passin = format!("pass:{PASSWORD}");
    openssl_ok([
        "pkey",
        "-in",
        key.to_str().unwrap(),
        "-passin",
        &passin,
        "-noout",
    ]);
    let wrong = openssl([
        "pkey",
        "-in",
        key.to_str().unwrap(),
        "-passin",
        "pass:other",
        "-noout",
    ]);
    assert!(!wrong.success, "the CA key opened with another password");
    assert_eq!(mode(&key), 0o600);
    assert_eq!(fs::read_to_string(ca.join("FLCA.srl")).unwrap(), "02\n");

    let fingerprint = openssl_ok([
        "x509",
        "-in",
        certificate.to_str().unwrap(),
        "-noout",
        "-fingerprint",
        "-sha256",
    ]);
    assert!(
        fingerprint.contains(&report.fingerprints.sha256),
        "{fingerprint}"
    );
    assert_eq!(report.subject, "C=DE, O=Example, CN=First Look CA");
    assert_eq!(report.key, "file:flca/FLCA.key");

    let server = Settings::load(instance.path()).unwrap().server.unwrap();
    assert_eq!(server.root, "FLCA");
    assert_eq!(server.directory, Path::new("flca"));
    assert_eq!(server.key, "file:flca/FLCA.key");
    let audit = fs::read_to_string(ca.join("audit.log")).unwrap();
    assert_eq!(audit.lines().count(), 1, "{audit}");
    assert!(audit.contains("\"configured\""), "{audit}");
    assert_eq!(entries(instance.path()), ["certa.yaml", "flca"]);
}

#[test]
fn self_signed_ecdsa_p256_ca() {
    check_self_signed_ca(KeyAlgorithm::EcdsaP256);
}

#[test]
fn self_signed_ecdsa_p384_ca() {
    check_self_signed_ca(KeyAlgorithm::EcdsaP384);
}

#[test]
fn self_signed_rsa_2048_ca() {
    check_self_signed_ca(KeyAlgorithm::Rsa2048);
}

#[test]
fn self_signed_rsa_3072_ca() {
    check_self_signed_ca(KeyAlgorithm::Rsa3072);
}

#[test]
fn self_signed_rsa_4096_ca() {
    check_self_signed_ca(KeyAlgorithm::Rsa4096);
}

#[test]
fn self_signed_ed25519_ca() {
    check_self_signed_ca(KeyAlgorithm::Ed25519);
}

#[test]
fn validity_runs_from_just_before_now_for_the_days_given() {
    let instance = tempfile::tempdir().unwrap();
    let mut setup = self_signed(KeyAlgorithm::Ed25519);
    setup.validity_days = 30;
    set_up(instance.path(), &setup).unwrap();
    let certificate = instance.path().join("flca/FLCA.cer");
    let certificate = certificate.to_str().unwrap();

    // Valid now, and in 29 days, but not in 31 days.
    openssl_ok(["x509", "-in", certificate, "-noout", "-checkend", "0"]);
    openssl_ok([
        "x509",
        "-in",
        certificate,
        "-noout",
        "-checkend",
        &(29 * 86_400).to_string(),
    ]);
    let later = openssl([
        "x509",
        "-in",
        certificate,
        "-noout",
        "-checkend",
        &(31 * 86_400).to_string(),
    ]);
    assert!(!later.success, "{}", later.stdout);
}

#[test]
fn set_up_over_existing_ca_is_refused_and_changes_nothing() {
    let instance = tempfile::tempdir().unwrap();
    set_up(instance.path(), &self_signed(KeyAlgorithm::EcdsaP256)).unwrap();
    let before = snapshot(instance.path());

    let mut again = self_signed(KeyAlgorithm::Ed25519);
    again.subject = SubjectName::common_name("Another CA");
    let error = set_up(instance.path(), &again).unwrap_err();

    assert!(matches!(error, Error::AlreadyExists { .. }), "{error}");
    assert!(error.to_string().contains("replace"), "{error}");
    assert_eq!(snapshot(instance.path()), before);
}

#[test]
fn ca_files_without_settings_are_refused_too() {
    let instance = tempfile::tempdir().unwrap();
    set_up(instance.path(), &self_signed(KeyAlgorithm::EcdsaP256)).unwrap();
    fs::remove_file(instance.path().join("certa.yaml")).unwrap();
    let before = snapshot(instance.path());

    let error = set_up(instance.path(), &self_signed(KeyAlgorithm::EcdsaP256)).unwrap_err();

    assert!(matches!(error, Error::AlreadyExists { .. }), "{error}");
    assert!(error.to_string().contains("FLCA.cer"), "{error}");
    assert_eq!(snapshot(instance.path()), before);
}

#[test]
fn replace_makes_a_new_ca_and_keeps_the_old() {
    let instance = tempfile::tempdir().unwrap();
    let old = set_up(instance.path(), &self_signed(KeyAlgorithm::EcdsaP256)).unwrap();
    let old_key = fs::read(instance.path().join("flca/FLCA.key")).unwrap();

    let mut new = self_signed(KeyAlgorithm::Ed25519);
    new.subject = SubjectName::common_name("Second CA");
    new.replace = true;
    let report = set_up(instance.path(), &new).unwrap();

    assert_ne!(report.fingerprints, old.fingerprints);
    assert_eq!(report.subject, "CN=Second CA");
    assert_ne!(
        fs::read(instance.path().join("flca/FLCA.key")).unwrap(),
        old_key
    );
    let certificate = instance.path().join("flca/FLCA.cer");
    assert_openssl_verifies(&certificate, &certificate);
    let audit = fs::read_to_string(instance.path().join("flca/audit.log")).unwrap();
    assert_eq!(audit.lines().count(), 1, "{audit}");
    let names = entries(instance.path());
    assert_eq!(names.len(), 3, "{names:?}");
    assert_eq!(names[..2], ["certa.yaml", "flca"]);
    assert!(names[2].starts_with("flca.replaced-"), "{names:?}");
    let archived_key = instance.path().join(&names[2]).join("FLCA.key");
    assert_eq!(fs::read(archived_key).unwrap(), old_key);
}

#[test]
fn replace_keeps_server_settings_the_operator_changed() {
    let instance = tempfile::tempdir().unwrap();
    set_up(instance.path(), &self_signed(KeyAlgorithm::EcdsaP256)).unwrap();
    let mut settings = Settings::load(instance.path()).unwrap();
    settings.server.as_mut().unwrap().listen = "0.0.0.0:9443".to_owned();
    settings.save(instance.path()).unwrap();

    let mut new = self_signed(KeyAlgorithm::EcdsaP256);
    new.replace = true;
    set_up(instance.path(), &new).unwrap();

    let server = Settings::load(instance.path()).unwrap().server.unwrap();
    assert_eq!(server.listen, "0.0.0.0:9443");
}

#[test]
fn empty_common_name_fails_and_leaves_nothing() {
    let instance = tempfile::tempdir().unwrap();
    let mut setup = self_signed(KeyAlgorithm::EcdsaP256);
    setup.subject = SubjectName::common_name("  ");
    setup.directory = PathBuf::from("cas/flca");

    let error = set_up(instance.path(), &setup).unwrap_err();

    assert!(matches!(error, Error::InvalidInput { .. }), "{error}");
    assert!(
        entries(instance.path()).is_empty(),
        "{:?}",
        entries(instance.path())
    );
}

#[test]
fn key_in_unwritable_place_fails_and_leaves_nothing() {
    let instance = tempfile::tempdir().unwrap();
    fs::write(instance.path().join("not-a-directory"), "a file").unwrap();
    let mut setup = self_signed(KeyAlgorithm::EcdsaP256);
    setup.key = Some(KeyUri::file("not-a-directory/FLCA.key"));
    setup.directory = PathBuf::from("cas/flca");

    let error = set_up(instance.path(), &setup).unwrap_err();

    assert!(matches!(error, Error::Io { .. }), "{error}");
    assert_eq!(entries(instance.path()), ["not-a-directory"]);
}

#[test]
fn key_outside_ca_directory_is_made_there_and_removed_when_set_up_fails() {
    let instance = tempfile::tempdir().unwrap();
    let mut setup = self_signed(KeyAlgorithm::EcdsaP256);
    setup.key = Some(KeyUri::file("keys/FLCA.key"));
    fs::create_dir(instance.path().join("keys")).unwrap();

    let report = set_up(instance.path(), &setup).unwrap();
    assert_eq!(report.key, "file:keys/FLCA.key");
    assert!(instance.path().join("keys/FLCA.key").exists());
    assert!(!instance.path().join("flca/FLCA.key").exists());

    // A set-up that fails after the key was made removes the key again.
    let other = tempfile::tempdir().unwrap();
    fs::create_dir(other.path().join("keys")).unwrap();
    let store = FailingUnlock(FileKeyStore::new(other.path()));
    let error =
        set_up_self_signed(other.path(), &setup, &store, Some(&secret(PASSWORD))).unwrap_err();
    assert!(matches!(error, Error::KeyStore { .. }), "{error}");
    assert!(entries(&other.path().join("keys")).is_empty());
    assert_eq!(entries(other.path()), ["keys"]);
}

/// A key store that makes keys but fails to unlock them.
struct FailingUnlock(FileKeyStore);

impl KeyStore for FailingUnlock {
    fn create_key(
        &self,
        key: &KeyUri,
        algorithm: KeyAlgorithm,
        secret: Option<&SecretString>,
    ) -> certa_core::Result<SubjectPublicKeyInfoDer> {
        self.0.create_key(key, algorithm, secret)
    }

    fn public_key(
        &self,
        key: &KeyUri,
        secret: Option<&SecretString>,
    ) -> certa_core::Result<SubjectPublicKeyInfoDer> {
        self.0.public_key(key, secret)
    }

    fn unlock(
        &self,
        _key: &KeyUri,
        _secret: Option<&SecretString>,
    ) -> certa_core::Result<Arc<dyn Signer>> {
        Err(Error::KeyStore {
            operation: "unlocking a key in a test".to_owned(),
            source: "the token was removed".into(),
        })
    }
}

#[test]
fn failure_after_key_creation_leaves_no_ca_directory() {
    let instance = tempfile::tempdir().unwrap();
    let store = FailingUnlock(FileKeyStore::new(instance.path()));
    let mut setup = self_signed(KeyAlgorithm::EcdsaP256);
    setup.directory = PathBuf::from("cas/flca");

    let error =
        set_up_self_signed(instance.path(), &setup, &store, Some(&secret(PASSWORD))).unwrap_err();

    assert!(matches!(error, Error::KeyStore { .. }), "{error}");
    assert!(
        entries(instance.path()).is_empty(),
        "{:?}",
        entries(instance.path())
    );
}

#[test]
fn wrong_layout_is_invalid_input() {
    let instance = tempfile::tempdir().unwrap();
    for (root, directory) in [
        ("", "flca"),
        ("../FLCA", "flca"),
        ("FLCA", "../flca"),
        ("FLCA", "/tmp/flca"),
        ("FLCA", ""),
    ] {
        let mut setup = self_signed(KeyAlgorithm::EcdsaP256);
        setup.root = root.to_owned();
        setup.directory = PathBuf::from(directory);
        let error = set_up(instance.path(), &setup).unwrap_err();
        assert!(
            matches!(error, Error::InvalidInput { .. }),
            "{root:?} {directory:?}: {error}"
        );
    }
    assert!(entries(instance.path()).is_empty());
}

/// An outside root CA made with `openssl req -x509`, and what it issues.
struct OutsideCa {
    dir: TempDir,
}

impl OutsideCa {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let outside = OutsideCa { dir };
        openssl_ok([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-nodes",
            "-keyout",
            outside.path("outside-root.key").as_str(),
            "-out",
            outside.path("outside-root.pem").as_str(),
            "-subj",
            "/O=Outside/CN=Outside Root CA",
            "-days",
            "30",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        outside
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// Makes an encrypted key with `openssl genpkey -aes-256-cbc` at `key_path`.
    fn make_key(&self, key_path: &Path) {
        openssl_ok([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-aes-256-cbc",
            "-pass",
            &format!("pass:{PASSWORD}"),
            "-out",
            key_path.to_str().unwrap(),
        ]);
    }

    /// Issues a certificate for the key at `key_path` with the extensions `extensions`; returns the PEM.
    fn issue(&self, key_path: &Path, extensions: &str, days: &str) -> Vec<u8> {
        let csr = self.path("request.csr");
        let extfile = self.path("extensions.cnf");
        let certificate = self.path("issued.pem");
        fs::write(&extfile, extensions).unwrap();
        openssl_ok([
            "req",
            "-new",
            "-key",
            key_path.to_str().unwrap(),
            "-passin",
            &format!("pass:{PASSWORD}"),
            "-subj",
            "/O=Example/CN=Intermediate CA",
            "-out",
            &csr,
        ]);
        openssl_ok([
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &self.path("outside-root.pem"),
            "-CAkey",
            &self.path("outside-root.key"),
            "-set_serial",
            "4660",
            "-days",
            days,
            "-extfile",
            &extfile,
            "-out",
            &certificate,
        ]);
        fs::read(&certificate).unwrap()
    }

    fn root_pem(&self) -> Vec<u8> {
        fs::read(self.path("outside-root.pem")).unwrap()
    }
}

const CA_EXTENSIONS: &str = "basicConstraints=critical,CA:TRUE\n\
    keyUsage=critical,keyCertSign,cRLSign\n\
    subjectKeyIdentifier=hash\n\
    authorityKeyIdentifier=keyid\n";

fn intermediate(key: &str, certificate_pem: Vec<u8>, chain_pem: Vec<u8>) -> IntermediateSetup {
    IntermediateSetup {
        root: "FLCA".to_owned(),
        directory: PathBuf::from("flca"),
        key: KeyUri::file(key),
        certificate_pem,
        chain_pem,
        replace: false,
    }
}

fn set_up_with(instance: &Path, setup: &IntermediateSetup) -> certa_core::Result<SetupReport> {
    let store = FileKeyStore::new(instance);
    set_up_intermediate(instance, setup, &store, Some(&secret(PASSWORD)))
}

#[test]
fn intermediate_ca_from_openssl_is_accepted_and_verifies() {
    let outside = OutsideCa::new();
    let instance = tempfile::tempdir().unwrap();
    let key_path = instance.path().join("intermediate.key");
    outside.make_key(&key_path);
    let certificate_pem = outside.issue(&key_path, CA_EXTENSIONS, "30");

    let report = set_up_with(
        instance.path(),
        &intermediate("intermediate.key", certificate_pem, outside.root_pem()),
    )
    .unwrap();

    let ca = instance.path().join("flca");
    let certificate = ca.join("FLCA.cer");
    assert_openssl_verifies(Path::new(&outside.path("outside-root.pem")), &certificate);
    assert_openssl_verifies(&ca.join("FLCA-chain.pem"), &certificate);
    assert_eq!(
        fs::read(ca.join("FLCA.key")).unwrap(),
        fs::read(&key_path).unwrap()
    );
    assert_eq!(mode(&ca.join("FLCA.key")), 0o600);
    assert_eq!(fs::read_to_string(ca.join("FLCA.srl")).unwrap(), "02\n");
    assert_eq!(report.subject, "O=Example, CN=Intermediate CA");
    assert_eq!(report.key, "file:flca/FLCA.key");
    let server = Settings::load(instance.path()).unwrap().server.unwrap();
    assert_eq!(server.key, "file:flca/FLCA.key");
    assert!(report.files.contains(&ca.join("FLCA-chain.pem")));
}

#[test]
fn intermediate_key_inside_the_ca_directory_stays() {
    let outside = OutsideCa::new();
    let instance = tempfile::tempdir().unwrap();
    fs::create_dir(instance.path().join("flca")).unwrap();
    let key_path = instance.path().join("flca/mine.key");
    outside.make_key(&key_path);
    let key_bytes = fs::read(&key_path).unwrap();
    let certificate_pem = outside.issue(&key_path, CA_EXTENSIONS, "30");

    set_up_with(
        instance.path(),
        &intermediate("flca/mine.key", certificate_pem, outside.root_pem()),
    )
    .unwrap();

    let ca = instance.path().join("flca");
    assert_eq!(
        fs::read(&key_path).unwrap(),
        key_bytes,
        "the operator's file stays"
    );
    assert_eq!(fs::read(ca.join("FLCA.key")).unwrap(), key_bytes);
    assert_eq!(
        entries(&ca),
        [
            "FLCA-chain.pem",
            "FLCA.cer",
            "FLCA.key",
            "FLCA.srl",
            "audit.log",
            "mine.key"
        ]
    );
    assert_eq!(entries(instance.path()), ["certa.yaml", "flca"]);
}

#[test]
fn intermediate_with_another_key_is_rejected() {
    let outside = OutsideCa::new();
    let instance = tempfile::tempdir().unwrap();
    let issued_for = instance.path().join("issued-for.key");
    let other = instance.path().join("other.key");
    outside.make_key(&issued_for);
    outside.make_key(&other);
    let certificate_pem = outside.issue(&issued_for, CA_EXTENSIONS, "30");

    let error = set_up_with(
        instance.path(),
        &intermediate("other.key", certificate_pem, outside.root_pem()),
    )
    .unwrap_err();

    assert!(matches!(error, Error::InvalidCertificate { .. }), "{error}");
    assert!(
        error.to_string().contains("does not match the key"),
        "{error}"
    );
    assert_eq!(entries(instance.path()), ["issued-for.key", "other.key"]);
}

#[test]
fn intermediate_with_end_entity_certificate_is_rejected() {
    let outside = OutsideCa::new();
    let instance = tempfile::tempdir().unwrap();
    let key_path = instance.path().join("intermediate.key");
    outside.make_key(&key_path);
    let certificate_pem = outside.issue(
        &key_path,
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n",
        "30",
    );

    let error = set_up_with(
        instance.path(),
        &intermediate("intermediate.key", certificate_pem, outside.root_pem()),
    )
    .unwrap_err();

    assert!(matches!(error, Error::InvalidCertificate { .. }), "{error}");
    assert!(
        error.to_string().contains("is not a CA certificate"),
        "{error}"
    );
    assert_eq!(entries(instance.path()), ["intermediate.key"]);
}

#[test]
fn intermediate_without_key_cert_sign_is_rejected() {
    let outside = OutsideCa::new();
    let instance = tempfile::tempdir().unwrap();
    let key_path = instance.path().join("intermediate.key");
    outside.make_key(&key_path);
    let certificate_pem = outside.issue(
        &key_path,
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature\n",
        "30",
    );

    let error = set_up_with(
        instance.path(),
        &intermediate("intermediate.key", certificate_pem, outside.root_pem()),
    )
    .unwrap_err();

    assert!(error.to_string().contains("keyCertSign"), "{error}");
}

#[test]
fn expired_intermediate_is_rejected_naming_its_dates() {
    let outside = OutsideCa::new();
    let instance = tempfile::tempdir().unwrap();
    let key_path = instance.path().join("intermediate.key");
    outside.make_key(&key_path);
    let certificate_pem = outside.issue(&key_path, CA_EXTENSIONS, "-1");

    let error = set_up_with(
        instance.path(),
        &intermediate("intermediate.key", certificate_pem, outside.root_pem()),
    )
    .unwrap_err();

    let message = error.to_string();
    assert!(message.contains("is not valid now"), "{message}");
    assert!(
        message.contains("notBefore is 2") && message.contains("notAfter is 2"),
        "{message}"
    );
}

#[test]
fn intermediate_with_wrong_chain_is_rejected() {
    let outside = OutsideCa::new();
    let stranger = OutsideCa::new();
    let instance = tempfile::tempdir().unwrap();
    let key_path = instance.path().join("intermediate.key");
    outside.make_key(&key_path);
    let certificate_pem = outside.issue(&key_path, CA_EXTENSIONS, "30");

    let error = set_up_with(
        instance.path(),
        &intermediate("intermediate.key", certificate_pem, stranger.root_pem()),
    )
    .unwrap_err();

    assert!(matches!(error, Error::InvalidCertificate { .. }), "{error}");
    assert!(error.to_string().contains("was not issued by"), "{error}");
}

#[test]
fn intermediate_with_wrong_password_is_wrong_password() {
    let outside = OutsideCa::new();
    let instance = tempfile::tempdir().unwrap();
    let key_path = instance.path().join("intermediate.key");
    outside.make_key(&key_path);
    let certificate_pem = outside.issue(&key_path, CA_EXTENSIONS, "30");
    let store = FileKeyStore::new(instance.path());

    let error = set_up_intermediate(
        instance.path(),
        &intermediate("intermediate.key", certificate_pem, outside.root_pem()),
        &store,
        Some(&secret("not the password")),
    )
    .unwrap_err();

    assert!(matches!(error, Error::WrongPassword { .. }), "{error}");
}

#[test]
fn intermediate_over_existing_ca_is_refused() {
    let outside = OutsideCa::new();
    let instance = tempfile::tempdir().unwrap();
    set_up(instance.path(), &self_signed(KeyAlgorithm::EcdsaP256)).unwrap();
    let key_path = instance.path().join("intermediate.key");
    outside.make_key(&key_path);
    let certificate_pem = outside.issue(&key_path, CA_EXTENSIONS, "30");
    let before = snapshot(instance.path());

    let mut setup = intermediate("intermediate.key", certificate_pem, outside.root_pem());
    let error = set_up_with(instance.path(), &setup).unwrap_err();
    assert!(matches!(error, Error::AlreadyExists { .. }), "{error}");
    assert_eq!(snapshot(instance.path()), before);

    setup.replace = true;
    set_up_with(instance.path(), &setup).unwrap();
    let certificate = instance.path().join("flca/FLCA.cer");
    assert_openssl_verifies(Path::new(&outside.path("outside-root.pem")), &certificate);
}
