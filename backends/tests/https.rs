//! The exchange between a CA client and a CA server over HTTPS on
//! 127.0.0.1. The server issues its own `tls-server` certificate. The client
//! reads the CA certificate from the TLS handshake and trusts it only after
//! its fingerprint is checked. OpenSSL checks the server's chain and the
//! files the client saves.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use certa_backends::file::FileKeyStore;
use certa_core::ca::https::HttpsCertificateRequest;
use certa_core::ca::profile::Usage;
use certa_core::ca::server::CaServer;
use certa_core::client::{CaCheck, ClientInstance, KeyChoice, NewRequest, OfferedCaCertificate};
use certa_core::http::{self, CaClient, ClientOptions, HttpsConfig, ServerHandle};
use certa_core::key::{KeyAlgorithm, KeyStore, KeyUri, SecretString};
use certa_core::name::SubjectName;
use certa_core::settings::{Contact, HttpsSettings, ServerSettings, Settings};
use certa_core::tls::{TlsListener, TrustAnchors};
use certa_test_support::{assert_openssl_verifies, make_openssl_ca, openssl, openssl_ok};
use tempfile::TempDir;

const CLIENT_PASSWORD: &str = "correct horse battery staple";
const TLS_KEY_PASSWORD: &str = "tls key password for the test";

/// A CA server instance made with `openssl req -x509`, with its own HTTPS
/// certificate, serving HTTPS on 127.0.0.1.
struct Server {
    dir: TempDir,
    handle: ServerHandle,
    https: HttpsSettings,
}

impl Server {
    fn start(require_client_certificates: bool) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        make_openssl_ca(
            &dir.path().join("ca"),
            "FLCA",
            "/O=Example/CN=First Look CA",
            30,
        );
        Server::serve_instance(dir, require_client_certificates)
    }

    /// Starts a server whose CA FLCA is an intermediate CA under the root CA in
    /// `root/ROOT.cer`, made with OpenSSL.
    fn start_intermediate() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let root = dir.path().join("root");
        let ca = dir.path().join("ca");
        make_openssl_ca(&root, "ROOT", "/O=Example/CN=Example Root CA", 60);
        fs::create_dir_all(&ca).expect("create the CA directory");

        let csr = dir.path().join("intermediate.csr");
        let extensions = dir.path().join("intermediate.ext");
        fs::write(
            &extensions,
            "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
        )
        .expect("write the extensions");

        openssl_ok([
            "req".as_ref(),
            "-new".as_ref(),
            "-newkey".as_ref(),
            "ec".as_ref(),
            "-pkeyopt".as_ref(),
            "ec_paramgen_curve:P-256".as_ref(),
            "-nodes".as_ref(),
            "-keyout".as_ref(),
            ca.join("FLCA.key").as_os_str(),
            "-out".as_ref(),
            csr.as_os_str(),
            "-subj".as_ref(),
            "/O=Example/CN=First Look Intermediate CA".as_ref(),
        ]);
        openssl_ok([
            "x509".as_ref(),
            "-req".as_ref(),
            "-in".as_ref(),
            csr.as_os_str(),
            "-CA".as_ref(),
            root.join("ROOT.cer").as_os_str(),
            "-CAkey".as_ref(),
            root.join("ROOT.key").as_os_str(),
            "-set_serial".as_ref(),
            "2".as_ref(),
            "-days".as_ref(),
            "30".as_ref(),
            "-extfile".as_ref(),
            extensions.as_os_str(),
            "-out".as_ref(),
            ca.join("FLCA.cer").as_os_str(),
        ]);

        fs::copy(root.join("ROOT.cer"), ca.join("FLCA-chain.pem")).expect("write the chain");
        fs::write(ca.join("FLCA.srl"), "02\n").expect("write the serial file");
        Server::serve_instance(dir, false)
    }

    fn serve_instance(dir: TempDir, require_client_certificates: bool) -> Self {
        let mut server_settings = ServerSettings::new("FLCA", "ca", "file:ca/FLCA.key");
        server_settings.listen = "127.0.0.1:0".to_owned();
        server_settings.validity_days = 30;
        let settings = Settings {
            server: Some(server_settings),
            client: None,
        };
        settings.save(dir.path()).expect("settings");

        let https = issue_https_certificate(
            dir.path(),
            &["127.0.0.1", "localhost"],
            require_client_certificates,
        );
        let handle = serve(dir.path());
        Server { dir, handle, https }
    }

    fn port(&self) -> u16 {
        self.handle.address().port()
    }

    fn ca_certificate(&self) -> PathBuf {
        self.dir.path().join("ca/FLCA.cer")
    }

    fn https_certificate(&self) -> PathBuf {
        self.dir.path().join(&self.https.certificate)
    }

    /// Issues a pending request as the operator does, with the CA key read by the file key store.
    fn issue(&self, id: &str) -> certa_core::ca::server::IssuedCertificate {
        let server = CaServer::open(self.dir.path()).expect("open the CA server");
        let key_store = FileKeyStore::new(self.dir.path());
        server
            .issue_with_key_store(id, Usage::Tls, None, &key_store, None)
            .expect("issue")
    }

    fn request_count(&self) -> usize {
        let server = CaServer::open(self.dir.path()).expect("open the CA server");
        server.issued().expect("issued certificates").len()
            + server.pending().expect("pending requests").len()
    }
}

