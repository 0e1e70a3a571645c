//! A CA server that serves its API over HTTPS with its TLS key on a SoftHSM
//! token. The CA key is in a file, and the TLS key is made on the token and
//! never leaves it. rustls signs each handshake through certa's signer for
//! the PKCS#11 key store. A client instance and `openssl s_client` connect
//! to the server on 127.0.0.1.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use certa_backends::file::FileKeyStore;
use certa_core::ca::https::{HttpsCertificate, HttpsCertificateRequest};
use certa_core::ca::profile::Usage;
use certa_core::ca::server::CaServer;
use certa_core::ca::setup::{set_up_self_signed, SelfSignedSetup};
use certa_core::client::{CaCheck, ClientInstance, KeyChoice, NewRequest};
use certa_core::http::{self, HttpsConfig, ServerHandle};
use certa_core::key::{KeyAlgorithm, KeyStore, KeyUri, PinSource, Pkcs11Uri, SecretString};
use certa_core::name::SubjectName;
use certa_core::settings::{Contact, HttpsSettings};
use certa_softhsm_tests::{SoftHsmToken, ToolOutput, USER_PIN};
use certa_test_support::{assert_openssl_verifies, openssl_ok};

mod common;

const CA_PASSWORD: &str = "ca key password 2718";
const CLIENT_PASSWORD: &str = "client key password 3141";
/// The label of the HTTPS server's key on the token.
const TLS_KEY_LABEL: &str = "https";
/// How long `openssl s_client` may take to connect, finish the handshake and exit.
const S_CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// A CA server instance with a file CA key, serving HTTPS on 127.0.0.1 with
/// its TLS key on a token.
struct TokenHttpsServer {
    instance: PathBuf,
    https: HttpsCertificate,
    handle: ServerHandle,
}

impl TokenHttpsServer {
    fn port(&self) -> u16 {
        self.handle.address().port()
    }

    fn ca_certificate(&self) -> PathBuf {
        CaServer::open(&self.instance)
            .expect("open the CA server")
            .paths()
            .certificate()
    }

    /// Issues a pending request as the operator does, with the CA key from its encrypted file.
    fn issue(&self, id: &str) -> certa_core::ca::server::IssuedCertificate {
        let server = CaServer::open(&self.instance).expect("open the CA server");
        let key_store = FileKeyStore::new(&self.instance);
        server
            .issue_with_key_store(
                id,
                Usage::Tls,
                None,
                &key_store,
                Some(&SecretString::from(CA_PASSWORD)),
            )
            .expect("issue the client's certificate")
    }
}

/// Sets up a self-signed CA `FLCA` in `instance` with an ECDSA P-256 key in
/// an encrypted file.
fn set_up_file_ca(instance: &Path) -> CaServer {
    std::fs::create_dir_all(instance).expect("create the CA instance directory");
    let setup = SelfSignedSetup::new("FLCA", "flca", SubjectName::common_name("HTTPS Test CA"));
    let store = FileKeyStore::new(instance);
    let password = SecretString::from(CA_PASSWORD);
    set_up_self_signed(instance, &setup, &store, Some(&password)).expect("set up the CA");
    CaServer::open(instance).expect("open the CA server")
}

/// Issues the server's HTTPS certificate for 127.0.0.1 and localhost, with
/// a new key of `algorithm` at `key` made through `tls_key_store`.
fn issue_token_https_certificate(
    server: &CaServer,
    algorithm: KeyAlgorithm,
    key: KeyUri,
    tls_key_store: &dyn KeyStore,
) -> HttpsCertificate {
    let file_store = FileKeyStore::new(server.instance_dir());
    let request = HttpsCertificateRequest {
        names: vec!["127.0.0.1".to_owned(), "localhost".to_owned()],
        algorithm,
        key: Some(key),
        ..HttpsCertificateRequest::default()
    };
    server
        .issue_https_certificate(
            &request,
            &file_store,
            Some(&SecretString::from(CA_PASSWORD)),
            tls_key_store,
            None,
        )
        .expect("issue the HTTPS certificate with a key on the token")
}

/// Serves `instance` over HTTPS on a free port of 127.0.0.1. Like the
/// shell's `serve`, it reads the HTTPS settings, opens the key store that the
/// recorded key URI names and unlocks the TLS key with `pin`.
fn serve(instance: &Path, pin: Option<&SecretString>) -> ServerHandle {
    let server = CaServer::open(instance).expect("open the CA server");
    let settings = HttpsSettings::load(instance)
        .expect("read the HTTPS settings")
        .expect("the instance has HTTPS settings");
    let key: KeyUri = settings.key.parse().expect("parse the TLS key URI");
    let store = certa_backends::open_key_store(&key, instance).expect("open the TLS key store");
    let signer = store.unlock(&key, pin).expect("unlock the TLS key");
    let config = HttpsConfig::from_settings(&server, &settings, signer)
        .expect("make the HTTPS configuration");
    let listen: SocketAddr = "127.0.0.1:0".parse().expect("parse the address");
    http::start_https(
        &tokio::runtime::Handle::current(),
        Arc::new(server),
        listen,
        config,
    )
    .expect("start the HTTPS server")
}

