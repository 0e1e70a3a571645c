//! Building and signing a certificate from a verified CSR.
//!
//! The TBSCertificate is assembled from x509-cert and der types, with the
//! issuer, subject and SubjectPublicKeyInfo copied as raw DER. rcgen cannot be
//! used here because it re-encodes a subject from its own name type, which
//! loses the requester's string types and multi-valued RDNs. Decoding into
//! x509-cert's `Name` and encoding again is not safe either, because its
//! SET OF decoder sorts the attributes of a multi-valued RDN.

use const_oid::db::rfc5280::{
    ID_CE_AUTHORITY_KEY_IDENTIFIER, ID_CE_BASIC_CONSTRAINTS, ID_CE_EXT_KEY_USAGE, ID_CE_KEY_USAGE,
    ID_CE_SUBJECT_ALT_NAME, ID_CE_SUBJECT_KEY_IDENTIFIER,
};
use const_oid::ObjectIdentifier;
use der::asn1::{AnyRef, BitString, GeneralizedTime, OctetString, UtcTime};
use der::{Decode, Encode, Sequence};
use sha1::{Digest, Sha1};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoRef};
use time::{Duration, OffsetDateTime};
use x509_cert::certificate::Version;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, SubjectKeyIdentifier};
use x509_cert::ext::Extension;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;

use super::profile::{Profile, Usage};
use crate::csr::CertificateRequest;
use crate::key::verify::verify_with;
use crate::key::{Signer, SubjectPublicKeyInfoDer};
use crate::{Error, Result};

/// How far notBefore is set before the time of issuance, so that a relying
/// party whose clock is a little behind the CA's accepts the certificate at once.
pub const CLOCK_SKEW_ALLOWANCE: Duration = Duration::minutes(5);

/// The default validity of issued certificates, in days.
pub const DEFAULT_VALIDITY_DAYS: u32 = 365;

/// The first year that RFC 5280 (section 4.1.2.5) encodes as GeneralizedTime
/// instead of UTCTime.
const FIRST_GENERALIZED_TIME_YEAR: i32 = 2050;

/// The parts of the CA certificate that the builder uses, parsed once.
#[derive(Debug, Clone)]
pub struct CaIdentity {
    subject_der: Vec<u8>,
    subject: String,
    key_identifier: Vec<u8>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    path_length: Option<u32>,
    public_key: SubjectPublicKeyInfoDer,
}

impl CaIdentity {
    /// Reads the CA certificate (DER).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCertificate`] when the certificate cannot be parsed, is
    /// not a CA certificate (basicConstraints cA is not TRUE), or has a
    /// keyUsage without keyCertSign.
    pub fn from_der(ca_certificate_der: &[u8]) -> Result<Self> {
        let invalid =
            |reason: String, source: Option<crate::error::Cause>| Error::InvalidCertificate {
                what: "CA certificate".to_owned(),
                reason,
                source,
            };
        let (rest, certificate) = x509_parser::certificate::X509Certificate::from_der(
            ca_certificate_der,
        )
        .map_err(|e| {
            invalid(
                "it cannot be parsed as DER X.509".to_owned(),
                Some(Box::new(e)),
            )
        })?;
        if !rest.is_empty() {
            return Err(invalid(
                format!("{} bytes follow the certificate", rest.len()),
                None,
            ));
        }
        let subject = certificate.subject().to_string();

        let basic_constraints = certificate.basic_constraints().map_err(|e| {
            invalid(
                "its basicConstraints is invalid".to_owned(),
                Some(Box::new(e)),
            )
        })?;
        let Some(basic_constraints) = basic_constraints.filter(|bc| bc.value.ca) else {
            return Err(invalid(
                format!("{subject} is not a CA certificate (basicConstraints cA is not TRUE)"),
                None,
            ));
        };
        let key_usage = certificate
            .key_usage()
            .map_err(|e| invalid("its keyUsage is invalid".to_owned(), Some(Box::new(e))))?;
        if key_usage.is_some_and(|ku| !ku.value.key_cert_sign()) {
            return Err(invalid(
                format!("the keyUsage of {subject} lacks keyCertSign"),
                None,
            ));
        }

        let public_key = certificate.public_key();
        let key_identifier = certificate
            .extensions()
            .iter()
            .find_map(|extension| match extension.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
                _ => None,
            })
            .unwrap_or_else(|| key_identifier_of(public_key.subject_public_key.as_ref()));

