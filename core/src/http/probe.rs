//! The first look at an HTTPS server's CA certificate, before the client
//! trusts anything.
//!
//! [`probe_ca_certificate`] starts a TLS handshake whose certificate
//! verifier records the chain the server presents and then fails, so the
//! handshake stops there. The client has sent nothing but its handshake
//! messages and an alert: no HTTP request, no CSR, no contact. The CA
//! certificate is the issuer of the server's certificate in that chain. The
//! caller compares its fingerprint with the one the CA operator reads out
//! before trusting it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::client::server_address;
use crate::fingerprint::Fingerprints;
use crate::tls::{
    describe_rustls_error, parse_server_name, server_verifier, PeerRole, TlsFailure, TrustAnchors,
};
use crate::{Error, Result};

/// The message of the verifier's deliberate failure, which ends the handshake.
const STOPPED_AFTER_RECORDING: &str =
    "certa stopped the handshake after reading the certificate chain";

/// The CA certificate an HTTPS server presented, not yet trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedCaCertificate {
    /// The server's address, `host:port`.
    pub address: String,
    /// The CA's subject, in RFC 4514 form.
    pub subject: String,
    /// End of the CA certificate's validity, RFC 3339 UTC.
    pub not_after: String,
    /// The CA certificate, DER.
    pub der: Vec<u8>,
    /// The CA certificate, PEM.
    pub pem: String,
    /// SHA-1 and SHA-256 fingerprints of the CA certificate (DER).
    pub fingerprints: Fingerprints,
    /// The subject of the server's own TLS certificate, in RFC 4514 form;
    /// empty when the certificate came over plain HTTP.
    pub server_subject: String,
}

/// Connects to `host:port`, reads the certificate chain the server
/// presents and stops the handshake before any HTTP request is sent, then
/// returns the issuer of the server's certificate from that chain.
///
/// The server's certificate must verify against that issuer and be valid
/// for `host`; otherwise no certificate is offered.
///
/// # Errors
///
/// [`Error::InvalidInput`] for an empty host or port 0; [`Error::Tls`] when
/// the connection fails or times out, the server does not speak TLS, its
/// chain contains no issuer of its certificate, or its certificate does not
/// verify against that issuer or is not valid for `host`.
pub async fn probe_ca_certificate(
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<OfferedCaCertificate> {
    let address = server_address(host, port)?;
    let server_name = server_name(host)?;
    let operation = format!("first handshake with {address}");

    let provider = crate::tls::crypto_provider();
    let recorder = Arc::new(ChainRecorder {
        chain: Mutex::new(None),
        provider: Arc::clone(&provider),
    });
    let config = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::crypto("setting up the TLS client", e))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::clone(&recorder) as Arc<dyn ServerCertVerifier>)
        .with_no_client_auth();

    let handshake = async {
        let stream = TcpStream::connect(&address).await?;
        TlsConnector::from(Arc::new(config))
            .connect(server_name.clone(), stream)
            .await
    };
    let outcome = match tokio::time::timeout(timeout, handshake).await {
        Ok(outcome) => outcome,
        Err(_) => {
            return Err(tls_error(
                operation,
                TlsFailure::TimedOut,
                format!(
                    "no certificate chain within {} s; check that the server runs and is reachable",
                    timeout.as_secs()
                ),
                None,
            ))
        }
    };
    let recorded = recorder
        .chain
        .lock()
        .map_err(|_| Error::crypto("reading the recorded chain", PoisonedRecorder))?
        .take();
    let Some(chain) = recorded else {
        return Err(no_chain_error(operation, outcome.err()));
    };

    let offered = offered_ca(&address, &chain)?;
    verify_server_certificate(&chain, &offered, &server_name, &operation)?;
    tracing::info!(%address, ca = %offered.subject, sha256 = %offered.fingerprints.sha256, "read the CA certificate an HTTPS server offers");
    Ok(offered)
}

/// Parses the server name to verify: an IP address or a DNS name.
fn server_name(host: &str) -> Result<ServerName<'static>> {
    let bare = host.trim().trim_start_matches('[').trim_end_matches(']');
    parse_server_name(
        bare,
        "CA server host",
        "give the host name or address the server's certificate carries",
    )
}

