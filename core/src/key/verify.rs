//! Signature verification for CSRs and for what the CA signs.
//!
//! [`verify_signature`] checks a signature made by any key certa accepts in a
//! CSR: ECDSA on P-256 or P-384 with SHA-256, SHA-384 or SHA-512, RSA PKCS#1
//! v1.5 and RSASSA-PSS with SHA-256, SHA-384 or SHA-512, and Ed25519.
//! [`verify_with`] checks what a certa [`Signer`](super::Signer) made.
//!
//! SHA-1 signatures are rejected as an unsupported algorithm. OpenSSL 3 signs
//! CSRs with SHA-256 by default, and a requester whose tool still signs with
//! SHA-1 can re-sign the CSR with a SHA-2 hash.

use const_oid::db::{rfc5912, rfc8410};
use const_oid::ObjectIdentifier;
use der::{Decode, Sequence};
use rsa::BigUint;
use sha2::{Digest, Sha256, Sha384, Sha512};
use signature::hazmat::PrehashVerifier;
use signature::Verifier;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoRef};

use super::{SignatureAlgorithm, SubjectPublicKeyInfoDer};
use crate::error::Cause;

/// The largest RSA modulus, in bits, whose signatures are verified. Larger
/// keys are rejected as unsupported rather than spending time on them.
pub const MAX_RSA_BITS: usize = 8192;

/// The reason a signature could not be verified.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The signature algorithm is not one certa verifies.
    #[error(
        "unsupported signature algorithm {algorithm}; sign with ECDSA, RSA PKCS#1 v1.5 or \
         RSASSA-PSS using SHA-256, SHA-384 or SHA-512, or with Ed25519"
    )]
    UnsupportedAlgorithm {
        /// The algorithm's object identifier, with its name where known.
        algorithm: String,
    },

    /// The public key is of a kind certa does not verify with, such as an EC
    /// key on a curve other than P-256 or P-384.
    #[error("unsupported public key {key}; use ECDSA P-256 or P-384, RSA or Ed25519")]
    UnsupportedKey {
        /// The key's algorithm, curve or size.
        key: String,
    },

    /// The signature algorithm's parameters are malformed or not allowed.
    #[error("invalid parameters for signature algorithm {algorithm}: {reason}")]
    InvalidParameters {
        /// The algorithm's name.
        algorithm: String,
        /// What is wrong with the parameters.
        reason: String,
        /// The decoder's error, if any.
        #[source]
        source: Option<der::Error>,
    },

    /// The signature algorithm does not belong to the public key's algorithm.
    #[error("signature algorithm {algorithm} does not match the {key} public key")]
    KeyMismatch {
        /// The signature algorithm's name.
        algorithm: String,
        /// The public key's algorithm.
        key: String,
    },

    /// The public key cannot be decoded.
    #[error("invalid {key} public key: {source}")]
    InvalidPublicKey {
        /// The public key's algorithm.
        key: String,
        /// The decoder's error.
        #[source]
        source: Cause,
    },

    /// The signature does not verify with the public key.
    #[error("the {algorithm} signature does not verify with the public key")]
    BadSignature {
        /// The signature algorithm's name.
        algorithm: String,
        /// The library's error, if it gave one.
        #[source]
        source: Option<Cause>,
    },
}

impl SignatureError {
    /// Returns the error's code for the HTTP API and scripts: `"unsupported"`
    /// for an algorithm or key certa does not verify with, `"invalid_signature"` otherwise.
    pub fn code(&self) -> &'static str {
        match self {
            SignatureError::UnsupportedAlgorithm { .. } | SignatureError::UnsupportedKey { .. } => {
                "unsupported"
            }
            _ => "invalid_signature",
        }
    }
}

/// A hash function used by a signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn from_oid(oid: ObjectIdentifier) -> Option<Self> {
        match oid {
            rfc5912::ID_SHA_256 => Some(Hash::Sha256),
            rfc5912::ID_SHA_384 => Some(Hash::Sha384),
            rfc5912::ID_SHA_512 => Some(Hash::Sha512),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Hash::Sha256 => "SHA-256",
            Hash::Sha384 => "SHA-384",
            Hash::Sha512 => "SHA-512",
        }
    }

    fn digest(self, message: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => Sha256::digest(message).to_vec(),
            Hash::Sha384 => Sha384::digest(message).to_vec(),
            Hash::Sha512 => Sha512::digest(message).to_vec(),
        }
    }
}

