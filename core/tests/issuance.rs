//! The CA server's workflow end to end, on a CA made with OpenSSL: submit,
//! review, issue under each usage, reject; every certificate is checked by
//! `openssl verify` and pkilint, and `index.txt` by `openssl ca -status`.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use certa_core::ca::profile::Usage;
use certa_core::ca::server::{CaServer, RequestState, Submission};
use certa_core::key::software::SoftwareKey;
use certa_core::key::{
    ExposeSecret, KeyAlgorithm, KeyStore, KeyUri, SecretString, Signer, SubjectPublicKeyInfoDer,
};
use certa_core::settings::{Contact, ServerSettings, Settings};
use certa_core::Error;
use certa_test_support::{assert_openssl_verifies, assert_pkilint_clean, openssl, openssl_ok};

const PASSWORD: &str = "correct horse battery staple";

/// A CA made with OpenSSL in a temporary instance directory.
struct TestCa {
    _dir: tempfile::TempDir,
    instance: PathBuf,
    ca_directory: PathBuf,
    key: SoftwareKey,
}

const REQ_CONFIG: &str = "[req]\ndistinguished_name = dn\nx509_extensions = v3_ca\nprompt = no\n[dn]\nCN = unused\n[v3_ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid:always\n";

impl TestCa {
    fn new(max_pending_requests: usize) -> TestCa {
        let dir = tempfile::tempdir().unwrap();
        let instance = dir.path().join("instance");
        let ca_directory = instance.join("tca");
        fs::create_dir_all(&ca_directory).unwrap();
        let config = dir.path().join("req.cnf");
        fs::write(&config, REQ_CONFIG).unwrap();

        let key_pem = ca_directory.join("TCA-plain.pem");
        openssl_ok([
            "genpkey".as_ref(),
            "-algorithm".as_ref(),
            "EC".as_ref(),
            "-pkeyopt".as_ref(),
            "ec_paramgen_curve:P-256".as_ref(),
            "-out".as_ref(),
            key_pem.as_os_str(),
        ]);
        openssl_ok([
            "pkcs8".as_ref(),
            "-topk8".as_ref(),
            "-in".as_ref(),
            key_pem.as_os_str(),
            "-passout".as_ref(),
            format!("pass:{PASSWORD}").as_ref(),
            "-outform".as_ref(),
            "DER".as_ref(),
            "-out".as_ref(),
            ca_directory.join("TCA.key.der").as_os_str(),
        ]);
        let der = openssl_der(
            ["pkcs8", "-topk8", "-nocrypt", "-outform", "DER", "-in"],
            &key_pem,
        );
        let key = SoftwareKey::from_pkcs8_der(&der).unwrap();
        openssl_ok([
            "req".as_ref(),
            "-x509".as_ref(),
            "-new".as_ref(),
            "-key".as_ref(),
            key_pem.as_os_str(),
            "-config".as_ref(),
            config.as_os_str(),
            "-subj".as_ref(),
            "/C=DE/O=certa tests/CN=Test CA".as_ref(),
            "-days".as_ref(),
            "30".as_ref(),
            "-set_serial".as_ref(),
            "1".as_ref(),
            "-out".as_ref(),
            ca_directory.join("TCA.cer").as_os_str(),
        ]);
        fs::write(ca_directory.join("TCA.srl"), "02\n").unwrap();

        let settings = Settings {
            server: Some(ServerSettings {
                root: "TCA".to_owned(),
                directory: PathBuf::from("tca"),
                key: "file:tca/TCA.key".to_owned(),
                listen: "127.0.0.1:0".to_owned(),
                max_pending_requests,
                validity_days: 90,
                https: None,
            }),
            client: None,
        };
        settings.save(&instance).unwrap();
        TestCa {
            _dir: dir,
            instance,
            ca_directory,
            key,
        }
    }

    fn server(&self) -> CaServer {
        CaServer::open(&self.instance).unwrap()
    }

    fn ca_certificate(&self) -> PathBuf {
        self.ca_directory.join("TCA.cer")
    }

