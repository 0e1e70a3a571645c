//! The certificate builder: CSRs made by OpenSSL are issued under a CA made
//! by OpenSSL, and every certificate is checked with `openssl verify`,
//! `openssl x509 -text` and pkilint.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use certa_core::ca::builder::{build_certificate, CaIdentity, IssueParams};
use certa_core::ca::profile::Usage;
use certa_core::csr::CertificateRequest;
use certa_core::key::software::SoftwareKey;
use certa_core::key::verify::SignatureError;
use certa_core::key::{SignatureAlgorithm, Signer, SubjectPublicKeyInfoDer};
use certa_core::Error;
use certa_test_support::{assert_openssl_verifies, assert_pkilint_clean, openssl_ok};
use tempfile::TempDir;
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, X509Certificate};

const P256: &[&str] = &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
const P384: &[&str] = &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"];
const RSA2048: &[&str] = &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"];
const RSA4096: &[&str] = &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:4096"];
const ED25519: &[&str] = &["-algorithm", "ED25519"];

/// A CA made by OpenSSL: a P-256 key as unencrypted PKCS#8 and a self-signed certificate.
struct TestCa {
    dir: TempDir,
    certificate: PathBuf,
    identity: CaIdentity,
    key: SoftwareKey,
}

fn run_openssl(args: &[&OsStr]) -> String {
    openssl_ok(args)
}

fn make_ca(days: u32) -> TestCa {
    let dir = TempDir::new().unwrap();
    let key = dir.path().join("ca.key");
    let certificate = dir.path().join("ca.pem");
    let days = days.to_string();

    run_openssl(&[
        "req".as_ref(),
        "-x509".as_ref(),
        "-newkey".as_ref(),
        "ec".as_ref(),
        "-pkeyopt".as_ref(),
        "ec_paramgen_curve:P-256".as_ref(),
        "-nodes".as_ref(),
        "-keyout".as_ref(),
        key.as_os_str(),
        "-out".as_ref(),
        certificate.as_os_str(),
        "-days".as_ref(),
        days.as_ref(),
        "-subj".as_ref(),
        "/C=DE/O=certa tests/CN=Test CA".as_ref(),
        "-addext".as_ref(),
        "keyUsage=critical,keyCertSign,cRLSign".as_ref(),
    ]);

    let key_der = dir.path().join("ca.key.der");
    run_openssl(&[
        "pkcs8".as_ref(),
        "-topk8".as_ref(),
        "-nocrypt".as_ref(),
        "-in".as_ref(),
        key.as_os_str(),
        "-outform".as_ref(),
        "DER".as_ref(),
        "-out".as_ref(),
        key_der.as_os_str(),
    ]);

    let certificate_der = dir.path().join("ca.der");
    run_openssl(&[
        "x509".as_ref(),
        "-in".as_ref(),
        certificate.as_os_str(),
        "-outform".as_ref(),
        "DER".as_ref(),
        "-out".as_ref(),
        certificate_der.as_os_str(),
    ]);

    let identity = CaIdentity::from_der(&std::fs::read(&certificate_der).unwrap()).unwrap();
    let key = SoftwareKey::from_pkcs8_der(&std::fs::read(&key_der).unwrap()).unwrap();
    TestCa {
        dir,
        certificate,
        identity,
        key,
    }
}

fn make_csr(dir: &Path, name: &str, key_args: &[&str], req_args: &[&str]) -> CertificateRequest {
    let key = dir.join(format!("{name}.key"));
    let csr = dir.join(format!("{name}.csr"));
    let mut args = vec!["genpkey".as_ref(), "-out".as_ref(), key.as_os_str()];
    args.extend(key_args.iter().map(OsStr::new));
    run_openssl(&args);
    let mut args = vec![
        "req".as_ref(),
        "-new".as_ref(),
        "-key".as_ref(),
        key.as_os_str(),
        "-out".as_ref(),
        csr.as_os_str(),
    ];
    args.extend(req_args.iter().map(OsStr::new));
    run_openssl(&args);
    CertificateRequest::from_bytes(&std::fs::read(&csr).unwrap()).unwrap()
}

fn params(serial: u64, usage: Usage) -> IssueParams {
    IssueParams {
        usage,
        ..IssueParams::new(serial)
    }
}

