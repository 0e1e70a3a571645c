//! A CA whose key is on a SoftHSM token: set-up, issuance under every usage
//! checked by OpenSSL and pkilint, and the HTTP exchange with a client
//! instance. No file of the CA's instance contains a private key.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use certa_backends::file::FileKeyStore;
use certa_core::ca::profile::Usage;
use certa_core::ca::server::{CaServer, Submission};
use certa_core::ca::setup::{set_up_self_signed, SelfSignedSetup};
use certa_core::client::{ClientInstance, KeyChoice, NewRequest};
use certa_core::key::KeyAlgorithm;
use certa_core::name::SubjectName;
use certa_core::settings::Contact;
use certa_softhsm_tests::{SoftHsmToken, USER_PIN};
use certa_test_support::{assert_openssl_verifies, assert_pkilint_clean, openssl_ok};

/// Sets up a self-signed CA `FLCA` in `instance` whose key, of `algorithm`, is made on `token`.
fn set_up_token_ca(token: &SoftHsmToken, instance: &Path, algorithm: KeyAlgorithm) -> CaServer {
    std::fs::create_dir_all(instance).expect("create the instance directory");
    let subject = SubjectName {
        organization: Some("certa tests".to_owned()),
        ..SubjectName::common_name(format!("Token CA {}", algorithm.name()))
    };
    let setup = SelfSignedSetup {
        algorithm,
        key: Some(token.key_uri("FLCA")),
        ..SelfSignedSetup::new("FLCA", "flca", subject)
    };
    let store = token.key_store();
    let report = set_up_self_signed(instance, &setup, &store, None).expect("set up the CA");

    assert!(
        !report.key.contains(USER_PIN),
        "the set-up report shows the PIN: {}",
        report.key
    );
    assert_openssl_verifies(&report.certificate, &report.certificate);
    assert_pkilint_clean(&report.certificate);
    CaServer::open(instance).expect("open the CA server")
}

/// Makes a CSR for `common_name` with OpenSSL, with a new P-256 key outside the token.
fn openssl_csr(directory: &Path, common_name: &str) -> Vec<u8> {
    let key = directory.join(format!("{common_name}.key"));
    let csr = directory.join(format!("{common_name}.csr"));
    openssl_ok([
        "req".as_ref(),
        "-new".as_ref(),
        "-newkey".as_ref(),
        "ec".as_ref(),
        "-pkeyopt".as_ref(),
        "ec_paramgen_curve:P-256".as_ref(),
        "-nodes".as_ref(),
        "-subj".as_ref(),
        format!("/CN={common_name}").as_ref(),
        "-addext".as_ref(),
        format!("subjectAltName=DNS:{common_name}").as_ref(),
        "-keyout".as_ref(),
        key.as_os_str(),
        "-out".as_ref(),
        csr.as_os_str(),
    ]);
    std::fs::read(&csr).expect("read the CSR")
}

fn contact() -> Contact {
    Contact {
        name: "Test Operator".to_owned(),
        phone: None,
        email: Some("operator@example.com".to_owned()),
    }
}