    /// Writes an OpenSSL configuration whose `ca` section points at the CA's database.
    fn ca_config(&self) -> PathBuf {
        let path = self.ca_directory.join("openssl-ca.cnf");
        let text = format!(
            "[ca]\ndefault_ca = certa\n[certa]\ndatabase = {}\nserial = {}\n",
            self.ca_directory.join("index.txt").display(),
            self.ca_directory.join("TCA.srl").display()
        );
        fs::write(&path, text).unwrap();
        path
    }

    /// Runs `openssl ca -status HEX` and returns its output. OpenSSL 3.0 exits with 1 even for a valid certificate, so only the output tells.
    fn openssl_status(&self, hex: &str) -> String {
        let config = self.ca_config();
        let output = openssl([
            "ca".as_ref(),
            "-config".as_ref(),
            config.as_os_str(),
            "-status".as_ref(),
            hex.as_ref(),
        ]);
        format!("{}{}", output.stdout, output.stderr)
    }

    /// Makes a P-256 CSR with OpenSSL.
    fn csr(&self, common_name: &str) -> Vec<u8> {
        let dir = self.instance.parent().unwrap().join("client");
        fs::create_dir_all(&dir).unwrap();
        let key = dir.join(format!("{common_name}.key"));
        let csr = dir.join(format!("{common_name}.csr"));
        openssl_ok([
            "genpkey".as_ref(),
            "-algorithm".as_ref(),
            "EC".as_ref(),
            "-pkeyopt".as_ref(),
            "ec_paramgen_curve:P-256".as_ref(),
            "-out".as_ref(),
            key.as_os_str(),
        ]);
        openssl_ok([
            "req".as_ref(),
            "-new".as_ref(),
            "-key".as_ref(),
            key.as_os_str(),
            "-subj".as_ref(),
            format!("/O=certa tests/CN={common_name}").as_ref(),
            "-addext".as_ref(),
            format!("subjectAltName=DNS:{common_name}").as_ref(),
            "-out".as_ref(),
            csr.as_os_str(),
        ]);
        fs::read(csr).unwrap()
    }
}

fn openssl_der<const N: usize>(args: [&str; N], input: &Path) -> Vec<u8> {
    let output = std::process::Command::new("openssl")
        .args(args)
        .arg(input)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn submission(csr: Vec<u8>) -> Submission {
    Submission {
        name: "client".to_owned(),
        csr,
        contact: Contact {
            name: "Ada Requester".to_owned(),
            phone: Some("+49 30 1234".to_owned()),
            email: Some("ada@example.org".to_owned()),
        },
        source: "127.0.0.1".to_owned(),
    }
}

/// The state files a failed operation must leave alone, byte for byte.
fn snapshot(ca: &TestCa) -> Vec<(PathBuf, Option<Vec<u8>>)> {
    let mut files = vec![
        ca.ca_directory.join("TCA.srl"),
        ca.ca_directory.join("index.txt"),
        ca.ca_directory.join("audit.log"),
    ];
    for directory in [
        ca.ca_directory.join("requests"),
        ca.ca_directory.join("requests/pending"),
        ca.ca_directory.join("certs"),
    ] {
        if let Ok(entries) = fs::read_dir(directory) {
            files.extend(entries.map(|e| e.unwrap().path()));
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let content = if path.is_file() {
                Some(fs::read(&path).unwrap())
            } else {
                None
            };
            (path, content)
        })
        .collect()
}

/// A key store holding one PKCS#8 key encrypted by OpenSSL, as the file key store keeps it.
struct EncryptedKeyStore {
    encrypted: Vec<u8>,
}

impl KeyStore for EncryptedKeyStore {
    fn create_key(
        &self,
        _: &KeyUri,
        _: KeyAlgorithm,
        _: Option<&SecretString>,
    ) -> certa_core::Result<SubjectPublicKeyInfoDer> {
        Err(Error::Unsupported {
            what: "creating keys in the test key store".to_owned(),
        })
    }

    fn public_key(
        &self,
        key: &KeyUri,
        secret: Option<&SecretString>,
    ) -> certa_core::Result<SubjectPublicKeyInfoDer> {
        Ok(self.unlock(key, secret)?.public_key().clone())
    }

    fn unlock(
        &self,
        key: &KeyUri,
        secret: Option<&SecretString>,
    ) -> certa_core::Result<Arc<dyn Signer>> {
        let wrong = || Error::WrongPassword {
            key: key.to_string(),
        };
        let secret = secret.ok_or_else(wrong)?;
        let info = pkcs8::EncryptedPrivateKeyInfo::try_from(self.encrypted.as_slice()).unwrap();
        let document = info.decrypt(secret.expose_secret()).map_err(|_| wrong())?;
        Ok(Arc::new(SoftwareKey::from_pkcs8_der(document.as_bytes())?))
    }
}

#[test]
fn submit_lists_pending() {
    let ca = TestCa::new(100);
    let server = ca.server();

    let record = server.submit(submission(ca.csr("one.example"))).unwrap();
    let pending = server.pending().unwrap();

    assert_eq!(record.state, RequestState::Pending);
    assert_eq!(record.subject, "O=certa tests, CN=one.example");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0], record);
    assert_eq!(server.request(&record.id).unwrap(), record);
}

