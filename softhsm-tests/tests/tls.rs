//! Mutual TLS between two CA client instances with certificates from one CA.
//! Alice's private key is made on a SoftHSM token and bob's is in a file, so
//! rustls signs alice's side of each handshake through the PKCS#11 key
//! store, once as TLS server and once as TLS client. The token keeps the key
//! sensitive and not extractable, and alice's instance has no key file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use certa_backends::file::FileKeyStore;
use certa_core::ca::profile::Usage;
use certa_core::ca::server::CaServer;
use certa_core::ca::setup::{set_up_self_signed, SelfSignedSetup};
use certa_core::client::{ClientInstance, KeyChoice, NewRequest};
use certa_core::fingerprint::Fingerprints;
use certa_core::http::{self, ServerHandle};
use certa_core::key::{KeyAlgorithm, KeyDelete, KeyStore, KeyUri, SecretString};
use certa_core::name::SubjectName;
use certa_core::settings::Contact;
use certa_core::tls::{
    self, ClientAuth, PeerIdentity, TlsFailure, TlsIdentity, TlsListener, TrustAnchors,
};
use certa_core::Error;
use certa_softhsm_tests::{SoftHsmToken, USER_PIN};
use certa_test_support::assert_openssl_verifies;

const CA_PASSWORD: &str = "ca key password 4711";
const BOB_PASSWORD: &str = "bob key password 0815";
const ALICE_NAME: &str = "alice.example";
const BOB_NAME: &str = "bob.example";
/// A name neither client's certificate carries.
const OTHER_NAME: &str = "carol.example";
const RECEIVE_TIMEOUT: Duration = Duration::from_secs(5);

/// One side of a conversation: a client instance's DNS name, its TLS
/// identity and the CA certificate it trusts.
struct Peer {
    name: &'static str,
    identity: TlsIdentity,
    trust: TrustAnchors,
}

/// A CA serving its HTTP API on 127.0.0.1, and the two client instances it
/// issued `tls` certificates to.
struct Exchange {
    http: ServerHandle,
    alice_instance: PathBuf,
    alice_client: ClientInstance,
    alice: Peer,
    bob: Peer,
}

fn localhost() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn contact(name: &str) -> Contact {
    Contact {
        name: name.to_owned(),
        phone: None,
        email: Some("pki@example.com".to_owned()),
    }
}

fn new_request(name: &str, algorithm: KeyAlgorithm, key_location: Option<KeyUri>) -> NewRequest {
    let root = name.split('.').next().unwrap_or(name).to_owned();
    NewRequest {
        root,
        subject: SubjectName {
            organization: Some("certa tests".to_owned()),
            ..SubjectName::common_name(name)
        },
        subject_alt_names: vec![format!("DNS:{name}")],
        algorithm,
        key: KeyChoice::Create,
        key_location,
    }
}

/// Sets up a CA with a file key in `instance` and serves it on 127.0.0.1.
fn start_ca(instance: &Path) -> (Arc<CaServer>, ServerHandle) {
    std::fs::create_dir_all(instance).expect("create the CA instance directory");
    let setup = SelfSignedSetup::new("FLCA", "flca", SubjectName::common_name("TLS Test CA"));
    let store = FileKeyStore::new(instance);
    let password = SecretString::from(CA_PASSWORD);
    set_up_self_signed(instance, &setup, &store, Some(&password)).expect("set up the CA");

    let server = Arc::new(CaServer::open(instance).expect("open the CA server"));
    let handle = http::start(
        &tokio::runtime::Handle::current(),
        Arc::clone(&server),
        localhost(),
    )
    .expect("start the HTTP server");
    (server, handle)
}

/// Makes a client instance in `instance`, configured for the CA on `port`.
fn new_client(instance: &Path, port: u16, contact_name: &str) -> ClientInstance {
    std::fs::create_dir_all(instance).expect("create the client instance directory");
    let client = ClientInstance::new(instance);
    client
        .configure("127.0.0.1", port, contact(contact_name))
        .expect("configure the client");
    client
}

