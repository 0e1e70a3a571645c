//! CSR intake: CSRs made by OpenSSL's command line at test time are parsed,
//! verified and checked against certa's policy.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use certa_core::csr::{CertificateRequest, CsrErrorKind, PublicKeyKind, MAX_CSR_SIZE};
use certa_core::Error;
use certa_test_support::{openssl, openssl_ok};
use tempfile::TempDir;

/// Key generation arguments for `openssl genpkey`.
const P256: &[&str] = &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
const P384: &[&str] = &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"];
const RSA2048: &[&str] = &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"];
const ED25519: &[&str] = &["-algorithm", "ED25519"];

/// Makes a key with `openssl genpkey` and a CSR with `openssl req -new`,
/// and returns the CSR's path (PEM).
fn make_csr(dir: &Path, name: &str, key_args: &[&str], req_args: &[&str]) -> PathBuf {
    let key = dir.join(format!("{name}.key"));
    let csr = dir.join(format!("{name}.csr"));
    let mut args = vec!["genpkey".as_ref(), "-out".as_ref(), key.as_os_str()];
    args.extend(key_args.iter().map(OsStr::new));
    openssl_ok(&args);
    let mut args = vec![
        "req".as_ref(),
        "-new".as_ref(),
        "-key".as_ref(),
        key.as_os_str(),
        "-out".as_ref(),
        csr.as_os_str(),
    ];
    args.extend(req_args.iter().map(OsStr::new));
    openssl_ok(&args);
    csr
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

fn parse(path: &Path) -> CertificateRequest {
    CertificateRequest::from_bytes(&read(path)).expect("CSR is accepted")
}

/// Converts a PEM CSR to DER with OpenSSL.
fn to_der(dir: &Path, csr: &Path) -> Vec<u8> {
    let der = dir.join("converted.der");
    openssl_ok([
        "req".as_ref(),
        "-in".as_ref(),
        csr.as_os_str(),
        "-outform".as_ref(),
        "DER".as_ref(),
        "-out".as_ref(),
        der.as_os_str(),
    ]);
    read(&der)
}

/// Returns the kind and message of the rejection of `input`.
fn rejection(input: &[u8]) -> (CsrErrorKind, String) {
    match CertificateRequest::from_bytes(input) {
        Err(Error::InvalidCsr { kind, reason, .. }) => (kind, reason),
        other => panic!("expected an invalid-CSR error, got {other:?}"),
    }
}

/// Checks a PEM CSR with `openssl req -verify`.
fn assert_openssl_accepts(dir: &Path, pem: &str) {
    let path = dir.join("written.csr");
    std::fs::write(&path, pem).unwrap();
    let output = openssl([
        "req".as_ref(),
        "-in".as_ref(),
        path.as_os_str(),
        "-noout".as_ref(),
        "-verify".as_ref(),
    ]);
    assert!(
        output.success,
        "openssl req -verify failed: {}",
        output.stderr
    );
}

#[test]
fn p256_accepted() {
    let dir = TempDir::new().unwrap();
    let csr = parse(&make_csr(
        dir.path(),
        "p256",
        P256,
        &["-subj", "/CN=p256.example"],
    ));
    assert_eq!(csr.key_kind(), PublicKeyKind::EcdsaP256);
    assert_eq!(csr.key_description(), "ECDSA P-256");
    assert_eq!(csr.subject(), "CN=p256.example");
    assert!(!csr.subject_is_empty());
}

#[test]
fn p384_accepted() {
    let dir = TempDir::new().unwrap();
    let csr = parse(&make_csr(dir.path(), "p384", P384, &["-subj", "/CN=p384"]));
    assert_eq!(csr.key_description(), "ECDSA P-384");
}

#[test]
fn rsa2048_accepted() {
    let dir = TempDir::new().unwrap();
    let csr = parse(&make_csr(dir.path(), "rsa", RSA2048, &["-subj", "/CN=rsa"]));
    assert_eq!(csr.key_kind(), PublicKeyKind::Rsa { bits: 2048 });
    assert_eq!(csr.key_description(), "RSA 2048");
}

#[test]
fn rsa4096_accepted() {
    let dir = TempDir::new().unwrap();
    let key_args = ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:4096"];
    let csr = parse(&make_csr(
        dir.path(),
        "rsa4096",
        &key_args,
        &["-subj", "/CN=big", "-sha512"],
    ));
    assert_eq!(csr.key_description(), "RSA 4096");
}

#[test]
fn ed25519_accepted() {
    let dir = TempDir::new().unwrap();
    let csr = parse(&make_csr(dir.path(), "ed", ED25519, &["-subj", "/CN=ed"]));
    assert_eq!(csr.key_description(), "Ed25519");
}

#[test]
fn rsa_pss_signature_accepted() {
    let dir = TempDir::new().unwrap();
    let req_args = ["-subj", "/CN=pss", "-sigopt", "rsa_padding_mode:pss"];
    let csr = parse(&make_csr(dir.path(), "pss", RSA2048, &req_args));
    assert_eq!(
        csr.signature_algorithm().oid,
        const_oid::db::rfc5912::ID_RSASSA_PSS
    );
}

#[test]
fn rsa_pss_sha384_short_salt_accepted() {
    let dir = TempDir::new().unwrap();
    let req_args = [
        "-subj",
        "/CN=pss",
        "-sha384",
        "-sigopt",
        "rsa_padding_mode:pss",
        "-sigopt",
        "rsa_pss_saltlen:16",
    ];
    let csr = parse(&make_csr(dir.path(), "pss384", RSA2048, &req_args));
    assert_eq!(csr.key_description(), "RSA 2048");
}

#[test]
fn ecdsa_sha512_on_p256_accepted() {
    let dir = TempDir::new().unwrap();
    let csr = parse(&make_csr(
        dir.path(),
        "p256",
        P256,
        &["-subj", "/CN=x", "-sha512"],
    ));
    assert_eq!(csr.key_description(), "ECDSA P-256");
}

#[test]
fn subject_alt_names_listed() {
    let dir = TempDir::new().unwrap();
    let req_args = [
        "-subj",
        "/CN=names",
        "-addext",
        "subjectAltName=DNS:a.example,IP:10.0.0.1,IP:2001:db8::1,email:x@example.com,URI:https://a.example/path",
    ];
    let csr = parse(&make_csr(dir.path(), "san", P256, &req_args));
    assert_eq!(
        csr.subject_alt_names(),
        [
            "DNS:a.example",
            "IP:10.0.0.1",
            "IP:2001:db8::1",
            "email:x@example.com",
            "URI:https://a.example/path"
        ]
    );
    assert!(csr.subject_alt_name_der().is_some());
}

#[test]
fn no_subject_alt_name_is_none() {
    let dir = TempDir::new().unwrap();
    let csr = parse(&make_csr(
        dir.path(),
        "plain",
        P256,
        &["-subj", "/CN=plain"],
    ));
    assert!(csr.subject_alt_names().is_empty());
    assert!(csr.subject_alt_name_der().is_none());
}

#[test]
fn empty_subject_with_san_accepted() {
    let dir = TempDir::new().unwrap();
    let req_args = ["-subj", "/", "-addext", "subjectAltName=DNS:only.example"];
    let csr = parse(&make_csr(dir.path(), "nosubject", P256, &req_args));
    assert!(csr.subject_is_empty());
    assert_eq!(csr.subject(), "");
    assert_eq!(csr.subject_alt_names(), ["DNS:only.example"]);
}

#[test]
fn utf8_subject_kept() {
    let dir = TempDir::new().unwrap();
    let path = make_csr(
        dir.path(),
        "utf8",
        P256,
        &["-utf8", "-subj", "/CN=Grüße Straße"],
    );
    let csr = parse(&path);
    assert_eq!(csr.subject(), "CN=Grüße Straße");
    let utf8_string = [
        &[0x0c, "Grüße Straße".len() as u8][..],
        "Grüße Straße".as_bytes(),
    ]
    .concat();
    assert!(
        csr.subject_der()
            .windows(utf8_string.len())
            .any(|w| w == utf8_string),
        "the common name is not a UTF8String: {:02x?}",
        csr.subject_der()
    );
}

#[test]
fn multi_valued_rdn_kept() {
    let dir = TempDir::new().unwrap();
    let req_args = ["-subj", "/CN=a+UID=b/O=x", "-multivalue-rdn"];
    let csr = parse(&make_csr(dir.path(), "multi", P256, &req_args));
    let der = csr.der();
    let position = der
        .windows(csr.subject_der().len())
        .position(|w| w == csr.subject_der());
    assert!(position.is_some(), "subject DER is not a slice of the CSR");
    let (_, name) = <x509_parser::x509::X509Name as x509_parser::prelude::FromDer<_>>::from_der(
        csr.subject_der(),
    )
    .unwrap();
    let sizes: Vec<usize> = name.iter_rdn().map(|rdn| rdn.iter().count()).collect();
    assert_eq!(sizes, [2, 1]);
}

#[test]
fn der_input_accepted() {
    let dir = TempDir::new().unwrap();
    let path = make_csr(dir.path(), "der", P256, &["-subj", "/CN=der"]);
    let der = to_der(dir.path(), &path);
    let csr = CertificateRequest::from_bytes(&der).unwrap();
    assert_eq!(csr.der(), der);
}

#[test]
fn pem_round_trip_verifies() {
    let dir = TempDir::new().unwrap();
    let path = make_csr(dir.path(), "pem", RSA2048, &["-subj", "/CN=pem"]);
    let csr = parse(&path);
    assert_eq!(csr.to_pem(), String::from_utf8(read(&path)).unwrap());
    assert_openssl_accepts(dir.path(), &csr.to_pem());
}

#[test]
fn pem_old_label_crlf_and_text_accepted() {
    let dir = TempDir::new().unwrap();
    let path = make_csr(dir.path(), "old", P256, &["-subj", "/CN=old"]);
    let pem = String::from_utf8(read(&path)).unwrap();
    let old = pem
        .replace("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST")
        .replace('\n', "\r\n");
    let wrapped = format!("Request from the web form:\r\n{old}\r\nThanks!\r\n");
    let csr = CertificateRequest::from_bytes(wrapped.as_bytes()).unwrap();
    assert_eq!(csr.subject(), "CN=old");
}

#[test]
fn fingerprints_match_openssl() {
    let dir = TempDir::new().unwrap();
    let path = make_csr(dir.path(), "fp", P256, &["-subj", "/CN=fp"]);
    let csr = parse(&path);
    std::fs::write(dir.path().join("fp.der"), csr.der()).unwrap();
    let output = openssl_ok([
        "dgst".as_ref(),
        "-sha256".as_ref(),
        "-c".as_ref(),
        dir.path().join("fp.der").as_os_str(),
    ]);
    let expected = output
        .trim()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_ascii_uppercase();
    assert_eq!(csr.fingerprints().sha256, expected);
}

#[test]
fn requested_ca_extensions_do_not_reject() {
    let dir = TempDir::new().unwrap();
    let req_args = [
        "-subj",
        "/CN=wants-ca",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-addext",
        "1.3.6.1.4.1.55555.1=critical,ASN1:UTF8String:unknown",
    ];
    let csr = parse(&make_csr(dir.path(), "ca", P256, &req_args));
    assert_eq!(csr.subject(), "CN=wants-ca");
}

#[test]
fn tampered_signature_rejected() {
    let dir = TempDir::new().unwrap();
    let path = make_csr(dir.path(), "tamper", P256, &["-subj", "/CN=tamper"]);
    let mut der = to_der(dir.path(), &path);
    let last = der.len() - 1;
    der[last] ^= 0x01;
    let (kind, reason) = rejection(&der);
    assert_eq!(kind, CsrErrorKind::BadSignature, "{reason}");
    assert!(reason.contains("does not verify"), "{reason}");
}

#[test]
fn tampered_subject_rejected() {
    let dir = TempDir::new().unwrap();
    let path = make_csr(dir.path(), "tamper", RSA2048, &["-subj", "/CN=aaaa"]);
    let mut der = to_der(dir.path(), &path);
    let position = der.windows(4).position(|w| w == b"aaaa").unwrap();
    der[position..position + 4].copy_from_slice(b"bbbb");
    let (kind, reason) = rejection(&der);
    assert_eq!(kind, CsrErrorKind::BadSignature, "{reason}");
}

#[test]
fn truncated_rejected() {
    let dir = TempDir::new().unwrap();
    let path = make_csr(dir.path(), "cut", P256, &["-subj", "/CN=cut"]);
    let der = to_der(dir.path(), &path);
    let (kind, reason) = rejection(&der[..der.len() / 2]);
    assert_eq!(kind, CsrErrorKind::Truncated, "{reason}");
    assert!(reason.contains("truncated"), "{reason}");
}

#[test]
fn truncated_pem_rejected() {
    let dir = TempDir::new().unwrap();
    let path = make_csr(dir.path(), "cut", P256, &["-subj", "/CN=cut"]);
    let pem = String::from_utf8(read(&path)).unwrap();
    let (kind, reason) = rejection(&pem.as_bytes()[..pem.len() / 2]);
    assert_eq!(kind, CsrErrorKind::Truncated, "{reason}");
}

#[test]
fn trailing_data_rejected() {
    let dir = TempDir::new().unwrap();
    let path = make_csr(dir.path(), "trail", P256, &["-subj", "/CN=trail"]);
    let mut der = to_der(dir.path(), &path);
    der.extend_from_slice(&[0x05, 0x00]);
    let (kind, reason) = rejection(&der);
    assert_eq!(kind, CsrErrorKind::TrailingData, "{reason}");
    assert!(reason.contains("2 bytes"), "{reason}");
}

#[test]
fn empty_rejected() {
    let (kind, reason) = rejection(b"");
    assert_eq!(kind, CsrErrorKind::Empty, "{reason}");
    let (kind, _) = rejection(b" \r\n");
    assert_eq!(kind, CsrErrorKind::Empty);
}

#[test]
fn oversized_rejected() {
    let input = vec![b'A'; MAX_CSR_SIZE + 1];
    let (kind, reason) = rejection(&input);
    assert_eq!(kind, CsrErrorKind::TooLarge, "{reason}");
    assert!(reason.contains(&(MAX_CSR_SIZE + 1).to_string()), "{reason}");
}

#[test]
fn garbage_rejected() {
    let (kind, reason) = rejection(b"hello, this is no CSR");
    assert_eq!(kind, CsrErrorKind::Malformed, "{reason}");
    let (kind, reason) = rejection(&[0x30, 0x03, 0x02, 0x01, 0x00]);
    assert_eq!(kind, CsrErrorKind::Malformed, "{reason}");
}

#[test]
fn certificate_pem_rejected() {
    let pem = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
    let (kind, reason) = rejection(pem.as_bytes());
    assert_eq!(kind, CsrErrorKind::Malformed, "{reason}");
    assert!(reason.contains("BEGIN CERTIFICATE REQUEST"), "{reason}");
}

#[test]
fn rsa1024_rejected() {
    let dir = TempDir::new().unwrap();
    let key_args = ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"];
    let path = make_csr(dir.path(), "weak", &key_args, &["-subj", "/CN=weak"]);
    let (kind, reason) = rejection(&read(&path));
    assert_eq!(kind, CsrErrorKind::WeakKey, "{reason}");
    assert!(reason.contains("1024 bits"), "{reason}");
}

#[test]
fn dsa_rejected() {
    let dir = TempDir::new().unwrap();
    let params = dir.path().join("dsa.params");
    openssl_ok([
        "genpkey".as_ref(),
        "-genparam".as_ref(),
        "-algorithm".as_ref(),
        "DSA".as_ref(),
        "-pkeyopt".as_ref(),
        "dsa_paramgen_bits:2048".as_ref(),
        "-out".as_ref(),
        params.as_os_str(),
    ]);
    let params = params.to_str().unwrap();
    let path = make_csr(
        dir.path(),
        "dsa",
        &["-paramfile", params],
        &["-subj", "/CN=dsa"],
    );
    let (kind, reason) = rejection(&read(&path));
    assert_eq!(kind, CsrErrorKind::UnsupportedKeyAlgorithm, "{reason}");
    assert!(reason.contains("1.2.840.10040.4.1"), "{reason}");
}

#[test]
fn secp521r1_rejected() {
    let dir = TempDir::new().unwrap();
    let key_args = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"];
    let path = make_csr(dir.path(), "p521", &key_args, &["-subj", "/CN=p521"]);
    let (kind, reason) = rejection(&read(&path));
    assert_eq!(kind, CsrErrorKind::UnsupportedCurve, "{reason}");
    assert!(reason.contains("secp521r1"), "{reason}");
}

#[test]
fn secp256k1_rejected() {
    let dir = TempDir::new().unwrap();
    let key_args = [
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:secp256k1",
    ];
    let path = make_csr(dir.path(), "k1", &key_args, &["-subj", "/CN=k1"]);
    let (kind, reason) = rejection(&read(&path));
    assert_eq!(kind, CsrErrorKind::UnsupportedCurve, "{reason}");
    assert!(reason.contains("secp256k1"), "{reason}");
}

#[test]
fn sha1_signature_rejected() {
    let dir = TempDir::new().unwrap();
    let path = make_csr(dir.path(), "sha1", RSA2048, &["-subj", "/CN=sha1", "-sha1"]);
    let (kind, reason) = rejection(&read(&path));
    assert_eq!(
        kind,
        CsrErrorKind::UnsupportedSignatureAlgorithm,
        "{reason}"
    );
    assert!(reason.contains("1.2.840.113549.1.1.5"), "{reason}");
}

#[test]
fn missing_subject_rejected() {
    let dir = TempDir::new().unwrap();
    let path = make_csr(dir.path(), "anonymous", P256, &["-subj", "/"]);
    let (kind, reason) = rejection(&read(&path));
    assert_eq!(kind, CsrErrorKind::MissingSubject, "{reason}");
}

#[test]
fn rejection_code_is_invalid_csr() {
    let error = CertificateRequest::from_bytes(b"").unwrap_err();
    assert_eq!(error.code(), "invalid_csr");
    assert!(error.to_string().starts_with("invalid CSR: "), "{error}");
}
