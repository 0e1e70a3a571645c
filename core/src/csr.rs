//! CSR intake: parsing a PKCS#10 certificate signing request once, checking
//! its signature (proof of possession of the private key) and certa's policy.
//!
//! A [`CertificateRequest`] keeps the raw DER of what the certificate takes
//! from it: the subject name byte for byte (string types, order and
//! multi-valued RDNs as the requester encoded them), the SubjectPublicKeyInfo,
//! and the subjectAltName extension. Every other requested extension
//! (keyUsage, extendedKeyUsage, basicConstraints, ...) is read past and
//! never copied, because the CA decides those.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use base64::Engine as _;
use const_oid::db::{rfc5912, rfc8410};
use const_oid::ObjectIdentifier;
use der::asn1::{AnyRef, BitStringRef};
use der::{Decode, Encode, Sequence};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoRef};
use x509_parser::certification_request::X509CertificationRequestInfo;
use x509_parser::cri_attributes::ParsedCriAttribute;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;
use x509_parser::x509::X509Version;

use crate::error::Cause;
use crate::fingerprint::Fingerprints;
use crate::key::verify::{describe_oid, rsa_public_key, verify_signature, SignatureError};
use crate::key::SubjectPublicKeyInfoDer;
use crate::{Error, Result};

/// The largest CSR accepted, in bytes of the input as given (PEM or DER),
/// checked before any parsing.
///
/// An RSA-4096 CSR made by OpenSSL 3.0 is 1630 bytes as PEM, and 5977 bytes
/// with 100 DNS names of 30 characters, so 32 KiB holds about 500 such names.
/// It is also below half of the HTTP API's default 64 KiB body limit, so a
/// CSR this large still fits a request body after JSON escaping.
pub const MAX_CSR_SIZE: usize = 32 * 1024;

/// The smallest RSA modulus accepted in a CSR, in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// PEM labels of a CSR: RFC 7468's, and the older `NEW CERTIFICATE REQUEST`
/// that some tools still write.
const PEM_LABELS: [&str; 2] = ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"];

/// The reason a CSR was rejected, for matching in code and tests. The
/// error's message names the value involved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CsrErrorKind {
    /// The input is empty or only white space.
    Empty,
    /// The input is larger than [`MAX_CSR_SIZE`].
    TooLarge,
    /// The PEM armour, base64 or DER encoding is broken.
    Malformed,
    /// The DER encoding ends before the CSR does.
    Truncated,
    /// Bytes follow the CSR's DER encoding.
    TrailingData,
    /// The CSR is signed with an algorithm certa does not verify.
    UnsupportedSignatureAlgorithm,
    /// The signature does not verify with the CSR's public key, so the
    /// requester has not proven possession of the private key.
    BadSignature,
    /// An RSA key under [`MIN_RSA_BITS`].
    WeakKey,
    /// A key algorithm certa does not certify (DSA, RSASSA-PSS keys, Ed448, ...).
    UnsupportedKeyAlgorithm,
    /// An EC key on a curve other than P-256 and P-384.
    UnsupportedCurve,
    /// The CSR has neither a subject name nor a subjectAltName.
    MissingSubject,
    /// Any other reason, given by the message.
    Other,
}

/// The algorithm and size of a CSR's public key, as far as certificate
/// profiles and operators care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PublicKeyKind {
    /// An EC key on NIST P-256.
    EcdsaP256,
    /// An EC key on NIST P-384.
    EcdsaP384,
    /// An rsaEncryption key with a modulus of `bits` bits.
    Rsa {
        /// The modulus size.
        bits: usize,
    },
    /// An Ed25519 key.
    Ed25519,
}

impl PublicKeyKind {
    /// Whether the key is an RSA key, which can also encipher keys.
    pub fn is_rsa(self) -> bool {
        matches!(self, PublicKeyKind::Rsa { .. })
    }