/// A signature algorithm with its parameters, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Ecdsa(Hash),
    RsaPkcs1(Hash),
    RsaPss { hash: Hash, salt_length: usize },
    Ed25519,
}

impl Scheme {
    fn name(self) -> String {
        match self {
            Scheme::Ecdsa(hash) => format!("ECDSA with {}", hash.name()),
            Scheme::RsaPkcs1(hash) => format!("RSA PKCS#1 v1.5 with {}", hash.name()),
            Scheme::RsaPss { hash, .. } => format!("RSASSA-PSS with {}", hash.name()),
            Scheme::Ed25519 => "Ed25519".to_owned(),
        }
    }
}

/// RSASSA-PSS-params (RFC 4055, section 3.1). Every field has a default, so
/// each is optional here. The salt length is read as a `u32` because OpenSSL
/// 3.0 signs with the maximum salt length by default (222 bytes for RSA-2048
/// with SHA-256, so 478 for RSA-4096), which does not fit the `u8` of
/// `pkcs1::RsaPssParams`.
#[derive(Sequence)]
struct PssParameters {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    hash_algorithm: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    mask_generation_algorithm: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    salt_length: Option<u32>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    trailer_field: Option<u32>,
}

/// Returns `oid` with its name from the OID database, as in `1.2.840.10040.4.3 (dsa-with-sha1)`.
pub(crate) fn describe_oid(oid: &ObjectIdentifier) -> String {
    match const_oid::db::DB.by_oid(oid) {
        Some(name) => format!("{oid} ({name})"),
        None => oid.to_string(),
    }
}

/// Verifies `signature` over `message` with the SubjectPublicKeyInfo
/// `public_key` (DER), using the signature algorithm `algorithm`.
///
/// # Errors
///
/// - [`SignatureError::UnsupportedAlgorithm`] naming the OID of an algorithm
///   certa does not verify (SHA-1, DSA, Ed448, ...),
/// - [`SignatureError::UnsupportedKey`] for an EC key on another curve than
///   P-256 and P-384, or an RSA key over [`MAX_RSA_BITS`],
/// - [`SignatureError::InvalidParameters`] for malformed algorithm parameters,
/// - [`SignatureError::KeyMismatch`] when the key's algorithm does not fit the
///   signature algorithm,
/// - [`SignatureError::InvalidPublicKey`] when the key cannot be decoded,
/// - [`SignatureError::BadSignature`] when the signature does not verify.
pub fn verify_signature(
    public_key: &[u8],
    algorithm: &AlgorithmIdentifierOwned,
    message: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    let key = SubjectPublicKeyInfoRef::from_der(public_key).map_err(|e| {
        SignatureError::InvalidPublicKey {
            key: "SubjectPublicKeyInfo".to_owned(),
            source: Box::new(e),
        }
    })?;
    let scheme = scheme_of(algorithm)?;

    match scheme {
        Scheme::Ecdsa(hash) => verify_ecdsa(&key, scheme, hash, message, signature),
        Scheme::RsaPkcs1(_) | Scheme::RsaPss { .. } => verify_rsa(&key, scheme, message, signature),
        Scheme::Ed25519 => verify_ed25519(&key, message, signature),
    }
}

/// Verifies a signature that a certa [`Signer`](super::Signer) made with
/// `algorithm` (by `sign`, or by `sign_with` for RSASSA-PSS), against the
/// signer's public key.
///
/// # Errors
///
/// As [`verify_signature`]; a key store that returned a wrong signature
/// yields [`SignatureError::BadSignature`].
pub fn verify_with(
    signer_public_key: &SubjectPublicKeyInfoDer,
    algorithm: SignatureAlgorithm,
    message: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    verify_signature(
        signer_public_key.as_bytes(),
        &algorithm.algorithm_identifier(),
        message,
        signature,
    )
}

