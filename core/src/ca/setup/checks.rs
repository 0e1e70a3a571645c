//! The checks an outside CA's certificate passes before certa sets up an
//! intermediate CA with it. Each failure is an
//! [`Error::InvalidCertificate`] whose reason says which check failed.

use der::Decode;
use spki::SubjectPublicKeyInfoRef;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;

use super::certificate::{parse_certificate, verify_issued_by};
use crate::key::verify::verify_with;
use crate::key::{KeyUri, Signer, SubjectPublicKeyInfoDer};
use crate::{Error, Result};

/// Checks that the certificate is for the key `signer` holds: the public keys
/// are equal, and a test signature verifies with the certificate's key.
pub(super) fn check_key_matches(
    certificate: &X509Certificate<'_>,
    signer: &dyn Signer,
    key: &KeyUri,
) -> Result<()> {
    let certificate_key = certificate.public_key().raw;
    if !same_public_key(certificate_key, signer.public_key().as_bytes()) {
        return Err(Error::InvalidCertificate {
            what: "CA certificate".to_owned(),
            reason: format!(
                "its public key does not match the key {key}; give the key the certificate was issued for"
            ),
            source: None,
        });
    }

    // Proof that the key store can sign with the key, checked with the certificate's key.
    let challenge = b"certa checks that the CA key signs for its certificate";
    let signature = signer.sign(challenge)?;
    verify_with(&SubjectPublicKeyInfoDer(certificate_key.to_vec()), signer.signature_algorithm(), challenge, &signature)
        .map_err(|e| Error::InvalidCertificate {
            what: "CA certificate".to_owned(),
            reason: format!("a test signature of the key {key} does not verify with its public key, so it does not match the key"),
            source: Some(Box::new(e)),
        })
}

/// Compares two SubjectPublicKeyInfos by algorithm and key bits, so that an
/// equal key in another (valid) encoding still matches.
fn same_public_key(a: &[u8], b: &[u8]) -> bool {
    match (
        SubjectPublicKeyInfoRef::from_der(a),
        SubjectPublicKeyInfoRef::from_der(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Checks that the certificate may issue certificates.
pub(super) fn check_is_ca(certificate: &X509Certificate<'_>) -> Result<()> {
    let not_ca = |reason: &str| Error::InvalidCertificate {
        what: "CA certificate".to_owned(),
        reason: format!("it is not a CA certificate: {reason}"),
        source: None,
    };
    let constraints = certificate
        .basic_constraints()
        .map_err(|e| not_ca(&format!("its basicConstraints cannot be read ({e})")))?;
    if !constraints.is_some_and(|c| c.value.ca) {
        return Err(not_ca(
            "basicConstraints cA MUST be TRUE (RFC 5280, section 4.2.1.9)",
        ));
    }
    let key_usage = certificate
        .key_usage()
        .map_err(|e| not_ca(&format!("its keyUsage cannot be read ({e})")))?;
    if key_usage.is_some_and(|usage| !usage.value.key_cert_sign()) {
        return Err(not_ca(
            "keyUsage MUST have keyCertSign (RFC 5280, section 4.2.1.3)",
        ));
    }
    Ok(())
}

/// Checks that now lies within the certificate's validity.
pub(super) fn check_valid_now(certificate: &X509Certificate<'_>) -> Result<()> {
    let validity = certificate.validity();
    let now = OffsetDateTime::now_utc();
    let not_before = validity.not_before.to_datetime();
    let not_after = validity.not_after.to_datetime();
    if not_before <= now && now <= not_after {
        return Ok(());
    }
    let show = |time: OffsetDateTime| time.format(&Rfc3339).unwrap_or_else(|_| time.to_string());
    Err(Error::InvalidCertificate {
        what: "CA certificate".to_owned(),
        reason: format!(
            "it is not valid now: notBefore is {}, notAfter is {}",
            show(not_before),
            show(not_after)
        ),
        source: None,
    })
}

/// Checks that the chain's first certificate issued the certificate: its
/// subject is the certificate's issuer, and its key verifies the signature.
pub(super) fn check_issued_by_chain(
    certificate_der: &[u8],
    certificate: &X509Certificate<'_>,
    chain: &[Vec<u8>],
) -> Result<()> {
    let Some(issuer_der) = chain.first() else {
        return Err(Error::invalid_input("certificate chain", "it is empty"));
    };
    let issuer = parse_certificate("first certificate of the chain", issuer_der)?;
    let not_issued =
        |reason: String, source: Option<crate::error::Cause>| Error::InvalidCertificate {
            what: "CA certificate".to_owned(),
            reason: format!(
                "it was not issued by the chain's first certificate ({}): {reason}",
                issuer.subject()
            ),
            source,
        };
    if certificate.issuer().as_raw() != issuer.subject().as_raw() {
        return Err(not_issued(
            format!("its issuer is {}", certificate.issuer()),
            None,
        ));
    }
    verify_issued_by(certificate_der, issuer.public_key().raw).map_err(|e| {
        not_issued(
            "its signature does not verify".to_owned(),
            Some(Box::new(e)),
        )
    })
}