/// Makes a client instance in `instance`, configured for HTTPS to `port` on 127.0.0.1.
fn https_client(instance: &Path, port: u16) -> ClientInstance {
    std::fs::create_dir_all(instance).expect("create the client instance directory");
    let client = ClientInstance::new(instance);
    let contact = Contact {
        name: "Ada Operator".to_owned(),
        phone: None,
        email: Some("ada@example.org".to_owned()),
    };
    client
        .configure_with("127.0.0.1", port, contact, true)
        .expect("configure the client for HTTPS");
    client
}

fn client_request() -> NewRequest {
    NewRequest {
        root: "FLCAclient".to_owned(),
        subject: SubjectName::common_name("client.example.org"),
        subject_alt_names: vec!["DNS:client.example.org".to_owned()],
        algorithm: KeyAlgorithm::EcdsaP256,
        key: KeyChoice::Create,
        key_location: None,
    }
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
        .expect("a fingerprint in OpenSSL's output")
        .to_owned()
}

/// Checks with OpenSSL that the certificate at `certificate` certifies the
/// public key of the token key at `key`.
fn assert_certificate_for_token_key(
    token: &SoftHsmToken,
    store: &dyn KeyStore,
    key: &KeyUri,
    certificate: &Path,
) {
    let token_public_key = store
        .public_key(key, None)
        .expect("read the public key of the TLS key on the token");
    let token_pem = common::public_key_pem(&token.directory(), "tls-key", &token_public_key);
    let certificate_public_key = openssl_ok([
        "x509".as_ref(),
        "-noout".as_ref(),
        "-pubkey".as_ref(),
        "-in".as_ref(),
        certificate.as_os_str(),
    ]);
    let token_text = std::fs::read_to_string(&token_pem).expect("read the token's public key");
    assert_eq!(
        certificate_public_key.trim(),
        token_text.trim(),
        "the HTTPS certificate is not for the key on the token"
    );
}

