//! Checks shared by the SoftHSM tests: signatures verified by OpenSSL's command line.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use certa_core::key::{KeyAlgorithm, SubjectPublicKeyInfoDer};
use certa_test_support::{openssl, openssl_ok};

/// Writes `public_key` as `NAME.der` and, converted by OpenSSL, as `NAME.pem` in `directory`.
pub fn public_key_pem(
    directory: &Path,
    name: &str,
    public_key: &SubjectPublicKeyInfoDer,
) -> PathBuf {
    let der = directory.join(format!("{name}.der"));
    let pem = directory.join(format!("{name}.pem"));
    std::fs::write(&der, public_key.as_bytes()).expect("write the public key");
    openssl_ok([
        "pkey".as_ref(),
        "-pubin".as_ref(),
        "-inform".as_ref(),
        "DER".as_ref(),
        "-in".as_ref(),
        der.as_os_str(),
        "-out".as_ref(),
        pem.as_os_str(),
    ]);
    pem
}

/// Checks with `openssl dgst -verify` (ECDSA, RSA) or `openssl pkeyutl -verify`
/// (Ed25519) that `signature` is a valid signature of `message` by `public_key`.
pub fn assert_openssl_verifies(
    directory: &Path,
    algorithm: KeyAlgorithm,
    public_key: &SubjectPublicKeyInfoDer,
    message: &[u8],
    signature: &[u8],
) {
    let name = algorithm.name();
    let pem = public_key_pem(directory, &format!("{name}-public"), public_key);
    let message_path = directory.join(format!("{name}-message.bin"));
    let signature_path = directory.join(format!("{name}-signature.bin"));
    std::fs::write(&message_path, message).expect("write the message");
    std::fs::write(&signature_path, signature).expect("write the signature");

    let output = if algorithm == KeyAlgorithm::Ed25519 {
        openssl([
            "pkeyutl".as_ref(),
            "-verify".as_ref(),
            "-pubin".as_ref(),
            "-inkey".as_ref(),
            pem.as_os_str(),
            "-rawin".as_ref(),
            "-in".as_ref(),
            message_path.as_os_str(),
            "-sigfile".as_ref(),
            signature_path.as_os_str(),
        ])
    } else {
        let digest = if algorithm == KeyAlgorithm::EcdsaP384 {
            "-sha384"
        } else {
            "-sha256"
        };
        openssl([
            "dgst".as_ref(),
            digest.as_ref(),
            "-verify".as_ref(),
            pem.as_os_str(),
            "-signature".as_ref(),
            signature_path.as_os_str(),
            message_path.as_os_str(),
        ])
    };
    assert!(
        output.success
            && (output.stdout.contains("Verified OK")
                || output.stdout.contains("Signature Verified Successfully")),
        "OpenSSL rejected the {name} signature:\n{}\n{}",
        output.stdout,
        output.stderr
    );
}