#[test]
fn pending_oldest_first() {
    let ca = TestCa::new(100);
    let server = ca.server();
    let csr = ca.csr("order.example");

    let ids: Vec<String> = (0..5)
        .map(|_| server.submit(submission(csr.clone())).unwrap().id)
        .collect();
    let listed: Vec<String> = server
        .pending()
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();

    assert_eq!(listed, ids);
}

#[test]
fn show_has_csr_details() {
    let ca = TestCa::new(100);
    let server = ca.server();
    let record = server.submit(submission(ca.csr("show.example"))).unwrap();

    let details = server.show(&record.id).unwrap();

    assert_eq!(details.subject, "O=certa tests, CN=show.example");
    assert_eq!(
        details.subject_alt_names,
        vec!["DNS:show.example".to_owned()]
    );
    assert_eq!(details.key, "ECDSA P-256");
    assert_eq!(details.fingerprints.sha1, record.sha1_fingerprint);
    assert!(details
        .csr_pem
        .starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
    assert_eq!(details.record.contact.name, "Ada Requester");
}

#[test]
fn issue_each_usage() {
    let ca = TestCa::new(100);
    let server = ca.server();

    for (offset, usage) in Usage::ALL.into_iter().enumerate() {
        let name = format!("{usage}.example");
        let record = server.submit(submission(ca.csr(&name))).unwrap();

        let issued = server.issue(&record.id, usage, None, &ca.key).unwrap();

        let number = 2 + offset as u64;
        assert_eq!(issued.number, number, "{usage}");
        assert_eq!(
            issued.path,
            ca.ca_directory.join(format!("certs/{number:02X}.cer"))
        );
        assert_openssl_verifies(&ca.ca_certificate(), &issued.path);
        assert_pkilint_clean(&issued.path);
        let serial = openssl_ok([
            "x509".as_ref(),
            "-noout".as_ref(),
            "-serial".as_ref(),
            "-in".as_ref(),
            issued.path.as_os_str(),
        ]);
        assert_eq!(serial.trim(), format!("serial={number:02X}"), "{usage}");
        let status = ca.openssl_status(&format!("{number:02X}"));
        assert!(
            status.contains(&format!("{number:02X}=Valid (V)")),
            "{usage}: {status}"
        );

        let after = server.request(&record.id).unwrap();
        assert_eq!(after.state, RequestState::Issued, "{usage}");
        assert_eq!(after.certificate_number, Some(number), "{usage}");
        let listed = server.certificates_for_request(&record.id).unwrap();
        assert_eq!(listed.len(), 1, "{usage}");
        assert_eq!(listed[0].usage, usage);
        assert_eq!(server.certificate(number).unwrap().pem, issued.pem);
    }
    assert_eq!(
        fs::read_to_string(ca.ca_directory.join("TCA.srl")).unwrap(),
        "07\n"
    );
    assert_eq!(server.issued().unwrap().len(), Usage::ALL.len());
    assert!(server.pending().unwrap().is_empty());
}

#[test]
fn index_line_format() {
    let ca = TestCa::new(100);
    let server = ca.server();
    let record = server.submit(submission(ca.csr("index.example"))).unwrap();

    server
        .issue(&record.id, Usage::Tls, Some(10), &ca.key)
        .unwrap();

    let index = fs::read_to_string(ca.ca_directory.join("index.txt")).unwrap();
    let fields: Vec<&str> = index.trim_end().split('\t').collect();
    assert_eq!(fields.len(), 6, "{index:?}");
    assert_eq!(fields[0], "V");
    assert_eq!(fields[1].len(), 13, "{index:?}");
    assert_eq!(fields[3], "02");
    assert_eq!(fields[5], "/O=certa tests/CN=index.example");
    let expiry = openssl_ok([
        "x509".as_ref(),
        "-noout".as_ref(),
        "-enddate".as_ref(),
        "-in".as_ref(),
        ca.ca_directory.join("certs/02.cer").as_os_str(),
    ]);
    assert!(!expiry.is_empty());
}

#[test]
fn audit_log_records_events() {
    let ca = TestCa::new(100);
    let server = ca.server();
    let issued = server.submit(submission(ca.csr("audit.example"))).unwrap();
    let rejected = server.submit(submission(ca.csr("audit2.example"))).unwrap();
    server
        .issue(&issued.id, Usage::TlsServer, None, &ca.key)
        .unwrap();
    server.reject(&rejected.id, "unknown requester").unwrap();

    let text = fs::read_to_string(ca.ca_directory.join("audit.log")).unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();

    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["request_received", "request_received", "issued", "rejected"]
    );
    assert_eq!(events[2]["number"], 2);
    assert_eq!(events[2]["request_id"], issued.id.as_str());
    assert_eq!(events[2]["usage"], "tls-server");
    assert_eq!(events[3]["reason"], "unknown requester");
}

