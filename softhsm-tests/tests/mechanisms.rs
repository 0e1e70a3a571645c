//! A token that lacks mechanisms: SoftHSM configured to offer only EC and RSA
//! key generation, CKM_ECDSA and CKM_RSA_PKCS, so Ed25519 key generation names
//! the missing mechanism and RSA signing falls back to a DigestInfo made on
//! the host.
//!
//! The mechanism setting applies to the whole test process, which is why
//! these tests have their own test binary.

mod common;

use certa_backends::pkcs11::Pkcs11KeyOptions;
use certa_core::key::{KeyAlgorithm, KeyStore};
use certa_core::Error;
use certa_softhsm_tests::{configure_mechanisms, SoftHsmToken};
use common::assert_openssl_verifies;

const MESSAGE: &[u8] = b"signed with CKM_RSA_PKCS over a host-made DigestInfo";

fn limited_token(label: &str) -> SoftHsmToken {
    static CONFIGURE: std::sync::Once = std::sync::Once::new();
    CONFIGURE.call_once(|| {
        // NOTE: SoftHSM 2.6.1 leaves the first entry of a "-" (disable) list
        // enabled, so the mechanisms are listed as the ones to enable.
        configure_mechanisms(
            "CKM_EC_KEY_PAIR_GEN,CKM_ECDSA,CKM_RSA_PKCS_KEY_PAIR_GEN,CKM_RSA_PKCS",
        );
    });
    SoftHsmToken::new(label)
}

#[test]
fn missing_generation_mechanism_is_named() {
    let token = limited_token("no-eddsa");
    let store = token.key_store();
    let Err(error) = store.create_key(&token.key_uri("CA"), KeyAlgorithm::Ed25519, None) else {
        panic!("made an Ed25519 key without CKM_EC_EDWARDS_KEY_PAIR_GEN");
    };
    let message = error.to_string();
    assert!(matches!(error, Error::Unsupported { .. }), "{message}");
    assert!(message.contains("CKM_EC_EDWARDS_KEY_PAIR_GEN"), "{message}");
    assert!(message.contains("\"no-eddsa\""), "{message}");
}

#[test]
fn rsa_signs_with_host_digest_info() {
    let token = limited_token("no-sha256-rsa");
    let store = token.key_store();
    let key = token.key_uri("CA");
    let public_key = store
        .create_key(&key, KeyAlgorithm::Rsa2048, None)
        .expect("create");
    let signer = store.unlock(&key, None).expect("unlock");
    let signature = signer.sign(MESSAGE).expect("sign");
    assert_openssl_verifies(
        &token.directory(),
        KeyAlgorithm::Rsa2048,
        &public_key,
        MESSAGE,
        &signature,
    );
}

#[test]
fn always_authenticate_needs_hashing_mechanism() {
    let token = limited_token("no-multi-part");
    let store = token.key_store();
    let key = token.key_uri("CA");
    let options = Pkcs11KeyOptions::default().with_always_authenticate(true);
    store
        .create_key_with_options(&key, KeyAlgorithm::Rsa2048, None, options)
        .expect("create");
    let Err(error) = store.unlock(&key, None) else {
        panic!("unlocked an always-authenticate key with CKM_RSA_PKCS only");
    };
    let message = error.to_string();
    assert!(matches!(error, Error::Unsupported { .. }), "{message}");
    assert!(message.contains("CKM_RSA_PKCS"), "{message}");
}