/// Writes a certificate as PEM and returns its path.
fn write_pem(dir: &Path, name: &str, der: &[u8]) -> PathBuf {
    let der_path = dir.join(format!("{name}.der"));
    let pem_path = dir.join(format!("{name}.pem"));
    std::fs::write(&der_path, der).unwrap();
    run_openssl(&[
        "x509".as_ref(),
        "-inform".as_ref(),
        "DER".as_ref(),
        "-in".as_ref(),
        der_path.as_os_str(),
        "-out".as_ref(),
        pem_path.as_os_str(),
    ]);
    pem_path
}

fn text_of(pem: &Path) -> String {
    run_openssl(&[
        "x509".as_ref(),
        "-in".as_ref(),
        pem.as_os_str(),
        "-noout".as_ref(),
        "-text".as_ref(),
    ])
}

/// Returns the value line that follows `heading` in `openssl x509 -text`
/// output, with the heading line itself (which carries "critical").
fn extension_text(text: &str, heading: &str) -> Option<(String, String)> {
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim_start().starts_with(heading) {
            let value = lines.next().unwrap_or_default().trim().to_owned();
            return Some((line.trim().to_owned(), value));
        }
    }
    None
}

/// The keyUsage line OpenSSL prints for `usage` and a key of the given type.
fn expected_key_usage(usage: Usage, key: &str) -> &'static str {
    match (usage, key) {
        (Usage::Tls, "rsa") => "Digital Signature, Key Encipherment",
        (Usage::Tls, "ec") => "Digital Signature, Key Agreement",
        (Usage::TlsServer, "rsa") => "Digital Signature, Key Encipherment",
        (Usage::Tls | Usage::TlsServer | Usage::TlsClient, _) => "Digital Signature",
        (Usage::Signing, _) => "Digital Signature, Non Repudiation",
        (Usage::SubCa, _) => "Certificate Sign, CRL Sign",
    }
}

fn expected_extended_key_usage(usage: Usage) -> Option<&'static str> {
    match usage {
        Usage::Tls => Some("TLS Web Server Authentication, TLS Web Client Authentication"),
        Usage::TlsServer => Some("TLS Web Server Authentication"),
        Usage::TlsClient => Some("TLS Web Client Authentication"),
        Usage::Signing => Some("1.3.6.1.5.5.7.3.36"),
        Usage::SubCa => None,
    }
}

/// Issues `request` under every usage and checks each certificate with
/// OpenSSL and pkilint. `key` is "rsa", "ec" or "ed25519".
fn issue_under_every_usage(ca: &TestCa, name: &str, request: &CertificateRequest, key: &str) {
    let ca_text = text_of(&ca.certificate);
    let (_, ca_key_identifier) = extension_text(&ca_text, "X509v3 Subject Key Identifier").unwrap();

    for (index, usage) in Usage::ALL.into_iter().enumerate() {
        let serial = 2 + index as u64;
        let der = build_certificate(&ca.identity, &ca.key, request, &params(serial, usage))
            .unwrap_or_else(|e| panic!("issuing {name} as {usage}: {e}"));
        let pem = write_pem(ca.dir.path(), &format!("{name}-{usage}"), &der);

        assert_openssl_verifies(&ca.certificate, &pem);
        assert_pkilint_clean(&pem);

        let (_, certificate) = X509Certificate::from_der(&der).unwrap();
        assert_eq!(
            certificate.subject().as_raw(),
            request.subject_der(),
            "{name} as {usage}: subject bytes differ from the CSR's"
        );
        assert_eq!(
            certificate.issuer().as_raw(),
            ca.identity.subject_der(),
            "{name} as {usage}: issuer bytes differ from the CA's subject"
        );
        assert_eq!(
            certificate.public_key().raw,
            request.public_key().as_bytes(),
            "{name} as {usage}: public key differs from the CSR's"
        );

        let text = text_of(&pem);
        let (heading, value) = extension_text(&text, "X509v3 Key Usage").unwrap();
        assert!(
            heading.ends_with("critical"),
            "{name} as {usage}: {heading}"
        );
        assert_eq!(value, expected_key_usage(usage, key), "{name} as {usage}");

        let extended = extension_text(&text, "X509v3 Extended Key Usage").map(|(_, v)| v);
        assert_eq!(
            extended.as_deref(),
            expected_extended_key_usage(usage),
            "{name} as {usage}"
        );

        let (heading, value) = extension_text(&text, "X509v3 Basic Constraints").unwrap();
        assert!(
            heading.ends_with("critical"),
            "{name} as {usage}: {heading}"
        );
        let expected = if usage == Usage::SubCa {
            "CA:TRUE, pathlen:0"
        } else {
            "CA:FALSE"
        };
        assert_eq!(value, expected, "{name} as {usage}");

        assert!(
            extension_text(&text, "X509v3 Subject Key Identifier").is_some(),
            "{name} as {usage}: no subjectKeyIdentifier"
        );
        let (_, authority) = extension_text(&text, "X509v3 Authority Key Identifier").unwrap();
        assert_eq!(
            authority.trim_start_matches("keyid:"),
            ca_key_identifier,
            "{name} as {usage}: authorityKeyIdentifier is not the CA's key identifier"
        );
    }
}