/// Submits `request` from `client`, has the CA issue it with usage `tls`,
/// fetches the CA certificate and the client's certificate, checks the
/// certificate with OpenSSL, and returns the client's TLS identity and trust.
async fn enroll(
    server: &CaServer,
    client: &ClientInstance,
    key_store: &dyn KeyStore,
    request: &NewRequest,
    secret: &SecretString,
) -> (TlsIdentity, TrustAnchors) {
    let submitted = client
        .submit(key_store, request, Some(secret))
        .await
        .unwrap_or_else(|error| panic!("submit the CSR of {}: {error}", request.root));

    let ca_store = FileKeyStore::new(server.instance_dir());
    let ca_password = SecretString::from(CA_PASSWORD);
    server
        .issue_with_key_store(
            &submitted.id,
            Usage::Tls,
            None,
            &ca_store,
            Some(&ca_password),
        )
        .unwrap_or_else(|error| panic!("issue the certificate of {}: {error}", request.root));

    let ca = client
        .fetch_ca_certificate()
        .await
        .expect("fetch the CA certificate");
    let fetched = client
        .fetch_certificate(key_store, &request.root, Some(secret))
        .await
        .unwrap_or_else(|error| panic!("fetch the certificate of {}: {error}", request.root));
    assert_openssl_verifies(&ca.path, &fetched.path);

    let identity = client
        .tls_identity(key_store, &request.root, Some(secret))
        .unwrap_or_else(|error| panic!("load the TLS identity of {}: {error}", request.root));
    let trust = client
        .trust_anchors()
        .unwrap_or_else(|error| panic!("load the trust anchors of {}: {error}", request.root));
    (identity, trust)
}

/// Enrolls both clients with a new CA. Alice's key, of `alice_algorithm`, is
/// made on `token`, and bob's is an ECDSA P-256 key in a file.
async fn set_up(token: &SoftHsmToken, alice_algorithm: KeyAlgorithm) -> Exchange {
    let (server, http) = start_ca(&token.directory().join("ca"));
    let port = http.address().port();

    let alice_instance = token.directory().join("alice");
    let alice_client = new_client(&alice_instance, port, "Alice Admin");
    let token_store = token.key_store();
    let alice_request = new_request(ALICE_NAME, alice_algorithm, Some(token.key_uri("alice")));
    let (alice_identity, alice_trust) = enroll(
        &server,
        &alice_client,
        &token_store,
        &alice_request,
        &token.user_pin(),
    )
    .await;

    let bob_instance = token.directory().join("bob");
    let bob_client = new_client(&bob_instance, port, "Bob Admin");
    let bob_store = FileKeyStore::new(&bob_instance);
    let bob_request = new_request(BOB_NAME, KeyAlgorithm::EcdsaP256, None);
    let (bob_identity, bob_trust) = enroll(
        &server,
        &bob_client,
        &bob_store,
        &bob_request,
        &SecretString::from(BOB_PASSWORD),
    )
    .await;

    Exchange {
        http,
        alice_instance,
        alice_client,
        alice: Peer {
            name: ALICE_NAME,
            identity: alice_identity,
            trust: alice_trust,
        },
        bob: Peer {
            name: BOB_NAME,
            identity: bob_identity,
            trust: bob_trust,
        },
    }
}

/// Checks that `peer` is the verified identity of `expected`.
fn assert_peer_is(peer: &PeerIdentity, expected: &Peer) {
    let certificate = Fingerprints::of(expected.identity.certificate_der());
    assert_eq!(
        peer.fingerprints, certificate,
        "the peer's certificate is not {}'s",
        expected.name
    );
    assert_eq!(
        peer.subject,
        expected.identity.subject(),
        "peer subject of {}",
        expected.name
    );
    assert!(
        peer.subject.contains(&format!("CN={}", expected.name)),
        "peer subject {:?} has no CN={}",
        peer.subject,
        expected.name
    );
    assert!(
        peer.subject_alt_names
            .contains(&format!("DNS:{}", expected.name)),
        "peer subjectAltName {:?} has no DNS:{}",
        peer.subject_alt_names,
        expected.name
    );
}