/// A child process that is killed when dropped, so that a test that fails
/// while it runs leaves no process behind.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // Errors are ignored because the process may have exited already.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `openssl s_client -brief` against `port` on 127.0.0.1, trusting only
/// `ca`, with its standard input closed, so that it exits after the
/// handshake. The output goes to files in `directory`, because a full pipe
/// could stall the process. Panics when it runs longer than [`S_CLIENT_TIMEOUT`].
fn run_s_client(directory: &Path, port: u16, ca: &Path) -> ToolOutput {
    let stdout_path = directory.join(format!("s_client-{port}.out"));
    let stderr_path = directory.join(format!("s_client-{port}.err"));
    let stdout = File::create(&stdout_path).expect("create the s_client output file");
    let stderr = File::create(&stderr_path).expect("create the s_client error file");
    let child = Command::new("openssl")
        .args(["s_client", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-CAfile")
        .arg(ca)
        .args(["-verify_return_error", "-verify_ip", "127.0.0.1", "-brief"])
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("start openssl s_client; ./test.sh installs OpenSSL");
    let mut child = KillOnDrop(child);

    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("wait for openssl s_client") {
            break status;
        }
        assert!(
            started.elapsed() < S_CLIENT_TIMEOUT,
            "openssl s_client to 127.0.0.1:{port} timed out after {} s",
            S_CLIENT_TIMEOUT.as_secs()
        );
        std::thread::sleep(Duration::from_millis(50));
    };

    ToolOutput {
        success: status.success(),
        stdout: std::fs::read_to_string(&stdout_path).expect("read the s_client output"),
        stderr: std::fs::read_to_string(&stderr_path).expect("read the s_client errors"),
    }
}

/// Runs [`run_s_client`] on a blocking thread, so that the test's runtime
/// keeps serving while OpenSSL waits for the handshake.
async fn s_client(directory: &Path, port: u16, ca: &Path) -> ToolOutput {
    let directory = directory.to_path_buf();
    let ca = ca.to_path_buf();
    tokio::task::spawn_blocking(move || run_s_client(&directory, port, &ca))
        .await
        .expect("join the s_client task")
}

/// Splits pkcs11-tool's `--list-objects` output into one block per object,
/// each starting with its header line ("Private Key Object; EC").
fn object_blocks(listing: &str) -> Vec<String> {
    let mut blocks: Vec<String> = Vec::new();
    for line in listing.lines() {
        if !line.starts_with(' ') {
            blocks.push(String::new());
        }
        if let Some(block) = blocks.last_mut() {
            block.push_str(line);
            block.push('\n');
        }
    }
    blocks
}

/// Returns the `Access:` flags that pkcs11-tool lists for the private key labelled `label`.
fn private_key_access(token: &SoftHsmToken, label: &str) -> Vec<String> {
    let listing = token.pkcs11_tool(["--login", "--pin", USER_PIN, "--list-objects"]);
    assert!(listing.success, "pkcs11-tool failed: {}", listing.stderr);

    let label_line = format!("label:      {label}");
    let block = object_blocks(&listing.stdout)
        .into_iter()
        .find(|block| {
            block.starts_with("Private Key Object")
                && block.lines().any(|line| line.trim() == label_line)
        })
        .unwrap_or_else(|| panic!("no private key {label} in:\n{}", listing.stdout));
    let access = block
        .lines()
        .find_map(|line| line.trim().strip_prefix("Access:"))
        .unwrap_or_else(|| panic!("no Access line in:\n{block}"));
    access
        .split(',')
        .map(|flag| flag.trim().to_owned())
        .collect()
}

/// Lists every file below `directory`.
fn files_below(directory: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![directory.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).expect("read a directory") {
            let path = entry.expect("read a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// Returns the files below `instance`, other than `ca_key`, that have the
/// extension `key` or contain a PEM private key.
fn private_key_files_besides(instance: &Path, ca_key: &Path) -> Vec<PathBuf> {
    files_below(instance)
        .into_iter()
        .filter(|file| file != ca_key)
        .filter(|file| {
            let key_extension =
                file.extension().and_then(|extension| extension.to_str()) == Some("key");
            let contents = std::fs::read(file).expect("read a file of the instance");
            let pem_private_key = String::from_utf8_lossy(&contents).contains("PRIVATE KEY");
            key_extension || pem_private_key
        })
        .collect()
}

/// Returns the files below `instance` that contain the token's user PIN.
fn files_with_pin(instance: &Path) -> Vec<PathBuf> {
    files_below(instance)
        .into_iter()
        .filter(|file| {
            let contents = std::fs::read(file).expect("read a file of the instance");
            String::from_utf8_lossy(&contents).contains(USER_PIN)
        })
        .collect()
}

/// Returns the value after `field` ("Protocol version:") in `s_client -brief` output.
fn brief_field<'a>(output: &'a str, field: &str) -> Option<&'a str> {
    output
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .map(str::trim)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_key_on_token_serves_workflow() {
    let token = SoftHsmToken::new("https-p256");
    let instance = token.directory().join("server");
    let server = set_up_file_ca(&instance);
    let token_store = token.key_store();
    // The request names the key with the PIN as pin-value, which the HTTPS
    // settings must not record.
    let requested_key = KeyUri::Pkcs11(token.uri_with_pin(TLS_KEY_LABEL));
    let https = issue_token_https_certificate(
        &server,
        KeyAlgorithm::EcdsaP256,
        requested_key,
        &token_store,
    );
    let handle = serve(&instance, Some(&token.user_pin()));
    let mut https_server = TokenHttpsServer {
        instance: instance.clone(),
        https,
        handle,
    };
    let ca_certificate = https_server.ca_certificate();
    let expected = openssl_sha256(&ca_certificate);

    let client_instance = token.directory().join("client");
    let client = https_client(&client_instance, https_server.port());
    let client_store = FileKeyStore::new(&client_instance);
    let password = SecretString::from(CLIENT_PASSWORD);
    let ca = client
        .fetch_ca_certificate_checked(CaCheck::Expected(&expected))
        .await
        .expect("fetch the CA certificate over HTTPS");
    let submitted = client
        .submit(&client_store, &client_request(), Some(&password))
        .await
        .expect("submit the CSR over HTTPS");
    let issued = https_server.issue(&submitted.id);
    let fetched = client
        .fetch_certificate(&client_store, "FLCAclient", Some(&password))
        .await
        .expect("fetch the certificate over HTTPS");
    let handshake = s_client(&token.directory(), https_server.port(), &ca_certificate).await;
    https_server.handle.stop().await;

    assert_eq!(ca.fingerprints.sha256, expected);
    assert_eq!(
        std::fs::read(&ca.path).expect("read the client's CA certificate"),
        std::fs::read(&ca_certificate).expect("read the server's CA certificate")
    );
    assert_eq!(fetched.number, issued.number);
    assert_openssl_verifies(&ca.path, &fetched.path);

    assert!(
        handshake.success,
        "openssl s_client failed:\n{}\n{}",
        handshake.stdout, handshake.stderr
    );
    assert!(
        handshake.stderr.contains("Verification: OK"),
        "{}",
        handshake.stderr
    );
    assert_eq!(
        brief_field(&handshake.stderr, "Signature type:"),
        Some("ECDSA"),
        "{}",
        handshake.stderr
    );

    let settings = HttpsSettings::load(&instance)
        .expect("read the HTTPS settings")
        .expect("the instance has HTTPS settings");
    let recorded: KeyUri = settings.key.parse().expect("parse the recorded key URI");
    assert_eq!(recorded, token.key_uri(TLS_KEY_LABEL));
    assert!(
        !settings.key.contains("pin-value"),
        "the HTTPS settings record a pin-value: {}",
        settings.key
    );
    assert!(
        !settings.key.contains(USER_PIN),
        "the HTTPS settings record the PIN: {}",
        settings.key
    );
    assert_eq!(files_with_pin(&instance), Vec::<PathBuf>::new());

    let default_key_file = server
        .default_https_key()
        .file_path(&instance)
        .expect("the default HTTPS key is a file");
    assert!(
        !default_key_file.exists(),
        "an HTTPS key file exists: {}",
        default_key_file.display()
    );
    assert_eq!(
        private_key_files_besides(&instance, &server.paths().key()),
        Vec::<PathBuf>::new()
    );
    assert_certificate_for_token_key(
        &token,
        &token_store,
        &token.key_uri(TLS_KEY_LABEL),
        &https_server.https.certificate_path,
    );

    let access = private_key_access(&token, TLS_KEY_LABEL);
    assert!(access.iter().any(|flag| flag == "sensitive"), "{access:?}");
    assert!(
        access.iter().any(|flag| flag == "never extractable"),
        "{access:?}"
    );
    assert!(
        !access.iter().any(|flag| flag == "extractable"),
        "{access:?}"
    );

    // HttpsCertificate::key is documented as "without any PIN value".
    let KeyUri::Pkcs11(returned) = &https_server.https.key else {
        panic!(
            "the returned TLS key is not on the token: {}",
            https_server.https.key
        );
    };
    assert!(
        returned.pin.is_none(),
        "the returned TLS key URI keeps the request's pin-value: {returned:?}"
    );
    assert_eq!(https_server.https.key, token.key_uri(TLS_KEY_LABEL));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_key_on_token_rsa() {
    let token = SoftHsmToken::new("https-rsa2048");
    let instance = token.directory().join("server");
    let server = set_up_file_ca(&instance);
    // The PIN is in a file outside the instance, named by pin-source, so
    // that serving unlocks the key without a PIN argument.
    let pin_file = token.directory().join("tls-pin.txt");
    std::fs::write(&pin_file, format!("{USER_PIN}\n")).expect("write the PIN file");
    let key = KeyUri::Pkcs11(Pkcs11Uri {
        pin: Some(PinSource::File(pin_file.clone())),
        ..token.uri(TLS_KEY_LABEL)
    });
    let tls_key_store =
        certa_backends::open_key_store(&key, &instance).expect("open the token's key store");
    let https = issue_token_https_certificate(
        &server,
        KeyAlgorithm::Rsa2048,
        key.clone(),
        tls_key_store.as_ref(),
    );
    let handle = serve(&instance, None);
    let mut https_server = TokenHttpsServer {
        instance: instance.clone(),
        https,
        handle,
    };
    let ca_certificate = https_server.ca_certificate();
    let expected = openssl_sha256(&ca_certificate);

    let client = https_client(&token.directory().join("client"), https_server.port());
    let ca = client
        .fetch_ca_certificate_checked(CaCheck::Expected(&expected))
        .await
        .expect("fetch the CA certificate over HTTPS");
    let handshake = s_client(&token.directory(), https_server.port(), &ca_certificate).await;
    https_server.handle.stop().await;

    assert_eq!(ca.fingerprints.sha256, expected);
    assert_eq!(https_server.https.key, key);
    assert!(
        handshake.success,
        "openssl s_client failed:\n{}\n{}",
        handshake.stdout, handshake.stderr
    );
    assert!(
        handshake.stderr.contains("Verification: OK"),
        "{}",
        handshake.stderr
    );
    // TLS 1.3 signs handshakes of RSA keys with RSASSA-PSS only, so the
    // handshake completes only when the token signed PSS.
    assert_eq!(
        brief_field(&handshake.stderr, "Protocol version:"),
        Some("TLSv1.3"),
        "{}",
        handshake.stderr
    );
    assert_eq!(
        brief_field(&handshake.stderr, "Signature type:"),
        Some("RSA-PSS"),
        "{}",
        handshake.stderr
    );
    assert_certificate_for_token_key(
        &token,
        tls_key_store.as_ref(),
        &key,
        &https_server.https.certificate_path,
    );
    let access = private_key_access(&token, TLS_KEY_LABEL);
    assert!(access.iter().any(|flag| flag == "sensitive"), "{access:?}");
    assert!(
        !access.iter().any(|flag| flag == "extractable"),
        "{access:?}"
    );
}
