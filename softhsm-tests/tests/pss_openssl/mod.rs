//! RSASSA-PSS signatures checked by OpenSSL's command line, for the PSS tests
//! of tokens with all mechanisms and of tokens that hash on the host.

#![allow(dead_code)]

use std::path::Path;

use certa_core::key::SubjectPublicKeyInfoDer;
use certa_test_support::{openssl, ToolOutput};

use crate::common::public_key_pem;

/// Runs `openssl dgst -sha256 -verify` with PSS padding, MGF1 with SHA-256
/// and a salt of `salt_length` bytes.
pub fn openssl_verify_pss(
    directory: &Path,
    public_key: &SubjectPublicKeyInfoDer,
    message: &[u8],
    signature: &[u8],
    salt_length: usize,
) -> ToolOutput {
    let pem = public_key_pem(directory, "pss-public", public_key);
    let message_path = directory.join("pss-message.bin");
    let signature_path = directory.join("pss-signature.bin");
    std::fs::write(&message_path, message).expect("write the message");
    std::fs::write(&signature_path, signature).expect("write the signature");

    openssl([
        "dgst".as_ref(),
        "-sha256".as_ref(),
        "-sigopt".as_ref(),
        "rsa_padding_mode:pss".as_ref(),
        "-sigopt".as_ref(),
        format!("rsa_pss_saltlen:{salt_length}").as_ref(),
        "-sigopt".as_ref(),
        "rsa_mgf1_md:sha256".as_ref(),
        "-verify".as_ref(),
        pem.as_os_str(),
        "-signature".as_ref(),
        signature_path.as_os_str(),
        message_path.as_os_str(),
    ])
}

/// Checks with [`openssl_verify_pss`] that `signature` is an RSASSA-PSS
/// signature of `message` with SHA-256 and a 32-byte salt.
pub fn assert_openssl_verifies_pss(
    directory: &Path,
    public_key: &SubjectPublicKeyInfoDer,
    message: &[u8],
    signature: &[u8],
) {
    let output = openssl_verify_pss(directory, public_key, message, signature, 32);
    assert!(
        output.success && output.stdout.contains("Verified OK"),
        "OpenSSL rejected the RSASSA-PSS signature:\n{}\n{}",
        output.stdout,
        output.stderr
    );
}
