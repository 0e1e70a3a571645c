//! Private keys held in memory, signing in software with RustCrypto.
//!
//! The file key store keeps these keys in encrypted PKCS#8 files; the CA
//! client makes its key pairs with them. The key material is zeroized when a
//! [`SoftwareKey`] is dropped, and `Debug` shows only the algorithm.

use std::fmt;

use const_oid::db::rfc5912;
use const_oid::db::rfc8410;
use pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, PrivateKeyInfo};
use rand_core::OsRng;
use rsa::traits::PublicKeyParts;
use sha2::Sha256;
use signature::{RandomizedSigner as _, SignatureEncoding, Signer as _};
use zeroize::Zeroizing;

use super::{KeyAlgorithm, SignatureAlgorithm, Signer, SubjectPublicKeyInfoDer};
use crate::{Error, Result};

enum Material {
    EcdsaP256(p256::ecdsa::SigningKey),
    EcdsaP384(p384::ecdsa::SigningKey),
    Rsa(Box<RsaKeys>),
    Ed25519(ed25519_dalek::SigningKey),
}

/// An RSA private key, with a signing key for each padding it signs with.
struct RsaKeys {
    pkcs1v15: rsa::pkcs1v15::SigningKey<Sha256>,
    /// Blinded, with a salt of [`SignatureAlgorithm::RSA_PSS_SALT_LENGTH`] bytes.
    pss: rsa::pss::BlindedSigningKey<Sha256>,
    private_key: rsa::RsaPrivateKey,
}

/// A private key in memory, with its public key.
pub struct SoftwareKey {
    algorithm: KeyAlgorithm,
    material: Material,
    public_key: SubjectPublicKeyInfoDer,
}

