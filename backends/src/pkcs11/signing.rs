//! Signing with a key on the token (the spec's signing functions).
//!
//! Where the token offers a mechanism that hashes (`CKM_ECDSA_SHA256`,
//! `CKM_SHA256_RSA_PKCS`, `CKM_SHA256_RSA_PKCS_PSS`), the token hashes the
//! message. Otherwise certa hashes on the host, and the token signs the hash
//! with `CKM_ECDSA` or `CKM_RSA_PKCS_PSS`, or the DigestInfo with
//! `CKM_RSA_PKCS`. ECDSA signatures come from the token as r‖s and leave the
//! signer as a DER `Ecdsa-Sig-Value`.
//!
//! An RSA key signs with PKCS#1 v1.5, and with RSASSA-PSS (SHA-256, MGF1 with
//! SHA-256, a 32-byte salt) through [`Signer::sign_with`] when the token
//! offers a PSS mechanism.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use certa_core::key::verify::verify_with;
use certa_core::key::{KeyAlgorithm, SignatureAlgorithm, Signer, SubjectPublicKeyInfoDer};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::session::Session;
use cryptoki::types::Ulong;
use der::asn1::UintRef;
use der::Encode;
use sha2::{Digest, Sha256, Sha384};

use super::error::Pkcs11Error;
use super::object_management::{find_private_key, PrivateKeyObject};
use super::session_management::SessionPool;
use certa_core::key::Pkcs11Uri;

/// The DER prefix of a SHA-256 DigestInfo (RFC 8017, section 9.2, note 1).
const SHA256_DIGEST_INFO_PREFIX: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// `CK_RSA_PKCS_PSS_PARAMS` of [`SignatureAlgorithm::RsaPssSha256`]: SHA-256,
/// MGF1 with SHA-256, and a salt of 32 bytes.
const PSS_SHA256_PARAMS: PkcsPssParams = PkcsPssParams {
    hash_alg: MechanismType::SHA256,
    mgf: PkcsMgfType::MGF1_SHA256,
    s_len: Ulong::new(SignatureAlgorithm::RSA_PSS_SALT_LENGTH as _),
};

/// A signing method: the mechanism, and the hash the host computes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    /// `CKM_ECDSA_SHA256` or `CKM_ECDSA_SHA384`: the token hashes.
    EcdsaTokenHash(MechanismType),
    /// `CKM_ECDSA` over a SHA-256 hash made on the host.
    EcdsaHostSha256,
    /// `CKM_ECDSA` over a SHA-384 hash made on the host.
    EcdsaHostSha384,
    /// `CKM_SHA256_RSA_PKCS`: the token hashes.
    RsaTokenHash,
    /// `CKM_RSA_PKCS` over a SHA-256 DigestInfo made on the host.
    RsaHostDigestInfo,
    /// `CKM_SHA256_RSA_PKCS_PSS`: the token hashes.
    RsaPssTokenHash,
    /// `CKM_RSA_PKCS_PSS` over a SHA-256 hash made on the host.
    RsaPssHostSha256,
    /// `CKM_EDDSA`, pure Ed25519.
    Eddsa,
}

impl Method {
    /// Chooses the method of the key's own signature algorithm, for a key of
    /// `algorithm`, among the mechanisms `offers` accepts.
    fn choose(
        algorithm: KeyAlgorithm,
        offers: impl Fn(MechanismType) -> bool,
    ) -> Result<Method, MechanismType> {
        let pick = |preferred: Method, preferred_type, fallback: Method, fallback_type| {
            Method::pick(
                &offers,
                (preferred, preferred_type),
                (fallback, fallback_type),
            )
        };
        match algorithm {
            KeyAlgorithm::EcdsaP256 => pick(
                Method::EcdsaTokenHash(MechanismType::ECDSA_SHA256),
                MechanismType::ECDSA_SHA256,
                Method::EcdsaHostSha256,
                MechanismType::ECDSA,
            ),
            KeyAlgorithm::EcdsaP384 => pick(
                Method::EcdsaTokenHash(MechanismType::ECDSA_SHA384),
                MechanismType::ECDSA_SHA384,
                Method::EcdsaHostSha384,
                MechanismType::ECDSA,
            ),
            KeyAlgorithm::Ed25519 if offers(MechanismType::EDDSA) => Ok(Method::Eddsa),
            KeyAlgorithm::Ed25519 => Err(MechanismType::EDDSA),
            _ => pick(
                Method::RsaTokenHash,
                MechanismType::SHA256_RSA_PKCS,
                Method::RsaHostDigestInfo,
                MechanismType::RSA_PKCS,
            ),
        }
    }