        let validity = certificate.validity();
        let to_time = |time: &x509_parser::time::ASN1Time| {
            OffsetDateTime::from_unix_timestamp(time.timestamp())
                .map_err(|e| invalid("its validity is out of range".to_owned(), Some(Box::new(e))))
        };

        Ok(CaIdentity {
            subject_der: certificate.subject().as_raw().to_vec(),
            key_identifier,
            not_before: to_time(&validity.not_before)?,
            not_after: to_time(&validity.not_after)?,
            path_length: basic_constraints.value.path_len_constraint,
            public_key: SubjectPublicKeyInfoDer(public_key.raw.to_vec()),
            subject,
        })
    }

    /// The CA's subject name as encoded in its certificate, which issued
    /// certificates carry as their issuer.
    pub fn subject_der(&self) -> &[u8] {
        &self.subject_der
    }

    /// The CA's subject name for people.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The key identifier issued certificates carry in authorityKeyIdentifier:
    /// the CA certificate's subjectKeyIdentifier, or the SHA-1 of its public
    /// key when it has none.
    pub fn key_identifier(&self) -> &[u8] {
        &self.key_identifier
    }

    /// The start of the CA certificate's validity.
    pub fn not_before(&self) -> OffsetDateTime {
        self.not_before
    }

    /// The end of the CA certificate's validity; no issued certificate outlives it.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// The CA certificate's SubjectPublicKeyInfo.
    pub fn public_key(&self) -> &SubjectPublicKeyInfoDer {
        &self.public_key
    }
}

/// The operator's choices for one certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssueParams {
    /// The serial number, which equals the certificate number; must be positive.
    pub serial: u64,
    /// The profile.
    pub usage: Usage,
    /// The validity in days, at least 1. The certificate ends earlier when the
    /// CA certificate does.
    pub validity_days: u32,
    /// The time of issuance, which tests set to a fixed value.
    pub now: OffsetDateTime,
}

impl IssueParams {
    /// Parameters for `serial` with the default usage (`tls`), 365 days and the current time.
    pub fn new(serial: u64) -> Self {
        IssueParams {
            serial,
            usage: Usage::default(),
            validity_days: DEFAULT_VALIDITY_DAYS,
            now: OffsetDateTime::now_utc(),
        }
    }
}

/// TBSCertificate (RFC 5280, section 4.1) with the names and the key as raw DER.
#[derive(Sequence)]
struct TbsCertificate<'a> {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    version: Version,
    serial_number: SerialNumber,
    signature: AlgorithmIdentifierOwned,
    issuer: AnyRef<'a>,
    validity: Validity,
    subject: AnyRef<'a>,
    subject_public_key_info: AnyRef<'a>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT")]
    extensions: Vec<Extension>,
}

/// Certificate (RFC 5280, section 4.1) around an already encoded TBSCertificate.
#[derive(Sequence)]
struct SignedCertificate<'a> {
    tbs_certificate: AnyRef<'a>,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: BitString,
}

/// Builds the certificate for `request` under the CA `ca`, signs it with
/// `signer` and returns its DER encoding.
///
/// The subject and SubjectPublicKeyInfo are the CSR's, byte for byte; the
/// extensions are those of `params.usage` for the CSR's key type, plus the
/// CSR's subjectAltName. The signature is verified with the CA's public key
/// before the certificate is returned.
///
/// # Errors
///
/// - [`Error::InvalidInput`] for a serial number of 0, a validity of 0 days,
///   a signer whose key is not the CA's, a CA certificate that has expired
///   by `params.now`, or a sub-CA under a CA whose path length is 0,
/// - the signer's errors,
/// - [`Error::Signature`] when the signer returned a signature that does not
///   verify with the CA's public key,
/// - [`Error::Crypto`] when encoding fails.
pub fn build_certificate(
    ca: &CaIdentity,
    signer: &dyn Signer,
    request: &CertificateRequest,
    params: &IssueParams,
) -> Result<Vec<u8>> {
    check_params(ca, signer, params)?;
    let validity = validity(ca, params)?;

    let serial_number = serial_number(params.serial)?;
    let algorithm = signer.signature_algorithm();

    let extensions = extensions(ca, request, params.usage)?;
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number,
        signature: algorithm.algorithm_identifier(),
        issuer: decode_any(ca.subject_der())?,
        validity,
        subject: decode_any(request.subject_der())?,
        subject_public_key_info: decode_any(request.public_key().as_bytes())?,
        extensions,
    };
    let tbs_der = tbs
        .to_der()
        .map_err(|e| Error::crypto("encoding the TBSCertificate", e))?;

    let signature = signer.sign(&tbs_der)?;
    // A key store (a token in particular) that returns a wrong signature
    // must not produce a certificate.
    verify_with(ca.public_key(), algorithm, &tbs_der, &signature)?;

    let certificate = SignedCertificate {
        tbs_certificate: decode_any(&tbs_der)?,
        signature_algorithm: algorithm.algorithm_identifier(),
        signature: BitString::from_bytes(&signature)
            .map_err(|e| Error::crypto("encoding the signature", e))?,
    };
    let der = certificate
        .to_der()
        .map_err(|e| Error::crypto("encoding the certificate", e))?;
    tracing::debug!(
        serial = params.serial,
        usage = %params.usage,
        subject = request.subject(),
        "built certificate"
    );
    Ok(der)
}