#[test]
fn reject_then_refuse_issue() {
    let ca = TestCa::new(100);
    let server = ca.server();
    let record = server.submit(submission(ca.csr("reject.example"))).unwrap();

    let rejected = server
        .reject(&record.id, "no such host in our inventory")
        .unwrap();
    let error = server
        .issue(&record.id, Usage::Tls, None, &ca.key)
        .unwrap_err();

    assert_eq!(rejected.state, RequestState::Rejected);
    assert_eq!(
        rejected.reason.as_deref(),
        Some("no such host in our inventory")
    );
    assert!(error.to_string().contains("rejected"), "{error}");
    assert!(server.pending().unwrap().is_empty());
    assert_eq!(
        fs::read_to_string(ca.ca_directory.join("TCA.srl")).unwrap(),
        "02\n"
    );
}

#[test]
fn reject_issued_names_state() {
    let ca = TestCa::new(100);
    let server = ca.server();
    let record = server.submit(submission(ca.csr("issued.example"))).unwrap();
    server.issue(&record.id, Usage::Tls, None, &ca.key).unwrap();

    let error = server.reject(&record.id, "too late").unwrap_err();

    assert_eq!(error.code(), "invalid_input");
    assert!(error.to_string().contains("issued"), "{error}");
}

#[test]
fn issue_twice_refused() {
    let ca = TestCa::new(100);
    let server = ca.server();
    let record = server.submit(submission(ca.csr("twice.example"))).unwrap();
    server.issue(&record.id, Usage::Tls, None, &ca.key).unwrap();
    let before = snapshot(&ca);

    let error = server
        .issue(&record.id, Usage::Tls, None, &ca.key)
        .unwrap_err();

    assert!(
        error
            .to_string()
            .contains("already issued as certificate number 2"),
        "{error}"
    );
    assert!(snapshot(&ca) == before, "a refused issuance changed files");
}

