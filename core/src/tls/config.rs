//! rustls configurations for the two sides of a connection.

use std::sync::Arc;

use rustls::server::danger::ClientCertVerifier;
use rustls::sign::SingleCertAndKey;
use rustls::{ClientConfig, ServerConfig};

use super::identity::{TlsIdentity, TlsSide, TrustAnchors};
use super::verify;
use crate::{Error, Result};

/// The requirements a TLS server places on its clients' certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAuth {
    /// Whether a client must present a certificate. A certificate that a
    /// client presents is verified either way. A client let in without one
    /// has no [`TlsConnection::peer`](super::TlsConnection::peer).
    pub required: bool,
    /// Names (DNS names or IP addresses in the subjectAltName) of which the
    /// client's certificate must carry at least one; empty accepts any name.
    /// They apply to a certificate the client presents, so set `required`
    /// too when only those clients may connect.
    pub expected_names: Vec<String>,
}

impl Default for ClientAuth {
    /// Requires a certificate, with any name.
    fn default() -> Self {
        ClientAuth {
            required: true,
            expected_names: Vec::new(),
        }
    }
}

/// The server side: presents `identity` and verifies client certificates
/// against `trust` as `client_auth` sets. TLS 1.3 and 1.2.
///
/// # Errors
///
/// [`Error::InvalidCertificate`] when the identity's certificate does not
/// allow TLS server authentication, [`Error::InvalidInput`] for an expected
/// name that is neither a DNS name nor an IP address, and [`Error::Crypto`]
/// when rustls rejects the set-up.
pub fn server_config(
    identity: &TlsIdentity,
    trust: &TrustAnchors,
    client_auth: &ClientAuth,
) -> Result<Arc<ServerConfig>> {
    identity.check_usage(TlsSide::Server)?;
    let verifier: Arc<dyn ClientCertVerifier> = verify::client_verifier(trust, client_auth)?;
    let config = ServerConfig::builder_with_provider(super::crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::crypto("setting up the TLS server", e))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(identity.certified_key())));
    Ok(Arc::new(config))
}

/// The client side: verifies the server's certificate against `trust` (and
/// its name at [`connect`](super::connect)), and presents `identity` when
/// the server requests a certificate. TLS 1.3 and 1.2.
///
/// # Errors
///
/// [`Error::InvalidCertificate`] when the identity's certificate does not
/// allow TLS client authentication, and [`Error::Crypto`] when rustls
/// rejects the set-up.
pub fn client_config(
    identity: Option<&TlsIdentity>,
    trust: &TrustAnchors,
) -> Result<Arc<ClientConfig>> {
    if let Some(identity) = identity {
        identity.check_usage(TlsSide::Client)?;
    }
    let builder = ClientConfig::builder_with_provider(super::crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::crypto("setting up the TLS client", e))?
        .dangerous()
        .with_custom_certificate_verifier(verify::server_verifier(trust)?);
    let config = match identity {
        Some(identity) => builder
            .with_client_cert_resolver(Arc::new(SingleCertAndKey::from(identity.certified_key()))),
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}
