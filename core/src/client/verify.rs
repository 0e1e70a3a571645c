//! Checks of the certificates the client fetches: read as PEM, holding the
//! client's public key, and signed by the CA certificate the client holds.

use std::path::Path;

use der::{Decode, DecodePem, Encode, Sequence};
use x509_cert::Certificate;

use crate::key::{KeyUri, SubjectPublicKeyInfoDer};
use crate::{Error, Result};

/// Decodes a PEM certificate to DER.
pub(super) fn certificate_der(pem: &str, what: &str) -> Result<Vec<u8>> {
    let certificate =
        Certificate::from_pem(pem.as_bytes()).map_err(|e| Error::InvalidCertificate {
            what: what.to_owned(),
            reason: "it is not a PEM certificate".to_owned(),
            source: Some(Box::new(e)),
        })?;
    certificate.to_der().map_err(|e| Error::InvalidCertificate {
        what: what.to_owned(),
        reason: "it cannot be encoded as DER".to_owned(),
        source: Some(Box::new(e)),
    })
}

/// A certificate split into its three parts, with the to-be-signed part kept
/// as the exact bytes the signature covers.
#[derive(Sequence)]
struct SignedCertificate<'a> {
    tbs_certificate: der::asn1::AnyRef<'a>,
    signature_algorithm: spki::AlgorithmIdentifierOwned,
    signature: der::asn1::BitStringRef<'a>,
}

pub(super) fn check_public_key(
    der: &[u8],
    public_key: &SubjectPublicKeyInfoDer,
    key: &KeyUri,
    what: &str,
) -> Result<()> {
    let certificate =
        Certificate::from_der(der).map_err(|e| invalid(what, "it cannot be read", e))?;
    let certified = certificate
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| invalid(what, "its public key cannot be encoded", e))?;
    if certified != public_key.as_bytes() {
        return Err(Error::InvalidCertificate {
            what: what.to_owned(),
            reason: format!("its public key is not the public key of {key}; it was issued for another key, or the key was replaced after the CSR was sent"),
            source: None,
        });
    }
    Ok(())
}

pub(super) fn check_issued_by(der: &[u8], ca_path: &Path, what: &str) -> Result<()> {
    let ca_pem = std::fs::read(ca_path).map_err(|e| Error::io("read", ca_path, e))?;
    let ca_what = format!("{} (the CA certificate)", ca_path.display());
    let ca = Certificate::from_pem(&ca_pem)
        .map_err(|e| invalid(&ca_what, "it is not a PEM certificate", e))?;
    let certificate =
        Certificate::from_der(der).map_err(|e| invalid(what, "it cannot be read", e))?;
    if certificate.tbs_certificate.issuer != ca.tbs_certificate.subject {
        return Err(Error::InvalidCertificate {
            what: what.to_owned(),
            reason: format!(
                "its issuer {} is not the subject {} of the CA certificate the client holds; fetch the CA certificate again",
                certificate.tbs_certificate.issuer, ca.tbs_certificate.subject
            ),
            source: None,
        });
    }

    let signed =
        SignedCertificate::from_der(der).map_err(|e| invalid(what, "it cannot be read", e))?;
    let message = signed
        .tbs_certificate
        .to_der()
        .map_err(|e| invalid(what, "it cannot be encoded", e))?;
    let ca_key = ca
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| invalid(&ca_what, "its public key cannot be encoded", e))?;
    let signature = signed.signature.raw_bytes();
    crate::key::verify::verify_signature(&ca_key, &signed.signature_algorithm, &message, signature)
        .map_err(|e| {
            invalid(
                what,
                "its signature does not verify with the CA certificate's key; do not use it",
                e,
            )
        })
}

fn invalid(
    what: &str,
    reason: &str,
    source: impl std::error::Error + Send + Sync + 'static,
) -> Error {
    Error::InvalidCertificate {
        what: what.to_owned(),
        reason: reason.to_owned(),
        source: Some(Box::new(source)),
    }
}
