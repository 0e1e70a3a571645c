//! The reasons a TLS connection fails, in words an operator can act on.

use std::io;

use rustls::pki_types::{ServerName, UnixTime};
use rustls::{AlertDescription, CertificateError, ExtendedKeyPurpose, OtherError};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::verify::ClientNameMismatch;
use crate::Error;

/// The reason a TLS connection failed, for matching in code and scripts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsFailure {
    /// The peer's certificate does not chain to a trusted CA.
    UntrustedIssuer,
    /// The peer's certificate has expired.
    Expired,
    /// The peer's certificate is not valid yet.
    NotYetValid,
    /// The peer's certificate is not valid for the expected name.
    NameMismatch,
    /// The peer presented no certificate where one is required.
    NoCertificate,
    /// The peer's certificate does not allow this side of TLS (extended key usage).
    WrongUsage,
    /// The peer ended the handshake with an alert, naming what it rejected.
    RejectedByPeer,
    /// The connection, the handshake or a read timed out.
    TimedOut,
    /// The connection failed for another reason (network, protocol, message too long).
    Other,
}

impl TlsFailure {
    /// A short, stable code, as [`Error::code`] returns it.
    pub fn code(&self) -> &'static str {
        match self {
            TlsFailure::UntrustedIssuer => "tls_untrusted_issuer",
            TlsFailure::Expired => "tls_expired",
            TlsFailure::NotYetValid => "tls_not_yet_valid",
            TlsFailure::NameMismatch => "tls_name_mismatch",
            TlsFailure::NoCertificate => "tls_no_certificate",
            TlsFailure::WrongUsage => "tls_wrong_usage",
            TlsFailure::RejectedByPeer => "tls_rejected_by_peer",
            TlsFailure::TimedOut => "tls_timed_out",
            TlsFailure::Other => "tls",
        }
    }
}

/// The role of the peer in a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PeerRole {
    /// The peer connected to our listener.
    Client,
    /// We connected to the peer.
    Server,
}

impl PeerRole {
    pub(super) fn name(self) -> &'static str {
        match self {
            PeerRole::Client => "client",
            PeerRole::Server => "server",
        }
    }
}

/// Turns an error of a handshake, a read or a write into an [`Error::Tls`]
/// whose [`TlsFailure`] and reason name the failed check and what to do.
///
/// tokio-rustls reports a rustls error as an [`io::Error`] that wraps it;
/// other I/O errors become [`TlsFailure::TimedOut`] or [`TlsFailure::Other`].
pub(crate) fn connection_error(operation: String, peer: PeerRole, error: io::Error) -> Error {
    let rustls_error = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .cloned();
    let (failure, reason) = match rustls_error {
        Some(rustls_error) => describe_rustls_error(&rustls_error, peer),
        None => describe_io_error(&error, peer),
    };
    Error::Tls {
        operation,
        failure,
        reason,
        source: Some(Box::new(error)),
    }
}

/// Builds an [`Error::Tls`] with [`TlsFailure::TimedOut`] for `operation`,
/// in which `what` took longer than `limit`; `advice` tells the reader what to do.
pub(super) fn timed_out(
    operation: String,
    limit: std::time::Duration,
    what: &str,
    advice: &str,
) -> Error {
    Error::Tls {
        operation,
        failure: TlsFailure::TimedOut,
        reason: format!(
            "{what} took longer than {} s; {advice}",
            limit.as_secs_f32()
        ),
        source: None,
    }
}

fn describe_io_error(error: &io::Error, peer: PeerRole) -> (TlsFailure, String) {
    let peer = peer.name();
    match error.kind() {
        io::ErrorKind::TimedOut => (
            TlsFailure::TimedOut,
            format!("the {peer} did not answer in time: {error}"),
        ),
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset => (
            TlsFailure::Other,
            format!("the {peer} closed the connection without a TLS alert ({error}); it may not speak TLS, or it gave up on the handshake: check its log"),
        ),
        _ => (
            TlsFailure::Other,
            format!("the connection to the {peer} failed: {error}"),
        ),
    }
}