/// Lets `listener` accept one connection from `connector` and require its
/// name. Each side checks the other's identity, one message goes each way,
/// and the connector closes the connection.
async fn converse(listener: &Peer, connector: &Peer) {
    let client_auth = ClientAuth {
        required: true,
        expected_names: vec![connector.name.to_owned()],
    };
    let server_config = tls::server_config(&listener.identity, &listener.trust, &client_auth)
        .expect("make the server configuration");
    let client_config = tls::client_config(Some(&connector.identity), &connector.trust)
        .expect("make the client configuration");
    let bound = TlsListener::bind(localhost(), server_config)
        .await
        .expect("bind the TLS listener");
    let address = bound.local_addr().to_string();

    let (accepted, connected) = tokio::join!(
        bound.accept(),
        tls::connect(&address, listener.name, client_config)
    );
    let mut accepted = accepted
        .unwrap_or_else(|error| panic!("{} accepts {}: {error}", listener.name, connector.name));
    let mut connected = connected.unwrap_or_else(|error| {
        panic!("{} connects to {}: {error}", connector.name, listener.name)
    });

    assert_peer_is(
        accepted.peer().expect("the connector's certificate"),
        connector,
    );
    assert_peer_is(
        connected.peer().expect("the listener's certificate"),
        listener,
    );
    // TLS 1.3 signs handshakes of RSA keys with RSASSA-PSS only, so an RSA
    // key on the token passes here only when the token signed PSS.
    assert!(
        accepted.protocol().starts_with("TLSv1.3"),
        "listener protocol {}",
        accepted.protocol()
    );
    assert!(
        connected.protocol().starts_with("TLSv1.3"),
        "connector protocol {}",
        connected.protocol()
    );

    let request = format!("hello {}, this is {}", listener.name, connector.name);
    connected.send(&request).await.expect("send the request");
    let received = accepted
        .receive(RECEIVE_TIMEOUT)
        .await
        .expect("receive the request");
    assert_eq!(received.as_deref(), Some(request.as_str()));

    let reply = format!("hello {}, {} here", connector.name, listener.name);
    accepted.send(&reply).await.expect("send the reply");
    let received = connected
        .receive(RECEIVE_TIMEOUT)
        .await
        .expect("receive the reply");
    assert_eq!(received.as_deref(), Some(reply.as_str()));

    connected.close().await.expect("close the connection");
    let end = accepted
        .receive(RECEIVE_TIMEOUT)
        .await
        .expect("read the end of the connection");
    assert_eq!(end, None, "the listener read past close_notify");
}