    /// Whether the key is an EC key, which can also agree on keys (ECDH).
    pub fn is_ec(self) -> bool {
        matches!(self, PublicKeyKind::EcdsaP256 | PublicKeyKind::EcdsaP384)
    }
}

impl fmt::Display for PublicKeyKind {
    /// Writes `ECDSA P-256`, `RSA 3072` or `Ed25519`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublicKeyKind::EcdsaP256 => f.write_str("ECDSA P-256"),
            PublicKeyKind::EcdsaP384 => f.write_str("ECDSA P-384"),
            PublicKeyKind::Rsa { bits } => write!(f, "RSA {bits}"),
            PublicKeyKind::Ed25519 => f.write_str("Ed25519"),
        }
    }
}

/// A parsed, verified PKCS#10 certificate signing request.
#[derive(Clone)]
pub struct CertificateRequest {
    der: Vec<u8>,
    subject_der: Vec<u8>,
    subject: String,
    subject_is_empty: bool,
    public_key: SubjectPublicKeyInfoDer,
    key_kind: PublicKeyKind,
    signature_algorithm: AlgorithmIdentifierOwned,
    subject_alt_names: Vec<String>,
    subject_alt_name_der: Option<Vec<u8>>,
    fingerprints: Fingerprints,
}

impl fmt::Debug for CertificateRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateRequest")
            .field("subject", &self.subject)
            .field("key", &self.key_kind)
            .field("subject_alt_names", &self.subject_alt_names)
            .field("sha256", &self.fingerprints.sha256)
            .finish_non_exhaustive()
    }
}

/// CertificationRequest (RFC 2986, section 4.2), with the signed part kept raw.
#[derive(Sequence)]
struct SignedRequest<'a> {
    info: AnyRef<'a>,
    algorithm: AlgorithmIdentifierOwned,
    signature: BitStringRef<'a>,
}

impl CertificateRequest {
    /// Parses a CSR from PEM (label `CERTIFICATE REQUEST` or `NEW CERTIFICATE
    /// REQUEST`, any line ends, text before or after the block) or DER,
    /// verifies its signature and applies certa's policy.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCsr`] with a [`CsrErrorKind`] saying why: empty or
    /// oversized input, broken, truncated or trailing encoding, an unsupported
    /// signature algorithm or a bad signature, an RSA key under 2048 bits, an
    /// unsupported key algorithm or curve, or neither subject nor subjectAltName.
    pub fn from_bytes(input: &[u8]) -> Result<Self> {
        if input.iter().all(u8::is_ascii_whitespace) {
            return Err(csr_error(
                CsrErrorKind::Empty,
                "the CSR is empty; send a PEM or DER PKCS#10 request",
            ));
        }
        if input.len() > MAX_CSR_SIZE {
            return Err(csr_error(
                CsrErrorKind::TooLarge,
                format!(
                    "the CSR has {} bytes, over the maximum of {MAX_CSR_SIZE}",
                    input.len()
                ),
            ));
        }

        let der = decode_input(input)?;
        Self::from_der_checked(der)
    }