/// Issues the server's HTTPS certificate for 127.0.0.1 and localhost, with
/// the TLS key in an encrypted file.
fn issue_https_certificate(
    instance: &Path,
    names: &[&str],
    require_client_certificates: bool,
) -> HttpsSettings {
    let server = CaServer::open(instance).expect("open the CA server");
    let key_store = FileKeyStore::new(instance);
    let request = HttpsCertificateRequest {
        names: names.iter().map(|name| (*name).to_owned()).collect(),
        require_client_certificates,
        ..HttpsCertificateRequest::default()
    };
    server
        .issue_https_certificate(
            &request,
            &key_store,
            None,
            &key_store,
            Some(&SecretString::from(TLS_KEY_PASSWORD)),
        )
        .expect("issue the HTTPS certificate")
        .settings
}

/// Serves the instance over HTTPS with its HTTPS settings, on a free port.
fn serve(instance: &Path) -> ServerHandle {
    let server = CaServer::open(instance).expect("open the CA server");
    let settings = HttpsSettings::load(instance)
        .expect("read the HTTPS settings")
        .expect("HTTPS settings");
    let key: KeyUri = settings.key.parse().expect("TLS key URI");
    let signer = FileKeyStore::new(instance)
        .unlock(&key, Some(&SecretString::from(TLS_KEY_PASSWORD)))
        .expect("unlock the TLS key");
    let config = HttpsConfig::from_settings(&server, &settings, signer).expect("HTTPS config");
    let listen: SocketAddr = "127.0.0.1:0".parse().expect("address");
    http::start_https(
        &tokio::runtime::Handle::current(),
        Arc::new(server),
        listen,
        config,
    )
    .expect("start HTTPS")
}

/// Makes a client instance in its own directory, configured for HTTPS to `port` on 127.0.0.1.
fn client(port: u16) -> (TempDir, ClientInstance) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let client = ClientInstance::new(dir.path());
    let contact = Contact {
        name: "Ada Operator".to_owned(),
        phone: None,
        email: Some("ada@example.org".to_owned()),
    };
    client
        .configure_with("127.0.0.1", port, contact, true)
        .expect("configure");
    (dir, client)
}

fn new_request() -> NewRequest {
    NewRequest {
        root: "FLCAclient".to_owned(),
        subject: SubjectName::common_name("client.example.org"),
        subject_alt_names: vec!["client.example.org".to_owned()],
        algorithm: KeyAlgorithm::EcdsaP256,
        key: KeyChoice::Create,
        key_location: None,
    }
}

fn client_password() -> SecretString {
    SecretString::from(CLIENT_PASSWORD)
}

fn client_file(dir: &Path, name: &str) -> PathBuf {
    dir.join("client").join(name)
}

