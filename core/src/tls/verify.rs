//! Peer certificate verification on top of rustls' WebPKI verifiers.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_name, WebPkiServerVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, OtherError, SignatureScheme,
};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::config::ClientAuth;
use super::failure::{list_or_none, name_text, PeerRole};
use super::identity::TrustAnchors;
use crate::{Error, Result};

/// Builds the verifier of client certificates for `client_auth`.
///
/// # Errors
///
/// [`Error::InvalidInput`] for an expected name that is neither a DNS name
/// nor an IP address, and [`Error::Crypto`] when rustls rejects the set-up.
pub(super) fn client_verifier(
    trust: &TrustAnchors,
    client_auth: &ClientAuth,
) -> Result<Arc<dyn ClientCertVerifier>> {
    let expected_names = client_auth
        .expected_names
        .iter()
        .map(|name| {
            parse_server_name(
                name,
                "expected client name",
                "give a name the clients' certificates carry in subjectAltName",
            )
        })
        .collect::<Result<Vec<_>>>()?;

    let builder =
        WebPkiClientVerifier::builder_with_provider(trust.root_store(), super::crypto_provider());
    let builder = if client_auth.required {
        builder
    } else {
        builder.allow_unauthenticated()
    };
    let inner = builder
        .build()
        .map_err(|e| Error::crypto("setting up client certificate verification", e))?;

    Ok(Arc::new(ClientVerifier {
        inner,
        expected_names,
        trusted_subjects: trust.subjects().to_vec(),
    }))
}

/// Parses `name` as a DNS name or an IP address, the two kinds of name TLS
/// verifies a certificate against; `what` names the value in the error and
/// `hint` says what to give instead.
///
/// # Errors
///
/// [`Error::InvalidInput`] when `name` is neither.
pub(crate) fn parse_server_name(name: &str, what: &str, hint: &str) -> Result<ServerName<'static>> {
    ServerName::try_from(name.to_owned()).map_err(|e| {
        Error::invalid_input(
            what,
            format!("{name:?} is neither a DNS name nor an IP address ({e}); {hint}"),
        )
    })
}

/// Builds the verifier of server certificates.
pub(crate) fn server_verifier(trust: &TrustAnchors) -> Result<Arc<dyn ServerCertVerifier>> {
    let inner =
        WebPkiServerVerifier::builder_with_provider(trust.root_store(), super::crypto_provider())
            .build()
            .map_err(|e| Error::crypto("setting up server certificate verification", e))?;
    Ok(Arc::new(ServerVerifier {
        inner,
        trusted_subjects: trust.subjects().to_vec(),
    }))
}

/// rustls' server certificate verification, logging the issuer of a
/// certificate that does not chain to a trusted CA.
#[derive(Debug)]
struct ServerVerifier {
    inner: Arc<WebPkiServerVerifier>,
    trusted_subjects: Vec<String>,
}

impl ServerCertVerifier for ServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map_err(|error| match error {
                rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
                    expected,
                    ..
                }) => CertificateError::NotValidForNameContext {
                    expected,
                    presented: subject_alt_names(end_entity),
                }
                .into(),
                other => {
                    log_untrusted(&other, PeerRole::Server, end_entity, &self.trusted_subjects);
                    other
                }
            })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Logs the issuer of a peer certificate rejected as untrusted, and the
/// trusted CAs, which rustls' error does not name.
fn log_untrusted(
    error: &rustls::Error,
    peer: PeerRole,
    end_entity: &CertificateDer<'_>,
    trusted_subjects: &[String],
) {
    let rustls::Error::InvalidCertificate(
        CertificateError::UnknownIssuer | CertificateError::BadSignature,
    ) = error
    else {
        return;
    };
    let (subject, issuer) = match X509Certificate::from_der(end_entity) {
        Ok((_, certificate)) => (
            certificate.subject().to_string(),
            certificate.issuer().to_string(),
        ),
        Err(_) => ("(unparsable)".to_owned(), "(unparsable)".to_owned()),
    };
    tracing::warn!(
        peer = peer.name(),
        %subject,
        %issuer,
        trusted = %trusted_subjects.join("; "),
        "the peer's certificate does not chain to a trusted CA"
    );
}

/// rustls' client certificate verification, then, when names are expected,
/// a check that the certificate is valid for at least one of them (a DNS
/// name or IP address in its subjectAltName, as for a server certificate).
#[derive(Debug)]
struct ClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    expected_names: Vec<ServerName<'static>>,
    trusted_subjects: Vec<String>,
}

impl ClientCertVerifier for ClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> std::result::Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)
            .inspect_err(|error| {
                log_untrusted(error, PeerRole::Client, end_entity, &self.trusted_subjects)
            })?;
        if self.expected_names.is_empty() {
            return Ok(verified);
        }

        let certificate = ParsedCertificate::try_from(end_entity)?;
        for name in &self.expected_names {
            match verify_server_name(&certificate, name) {
                Ok(()) => return Ok(verified),
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForNameContext { .. }
                    | CertificateError::NotValidForName,
                )) => {}
                Err(other) => return Err(other),
            }
        }
        let mismatch = ClientNameMismatch {
            expected: self.expected_names.iter().map(name_text).collect(),
            presented: subject_alt_names(end_entity),
        };
        Err(CertificateError::Other(OtherError(Arc::new(mismatch))).into())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A client certificate that carries none of the names the listener expects.
///
/// rustls sends the `certificate_unknown` alert for it, because its
/// name-mismatch error holds only one expected name.
#[derive(Debug)]
pub(super) struct ClientNameMismatch {
    expected: Vec<String>,
    presented: Vec<String>,
}

impl fmt::Display for ClientNameMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the client's certificate is valid for {}, not for the expected {}",
            list_or_none(&self.presented),
            self.expected.join(" or ")
        )
    }
}

impl std::error::Error for ClientNameMismatch {}

/// Lists the DNS names and IP addresses of a certificate's subjectAltName,
/// as `DNS:host` and `IP:address`. The list is empty for a certificate that
/// cannot be parsed.
pub(super) fn subject_alt_names(der: &[u8]) -> Vec<String> {
    let Ok((_, certificate)) = X509Certificate::from_der(der) else {
        return Vec::new();
    };
    let Ok(Some(extension)) = certificate.subject_alternative_name() else {
        return Vec::new();
    };
    extension
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some(format!("DNS:{dns}")),
            GeneralName::IPAddress(bytes) => ip_address(bytes).map(|ip| format!("IP:{ip}")),
            _ => None,
        })
        .collect()
}

fn ip_address(bytes: &[u8]) -> Option<IpAddr> {
    if let Ok(octets) = <[u8; 4]>::try_from(bytes) {
        return Some(IpAddr::from(octets));
    }
    <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from)
}
