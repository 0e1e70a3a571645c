//! The whole exchange between a CA client and a CA server over HTTP on
//! 127.0.0.1: the client's keys live in a real file key store, the CA is made
//! by OpenSSL, and every file the client saves is checked by OpenSSL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use certa_backends::file::FileKeyStore;
use certa_core::ca::profile::Usage;
use certa_core::ca::server::CaServer;
use certa_core::client::{ClientInstance, KeyChoice, NewRequest};
use certa_core::http::{self, ServerHandle};
use certa_core::key::{KeyAlgorithm, KeyUri, SecretString};
use certa_core::name::SubjectName;
use certa_core::settings::{Contact, ServerSettings, Settings};
use certa_core::Error;
use certa_test_support::{assert_openssl_verifies, make_openssl_ca, openssl_ok};
use tempfile::TempDir;

const PASSWORD: &str = "correct horse battery staple";

/// A CA server instance made with `openssl req -x509`, serving on 127.0.0.1.
struct Server {
    dir: TempDir,
    handle: ServerHandle,
}

impl Server {
    fn start(max_pending_requests: usize) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        make_openssl_ca(
            &dir.path().join("ca"),
            "FLCA",
            "/O=Example/CN=First Look CA",
            30,
        );
        let settings = Settings {
            server: Some(ServerSettings {
                root: "FLCA".to_owned(),
                directory: PathBuf::from("ca"),
                key: "file:ca/FLCA.key".to_owned(),
                listen: "127.0.0.1:0".to_owned(),
                max_pending_requests,
                validity_days: 30,
                https: None,
            }),
            client: None,
        };
        settings.save(dir.path()).expect("settings");

        let server = Arc::new(CaServer::open(dir.path()).expect("open the CA server"));
        let listen: SocketAddr = "127.0.0.1:0".parse().expect("address");
        let handle =
            http::start(&tokio::runtime::Handle::current(), server, listen).expect("start");
        Server { dir, handle }
    }

    fn port(&self) -> u16 {
        self.handle.address().port()
    }

    /// Issues a pending request as the operator does, with the CA key read by the file key store.
    fn issue(&self, id: &str) -> u64 {
        let server = CaServer::open(self.dir.path()).expect("open the CA server");
        let key_store = FileKeyStore::new(self.dir.path());
        server
            .issue_with_key_store(id, Usage::Tls, None, &key_store, None)
            .expect("issue")
            .number
    }
}

/// A client instance in its own directory, configured for `port` on 127.0.0.1.
fn client(port: u16) -> (TempDir, ClientInstance) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let client = ClientInstance::new(dir.path());
    let contact = Contact {
        name: "Ada Operator".to_owned(),
        phone: Some("+49 30 1234".to_owned()),
        email: Some("ada@example.org".to_owned()),
    };
    client
        .configure("127.0.0.1", port, contact)
        .expect("configure");
    (dir, client)
}

fn new_request(root: &str, key: KeyChoice) -> NewRequest {
    let mut subject = SubjectName::common_name("client.example.org");
    subject.organization = Some("Example".to_owned());
    NewRequest {
        root: root.to_owned(),
        subject,
        subject_alt_names: vec!["client.example.org".to_owned(), "IP:127.0.0.1".to_owned()],
        algorithm: KeyAlgorithm::EcdsaP256,
        key,
        key_location: None,
    }
}

fn password() -> SecretString {
    SecretString::from(PASSWORD)
}

