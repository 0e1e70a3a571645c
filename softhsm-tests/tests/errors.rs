//! Each failure of the PKCS#11 key store has its own message: a missing or
//! unloadable module, an unknown token, a wrong or missing PIN, a missing or
//! ambiguous key.

use std::path::PathBuf;

use certa_backends::pkcs11::Pkcs11KeyStore;
use certa_core::key::{KeyAlgorithm, KeyStore, KeyUri, PinSource, Pkcs11Uri, SecretString};
use certa_core::Error;
use certa_softhsm_tests::{SoftHsmToken, USER_PIN};

fn open_error(uri: &Pkcs11Uri) -> Error {
    match Pkcs11KeyStore::open(uri) {
        Ok(store) => panic!("opened {store:?}"),
        Err(error) => error,
    }
}

#[test]
fn missing_module_names_path_and_fix() {
    let _token = SoftHsmToken::new("no-module");
    let uri = Pkcs11Uri {
        module_path: Some(PathBuf::from("/nonexistent/libnothing.so")),
        ..Pkcs11Uri::default()
    };
    let error = open_error(&uri);
    let message = error.to_string();
    assert!(matches!(error, Error::KeyStore { .. }), "{message}");
    assert!(message.contains("/nonexistent/libnothing.so"), "{message}");
    assert!(message.contains("not found"), "{message}");
    assert!(message.contains("softhsm2"), "{message}");
    assert!(message.contains("module-path="), "{message}");
}

#[test]
fn unloadable_module_names_path() {
    let token = SoftHsmToken::new("bad-module");
    let fake = token.directory().join("libfake.so");
    std::fs::write(&fake, b"not a shared library").expect("write");
    let uri = Pkcs11Uri {
        module_path: Some(fake.clone()),
        ..Pkcs11Uri::default()
    };
    let message = open_error(&uri).to_string();
    assert!(
        message.contains("failed to load PKCS#11 module"),
        "{message}"
    );
    assert!(message.contains(&fake.display().to_string()), "{message}");
}

#[test]
fn uri_without_module_says_how_to_name_one() {
    let _token = SoftHsmToken::new("module-less");
    let uri: Pkcs11Uri = "pkcs11:token=module-less;object=CA".parse().expect("URI");
    let message = open_error(&uri).to_string();
    assert!(message.contains("names no PKCS#11 module"), "{message}");
    assert!(message.contains("module-path="), "{message}");
}

#[test]
fn module_name_is_found_in_library_directories() {
    let token = SoftHsmToken::new("by-name");
    let uri: Pkcs11Uri = "pkcs11:token=by-name;object=CA?module-name=softhsm2"
        .parse()
        .expect("URI");
    let store = Pkcs11KeyStore::open(&uri).expect("open by module-name");
    assert_eq!(store.token_label(), token.label());
}

#[test]
fn token_chosen_by_serial_or_slot() {
    let token = SoftHsmToken::new("chosen");
    let by_label = token.key_store();

    let by_serial = Pkcs11KeyStore::open(&Pkcs11Uri {
        token: None,
        serial: Some(by_label.token_serial().to_owned()),
        ..token.uri("CA")
    })
    .expect("open by serial");
    assert_eq!(by_serial.token_label(), "chosen");

    let by_slot = Pkcs11KeyStore::open(&Pkcs11Uri {
        token: None,
        slot_id: Some(by_label.slot_id()),
        ..token.uri("CA")
    })
    .expect("open by slot-id");
    assert_eq!(by_slot.token_label(), "chosen");
}

#[test]
fn unknown_token_lists_labels_found() {
    let token = SoftHsmToken::new("present");
    let uri = Pkcs11Uri {
        token: Some("absent".to_owned()),
        ..token.uri("CA")
    };
    let error = open_error(&uri);
    let message = error.to_string();
    assert!(
        matches!(error, Error::NotFound { kind: "token", .. }),
        "{message}"
    );
    assert!(message.contains("token=\"absent\""), "{message}");
    assert!(message.contains("\"present\""), "{message}");
}

#[test]
fn wrong_pin_is_wrong_password() {
    let token = SoftHsmToken::new("wrong-pin");
    let store = token.key_store();
    let wrong = SecretString::from("not-the-pin");
    let Err(error) = store.create_key(&token.key_uri("CA"), KeyAlgorithm::EcdsaP256, Some(&wrong))
    else {
        panic!("a wrong PIN created a key");
    };
    let message = error.to_string();
    assert!(matches!(error, Error::WrongPassword { .. }), "{message}");
    assert!(message.contains("wrong password or PIN"), "{message}");
    assert!(!message.contains("not-the-pin"), "{message}");
}

#[test]
fn wrong_pin_fails_while_logged_in() {
    let token = SoftHsmToken::new("wrong-pin-logged-in");
    let store = token.key_store();
    let key = token.key_uri("CA");
    store
        .create_key(&key, KeyAlgorithm::EcdsaP256, None)
        .expect("create with the right PIN");
    let _signer = store.unlock(&key, None).expect("unlock");

    let wrong = SecretString::from("not-the-pin");
    let Err(error) = store.unlock(&key, Some(&wrong)) else {
        panic!("a wrong PIN unlocked a key while the token was logged in");
    };
    assert!(matches!(error, Error::WrongPassword { .. }), "{error}");
}

