//! The file key store, checked against OpenSSL's command line: keys certa
//! writes open with `openssl pkey` under their password only, keys OpenSSL
//! writes open in certa, and every signature certa makes verifies in OpenSSL.

#![cfg(feature = "file")]
#![allow(clippy::unwrap_used, missing_docs)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use certa_backends::file::FileKeyStore;
use certa_core::key::{
    KeyAlgorithm, KeyDelete, KeyImport, KeyList, KeyStore, KeyUri, SecretString, Signer,
};
use certa_core::Error;
use certa_test_support::{openssl, openssl_ok};
use tempfile::TempDir;

const PASSWORD: &str = "correct horse battery staple";
const MESSAGE: &[u8] = b"certa signs this message";

fn secret(password: &str) -> SecretString {
    SecretString::from(password.to_owned())
}

fn store() -> (TempDir, FileKeyStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = FileKeyStore::new(dir.path());
    (dir, store)
}

fn pass(password: &str) -> String {
    format!("pass:{password}")
}

/// Signs `MESSAGE` with `signer` and checks the signature with OpenSSL
/// against the public key OpenSSL reads from `key_file`.
fn assert_openssl_verifies_signature(
    signer: &dyn Signer,
    algorithm: KeyAlgorithm,
    key_file: &Path,
    password: Option<&str>,
) {
    let dir = key_file.parent().unwrap();
    let public_pem = dir.join("public.pem");
    let message = dir.join("message.bin");
    let signature = dir.join("signature.bin");
    let passin = pass(password.unwrap_or(""));
    let mut args = vec!["pkey", "-in", key_file.to_str().unwrap()];
    if password.is_some() {
        args.extend(["-passin", passin.as_str()]);
    }

    let public_der_file = dir.join("public.der");
    openssl_ok(
        args.iter()
            .copied()
            .chain(["-pubout", "-outform", "DER", "-out"])
            .chain([public_der_file.to_str().unwrap()])
            .collect::<Vec<_>>(),
    );
    assert_eq!(
        fs::read(&public_der_file).unwrap(),
        signer.public_key().as_bytes(),
        "certa's public key must be OpenSSL's"
    );
    openssl_ok(
        args.iter()
            .copied()
            .chain(["-pubout", "-out", public_pem.to_str().unwrap()])
            .collect::<Vec<_>>(),
    );

    fs::write(&message, MESSAGE).unwrap();
    fs::write(&signature, signer.sign(MESSAGE).unwrap()).unwrap();
    let output = match algorithm {
        KeyAlgorithm::Ed25519 => openssl([
            "pkeyutl".as_ref(),
            "-verify".as_ref(),
            "-pubin".as_ref(),
            "-inkey".as_ref(),
            public_pem.as_os_str(),
            "-rawin".as_ref(),
            "-in".as_ref(),
            message.as_os_str(),
            "-sigfile".as_ref(),
            signature.as_os_str(),
        ]),
        _ => {
            let digest = if algorithm == KeyAlgorithm::EcdsaP384 {
                "-sha384"
            } else {
                "-sha256"
            };
            openssl([
                "dgst".as_ref(),
                digest.as_ref(),
                "-verify".as_ref(),
                public_pem.as_os_str(),
                "-signature".as_ref(),
                signature.as_os_str(),
                message.as_os_str(),
            ])
        }
    };
    assert!(
        output.success,
        "openssl rejected a {algorithm} signature:\n{}\n{}",
        output.stdout, output.stderr
    );
}

fn create_and_sign(algorithm: KeyAlgorithm) {
    let (dir, store) = store();
    let uri = KeyUri::file(format!("ca/{algorithm}.key"));
    let password = secret(PASSWORD);

    let public_key = store.create_key(&uri, algorithm, Some(&password)).unwrap();
    let signer = store.unlock(&uri, Some(&password)).unwrap();

    assert_eq!(signer.public_key(), &public_key);
    assert_eq!(
        signer.signature_algorithm(),
        algorithm.signature_algorithm()
    );
    let path = dir.path().join(format!("ca/{algorithm}.key"));
    assert_openssl_verifies_signature(signer.as_ref(), algorithm, &path, Some(PASSWORD));
}

#[test]
fn ecdsa_p256_key_creates_unlocks_and_signs() {
    create_and_sign(KeyAlgorithm::EcdsaP256);
}

#[test]
fn ecdsa_p384_key_creates_unlocks_and_signs() {
    create_and_sign(KeyAlgorithm::EcdsaP384);
}

#[test]
fn rsa_2048_key_creates_unlocks_and_signs() {
    create_and_sign(KeyAlgorithm::Rsa2048);
}

#[test]
fn rsa_3072_key_creates_unlocks_and_signs() {
    create_and_sign(KeyAlgorithm::Rsa3072);
}