/// Lists every file below `directory`.
fn files_below(directory: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![directory.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).expect("read directory") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// Checks that no file of `instance` is a key file or contains a PEM private key or the PIN.
fn assert_no_private_key_files(instance: &Path) {
    for file in files_below(instance) {
        assert_ne!(
            file.extension().and_then(|e| e.to_str()),
            Some("key"),
            "key file {} in the instance of a token CA",
            file.display()
        );
        let contents = std::fs::read(&file).expect("read file");
        let text = String::from_utf8_lossy(&contents);
        assert!(
            !text.contains("PRIVATE KEY"),
            "{} holds a PEM private key",
            file.display()
        );
        assert!(
            !text.contains(USER_PIN),
            "{} holds the token's PIN",
            file.display()
        );
    }
}

/// Issues one certificate under each usage and has OpenSSL and pkilint check it.
fn issue_every_usage(token: &SoftHsmToken, algorithm: KeyAlgorithm) {
    let instance = token.directory().join("server");
    let server = set_up_token_ca(token, &instance, algorithm);
    let store = token.key_store();
    let ca_certificate = server.paths().certificate();
    let csr_directory = token.directory().join("requesters");
    std::fs::create_dir_all(&csr_directory).expect("create directory");

    for usage in Usage::ALL {
        let common_name = format!("{}.example.com", usage.name());
        let record = server
            .submit(Submission {
                name: usage.name().to_owned(),
                csr: openssl_csr(&csr_directory, &common_name),
                contact: contact(),
                source: "local".to_owned(),
            })
            .expect("submit");
        let issued = server
            .issue_with_key_store(&record.id, usage, None, &store, None)
            .unwrap_or_else(|error| panic!("issue under {usage:?}: {error}"));

        assert_openssl_verifies(&ca_certificate, &issued.path);
        let pem = csr_directory.join(format!("{}.pem", usage.name()));
        std::fs::write(&pem, &issued.pem).expect("write the certificate");
        assert_pkilint_clean(&pem);
    }
    assert_no_private_key_files(&instance);
}

#[test]
fn p256_token_ca_issues_every_usage() {
    let token = SoftHsmToken::new("ca-p256");
    issue_every_usage(&token, KeyAlgorithm::EcdsaP256);
}

#[test]
fn rsa2048_token_ca_issues_every_usage() {
    let token = SoftHsmToken::new("ca-rsa2048");
    issue_every_usage(&token, KeyAlgorithm::Rsa2048);
}

/// Runs the exchange over HTTP: the client submits, the token CA issues, the client downloads.
fn http_exchange(token: &SoftHsmToken, algorithm: KeyAlgorithm) {
    let server_instance = token.directory().join("http-server");
    let client_instance = token.directory().join("http-client");
    std::fs::create_dir_all(&client_instance).expect("create the client instance");
    let server = Arc::new(set_up_token_ca(token, &server_instance, algorithm));
    let runtime = tokio::runtime::Runtime::new().expect("start a tokio runtime");
    let listen = "127.0.0.1:0".parse().expect("address");
    let mut handle = certa_core::http::start(runtime.handle(), Arc::clone(&server), listen)
        .expect("start the HTTP server");

    let client = ClientInstance::new(&client_instance);
    client
        .configure("127.0.0.1", handle.address().port(), contact())
        .expect("configure the client");
    let client_store = FileKeyStore::new(&client_instance);
    let request = NewRequest {
        root: "FLCAclient".to_owned(),
        subject: SubjectName::common_name("client.example.com"),
        subject_alt_names: vec!["DNS:client.example.com".to_owned()],
        algorithm: KeyAlgorithm::EcdsaP256,
        key: KeyChoice::Create,
        key_location: None,
    };
    let password = certa_core::key::SecretString::from("client key password");
    let submitted = runtime
        .block_on(client.submit(&client_store, &request, Some(&password)))
        .expect("submit over HTTP");

    let token_store = token.key_store();
    server
        .issue_with_key_store(&submitted.id, Usage::Tls, None, &token_store, None)
        .expect("issue with the token key");

    let ca = runtime
        .block_on(client.fetch_ca_certificate())
        .expect("fetch the CA certificate");
    let fetched = runtime
        .block_on(client.fetch_certificate(&client_store, "FLCAclient", Some(&password)))
        .expect("fetch the certificate");
    assert_openssl_verifies(&ca.path, &fetched.path);
    assert_pkilint_clean(&fetched.path);

    runtime.block_on(handle.stop());
    assert_no_private_key_files(&server_instance);
}

#[test]
fn p256_token_ca_serves_http_exchange() {
    let token = SoftHsmToken::new("http-p256");
    http_exchange(&token, KeyAlgorithm::EcdsaP256);
}

#[test]
fn rsa2048_token_ca_serves_http_exchange() {
    let token = SoftHsmToken::new("http-rsa2048");
    http_exchange(&token, KeyAlgorithm::Rsa2048);
}