/// Reads the signature algorithm and checks its parameters.
fn scheme_of(algorithm: &AlgorithmIdentifierOwned) -> Result<Scheme, SignatureError> {
    let oid = algorithm.oid;
    let parameters = algorithm.parameters.as_ref();
    let (scheme, null_allowed) = match oid {
        rfc5912::ECDSA_WITH_SHA_256 => (Scheme::Ecdsa(Hash::Sha256), false),
        rfc5912::ECDSA_WITH_SHA_384 => (Scheme::Ecdsa(Hash::Sha384), false),
        rfc5912::ECDSA_WITH_SHA_512 => (Scheme::Ecdsa(Hash::Sha512), false),
        rfc5912::SHA_256_WITH_RSA_ENCRYPTION => (Scheme::RsaPkcs1(Hash::Sha256), true),
        rfc5912::SHA_384_WITH_RSA_ENCRYPTION => (Scheme::RsaPkcs1(Hash::Sha384), true),
        rfc5912::SHA_512_WITH_RSA_ENCRYPTION => (Scheme::RsaPkcs1(Hash::Sha512), true),
        rfc8410::ID_ED_25519 => (Scheme::Ed25519, false),
        rfc5912::ID_RSASSA_PSS => return pss_scheme(parameters),
        _ => {
            return Err(SignatureError::UnsupportedAlgorithm {
                algorithm: describe_oid(&oid),
            })
        }
    };

    // RFC 5758 and RFC 8410 require the parameters of ECDSA and Ed25519 to be
    // absent. RFC 4055 requires NULL with RSA PKCS#1 v1.5 but also requires
    // verifiers to accept absent parameters.
    let allowed = match parameters {
        None => true,
        Some(value) => null_allowed && value.is_null(),
    };
    if !allowed {
        return Err(SignatureError::InvalidParameters {
            algorithm: scheme.name(),
            reason: "parameters MUST be absent".to_owned(),
            source: None,
        });
    }
    Ok(scheme)
}

/// Reads RSASSA-PSS parameters. Only MGF1 with the message hash and the
/// trailer field 1 are accepted; RFC 4055's defaults (SHA-1) are unsupported.
fn pss_scheme(parameters: Option<&der::Any>) -> Result<Scheme, SignatureError> {
    let invalid = |reason: &str, source: Option<der::Error>| SignatureError::InvalidParameters {
        algorithm: "RSASSA-PSS".to_owned(),
        reason: reason.to_owned(),
        source,
    };
    let Some(parameters) = parameters else {
        return Err(invalid("the RSASSA-PSS-params are missing", None));
    };
    let encoded = der::Encode::to_der(parameters)
        .map_err(|e| invalid("the RSASSA-PSS-params cannot be encoded", Some(e)))?;
    let parameters = PssParameters::from_der(&encoded)
        .map_err(|e| invalid("the RSASSA-PSS-params cannot be decoded", Some(e)))?;

    let Some(hash_algorithm) = parameters.hash_algorithm else {
        return Err(SignatureError::UnsupportedAlgorithm {
            algorithm: "RSASSA-PSS with its default hash SHA-1".to_owned(),
        });
    };
    let Some(hash) = Hash::from_oid(hash_algorithm.oid) else {
        return Err(SignatureError::UnsupportedAlgorithm {
            algorithm: format!("RSASSA-PSS with hash {}", describe_oid(&hash_algorithm.oid)),
        });
    };

    let Some(mask_generation) = parameters.mask_generation_algorithm else {
        return Err(invalid(
            "the mask generation function is the default MGF1 with SHA-1; use MGF1 with the message hash",
            None,
        ));
    };
    if mask_generation.oid != rfc5912::ID_MGF_1 {
        return Err(SignatureError::UnsupportedAlgorithm {
            algorithm: format!(
                "RSASSA-PSS with mask generation function {}",
                describe_oid(&mask_generation.oid)
            ),
        });
    }
    let mgf_hash = mask_generation
        .parameters
        .as_ref()
        .map(|any| any.decode_as::<AlgorithmIdentifierOwned>())
        .transpose()
        .map_err(|e| invalid("the MGF1 hash algorithm cannot be decoded", Some(e)))?;
    let same_hash = mgf_hash.is_some_and(|mgf_hash| Hash::from_oid(mgf_hash.oid) == Some(hash));
    if !same_hash {
        return Err(invalid(
            &format!("MGF1 MUST use the message hash {}", hash.name()),
            None,
        ));
    }

    if parameters.trailer_field.unwrap_or(1) != 1 {
        return Err(invalid(
            "the trailer field MUST be 1 (trailerFieldBC)",
            None,
        ));
    }
    let salt_length = parameters.salt_length.unwrap_or(20) as usize;
    Ok(Scheme::RsaPss { hash, salt_length })
}

fn mismatch(scheme: Scheme, key: &SubjectPublicKeyInfoRef<'_>) -> SignatureError {
    SignatureError::KeyMismatch {
        algorithm: scheme.name(),
        key: describe_oid(&key.algorithm.oid),
    }
}

