//! Keys made on a SoftHSM token: creation, public keys, signatures checked by
//! OpenSSL, the attributes pkcs11-tool shows, listing and deletion.

mod common;

use certa_backends::pkcs11::Pkcs11KeyStore;
use certa_core::key::{KeyAlgorithm, KeyDelete, KeyList, KeyStore, KeyUri, SignatureAlgorithm};
use certa_core::Error;
use certa_softhsm_tests::{SoftHsmToken, USER_PIN};
use common::assert_openssl_verifies;

const MESSAGE: &[u8] = b"tbsCertificate stand-in: the bytes a CA signs";

/// Creates a key of `algorithm`, unlocks it, signs, and has OpenSSL verify the signature.
fn create_unlock_sign(token: &SoftHsmToken, algorithm: KeyAlgorithm) {
    let store = token.key_store();
    let key = token.key_uri(&format!("ca-{}", algorithm.name()));
    let pin = token.user_pin();

    let created = store
        .create_key(&key, algorithm, Some(&pin))
        .unwrap_or_else(|error| panic!("create {algorithm} key: {error}"));
    let read = store.public_key(&key, Some(&pin)).expect("read public key");
    assert_eq!(
        read, created,
        "public key read back differs from the created one"
    );

    let signer = store.unlock(&key, Some(&pin)).expect("unlock");
    assert_eq!(signer.public_key(), &created);
    assert_eq!(
        signer.signature_algorithm(),
        algorithm.signature_algorithm()
    );

    let signature = signer.sign(MESSAGE).expect("sign");
    assert_openssl_verifies(&token.directory(), algorithm, &created, MESSAGE, &signature);
    certa_core::key::verify::verify_with(
        &created,
        signer.signature_algorithm(),
        MESSAGE,
        &signature,
    )
    .expect("certa's verifier accepts the signature");
}

#[test]
fn p256_key_signs_verifiably() {
    let token = SoftHsmToken::new("p256");
    create_unlock_sign(&token, KeyAlgorithm::EcdsaP256);
}

#[test]
fn p384_key_signs_verifiably() {
    let token = SoftHsmToken::new("p384");
    create_unlock_sign(&token, KeyAlgorithm::EcdsaP384);
}

#[test]
fn rsa2048_key_signs_verifiably() {
    let token = SoftHsmToken::new("rsa2048");
    create_unlock_sign(&token, KeyAlgorithm::Rsa2048);
}

#[test]
fn rsa3072_and_rsa4096_keys_sign_verifiably() {
    let token = SoftHsmToken::new("rsa-large");
    create_unlock_sign(&token, KeyAlgorithm::Rsa3072);
    create_unlock_sign(&token, KeyAlgorithm::Rsa4096);
}

#[test]
fn ed25519_key_signs_verifiably() {
    let token = SoftHsmToken::new("ed25519");
    create_unlock_sign(&token, KeyAlgorithm::Ed25519);
}

#[test]
fn ecdsa_signature_is_der() {
    let token = SoftHsmToken::new("der-signature");
    let store = token.key_store();
    let key = token.key_uri("CA");
    store
        .create_key(&key, KeyAlgorithm::EcdsaP256, None)
        .expect("create");
    let signer = store.unlock(&key, None).expect("unlock");
    assert_eq!(
        signer.signature_algorithm(),
        SignatureAlgorithm::EcdsaSha256
    );

    for _ in 0..20 {
        let signature = signer.sign(MESSAGE).expect("sign");
        assert_eq!(signature[0], 0x30, "Ecdsa-Sig-Value is a SEQUENCE");
        assert_eq!(usize::from(signature[1]) + 2, signature.len());
        assert!(signature.len() <= 72, "{} bytes", signature.len());
    }
}

/// Splits pkcs11-tool's listing into one block per object; each block
/// starts with a header line such as "Private Key Object; EC".
fn object_blocks(listing: &str) -> Vec<String> {
    let mut blocks: Vec<String> = Vec::new();
    for line in listing.lines() {
        if !line.starts_with(' ') {
            blocks.push(String::new());
        }
        if let Some(block) = blocks.last_mut() {
            block.push_str(line);
            block.push('\n');
        }
    }
    blocks
}

/// Returns the block of the object of `kind` ("Private Key Object") labelled `label`.
fn object_block(listing: &str, kind: &str, label: &str) -> Option<String> {
    let label_line = format!("label:      {label}");
    object_blocks(listing).into_iter().find(|block| {
        block.starts_with(kind) && block.lines().any(|line| line.trim() == label_line)
    })
}

#[test]
fn pkcs11_tool_shows_key_sensitive_and_never_extractable() {
    let token = SoftHsmToken::new("listed");
    let store = token.key_store();
    store
        .create_key(&token.key_uri("FLCA"), KeyAlgorithm::EcdsaP256, None)
        .expect("create");

    let listing = token.pkcs11_tool(["--login", "--pin", USER_PIN, "--list-objects"]);
    assert!(listing.success, "pkcs11-tool failed: {}", listing.stderr);
    let block = object_block(&listing.stdout, "Private Key Object", "FLCA")
        .unwrap_or_else(|| panic!("no private key FLCA in:\n{}", listing.stdout));
    let access = block
        .lines()
        .find_map(|line| line.trim().strip_prefix("Access:"))
        .unwrap_or_else(|| panic!("no Access line in:\n{block}"));
    let flags: Vec<&str> = access.split(',').map(str::trim).collect();
    assert!(flags.contains(&"sensitive"), "{access}");
    assert!(flags.contains(&"always sensitive"), "{access}");
    assert!(flags.contains(&"never extractable"), "{access}");
    assert!(!flags.contains(&"extractable"), "{access}");
    assert!(block.contains("sign"), "{block}");

    let public = object_block(&listing.stdout, "Public Key Object", "FLCA");
    assert!(
        public.is_some(),
        "no public key FLCA in:\n{}",
        listing.stdout
    );
}