impl fmt::Debug for SoftwareKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftwareKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl SoftwareKey {
    /// Generates a new key pair of `algorithm` from the operating system's random number generator.
    ///
    /// # Errors
    ///
    /// [`Error::Crypto`] when key generation fails.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<Self> {
        let operation = || format!("generating an {algorithm} key");
        let material = match algorithm {
            KeyAlgorithm::EcdsaP256 => {
                Material::EcdsaP256(p256::ecdsa::SigningKey::random(&mut OsRng))
            }
            KeyAlgorithm::EcdsaP384 => {
                Material::EcdsaP384(p384::ecdsa::SigningKey::random(&mut OsRng))
            }
            KeyAlgorithm::Ed25519 => {
                Material::Ed25519(ed25519_dalek::SigningKey::generate(&mut OsRng))
            }
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
                let bits = algorithm.rsa_bits().unwrap_or(2048);
                let key = rsa::RsaPrivateKey::new(&mut OsRng, bits)
                    .map_err(|e| Error::crypto(operation(), e))?;
                rsa_material(key)
            }
        };
        Self::from_material(algorithm, material)
    }

    /// Reads an unencrypted PKCS#8 `PrivateKeyInfo` (DER).
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] for a key algorithm, curve or RSA size certa
    /// does not use, and [`Error::Crypto`] for a malformed key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        let info = PrivateKeyInfo::try_from(der)
            .map_err(|e| Error::crypto("reading a PKCS#8 private key", e))?;
        let oid = info.algorithm.oid;
        let read_error = |e: pkcs8::Error| Error::crypto("reading a PKCS#8 private key", e);

        let (algorithm, material) = if oid == rfc5912::ID_EC_PUBLIC_KEY {
            let curve = info
                .algorithm
                .parameters_oid()
                .map_err(|e| Error::crypto("reading the curve of an EC private key", e))?;
            if curve == rfc5912::SECP_256_R_1 {
                let key = p256::ecdsa::SigningKey::from_pkcs8_der(der).map_err(read_error)?;
                (KeyAlgorithm::EcdsaP256, Material::EcdsaP256(key))
            } else if curve == rfc5912::SECP_384_R_1 {
                let key = p384::ecdsa::SigningKey::from_pkcs8_der(der).map_err(read_error)?;
                (KeyAlgorithm::EcdsaP384, Material::EcdsaP384(key))
            } else {
                return Err(Error::Unsupported {
                    what: format!("EC private key on curve {curve}; use P-256 or P-384"),
                });
            }
        } else if oid == rfc5912::RSA_ENCRYPTION {
            let key = rsa::RsaPrivateKey::from_pkcs8_der(der).map_err(read_error)?;
            let bits = key.size() * 8;
            let algorithm = match bits {
                2048 => KeyAlgorithm::Rsa2048,
                3072 => KeyAlgorithm::Rsa3072,
                4096 => KeyAlgorithm::Rsa4096,
                _ => {
                    return Err(Error::Unsupported {
                        what: format!("RSA private key of {bits} bits; use 2048, 3072 or 4096"),
                    })
                }
            };
            (algorithm, rsa_material(key))
        } else if oid == rfc8410::ID_ED_25519 {
            let key = ed25519_dalek::SigningKey::from_pkcs8_der(der).map_err(read_error)?;
            (KeyAlgorithm::Ed25519, Material::Ed25519(key))
        } else {
            return Err(Error::Unsupported {
                what: format!(
                    "private key algorithm {oid}; use ECDSA P-256 or P-384, RSA or Ed25519"
                ),
            });
        };
        Self::from_material(algorithm, material)
    }

    fn from_material(algorithm: KeyAlgorithm, material: Material) -> Result<Self> {
        let encoded = match &material {
            Material::EcdsaP256(key) => key.verifying_key().to_public_key_der(),
            Material::EcdsaP384(key) => key.verifying_key().to_public_key_der(),
            Material::Rsa(keys) => keys.private_key.to_public_key().to_public_key_der(),
            Material::Ed25519(key) => key.verifying_key().to_public_key_der(),
        }
        .map_err(|e| Error::crypto("encoding a public key", e))?;
        Ok(SoftwareKey {
            algorithm,
            material,
            public_key: SubjectPublicKeyInfoDer(encoded.into_vec()),
        })
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// Encodes the private key as an unencrypted PKCS#8 `PrivateKeyInfo` (DER).
    ///
    /// # Errors
    ///
    /// [`Error::Crypto`] when encoding fails.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>> {
        let document = match &self.material {
            Material::EcdsaP256(key) => key.to_pkcs8_der(),
            Material::EcdsaP384(key) => key.to_pkcs8_der(),
            Material::Rsa(keys) => keys.private_key.to_pkcs8_der(),
            // ed25519-dalek writes a PKCS#8 v2 OneAsymmetricKey with the
            // public key in it, which OpenSSL 3.0 cannot read; write the v1
            // form of RFC 8410, section 7, instead.
            Material::Ed25519(key) => ed25519_dalek::pkcs8::KeypairBytes {
                secret_key: key.to_bytes(),
                public_key: None,
            }
            .to_pkcs8_der(),
        }
        .map_err(|e| Error::crypto("encoding a PKCS#8 private key", e))?;
        Ok(Zeroizing::new(document.as_bytes().to_vec()))
    }
}

fn rsa_material(key: rsa::RsaPrivateKey) -> Material {
    let pss = rsa::pss::BlindedSigningKey::<Sha256>::new_with_salt_len(
        key.clone(),
        SignatureAlgorithm::RSA_PSS_SALT_LENGTH,
    );
    Material::Rsa(Box::new(RsaKeys {
        pkcs1v15: rsa::pkcs1v15::SigningKey::<Sha256>::new(key.clone()),
        pss,
        private_key: key,
    }))
}

impl Signer for SoftwareKey {
    fn signature_algorithm(&self) -> SignatureAlgorithm {
        self.algorithm.signature_algorithm()
    }

