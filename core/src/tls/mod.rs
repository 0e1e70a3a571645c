//! Mutual TLS between certa instances, with certificates certa issued.
//!
//! A [`TlsIdentity`] is an instance's certificate chain and a signer for its
//! private key, from either key store: the key stays in the key store, and
//! rustls asks it for each handshake signature through [`rustls::sign`].
//! [`TrustAnchors`] are the CA certificates an instance trusts.
//! [`server_config`] and [`client_config`] make rustls configurations from
//! them, with client certificates required by default; [`TlsListener`] and
//! [`connect`] set up connections that carry text messages, one per line.
//!
//! Peer verification checks the chain to a trusted CA, the validity period,
//! the extended key usage and, where the caller names one, the peer's name.
//! A failed check is an [`Error::Tls`](crate::Error::Tls) whose
//! [`TlsFailure`] says which check failed.

mod channel;
mod config;
mod failure;
mod identity;
mod peer;
mod signing;
mod verify;

pub use channel::{connect, TlsConnection, TlsListener, HANDSHAKE_TIMEOUT, MAX_MESSAGE_BYTES};
pub use config::{client_config, server_config, ClientAuth};
pub use failure::TlsFailure;
pub(crate) use failure::{connection_error, describe_rustls_error, PeerRole};
pub use identity::{TlsIdentity, TlsSide, TrustAnchors};
pub use peer::PeerIdentity;
pub use signing::KeyStoreSigningKey;
pub(crate) use verify::{parse_server_name, server_verifier};

/// Returns the cryptographic provider of every configuration certa makes: rustls'
/// ring provider, chosen explicitly so that no process-wide default is needed.
pub fn crypto_provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}