#[test]
fn p256_every_usage() {
    let ca = make_ca(3650);
    let request = make_csr(ca.dir.path(), "p256", P256, &["-subj", "/CN=p256.example"]);
    issue_under_every_usage(&ca, "p256", &request, "ec");
}

#[test]
fn p384_every_usage() {
    let ca = make_ca(3650);
    let request = make_csr(ca.dir.path(), "p384", P384, &["-subj", "/CN=p384.example"]);
    issue_under_every_usage(&ca, "p384", &request, "ec");
}

#[test]
fn rsa2048_every_usage() {
    let ca = make_ca(3650);
    let request = make_csr(ca.dir.path(), "rsa", RSA2048, &["-subj", "/CN=rsa.example"]);
    issue_under_every_usage(&ca, "rsa2048", &request, "rsa");
}

#[test]
fn rsa4096_every_usage() {
    let ca = make_ca(3650);
    let request = make_csr(
        ca.dir.path(),
        "rsa4096",
        RSA4096,
        &["-subj", "/CN=big.example"],
    );
    issue_under_every_usage(&ca, "rsa4096", &request, "rsa");
}

#[test]
fn ed25519_every_usage() {
    let ca = make_ca(3650);
    let request = make_csr(ca.dir.path(), "ed", ED25519, &["-subj", "/CN=ed.example"]);
    issue_under_every_usage(&ca, "ed25519", &request, "ed25519");
}

#[test]
fn rsa_pss_request_every_usage() {
    let ca = make_ca(3650);
    let req_args = [
        "-subj",
        "/CN=pss.example",
        "-sigopt",
        "rsa_padding_mode:pss",
    ];
    let request = make_csr(ca.dir.path(), "pss", RSA2048, &req_args);
    issue_under_every_usage(&ca, "pss", &request, "rsa");
}

#[test]
fn subject_alt_names_every_usage() {
    let ca = make_ca(3650);
    let req_args = [
        "-subj",
        "/CN=names.example",
        "-addext",
        "subjectAltName=DNS:names.example,IP:10.0.0.1,email:x@example.com,URI:https://names.example/",
    ];
    let request = make_csr(ca.dir.path(), "san", P256, &req_args);
    issue_under_every_usage(&ca, "san", &request, "ec");

    let text = text_of(&ca.dir.path().join("san-tls.pem"));
    let (heading, value) = extension_text(&text, "X509v3 Subject Alternative Name").unwrap();
    assert!(!heading.ends_with("critical"), "{heading}");
    assert_eq!(
        value,
        "DNS:names.example, IP Address:10.0.0.1, email:x@example.com, URI:https://names.example/"
    );
}

#[test]
fn utf8_subject_every_usage() {
    let ca = make_ca(3650);
    let req_args = ["-utf8", "-subj", "/CN=Grüße Straße"];
    let request = make_csr(ca.dir.path(), "utf8", P256, &req_args);
    issue_under_every_usage(&ca, "utf8", &request, "ec");
}

#[test]
fn multi_valued_rdn_every_usage() {
    let ca = make_ca(3650);
    let req_args = ["-subj", "/CN=a+UID=b/O=x", "-multivalue-rdn"];
    let request = make_csr(ca.dir.path(), "multi", P256, &req_args);
    issue_under_every_usage(&ca, "multi", &request, "ec");
}