fn decode_any(der: &[u8]) -> Result<AnyRef<'_>> {
    AnyRef::from_der(der).map_err(|e| Error::crypto("reading a DER value", e))
}

fn check_params(ca: &CaIdentity, signer: &dyn Signer, params: &IssueParams) -> Result<()> {
    if params.validity_days == 0 {
        return Err(Error::invalid_input(
            "validity",
            "0 days; give at least 1 day",
        ));
    }
    if !same_key(signer.public_key(), ca.public_key()) {
        return Err(Error::invalid_input(
            "CA key",
            format!(
                "the signer's public key is not the key of the CA certificate {}; unlock the CA's own key",
                ca.subject()
            ),
        ));
    }
    if params.usage.is_ca() && ca.path_length == Some(0) {
        return Err(Error::invalid_input(
            "usage",
            format!(
                "{} cannot issue a sub-CA certificate because its pathLenConstraint is 0",
                ca.subject()
            ),
        ));
    }
    Ok(())
}

/// Encodes `serial` as a positive INTEGER in the fewest bytes: a leading zero
/// byte only when the high bit is set (2 is `02 01 02`, 128 is `02 02 00 80`).
fn serial_number(serial: u64) -> Result<SerialNumber> {
    if serial == 0 {
        return Err(Error::invalid_input(
            "serial number",
            "0 is not allowed because RFC 5280 serial numbers are positive; start at 1",
        ));
    }
    // `Uint` strips the leading zero bytes and adds one back where the high bit is set.
    SerialNumber::new(&serial.to_be_bytes())
        .map_err(|e| Error::crypto(format!("encoding the serial number {serial}"), e))
}

/// Compares two SubjectPublicKeyInfos by algorithm and key bits, so that an
/// RSA key written with and without NULL parameters still matches.
fn same_key(a: &SubjectPublicKeyInfoDer, b: &SubjectPublicKeyInfoDer) -> bool {
    if a == b {
        return true;
    }
    let (Ok(a), Ok(b)) = (
        SubjectPublicKeyInfoRef::from_der(a.as_bytes()),
        SubjectPublicKeyInfoRef::from_der(b.as_bytes()),
    ) else {
        return false;
    };
    a.algorithm.oid == b.algorithm.oid && a.subject_public_key == b.subject_public_key
}

/// Computes the validity. notBefore is `now` less the clock skew allowance,
/// but not before the CA certificate's notBefore. notAfter is `now` plus the
/// validity days, but not after the CA certificate's notAfter.
fn validity(ca: &CaIdentity, params: &IssueParams) -> Result<Validity> {
    let now = params.now;
    if now >= ca.not_after() {
        return Err(Error::invalid_input(
            "CA certificate",
            format!(
                "{} expired at {}; renew the CA certificate before issuing",
                ca.subject(),
                ca.not_after()
            ),
        ));
    }
    let not_before = (now - CLOCK_SKEW_ALLOWANCE).max(ca.not_before());
    let requested_end = now + Duration::days(i64::from(params.validity_days));
    let not_after = requested_end.min(ca.not_after());
    if not_after < requested_end {
        tracing::info!(
            ca_not_after = %ca.not_after(),
            "certificate validity shortened to end with the CA certificate"
        );
    }
    Ok(Validity {
        not_before: encode_time(not_before)?,
        not_after: encode_time(not_after)?,
    })
}