fn bad_signature(scheme: Scheme) -> impl FnOnce(signature::Error) -> SignatureError {
    move |e| SignatureError::BadSignature {
        algorithm: scheme.name(),
        source: Some(Box::new(e)),
    }
}

fn verify_ecdsa(
    key: &SubjectPublicKeyInfoRef<'_>,
    scheme: Scheme,
    hash: Hash,
    message: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    if key.algorithm.oid != rfc5912::ID_EC_PUBLIC_KEY {
        return Err(mismatch(scheme, key));
    }
    let curve = key
        .algorithm
        .parameters_oid()
        .map_err(|e| SignatureError::InvalidPublicKey {
            key: "EC".to_owned(),
            source: Box::new(e),
        })?;
    let point = key.subject_public_key.raw_bytes();
    // ECDSA uses the leftmost bits of a hash longer than the group order
    // (`verify_prehash` of the ecdsa crate does so), so a P-256 key can
    // verify a SHA-384 or SHA-512 signature.
    let prehash = hash.digest(message);

    match curve {
        rfc5912::SECP_256_R_1 => {
            let verifying_key = p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .map_err(|e| invalid_key("EC P-256", e))?;
            let signature =
                p256::ecdsa::Signature::from_der(signature).map_err(bad_signature(scheme))?;
            verifying_key
                .verify_prehash(&prehash, &signature)
                .map_err(bad_signature(scheme))
        }
        rfc5912::SECP_384_R_1 => {
            let verifying_key = p384::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .map_err(|e| invalid_key("EC P-384", e))?;
            let signature =
                p384::ecdsa::Signature::from_der(signature).map_err(bad_signature(scheme))?;
            verifying_key
                .verify_prehash(&prehash, &signature)
                .map_err(bad_signature(scheme))
        }
        other => Err(SignatureError::UnsupportedKey {
            key: format!("EC key on curve {}", describe_oid(&other)),
        }),
    }
}

fn invalid_key(
    key: &str,
    source: impl std::error::Error + Send + Sync + 'static,
) -> SignatureError {
    SignatureError::InvalidPublicKey {
        key: key.to_owned(),
        source: Box::new(source),
    }
}

/// Decodes an rsaEncryption SubjectPublicKeyInfo, accepting moduli up to [`MAX_RSA_BITS`].
pub(crate) fn rsa_public_key(
    key: &SubjectPublicKeyInfoRef<'_>,
) -> Result<rsa::RsaPublicKey, SignatureError> {
    let components = pkcs1::RsaPublicKey::from_der(key.subject_public_key.raw_bytes())
        .map_err(|e| invalid_key("RSA", e))?;
    let modulus = BigUint::from_bytes_be(components.modulus.as_bytes());
    let exponent = BigUint::from_bytes_be(components.public_exponent.as_bytes());
    let bits = modulus.bits();
    if bits > MAX_RSA_BITS {
        return Err(SignatureError::UnsupportedKey {
            key: format!("RSA key of {bits} bits, over the maximum of {MAX_RSA_BITS}"),
        });
    }
    rsa::RsaPublicKey::new_with_max_size(modulus, exponent, MAX_RSA_BITS)
        .map_err(|e| invalid_key("RSA", e))
}

fn verify_rsa(
    key: &SubjectPublicKeyInfoRef<'_>,
    scheme: Scheme,
    message: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    if key.algorithm.oid != rfc5912::RSA_ENCRYPTION {
        return Err(mismatch(scheme, key));
    }
    let public_key = rsa_public_key(key)?;

    match scheme {
        Scheme::RsaPkcs1(hash) => {
            let signature =
                rsa::pkcs1v15::Signature::try_from(signature).map_err(bad_signature(scheme))?;
            match hash {
                Hash::Sha256 => rsa::pkcs1v15::VerifyingKey::<Sha256>::new(public_key)
                    .verify(message, &signature),
                Hash::Sha384 => rsa::pkcs1v15::VerifyingKey::<Sha384>::new(public_key)
                    .verify(message, &signature),
                Hash::Sha512 => rsa::pkcs1v15::VerifyingKey::<Sha512>::new(public_key)
                    .verify(message, &signature),
            }
            .map_err(bad_signature(scheme))
        }
        Scheme::RsaPss { hash, salt_length } => {
            let signature =
                rsa::pss::Signature::try_from(signature).map_err(bad_signature(scheme))?;
            match hash {
                Hash::Sha256 => {
                    rsa::pss::VerifyingKey::<Sha256>::new_with_salt_len(public_key, salt_length)
                        .verify(message, &signature)
                }
                Hash::Sha384 => {
                    rsa::pss::VerifyingKey::<Sha384>::new_with_salt_len(public_key, salt_length)
                        .verify(message, &signature)
                }
                Hash::Sha512 => {
                    rsa::pss::VerifyingKey::<Sha512>::new_with_salt_len(public_key, salt_length)
                        .verify(message, &signature)
                }
            }
            .map_err(bad_signature(scheme))
        }
        Scheme::Ecdsa(_) | Scheme::Ed25519 => Err(mismatch(scheme, key)),
    }
}