#[test]
fn empty_subject_san_critical() {
    let ca = make_ca(3650);
    let req_args = ["-subj", "/", "-addext", "subjectAltName=DNS:only.example"];
    let request = make_csr(ca.dir.path(), "nosubject", P256, &req_args);
    let der = build_certificate(&ca.identity, &ca.key, &request, &params(2, Usage::Tls)).unwrap();
    let pem = write_pem(ca.dir.path(), "nosubject", &der);
    assert_openssl_verifies(&ca.certificate, &pem);
    assert_pkilint_clean(&pem);
    let (heading, value) =
        extension_text(&text_of(&pem), "X509v3 Subject Alternative Name").unwrap();
    assert!(heading.ends_with("critical"), "{heading}");
    assert_eq!(value, "DNS:only.example");
}

#[test]
fn requested_ca_extensions_ignored() {
    let ca = make_ca(3650);
    let req_args = [
        "-subj",
        "/CN=wants-ca.example",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-addext",
        "extendedKeyUsage=codeSigning",
    ];
    let request = make_csr(ca.dir.path(), "wants-ca", P256, &req_args);
    let der = build_certificate(&ca.identity, &ca.key, &request, &params(2, Usage::Tls)).unwrap();
    let pem = write_pem(ca.dir.path(), "wants-ca", &der);
    assert_openssl_verifies(&ca.certificate, &pem);
    let text = text_of(&pem);
    assert!(!text.contains("CA:TRUE"), "{text}");
    assert!(!text.contains("Certificate Sign"), "{text}");
    assert!(!text.contains("Code Signing"), "{text}");
}

#[test]
fn serial_numbers_minimal() {
    let ca = make_ca(3650);
    let request = make_csr(ca.dir.path(), "serial", P256, &["-subj", "/CN=serial"]);
    for (serial, expected) in [(2, "02"), (127, "7F"), (128, "80"), (65_536, "010000")] {
        let der = build_certificate(&ca.identity, &ca.key, &request, &params(serial, Usage::Tls))
            .unwrap();
        let pem = write_pem(ca.dir.path(), &format!("serial-{serial}"), &der);
        let output = run_openssl(&[
            "x509".as_ref(),
            "-in".as_ref(),
            pem.as_os_str(),
            "-noout".as_ref(),
            "-serial".as_ref(),
        ]);
        assert_eq!(output.trim(), format!("serial={expected}"));
    }
}

#[test]
fn validity_ends_with_ca() {
    let ca = make_ca(30);
    let request = make_csr(ca.dir.path(), "short", P256, &["-subj", "/CN=short"]);
    let der = build_certificate(&ca.identity, &ca.key, &request, &params(2, Usage::Tls)).unwrap();
    let (_, certificate) = X509Certificate::from_der(&der).unwrap();
    assert_eq!(
        certificate.validity().not_after.timestamp(),
        ca.identity.not_after().unix_timestamp()
    );
}

#[test]
fn validity_days_applied() {
    let ca = make_ca(3650);
    let request = make_csr(ca.dir.path(), "days", P256, &["-subj", "/CN=days"]);
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let issue = IssueParams {
        validity_days: 90,
        now,
        ..IssueParams::new(2)
    };
    let der = build_certificate(&ca.identity, &ca.key, &request, &issue).unwrap();
    let (_, certificate) = X509Certificate::from_der(&der).unwrap();
    let not_after = certificate.validity().not_after.timestamp();
    assert_eq!(not_after, (now + Duration::days(90)).unix_timestamp());
    let not_before = certificate.validity().not_before.timestamp();
    assert!(not_before <= now.unix_timestamp());
}

#[test]
fn zero_days_refused() {
    let ca = make_ca(3650);
    let request = make_csr(ca.dir.path(), "zero", P256, &["-subj", "/CN=zero"]);
    let issue = IssueParams {
        validity_days: 0,
        ..IssueParams::new(2)
    };
    let error = build_certificate(&ca.identity, &ca.key, &request, &issue).unwrap_err();
    assert!(matches!(error, Error::InvalidInput { .. }), "{error}");
    assert!(error.to_string().contains("0 days"), "{error}");
}

#[test]
fn expired_ca_refused() {
    let ca = make_ca(30);
    let request = make_csr(ca.dir.path(), "late", P256, &["-subj", "/CN=late"]);
    let issue = IssueParams {
        now: ca.identity.not_after() + Duration::days(1),
        ..IssueParams::new(2)
    };
    let error = build_certificate(&ca.identity, &ca.key, &request, &issue).unwrap_err();
    assert!(error.to_string().contains("expired"), "{error}");
}