/// Encodes a time as RFC 5280 requires: UTCTime through 2049, GeneralizedTime
/// from 2050, in whole seconds.
///
/// # Errors
///
/// [`Error::Crypto`] for a year before 1970 or after 9999, which `der::DateTime` cannot hold.
pub fn encode_time(time: OffsetDateTime) -> Result<Time> {
    let time = time.to_offset(time::UtcOffset::UTC);
    let invalid = |e: der::Error| Error::crypto(format!("encoding the time {time}"), e);
    let year = u16::try_from(time.year())
        .map_err(|e| Error::crypto(format!("encoding the time {time}"), e))?;
    let date_time = der::DateTime::new(
        year,
        u8::from(time.month()),
        time.day(),
        time.hour(),
        time.minute(),
        time.second(),
    )
    .map_err(invalid)?;
    if time.year() < FIRST_GENERALIZED_TIME_YEAR {
        Ok(Time::UtcTime(
            UtcTime::from_date_time(date_time).map_err(invalid)?,
        ))
    } else {
        Ok(Time::GeneralTime(GeneralizedTime::from_date_time(
            date_time,
        )))
    }
}

/// Computes a key identifier by RFC 5280's method 1: the SHA-1 of the
/// subjectPublicKey BIT STRING's value.
pub fn key_identifier_of(subject_public_key: &[u8]) -> Vec<u8> {
    Sha1::digest(subject_public_key).to_vec()
}

fn extensions(
    ca: &CaIdentity,
    request: &CertificateRequest,
    usage: Usage,
) -> Result<Vec<Extension>> {
    let profile = Profile::new(usage, request.key_kind());
    let mut extensions = vec![
        extension(ID_CE_BASIC_CONSTRAINTS, true, &profile.basic_constraints)?,
        extension(ID_CE_KEY_USAGE, true, &profile.key_usage)?,
    ];
    if let Some(extended_key_usage) = &profile.extended_key_usage {
        extensions.push(extension(ID_CE_EXT_KEY_USAGE, false, extended_key_usage)?);
    }

    let subject_key = SubjectPublicKeyInfoRef::from_der(request.public_key().as_bytes())
        .map_err(|e| Error::crypto("reading the CSR's public key", e))?;
    let subject_key_identifier = key_identifier_of(subject_key.subject_public_key.raw_bytes());
    extensions.push(extension(
        ID_CE_SUBJECT_KEY_IDENTIFIER,
        false,
        &SubjectKeyIdentifier(octet_string(subject_key_identifier)?),
    )?);

    let authority_key_identifier = AuthorityKeyIdentifier {
        key_identifier: Some(octet_string(ca.key_identifier().to_vec())?),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    };
    extensions.push(extension(
        ID_CE_AUTHORITY_KEY_IDENTIFIER,
        false,
        &authority_key_identifier,
    )?);

    if let Some(names) = request.subject_alt_name_der() {
        // RFC 5280, section 4.2.1.6: subjectAltName MUST be critical when the subject is empty.
        extensions.push(Extension {
            extn_id: ID_CE_SUBJECT_ALT_NAME,
            critical: request.subject_is_empty(),
            extn_value: octet_string(names.to_vec())?,
        });
    }
    Ok(extensions)
}

fn extension(oid: ObjectIdentifier, critical: bool, value: &impl Encode) -> Result<Extension> {
    let der = value
        .to_der()
        .map_err(|e| Error::crypto(format!("encoding the extension {oid}"), e))?;
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: octet_string(der)?,
    })
}

