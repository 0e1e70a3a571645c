//! RSASSA-PSS on a token that does not hash: SoftHSM configured to offer
//! `CKM_RSA_PKCS_PSS` but not `CKM_SHA256_RSA_PKCS_PSS`, so certa hashes the
//! message on the host and the token signs the SHA-256 hash.
//!
//! The mechanism setting applies to the whole test process, which is why
//! these tests have their own test binary.

mod common;
mod pss_openssl;

use certa_backends::pkcs11::Pkcs11KeyOptions;
use certa_core::key::verify::verify_with;
use certa_core::key::{KeyAlgorithm, KeyStore, SignatureAlgorithm, Signer};
use certa_core::Error;
use certa_softhsm_tests::{configure_mechanisms, SoftHsmToken};
use pss_openssl::assert_openssl_verifies_pss;

const MESSAGE: &[u8] = b"signed with CKM_RSA_PKCS_PSS over a SHA-256 hash made on the host";

fn host_hash_token(label: &str) -> SoftHsmToken {
    static CONFIGURE: std::sync::Once = std::sync::Once::new();
    CONFIGURE.call_once(|| {
        // CKM_SHA256_RSA_PKCS is kept because a key with
        // CKA_ALWAYS_AUTHENTICATE is unlocked only when its own PKCS#1 v1.5
        // signatures have a mechanism that hashes on the token.
        configure_mechanisms("CKM_RSA_PKCS_KEY_PAIR_GEN,CKM_SHA256_RSA_PKCS,CKM_RSA_PKCS_PSS");
    });
    SoftHsmToken::new(label)
}

fn rsa_signer(token: &SoftHsmToken, options: Pkcs11KeyOptions) -> std::sync::Arc<dyn Signer> {
    let store = token.key_store();
    let key = token.key_uri("TLS");
    store
        .create_key_with_options(&key, KeyAlgorithm::Rsa2048, None, options)
        .expect("create an RSA-2048 key");
    store.unlock(&key, None).expect("unlock")
}

#[test]
fn host_hash_pss_verifies() {
    let token = host_hash_token("pss-host-hash");
    let signer = rsa_signer(&token, Pkcs11KeyOptions::default());

    let signature = signer
        .sign_with(SignatureAlgorithm::RsaPssSha256, MESSAGE)
        .expect("sign with CKM_RSA_PKCS_PSS");

    let certa = verify_with(
        signer.public_key(),
        SignatureAlgorithm::RsaPssSha256,
        MESSAGE,
        &signature,
    );
    assert!(certa.is_ok(), "certa's verifier: {certa:?}");
    assert_openssl_verifies_pss(&token.directory(), signer.public_key(), MESSAGE, &signature);
}

#[test]
fn always_authenticate_without_pss_hash() {
    let token = host_hash_token("pss-host-always-auth");
    let options = Pkcs11KeyOptions::default().with_always_authenticate(true);
    let signer = rsa_signer(&token, options);

    let error = signer
        .sign_with(SignatureAlgorithm::RsaPssSha256, MESSAGE)
        .unwrap_err();

    let message = error.to_string();
    assert_eq!(
        signer.signature_algorithms(),
        [SignatureAlgorithm::RsaPkcs1Sha256]
    );
    assert!(matches!(error, Error::Unsupported { .. }), "{message}");
    assert!(message.contains("CKM_SHA256_RSA_PKCS_PSS"), "{message}");
    assert!(message.contains("CKA_ALWAYS_AUTHENTICATE"), "{message}");
}
