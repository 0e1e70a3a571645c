//! The certificates of CA set-up: making the self-signed one with rcgen,
//! reading PEM, and checking a certificate's signature.

use der::asn1::{AnyRef, BitStringRef};
use der::{Decode, Encode, Sequence};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyIdMethod, KeyUsagePurpose};
use sha1::{Digest, Sha1};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoRef};
use time::{Duration, OffsetDateTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use super::BACKDATE;
use crate::key::rcgen_signer::RcgenSigner;
use crate::key::verify::verify_signature;
use crate::key::{Signer, SubjectPublicKeyInfoDer};
use crate::name::SubjectName;
use crate::{Error, Result};

/// The certificate number (and X.509 serial number) of a self-signed CA certificate.
const CA_CERTIFICATE_NUMBER: u8 = 1;

/// Makes and signs a self-signed CA certificate (DER) for `subject`, valid
/// from [`BACKDATE`] before now for `validity_days`.
pub(super) fn self_signed_certificate(
    subject: &SubjectName,
    validity_days: u32,
    signer: &dyn Signer,
) -> Result<Vec<u8>> {
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .map_err(|e| Error::crypto("reading the clock", e))?;
    let mut params = CertificateParams::default();
    params.not_before = now - BACKDATE;
    params.not_after = now + Duration::days(i64::from(validity_days));
    params.serial_number = Some(vec![CA_CERTIFICATE_NUMBER].into());
    params.distinguished_name = subject.to_rcgen_name()?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // The CA key signs certificates and CRLs only, so digitalSignature (for
    // OCSP responses or TLS) is left out.
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.key_identifier_method = KeyIdMethod::PreSpecified(key_identifier(signer.public_key())?);
    params.use_authority_key_identifier_extension = true;

    let rcgen_signer = RcgenSigner::new(signer)?;
    let certificate = params
        .self_signed(&rcgen_signer)
        .map_err(|e| Error::crypto("signing the CA certificate", e))?;
    Ok(certificate.der().to_vec())
}

/// RFC 5280's key identifier, method 1: the SHA-1 of the subjectPublicKey bits.
fn key_identifier(public_key: &SubjectPublicKeyInfoDer) -> Result<Vec<u8>> {
    let info = SubjectPublicKeyInfoRef::from_der(public_key.as_bytes())
        .map_err(|e| Error::crypto("reading the CA's public key", e))?;
    Ok(Sha1::digest(info.subject_public_key.raw_bytes()).to_vec())
}

/// A certificate split as RFC 5280, section 4.1 lays it out, with the
/// TBSCertificate kept as it was encoded.
#[derive(Sequence)]
struct SignedCertificate<'a> {
    tbs_certificate: AnyRef<'a>,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: BitStringRef<'a>,
}

/// Verifies the signature of `certificate_der` with the SubjectPublicKeyInfo `issuer_public_key`.
pub(super) fn verify_issued_by(certificate_der: &[u8], issuer_public_key: &[u8]) -> Result<()> {
    let certificate = SignedCertificate::from_der(certificate_der)
        .map_err(|e| Error::crypto("reading a certificate's signature", e))?;
    let tbs = certificate
        .tbs_certificate
        .to_der()
        .map_err(|e| Error::crypto("reading a certificate's TBSCertificate", e))?;
    verify_signature(
        issuer_public_key,
        &certificate.signature_algorithm,
        &tbs,
        certificate.signature.raw_bytes(),
    )?;
    Ok(())
}

pub(super) fn parse_certificate<'a>(what: &str, der: &'a [u8]) -> Result<X509Certificate<'a>> {
    let (_, certificate) =
        X509Certificate::from_der(der).map_err(|e| Error::InvalidCertificate {
            what: what.to_owned(),
            reason: "it cannot be parsed as X.509".to_owned(),
            source: Some(Box::new(e)),
        })?;
    Ok(certificate)
}

