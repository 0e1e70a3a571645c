//! The identity of the other side of a connection, from its verified certificate.

use x509_parser::prelude::{FromDer, X509Certificate};

use super::verify::subject_alt_names;
use crate::fingerprint::Fingerprints;
use crate::{Error, Result};

/// The identity in the verified certificate of the other side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The subject, as x509-parser prints it (`O=Example, CN=a.example.org`).
    pub subject: String,
    /// The issuer, as x509-parser prints it.
    pub issuer: String,
    /// The DNS names and IP addresses of the subjectAltName (`DNS:host`, `IP:127.0.0.1`).
    pub subject_alt_names: Vec<String>,
    /// The serial number, hexadecimal.
    pub serial: String,
    /// End of validity, RFC 3339 UTC.
    pub not_after: String,
    /// The fingerprints of the peer's certificate.
    pub fingerprints: Fingerprints,
}

impl PeerIdentity {
    /// Reads the identity from the peer's end-entity certificate (DER).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCertificate`] when the certificate cannot be parsed.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let certificate = match X509Certificate::from_der(der) {
            Ok((_, certificate)) => certificate,
            Err(e) => {
                return Err(Error::InvalidCertificate {
                    what: "of the TLS peer".to_owned(),
                    reason: "it is not a DER X.509 certificate".to_owned(),
                    source: Some(Box::new(e)),
                })
            }
        };

        let not_after = certificate
            .validity()
            .not_after
            .to_datetime()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| certificate.validity().not_after.to_string());

        Ok(PeerIdentity {
            subject: certificate.subject().to_string(),
            issuer: certificate.issuer().to_string(),
            subject_alt_names: subject_alt_names(der),
            serial: certificate.raw_serial_as_string().replace(':', ""),
            not_after,
            fingerprints: Fingerprints::of(der),
        })
    }
}
