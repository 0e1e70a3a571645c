//! Sessions and logins: signers shared between threads, recovery after the
//! token logs the process out, and keys that need the PIN before each signature.

mod common;

use std::sync::Arc;

use certa_backends::pkcs11::Pkcs11KeyOptions;
use certa_core::key::{KeyAlgorithm, KeyList, KeyStore, Signer};
use certa_core::Error;
use certa_softhsm_tests::{SoftHsmToken, USER_PIN};
use common::assert_openssl_verifies;

const MESSAGE: &[u8] = b"message signed after a context-specific login";

#[test]
fn signer_signs_from_many_threads() {
    let token = SoftHsmToken::new("threads");
    let store = token.key_store();
    let key = token.key_uri("CA");
    let public_key = store
        .create_key(&key, KeyAlgorithm::EcdsaP256, None)
        .expect("create");
    let signer: Arc<dyn Signer> = store.unlock(&key, None).expect("unlock");

    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let signer = Arc::clone(&signer);
            std::thread::spawn(move || {
                (0..25)
                    .map(|round| {
                        let message = format!("worker {worker} round {round}").into_bytes();
                        let signature = signer.sign(&message).expect("sign");
                        (message, signature)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();

    let mut signed = 0;
    for worker in workers {
        for (message, signature) in worker.join().expect("worker thread") {
            certa_core::key::verify::verify_with(
                &public_key,
                signer.signature_algorithm(),
                &message,
                &signature,
            )
            .expect("signature verifies");
            signed += 1;
        }
    }
    assert_eq!(signed, 100);
}

#[test]
fn signer_recovers_after_logout() {
    let token = SoftHsmToken::new("logout");
    let store = token.key_store();
    let key = token.key_uri("CA");
    let public_key = store
        .create_key(&key, KeyAlgorithm::Rsa2048, None)
        .expect("create");
    let signer = store.unlock(&key, None).expect("unlock");
    signer.sign(b"before").expect("sign before logout");

    // C_Logout returns every session of the process to the public state and
    // hides the private key, so SoftHSM 2.6.1 returns CKR_OBJECT_HANDLE_INVALID
    // from the signer's next C_SignInit.
    token.log_out_process();
    let listed = store.list_keys().expect("list after logout");
    assert_eq!(listed.len(), 1, "{listed:?}");
    token.log_out_process();

    let signature = signer.sign(MESSAGE).expect("sign after logout");
    assert_openssl_verifies(
        &token.directory(),
        KeyAlgorithm::Rsa2048,
        &public_key,
        MESSAGE,
        &signature,
    );
}

#[test]
fn key_store_logs_in_after_log_out() {
    let token = SoftHsmToken::new("store-logout");
    let store = token.key_store();
    let key = token.key_uri("CA");
    store
        .create_key(&key, KeyAlgorithm::EcdsaP256, None)
        .expect("create");
    let signer = store.unlock(&key, None).expect("unlock");

    store.log_out().expect("log out");

    let listed = store.list_keys().expect("list after logout");
    assert_eq!(listed.len(), 1, "{listed:?}");
    let again = store.unlock(&key, None).expect("unlock after logout");
    again.sign(MESSAGE).expect("sign with the new signer");
    signer.sign(MESSAGE).expect("sign with the old signer");
}

#[test]
fn signer_outlives_key_store() {
    let token = SoftHsmToken::new("outlives");
    let key = token.key_uri("CA");
    let signer = {
        let store = token.key_store();
        store
            .create_key(&key, KeyAlgorithm::EcdsaP384, None)
            .expect("create");
        store.unlock(&key, None).expect("unlock")
    };
    let signature = signer
        .sign(MESSAGE)
        .expect("sign after the store is dropped");
    assert_openssl_verifies(
        &token.directory(),
        KeyAlgorithm::EcdsaP384,
        signer.public_key(),
        MESSAGE,
        &signature,
    );
}

#[test]
fn always_authenticate_rsa_key_signs() {
    let token = SoftHsmToken::new("always-auth");
    let store = token.key_store();
    let key = token.key_uri("CA");
    let options = Pkcs11KeyOptions::default().with_always_authenticate(true);
    let public_key = store
        .create_key_with_options(&key, KeyAlgorithm::Rsa2048, None, options)
        .expect("create");

    let listing = token.pkcs11_tool(["--login", "--pin", USER_PIN, "--list-objects"]);
    assert!(
        listing.stdout.contains("always authenticate"),
        "pkcs11-tool shows no CKA_ALWAYS_AUTHENTICATE:\n{}",
        listing.stdout
    );

    let signer = store.unlock(&key, None).expect("unlock");
    for round in 0..3 {
        let message = format!("{} {round}", String::from_utf8_lossy(MESSAGE)).into_bytes();
        let signature = signer
            .sign(&message)
            .expect("sign with a context-specific login");
        assert_openssl_verifies(
            &token.directory(),
            KeyAlgorithm::Rsa2048,
            &public_key,
            &message,
            &signature,
        );
    }
}

#[test]
fn always_authenticate_key_from_pkcs11_tool_signs() {
    let token = SoftHsmToken::new("always-auth-tool");
    let made = token.pkcs11_tool([
        "--login",
        "--pin",
        USER_PIN,
        "--keypairgen",
        "--key-type",
        "rsa:2048",
        "--label",
        "tool-key",
        "--id",
        "a1",
        "--usage-sign",
        "--always-auth",
    ]);
    assert!(
        made.success,
        "pkcs11-tool --keypairgen failed: {}",
        made.stderr
    );

    let store = token.key_store();
    let signer = store
        .unlock(&token.key_uri("tool-key"), None)
        .expect("unlock");
    let signature = signer.sign(MESSAGE).expect("sign");
    assert_openssl_verifies(
        &token.directory(),
        KeyAlgorithm::Rsa2048,
        signer.public_key(),
        MESSAGE,
        &signature,
    );
}

#[test]
fn always_auth_ecdsa_is_unsupported() {
    // SoftHSM 2.6 offers CKM_ECDSA but not CKM_ECDSA_SHA256, and a
    // single-part signature leaves no point for the context-specific login.
    let token = SoftHsmToken::new("always-auth-ec");
    let store = token.key_store();
    let key = token.key_uri("CA");
    let options = Pkcs11KeyOptions::default().with_always_authenticate(true);
    store
        .create_key_with_options(&key, KeyAlgorithm::EcdsaP256, None, options)
        .expect("create");

    let Err(error) = store.unlock(&key, None) else {
        panic!("unlocked an always-authenticate key without a multi-part mechanism");
    };
    let message = error.to_string();
    assert!(matches!(error, Error::Unsupported { .. }), "{message}");
    assert!(message.contains("CKA_ALWAYS_AUTHENTICATE"), "{message}");
    assert!(message.contains("CKM_ECDSA"), "{message}");
}

#[test]
fn two_key_stores_share_one_login() {
    let token = SoftHsmToken::new("shared-login");
    let first = token.key_store();
    let second = token.key_store();
    let key = token.key_uri("CA");
    first
        .create_key(&key, KeyAlgorithm::EcdsaP256, None)
        .expect("create");

    let one = first
        .unlock(&key, None)
        .expect("unlock through the first store");
    let two = second
        .unlock(&key, None)
        .expect("unlock through the second store");
    drop(first);
    one.sign(MESSAGE).expect("sign through the first signer");
    two.sign(MESSAGE).expect("sign through the second signer");
}

#[test]
fn signer_recovers_after_module_restart() {
    let token = SoftHsmToken::new("restart");
    let store = token.key_store();
    let key = token.key_uri("CA");
    let public_key = store
        .create_key(&key, KeyAlgorithm::EcdsaP256, None)
        .expect("create");
    let signer = store.unlock(&key, None).expect("unlock");
    signer.sign(b"before").expect("sign before the restart");

    // Every pooled session handle is invalid afterwards (CKR_SESSION_HANDLE_INVALID).
    token.restart_module();

    let signature = signer.sign(MESSAGE).expect("sign after the restart");
    assert_openssl_verifies(
        &token.directory(),
        KeyAlgorithm::EcdsaP256,
        &public_key,
        MESSAGE,
        &signature,
    );
}