fn octet_string(bytes: Vec<u8>) -> Result<OctetString> {
    OctetString::new(bytes).map_err(|e| Error::crypto("encoding an OCTET STRING", e))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::path::Path;

    use certa_test_support::{openssl, openssl_ok};
    use x509_cert::Certificate;

    use super::*;
    use crate::key::software::SoftwareKey;

    fn serial_der(serial: u64) -> Vec<u8> {
        serial_number(serial).unwrap().to_der().unwrap()
    }

    #[test]
    fn serial_two_one_byte() {
        assert_eq!(serial_der(2), [0x02, 0x01, 0x02]);
    }

    #[test]
    fn serial_127_one_byte() {
        assert_eq!(serial_der(127), [0x02, 0x01, 0x7f]);
    }

    #[test]
    fn serial_128_leading_zero() {
        assert_eq!(serial_der(128), [0x02, 0x02, 0x00, 0x80]);
    }

    #[test]
    fn serial_256_two_bytes() {
        assert_eq!(serial_der(256), [0x02, 0x02, 0x01, 0x00]);
    }

    #[test]
    fn serial_max_nine_bytes() {
        let mut expected = vec![0x02, 0x09, 0x00];
        expected.extend_from_slice(&[0xff; 8]);
        assert_eq!(serial_der(u64::MAX), expected);
    }

    #[test]
    fn serial_zero_refused() {
        let error = serial_number(0).unwrap_err();
        assert!(matches!(error, Error::InvalidInput { .. }), "{error}");
    }

    fn at(year: i32, month: time::Month, day: u8) -> OffsetDateTime {
        time::Date::from_calendar_date(year, month, day)
            .unwrap()
            .with_hms(12, 30, 15)
            .unwrap()
            .assume_utc()
    }

    #[test]
    fn time_2049_utc_time() {
        let encoded = encode_time(at(2049, time::Month::December, 31)).unwrap();
        assert!(matches!(encoded, Time::UtcTime(_)), "{encoded:?}");
        assert_eq!(encoded.to_der().unwrap()[2..], *b"491231123015Z");
    }

    #[test]
    fn time_2050_generalized_time() {
        let encoded = encode_time(at(2050, time::Month::January, 1)).unwrap();
        assert!(matches!(encoded, Time::GeneralTime(_)), "{encoded:?}");
        assert_eq!(encoded.to_der().unwrap()[2..], *b"20500101123015Z");
    }

    #[test]
    fn time_drops_fractions() {
        let time = at(2030, time::Month::March, 3)
            .replace_millisecond(999)
            .unwrap();
        let encoded = encode_time(time).unwrap();
        assert_eq!(encoded.to_der().unwrap()[2..], *b"300303123015Z");
    }

    fn run(dir: &Path, args: &[&str]) {
        let mut full: Vec<std::ffi::OsString> = Vec::new();
        for arg in args {
            full.push(match arg.strip_prefix('@') {
                Some(name) => dir.join(name).into_os_string(),
                None => arg.into(),
            });
        }
        openssl_ok(&full);
    }

    /// Issues a certificate in 2049 for 365 days under a CA valid past 2060,
    /// so that notBefore is a UTCTime and notAfter a GeneralizedTime.
    #[test]
    fn validity_crossing_2050_switches_encoding() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path();
        // About 34 years from 2026 reach past 2060.
        run(
            path,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "@ca.key",
                "-out",
                "@ca.pem",
                "-days",
                "12800",
                "-subj",
                "/CN=Long CA",
            ],
        );
        run(
            path,
            &[
                "pkcs8",
                "-topk8",
                "-nocrypt",
                "-in",
                "@ca.key",
                "-outform",
                "DER",
                "-out",
                "@ca.key.der",
            ],
        );
        run(
            path,
            &[
                "x509", "-in", "@ca.pem", "-outform", "DER", "-out", "@ca.der",
            ],
        );
        run(
            path,
            &["genpkey", "-algorithm", "ED25519", "-out", "@leaf.key"],
        );
        run(
            path,
            &[
                "req",
                "-new",
                "-key",
                "@leaf.key",
                "-subj",
                "/CN=leaf",
                "-out",
                "@leaf.csr",
            ],
        );

        let ca = CaIdentity::from_der(&std::fs::read(path.join("ca.der")).unwrap()).unwrap();
        assert!(ca.not_after().year() >= 2060, "{}", ca.not_after());
        let key =
            SoftwareKey::from_pkcs8_der(&std::fs::read(path.join("ca.key.der")).unwrap()).unwrap();
        let request =
            CertificateRequest::from_bytes(&std::fs::read(path.join("leaf.csr")).unwrap()).unwrap();
        let params = IssueParams {
            serial: 2,
            usage: Usage::Tls,
            validity_days: 365,
            now: at(2049, time::Month::December, 1),
        };
        let der = build_certificate(&ca, &key, &request, &params).unwrap();

        let certificate = Certificate::from_der(&der).unwrap();
        let validity = certificate.tbs_certificate.validity;
        assert!(
            matches!(validity.not_before, Time::UtcTime(_)),
            "{validity:?}"
        );
        assert!(
            matches!(validity.not_after, Time::GeneralTime(_)),
            "{validity:?}"
        );

        std::fs::write(path.join("leaf.der"), &der).unwrap();
        run(
            path,
            &[
                "x509",
                "-inform",
                "DER",
                "-in",
                "@leaf.der",
                "-out",
                "@leaf.pem",
            ],
        );
        // 2050-06-01T00:00:00Z, inside the certificate's validity.
        let output = openssl([
            "verify".as_ref(),
            "-attime".as_ref(),
            "2537654400".as_ref(),
            "-CAfile".as_ref(),
            path.join("ca.pem").as_os_str(),
            path.join("leaf.pem").as_os_str(),
        ]);
        assert!(output.success, "{}{}", output.stdout, output.stderr);
        certa_test_support::assert_pkilint_clean(&path.join("leaf.pem"));
    }
}