/// The DER of each certificate in PEM text, in order.
pub(super) fn certificates(what: &str, pem_text: &[u8]) -> Result<Vec<Vec<u8>>> {
    let mut found = Vec::new();
    for block in x509_parser::pem::Pem::iter_from_buffer(pem_text) {
        let block =
            block.map_err(|e| Error::invalid_input(what, format!("it is not valid PEM: {e}")))?;
        if block.label == "CERTIFICATE" {
            found.push(block.contents);
        }
    }
    if found.is_empty() {
        return Err(Error::invalid_input(
            what,
            "it holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
        ));
    }
    Ok(found)
}

pub(super) fn single_certificate(pem_text: &[u8]) -> Result<Vec<u8>> {
    let mut found = certificates("CA certificate", pem_text)?;
    if found.len() > 1 {
        return Err(Error::invalid_input(
            "CA certificate",
            format!(
                "it holds {} certificates; give the CA certificate alone, and its issuers as the chain",
                found.len()
            ),
        ));
    }
    Ok(found.remove(0))
}

/// Encodes a certificate as PEM with 64-character lines and LF line ends.
pub(super) fn certificate_pem(der: &[u8]) -> Result<String> {
    der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, der)
        .map_err(|e| Error::crypto("encoding a certificate as PEM", der::Error::from(e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::software::SoftwareKey;
    use crate::key::KeyAlgorithm;

    fn full_subject() -> SubjectName {
        SubjectName {
            common_name: "Prüf-CA".to_owned(),
            organization: Some("Example".to_owned()),
            organizational_unit: Some("PKI".to_owned()),
            locality: Some("Berlin".to_owned()),
            state: Some("Berlin".to_owned()),
            country: Some("DE".to_owned()),
            email: Some("pki@example.org".to_owned()),
        }
    }

    #[test]
    fn subject_is_encoded_as_subject_name_encodes_it() {
        let key = SoftwareKey::generate(KeyAlgorithm::Ed25519).expect("generate");
        let subject = full_subject();

        let der = self_signed_certificate(&subject, 1, &key).expect("certificate");

        let certificate = parse_certificate("test", &der).expect("parse");
        let expected = subject.to_der().expect("encode");
        assert_eq!(certificate.subject().as_raw(), expected.as_slice());
        assert_eq!(certificate.issuer().as_raw(), expected.as_slice());
    }

    #[test]
    fn serial_number_is_one_and_validity_is_backdated() {
        let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).expect("generate");
        let before = OffsetDateTime::now_utc();

        let der = self_signed_certificate(&SubjectName::common_name("CA"), 10, &key)
            .expect("certificate");

        let certificate = parse_certificate("test", &der).expect("parse");
        assert_eq!(certificate.raw_serial(), [1]);
        let not_before = certificate.validity().not_before.to_datetime();
        let not_after = certificate.validity().not_after.to_datetime();
        let backdate = before - not_before;
        assert!(
            backdate > BACKDATE - Duration::seconds(2)
                && backdate <= BACKDATE + Duration::seconds(1),
            "{backdate}"
        );
        assert_eq!(not_after - not_before, Duration::days(10) + BACKDATE);
        verify_issued_by(&der, key.public_key().as_bytes()).expect("signature verifies");
    }

    #[test]
    fn signature_by_another_key_does_not_verify() {
        let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).expect("generate");
        let other = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).expect("generate");
        let der = self_signed_certificate(&SubjectName::common_name("CA"), 10, &key)
            .expect("certificate");

        assert!(verify_issued_by(&der, other.public_key().as_bytes()).is_err());
    }

    #[test]
    fn pem_with_two_certificates_is_not_a_single_certificate() {
        let key = SoftwareKey::generate(KeyAlgorithm::Ed25519).expect("generate");
        let der = self_signed_certificate(&SubjectName::common_name("CA"), 10, &key)
            .expect("certificate");
        let one = certificate_pem(&der).expect("pem");
        let two = format!("{one}{one}");

        assert_eq!(single_certificate(one.as_bytes()).expect("one"), der);
        let error = single_certificate(two.as_bytes()).expect_err("two");
        assert!(
            error.to_string().contains("holds 2 certificates"),
            "{error}"
        );
        let error = single_certificate(b"no PEM here").expect_err("none");
        assert!(error.to_string().contains("no PEM certificate"), "{error}");
    }
}