/// Returns the [`TlsFailure`] of a rustls error and a reason with what to do,
/// for a peer in `role`.
pub(crate) fn describe_rustls_error(error: &rustls::Error, role: PeerRole) -> (TlsFailure, String) {
    let peer = role.name();
    match error {
        rustls::Error::InvalidCertificate(certificate_error) => {
            describe_certificate_error(certificate_error, role)
        }
        rustls::Error::NoCertificatesPresented => (
            TlsFailure::NoCertificate,
            format!("the {peer} presented no certificate, but one is required; configure the {peer} with its certificate and key"),
        ),
        rustls::Error::AlertReceived(alert) => (TlsFailure::RejectedByPeer, describe_alert(*alert, peer)),
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => (
            TlsFailure::Other,
            format!("the {peer} does not speak TLS, as when plain HTTP reaches a TLS port ({error}); check the address and the scheme"),
        ),
        rustls::Error::PeerIncompatible(_) => (
            TlsFailure::Other,
            format!("the {peer} supports no TLS version or cipher suite in common with certa, which offers TLS 1.3 and 1.2 ({error})"),
        ),
        other => (
            TlsFailure::Other,
            format!("the TLS protocol failed with the {peer}: {other}"),
        ),
    }
}

fn describe_certificate_error(error: &CertificateError, role: PeerRole) -> (TlsFailure, String) {
    let peer = role.name();
    match error {
        CertificateError::UnknownIssuer => (
            TlsFailure::UntrustedIssuer,
            format!(
                "the {peer}'s certificate was not issued by a trusted CA; give the {peer} a certificate from the trusted CA, or trust the CA that issued its certificate (this side's log names the certificate's issuer and the trusted CAs)"
            ),
        ),
        CertificateError::BadSignature => (
            TlsFailure::UntrustedIssuer,
            format!(
                "a signature in the {peer}'s certificate chain does not verify with the key of a trusted CA; the certificate may come from another CA of the same name, so give the {peer} a certificate from the trusted CA (this side's log names the certificate's issuer and the trusted CAs)"
            ),
        ),
        CertificateError::ExpiredContext { time, not_after } => (
            TlsFailure::Expired,
            format!(
                "the {peer}'s certificate expired at {} (now {}); the {peer} needs a renewed certificate from the CA",
                date(*not_after),
                date(*time)
            ),
        ),
        CertificateError::Expired => (
            TlsFailure::Expired,
            format!("the {peer}'s certificate has expired or its validity is invalid; the {peer} needs a renewed certificate from the CA"),
        ),
        CertificateError::NotValidYetContext { time, not_before } => (
            TlsFailure::NotYetValid,
            format!(
                "the {peer}'s certificate is not valid before {} (now {}); check the clocks of both machines, or wait",
                date(*not_before),
                date(*time)
            ),
        ),
        CertificateError::NotValidYet => (
            TlsFailure::NotYetValid,
            format!("the {peer}'s certificate is not valid yet; check the clocks of both machines, or wait"),
        ),
        CertificateError::NotValidForNameContext { expected, presented } => (
            TlsFailure::NameMismatch,
            format!(
                "the {peer}'s certificate is valid for {}, not for the expected {}; connect with a name the certificate carries, or have a certificate issued for that name",
                list_or_none(presented),
                name_text(expected)
            ),
        ),
        CertificateError::NotValidForName => (
            TlsFailure::NameMismatch,
            format!("the {peer}'s certificate is not valid for the expected name; connect with a name the certificate carries"),
        ),
        CertificateError::InvalidPurposeContext { required, presented } => (
            TlsFailure::WrongUsage,
            format!(
                "the {peer}'s certificate does not allow {} (its extended key usage: {}); have it issued with usage tls or tls-{peer}",
                purpose_text(required),
                presented.iter().map(purpose_text).collect::<Vec<_>>().join(", ")
            ),
        ),
        CertificateError::InvalidPurpose => (
            TlsFailure::WrongUsage,
            format!("the {peer}'s certificate does not allow this side of TLS (extended key usage); have it issued with usage tls or tls-{peer}"),
        ),
        CertificateError::Other(OtherError(inner)) => match inner.downcast_ref::<ClientNameMismatch>() {
            Some(mismatch) => (
                TlsFailure::NameMismatch,
                format!("{mismatch}; give the client a certificate for one of the expected names, or expect the names its certificate carries"),
            ),
            None => (
                TlsFailure::Other,
                format!("the {peer}'s certificate was rejected: {inner}"),
            ),
        },
        other => (
            TlsFailure::Other,
            format!("the {peer}'s certificate was rejected: {other}"),
        ),
    }
}