/// RSA 4096 generation takes seconds; this is the one test that makes such a key.
#[test]
fn rsa_4096_key_creates_unlocks_and_signs() {
    create_and_sign(KeyAlgorithm::Rsa4096);
}

#[test]
fn ed25519_key_creates_unlocks_and_signs() {
    create_and_sign(KeyAlgorithm::Ed25519);
}

#[test]
fn openssl_opens_certa_key_with_its_password_only() {
    let (dir, store) = store();
    let uri = KeyUri::file("CA.key");
    store
        .create_key(&uri, KeyAlgorithm::EcdsaP256, Some(&secret(PASSWORD)))
        .unwrap();
    let path = dir.path().join("CA.key");
    let path = path.to_str().unwrap();

    openssl_ok(["pkey", "-in", path, "-passin", &pass(PASSWORD), "-noout"]);

    for other in [
        "",
        "wrong",
        "correct horse battery stapl",
        "Correct horse battery staple",
    ] {
        let output = openssl(["pkey", "-in", path, "-passin", &pass(other), "-noout"]);
        assert!(!output.success, "openssl opened the key with {other:?}");
    }
}

#[test]
fn certa_key_is_encrypted_pkcs8_with_scrypt_and_aes_256_cbc() {
    let (dir, store) = store();
    let uri = KeyUri::file("CA.key");
    store
        .create_key(&uri, KeyAlgorithm::Ed25519, Some(&secret(PASSWORD)))
        .unwrap();
    let path = dir.path().join("CA.key");

    let pem = fs::read_to_string(&path).unwrap();
    assert!(
        pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"),
        "{pem}"
    );
    let parsed = openssl_ok(["asn1parse", "-in", path.to_str().unwrap()]);
    assert!(parsed.contains(":PBES2"), "{parsed}");
    assert!(parsed.contains(":scrypt"), "{parsed}");
    assert!(parsed.contains(":aes-256-cbc"), "{parsed}");
    assert!(!parsed.contains(":PBKDF2"), "{parsed}");
    // scrypt's N = 2^14 = 0x4000, r = 8, p = 1, right after the salt.
    let after_salt: Vec<&str> = parsed
        .lines()
        .skip_while(|line| !line.contains(":scrypt"))
        .filter(|line| line.contains("prim: INTEGER"))
        .take(3)
        .map(|line| line.rsplit(':').next().unwrap().trim())
        .collect();
    assert_eq!(after_salt, ["4000", "08", "01"], "{parsed}");
}