    /// Chooses the RSASSA-PSS method of an RSA key among the mechanisms `offers` accepts.
    fn choose_pss(offers: impl Fn(MechanismType) -> bool) -> Result<Method, MechanismType> {
        Method::pick(
            &offers,
            (Method::RsaPssTokenHash, MechanismType::SHA256_RSA_PKCS_PSS),
            (Method::RsaPssHostSha256, MechanismType::RSA_PKCS_PSS),
        )
    }

    /// Returns `preferred` (a method that hashes on the token) when the token
    /// offers its mechanism, else `fallback`, else the missing fallback mechanism.
    fn pick(
        offers: impl Fn(MechanismType) -> bool,
        preferred: (Method, MechanismType),
        fallback: (Method, MechanismType),
    ) -> Result<Method, MechanismType> {
        if offers(preferred.1) {
            Ok(preferred.0)
        } else if offers(fallback.1) {
            Ok(fallback.0)
        } else {
            Err(fallback.1)
        }
    }

    fn mechanism(self) -> Mechanism<'static> {
        match self {
            Method::EcdsaTokenHash(MechanismType::ECDSA_SHA384) => Mechanism::EcdsaSha384,
            Method::EcdsaTokenHash(_) => Mechanism::EcdsaSha256,
            Method::EcdsaHostSha256 | Method::EcdsaHostSha384 => Mechanism::Ecdsa,
            Method::RsaTokenHash => Mechanism::Sha256RsaPkcs,
            Method::RsaHostDigestInfo => Mechanism::RsaPkcs,
            Method::RsaPssTokenHash => Mechanism::Sha256RsaPkcsPss(PSS_SHA256_PARAMS),
            Method::RsaPssHostSha256 => Mechanism::RsaPkcsPss(PSS_SHA256_PARAMS),
            Method::Eddsa => Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
        }
    }

    /// Returns whether the mechanism takes its input in parts (`C_SignUpdate`), which
    /// only the mechanisms that hash on the token do.
    fn is_multi_part(self) -> bool {
        matches!(
            self,
            Method::EcdsaTokenHash(_) | Method::RsaTokenHash | Method::RsaPssTokenHash
        )
    }

    /// Returns the bytes the token signs.
    fn input(self, message: &[u8]) -> Vec<u8> {
        match self {
            Method::EcdsaHostSha256 | Method::RsaPssHostSha256 => Sha256::digest(message).to_vec(),
            Method::EcdsaHostSha384 => Sha384::digest(message).to_vec(),
            Method::RsaHostDigestInfo => {
                let mut input = SHA256_DIGEST_INFO_PREFIX.to_vec();
                input.extend_from_slice(&Sha256::digest(message));
                input
            }
            Method::EcdsaTokenHash(_)
            | Method::RsaTokenHash
            | Method::RsaPssTokenHash
            | Method::Eddsa => message.to_vec(),
        }
    }

    fn is_ecdsa(self) -> bool {
        matches!(
            self,
            Method::EcdsaTokenHash(_) | Method::EcdsaHostSha256 | Method::EcdsaHostSha384
        )
    }
}

/// The reason a key cannot sign with RSASSA-PSS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PssUnavailable {
    /// The key is not an RSA key.
    NotRsa,
    /// The token offers neither PSS mechanism. The value is the fallback
    /// mechanism it lacks.
    NoMechanism(MechanismType),
    /// The key has `CKA_ALWAYS_AUTHENTICATE`, and the token offers only the
    /// single-part `CKM_RSA_PKCS_PSS`.
    SinglePartOnly,
}

/// Chooses the RSASSA-PSS method of a key of `algorithm` among the
/// mechanisms `offers` accepts.
fn pss_method(
    algorithm: KeyAlgorithm,
    always_authenticate: bool,
    offers: impl Fn(MechanismType) -> bool,
) -> Result<Method, PssUnavailable> {
    if algorithm.rsa_bits().is_none() {
        return Err(PssUnavailable::NotRsa);
    }

    let method = Method::choose_pss(offers).map_err(PssUnavailable::NoMechanism)?;
    if always_authenticate && !method.is_multi_part() {
        return Err(PssUnavailable::SinglePartOnly);
    }
    Ok(method)
}