#[test]
fn missing_pin_says_how_to_give_one() {
    let token = SoftHsmToken::new("no-pin");
    let store = Pkcs11KeyStore::open(&token.uri("store")).expect("open without PIN");
    let Err(error) = store.unlock(&token.key_uri("CA"), None) else {
        panic!("unlocked without PIN");
    };
    let message = error.to_string();
    assert!(message.contains("no PIN for token \"no-pin\""), "{message}");
    assert!(message.contains("pin-source=env:NAME"), "{message}");
}

#[test]
fn unset_pin_variable_is_named() {
    let token = SoftHsmToken::new("pin-env-unset");
    let store = Pkcs11KeyStore::open(&token.uri("store")).expect("open");
    let key = KeyUri::Pkcs11(Pkcs11Uri {
        pin: Some(PinSource::Env("CERTA_TEST_UNSET_PIN_VARIABLE".to_owned())),
        ..token.uri("CA")
    });
    let Err(error) = store.unlock(&key, None) else {
        panic!("unlocked without PIN");
    };
    let message = error.to_string();
    assert!(
        message.contains("CERTA_TEST_UNSET_PIN_VARIABLE"),
        "{message}"
    );
    assert!(message.contains("not set"), "{message}");
}

#[test]
fn pin_comes_from_file_and_environment() {
    let token = SoftHsmToken::new("pin-sources");
    let store = Pkcs11KeyStore::open(&token.uri("store")).expect("open");
    let pin_file = token.directory().join("pin.txt");
    std::fs::write(&pin_file, format!("{USER_PIN}\nsecond line is ignored\n")).expect("write");
    let from_file = KeyUri::Pkcs11(Pkcs11Uri {
        pin: Some(PinSource::File(pin_file)),
        ..token.uri("CA")
    });
    store
        .create_key(&from_file, KeyAlgorithm::EcdsaP256, None)
        .expect("create with the PIN from a file");

    // The tests of this process run one at a time, so no other thread reads the environment.
    std::env::set_var("CERTA_TEST_TOKEN_PIN", USER_PIN);
    let from_env = KeyUri::Pkcs11(Pkcs11Uri {
        pin: Some(PinSource::Env("CERTA_TEST_TOKEN_PIN".to_owned())),
        ..token.uri("CA")
    });
    store
        .unlock(&from_env, None)
        .expect("unlock with the PIN from the environment");
}

#[test]
fn missing_key_is_not_found() {
    let token = SoftHsmToken::new("no-key");
    let store = token.key_store();
    let Err(error) = store.unlock(&token.key_uri("absent"), None) else {
        panic!("unlocked a key that does not exist");
    };
    let message = error.to_string();
    assert!(
        matches!(error, Error::NotFound { kind: "key", .. }),
        "{message}"
    );
    assert!(message.contains("object=absent"), "{message}");
}

#[test]
fn two_matching_keys_ask_for_id() {
    let token = SoftHsmToken::new("ambiguous");
    for id in ["01", "02"] {
        let made = token.pkcs11_tool([
            "--login",
            "--pin",
            USER_PIN,
            "--keypairgen",
            "--key-type",
            "EC:prime256v1",
            "--label",
            "twin",
            "--id",
            id,
            "--usage-sign",
        ]);
        assert!(
            made.success,
            "pkcs11-tool --keypairgen failed: {}",
            made.stderr
        );
    }
    let store = token.key_store();
    let Err(error) = store.unlock(&token.key_uri("twin"), None) else {
        panic!("unlocked one of two keys with the same label");
    };
    let message = error.to_string();
    assert!(message.contains("2 private keys match"), "{message}");
    assert!(message.contains("add id="), "{message}");

    let first: KeyUri = format!(
        "pkcs11:token=ambiguous;object=twin;id=%01?module-path={}",
        token.module_path().display()
    )
    .parse()
    .expect("URI");
    store.unlock(&first, None).expect("the id picks one key");
}

#[test]
fn key_on_other_token_is_rejected() {
    let token = SoftHsmToken::new("this-token");
    let store = token.key_store();
    let other = KeyUri::Pkcs11(Pkcs11Uri {
        token: Some("that-token".to_owned()),
        ..token.uri("CA")
    });
    let Err(error) = store.unlock(&other, None) else {
        panic!("a key URI for another token was used");
    };
    let message = error.to_string();
    assert!(message.contains("another token"), "{message}");
    assert!(message.contains("\"this-token\""), "{message}");
}

#[test]
fn file_uri_is_rejected() {
    let token = SoftHsmToken::new("file-uri");
    let store = token.key_store();
    let Err(error) = store.unlock(&KeyUri::file("ca/CA.key"), None) else {
        panic!("a file: URI was used on a token");
    };
    assert!(matches!(error, Error::InvalidInput { .. }), "{error}");
}

#[test]
fn missing_public_key_object_is_named() {
    let token = SoftHsmToken::new("no-public");
    let store = token.key_store();
    let key = token.key_uri("CA");
    store
        .create_key(&key, KeyAlgorithm::EcdsaP256, None)
        .expect("create");
    let deleted = token.pkcs11_tool([
        "--login",
        "--pin",
        USER_PIN,
        "--delete-object",
        "--type",
        "pubkey",
        "--label",
        "CA",
    ]);
    assert!(
        deleted.success,
        "pkcs11-tool --delete-object failed: {}",
        deleted.stderr
    );

    let Err(error) = store.unlock(&key, None) else {
        panic!("unlocked a key without public key object");
    };
    let message = error.to_string();
    assert!(message.contains("no public key object found"), "{message}");
    assert!(message.contains("object=CA"), "{message}");
}