#[test]
fn key_file_has_mode_0600() {
    let (dir, store) = store();
    for (name, password) in [
        ("encrypted.key", Some(secret(PASSWORD))),
        ("plain.key", None),
    ] {
        store
            .create_key(
                &KeyUri::file(name),
                KeyAlgorithm::EcdsaP256,
                password.as_ref(),
            )
            .unwrap();
        let mode = fs::metadata(dir.path().join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
}

#[test]
fn creating_over_existing_key_is_refused_and_keeps_old_bytes() {
    let (dir, store) = store();
    let uri = KeyUri::file("keys/CA.key");
    store
        .create_key(&uri, KeyAlgorithm::EcdsaP256, Some(&secret(PASSWORD)))
        .unwrap();
    let path = dir.path().join("keys/CA.key");
    let before = fs::read(&path).unwrap();

    let error = store
        .create_key(&uri, KeyAlgorithm::Ed25519, Some(&secret("other")))
        .unwrap_err();

    assert!(matches!(error, Error::AlreadyExists { .. }), "{error}");
    assert!(error.to_string().contains("CA.key"), "{error}");
    assert_eq!(fs::read(&path).unwrap(), before);
    let entries = fs::read_dir(dir.path().join("keys")).unwrap().count();
    assert_eq!(entries, 1, "no temporary file may be left behind");
}

#[test]
fn import_over_existing_key_is_refused() {
    let (_dir, store) = store();
    let uri = KeyUri::file("CA.key");
    store
        .create_key(&uri, KeyAlgorithm::EcdsaP256, Some(&secret(PASSWORD)))
        .unwrap();
    let other = certa_core::key::software::SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();

    let error = store
        .import_key(
            &uri,
            &other.to_pkcs8_der().unwrap(),
            Some(&secret(PASSWORD)),
        )
        .unwrap_err();

    assert!(matches!(error, Error::AlreadyExists { .. }), "{error}");
}

#[test]
fn wrong_password_is_wrong_password_error() {
    let (_dir, store) = store();
    let uri = KeyUri::file("CA.key");
    store
        .create_key(&uri, KeyAlgorithm::EcdsaP256, Some(&secret(PASSWORD)))
        .unwrap();

    for other in ["", "wrong", "correct horse battery stapl"] {
        let Err(error) = store.unlock(&uri, Some(&secret(other))) else {
            panic!("the key opened with {other:?}");
        };
        assert!(matches!(error, Error::WrongPassword { .. }), "{error}");
        assert!(!error.to_string().contains(PASSWORD), "{error}");
        let error = store.public_key(&uri, Some(&secret(other))).unwrap_err();
        assert!(matches!(error, Error::WrongPassword { .. }), "{error}");
    }
}

#[test]
fn encrypted_key_without_password_is_wrong_password_error() {
    let (_dir, store) = store();
    let uri = KeyUri::file("CA.key");
    store
        .create_key(&uri, KeyAlgorithm::EcdsaP256, Some(&secret(PASSWORD)))
        .unwrap();

    let Err(error) = store.unlock(&uri, None) else {
        panic!("an encrypted key opened without a password");
    };
    assert!(matches!(error, Error::WrongPassword { .. }), "{error}");
}

#[test]
fn missing_key_file_is_not_found_with_path() {
    let (dir, store) = store();
    let uri = KeyUri::file("nowhere/CA.key");

    let Err(error) = store.unlock(&uri, Some(&secret(PASSWORD))) else {
        panic!("a missing key opened");
    };

    assert!(matches!(error, Error::NotFound { .. }), "{error}");
    let expected = dir.path().join("nowhere/CA.key");
    assert!(
        error.to_string().contains(expected.to_str().unwrap()),
        "{error}"
    );
}

#[test]
fn key_without_password_is_plain_pkcs8_and_opens_with_or_without_password() {
    let (dir, store) = store();
    let uri = KeyUri::file("client.key");
    let public_key = store
        .create_key(&uri, KeyAlgorithm::EcdsaP384, None)
        .unwrap();
    let path = dir.path().join("client.key");

    let pem = fs::read_to_string(&path).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");
    openssl_ok(["pkey", "-in", path.to_str().unwrap(), "-noout"]);

    assert_eq!(store.public_key(&uri, None).unwrap(), public_key);
    let signer = store.unlock(&uri, Some(&secret("not needed"))).unwrap();
    assert_eq!(signer.public_key(), &public_key);
}

#[test]
fn absolute_file_uri_is_used_as_it_is() {
    let (_dir, store) = store();
    let elsewhere = tempfile::tempdir().unwrap();
    let path = elsewhere.path().join("CA.key");
    let uri: KeyUri = format!("file:{}", path.display()).parse().unwrap();

    store
        .create_key(&uri, KeyAlgorithm::Ed25519, Some(&secret(PASSWORD)))
        .unwrap();

    assert!(path.exists());
}

#[test]
fn pkcs11_uri_is_unsupported_in_file_store() {
    let (_dir, store) = store();
    let uri: KeyUri = "pkcs11:token=certa;object=CA".parse().unwrap();
    let error = store
        .create_key(&uri, KeyAlgorithm::EcdsaP256, None)
        .unwrap_err();
    assert!(matches!(error, Error::Unsupported { .. }), "{error}");
}

#[test]
fn imported_key_keeps_public_key_and_opens_in_openssl() {
    let (dir, store) = store();
    let original =
        certa_core::key::software::SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let uri = KeyUri::file("imported.key");

    let public_key = store
        .import_key(
            &uri,
            &original.to_pkcs8_der().unwrap(),
            Some(&secret(PASSWORD)),
        )
        .unwrap();

    assert_eq!(&public_key, Signer::public_key(&original));
    let path = dir.path().join("imported.key");
    openssl_ok([
        "pkey",
        "-in",
        path.to_str().unwrap(),
        "-passin",
        &pass(PASSWORD),
        "-noout",
    ]);
}

#[test]
fn list_and_delete_keys() {
    let (dir, store) = store();
    for name in ["b/CA.key", "a.key", "client/deep/host.key"] {
        store
            .create_key(&KeyUri::file(name), KeyAlgorithm::Ed25519, None)
            .unwrap();
    }
    fs::write(dir.path().join("notes.txt"), "not a key").unwrap();
    fs::create_dir(dir.path().join(".staging")).unwrap();
    fs::write(dir.path().join(".staging/hidden.key"), "hidden").unwrap();

    let listed: Vec<String> = store
        .list_keys()
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        listed,
        ["file:a.key", "file:b/CA.key", "file:client/deep/host.key"]
    );

    store.delete_key(&KeyUri::file("a.key")).unwrap();
    assert!(!dir.path().join("a.key").exists());
    let error = store.delete_key(&KeyUri::file("a.key")).unwrap_err();
    assert!(matches!(error, Error::NotFound { .. }), "{error}");
}

/// A key written by OpenSSL, and how to make it.
struct OpensslKey {
    what: &'static str,
    algorithm: KeyAlgorithm,
    /// `openssl` arguments that write `plain.pem` (no password); the key is then
    /// re-encrypted with `encrypt`, or `None` when `generate` already encrypts it.
    generate: &'static [&'static str],
    encrypt: Option<&'static [&'static str]>,
}