#[test]
fn foreign_signer_refused() {
    let ca = make_ca(3650);
    let request = make_csr(ca.dir.path(), "foreign", P256, &["-subj", "/CN=foreign"]);
    let other = SoftwareKey::generate(certa_core::key::KeyAlgorithm::EcdsaP256).unwrap();
    let error =
        build_certificate(&ca.identity, &other, &request, &params(2, Usage::Tls)).unwrap_err();
    assert!(matches!(error, Error::InvalidInput { .. }), "{error}");
    assert!(error.to_string().contains("CA key"), "{error}");
}

/// A signer that returns a corrupted signature, as a faulty token might.
struct CorruptingSigner(Arc<SoftwareKey>);

impl Signer for CorruptingSigner {
    fn signature_algorithm(&self) -> SignatureAlgorithm {
        self.0.signature_algorithm()
    }

    fn public_key(&self) -> &SubjectPublicKeyInfoDer {
        Signer::public_key(self.0.as_ref())
    }

    fn sign(&self, message: &[u8]) -> certa_core::Result<Vec<u8>> {
        let mut signature = self.0.sign(message)?;
        let last = signature.len() - 1;
        signature[last] ^= 0x01;
        Ok(signature)
    }
}

#[test]
fn bad_signer_output_refused() {
    let ca = make_ca(3650);
    let request = make_csr(ca.dir.path(), "corrupt", P256, &["-subj", "/CN=corrupt"]);
    let signer = CorruptingSigner(Arc::new(ca.key));
    let error =
        build_certificate(&ca.identity, &signer, &request, &params(2, Usage::Tls)).unwrap_err();
    assert!(
        matches!(error, Error::Signature(SignatureError::BadSignature { .. })),
        "{error}"
    );
}

#[test]
fn non_ca_certificate_refused() {
    let ca = make_ca(3650);
    let request = make_csr(ca.dir.path(), "leaf", P256, &["-subj", "/CN=leaf"]);
    let der = build_certificate(&ca.identity, &ca.key, &request, &params(2, Usage::Tls)).unwrap();
    let error = CaIdentity::from_der(&der).unwrap_err();
    assert!(matches!(error, Error::InvalidCertificate { .. }), "{error}");
    assert!(
        error.to_string().contains("not a CA certificate"),
        "{error}"
    );
}

#[test]
fn sub_ca_issues_leaf_only() {
    let ca = make_ca(3650);
    let dir = ca.dir.path();
    let request = make_csr(dir, "sub", P256, &["-subj", "/CN=Sub CA"]);
    let der = build_certificate(&ca.identity, &ca.key, &request, &params(2, Usage::SubCa)).unwrap();
    let sub_pem = write_pem(dir, "sub-ca", &der);
    let sub_identity = CaIdentity::from_der(&der).unwrap();
    let sub_key_der = dir.join("sub.key.der");
    run_openssl(&[
        "pkcs8".as_ref(),
        "-topk8".as_ref(),
        "-nocrypt".as_ref(),
        "-in".as_ref(),
        dir.join("sub.key").as_os_str(),
        "-outform".as_ref(),
        "DER".as_ref(),
        "-out".as_ref(),
        sub_key_der.as_os_str(),
    ]);
    let sub_key = SoftwareKey::from_pkcs8_der(&std::fs::read(&sub_key_der).unwrap()).unwrap();

    let leaf_request = make_csr(dir, "leaf", P256, &["-subj", "/CN=leaf.example"]);
    let leaf = build_certificate(
        &sub_identity,
        &sub_key,
        &leaf_request,
        &params(2, Usage::Tls),
    )
    .unwrap();
    let leaf_pem = write_pem(dir, "leaf", &leaf);
    let chain = dir.join("chain.pem");
    let chain_text = [
        std::fs::read_to_string(&ca.certificate).unwrap(),
        std::fs::read_to_string(&sub_pem).unwrap(),
    ]
    .concat();
    std::fs::write(&chain, chain_text).unwrap();
    assert_openssl_verifies(&chain, &leaf_pem);

    let error = build_certificate(
        &sub_identity,
        &sub_key,
        &leaf_request,
        &params(3, Usage::SubCa),
    )
    .unwrap_err();
    assert!(
        error.to_string().contains("pathLenConstraint is 0"),
        "{error}"
    );
}
