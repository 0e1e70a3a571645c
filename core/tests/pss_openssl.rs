//! RSASSA-PSS of software keys checked by OpenSSL's command line: OpenSSL
//! verifies certa's signatures with SHA-256, MGF1-SHA-256 and a 32-byte salt,
//! certa verifies OpenSSL's, and both encode the AlgorithmIdentifier alike.

use std::path::{Path, PathBuf};

use certa_core::key::software::SoftwareKey;
use certa_core::key::verify::verify_with;
use certa_core::key::{KeyAlgorithm, SignatureAlgorithm, Signer};
use certa_test_support::{openssl, openssl_ok};
use der::{Decode, Encode};
use tempfile::TempDir;
use x509_cert::request::CertReq;

const MESSAGE: &[u8] = b"certa signs a TLS 1.3 handshake with RSASSA-PSS";

/// An RSA-2048 software key with its files for OpenSSL: the public key as
/// `public.pem`, the private key as unencrypted PKCS#8 `private.der`.
struct Fixture {
    key: SoftwareKey,
    directory: TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let key = SoftwareKey::generate(KeyAlgorithm::Rsa2048).expect("generate an RSA key");
        let directory = tempfile::tempdir().expect("temporary directory");

        let public_der = directory.path().join("public.der");
        std::fs::write(&public_der, key.public_key().as_bytes()).expect("write the public key");
        openssl_ok([
            "pkey".as_ref(),
            "-pubin".as_ref(),
            "-inform".as_ref(),
            "DER".as_ref(),
            "-in".as_ref(),
            public_der.as_os_str(),
            "-out".as_ref(),
            directory.path().join("public.pem").as_os_str(),
        ]);
        let private_der = key.to_pkcs8_der().expect("encode the private key");
        std::fs::write(directory.path().join("private.der"), private_der.as_slice())
            .expect("write the private key");

        Fixture { key, directory }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.directory.path().join(name)
    }

    /// Writes `message` and a certa PSS signature of it, and returns their paths.
    fn sign(&self, message: &[u8]) -> (PathBuf, PathBuf) {
        let signature = self
            .key
            .sign_with(SignatureAlgorithm::RsaPssSha256, message)
            .expect("sign with RSASSA-PSS");
        let message_path = self.path("message.bin");
        let signature_path = self.path("signature.bin");
        std::fs::write(&message_path, message).expect("write the message");
        std::fs::write(&signature_path, signature).expect("write the signature");
        (message_path, signature_path)
    }
}

/// Runs `openssl dgst -sha256 -verify` with PSS padding and a salt of `salt_length` bytes.
fn openssl_verify_pss(
    public_key: &Path,
    message: &Path,
    signature: &Path,
    salt_length: usize,
) -> certa_test_support::ToolOutput {
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
        public_key.as_os_str(),
        "-signature".as_ref(),
        signature.as_os_str(),
        message.as_os_str(),
    ])
}

#[test]
fn pss_signature_openssl_verifies() {
    let fixture = Fixture::new();
    let (message, signature) = fixture.sign(MESSAGE);

    let output = openssl_verify_pss(&fixture.path("public.pem"), &message, &signature, 32);

    assert!(
        output.success && output.stdout.contains("Verified OK"),
        "OpenSSL rejected certa's RSASSA-PSS signature:\n{}\n{}",
        output.stdout,
        output.stderr
    );
}

#[test]
fn pss_salt_other_than_32_rejected() {
    let fixture = Fixture::new();
    let (message, signature) = fixture.sign(MESSAGE);

    let output = openssl_verify_pss(&fixture.path("public.pem"), &message, &signature, 20);

    assert!(
        !output.success,
        "OpenSSL verified certa's PSS signature with a 20-byte salt:\n{}",
        output.stdout
    );
}

#[test]
fn openssl_pss_signature_verifies() {
    let fixture = Fixture::new();
    let message = fixture.path("message.bin");
    let signature = fixture.path("openssl-signature.bin");
    std::fs::write(&message, MESSAGE).expect("write the message");
    openssl_ok([
        "dgst".as_ref(),
        "-sha256".as_ref(),
        "-sign".as_ref(),
        fixture.path("private.der").as_os_str(),
        "-keyform".as_ref(),
        "DER".as_ref(),
        "-sigopt".as_ref(),
        "rsa_padding_mode:pss".as_ref(),
        "-sigopt".as_ref(),
        "rsa_pss_saltlen:32".as_ref(),
        "-out".as_ref(),
        signature.as_os_str(),
        message.as_os_str(),
    ]);
    let signature = std::fs::read(&signature).expect("read OpenSSL's signature");

    let result = verify_with(
        fixture.key.public_key(),
        SignatureAlgorithm::RsaPssSha256,
        MESSAGE,
        &signature,
    );

    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn pss_identifier_matches_openssl() {
    let fixture = Fixture::new();
    let csr = fixture.path("request.der");
    openssl_ok([
        "req".as_ref(),
        "-new".as_ref(),
        "-key".as_ref(),
        fixture.path("private.der").as_os_str(),
        "-keyform".as_ref(),
        "DER".as_ref(),
        "-subj".as_ref(),
        "/CN=RSASSA-PSS".as_ref(),
        "-sha256".as_ref(),
        "-sigopt".as_ref(),
        "rsa_padding_mode:pss".as_ref(),
        "-sigopt".as_ref(),
        "rsa_pss_saltlen:32".as_ref(),
        "-outform".as_ref(),
        "DER".as_ref(),
        "-out".as_ref(),
        csr.as_os_str(),
    ]);
    let csr = std::fs::read(&csr).expect("read OpenSSL's CSR");
    let request = CertReq::from_der(&csr).expect("decode OpenSSL's CSR");

    let ours = SignatureAlgorithm::RsaPssSha256
        .algorithm_identifier()
        .to_der()
        .expect("encode certa's AlgorithmIdentifier");
    let openssl_made = request
        .algorithm
        .to_der()
        .expect("encode OpenSSL's AlgorithmIdentifier");

    assert_eq!(ours, openssl_made);
}
