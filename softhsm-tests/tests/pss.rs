//! RSASSA-PSS with keys on a SoftHSM token that offers every mechanism, so
//! the token hashes (`CKM_SHA256_RSA_PKCS_PSS`). Signatures are checked by
//! certa's verifier and by OpenSSL's command line.

mod common;
mod pss_openssl;

use certa_backends::pkcs11::Pkcs11KeyOptions;
use certa_core::key::verify::verify_with;
use certa_core::key::{KeyAlgorithm, KeyStore, SignatureAlgorithm, Signer};
use certa_core::Error;
use certa_softhsm_tests::SoftHsmToken;
use pss_openssl::{assert_openssl_verifies_pss, openssl_verify_pss};

const MESSAGE: &[u8] = b"TLS 1.3 CertificateVerify stand-in, signed with RSASSA-PSS";

/// Creates an RSA-2048 key labelled `object` on `token` and unlocks it.
fn rsa_signer(
    token: &SoftHsmToken,
    object: &str,
    options: Pkcs11KeyOptions,
) -> std::sync::Arc<dyn Signer> {
    let store = token.key_store();
    let key = token.key_uri(object);
    store
        .create_key_with_options(&key, KeyAlgorithm::Rsa2048, None, options)
        .expect("create an RSA-2048 key");
    store.unlock(&key, None).expect("unlock")
}

#[test]
fn rsa_key_lists_pss() {
    let token = SoftHsmToken::new("pss-list");
    let signer = rsa_signer(&token, "TLS", Pkcs11KeyOptions::default());

    assert_eq!(
        signer.signature_algorithms(),
        [
            SignatureAlgorithm::RsaPkcs1Sha256,
            SignatureAlgorithm::RsaPssSha256
        ]
    );
}

#[test]
fn pss_signature_verifies() {
    let token = SoftHsmToken::new("pss-sign");
    let signer = rsa_signer(&token, "TLS", Pkcs11KeyOptions::default());

    let signature = signer
        .sign_with(SignatureAlgorithm::RsaPssSha256, MESSAGE)
        .expect("sign with RSASSA-PSS");

    assert_eq!(signature.len(), 256);
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
fn pss_salt_is_32_bytes() {
    let token = SoftHsmToken::new("pss-salt");
    let signer = rsa_signer(&token, "TLS", Pkcs11KeyOptions::default());

    let signature = signer
        .sign_with(SignatureAlgorithm::RsaPssSha256, MESSAGE)
        .expect("sign with RSASSA-PSS");
    let again = signer
        .sign_with(SignatureAlgorithm::RsaPssSha256, MESSAGE)
        .expect("sign with RSASSA-PSS again");
    let salt_20 = openssl_verify_pss(
        &token.directory(),
        signer.public_key(),
        MESSAGE,
        &signature,
        20,
    );

    assert_ne!(signature, again, "two PSS signatures share their salt");
    assert!(
        !salt_20.success,
        "OpenSSL verified the token's PSS signature with a 20-byte salt:\n{}",
        salt_20.stdout
    );
}

#[test]
fn pss_signature_fails_as_pkcs1() {
    let token = SoftHsmToken::new("pss-not-pkcs1");
    let signer = rsa_signer(&token, "TLS", Pkcs11KeyOptions::default());

    let signature = signer
        .sign_with(SignatureAlgorithm::RsaPssSha256, MESSAGE)
        .expect("sign with RSASSA-PSS");
    let result = verify_with(
        signer.public_key(),
        SignatureAlgorithm::RsaPkcs1Sha256,
        MESSAGE,
        &signature,
    );

    assert!(result.is_err(), "a PSS signature verified as PKCS#1 v1.5");
}

#[test]
fn own_algorithm_through_sign_with() {
    let token = SoftHsmToken::new("pss-own");
    let signer = rsa_signer(&token, "TLS", Pkcs11KeyOptions::default());

    let signature = signer
        .sign_with(SignatureAlgorithm::RsaPkcs1Sha256, MESSAGE)
        .expect("sign with PKCS#1 v1.5");
    let result = verify_with(
        signer.public_key(),
        SignatureAlgorithm::RsaPkcs1Sha256,
        MESSAGE,
        &signature,
    );

    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn always_authenticate_key_signs_pss() {
    let token = SoftHsmToken::new("pss-always-auth");
    let options = Pkcs11KeyOptions::default().with_always_authenticate(true);
    let signer = rsa_signer(&token, "TLS", options);

    let signature = signer
        .sign_with(SignatureAlgorithm::RsaPssSha256, MESSAGE)
        .expect("sign with RSASSA-PSS and a context-specific login");

    assert_openssl_verifies_pss(&token.directory(), signer.public_key(), MESSAGE, &signature);
}

#[test]
fn ecdsa_key_pss_unsupported() {
    let token = SoftHsmToken::new("pss-ecdsa");
    let store = token.key_store();
    let key = token.key_uri("TLS");
    store
        .create_key(&key, KeyAlgorithm::EcdsaP256, None)
        .expect("create a P-256 key");
    let signer = store.unlock(&key, None).expect("unlock");

    let error = signer
        .sign_with(SignatureAlgorithm::RsaPssSha256, MESSAGE)
        .unwrap_err();

    let message = error.to_string();
    assert_eq!(
        signer.signature_algorithms(),
        [SignatureAlgorithm::EcdsaSha256]
    );
    assert!(matches!(error, Error::Unsupported { .. }), "{message}");
    assert!(message.contains("RSASSA-PSS"), "{message}");
    assert!(message.contains("ecdsa-p256"), "{message}");
}