/// A private key on a token, ready to sign.
pub(crate) struct Pkcs11Signer {
    pool: Arc<SessionPool>,
    uri: Pkcs11Uri,
    algorithm: KeyAlgorithm,
    public_key: SubjectPublicKeyInfoDer,
    method: Method,
    /// The RSASSA-PSS method of an RSA key, or why the key has none.
    pss: Result<Method, PssUnavailable>,
    /// The key object, and the pool generation its handle belongs to; the
    /// key is found again when the pool has replaced its sessions since.
    key: Mutex<(u64, PrivateKeyObject)>,
}

impl fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Signer")
            .field("key", &self.uri)
            .field("algorithm", &self.algorithm)
            .field("method", &self.method)
            .field("pss", &self.pss)
            .finish_non_exhaustive()
    }
}

impl Pkcs11Signer {
    /// Makes a signer for `key`, choosing the mechanism among those the token offers.
    pub fn new(
        pool: Arc<SessionPool>,
        uri: Pkcs11Uri,
        key: PrivateKeyObject,
        algorithm: KeyAlgorithm,
        public_key: SubjectPublicKeyInfoDer,
    ) -> Result<Self, Pkcs11Error> {
        let token = pool.token();
        let generation = pool.generation();
        let method = Method::choose(algorithm, |mechanism| token.offers(mechanism)).map_err(
            |mechanism| Pkcs11Error::MechanismUnsupported {
                token: token.label.clone(),
                mechanism,
                purpose: format!("signing with an {algorithm} key"),
            },
        )?;
        if key.always_authenticate && !method.is_multi_part() {
            // cryptoki 0.12 calls C_SignInit and C_Sign in one function, so a
            // single-part signature leaves no point for the context-specific
            // login. Multi-part mechanisms have one, before C_SignUpdate.
            return Err(Pkcs11Error::KeyUnsupported {
                what: format!(
                    "key {uri} has CKA_ALWAYS_AUTHENTICATE, and certa can log in for each \
                     signature only with a mechanism that hashes on the token \
                     (CKM_ECDSA_SHA256, CKM_ECDSA_SHA384 or CKM_SHA256_RSA_PKCS); token \
                     \"{}\" offers {} for this key",
                    token.label,
                    method.mechanism().mechanism_type()
                ),
            });
        }
        let pss = pss_method(algorithm, key.always_authenticate, |mechanism| {
            token.offers(mechanism)
        });
        tracing::debug!(key = %uri, ?method, ?pss, "chose signature mechanisms");

        Ok(Pkcs11Signer {
            pool,
            uri,
            algorithm,
            public_key,
            method,
            pss,
            key: Mutex::new((generation, key)),
        })
    }

    /// Signs `message` with `method` and returns the signature in the form
    /// [`Signer::sign`] documents.
    fn sign_with_method(&self, method: Method, message: &[u8]) -> certa_core::Result<Vec<u8>> {
        let shown = self.uri.to_string();
        let raw = self
            .sign_on_token(method, message)
            .map_err(|error| error.into_core("signing with key", &shown))?;
        if !method.is_ecdsa() {
            return Ok(raw);
        }
        ecdsa_der(&raw).map_err(|error| error.into_core("signing with key", &shown))
    }

    fn sign_on_token(&self, method: Method, message: &[u8]) -> Result<Vec<u8>, Pkcs11Error> {
        let input = method.input(message);
        self.pool.run(|session| {
            let key = self.current_key(session)?;
            self.sign_once(session, method, &key, &input)
        })
    }