fn client_file(dir: &Path, name: &str) -> PathBuf {
    dir.join("client").join(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_fetches_issued_certificate() {
    let server = Server::start(10);
    let (dir, client) = client(server.port());
    let key_store = FileKeyStore::new(dir.path());
    let password = password();

    let submitted = client
        .submit(
            &key_store,
            &new_request("FLCAclient", KeyChoice::Create),
            Some(&password),
        )
        .await
        .expect("submit");
    let number = server.issue(&submitted.id);
    let ca = client.fetch_ca_certificate().await.expect("fetch CA");
    let listed = client.list_certificates().await.expect("list");
    let fetched = client
        .fetch_certificate(&key_store, "FLCAclient", Some(&password))
        .await
        .expect("fetch certificate");

    assert_eq!(ca.path, client_file(dir.path(), "FLCA.cer"));
    let server_fingerprint = openssl_ok([
        "x509".as_ref(),
        "-noout".as_ref(),
        "-fingerprint".as_ref(),
        "-sha256".as_ref(),
        "-in".as_ref(),
        server.dir.path().join("ca/FLCA.cer").as_os_str(),
    ]);
    assert!(
        server_fingerprint.trim().ends_with(&ca.fingerprints.sha256),
        "{server_fingerprint} vs {}",
        ca.fingerprints.sha256
    );
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].root, "FLCAclient");
    assert_eq!(listed[0].certificate.number, number);
    assert_eq!(fetched.number, number);
    assert_eq!(fetched.path, client_file(dir.path(), "FLCAclient.cer"));
    assert_openssl_verifies(&ca.path, &fetched.path);

    let certified_key = openssl_ok([
        "x509".as_ref(),
        "-noout".as_ref(),
        "-pubkey".as_ref(),
        "-in".as_ref(),
        fetched.path.as_os_str(),
    ]);
    let private_key = client_file(dir.path(), "FLCAclient.key");
    let own_key = openssl_ok([
        "pkey".as_ref(),
        "-pubout".as_ref(),
        "-in".as_ref(),
        private_key.as_os_str(),
        "-passin".as_ref(),
        format!("pass:{PASSWORD}").as_ref(),
    ]);
    assert_eq!(certified_key, own_key);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submitted_csr_verifies() {
    let server = Server::start(10);
    let (dir, client) = client(server.port());
    let key_store = FileKeyStore::new(dir.path());

    let submitted = client
        .submit(
            &key_store,
            &new_request("FLCAclient", KeyChoice::Create),
            Some(&password()),
        )
        .await
        .expect("submit");

    let csr = client_file(dir.path(), "FLCAclient.csr");
    assert_eq!(submitted.csr_path, csr);
    let output = certa_test_support::openssl([
        "req".as_ref(),
        "-verify".as_ref(),
        "-noout".as_ref(),
        "-text".as_ref(),
        "-in".as_ref(),
        csr.as_os_str(),
    ]);
    assert!(output.success, "{}", output.stderr);
    assert!(
        output.stdout.contains("O=Example, CN=client.example.org")
            || output
                .stdout
                .contains("O = Example, CN = client.example.org"),
        "{}",
        output.stdout
    );
    assert!(
        output
            .stdout
            .contains("DNS:client.example.org, IP Address:127.0.0.1"),
        "{}",
        output.stdout
    );
    let der = openssl_ok([
        "req".as_ref(),
        "-in".as_ref(),
        csr.as_os_str(),
        "-outform".as_ref(),
        "DER".as_ref(),
        "-out".as_ref(),
        dir.path().join("csr.der").as_os_str(),
    ]);
    assert!(der.is_empty());
    let sha1 = certa_core::fingerprint::Fingerprints::of(
        &fs::read(dir.path().join("csr.der")).expect("CSR DER"),
    )
    .sha1;
    assert_eq!(submitted.sha1_fingerprint, sha1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unencrypted_key_needs_no_secret() {
    let server = Server::start(10);
    let (dir, client) = client(server.port());
    let key_store = FileKeyStore::new(dir.path());

    let submitted = client
        .submit(&key_store, &new_request("plain", KeyChoice::Create), None)
        .await
        .expect("submit");
    server.issue(&submitted.id);
    let ca = client.fetch_ca_certificate().await.expect("fetch CA");
    let fetched = client
        .fetch_certificate(&key_store, &submitted.id, None)
        .await
        .expect("fetch certificate");

    assert_openssl_verifies(&ca.path, &fetched.path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_certificate_not_found() {
    let server = Server::start(10);
    let (dir, client) = client(server.port());
    let key_store = FileKeyStore::new(dir.path());
    client
        .submit(
            &key_store,
            &new_request("FLCAclient", KeyChoice::Create),
            None,
        )
        .await
        .expect("submit");
    client.fetch_ca_certificate().await.expect("fetch CA");

    let error = client
        .fetch_certificate(&key_store, "FLCAclient", None)
        .await
        .unwrap_err();

    assert!(matches!(error, Error::NotFound { .. }), "{error}");
    assert!(error.to_string().contains("which is pending"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_key_kept() {
    let server = Server::start(10);
    let (dir, client) = client(server.port());
    let key_store = FileKeyStore::new(dir.path());
    let first = client
        .submit(
            &key_store,
            &new_request("FLCAclient", KeyChoice::Create),
            None,
        )
        .await
        .expect("submit");
    let key_file = client_file(dir.path(), "FLCAclient.key");
    let key_before = fs::read(&key_file).expect("key");

    let error = client
        .submit(
            &key_store,
            &new_request("FLCAclient", KeyChoice::Create),
            None,
        )
        .await
        .unwrap_err();
    let again = client
        .submit(
            &key_store,
            &new_request("FLCAclient", KeyChoice::Reuse),
            None,
        )
        .await
        .expect("submit with the same key");

    assert!(matches!(error, Error::AlreadyExists { .. }), "{error}");
    assert_eq!(fs::read(&key_file).expect("key"), key_before);
    assert_ne!(again.id, first.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_submission_keeps_key() {
    let server = Server::start(1);
    let (dir, client) = client(server.port());
    let key_store = FileKeyStore::new(dir.path());
    client
        .submit(&key_store, &new_request("first", KeyChoice::Create), None)
        .await
        .expect("submit");

    let error = client
        .submit(&key_store, &new_request("second", KeyChoice::Create), None)
        .await
        .unwrap_err();

    assert_eq!(error.code(), "server");
    assert!(error.to_string().contains("queue_full"), "{error}");
    assert!(client_file(dir.path(), "second.key").is_file());
    assert!(client_file(dir.path(), "second.csr").is_file());
    let settings = Settings::load(dir.path()).expect("settings");
    assert_eq!(settings.client.expect("client").requests.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connection_names_address() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let (_dir, client) = client(port);

    let error = client.fetch_ca_certificate().await.unwrap_err();

    let message = error.to_string();
    assert_eq!(error.code(), "server");
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(message.to_lowercase().contains("refused"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unconfigured_client_rejected() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let client = ClientInstance::new(dir.path());

    let error = client.fetch_ca_certificate().await.unwrap_err();

    assert_eq!(error.code(), "invalid_input");
    assert!(error.to_string().contains("not configured"), "{error}");
}

#[test]
fn empty_contact_name_rejected() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let client = ClientInstance::new(dir.path());

    let error = client
        .configure("ca.example.org", 8443, Contact::default())
        .unwrap_err();

    assert_eq!(error.code(), "invalid_input");
    assert!(!dir.path().join("certa.yaml").exists());
}

#[test]
fn key_uri_in_client_directory() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let client = ClientInstance::new(dir.path());
    let contact = Contact {
        name: "Ada Operator".to_owned(),
        ..Contact::default()
    };
    client
        .configure("ca.example.org", 8443, contact)
        .expect("configure");

    assert_eq!(
        client.key_uri("FLCAclient").expect("key URI"),
        KeyUri::file("client/FLCAclient.key")
    );
}

/// Submits a request for `root` without a password, issues it, and fetches the CA certificate.
async fn issued_request(
    server: &Server,
    client: &ClientInstance,
    key_store: &FileKeyStore,
    root: &str,
) {
    let submitted = client
        .submit(key_store, &new_request(root, KeyChoice::Create), None)
        .await
        .expect("submit");
    server.issue(&submitted.id);
    client.fetch_ca_certificate().await.expect("fetch CA");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_ca_signature_rejected() {
    let server = Server::start(10);
    let (dir, client) = client(server.port());
    let key_store = FileKeyStore::new(dir.path());
    issued_request(&server, &client, &key_store, "FLCAclient").await;
    // Another CA with the same subject and its own key takes the place of the fetched one.
    let ca_path = client_file(dir.path(), "FLCA.cer");
    openssl_ok([
        "req".as_ref(),
        "-x509".as_ref(),
        "-newkey".as_ref(),
        "ec".as_ref(),
        "-pkeyopt".as_ref(),
        "ec_paramgen_curve:P-256".as_ref(),
        "-nodes".as_ref(),
        "-keyout".as_ref(),
        dir.path().join("other.key").as_os_str(),
        "-out".as_ref(),
        ca_path.as_os_str(),
        "-subj".as_ref(),
        "/O=Example/CN=First Look CA".as_ref(),
    ]);

    let error = client
        .fetch_certificate(&key_store, "FLCAclient", None)
        .await
        .unwrap_err();

    assert_eq!(error.code(), "invalid_certificate", "{error}");
    assert!(error.to_string().contains("signature"), "{error}");
    assert!(!client_file(dir.path(), "FLCAclient.cer").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_key_rejected() {
    let server = Server::start(10);
    let (dir, client) = client(server.port());
    let key_store = FileKeyStore::new(dir.path());
    issued_request(&server, &client, &key_store, "FLCAclient").await;
    let key_path = client_file(dir.path(), "FLCAclient.key");
    fs::remove_file(&key_path).expect("remove key");
    openssl_ok([
        "genpkey".as_ref(),
        "-algorithm".as_ref(),
        "EC".as_ref(),
        "-pkeyopt".as_ref(),
        "ec_paramgen_curve:P-256".as_ref(),
        "-out".as_ref(),
        key_path.as_os_str(),
    ]);

    let error = client
        .fetch_certificate(&key_store, "FLCAclient", None)
        .await
        .unwrap_err();

    assert_eq!(error.code(), "invalid_certificate", "{error}");
    assert!(error.to_string().contains("public key"), "{error}");
    assert!(!client_file(dir.path(), "FLCAclient.cer").exists());
}