/// Computes the SHA-256 fingerprint of a PEM certificate with OpenSSL.
fn openssl_sha256(certificate: &Path) -> String {
    let output = openssl_ok([
        "x509".as_ref(),
        "-noout".as_ref(),
        "-fingerprint".as_ref(),
        "-sha256".as_ref(),
        "-in".as_ref(),
        certificate.as_os_str(),
    ]);
    output
        .trim()
        .rsplit('=')
        .next()
        .expect("fingerprint")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_client_workflow() {
    let server = Server::start(false);
    let (dir, client) = client(server.port());
    let key_store = FileKeyStore::new(dir.path());
    let password = client_password();
    let expected = openssl_sha256(&server.ca_certificate());

    let ca = client
        .fetch_ca_certificate_checked(CaCheck::Expected(&expected))
        .await
        .expect("fetch the CA certificate");
    let submitted = client
        .submit(&key_store, &new_request(), Some(&password))
        .await
        .expect("submit");
    let issued = server.issue(&submitted.id);
    let listed = client.list_certificates().await.expect("list");
    let fetched = client
        .fetch_certificate(&key_store, "FLCAclient", Some(&password))
        .await
        .expect("fetch the certificate");

    assert_eq!(ca.path, client_file(dir.path(), "FLCA.cer"));
    assert_eq!(ca.fingerprints.sha256, expected);
    assert_eq!(
        fs::read(&ca.path).expect("saved CA certificate"),
        fs::read(server.ca_certificate()).expect("server's CA certificate")
    );
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].certificate.number, issued.number);
    assert_eq!(fetched.number, issued.number);
    assert_openssl_verifies(&ca.path, &fetched.path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn later_calls_trust_saved_certificate() {
    let server = Server::start(false);
    let (_dir, client) = client(server.port());
    let expected = openssl_sha256(&server.ca_certificate());
    client
        .fetch_ca_certificate_checked(CaCheck::Expected(&expected))
        .await
        .expect("first fetch");

    let again = client.fetch_ca_certificate().await.expect("second fetch");

    assert_eq!(again.fingerprints.sha256, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_fingerprint_stops_client() {
    let server = Server::start(false);
    let (dir, client) = client(server.port());
    let key_store = FileKeyStore::new(dir.path());
    let wrong = ["00"; 32].join(":");
    let actual = openssl_sha256(&server.ca_certificate());
    let requests_before = server.request_count();

    let error = client
        .fetch_ca_certificate_checked(CaCheck::Expected(&wrong))
        .await
        .expect_err("a wrong fingerprint");
    let submit_error = client
        .submit(&key_store, &new_request(), Some(&client_password()))
        .await
        .expect_err("no trusted CA");

    let message = error.to_string();
    assert_eq!(error.code(), "invalid_certificate");
    assert!(message.contains(&wrong), "{message}");
    assert!(message.contains(&actual), "{message}");
    assert!(!client_file(dir.path(), "FLCA.cer").exists());
    let settings = Settings::load(dir.path()).expect("client settings");
    assert_eq!(settings.client.expect("client").ca_root, None);
    assert!(
        submit_error
            .to_string()
            .contains("trusts no CA certificate"),
        "{submit_error}"
    );
    assert!(
        !client_file(dir.path(), "FLCAclient.key").exists(),
        "a refused submission leaves no key"
    );
    assert_eq!(server.request_count(), requests_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_sends_no_application_data() {
    let server = Server::start(false);
    let settings = HttpsSettings::load(server.dir.path())
        .expect("read")
        .expect("HTTPS settings");
    let key: KeyUri = settings.key.parse().expect("key URI");
    let signer = FileKeyStore::new(server.dir.path())
        .unlock(&key, Some(&SecretString::from(TLS_KEY_PASSWORD)))
        .expect("unlock");
    let ca_server = CaServer::open(server.dir.path()).expect("open");
    let config = HttpsConfig::from_settings(&ca_server, &settings, signer).expect("config");
    let listen: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let listener = TlsListener::bind(listen, config.tls).await.expect("bind");
    let port = listener.local_addr().port();
    // A plain TLS listener in place of the HTTPS server: it reports whether
    // the handshake completed and what the client sent after it.
    let observer = tokio::spawn(async move {
        let Ok(mut connection) = listener.accept().await else {
            return (false, None);
        };
        let received = connection
            .receive(Duration::from_secs(2))
            .await
            .ok()
            .flatten();
        (true, received)
    });

    let offered = http::probe_ca_certificate("127.0.0.1", port, Duration::from_secs(5))
        .await
        .expect("probe");
    let (handshake_completed, received) = observer.await.expect("observer");

    assert_eq!(
        offered.fingerprints.sha256,
        openssl_sha256(&server.ca_certificate())
    );
    assert!(!handshake_completed, "the probe completed the handshake");
    assert_eq!(received, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmation_yes_saves_certificate() {
    let server = Server::start(false);
    let (dir, client) = client(server.port());
    let shown: Mutex<Option<String>> = Mutex::new(None);
    let confirm = |offered: &OfferedCaCertificate| {
        *shown.lock().expect("lock") = Some(offered.fingerprints.sha256.clone());
        true
    };

    let ca = client
        .fetch_ca_certificate_checked(CaCheck::Confirm(&confirm))
        .await
        .expect("fetch the CA certificate");

    let expected = openssl_sha256(&server.ca_certificate());
    assert_eq!(
        shown.lock().expect("lock").as_deref(),
        Some(expected.as_str())
    );
    assert_eq!(ca.fingerprints.sha256, expected);
    assert!(client_file(dir.path(), "FLCA.cer").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmation_no_saves_nothing() {
    let server = Server::start(false);
    let (dir, client) = client(server.port());
    let confirm = |_: &OfferedCaCertificate| false;

    let error = client
        .fetch_ca_certificate_checked(CaCheck::Confirm(&confirm))
        .await
        .expect_err("not confirmed");

    let message = error.to_string();
    assert_eq!(error.code(), "invalid_certificate");
    assert!(message.contains("not confirmed"), "{message}");
    assert!(
        message.contains(&openssl_sha256(&server.ca_certificate())),
        "{message}"
    );
    assert!(!client_file(dir.path(), "FLCA.cer").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_https_fetch_refused() {
    let server = Server::start(false);
    let (_dir, client) = client(server.port());

    let error = client
        .fetch_ca_certificate()
        .await
        .expect_err("no trusted CA");

    assert_eq!(error.code(), "invalid_input");
    assert!(error.to_string().contains("fingerprint"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_required() {
    let server = Server::start(true);
    let (dir, client) = client(server.port());
    let key_store = FileKeyStore::new(dir.path());
    let password = client_password();
    let expected = openssl_sha256(&server.ca_certificate());
    client
        .fetch_ca_certificate_checked(CaCheck::Expected(&expected))
        .await
        .expect("fetch the CA certificate");
    let submitted = client
        .submit(&key_store, &new_request(), Some(&password))
        .await
        .expect("submit");
    let issued = server.issue(&submitted.id);

    let refused = client
        .list_certificates()
        .await
        .expect_err("no client certificate");
    // The operator hands the first certificate over, as the server serves
    // certificates only to clients that already have one.
    fs::write(client_file(dir.path(), "FLCAclient.cer"), &issued.pem)
        .expect("save the handed-over certificate");
    let identity = client
        .tls_identity(&key_store, "FLCAclient", Some(&password))
        .expect("TLS identity");
    let client = client.with_tls_identity(identity);
    let listed = client.list_certificates().await.expect("list");
    let fetched = client
        .fetch_certificate(&key_store, "FLCAclient", Some(&password))
        .await
        .expect("fetch the certificate");

    assert!(
        refused.to_string().contains("client_certificate_required"),
        "{refused}"
    );
    assert_eq!(listed.len(), 1);
    assert_eq!(fetched.number, issued.number);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_verifies_https_chain() {
    let server = Server::start(false);
    let port = server.port();
    let ca = server.ca_certificate();

    let ca_for_client = ca.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("openssl")
            .args(["s_client", "-connect"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-CAfile")
            .arg(&ca_for_client)
            .args(["-verify_return_error", "-verify_ip", "127.0.0.1", "-brief"])
            .stdin(Stdio::null())
            .output()
            .expect("run openssl s_client")
    })
    .await
    .expect("s_client task");
    let verify = openssl([
        "verify".as_ref(),
        "-purpose".as_ref(),
        "sslserver".as_ref(),
        "-CAfile".as_ref(),
        ca.as_os_str(),
        server.https_certificate().as_os_str(),
    ]);

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("Verification: OK"), "{stderr}");
    assert!(verify.success, "{}", verify.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intermediate_ca_chain_sent() {
    let server = Server::start_intermediate();
    let (dir, client) = client(server.port());
    let root = server.dir.path().join("root/ROOT.cer");
    let expected = openssl_sha256(&server.ca_certificate());

    let ca = client
        .fetch_ca_certificate_checked(CaCheck::Expected(&expected))
        .await
        .expect("fetch the intermediate CA certificate");
    let port = server.port();
    let root_for_client = root.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("openssl")
            .args(["s_client", "-connect"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-CAfile")
            .arg(&root_for_client)
            .args(["-verify_return_error", "-verify_ip", "127.0.0.1", "-brief"])
            .stdin(Stdio::null())
            .output()
            .expect("run openssl s_client")
    })
    .await
    .expect("s_client task");

    assert_eq!(ca.fingerprints.sha256, expected);
    assert_eq!(
        ca.chain_path,
        Some(client_file(dir.path(), "FLCA-chain.pem"))
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("Verification: OK"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_certificate_went_through_intake() {
    let server = Server::start(false);

    let ca_server = CaServer::open(server.dir.path()).expect("open");
    let issued = ca_server.issued().expect("issued");

    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].usage, Usage::TlsServer);
    let request = ca_server.request(&issued[0].request_id).expect("request");
    assert_eq!(request.source, "local");
    let index = fs::read_to_string(server.dir.path().join("ca/index.txt")).expect("index");
    assert_eq!(index.lines().count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reissue_keeps_old_certificate() {
    let server = Server::start(false);
    let first = fs::read_to_string(server.https_certificate()).expect("first certificate");

    let ca_server = CaServer::open(server.dir.path()).expect("open");
    let key_store = FileKeyStore::new(server.dir.path());
    let request = HttpsCertificateRequest {
        names: vec!["127.0.0.1".to_owned()],
        ..HttpsCertificateRequest::default()
    };
    let again = ca_server
        .issue_https_certificate(
            &request,
            &key_store,
            None,
            &key_store,
            Some(&SecretString::from(TLS_KEY_PASSWORD)),
        )
        .expect("issue again");

    let replaced = again.replaced.expect("the old certificate is kept");
    assert_eq!(fs::read_to_string(&replaced).expect("kept"), first);
    assert_ne!(
        fs::read_to_string(&again.certificate_path).expect("new"),
        first
    );
    assert_openssl_verifies(&server.ca_certificate(), &again.certificate_path);
    let https_dir = server.dir.path().join("ca/https");
    let kept_keys = fs::read_dir(&https_dir)
        .expect("list the HTTPS directory")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.starts_with("FLCA-https.key.replaced-"))
        .count();
    assert_eq!(kept_keys, 1);
    let replaced_key = again.replaced_key.expect("the old key is reported");
    assert!(replaced_key.exists(), "{}", replaced_key.display());
    assert!(!https_dir.join("FLCA-https.key.new").exists());
    let signer = key_store
        .unlock(&again.key, Some(&SecretString::from(TLS_KEY_PASSWORD)))
        .expect("unlock the new key");
    let ca_server = CaServer::open(server.dir.path()).expect("open");
    assert!(HttpsConfig::from_settings(&ca_server, &again.settings, signer).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_reissue_keeps_old_files() {
    let server = Server::start(false);
    let first = fs::read_to_string(server.https_certificate()).expect("first certificate");
    let https_dir = server.dir.path().join("ca/https");
    let first_key = fs::read(https_dir.join("FLCA-https.key")).expect("first key");

    // A full queue of pending requests makes the submission fail after the
    // new key pair is made.
    let mut settings = Settings::load(server.dir.path()).expect("settings");
    settings
        .server
        .as_mut()
        .expect("server")
        .max_pending_requests = 0;
    settings.save(server.dir.path()).expect("save settings");

    let ca_server = CaServer::open(server.dir.path()).expect("open");
    let key_store = FileKeyStore::new(server.dir.path());
    let request = HttpsCertificateRequest {
        names: vec!["127.0.0.1".to_owned()],
        ..HttpsCertificateRequest::default()
    };
    let error = ca_server
        .issue_https_certificate(
            &request,
            &key_store,
            None,
            &key_store,
            Some(&SecretString::from(TLS_KEY_PASSWORD)),
        )
        .expect_err("a full queue");

    assert_eq!(error.code(), "queue_full", "{error}");
    assert_eq!(
        fs::read_to_string(server.https_certificate()).expect("certificate"),
        first
    );
    assert_eq!(
        fs::read(https_dir.join("FLCA-https.key")).expect("key"),
        first_key
    );
    assert!(!https_dir.join("FLCA-https.key.new").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_https_port_fails() {
    let server = Server::start(false);
    let plain =
        CaClient::new("127.0.0.1", server.port(), ClientOptions::default()).expect("client");

    let error = plain
        .health()
        .await
        .expect_err("plain HTTP to the HTTPS port");

    let trust = TrustAnchors::from_pem_file(&server.ca_certificate()).expect("trust");
    let tls = certa_core::tls::client_config(None, &trust).expect("TLS config");
    let https = CaClient::new_https("127.0.0.1", server.port(), ClientOptions::default(), tls)
        .expect("HTTPS client");
    assert_eq!(error.code(), "server");
    assert!(
        error
            .to_string()
            .contains("configure this client for HTTPS"),
        "{error}"
    );
    https.health().await.expect("the server still serves HTTPS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_of_plain_server_fails() {
    let server = Server::start(false);
    let ca_server = CaServer::open(server.dir.path()).expect("open");
    let listen: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let plain = http::start(
        &tokio::runtime::Handle::current(),
        Arc::new(ca_server),
        listen,
    )
    .expect("start plain HTTP");
    let (dir, client) = client(plain.address().port());
    let expected = openssl_sha256(&server.ca_certificate());

    let error = client
        .fetch_ca_certificate_checked(CaCheck::Expected(&expected))
        .await
        .expect_err("no TLS on a plain HTTP port");

    assert_eq!(error.code(), "tls");
    assert!(error.to_string().contains("does not speak TLS"), "{error}");
    assert!(!client_file(dir.path(), "FLCA.cer").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_checks_server_name() {
    let mut server = Server::start(false);
    server.handle.stop().await;
    issue_https_certificate(server.dir.path(), &["ca.example.org"], false);
    let handle = serve(server.dir.path());
    let (dir, client) = client(handle.address().port());
    let confirmed = Mutex::new(false);
    let confirm = |_: &OfferedCaCertificate| {
        *confirmed.lock().expect("lock") = true;
        true
    };

    let error = client
        .fetch_ca_certificate_checked(CaCheck::Confirm(&confirm))
        .await
        .expect_err("a certificate for another name");

    assert_eq!(error.code(), "tls_name_mismatch", "{error}");
    assert!(
        error
            .to_string()
            .contains("valid for DNS:ca.example.org, not for the expected 127.0.0.1"),
        "{error}"
    );
    assert!(!*confirmed.lock().expect("lock"), "the operator was asked");
    assert!(!client_file(dir.path(), "FLCA.cer").exists());
}

#[test]
fn new_ca_drops_https_settings() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let key_store = FileKeyStore::new(dir.path());
    let password = SecretString::from("CA password for the test");
    let mut setup = certa_core::ca::setup::SelfSignedSetup::new(
        "FLCA",
        "ca",
        SubjectName::common_name("First Look CA"),
    );
    certa_core::ca::setup::set_up_self_signed(dir.path(), &setup, &key_store, Some(&password))
        .expect("set up the CA");
    let server = CaServer::open(dir.path()).expect("open the CA server");
    let request = HttpsCertificateRequest {
        names: vec!["127.0.0.1".to_owned()],
        ..HttpsCertificateRequest::default()
    };
    server
        .issue_https_certificate(&request, &key_store, Some(&password), &key_store, None)
        .expect("issue the HTTPS certificate");
    let before = HttpsSettings::load(dir.path()).expect("read the HTTPS settings");

    setup.replace = true;
    certa_core::ca::setup::set_up_self_signed(dir.path(), &setup, &key_store, Some(&password))
        .expect("replace the CA");
    let after = HttpsSettings::load(dir.path()).expect("read the HTTPS settings");

    assert!(before.is_some(), "HTTPS settings after issuing");
    assert_eq!(after, None, "HTTPS settings after replacing the CA");
}