    /// Returns the error for a request to sign with `algorithm`, which the
    /// key does not offer, with the reason `pss` gives for RSASSA-PSS.
    fn unavailable(&self, algorithm: SignatureAlgorithm) -> certa_core::Error {
        let shown = self.uri.to_string();
        let token = self.pool.token().label;
        let error = match self.pss {
            Err(PssUnavailable::NoMechanism(mechanism))
                if algorithm == SignatureAlgorithm::RsaPssSha256 =>
            {
                Pkcs11Error::MechanismUnsupported {
                    token,
                    mechanism,
                    purpose: format!("signing with {algorithm}"),
                }
            }
            Err(PssUnavailable::SinglePartOnly)
                if algorithm == SignatureAlgorithm::RsaPssSha256 =>
            {
                Pkcs11Error::KeyUnsupported {
                    what: format!(
                        "key {shown} has CKA_ALWAYS_AUTHENTICATE, and certa can log in for \
                         each signature only with a mechanism that hashes on the token; \
                         token \"{token}\" offers CKM_RSA_PKCS_PSS but not \
                         CKM_SHA256_RSA_PKCS_PSS, so the key cannot sign with {algorithm}"
                    ),
                }
            }
            _ => Pkcs11Error::KeyUnsupported {
                what: format!(
                    "signing with {algorithm} by the {} key {shown}, which signs with {}",
                    self.algorithm,
                    self.signature_algorithms()
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
            },
        };
        error.into_core("signing with key", &shown)
    }

    /// Returns the key object, found again when the pool has replaced its
    /// sessions since the handle was found.
    fn current_key(&self, session: &Session) -> Result<PrivateKeyObject, Pkcs11Error> {
        let generation = self.pool.generation();
        let mut cached = self.key.lock().unwrap_or_else(PoisonError::into_inner);
        if cached.0 == generation {
            return Ok(cached.1.clone());
        }

        let found = find_private_key(session, &self.uri)?;
        tracing::info!(key = %self.uri, "found the key again after the sessions were replaced");
        *cached = (generation, found.clone());
        Ok(found)
    }

    fn sign_once(
        &self,
        session: &Session,
        method: Method,
        key: &PrivateKeyObject,
        input: &[u8],
    ) -> Result<Vec<u8>, Pkcs11Error> {
        let mechanism = method.mechanism();
        if !key.always_authenticate {
            return Ok(session.sign(&mechanism, key.handle, input)?);
        }

        session.sign_init(&mechanism, key.handle)?;
        let signed = self
            .pool
            .log_in_context_specific(session)
            .and_then(|()| Ok(session.sign_update(input)?))
            .and_then(|()| Ok(session.sign_final()?));
        if signed.is_err() {
            // Ends the operation that C_SignInit started, so the session can sign again.
            let _ = session.sign_final();
        }
        signed
    }
}

impl Signer for Pkcs11Signer {
    fn signature_algorithm(&self) -> SignatureAlgorithm {
        self.algorithm.signature_algorithm()
    }

    fn public_key(&self) -> &SubjectPublicKeyInfoDer {
        &self.public_key
    }

    fn sign(&self, message: &[u8]) -> certa_core::Result<Vec<u8>> {
        self.sign_with_method(self.method, message)
    }

    /// Returns the key's own algorithm, and RSASSA-PSS for an RSA key on a
    /// token that offers `CKM_SHA256_RSA_PKCS_PSS` or `CKM_RSA_PKCS_PSS`
    /// (only the first for a key with `CKA_ALWAYS_AUTHENTICATE`).
    fn signature_algorithms(&self) -> Vec<SignatureAlgorithm> {
        let mut algorithms = vec![self.signature_algorithm()];
        if self.pss.is_ok() {
            algorithms.push(SignatureAlgorithm::RsaPssSha256);
        }
        algorithms
    }