/// Checks that `listener`, which expects [`OTHER_NAME`], rejects
/// `connector`, whose certificate does not carry it. The listener reports a
/// name mismatch. The connector gets the rejection at connect or at its
/// first read, because TLS 1.3 finishes the client's handshake before the
/// server checks the client's certificate.
async fn assert_other_name_rejected(listener: &Peer, connector: &Peer) {
    let client_auth = ClientAuth {
        required: true,
        expected_names: vec![OTHER_NAME.to_owned()],
    };
    let server_config = tls::server_config(&listener.identity, &listener.trust, &client_auth)
        .expect("make the server configuration");
    let client_config = tls::client_config(Some(&connector.identity), &connector.trust)
        .expect("make the client configuration");
    let bound = TlsListener::bind(localhost(), server_config)
        .await
        .expect("bind the TLS listener");
    let address = bound.local_addr().to_string();

    let (accepted, connected) = tokio::join!(
        bound.accept(),
        tls::connect(&address, listener.name, client_config)
    );

    let Err(listener_error) = accepted else {
        panic!(
            "{} accepted {}, whose certificate is not for {OTHER_NAME}",
            listener.name, connector.name
        );
    };
    assert!(
        matches!(
            listener_error,
            Error::Tls {
                failure: TlsFailure::NameMismatch,
                ..
            }
        ),
        "listener error: {listener_error:?}"
    );
    let message = listener_error.to_string();
    assert!(
        message.contains(OTHER_NAME),
        "the listener's message does not name the expected name: {message}"
    );
    assert!(
        message.contains(connector.name),
        "the listener's message does not name the presented name: {message}"
    );

    let connector_error = match connected {
        Err(error) => error,
        Ok(mut connection) => match connection.receive(RECEIVE_TIMEOUT).await {
            Err(error) => error,
            Ok(message) => panic!(
                "{} read {message:?} from a listener that rejected it",
                connector.name
            ),
        },
    };
    assert!(
        matches!(
            connector_error,
            Error::Tls {
                failure: TlsFailure::RejectedByPeer,
                ..
            }
        ),
        "connector error: {connector_error:?}"
    );
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

/// Checks with pkcs11-tool that the private key labelled `label` is on the
/// token, sensitive and not extractable.
fn assert_key_stays_on_token(token: &SoftHsmToken, label: &str) {
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
    let flags: Vec<&str> = access.split(',').map(str::trim).collect();
    assert!(flags.contains(&"sensitive"), "{access}");
    assert!(flags.contains(&"never extractable"), "{access}");
    assert!(!flags.contains(&"extractable"), "{access}");
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

/// Checks that no file of `instance` is a key file or contains a PEM
/// private key or the token's PIN.
fn assert_no_private_key_files(instance: &Path) {
    let files = files_below(instance);
    assert!(
        !files.is_empty(),
        "the instance {} has no files",
        instance.display()
    );
    for file in files {
        assert_ne!(
            file.extension().and_then(|extension| extension.to_str()),
            Some("key"),
            "key file {} in the instance of a token client",
            file.display()
        );
        let contents = std::fs::read(&file).expect("read a file of the instance");
        let text = String::from_utf8_lossy(&contents);
        assert!(
            !text.contains("PRIVATE KEY"),
            "{} contains a PEM private key",
            file.display()
        );
        assert!(
            !text.contains(USER_PIN),
            "{} contains the token's PIN",
            file.display()
        );
    }
}

/// Converses both ways with alice's key of `algorithm` on the token, then
/// checks where alice's key is.
async fn converse_both_ways(token: &SoftHsmToken, algorithm: KeyAlgorithm) {
    let mut exchange = set_up(token, algorithm).await;

    converse(&exchange.alice, &exchange.bob).await;
    converse(&exchange.bob, &exchange.alice).await;

    let key = exchange
        .alice_client
        .key_uri("alice")
        .expect("alice's key URI");
    assert!(
        matches!(key, KeyUri::Pkcs11(_)),
        "alice's key is not on the token: {key}"
    );
    assert_key_stays_on_token(token, "alice");
    assert_no_private_key_files(&exchange.alice_instance);
    exchange.http.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p256_token_key_converses_both_ways() {
    let token = SoftHsmToken::new("tls-p256");
    converse_both_ways(&token, KeyAlgorithm::EcdsaP256).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa2048_token_key_converses_both_ways() {
    let token = SoftHsmToken::new("tls-rsa2048");
    converse_both_ways(&token, KeyAlgorithm::Rsa2048).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_listener_rejects_other_name() {
    let token = SoftHsmToken::new("tls-refuse-listener");
    let mut exchange = set_up(&token, KeyAlgorithm::EcdsaP256).await;

    assert_other_name_rejected(&exchange.alice, &exchange.bob).await;
    exchange.http.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_connector_rejected_for_other_name() {
    let token = SoftHsmToken::new("tls-refuse-connector");
    let mut exchange = set_up(&token, KeyAlgorithm::EcdsaP256).await;

    assert_other_name_rejected(&exchange.bob, &exchange.alice).await;
    exchange.http.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_token_key_fails_handshake() {
    let token = SoftHsmToken::new("tls-deleted-key");
    let mut exchange = set_up(&token, KeyAlgorithm::EcdsaP256).await;
    token
        .key_store()
        .delete_key(&token.key_uri("alice"))
        .expect("delete alice's key from the token");

    let server_config = tls::server_config(
        &exchange.alice.identity,
        &exchange.alice.trust,
        &ClientAuth::default(),
    )
    .expect("make the server configuration");
    let client_config = tls::client_config(Some(&exchange.bob.identity), &exchange.bob.trust)
        .expect("make the client configuration");
    let bound = TlsListener::bind(localhost(), server_config)
        .await
        .expect("bind the TLS listener");
    let address = bound.local_addr().to_string();
    let (accepted, connected) = tokio::join!(
        bound.accept(),
        tls::connect(&address, ALICE_NAME, client_config)
    );

    // The listener signs its CertificateVerify with the deleted key, so
    // neither side may end up with a connection.
    let Err(listener_error) = accepted else {
        panic!("alice accepted a connection without her key on the token");
    };
    assert!(
        matches!(listener_error, Error::Tls { .. }),
        "listener error: {listener_error:?}"
    );
    let message = listener_error.to_string();
    assert!(
        message.contains("object=alice"),
        "the listener's error does not name the key: {message}"
    );
    assert!(
        !message.contains(USER_PIN),
        "the listener's error shows the PIN: {message}"
    );
    assert!(
        connected.is_err(),
        "bob connected to a listener whose key is gone"
    );
    exchange.http.stop().await;
}