    fn from_der_checked(der: Vec<u8>) -> Result<Self> {
        AnyRef::from_der(&der).map_err(outer_der_error)?;
        let signed = SignedRequest::from_der(&der).map_err(|e| malformed("CSR", e))?;
        let info_der = signed
            .info
            .to_der()
            .map_err(|e| malformed("CertificationRequestInfo", e))?;
        let (rest, info) = X509CertificationRequestInfo::from_der(&info_der)
            .map_err(|e| parse_error("CertificationRequestInfo", e))?;
        if !rest.is_empty() {
            return Err(csr_error(
                CsrErrorKind::TrailingData,
                format!("{} bytes follow the CertificationRequestInfo", rest.len()),
            ));
        }
        if info.version != X509Version(0) {
            return Err(csr_error(
                CsrErrorKind::Malformed,
                format!(
                    "the CSR has version {}; PKCS#10 defines only version 1 (0)",
                    info.version.0
                ),
            ));
        }

        let public_key_der = info.subject_pki.raw.to_vec();
        let key_kind = check_public_key(&public_key_der)?;

        verify_proof_of_possession(&public_key_der, &signed, &info_der)?;

        let subject_der = info.subject.as_raw().to_vec();
        let subject_name = x509_cert::name::Name::from_der(&subject_der)
            .map_err(|e| malformed("subject name", e))?;
        let subject_is_empty = subject_name.0.is_empty();
        let (subject_alt_names, subject_alt_name_der) = read_subject_alt_name(&info)?;
        if subject_is_empty && subject_alt_names.is_empty() {
            return Err(csr_error(
                CsrErrorKind::MissingSubject,
                "the CSR has neither a subject name nor a subjectAltName; give at least one",
            ));
        }

        let request = CertificateRequest {
            subject: info.subject.to_string(),
            fingerprints: Fingerprints::of(&der),
            subject_is_empty,
            subject_der,
            public_key: SubjectPublicKeyInfoDer(public_key_der),
            key_kind,
            signature_algorithm: signed.algorithm,
            subject_alt_names,
            subject_alt_name_der,
            der,
        };
        tracing::debug!(
            subject = %request.subject,
            key = %request.key_kind,
            sha256 = %request.fingerprints.sha256,
            "parsed CSR"
        );
        Ok(request)
    }

    /// The CSR's DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The CSR as PEM, labelled `CERTIFICATE REQUEST`, with LF line ends.
    pub fn to_pem(&self) -> String {
        let encoded = base64::engine::general_purpose::STANDARD.encode(&self.der);
        let mut pem = String::from("-----BEGIN CERTIFICATE REQUEST-----\n");
        for line in encoded.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE REQUEST-----\n");
        pem
    }

    /// The subject name's DER encoding, exactly as in the CSR.
    pub fn subject_der(&self) -> &[u8] {
        &self.subject_der
    }

    /// The subject name for people (`CN=host.example, O=Example`); empty when
    /// the CSR has an empty subject.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Whether the subject name has no RDN at all, in which case the
    /// certificate's subjectAltName must be critical.
    pub fn subject_is_empty(&self) -> bool {
        self.subject_is_empty
    }

    /// The SubjectPublicKeyInfo, exactly as in the CSR.
    pub fn public_key(&self) -> &SubjectPublicKeyInfoDer {
        &self.public_key
    }

    /// The key's algorithm and size.
    pub fn key_kind(&self) -> PublicKeyKind {
        self.key_kind
    }

    /// The key's algorithm and size for people: `ECDSA P-256`, `RSA 3072`, `Ed25519`.
    pub fn key_description(&self) -> String {
        self.key_kind.to_string()
    }

    /// The algorithm the requester signed the CSR with.
    pub fn signature_algorithm(&self) -> &AlgorithmIdentifierOwned {
        &self.signature_algorithm
    }

    /// The requested subject alternative names for people, in order:
    /// `DNS:a.example`, `IP:10.0.0.1`, `email:x@example.com`, `URI:https://...`.
    pub fn subject_alt_names(&self) -> &[String] {
        &self.subject_alt_names
    }

    /// The requested subjectAltName extension's value (the DER of its
    /// GeneralNames), as the certificate carries it; `None` when none was requested.
    pub fn subject_alt_name_der(&self) -> Option<&[u8]> {
        self.subject_alt_name_der.as_deref()
    }

    /// The SHA-1 and SHA-256 fingerprints of the CSR's DER encoding.
    pub fn fingerprints(&self) -> &Fingerprints {
        &self.fingerprints
    }
}

fn csr_error(kind: CsrErrorKind, reason: impl Into<String>) -> Error {
    Error::InvalidCsr {
        kind,
        reason: reason.into(),
        source: None,
    }
}