/// A server certificate verifier that records the chain and stops the handshake.
#[derive(Debug)]
struct ChainRecorder {
    chain: Mutex<Option<Vec<CertificateDer<'static>>>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for ChainRecorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let mut chain = vec![end_entity.clone().into_owned()];
        chain.extend(intermediates.iter().map(|der| der.clone().into_owned()));
        if let Ok(mut recorded) = self.chain.lock() {
            *recorded = Some(chain);
        }
        Err(rustls::Error::General(STOPPED_AFTER_RECORDING.to_owned()))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Finds the issuer of the server's certificate (the first of `chain`) among the others.
fn offered_ca(address: &str, chain: &[CertificateDer<'static>]) -> Result<OfferedCaCertificate> {
    let server = parse(address, "server certificate", &chain[0])?;
    let issuer = server.issuer().as_raw();
    let found = chain.iter().skip(1).find_map(|der| {
        let candidate = X509Certificate::from_der(der).ok()?.1;
        (candidate.subject().as_raw() == issuer).then_some((der, candidate))
    });
    let Some((der, ca)) = found else {
        return Err(tls_error(
            format!("first handshake with {address}"),
            TlsFailure::UntrustedIssuer,
            format!(
                "the server sent {} certificate(s) but not its issuer {}; a certa server sends its CA certificate, so check that {address} is the CA server",
                chain.len(),
                server.issuer()
            ),
            None,
        ));
    };

    Ok(OfferedCaCertificate {
        address: address.to_owned(),
        subject: ca.subject().to_string(),
        not_after: crate::ca::audit::rfc3339(ca.validity().not_after.to_datetime()),
        der: der.to_vec(),
        pem: pem_certificate(der),
        fingerprints: Fingerprints::of(der),
        server_subject: server.subject().to_string(),
    })
}

/// Checks that the server's certificate verifies against the offered CA
/// certificate and is valid for `server_name` now, as the trusted
/// connection will check it later.
fn verify_server_certificate(
    chain: &[CertificateDer<'static>],
    offered: &OfferedCaCertificate,
    server_name: &ServerName<'static>,
    operation: &str,
) -> Result<()> {
    let trust = TrustAnchors::from_der(vec![offered.der.clone()]).map_err(|e| {
        tls_error(
            operation.to_owned(),
            TlsFailure::UntrustedIssuer,
            format!(
                "the CA certificate {} cannot be a trust anchor",
                offered.subject
            ),
            Some(Box::new(e)),
        )
    })?;
    let verifier = server_verifier(&trust)?;
    let others: Vec<CertificateDer<'static>> = chain
        .iter()
        .skip(1)
        .filter(|der| der.as_ref() != offered.der.as_slice())
        .cloned()
        .collect();

    verifier
        .verify_server_cert(&chain[0], &others, server_name, &[], UnixTime::now())
        .map(|_| ())
        .map_err(|e| {
            let (failure, reason) = describe_rustls_error(&e, PeerRole::Server);
            tls_error(
                operation.to_owned(),
                failure,
                format!(
                    "the server's certificate {} does not verify against the CA certificate {} it sent: {reason}; nothing was trusted or saved",
                    offered.server_subject, offered.subject
                ),
                Some(Box::new(e)),
            )
        })
}

/// Builds the error for a handshake that ended before the server presented a chain.
fn no_chain_error(operation: String, error: Option<std::io::Error>) -> Error {
    let Some(error) = error else {
        return tls_error(
            operation,
            TlsFailure::Other,
            "the handshake completed without presenting a certificate chain".to_owned(),
            None,
        );
    };

    let (failure, reason) = match error.kind() {
        std::io::ErrorKind::ConnectionRefused => (
            TlsFailure::Other,
            format!("cannot connect ({error}); check the host and port and that certa serve runs there"),
        ),
        std::io::ErrorKind::InvalidData => (
            TlsFailure::Other,
            format!("the server does not speak TLS ({error}); check the port, or configure the client for plain HTTP"),
        ),
        _ => (
            TlsFailure::Other,
            format!("the handshake failed before the server presented a certificate ({error}); check that the server serves HTTPS"),
        ),
    };
    tls_error(operation, failure, reason, Some(Box::new(error)))
}

fn tls_error(
    operation: String,
    failure: TlsFailure,
    reason: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
) -> Error {
    Error::Tls {
        operation,
        failure,
        reason,
        source,
    }
}

fn parse<'a>(address: &str, what: &str, der: &'a [u8]) -> Result<X509Certificate<'a>> {
    X509Certificate::from_der(der)
        .map(|(_, certificate)| certificate)
        .map_err(|e| Error::InvalidCertificate {
            what: format!("{what} from {address}"),
            reason: "it is not a DER X.509 certificate".to_owned(),
            source: Some(Box::new(e)),
        })
}

fn pem_certificate(der: &[u8]) -> String {
    use base64::Engine as _;

    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in encoded.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

/// The recorder's lock was poisoned by a panic in another thread.
#[derive(Debug)]
struct PoisonedRecorder;

impl std::fmt::Display for PoisonedRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a thread panicked while it held the recorded chain")
    }
}

impl std::error::Error for PoisonedRecorder {}
