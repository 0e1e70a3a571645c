//! rustls' signing-key traits on top of a certa [`Signer`], so that a TLS
//! handshake signs with a key in either key store, a PKCS#11 token included.

use std::fmt;
use std::sync::Arc;

use rustls::pki_types::SubjectPublicKeyInfoDer;
use rustls::sign::{Signer as TlsSigner, SigningKey};
use rustls::{SignatureAlgorithm as TlsKeyAlgorithm, SignatureScheme};

use crate::key::{SignatureAlgorithm, Signer};

/// A certa [`Signer`] as a rustls [`SigningKey`].
///
/// ECDSA and Ed25519 keys offer their one scheme. RSA keys offer RSASSA-PSS
/// (which TLS 1.3 requires) and PKCS#1 v1.5 (TLS 1.2 only), when the signer
/// lists the algorithm.
#[derive(Clone)]
pub struct KeyStoreSigningKey {
    signer: Arc<dyn Signer>,
}

impl KeyStoreSigningKey {
    /// Wraps `signer`.
    pub fn new(signer: Arc<dyn Signer>) -> Self {
        KeyStoreSigningKey { signer }
    }

    /// Returns the TLS signature schemes the key can sign with, preferred first.
    fn schemes(&self) -> Vec<(SignatureScheme, SignatureAlgorithm)> {
        self.signer
            .signature_algorithms()
            .into_iter()
            .map(|algorithm| {
                let scheme = match algorithm {
                    SignatureAlgorithm::EcdsaSha256 => SignatureScheme::ECDSA_NISTP256_SHA256,
                    SignatureAlgorithm::EcdsaSha384 => SignatureScheme::ECDSA_NISTP384_SHA384,
                    SignatureAlgorithm::Ed25519 => SignatureScheme::ED25519,
                    SignatureAlgorithm::RsaPssSha256 => SignatureScheme::RSA_PSS_SHA256,
                    SignatureAlgorithm::RsaPkcs1Sha256 => SignatureScheme::RSA_PKCS1_SHA256,
                };
                (scheme, algorithm)
            })
            .collect()
    }
}

impl fmt::Debug for KeyStoreSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyStoreSigningKey")
            .field("algorithm", &self.signer.signature_algorithm())
            .finish_non_exhaustive()
    }
}

impl SigningKey for KeyStoreSigningKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn TlsSigner>> {
        let mut schemes = self.schemes();
        // RSASSA-PSS first: TLS 1.3 peers offer only it for RSA keys, and a
        // TLS 1.2 peer that offers both gets the stronger padding.
        schemes.sort_by_key(|(scheme, _)| *scheme != SignatureScheme::RSA_PSS_SHA256);
        let (scheme, algorithm) = schemes
            .into_iter()
            .find(|(scheme, _)| offered.contains(scheme))?;
        Some(Box::new(SchemeSigner {
            signer: Arc::clone(&self.signer),
            scheme,
            algorithm,
        }))
    }

    fn public_key(&self) -> Option<SubjectPublicKeyInfoDer<'_>> {
        Some(SubjectPublicKeyInfoDer::from(
            self.signer.public_key().as_bytes(),
        ))
    }

    fn algorithm(&self) -> TlsKeyAlgorithm {
        match self.signer.signature_algorithm() {
            SignatureAlgorithm::EcdsaSha256 | SignatureAlgorithm::EcdsaSha384 => {
                TlsKeyAlgorithm::ECDSA
            }
            SignatureAlgorithm::Ed25519 => TlsKeyAlgorithm::ED25519,
            _ => TlsKeyAlgorithm::RSA,
        }
    }
}

/// One handshake signature with the scheme rustls chose.
struct SchemeSigner {
    signer: Arc<dyn Signer>,
    scheme: SignatureScheme,
    algorithm: SignatureAlgorithm,
}

impl fmt::Debug for SchemeSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchemeSigner")
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

impl TlsSigner for SchemeSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        self.signer
            .sign_with(self.algorithm, message)
            .map_err(|error| {
                tracing::warn!(%error, scheme = ?self.scheme, "the key store failed to sign a TLS handshake");
                rustls::Error::General(format!("the key store failed to sign: {error}"))
            })
    }

    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }
}