fn csr_error_from(
    kind: CsrErrorKind,
    reason: impl Into<String>,
    source: impl Into<Cause>,
) -> Error {
    Error::InvalidCsr {
        kind,
        reason: reason.into(),
        source: Some(source.into()),
    }
}

/// Maps a DER error of the outermost TLV: a length beyond the input means a
/// truncated CSR, bytes after it mean trailing data.
fn outer_der_error(error: der::Error) -> Error {
    let (kind, reason) = match error.kind() {
        der::ErrorKind::Incomplete { .. } => (
            CsrErrorKind::Truncated,
            "the CSR is truncated; send the whole request".to_owned(),
        ),
        der::ErrorKind::TrailingData { decoded, remaining } => (
            CsrErrorKind::TrailingData,
            format!(
                "{remaining} bytes follow the CSR's {decoded}-byte DER encoding; send the request alone"
            ),
        ),
        _ => (
            CsrErrorKind::Malformed,
            "the CSR is not valid DER".to_owned(),
        ),
    };
    csr_error_from(kind, reason, error)
}

/// Maps a DER error inside the CSR, whose outer length is already checked.
fn malformed(what: &str, error: der::Error) -> Error {
    csr_error_from(
        CsrErrorKind::Malformed,
        format!("the {what} is not valid DER"),
        error,
    )
}

fn parse_error(what: &str, error: x509_parser::nom::Err<x509_parser::error::X509Error>) -> Error {
    csr_error_from(
        CsrErrorKind::Malformed,
        format!("the {what} cannot be parsed"),
        error,
    )
}

/// Turns PEM or DER input into DER bytes.
fn decode_input(input: &[u8]) -> Result<Vec<u8>> {
    // A DER CertificationRequest starts with a SEQUENCE tag; PEM is text.
    if input.first() == Some(&0x30) {
        return Ok(input.to_vec());
    }
    let Ok(text) = std::str::from_utf8(input) else {
        return Err(csr_error(
            CsrErrorKind::Malformed,
            "the CSR is neither DER (it does not start with a SEQUENCE) nor PEM text",
        ));
    };
    decode_pem(text)
}

fn decode_pem(text: &str) -> Result<Vec<u8>> {
    let Some((label, body_start)) = find_begin(text) else {
        return Err(csr_error(
            CsrErrorKind::Malformed,
            "no \"-----BEGIN CERTIFICATE REQUEST-----\" line found; send a PEM or DER PKCS#10 request",
        ));
    };
    let end_line = format!("-----END {label}-----");
    let Some(body_length) = text[body_start..].find(&end_line) else {
        return Err(csr_error(
            CsrErrorKind::Truncated,
            format!("the PEM block has no \"{end_line}\" line; send the whole request"),
        ));
    };
    let after = &text[body_start + body_length + end_line.len()..];
    if find_begin(after).is_some() {
        return Err(csr_error(
            CsrErrorKind::TrailingData,
            "the input holds more than one CSR; send one request at a time",
        ));
    }

    let body: String = text[body_start..body_start + body_length]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .map_err(|e| {
            csr_error_from(
                CsrErrorKind::Malformed,
                format!("the base64 body of the {label} PEM block is invalid"),
                e,
            )
        })
}

/// Finds the first `-----BEGIN <CSR label>-----` line and returns the label
/// and where the body starts. Other PEM blocks before it are skipped.
fn find_begin(text: &str) -> Option<(&'static str, usize)> {
    PEM_LABELS
        .iter()
        .filter_map(|label| {
            let line = format!("-----BEGIN {label}-----");
            text.find(&line)
                .map(|position| (*label, position, position + line.len()))
        })
        .min_by_key(|(_, position, _)| *position)
        .map(|(label, _, body_start)| (label, body_start))
}

