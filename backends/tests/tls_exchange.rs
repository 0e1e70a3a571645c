//! Mutual TLS between two CA client instances that hold certificates from
//! the same CA: the whole story from the CSR to the exchanged messages, and
//! each reason a handshake is rejected, seen from both sides.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod tls_support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use certa_core::ca::profile::Usage;
use certa_core::key::KeyAlgorithm;
use certa_core::tls::{
    client_config, connect, crypto_provider, server_config, ClientAuth, TlsConnection, TlsFailure,
    TlsIdentity, TlsListener, TrustAnchors,
};
use certa_core::{Error, Result};
use rustls::sign::SingleCertAndKey;
use tls_support::{pem_to_der, Ca, IssuedAt, Member, ROOT};

const CA_NAME: &str = "Mutual TLS CA";
const WAIT: Duration = Duration::from_secs(5);

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().expect("address")
}

/// Splits an [`Error::Tls`] into its failure and its message.
fn tls_failure(error: &Error) -> (TlsFailure, String) {
    match error {
        Error::Tls { failure, .. } => (failure.clone(), error.to_string()),
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

/// Listens as `listener` with `client_auth`, connects with `client` (an
/// identity or none) to `server_name`, and returns both results.
async fn handshake(
    listener: &Member,
    client_auth: &ClientAuth,
    client_identity: Option<&TlsIdentity>,
    client_trust: &TrustAnchors,
    server_name: &str,
) -> (Result<TlsConnection>, Result<TlsConnection>) {
    let client = client_config(client_identity, client_trust).expect("client config");
    handshake_with(listener, client_auth, client, server_name).await
}

/// Like [`handshake`], with a client configuration made by the caller.
async fn handshake_with(
    listener: &Member,
    client_auth: &ClientAuth,
    client: Arc<rustls::ClientConfig>,
    server_name: &str,
) -> (Result<TlsConnection>, Result<TlsConnection>) {
    let server =
        server_config(&listener.identity(), &listener.trust(), client_auth).expect("server config");
    let tls_listener = TlsListener::bind(localhost(), server).await.expect("bind");
    let address = tls_listener.local_addr().to_string();
    let accepting = tokio::spawn(async move { tls_listener.accept().await });

    let connected = connect(&address, server_name, client).await;
    let accepted = accepting.await.expect("accept task");
    (accepted, connected)
}

async fn exchange(algorithm: KeyAlgorithm) {
    let ca = Ca::start(CA_NAME);
    let a = Member::enrolled(&ca, "a.example.org", algorithm, None).await;
    let b = Member::enrolled(&ca, "b.example.org", algorithm, None).await;
    let expect_b = ClientAuth {
        expected_names: vec!["b.example.org".to_owned()],
        ..ClientAuth::default()
    };

    let (accepted, connected) = handshake(
        &a,
        &expect_b,
        Some(&b.identity()),
        &b.trust(),
        "a.example.org",
    )
    .await;
    let mut at_a = accepted.expect("A accepts B");
    let mut at_b = connected.expect("B connects to A");
    at_b.send("hello from B").await.expect("B sends");
    let at_a_received = at_a.receive(WAIT).await.expect("A receives");
    at_a.send("hello from A, ünïcode").await.expect("A sends");
    let at_b_received = at_b.receive(WAIT).await.expect("B receives");
    let a_seen_by_b = at_b.peer().expect("A's verified certificate").clone();
    at_b.close().await.expect("B closes");
    let after_close = at_a.receive(WAIT).await.expect("A receives the close");

    assert_eq!(at_a_received.as_deref(), Some("hello from B"));
    assert_eq!(at_b_received.as_deref(), Some("hello from A, ünïcode"));
    assert_eq!(after_close, None);
    let b_seen_by_a = at_a.peer().expect("B's verified certificate");
    assert_eq!(b_seen_by_a.subject, b.subject());
    assert_eq!(
        b_seen_by_a.subject_alt_names,
        vec!["DNS:b.example.org".to_owned()]
    );
    assert_eq!(b_seen_by_a.issuer, format!("O=Example, CN={CA_NAME}"));
    assert_eq!(a_seen_by_b.subject, a.subject());
    assert!(
        at_a.protocol().starts_with("TLSv1.3 "),
        "{}",
        at_a.protocol()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_ecdsa_p256() {
    exchange(KeyAlgorithm::EcdsaP256).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_rsa_2048() {
    exchange(KeyAlgorithm::Rsa2048).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_ca_rejected() {
    let ca = Ca::start(CA_NAME);
    let other_ca = Ca::start("Other CA");
    let a = Member::enrolled(&ca, "a.example.org", KeyAlgorithm::EcdsaP256, None).await;
    let stranger =
        Member::enrolled(&other_ca, "c.example.org", KeyAlgorithm::EcdsaP256, None).await;

    // The stranger trusts A's CA, so only A's check of the stranger fails.
    let (accepted, connected) = handshake(
        &a,
        &ClientAuth::default(),
        Some(&stranger.identity()),
        &a.trust(),
        "a.example.org",
    )
    .await;

    let (listener_failure, listener_message) = tls_failure(&accepted.unwrap_err());
    let (client_failure, client_message) = tls_failure(&connected.unwrap_err());
    assert_eq!(listener_failure, TlsFailure::UntrustedIssuer);
    assert!(
        listener_message.contains("not issued by a trusted CA"),
        "{listener_message}"
    );
    assert_eq!(client_failure, TlsFailure::RejectedByPeer);
    assert!(client_message.contains("unknown_ca"), "{client_message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_server_rejected() {
    let ca = Ca::start(CA_NAME);
    let other_ca = Ca::start("Other CA");
    let a = Member::enrolled(&ca, "a.example.org", KeyAlgorithm::EcdsaP256, None).await;
    let stranger =
        Member::enrolled(&other_ca, "c.example.org", KeyAlgorithm::EcdsaP256, None).await;

    let (accepted, connected) = handshake(
        &a,
        &ClientAuth::default(),
        Some(&stranger.identity()),
        &stranger.trust(),
        "a.example.org",
    )
    .await;

    let (client_failure, client_message) = tls_failure(&connected.unwrap_err());
    let (listener_failure, listener_message) = tls_failure(&accepted.unwrap_err());
    assert_eq!(client_failure, TlsFailure::UntrustedIssuer);
    assert!(
        client_message.contains("the server's certificate"),
        "{client_message}"
    );
    assert_eq!(listener_failure, TlsFailure::RejectedByPeer);
    assert!(
        listener_message.contains("unknown_ca"),
        "{listener_message}"
    );
}

/// A's listener and a client of A's CA whose certificate was built with
/// `issued_at` as the time of issuance and 1 day of validity.
async fn handshake_with_certificate_issued(
    issued_at: IssuedAt,
) -> (Result<TlsConnection>, Result<TlsConnection>) {
    let ca = Ca::start(CA_NAME);
    let a = Member::enrolled(&ca, "a.example.org", KeyAlgorithm::EcdsaP256, None).await;
    let (d, _pending) =
        Member::submitted(&ca, "d.example.org", KeyAlgorithm::EcdsaP256, None).await;
    let der = ca.build_certificate_at(&d.file(&format!("{ROOT}.csr")), 100, issued_at);
    let signer = certa_core::key::KeyStore::unlock(
        &d.key_store,
        &d.client.key_uri(ROOT).expect("key URI"),
        None,
    )
    .expect("unlock");
    let identity =
        TlsIdentity::new(vec![der, pem_to_der(&ca.certificate_path())], signer).expect("identity");

    handshake(
        &a,
        &ClientAuth::default(),
        Some(&identity),
        &d.trust(),
        "a.example.org",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_rejected() {
    let (accepted, connected) = handshake_with_certificate_issued(IssuedAt::DaysAgo(30)).await;

    let (listener_failure, listener_message) = tls_failure(&accepted.unwrap_err());
    let (client_failure, client_message) = tls_failure(&connected.unwrap_err());
    assert_eq!(listener_failure, TlsFailure::Expired);
    assert!(
        listener_message.contains("expired at 20"),
        "{listener_message}"
    );
    assert_eq!(client_failure, TlsFailure::RejectedByPeer);
    assert!(
        client_message.contains("certificate_expired"),
        "{client_message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_yet_valid_rejected() {
    let (accepted, connected) = handshake_with_certificate_issued(IssuedAt::DaysAhead(30)).await;

    let (listener_failure, listener_message) = tls_failure(&accepted.unwrap_err());
    let (client_failure, _) = tls_failure(&connected.unwrap_err());
    assert_eq!(listener_failure, TlsFailure::NotYetValid);
    assert!(
        listener_message.contains("not valid before 20"),
        "{listener_message}"
    );
    assert_eq!(client_failure, TlsFailure::RejectedByPeer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_client_name_rejected() {
    let ca = Ca::start(CA_NAME);
    let a = Member::enrolled(&ca, "a.example.org", KeyAlgorithm::EcdsaP256, None).await;
    let b = Member::enrolled(&ca, "b.example.org", KeyAlgorithm::EcdsaP256, None).await;
    let expect_x = ClientAuth {
        expected_names: vec!["x.example.org".to_owned(), "192.0.2.7".to_owned()],
        ..ClientAuth::default()
    };

    let (accepted, connected) = handshake(
        &a,
        &expect_x,
        Some(&b.identity()),
        &b.trust(),
        "a.example.org",
    )
    .await;

    let (listener_failure, listener_message) = tls_failure(&accepted.unwrap_err());
    let (client_failure, client_message) = tls_failure(&connected.unwrap_err());
    assert_eq!(listener_failure, TlsFailure::NameMismatch);
    assert!(
        listener_message.contains("b.example.org"),
        "{listener_message}"
    );
    assert!(
        listener_message.contains("x.example.org or 192.0.2.7"),
        "{listener_message}"
    );
    assert_eq!(client_failure, TlsFailure::RejectedByPeer);
    assert!(
        client_message.contains("certificate_unknown"),
        "{client_message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_only_certificate_rejected() {
    let ca = Ca::start(CA_NAME);
    let a = Member::enrolled(&ca, "a.example.org", KeyAlgorithm::EcdsaP256, None).await;
    let b = Member::enrolled_for(
        &ca,
        "b.example.org",
        KeyAlgorithm::EcdsaP256,
        None,
        Usage::TlsServer,
    )
    .await;

    // certa's own client configuration refuses this certificate before it
    // connects; a client of another make presents it anyway.
    let refused = client_config(Some(&b.identity()), &b.trust()).unwrap_err();
    let foreign = rustls::ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(b.trust().root_store())
        .with_client_cert_resolver(Arc::new(SingleCertAndKey::from(
            b.identity().certified_key(),
        )));
    let (accepted, connected) = handshake_with(
        &a,
        &ClientAuth::default(),
        Arc::new(foreign),
        "a.example.org",
    )
    .await;

    let (listener_failure, listener_message) = tls_failure(&accepted.unwrap_err());
    let (client_failure, client_message) = tls_failure(&connected.unwrap_err());
    assert_eq!(refused.code(), "invalid_certificate");
    assert!(refused.to_string().contains("tls-client"), "{refused}");
    assert_eq!(listener_failure, TlsFailure::WrongUsage);
    assert!(
        listener_message.contains("clientAuth"),
        "{listener_message}"
    );
    assert_eq!(client_failure, TlsFailure::RejectedByPeer);
    assert!(
        client_message.contains("unsupported_certificate"),
        "{client_message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_certificate_rejected() {
    let ca = Ca::start(CA_NAME);
    let a = Member::enrolled(&ca, "a.example.org", KeyAlgorithm::EcdsaP256, None).await;

    let (accepted, connected) = handshake(
        &a,
        &ClientAuth::default(),
        None,
        &a.trust(),
        "a.example.org",
    )
    .await;

    let (listener_failure, listener_message) = tls_failure(&accepted.unwrap_err());
    let (client_failure, client_message) = tls_failure(&connected.unwrap_err());
    assert_eq!(listener_failure, TlsFailure::NoCertificate);
    assert!(
        listener_message.contains("presented no certificate"),
        "{listener_message}"
    );
    assert_eq!(client_failure, TlsFailure::RejectedByPeer);
    assert!(
        client_message.contains("certificate_required"),
        "{client_message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_client_accepted_when_optional() {
    let ca = Ca::start(CA_NAME);
    let a = Member::enrolled(&ca, "a.example.org", KeyAlgorithm::EcdsaP256, None).await;
    let optional = ClientAuth {
        required: false,
        ..ClientAuth::default()
    };

    let (accepted, connected) = handshake(&a, &optional, None, &a.trust(), "a.example.org").await;

    let mut at_a = accepted.expect("A accepts a client without a certificate");
    let mut at_client = connected.expect("the client's handshake completes");
    at_client
        .send("hello without a certificate")
        .await
        .expect("the client sends");
    let received = at_a.receive(WAIT).await.expect("A receives");
    assert!(at_a.peer().is_none(), "A has no verified peer");
    assert_eq!(
        at_client.peer().map(|peer| peer.subject.as_str()),
        Some(a.subject().as_str())
    );
    assert_eq!(received.as_deref(), Some("hello without a certificate"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_name_mismatch_rejected() {
    let ca = Ca::start(CA_NAME);
    let a = Member::enrolled(&ca, "a.example.org", KeyAlgorithm::EcdsaP256, None).await;
    let b = Member::enrolled(&ca, "b.example.org", KeyAlgorithm::EcdsaP256, None).await;

    let (accepted, connected) = handshake(
        &a,
        &ClientAuth::default(),
        Some(&b.identity()),
        &b.trust(),
        "other.example.org",
    )
    .await;

    let (client_failure, client_message) = tls_failure(&connected.unwrap_err());
    let (listener_failure, listener_message) = tls_failure(&accepted.unwrap_err());
    assert_eq!(client_failure, TlsFailure::NameMismatch);
    assert!(
        client_message.contains("other.example.org"),
        "{client_message}"
    );
    assert!(client_message.contains("a.example.org"), "{client_message}");
    assert_eq!(listener_failure, TlsFailure::RejectedByPeer);
    assert!(
        listener_message.contains("bad_certificate"),
        "{listener_message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_before_fetch_rejected() {
    let ca = Ca::start(CA_NAME);
    let (d, _pending) =
        Member::submitted(&ca, "d.example.org", KeyAlgorithm::EcdsaP256, None).await;

    let error = d.client.tls_identity(&d.key_store, ROOT, None).unwrap_err();

    assert_eq!(error.code(), "not_found");
    assert!(error.to_string().contains("fetch_certificate"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_message_rejected() {
    let ca = Ca::start(CA_NAME);
    let a = Member::enrolled(&ca, "a.example.org", KeyAlgorithm::EcdsaP256, None).await;
    let b = Member::enrolled(&ca, "b.example.org", KeyAlgorithm::EcdsaP256, None).await;
    let (accepted, connected) = handshake(
        &a,
        &ClientAuth::default(),
        Some(&b.identity()),
        &b.trust(),
        "a.example.org",
    )
    .await;
    let mut at_b = connected.expect("B connects");
    let _at_a = accepted.expect("A accepts");

    let too_long = "x".repeat(certa_core::tls::MAX_MESSAGE_BYTES + 1);
    let error = at_b.send(&too_long).await.unwrap_err();
    let line_break = at_b.send("two\nlines").await.unwrap_err();

    assert_eq!(error.code(), "invalid_input");
    assert_eq!(line_break.code(), "invalid_input");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receive_times_out() {
    let ca = Ca::start(CA_NAME);
    let a = Member::enrolled(&ca, "a.example.org", KeyAlgorithm::EcdsaP256, None).await;
    let b = Member::enrolled(&ca, "b.example.org", KeyAlgorithm::EcdsaP256, None).await;
    let (accepted, connected) = handshake(
        &a,
        &ClientAuth::default(),
        Some(&b.identity()),
        &b.trust(),
        "a.example.org",
    )
    .await;
    let mut at_a = accepted.expect("A accepts");
    let mut at_b = connected.expect("B connects");

    let error = at_a.receive(Duration::from_millis(200)).await.unwrap_err();
    at_b.send("late").await.expect("B sends");
    let late = at_a.receive(WAIT).await.expect("A receives");

    assert_eq!(tls_failure(&error).0, TlsFailure::TimedOut);
    assert_eq!(late.as_deref(), Some("late"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_expected_name_rejected() {
    let ca = Ca::start(CA_NAME);
    let a = Member::enrolled(&ca, "a.example.org", KeyAlgorithm::EcdsaP256, None).await;
    let expect_invalid = ClientAuth {
        expected_names: vec!["not a name!".to_owned()],
        ..ClientAuth::default()
    };

    let error = server_config(&a.identity(), &a.trust(), &expect_invalid).unwrap_err();

    assert_eq!(error.code(), "invalid_input");
    assert!(error.to_string().contains("not a name!"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_after_peer_closed() {
    let ca = Ca::start(CA_NAME);
    let a = Member::enrolled(&ca, "a.example.org", KeyAlgorithm::EcdsaP256, None).await;
    let b = Member::enrolled(&ca, "b.example.org", KeyAlgorithm::EcdsaP256, None).await;
    let (accepted, connected) = handshake(
        &a,
        &ClientAuth::default(),
        Some(&b.identity()),
        &b.trust(),
        "a.example.org",
    )
    .await;
    let mut at_a = accepted.expect("A accepts");
    let at_b = connected.expect("B connects");

    at_b.close().await.expect("B closes");
    let end = at_a.receive(WAIT).await.expect("A reads the close");
    // The peer's socket is gone, so this write draws a reset from its side.
    let _ = at_a.send("anyone there?").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let closed = at_a.close().await;

    assert_eq!(end, None);
    assert!(closed.is_ok(), "{closed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_only_certificate_cannot_listen() {
    let ca = Ca::start(CA_NAME);
    let a = Member::enrolled_for(
        &ca,
        "a.example.org",
        KeyAlgorithm::EcdsaP256,
        None,
        Usage::TlsClient,
    )
    .await;

    let refused = server_config(&a.identity(), &a.trust(), &ClientAuth::default()).unwrap_err();

    assert_eq!(refused.code(), "invalid_certificate");
    assert!(refused.to_string().contains("tls-server"), "{refused}");
}