const OPENSSL_KEYS: &[OpensslKey] = &[
    OpensslKey {
        what: "genpkey EC P-256 -aes-256-cbc (PBKDF2-HMAC-SHA256, 2048 iterations)",
        algorithm: KeyAlgorithm::EcdsaP256,
        generate: &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-aes-256-cbc",
        ],
        encrypt: None,
    },
    OpensslKey {
        what: "genpkey ed25519 -aes-256-cbc",
        algorithm: KeyAlgorithm::Ed25519,
        generate: &["genpkey", "-algorithm", "ed25519", "-aes-256-cbc"],
        encrypt: None,
    },
    OpensslKey {
        what: "genpkey RSA 2048 -aes-128-cbc",
        algorithm: KeyAlgorithm::Rsa2048,
        generate: &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-aes-128-cbc",
        ],
        encrypt: None,
    },
    OpensslKey {
        what: "pkcs8 -topk8 -scrypt of an EC P-384 key",
        algorithm: KeyAlgorithm::EcdsaP384,
        generate: &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
        ],
        encrypt: Some(&["pkcs8", "-topk8", "-scrypt"]),
    },
    OpensslKey {
        what: "pkcs8 -topk8 -v2 aes-192-cbc -v2prf hmacWithSHA1 of an ed25519 key",
        algorithm: KeyAlgorithm::Ed25519,
        generate: &["genpkey", "-algorithm", "ed25519"],
        encrypt: Some(&[
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-192-cbc",
            "-v2prf",
            "hmacWithSHA1",
        ]),
    },
    OpensslKey {
        what: "pkcs8 -topk8 -v2 aes-256-cbc -iter 600000 of an EC P-256 key",
        algorithm: KeyAlgorithm::EcdsaP256,
        generate: &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ],
        encrypt: Some(&["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-iter", "600000"]),
    },
];

fn write_openssl_key(dir: &Path, key: &OpensslKey) -> PathBuf {
    let path = dir.join("openssl.key");
    let plain = dir.join("plain.pem");
    match key.encrypt {
        None => {
            let mut args: Vec<String> = key.generate.iter().map(|s| s.to_string()).collect();
            args.extend(["-pass".into(), pass(PASSWORD), "-out".into()]);
            args.push(path.display().to_string());
            openssl_ok(args);
        }
        Some(encrypt) => {
            let mut args: Vec<String> = key.generate.iter().map(|s| s.to_string()).collect();
            args.extend(["-out".into(), plain.display().to_string()]);
            openssl_ok(args);
            let mut args: Vec<String> = encrypt.iter().map(|s| s.to_string()).collect();
            args.extend([
                "-in".into(),
                plain.display().to_string(),
                "-passout".into(),
                pass(PASSWORD),
                "-out".into(),
                path.display().to_string(),
            ]);
            openssl_ok(args);
            fs::remove_file(&plain).unwrap();
        }
    }
    path
}

#[test]
fn keys_openssl_writes_load_and_sign() {
    for key in OPENSSL_KEYS {
        let (dir, store) = store();
        let path = write_openssl_key(dir.path(), key);
        let uri = KeyUri::file("openssl.key");

        let signer = store
            .unlock(&uri, Some(&secret(PASSWORD)))
            .unwrap_or_else(|e| panic!("{}: {e}", key.what));

        assert_eq!(
            signer.signature_algorithm(),
            key.algorithm.signature_algorithm(),
            "{}",
            key.what
        );
        assert_openssl_verifies_signature(signer.as_ref(), key.algorithm, &path, Some(PASSWORD));
    }
}

#[test]
fn keys_openssl_writes_reject_wrong_password() {
    for key in OPENSSL_KEYS {
        let (dir, store) = store();
        write_openssl_key(dir.path(), key);
        let uri = KeyUri::file("openssl.key");

        let Err(error) = store.unlock(&uri, Some(&secret("wrong password"))) else {
            panic!("{}: opened with a wrong password", key.what);
        };

        assert!(
            matches!(error, Error::WrongPassword { .. }),
            "{}: {error}",
            key.what
        );
    }
}

#[test]
fn traditional_pem_key_is_unsupported_with_hint() {
    let (dir, store) = store();
    let path = dir.path().join("traditional.key");
    openssl_ok([
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        path.to_str().unwrap(),
    ]);

    let Err(error) = store.unlock(&KeyUri::file("traditional.key"), None) else {
        panic!("an \"EC PRIVATE KEY\" file opened");
    };

    assert!(matches!(error, Error::Unsupported { .. }), "{error}");
    assert!(error.to_string().contains("pkcs8 -topk8"), "{error}");
}