/// Checks the key against certa's policy and returns its kind.
fn check_public_key(public_key_der: &[u8]) -> Result<PublicKeyKind> {
    let key = SubjectPublicKeyInfoRef::from_der(public_key_der)
        .map_err(|e| malformed("SubjectPublicKeyInfo", e))?;
    let oid = key.algorithm.oid;

    if oid == rfc5912::ID_EC_PUBLIC_KEY {
        let curve = key.algorithm.parameters_oid().map_err(|e| {
            csr_error_from(
                CsrErrorKind::UnsupportedCurve,
                "the EC key does not name its curve; use a named curve, P-256 or P-384",
                e,
            )
        })?;
        return match curve {
            rfc5912::SECP_256_R_1 => Ok(PublicKeyKind::EcdsaP256),
            rfc5912::SECP_384_R_1 => Ok(PublicKeyKind::EcdsaP384),
            other => Err(csr_error(
                CsrErrorKind::UnsupportedCurve,
                format!(
                    "the EC key is on curve {}; use P-256 (prime256v1) or P-384 (secp384r1)",
                    describe_curve(&other)
                ),
            )),
        };
    }
    if oid == rfc5912::RSA_ENCRYPTION {
        return check_rsa_key(&key);
    }
    if oid == rfc8410::ID_ED_25519 {
        return Ok(PublicKeyKind::Ed25519);
    }
    Err(csr_error(
        CsrErrorKind::UnsupportedKeyAlgorithm,
        format!(
            "the key algorithm {} is not supported; use ECDSA P-256 or P-384, RSA (at least {MIN_RSA_BITS} bits) or Ed25519",
            describe_oid(&oid)
        ),
    ))
}

/// Names the curves that tools commonly offer, because the OID database of
/// `const-oid` 0.9.6 lacks some of them, such as secp256k1.
fn describe_curve(oid: &ObjectIdentifier) -> String {
    let name = match oid.to_string().as_str() {
        "1.3.132.0.10" => "secp256k1",
        "1.3.132.0.33" => "secp224r1",
        "1.3.132.0.34" => "secp384r1",
        "1.3.132.0.35" => "secp521r1",
        "1.2.840.10045.3.1.1" => "secp192r1",
        "1.3.36.3.3.2.8.1.1.7" => "brainpoolP256r1",
        "1.3.36.3.3.2.8.1.1.11" => "brainpoolP384r1",
        "1.3.36.3.3.2.8.1.1.13" => "brainpoolP512r1",
        _ => return describe_oid(oid),
    };
    format!("{oid} ({name})")
}

fn check_rsa_key(key: &SubjectPublicKeyInfoRef<'_>) -> Result<PublicKeyKind> {
    let public_key = rsa_public_key(key).map_err(|e| match e {
        SignatureError::UnsupportedKey { .. } => csr_error_from(
            CsrErrorKind::UnsupportedKeyAlgorithm,
            "the RSA key is too large",
            e,
        ),
        _ => csr_error_from(CsrErrorKind::Malformed, "the RSA public key is invalid", e),
    })?;
    let bits = rsa::traits::PublicKeyParts::n(&public_key).bits();
    if bits < MIN_RSA_BITS {
        return Err(csr_error(
            CsrErrorKind::WeakKey,
            format!("the RSA key has {bits} bits; use at least {MIN_RSA_BITS}"),
        ));
    }
    Ok(PublicKeyKind::Rsa { bits })
}

/// Verifies the CSR's signature with its own public key.
fn verify_proof_of_possession(
    public_key_der: &[u8],
    signed: &SignedRequest<'_>,
    info_der: &[u8],
) -> Result<()> {
    let Some(signature) = signed.signature.as_bytes() else {
        return Err(csr_error(
            CsrErrorKind::Malformed,
            "the signature BIT STRING has unused bits",
        ));
    };
    verify_signature(public_key_der, &signed.algorithm, info_der, signature).map_err(|e| {
        let (kind, next_step) = match &e {
            SignatureError::UnsupportedAlgorithm { .. } => (
                CsrErrorKind::UnsupportedSignatureAlgorithm,
                "sign the CSR with SHA-256 or a stronger hash",
            ),
            SignatureError::UnsupportedKey { .. } => {
                (CsrErrorKind::UnsupportedKeyAlgorithm, "use a supported key")
            }
            SignatureError::InvalidParameters { .. } | SignatureError::InvalidPublicKey { .. } => {
                (CsrErrorKind::Malformed, "re-create the CSR")
            }
            _ => (
                CsrErrorKind::BadSignature,
                "the CSR was changed after signing or not signed with its own key; re-create it",
            ),
        };
        csr_error_from(
            kind,
            format!("the CSR's signature cannot be verified ({e}); {next_step}"),
            e,
        )
    })
}