/// Words for an alert the peer sent: what it rejected and what to do.
fn describe_alert(alert: AlertDescription, peer: &str) -> String {
    let (name, meaning) = match alert {
        AlertDescription::UnknownCA => (
            "unknown_ca",
            "it does not trust the CA that issued our certificate; use a certificate from the CA the peer trusts, or have the peer trust our CA",
        ),
        AlertDescription::CertificateExpired => (
            "certificate_expired",
            "our certificate has expired or is not valid yet; renew it, or check the clocks of both machines",
        ),
        AlertDescription::BadCertificate => (
            "bad_certificate",
            "it found our certificate unusable, for example issued for another name; check the names the peer expects",
        ),
        AlertDescription::CertificateUnknown => (
            "certificate_unknown",
            "it gave no specific reason; a certa listener sends this alert when our certificate carries none of the names it expects",
        ),
        AlertDescription::CertificateRequired => (
            "certificate_required",
            "it requires a client certificate and we sent none; configure our side with a certificate and key",
        ),
        AlertDescription::UnsupportedCertificate => (
            "unsupported_certificate",
            "our certificate's extended key usage does not allow this side of TLS; have it issued with usage tls",
        ),
        AlertDescription::CertificateRevoked => (
            "certificate_revoked",
            "it considers our certificate revoked; request a new one",
        ),
        AlertDescription::DecryptError => (
            "decrypt_error",
            "a signature did not verify, for example our handshake signature or a signature in our certificate chain; check that our key matches our certificate",
        ),
        AlertDescription::HandshakeFailure => (
            "handshake_failure",
            "the two sides share no protocol version, cipher suite or signature scheme, or it rejected our certificate without naming why; check its log",
        ),
        AlertDescription::AccessDenied => (
            "access_denied",
            "it accepted our certificate but denies access; ask the peer's operator",
        ),
        _ => ("", "check the peer's log for the reason"),
    };
    let name = if name.is_empty() {
        format!("{alert:?}")
    } else {
        name.to_owned()
    };
    format!("the {peer} rejected the connection with the TLS alert {name}: {meaning}")
}

pub(super) fn name_text(name: &ServerName<'_>) -> String {
    name.to_str().into_owned()
}

fn purpose_text(purpose: &ExtendedKeyPurpose) -> String {
    match purpose {
        ExtendedKeyPurpose::ClientAuth => "clientAuth".to_owned(),
        ExtendedKeyPurpose::ServerAuth => "serverAuth".to_owned(),
        ExtendedKeyPurpose::Other(arcs) => arcs
            .iter()
            .map(|arc| arc.to_string())
            .collect::<Vec<_>>()
            .join("."),
    }
}

pub(super) fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        return "no name".to_owned();
    }
    items.join(", ")
}

fn date(time: UnixTime) -> String {
    let seconds = i64::try_from(time.as_secs()).unwrap_or(i64::MAX);
    OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|time| time.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{seconds} s after 1970"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_named() {
        let error = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
        );

        let error = connection_error("handshake".to_owned(), PeerRole::Client, error);

        assert_eq!(error.code(), "tls");
        assert!(error.to_string().contains("plain HTTP"), "{error}");
    }

    #[test]
    fn reset_keeps_cause() {
        let error = io::Error::new(io::ErrorKind::ConnectionReset, "reset by peer");

        let error = connection_error("handshake".to_owned(), PeerRole::Client, error);

        assert!(error.to_string().contains("reset by peer"), "{error}");
    }

    #[test]
    fn missing_certificate_has_own_code() {
        let error = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::NoCertificatesPresented,
        );

        let error = connection_error("handshake".to_owned(), PeerRole::Client, error);

        assert_eq!(error.code(), "tls_no_certificate");
    }
}
