//! Issuing with the CA key in the real file key store: the key is made by
//! `FileKeyStore` (encrypted with scrypt), the CA certificate by OpenSSL from
//! that encrypted file, and the issued certificate is checked by OpenSSL and
//! pkilint. A wrong password changes no file.

#![cfg(feature = "file")]
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

use certa_backends::file::FileKeyStore;
use certa_core::ca::profile::Usage;
use certa_core::ca::server::{CaServer, RequestState, Submission};
use certa_core::key::{KeyAlgorithm, KeyStore, KeyUri, SecretString};
use certa_core::settings::{Contact, ServerSettings, Settings};
use certa_core::Error;
use certa_test_support::{assert_openssl_verifies, assert_pkilint_clean, openssl_ok};

const PASSWORD: &str = "file key store test password";

const REQ_CONFIG: &str = "[req]\ndistinguished_name = dn\nx509_extensions = v3_ca\nprompt = no\n[dn]\nCN = unused\n[v3_ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid:always\n";

/// Makes the CA: the key in the file key store, the certificate with OpenSSL.
fn make_ca(instance: &Path) -> FileKeyStore {
    let ca_directory = instance.join("fca");
    fs::create_dir_all(&ca_directory).unwrap();
    let store = FileKeyStore::new(instance);
    let password = SecretString::from(PASSWORD.to_owned());
    let key: KeyUri = "file:fca/FCA.key".parse().unwrap();
    store
        .create_key(&key, KeyAlgorithm::EcdsaP256, Some(&password))
        .unwrap();

    let config = instance.join("req.cnf");
    fs::write(&config, REQ_CONFIG).unwrap();
    openssl_ok([
        "req".as_ref(),
        "-x509".as_ref(),
        "-new".as_ref(),
        "-key".as_ref(),
        ca_directory.join("FCA.key").as_os_str(),
        "-passin".as_ref(),
        format!("pass:{PASSWORD}").as_ref(),
        "-config".as_ref(),
        config.as_os_str(),
        "-subj".as_ref(),
        "/O=certa tests/CN=File Key CA".as_ref(),
        "-days".as_ref(),
        "30".as_ref(),
        "-set_serial".as_ref(),
        "1".as_ref(),
        "-out".as_ref(),
        ca_directory.join("FCA.cer").as_os_str(),
    ]);
    fs::write(ca_directory.join("FCA.srl"), "02\n").unwrap();
    Settings {
        server: Some(ServerSettings {
            root: "FCA".to_owned(),
            directory: PathBuf::from("fca"),
            key: "file:fca/FCA.key".to_owned(),
            listen: "127.0.0.1:0".to_owned(),
            max_pending_requests: 10,
            validity_days: 30,
            https: None,
        }),
        client: None,
    }
    .save(instance)
    .unwrap();
    store
}

fn make_csr(dir: &Path) -> Vec<u8> {
    let key = dir.join("client.key");
    let csr = dir.join("client.csr");
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
        "/CN=file-key.example".as_ref(),
        "-addext".as_ref(),
        "subjectAltName=DNS:file-key.example".as_ref(),
        "-out".as_ref(),
        csr.as_os_str(),
    ]);
    fs::read(csr).unwrap()
}

/// Reads every file of the CA directory except the lock file, with its content.
fn snapshot(directory: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut pending = vec![directory.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_none_or(|e| e != "lock") {
                let content = fs::read(&path).unwrap();
                files.push((path, content));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn issue_with_file_key() {
    let dir = tempfile::tempdir().unwrap();
    let instance = dir.path().join("instance");
    let store = make_ca(&instance);
    let server = CaServer::open(&instance).unwrap();
    let record = server
        .submit(Submission {
            name: "file-key".to_owned(),
            csr: make_csr(dir.path()),
            contact: Contact {
                name: "Ada Requester".to_owned(),
                phone: None,
                email: Some("ada@example.org".to_owned()),
            },
            source: "local".to_owned(),
        })
        .unwrap();
    let password = SecretString::from(PASSWORD.to_owned());

    let issued = server
        .issue_with_key_store(&record.id, Usage::TlsServer, None, &store, Some(&password))
        .unwrap();

    assert_eq!(issued.number, 2);
    assert_openssl_verifies(&instance.join("fca/FCA.cer"), &issued.path);
    assert_pkilint_clean(&issued.path);
    assert_eq!(
        server.request(&record.id).unwrap().state,
        RequestState::Issued
    );
    let audit = fs::read_to_string(instance.join("fca/audit.log")).unwrap();
    assert!(!audit.contains(PASSWORD));
}

#[test]
fn wrong_password_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let instance = dir.path().join("instance");
    let store = make_ca(&instance);
    let server = CaServer::open(&instance).unwrap();
    let record = server
        .submit(Submission {
            name: "file-key".to_owned(),
            csr: make_csr(dir.path()),
            contact: Contact {
                name: "Ada Requester".to_owned(),
                phone: None,
                email: None,
            },
            source: "local".to_owned(),
        })
        .unwrap();
    let before = snapshot(&instance.join("fca"));
    let wrong = SecretString::from("not the password".to_owned());

    let error = server
        .issue_with_key_store(&record.id, Usage::Tls, None, &store, Some(&wrong))
        .unwrap_err();

    assert!(matches!(error, Error::WrongPassword { .. }), "{error}");
    assert!(!format!("{error} {error:?}").contains("not the password"));
    assert!(
        snapshot(&instance.join("fca")) == before,
        "a wrong password changed files"
    );
    assert_eq!(
        server.request(&record.id).unwrap().state,
        RequestState::Pending
    );
}