/// Reads the requested subjectAltName: names for people, and the raw
/// GeneralNames for the certificate.
fn read_subject_alt_name(
    info: &X509CertificationRequestInfo<'_>,
) -> Result<(Vec<String>, Option<Vec<u8>>)> {
    let mut found = None;
    for attribute in info.iter_attributes() {
        let ParsedCriAttribute::ExtensionRequest(request) = attribute.parsed_attribute() else {
            continue;
        };
        for extension in &request.extensions {
            if extension.oid.as_bytes() != SUBJECT_ALT_NAME.as_bytes() {
                continue;
            }
            if found.is_some() {
                return Err(csr_error(
                    CsrErrorKind::Malformed,
                    "the CSR requests subjectAltName more than once; request it once",
                ));
            }
            found = Some(extension);
        }
    }
    let Some(extension) = found else {
        return Ok((Vec::new(), None));
    };

    // The certificate carries these bytes unchanged, so they must be DER.
    x509_cert::ext::pkix::SubjectAltName::from_der(extension.value)
        .map_err(|e| malformed("requested subjectAltName", e))?;
    let ParsedExtension::SubjectAlternativeName(san) = extension.parsed_extension() else {
        return Err(csr_error(
            CsrErrorKind::Malformed,
            "the requested subjectAltName cannot be parsed",
        ));
    };
    let mut names = Vec::with_capacity(san.general_names.len());
    for name in &san.general_names {
        check_general_name(name)?;
        names.push(describe_general_name(name));
    }
    Ok((names, Some(extension.value.to_vec())))
}

const SUBJECT_ALT_NAME: ObjectIdentifier = const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME;

/// Rejects the names that would make the certificate invalid, because the
/// certificate carries the requested subjectAltName unchanged.
fn check_general_name(name: &GeneralName<'_>) -> Result<()> {
    let problem = match name {
        GeneralName::IPAddress(bytes) if bytes.len() != 4 && bytes.len() != 16 => format!(
            "an iPAddress of {} bytes; it MUST have 4 (IPv4) or 16 (IPv6)",
            bytes.len()
        ),
        GeneralName::DNSName("") | GeneralName::RFC822Name("") | GeneralName::URI("") => {
            "an empty name".to_owned()
        }
        GeneralName::Invalid(tag, _) => format!("an undecodable name with tag [{}]", tag.0),
        _ => return Ok(()),
    };
    Err(csr_error(
        CsrErrorKind::Malformed,
        format!(
            "the requested subjectAltName contains {problem}; correct it and re-create the CSR"
        ),
    ))
}

/// Formats a general name with the prefixes of OpenSSL's `subjectAltName`
/// configuration syntax (`DNS:`, `IP:`, `email:`, `URI:`).
fn describe_general_name(name: &GeneralName<'_>) -> String {
    match name {
        GeneralName::DNSName(dns) => format!("DNS:{dns}"),
        GeneralName::RFC822Name(email) => format!("email:{email}"),
        GeneralName::URI(uri) => format!("URI:{uri}"),
        GeneralName::IPAddress(bytes) => format!("IP:{}", describe_ip(bytes)),
        GeneralName::DirectoryName(name) => format!("DirName:{name}"),
        GeneralName::RegisteredID(oid) => format!("RID:{oid}"),
        GeneralName::OtherName(oid, _) => format!("othername:{oid}"),
        GeneralName::X400Address(_) => "X400Name:<unsupported>".to_owned(),
        GeneralName::EDIPartyName(_) => "EdiPartyName:<unsupported>".to_owned(),
        GeneralName::Invalid(tag, _) => format!("<invalid general name, tag {}>", tag.0),
    }
}