fn verify_ed25519(
    key: &SubjectPublicKeyInfoRef<'_>,
    message: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    let scheme = Scheme::Ed25519;
    if key.algorithm.oid != rfc8410::ID_ED_25519 {
        return Err(mismatch(scheme, key));
    }
    let bytes: &[u8; 32] = key
        .subject_public_key
        .raw_bytes()
        .try_into()
        .map_err(|e| invalid_key("Ed25519", e))?;
    let verifying_key =
        ed25519_dalek::VerifyingKey::from_bytes(bytes).map_err(|e| invalid_key("Ed25519", e))?;
    let signature =
        ed25519_dalek::Signature::from_slice(signature).map_err(bad_signature(scheme))?;
    // Strict verification rejects small-order keys and non-canonical
    // signatures, which no honest signer produces.
    verifying_key
        .verify_strict(message, &signature)
        .map_err(bad_signature(scheme))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::key::software::SoftwareKey;
    use crate::key::{KeyAlgorithm, Signer};

    const MESSAGE: &[u8] = b"to be signed";

    fn signed(algorithm: KeyAlgorithm) -> (SoftwareKey, Vec<u8>) {
        let key = SoftwareKey::generate(algorithm).unwrap();
        let signature = key.sign(MESSAGE).unwrap();
        (key, signature)
    }

    #[test]
    fn own_signatures_verify() {
        for algorithm in [
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::EcdsaP384,
            KeyAlgorithm::Rsa2048,
            KeyAlgorithm::Ed25519,
        ] {
            let (key, signature) = signed(algorithm);
            let result = verify_with(
                key.public_key(),
                key.signature_algorithm(),
                MESSAGE,
                &signature,
            );
            assert!(result.is_ok(), "{algorithm}: {result:?}");
        }
    }

    #[test]
    fn changed_message_bad_signature() {
        let (key, signature) = signed(KeyAlgorithm::EcdsaP256);
        let error = verify_with(
            key.public_key(),
            key.signature_algorithm(),
            b"something else",
            &signature,
        )
        .unwrap_err();
        assert!(
            matches!(error, SignatureError::BadSignature { .. }),
            "{error}"
        );
    }

    #[test]
    fn ecdsa_algorithm_rsa_key_mismatch() {
        let (key, signature) = signed(KeyAlgorithm::Rsa2048);
        let error = verify_with(
            key.public_key(),
            SignatureAlgorithm::EcdsaSha256,
            MESSAGE,
            &signature,
        )
        .unwrap_err();
        assert!(
            matches!(error, SignatureError::KeyMismatch { .. }),
            "{error}"
        );
        assert!(
            error.to_string().contains("1.2.840.113549.1.1.1"),
            "{error}"
        );
    }

    #[test]
    fn sha1_rsa_unsupported() {
        let (key, signature) = signed(KeyAlgorithm::Ed25519);
        let algorithm = AlgorithmIdentifierOwned {
            oid: rfc5912::SHA_1_WITH_RSA_ENCRYPTION,
            parameters: None,
        };
        let error = verify_signature(key.public_key().as_bytes(), &algorithm, MESSAGE, &signature)
            .unwrap_err();
        assert!(
            matches!(error, SignatureError::UnsupportedAlgorithm { .. }),
            "{error}"
        );
        assert!(
            error.to_string().contains("1.2.840.113549.1.1.5"),
            "{error}"
        );
        assert_eq!(error.code(), "unsupported");
    }

    #[test]
    fn ecdsa_parameters_rejected() {
        let (key, signature) = signed(KeyAlgorithm::EcdsaP256);
        let algorithm = AlgorithmIdentifierOwned {
            oid: rfc5912::ECDSA_WITH_SHA_256,
            parameters: Some(der::asn1::Null.into()),
        };
        let error = verify_signature(key.public_key().as_bytes(), &algorithm, MESSAGE, &signature)
            .unwrap_err();
        assert!(
            matches!(error, SignatureError::InvalidParameters { .. }),
            "{error}"
        );
    }

    /// Returns the RSA-2048 key that the RSASSA-PSS tests share, because
    /// generating one per test would slow them down.
    fn rsa_key() -> &'static SoftwareKey {
        static KEY: std::sync::OnceLock<SoftwareKey> = std::sync::OnceLock::new();
        KEY.get_or_init(|| SoftwareKey::generate(KeyAlgorithm::Rsa2048).unwrap())
    }

    fn pss_signed() -> (&'static SoftwareKey, Vec<u8>) {
        let key = rsa_key();
        let signature = key
            .sign_with(SignatureAlgorithm::RsaPssSha256, MESSAGE)
            .unwrap();
        (key, signature)
    }

    fn pss_identifier(salt_length: u8) -> AlgorithmIdentifierOwned {
        let parameters = pkcs1::RsaPssParams::new::<Sha256>(salt_length);
        AlgorithmIdentifierOwned {
            oid: rfc5912::ID_RSASSA_PSS,
            parameters: Some(der::Any::encode_from(&parameters).unwrap()),
        }
    }

    #[test]
    fn pss_signature_verifies() {
        let (key, signature) = pss_signed();
        let result = verify_with(
            key.public_key(),
            SignatureAlgorithm::RsaPssSha256,
            MESSAGE,
            &signature,
        );
        assert!(result.is_ok(), "{result:?}");
    }

    #[test]
    fn pss_changed_message_bad_signature() {
        let (key, signature) = pss_signed();
        let error = verify_with(
            key.public_key(),
            SignatureAlgorithm::RsaPssSha256,
            b"something else",
            &signature,
        )
        .unwrap_err();
        assert!(
            matches!(error, SignatureError::BadSignature { .. }),
            "{error}"
        );
    }

    #[test]
    fn pss_signature_fails_as_pkcs1() {
        let (key, signature) = pss_signed();
        let error = verify_with(
            key.public_key(),
            SignatureAlgorithm::RsaPkcs1Sha256,
            MESSAGE,
            &signature,
        )
        .unwrap_err();
        assert!(
            matches!(error, SignatureError::BadSignature { .. }),
            "{error}"
        );
    }

    #[test]
    fn pkcs1_signature_fails_as_pss() {
        let key = rsa_key();
        let signature = key.sign(MESSAGE).unwrap();
        let error = verify_with(
            key.public_key(),
            SignatureAlgorithm::RsaPssSha256,
            MESSAGE,
            &signature,
        )
        .unwrap_err();
        assert!(
            matches!(error, SignatureError::BadSignature { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("RSASSA-PSS"), "{error}");
    }

    #[test]
    fn pss_other_salt_length_bad_signature() {
        let (key, signature) = pss_signed();
        let error = verify_signature(
            key.public_key().as_bytes(),
            &pss_identifier(20),
            MESSAGE,
            &signature,
        )
        .unwrap_err();
        assert!(
            matches!(error, SignatureError::BadSignature { .. }),
            "{error}"
        );
    }

    #[test]
    fn pss_explicit_salt_32_verifies() {
        let (key, signature) = pss_signed();
        let result = verify_signature(
            key.public_key().as_bytes(),
            &pss_identifier(32),
            MESSAGE,
            &signature,
        );
        assert!(result.is_ok(), "{result:?}");
    }

    #[test]
    fn pss_ecdsa_key_mismatch() {
        let (key, signature) = signed(KeyAlgorithm::EcdsaP256);
        let error = verify_with(
            key.public_key(),
            SignatureAlgorithm::RsaPssSha256,
            MESSAGE,
            &signature,
        )
        .unwrap_err();
        assert!(
            matches!(error, SignatureError::KeyMismatch { .. }),
            "{error}"
        );
    }

    #[test]
    fn rsa_absent_parameters_accepted() {
        let (key, signature) = signed(KeyAlgorithm::Rsa2048);
        let algorithm = AlgorithmIdentifierOwned {
            oid: rfc5912::SHA_256_WITH_RSA_ENCRYPTION,
            parameters: None,
        };
        let result = verify_signature(key.public_key().as_bytes(), &algorithm, MESSAGE, &signature);
        assert!(result.is_ok(), "{result:?}");
    }
}