#[test]
fn unknown_id_not_found() {
    let ca = TestCa::new(100);
    let server = ca.server();

    let error = server.request("0123456789abcdef").unwrap_err();

    assert!(
        matches!(
            error,
            Error::NotFound {
                kind: "request",
                ..
            }
        ),
        "{error}"
    );
    assert!(matches!(
        server.show("0123456789abcdef"),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        server.certificates_for_request("0123456789abcdef"),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        server.certificate(99),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn hostile_id_rejected() {
    let ca = TestCa::new(100);
    let server = ca.server();
    let outside = ca.ca_directory.join("requests/x.json");
    fs::create_dir_all(outside.parent().unwrap()).unwrap();
    fs::write(&outside, "{}").unwrap();
    let before = snapshot(&ca);

    for id in [
        "../x",
        "../requests/x",
        "x",
        "/etc/passwd",
        "0123456789ABCDEF",
    ] {
        assert_eq!(
            server.request(id).unwrap_err().code(),
            "invalid_input",
            "{id}"
        );
        assert_eq!(server.show(id).unwrap_err().code(), "invalid_input", "{id}");
        assert_eq!(
            server.reject(id, "no").unwrap_err().code(),
            "invalid_input",
            "{id}"
        );
        assert_eq!(
            server
                .issue(id, Usage::Tls, None, &ca.key)
                .unwrap_err()
                .code(),
            "invalid_input",
            "{id}"
        );
        assert_eq!(
            server.certificates_for_request(id).unwrap_err().code(),
            "invalid_input",
            "{id}"
        );
    }
    assert!(snapshot(&ca) == before, "a hostile id changed files");
}

#[test]
fn bad_submission_stores_nothing() {
    let ca = TestCa::new(100);
    let server = ca.server();
    let before = snapshot(&ca);

    let garbage = server.submit(submission(
        b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n".to_vec(),
    ));
    let mut bad_name = submission(ca.csr("name.example"));
    bad_name.name = "../evil".to_owned();
    let mut bad_contact = submission(ca.csr("contact.example"));
    bad_contact.contact.name = String::new();

    assert_eq!(garbage.unwrap_err().code(), "invalid_csr");
    assert_eq!(server.submit(bad_name).unwrap_err().code(), "invalid_input");
    assert_eq!(
        server.submit(bad_contact).unwrap_err().code(),
        "invalid_input"
    );
    assert!(
        snapshot(&ca) == before,
        "a rejected submission changed files"
    );
}

#[test]
fn queue_limit_enforced() {
    let ca = TestCa::new(3);
    let server = ca.server();
    let csr = ca.csr("queue.example");
    let ids: Vec<String> = (0..3)
        .map(|_| server.submit(submission(csr.clone())).unwrap().id)
        .collect();

    let full = server.submit(submission(csr.clone())).unwrap_err();
    server.reject(&ids[0], "make room").unwrap();
    let after_reject = server.submit(submission(csr.clone()));

    assert!(matches!(full, Error::QueueFull { limit: 3 }), "{full}");
    assert!(after_reject.is_ok(), "{after_reject:?}");
}

#[test]
fn queue_limit_sees_other_process_decisions() {
    let ca = TestCa::new(2);
    let server = ca.server();
    let csr = ca.csr("queue2.example");
    let first = server.submit(submission(csr.clone())).unwrap();
    server.submit(submission(csr.clone())).unwrap();

    // A second CaServer plays the operator's shell in another process.
    ca.server().reject(&first.id, "make room").unwrap();

    assert!(server.submit(submission(csr)).is_ok());
}

#[test]
fn wrong_password_changes_nothing() {
    let ca = TestCa::new(100);
    let server = ca.server();
    let store = EncryptedKeyStore {
        encrypted: fs::read(ca.ca_directory.join("TCA.key.der")).unwrap(),
    };
    let record = server
        .submit(submission(ca.csr("password.example")))
        .unwrap();
    let before = snapshot(&ca);

    let wrong = SecretString::from("wrong password".to_owned());
    let error = server
        .issue_with_key_store(&record.id, Usage::Tls, None, &store, Some(&wrong))
        .unwrap_err();

    assert!(matches!(error, Error::WrongPassword { .. }), "{error}");
    assert!(!error.to_string().contains("wrong password\""), "{error}");
    assert!(snapshot(&ca) == before, "a wrong password changed files");

    let right = SecretString::from(PASSWORD.to_owned());
    let issued = server
        .issue_with_key_store(&record.id, Usage::Tls, None, &store, Some(&right))
        .unwrap();
    assert_openssl_verifies(&ca.ca_certificate(), &issued.path);
    let audit = fs::read_to_string(ca.ca_directory.join("audit.log")).unwrap();
    assert!(!audit.contains(PASSWORD));
}

#[test]
fn foreign_key_changes_nothing() {
    let ca = TestCa::new(100);
    let server = ca.server();
    let record = server
        .submit(submission(ca.csr("foreign.example")))
        .unwrap();
    let foreign = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let before = snapshot(&ca);

    let error = server
        .issue(&record.id, Usage::Tls, None, &foreign)
        .unwrap_err();

    assert!(
        error
            .to_string()
            .contains("not the key of the CA certificate"),
        "{error}"
    );
    assert!(snapshot(&ca) == before, "a foreign key changed files");
}

#[test]
fn malformed_serial_file_refused() {
    let ca = TestCa::new(100);
    let server = ca.server();
    let record = server.submit(submission(ca.csr("serial.example"))).unwrap();
    fs::write(ca.ca_directory.join("TCA.srl"), "not a number\n").unwrap();
    let before = snapshot(&ca);

    let error = server
        .issue(&record.id, Usage::Tls, None, &ca.key)
        .unwrap_err();

    assert!(error.to_string().contains("TCA.srl"), "{error}");
    assert!(error.to_string().contains("not a number"), "{error}");
    assert!(
        snapshot(&ca) == before,
        "a malformed serial file changed files"
    );
}

#[test]
fn ca_certificate_info() {
    let ca = TestCa::new(100);
    let server = ca.server();

    let info = server.ca_certificate().unwrap();

    assert_eq!(info.subject, "C=DE, O=certa tests, CN=Test CA");
    assert!(info.chain_pem.is_empty());
    let fingerprint = openssl_ok([
        "x509".as_ref(),
        "-noout".as_ref(),
        "-fingerprint".as_ref(),
        "-sha256".as_ref(),
        "-in".as_ref(),
        ca.ca_certificate().as_os_str(),
    ]);
    assert!(
        fingerprint.contains(&info.fingerprints.sha256),
        "{fingerprint}"
    );
}

#[test]
fn open_without_server_not_found() {
    let dir = tempfile::tempdir().unwrap();

    let error = CaServer::open(dir.path()).unwrap_err();

    assert!(matches!(error, Error::NotFound { .. }), "{error}");
}

#[test]
fn lost_state_repaired_from_audit() {
    let ca = TestCa::new(100);
    let server = ca.server();
    let record = server.submit(submission(ca.csr("lost.example"))).unwrap();
    server.issue(&record.id, Usage::Tls, None, &ca.key).unwrap();
    // A crash after the audit log line but before the state change leaves the request pending.
    let decided = ca.ca_directory.join(format!("requests/{}.json", record.id));
    let mut stored: serde_json::Value =
        serde_json::from_slice(&fs::read(&decided).unwrap()).unwrap();
    stored["state"] = "pending".into();
    stored["certificate_number"] = serde_json::Value::Null;
    let pending = ca
        .ca_directory
        .join(format!("requests/pending/{}.json", record.id));
    fs::write(&pending, serde_json::to_vec(&stored).unwrap()).unwrap();
    fs::remove_file(&decided).unwrap();

    let error = server
        .issue(&record.id, Usage::Tls, None, &ca.key)
        .unwrap_err();

    assert!(
        error
            .to_string()
            .contains("already issued as certificate number 2"),
        "{error}"
    );
    assert_eq!(
        server.request(&record.id).unwrap().state,
        RequestState::Issued
    );
    assert_eq!(
        server.request(&record.id).unwrap().certificate_number,
        Some(2)
    );
    assert!(!pending.exists());
    assert_eq!(
        fs::read_to_string(ca.ca_directory.join("TCA.srl")).unwrap(),
        "03\n"
    );
}

#[test]
fn stale_pending_file_ignored() {
    let ca = TestCa::new(100);
    let server = ca.server();
    let record = server.submit(submission(ca.csr("stale.example"))).unwrap();
    let pending = ca
        .ca_directory
        .join(format!("requests/pending/{}.json", record.id));
    let copy = fs::read(&pending).unwrap();
    server.reject(&record.id, "duplicate").unwrap();
    // A crash between writing the decision and removing the pending file leaves both.
    fs::write(&pending, copy).unwrap();

    assert_eq!(
        server.request(&record.id).unwrap().state,
        RequestState::Rejected
    );
    assert!(server.pending().unwrap().is_empty());
    let error = server.reject(&record.id, "again").unwrap_err();
    assert!(error.to_string().contains("rejected"), "{error}");
    assert!(!pending.exists());
}
