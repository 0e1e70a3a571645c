//! Lets rcgen sign with any [`Signer`], so that CA certificates and CSRs can
//! be made with keys that stay in a key store.

use der::Decode;
use spki::SubjectPublicKeyInfoRef;

use super::{SignatureAlgorithm, Signer};
use crate::{Error, Result};

/// A [`Signer`] seen through rcgen's `SigningKey` trait.
pub struct RcgenSigner<'a> {
    signer: &'a dyn Signer,
    /// The content of the SubjectPublicKeyInfo's BIT STRING, which rcgen calls the key's DER bytes.
    subject_public_key: Vec<u8>,
}

impl<'a> RcgenSigner<'a> {
    /// Wraps `signer`.
    ///
    /// # Errors
    ///
    /// [`Error::Crypto`] when the signer's public key is not a valid SubjectPublicKeyInfo.
    pub fn new(signer: &'a dyn Signer) -> Result<Self> {
        let info = SubjectPublicKeyInfoRef::from_der(signer.public_key().as_bytes())
            .map_err(|e| Error::crypto("reading the signer's public key", e))?;
        let subject_public_key = info.subject_public_key.raw_bytes().to_vec();
        Ok(RcgenSigner {
            signer,
            subject_public_key,
        })
    }
}

impl rcgen::PublicKeyData for RcgenSigner<'_> {
    fn subject_public_key_info(&self) -> Vec<u8> {
        self.signer.public_key().as_bytes().to_vec()
    }

    fn der_bytes(&self) -> &[u8] {
        &self.subject_public_key
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        match self.signer.signature_algorithm() {
            SignatureAlgorithm::EcdsaSha256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            SignatureAlgorithm::EcdsaSha384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            // No key store hands out a signer whose own algorithm is
            // RSASSA-PSS (only `sign_with` makes PSS signatures), and a
            // mislabelled signature would fail the check every certificate
            // and CSR gets before it is written.
            SignatureAlgorithm::RsaPkcs1Sha256 | SignatureAlgorithm::RsaPssSha256 => {
                &rcgen::PKCS_RSA_SHA256
            }
            SignatureAlgorithm::Ed25519 => &rcgen::PKCS_ED25519,
        }
    }
}

impl rcgen::SigningKey for RcgenSigner<'_> {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.signer.sign(message).map_err(|e| {
            tracing::warn!(error = %e, "signing for rcgen failed");
            rcgen::Error::RemoteKeyError
        })
    }
}