fn describe_ip(bytes: &[u8]) -> String {
    if let Ok(octets) = <[u8; 4]>::try_from(bytes) {
        return Ipv4Addr::from(octets).to_string();
    }
    if let Ok(octets) = <[u8; 16]>::try_from(bytes) {
        return Ipv6Addr::from(octets).to_string();
    }
    format!("<invalid, {} bytes>", bytes.len())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn kind_of(result: Result<Vec<u8>>) -> CsrErrorKind {
        match result {
            Err(Error::InvalidCsr { kind, .. }) => kind,
            other => panic!("expected an invalid-CSR error, got {other:?}"),
        }
    }

    #[test]
    fn pem_body_decoded() {
        let text = "x\n-----BEGIN CERTIFICATE REQUEST-----\r\nMAMC\r\nAQA=\r\n-----END CERTIFICATE REQUEST-----\ny";
        assert_eq!(decode_pem(text).unwrap(), [0x30, 0x03, 0x02, 0x01, 0x00]);
    }

    #[test]
    fn pem_old_label_decoded() {
        let text = "-----BEGIN NEW CERTIFICATE REQUEST-----\nMAA=\n-----END NEW CERTIFICATE REQUEST-----\n";
        assert_eq!(decode_pem(text).unwrap(), [0x30, 0x00]);
    }

    #[test]
    fn pem_mismatched_end_truncated() {
        let text =
            "-----BEGIN NEW CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n";
        assert_eq!(kind_of(decode_pem(text)), CsrErrorKind::Truncated);
    }

    #[test]
    fn pem_two_requests_rejected() {
        let block =
            "-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n";
        let text = format!("{block}{block}");
        assert_eq!(kind_of(decode_pem(&text)), CsrErrorKind::TrailingData);
    }

    #[test]
    fn pem_bad_base64_malformed() {
        let text = "-----BEGIN CERTIFICATE REQUEST-----\nM*A=\n-----END CERTIFICATE REQUEST-----\n";
        assert_eq!(kind_of(decode_pem(text)), CsrErrorKind::Malformed);
    }

    #[test]
    fn binary_non_der_malformed() {
        assert_eq!(
            kind_of(decode_input(&[0xff, 0xfe])),
            CsrErrorKind::Malformed
        );
    }

    #[test]
    fn ip_addresses_formatted() {
        assert_eq!(describe_ip(&[10, 0, 0, 1]), "10.0.0.1");
        let v6 = Ipv6Addr::LOCALHOST.octets();
        assert_eq!(describe_ip(&v6), "::1");
        assert_eq!(describe_ip(&[1, 2, 3]), "<invalid, 3 bytes>");
    }

    #[test]
    fn san_short_ip_rejected() {
        let error = check_general_name(&GeneralName::IPAddress(&[10, 0, 1])).unwrap_err();
        assert!(error.to_string().contains("3 bytes"), "{error}");
    }

    #[test]
    fn san_empty_dns_rejected() {
        let result = check_general_name(&GeneralName::DNSName(""));
        assert!(result.is_err());
    }

    #[test]
    fn san_ipv6_accepted() {
        let result = check_general_name(&GeneralName::IPAddress(&[0; 16]));
        assert!(result.is_ok(), "{result:?}");
    }

    #[test]
    fn key_kinds_described() {
        assert_eq!(PublicKeyKind::Rsa { bits: 3072 }.to_string(), "RSA 3072");
        assert_eq!(PublicKeyKind::EcdsaP384.to_string(), "ECDSA P-384");
    }
}