#[test]
fn existing_label_or_id_is_rejected() {
    let token = SoftHsmToken::new("exists");
    let store = token.key_store();
    let key = token.key_uri("CA");
    store
        .create_key(&key, KeyAlgorithm::EcdsaP256, None)
        .expect("create");

    let again = store.create_key(&key, KeyAlgorithm::EcdsaP384, None);
    let Err(error) = again else {
        panic!("a second key with the same label was created");
    };
    assert!(matches!(error, Error::AlreadyExists { .. }), "{error}");
    assert!(
        error.to_string().contains("an object with label CA "),
        "{error}"
    );

    let listed = store.list_keys().expect("list");
    let [KeyUri::Pkcs11(first)] = listed.as_slice() else {
        panic!("expected one key, found {listed:?}");
    };
    let same_id: KeyUri = KeyUri::Pkcs11(certa_core::key::Pkcs11Uri {
        object: Some("other".to_owned()),
        id: first.id.clone(),
        ..token.uri("other")
    });
    let Err(error) = store.create_key(&same_id, KeyAlgorithm::EcdsaP256, None) else {
        panic!("a second key with the same id was created");
    };
    assert!(matches!(error, Error::AlreadyExists { .. }), "{error}");
    assert!(error.to_string().contains("an object with id "), "{error}");
}

#[test]
fn label_only_key_gets_random_id() {
    let token = SoftHsmToken::new("random-id");
    let store = token.key_store();
    store
        .create_key(&token.key_uri("one"), KeyAlgorithm::EcdsaP256, None)
        .expect("create one");
    store
        .create_key(&token.key_uri("two"), KeyAlgorithm::EcdsaP256, None)
        .expect("create two");

    let listed = store.list_keys().expect("list");
    let ids: Vec<Vec<u8>> = listed
        .iter()
        .filter_map(|key| match key {
            KeyUri::Pkcs11(uri) => uri.id.clone(),
            KeyUri::File(_) => None,
        })
        .collect();
    assert_eq!(ids.len(), 2, "{listed:?}");
    assert_eq!(ids[0].len(), 16);
    assert_ne!(ids[0], ids[1]);
}

#[test]
fn key_found_by_id_alone() {
    let token = SoftHsmToken::new("by-id");
    let store = token.key_store();
    let created = store
        .create_key(&token.key_uri("CA"), KeyAlgorithm::EcdsaP256, None)
        .expect("create");

    let listed = store.list_keys().expect("list");
    let [KeyUri::Pkcs11(listed_uri)] = listed.as_slice() else {
        panic!("expected one key, found {listed:?}");
    };
    assert_eq!(listed_uri.object.as_deref(), Some("CA"));
    let by_id = KeyUri::Pkcs11(certa_core::key::Pkcs11Uri {
        object: None,
        ..listed_uri.clone()
    });
    let signer = store.unlock(&by_id, None).expect("unlock by id");
    assert_eq!(signer.public_key(), &created);
}

#[test]
fn key_with_given_id_keeps_it() {
    let token = SoftHsmToken::new("given-id");
    let store = token.key_store();
    let key: KeyUri = format!(
        "pkcs11:token=given-id;object=CA;id=%C0%FF%EE?module-path={}",
        token.module_path().display()
    )
    .parse()
    .expect("valid URI");
    store
        .create_key(&key, KeyAlgorithm::EcdsaP256, None)
        .expect("create");

    let listing = token.pkcs11_tool(["--login", "--pin", USER_PIN, "--list-objects"]);
    assert!(
        listing.stdout.contains("ID:         c0ffee"),
        "{}",
        listing.stdout
    );
}

#[test]
fn deleted_key_is_gone() {
    let token = SoftHsmToken::new("deleted");
    let store = token.key_store();
    let key = token.key_uri("temporary");
    store
        .create_key(&key, KeyAlgorithm::EcdsaP256, None)
        .expect("create");

    store.delete_key(&key).expect("delete");

    let Err(error) = store.unlock(&key, None) else {
        panic!("a deleted key unlocked");
    };
    assert!(
        matches!(error, Error::NotFound { kind: "key", .. }),
        "{error}"
    );
    let listing = token.pkcs11_tool(["--login", "--pin", USER_PIN, "--list-objects"]);
    assert!(
        !listing.stdout.contains("temporary"),
        "pkcs11-tool still lists the key:\n{}",
        listing.stdout
    );
}

#[test]
fn key_store_opens_through_open_key_store() {
    let token = SoftHsmToken::new("selected");
    let key = KeyUri::Pkcs11(token.uri_with_pin("CA"));
    let store = certa_backends::open_key_store(&key, &token.directory()).expect("open");
    let created = store
        .create_key(&key, KeyAlgorithm::EcdsaP256, None)
        .expect("create");
    let signer = store.unlock(&key, None).expect("unlock");
    assert_eq!(signer.public_key(), &created);
}

#[test]
fn debug_output_has_no_pin() {
    let token = SoftHsmToken::new("debug");
    let store: Pkcs11KeyStore = token.key_store();
    let key = KeyUri::Pkcs11(token.uri_with_pin("CA"));
    store
        .create_key(&key, KeyAlgorithm::EcdsaP256, None)
        .expect("create");
    let signer = store.unlock(&key, None).expect("unlock");

    let shown_values = [
        format!("{store:?}"),
        format!("{key:?}"),
        format!("{key}"),
        format!("{:?}", signer.public_key()),
    ];
    for shown in shown_values {
        assert!(!shown.contains(USER_PIN), "the PIN shows in {shown}");
    }
}