    fn public_key(&self) -> &SubjectPublicKeyInfoDer {
        &self.public_key
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let operation = || format!("signing with an {} key", self.algorithm);
        let signature = match &self.material {
            Material::EcdsaP256(key) => {
                let signature: p256::ecdsa::Signature = key
                    .try_sign(message)
                    .map_err(|e| Error::crypto(operation(), e))?;
                signature.to_der().to_vec()
            }
            Material::EcdsaP384(key) => {
                let signature: p384::ecdsa::Signature = key
                    .try_sign(message)
                    .map_err(|e| Error::crypto(operation(), e))?;
                signature.to_der().to_vec()
            }
            Material::Rsa(keys) => keys
                .pkcs1v15
                .try_sign(message)
                .map_err(|e| Error::crypto(operation(), e))?
                .to_vec(),
            Material::Ed25519(key) => key
                .try_sign(message)
                .map_err(|e| Error::crypto(operation(), e))?
                .to_vec(),
        };
        Ok(signature)
    }

    /// Lists PKCS#1 v1.5 and RSASSA-PSS for RSA keys, and the one algorithm
    /// of other keys.
    fn signature_algorithms(&self) -> Vec<SignatureAlgorithm> {
        let own = self.signature_algorithm();
        match self.material {
            Material::Rsa(_) => vec![own, SignatureAlgorithm::RsaPssSha256],
            _ => vec![own],
        }
    }

    fn sign_with(&self, algorithm: SignatureAlgorithm, message: &[u8]) -> Result<Vec<u8>> {
        if algorithm == self.signature_algorithm() {
            return self.sign(message);
        }
        let (Material::Rsa(keys), SignatureAlgorithm::RsaPssSha256) = (&self.material, algorithm)
        else {
            return Err(Error::Unsupported {
                what: format!(
                    "signing with {algorithm} by an {} key, which signs with {} only",
                    self.algorithm,
                    self.signature_algorithm()
                ),
            });
        };

        // The rsa crate checks the private-key operation against the public
        // key before it returns the signature (`rsa_decrypt_and_check`).
        let signature = keys
            .pss
            .try_sign_with_rng(&mut OsRng, message)
            .map_err(|e| {
                Error::crypto(
                    format!("signing with {algorithm} with an {} key", self.algorithm),
                    e,
                )
            })?;
        Ok(signature.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs8_round_trip_keeps_public_key() {
        for algorithm in [
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::EcdsaP384,
            KeyAlgorithm::Ed25519,
        ] {
            let key = SoftwareKey::generate(algorithm).expect("generate");
            let der = key.to_pkcs8_der().expect("encode");
            let read = SoftwareKey::from_pkcs8_der(&der).expect("decode");
            assert_eq!(read.algorithm(), algorithm);
            assert_eq!(read.public_key(), key.public_key());
        }
    }

    #[test]
    fn rsa_lists_pss_second() {
        let key = SoftwareKey::generate(KeyAlgorithm::Rsa2048).expect("generate");
        assert_eq!(
            key.signature_algorithms(),
            [
                SignatureAlgorithm::RsaPkcs1Sha256,
                SignatureAlgorithm::RsaPssSha256
            ]
        );
    }

    #[test]
    fn ecdsa_lists_own_algorithm_only() {
        let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).expect("generate");
        assert_eq!(
            key.signature_algorithms(),
            [SignatureAlgorithm::EcdsaSha256]
        );
    }

    #[test]
    fn ecdsa_pss_unsupported() {
        let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).expect("generate");
        let error = key
            .sign_with(SignatureAlgorithm::RsaPssSha256, b"message")
            .unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, Error::Unsupported { .. }), "{message}");
        assert!(message.contains("RSASSA-PSS"), "{message}");
        assert!(message.contains("ecdsa-p256"), "{message}");
    }

    #[test]
    fn rsa_pss_signature_is_randomized() {
        let key = SoftwareKey::generate(KeyAlgorithm::Rsa2048).expect("generate");
        let first = key
            .sign_with(SignatureAlgorithm::RsaPssSha256, b"message")
            .expect("sign");
        let second = key
            .sign_with(SignatureAlgorithm::RsaPssSha256, b"message")
            .expect("sign");
        assert_eq!(first.len(), 256);
        assert_ne!(first, second, "two PSS signatures share their salt");
    }

    #[test]
    fn debug_shows_no_key_material() {
        let key = SoftwareKey::generate(KeyAlgorithm::Ed25519).expect("generate");
        assert_eq!(format!("{key:?}"), "SoftwareKey { algorithm: Ed25519, .. }");
    }
}
