//! Keys: algorithms, key URIs, the [`KeyStore`] trait and the [`Signer`] it
//! hands out, plus software keys and signature verification.
//!
//! A key store creates key pairs, returns a key's SubjectPublicKeyInfo and,
//! once unlocked with a password or PIN, gives a [`Signer`]. Importing,
//! listing and deleting keys are separate, optional abilities
//! ([`KeyImport`], [`KeyList`], [`KeyDelete`]), because a hardware token may
//! forbid them.

mod algorithm;
pub mod rcgen_signer;
pub mod software;
mod uri;
pub mod verify;

use std::fmt;
use std::sync::Arc;

pub use algorithm::{KeyAlgorithm, SignatureAlgorithm};
pub use secrecy::{ExposeSecret, SecretString};
pub use uri::{KeyUri, KeyUriError, ObjectType, PinSource, Pkcs11Uri};

use crate::Result;

/// A DER-encoded SubjectPublicKeyInfo.
#[derive(Clone, PartialEq, Eq)]
pub struct SubjectPublicKeyInfoDer(pub Vec<u8>);

impl SubjectPublicKeyInfoDer {
    /// Returns the DER bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SubjectPublicKeyInfoDer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SubjectPublicKeyInfoDer({} bytes)", self.0.len())
    }
}

/// A private key that is ready to sign.
///
/// `sign` returns the signature in the form X.509 and CSRs carry it: DER
/// `Ecdsa-Sig-Value` for ECDSA, the raw value for RSA PKCS#1 v1.5 and Ed25519.
/// A signer hashes the message itself as its [`SignatureAlgorithm`] says.
pub trait Signer: Send + Sync {
    /// The algorithm of the signatures this signer makes.
    fn signature_algorithm(&self) -> SignatureAlgorithm;

    /// The SubjectPublicKeyInfo of the key, DER-encoded.
    fn public_key(&self) -> &SubjectPublicKeyInfoDer;

    /// Signs `message`.
    ///
    /// # Errors
    ///
    /// Returns [`crate::Error::KeyStore`] or [`crate::Error::Crypto`] when the
    /// key store or the cryptographic library fails.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>>;

    /// Returns the algorithms this signer can sign with, its own
    /// [`signature_algorithm`](Signer::signature_algorithm) first. An RSA key
    /// adds [`SignatureAlgorithm::RsaPssSha256`], which TLS 1.3 needs.
    fn signature_algorithms(&self) -> Vec<SignatureAlgorithm> {
        vec![self.signature_algorithm()]
    }

    /// Signs `message` with `algorithm`, one of
    /// [`signature_algorithms`](Signer::signature_algorithms).
    ///
    /// # Errors
    ///
    /// [`crate::Error::Unsupported`] for an algorithm the signer does not
    /// offer, and the errors of [`sign`](Signer::sign).
    fn sign_with(&self, algorithm: SignatureAlgorithm, message: &[u8]) -> Result<Vec<u8>> {
        if algorithm != self.signature_algorithm() {
            return Err(crate::Error::Unsupported {
                what: format!(
                    "signing with {algorithm} by a key that signs with {}",
                    self.signature_algorithm()
                ),
            });
        }
        self.sign(message)
    }
}

/// The core abilities of a key store.
///
/// `secret` is the password (file key store) or PIN (token) that protects the
/// key. `None` means none is given: the file key store then writes an
/// unencrypted key, and a token takes the PIN from the URI's `pin-source` or
/// `pin-value`, or fails.
pub trait KeyStore: Send + Sync {
    /// Creates a key pair of `algorithm` at `key` and returns its public key.
    ///
    /// # Errors
    ///
    /// [`crate::Error::AlreadyExists`] when a key is already there,
    /// [`crate::Error::Unsupported`] when the store cannot make that algorithm,
    /// and the store's own errors.
    fn create_key(
        &self,
        key: &KeyUri,
        algorithm: KeyAlgorithm,
        secret: Option<&SecretString>,
    ) -> Result<SubjectPublicKeyInfoDer>;

    /// Returns the SubjectPublicKeyInfo of the key at `key`.
    ///
    /// # Errors
    ///
    /// [`crate::Error::NotFound`] when there is no such key, and
    /// [`crate::Error::WrongPassword`] when the secret does not open it.
    fn public_key(
        &self,
        key: &KeyUri,
        secret: Option<&SecretString>,
    ) -> Result<SubjectPublicKeyInfoDer>;

    /// Unlocks the key at `key` and returns a signer for it.
    ///
    /// # Errors
    ///
    /// [`crate::Error::NotFound`] when there is no such key, and
    /// [`crate::Error::WrongPassword`] when the secret does not open it.
    fn unlock(&self, key: &KeyUri, secret: Option<&SecretString>) -> Result<Arc<dyn Signer>>;
}

/// Importing an existing private key into a key store.
pub trait KeyImport: KeyStore {
    /// Stores the PKCS#8 `PrivateKeyInfo` (DER) at `key`, protected by `secret`.
    ///
    /// # Errors
    ///
    /// [`crate::Error::AlreadyExists`] when a key is already there, and the
    /// store's own errors.
    fn import_key(
        &self,
        key: &KeyUri,
        pkcs8_der: &[u8],
        secret: Option<&SecretString>,
    ) -> Result<SubjectPublicKeyInfoDer>;
}

/// Listing the keys a key store holds.
pub trait KeyList: KeyStore {
    /// Returns the URIs of the keys the store holds.
    ///
    /// # Errors
    ///
    /// The store's own errors.
    fn list_keys(&self) -> Result<Vec<KeyUri>>;
}

/// Deleting a key from a key store.
pub trait KeyDelete: KeyStore {
    /// Deletes the key at `key`.
    ///
    /// # Errors
    ///
    /// [`crate::Error::NotFound`] when there is no such key, and the store's
    /// own errors.
    fn delete_key(&self, key: &KeyUri) -> Result<()>;
}