    /// Signs like [`Signer::sign`] for the key's own algorithm, and with the
    /// RSASSA-PSS method for [`SignatureAlgorithm::RsaPssSha256`].
    ///
    /// Unlike `sign`, whose callers check the certificate or CSR they sign,
    /// this checks every signature against the public key before returning
    /// it, because its callers (TLS handshakes) pass the signature on unchecked.
    fn sign_with(
        &self,
        algorithm: SignatureAlgorithm,
        message: &[u8],
    ) -> certa_core::Result<Vec<u8>> {
        let method = if algorithm == self.signature_algorithm() {
            self.method
        } else if algorithm == SignatureAlgorithm::RsaPssSha256 {
            self.pss.map_err(|_| self.unavailable(algorithm))?
        } else {
            return Err(self.unavailable(algorithm));
        };

        let signature = self.sign_with_method(method, message)?;

        verify_with(&self.public_key, algorithm, message, &signature).map_err(|error| {
            certa_core::Error::KeyStore {
                operation: format!("signing with key {}", self.uri),
                source: Box::new(error),
            }
        })?;
        Ok(signature)
    }
}

/// Encodes a raw r‖s ECDSA signature as a DER `Ecdsa-Sig-Value` (RFC 3279, section 2.2.3).
fn ecdsa_der(raw: &[u8]) -> Result<Vec<u8>, Pkcs11Error> {
    let (r, s) = raw.split_at(raw.len() / 2);
    if r.is_empty() || r.len() != s.len() {
        return Err(Pkcs11Error::MalformedSignature { length: raw.len() });
    }
    let value = EcdsaSigValue {
        r: UintRef::new(r)?,
        s: UintRef::new(s)?,
    };
    Ok(value.to_der()?)
}

/// Ecdsa-Sig-Value (RFC 3279, section 2.2.3).
#[derive(der::Sequence)]
struct EcdsaSigValue<'a> {
    r: UintRef<'a>,
    s: UintRef<'a>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecdsa_signature_becomes_der() {
        let mut raw = vec![0x00; 32];
        raw[31] = 0x01;
        raw.extend([0x80; 32]);
        let der = ecdsa_der(&raw).expect("encode");
        // SEQUENCE { INTEGER 1, INTEGER 0x0080...80 (33 bytes) }
        assert_eq!(&der[..5], &[0x30, 3 + 35, 0x02, 0x01, 0x01]);
        assert_eq!(&der[5..8], &[0x02, 33, 0x00]);
        assert_eq!(der.len(), 2 + 3 + 35);
    }

    #[test]
    fn odd_ecdsa_signature_is_rejected() {
        assert!(ecdsa_der(&[0x01; 63]).is_err());
    }

    #[test]
    fn host_hash_used_without_token_hash() {
        let only_raw = |mechanism| mechanism == MechanismType::ECDSA;
        assert_eq!(
            Method::choose(KeyAlgorithm::EcdsaP256, only_raw),
            Ok(Method::EcdsaHostSha256)
        );
        let none = |_| false;
        assert_eq!(
            Method::choose(KeyAlgorithm::Rsa2048, none),
            Err(MechanismType::RSA_PKCS)
        );
        assert_eq!(
            Method::choose(KeyAlgorithm::Ed25519, none),
            Err(MechanismType::EDDSA)
        );
    }

    #[test]
    fn pss_prefers_token_hash() {
        let all = |_| true;
        assert_eq!(
            pss_method(KeyAlgorithm::Rsa2048, false, all),
            Ok(Method::RsaPssTokenHash)
        );
    }

    #[test]
    fn pss_host_hash_without_token_hash() {
        let only_raw = |mechanism| mechanism == MechanismType::RSA_PKCS_PSS;
        assert_eq!(
            pss_method(KeyAlgorithm::Rsa3072, false, only_raw),
            Ok(Method::RsaPssHostSha256)
        );
    }

    #[test]
    fn pss_missing_mechanism_named() {
        let pkcs1_only = |mechanism| mechanism == MechanismType::SHA256_RSA_PKCS;
        assert_eq!(
            pss_method(KeyAlgorithm::Rsa2048, false, pkcs1_only),
            Err(PssUnavailable::NoMechanism(MechanismType::RSA_PKCS_PSS))
        );
    }

    #[test]
    fn pss_always_authenticate_needs_token_hash() {
        let only_raw = |mechanism| mechanism == MechanismType::RSA_PKCS_PSS;
        assert_eq!(
            pss_method(KeyAlgorithm::Rsa2048, true, only_raw),
            Err(PssUnavailable::SinglePartOnly)
        );
        let all = |_| true;
        assert_eq!(
            pss_method(KeyAlgorithm::Rsa2048, true, all),
            Ok(Method::RsaPssTokenHash)
        );
    }

    #[test]
    fn pss_not_offered_for_ecdsa() {
        let all = |_| true;
        assert_eq!(
            pss_method(KeyAlgorithm::EcdsaP256, false, all),
            Err(PssUnavailable::NotRsa)
        );
    }

    #[test]
    fn pss_host_input_is_sha256() {
        let input = Method::RsaPssHostSha256.input(b"abc");
        assert_eq!(input, Sha256::digest(b"abc").to_vec());
    }

    #[test]
    fn pss_params_salt_32() {
        let Mechanism::Sha256RsaPkcsPss(params) = Method::RsaPssTokenHash.mechanism() else {
            panic!("CKM_SHA256_RSA_PKCS_PSS expected");
        };
        assert_eq!(params.hash_alg, MechanismType::SHA256);
        assert_eq!(params.mgf, PkcsMgfType::MGF1_SHA256);
        assert_eq!(usize::from(params.s_len), 32);
    }

    #[test]
    fn digest_info_has_sha256_prefix() {
        let input = Method::RsaHostDigestInfo.input(b"abc");
        assert_eq!(input.len(), 19 + 32);
        assert_eq!(&input[..19], &SHA256_DIGEST_INFO_PREFIX);
    }
}
