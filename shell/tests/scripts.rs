//! Every script in `scripts/`, run through the real `certa` binary and
//! compared with its snapshot.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use certa_test_support::{assert_openssl_verifies, openssl, openssl_ok};
use common::{
    certa, init_softhsm_token, redactions, repository_root, softhsm_module, Run, ServerProcess,
    TEST_CA_PASSWORD,
};

/// The scripts this file tests; a script in `scripts/` missing here fails `every_script_is_tested`.
const TESTED_SCRIPTS: &[&str] = &[
    "first-look.rhai",
    "issue-matching.rhai",
    "batch-clients.rhai",
    "outside-root.rhai",
    "softhsm-ca.rhai",
    "tls-exchange.rhai",
];

#[test]
fn every_script_is_tested() {
    let scripts = repository_root().join("scripts");
    for entry in std::fs::read_dir(&scripts).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".rhai") {
            assert!(
                TESTED_SCRIPTS.contains(&name.as_str()),
                "scripts/{name} has no snapshot test in shell/tests/scripts.rs"
            );
        }
    }
}

/// Returns the one subdirectory a script run made in `base` with `temp_dir(base)`.
fn run_directory(base: &Path) -> PathBuf {
    let entries: Vec<PathBuf> = std::fs::read_dir(base)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .collect();
    assert_eq!(
        entries.len(),
        1,
        "one run directory in {base:?}: {entries:?}"
    );
    entries.into_iter().next().unwrap()
}

#[test]
fn first_look() {
    let base = tempfile::tempdir().unwrap();

    let run = Run::of(
        certa()
            .args(["run", "scripts/first-look.rhai"])
            .arg(base.path()),
    );

    run.assert_success();
    let directory = run_directory(base.path());
    let client = directory.join("client").join("client");
    assert_openssl_verifies(&client.join("FLCA.cer"), &client.join("FLCAclient.cer"));
    assert!(
        !run.stdout.contains("first-look-demo-password"),
        "the password was printed"
    );
    insta::with_settings!({ filters => redactions() }, {
        insta::assert_snapshot!(run.transcript(base.path()));
    });
}

#[test]
fn first_look_twice_in_one_directory() {
    let base = tempfile::tempdir().unwrap();

    let first = Run::of(
        certa()
            .args(["run", "scripts/first-look.rhai"])
            .arg(base.path())
            .env("CERTA_CA_PASSWORD", TEST_CA_PASSWORD),
    );
    let second = Run::of(
        certa()
            .args(["run", "scripts/first-look.rhai"])
            .arg(base.path())
            .env("CERTA_CA_PASSWORD", TEST_CA_PASSWORD),
    );

    first.assert_success();
    second.assert_success();
    let runs = std::fs::read_dir(base.path()).unwrap().count();
    assert_eq!(runs, 2, "each run makes its own subdirectory");
}

/// CSRs made by OpenSSL for `issue_matching`, each a case of the domain rule
/// for example.org: the name root, the subject and the subjectAltName (empty for none).
const OPENSSL_REQUESTS: [(&str, &str, &str); 5] = [
    // The common name is in the domain, one DNS name is not.
    (
        "mixed",
        "/CN=app.example.org",
        "DNS:app.example.org,DNS:login.bank.test",
    ),
    // An IP address, which the script's rule does not allow.
    ("address", "/CN=mail.example.org", "IP:192.0.2.10"),
    // No name at all.
    ("nameless", "/O=Example", ""),
    // No common name, and only DNS names in the domain: issued.
    (
        "san-only",
        "/O=Example",
        "DNS:api.example.org,DNS:*.api.example.org",
    ),
    // Two common names in one multi-valued RDN, one outside the domain.
    ("two-cns", "/CN=app.example.org+CN=login.bank.test", ""),
];

/// Makes a CSR with a new P-256 key with `openssl req` and returns its PEM.
fn openssl_csr(directory: &Path, name: &str, subject: &str, alt_names: &str) -> String {
    let key = directory.join(format!("{name}.key"));
    let csr = directory.join(format!("{name}.csr"));
    let mut args: Vec<String> = [
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        key.to_str().unwrap(),
        "-subj",
        subject,
        "-out",
        csr.to_str().unwrap(),
    ]
    .map(str::to_owned)
    .into();
    if !alt_names.is_empty() {
        args.push("-addext".to_owned());
        args.push(format!("subjectAltName={alt_names}"));
    }
    openssl_ok(&args);
    std::fs::read_to_string(&csr).unwrap()
}

#[test]
fn issue_matching() {
    let base = tempfile::tempdir().unwrap();
    let fixture = repository_root().join("shell/tests/fixtures/pending-requests.rhai");
    let prepared = Run::of(
        certa()
            .arg("run")
            .arg(&fixture)
            .arg(base.path())
            .env("CERTA_CA_PASSWORD", TEST_CA_PASSWORD),
    );
    prepared.assert_success();
    let csrs = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&base.path().join("ca"));
    for (name, subject, alt_names) in OPENSSL_REQUESTS {
        let csr = openssl_csr(csrs.path(), name, subject, alt_names);
        let (status, body) = server.submit_csr(name, &csr);
        assert!(status.contains(" 201 "), "submit {name}: {status}\n{body}");
    }
    drop(server);

    let run = Run::of(
        certa()
            .arg("--instance")
            .arg(base.path().join("ca"))
            .args(["run", "scripts/issue-matching.rhai", "example.org"])
            .env("CERTA_CA_PASSWORD", TEST_CA_PASSWORD),
    );

    run.assert_success();
    let rejected_for: Vec<&str> = run
        .stdout
        .lines()
        .filter(|line| line.starts_with("rejected "))
        .collect();
    assert_eq!(rejected_for.len(), 5, "{}", run.stdout);
    assert!(
        rejected_for[1]
            .contains("the subject alternative name DNS:login.bank.test is not in example.org"),
        "{}",
        rejected_for[1]
    );
    assert!(
        rejected_for[2].contains("the subject alternative name IP:192.0.2.10 has type IP"),
        "{}",
        rejected_for[2]
    );
    assert!(
        rejected_for[3].contains("no common name and no subject alternative name"),
        "{}",
        rejected_for[3]
    );
    assert!(
        rejected_for[4].contains("the common name login.bank.test is not in example.org"),
        "{}",
        rejected_for[4]
    );
    assert!(
        run.stdout.ends_with("3 issued, 5 rejected\n"),
        "{}",
        run.stdout
    );
    insta::with_settings!({ filters => redactions() }, {
        insta::assert_snapshot!(run.transcript(base.path()));
    });
}

#[test]
fn issue_matching_without_domain_fails() {
    let run = Run::of(certa().args(["run", "scripts/issue-matching.rhai"]));
    assert_eq!(run.code, 1);
    insta::assert_snapshot!(run.transcript(&repository_root()));
}

#[test]
fn batch_clients() {
    let base = tempfile::tempdir().unwrap();

    let run = Run::of(
        certa()
            .args(["run", "scripts/batch-clients.rhai"])
            .arg(base.path())
            .arg("3"),
    );

    run.assert_success();
    let directory = run_directory(base.path());
    for n in 1..=3 {
        let client = directory.join(format!("client-{n}")).join("client");
        assert_openssl_verifies(
            &client.join("BATCHCA.cer"),
            &client.join(format!("client{n}.cer")),
        );
    }
    insta::with_settings!({ filters => redactions() }, {
        insta::assert_snapshot!(run.transcript(base.path()));
    });
}

#[test]
fn tls_exchange() {
    let base = tempfile::tempdir().unwrap();

    let run = Run::of(
        certa()
            .args(["run", "scripts/tls-exchange.rhai"])
            .arg(base.path()),
    );

    run.assert_success();
    let directory = run_directory(base.path());
    let ca_certificate = directory.join("ca").join("xca").join("XCA.cer");
    for name in ["alice", "bob"] {
        let client = directory.join(name).join("client");
        assert_openssl_verifies(&client.join("XCA.cer"), &client.join(format!("{name}.cer")));
        assert_openssl_verifies(&ca_certificate, &client.join(format!("{name}.cer")));
    }
    let https_certificate = directory
        .join("ca")
        .join("xca")
        .join("https")
        .join("XCA-https.cer");
    assert_openssl_verifies(&ca_certificate, &https_certificate);
    assert!(
        run.stdout
            .contains("alice received from bob: hello alice, this is bob"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("bob received from alice: hello bob, alice here"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("tls-exchange-demo-password"),
        "the password was printed"
    );
    insta::with_settings!({ filters => redactions() }, {
        insta::assert_snapshot!(run.transcript(base.path()));
    });
}

#[test]
fn help_lists_every_function() {
    let run = Run::of(certa().args(["run", "shell/tests/fixtures/help.rhai"]));
    run.assert_success();
    insta::assert_snapshot!(run.stdout);
}

/// The extensions OpenSSL gives the outside root's intermediate CA certificate.
const INTERMEDIATE_EXTENSIONS: &str = "[v3]\n\
basicConstraints = critical,CA:TRUE,pathlen:0\n\
keyUsage = critical,keyCertSign,cRLSign\n\
subjectKeyIdentifier = hash\n\
authorityKeyIdentifier = keyid:always\n";

/// Makes an outside root CA and, under it, an intermediate CA key (PKCS#8,
/// encrypted with `password`) and certificate, all with OpenSSL.
/// Returns the paths of the root certificate, the key and the intermediate certificate.
fn outside_root(directory: &Path, password: &str) -> (PathBuf, PathBuf, PathBuf) {
    let path = |name: &str| directory.join(name);
    let text = |path: &PathBuf| path.to_str().unwrap().to_owned();
    let (root_key, root_cer) = (path("root.key"), path("root.cer"));
    let (plain_key, sub_key) = (path("sub-plain.key"), path("sub.key"));
    let (sub_csr, sub_cer, extensions) = (path("sub.csr"), path("sub.cer"), path("ext.cnf"));
    let pass = format!("pass:{password}");

    openssl_ok([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &text(&root_key),
        "-subj",
        "/O=Outside/CN=Outside Root",
        "-days",
        "30",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-out",
        &text(&root_cer),
    ]);
    openssl_ok([
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        &text(&plain_key),
    ]);
    openssl_ok([
        "pkcs8",
        "-topk8",
        "-v2",
        "aes-256-cbc",
        "-in",
        &text(&plain_key),
        "-passout",
        &pass,
        "-out",
        &text(&sub_key),
    ]);
    openssl_ok([
        "req",
        "-new",
        "-key",
        &text(&sub_key),
        "-passin",
        &pass,
        "-subj",
        "/O=Example/CN=Example Sub CA",
        "-out",
        &text(&sub_csr),
    ]);
    std::fs::write(&extensions, INTERMEDIATE_EXTENSIONS).unwrap();
    openssl_ok([
        "x509",
        "-req",
        "-in",
        &text(&sub_csr),
        "-CA",
        &text(&root_cer),
        "-CAkey",
        &text(&root_key),
        "-set_serial",
        "4096",
        "-days",
        "30",
        "-extfile",
        &text(&extensions),
        "-extensions",
        "v3",
        "-out",
        &text(&sub_cer),
    ]);
    (root_cer, sub_key, sub_cer)
}

#[test]
fn outside_root_intermediate() {
    let base = tempfile::tempdir().unwrap();
    let material = tempfile::tempdir().unwrap();
    let (root_cer, sub_key, sub_cer) = outside_root(material.path(), TEST_CA_PASSWORD);

    let run = Run::of(
        certa()
            .args(["run", "scripts/outside-root.rhai"])
            .arg(base.path())
            .args([&sub_key, &sub_cer, &root_cer])
            .env("CERTA_CA_PASSWORD", TEST_CA_PASSWORD),
    );

    run.assert_success();
    let client = run_directory(base.path()).join("client").join("client");
    let verified = openssl([
        "verify".as_ref(),
        "-CAfile".as_ref(),
        root_cer.as_os_str(),
        "-untrusted".as_ref(),
        client.join("SUBCA.cer").as_os_str(),
        client.join("service.cer").as_os_str(),
    ]);
    assert!(verified.success, "{}{}", verified.stdout, verified.stderr);
    let transcript = run
        .transcript(base.path())
        .replace(&material.path().display().to_string(), "[MATERIAL]");
    insta::with_settings!({ filters => redactions() }, {
        insta::assert_snapshot!(transcript);
    });
}

#[test]
fn softhsm_ca() {
    const LABEL: &str = "certa-shell";
    const PIN: &str = "test-only-1357";
    let base = tempfile::tempdir().unwrap();
    let tokens = tempfile::tempdir().unwrap();
    let config = init_softhsm_token(tokens.path(), LABEL, PIN);
    let module = softhsm_module();

    let run = Run::of(
        certa()
            .args(["run", "scripts/softhsm-ca.rhai"])
            .arg(base.path())
            .arg(&module)
            .arg(LABEL)
            .env("SOFTHSM2_CONF", &config)
            .env("CERTA_TOKEN_PIN", PIN),
    );

    run.assert_success();
    assert!(!run.stdout.contains(PIN), "the PIN was printed");
    let client = run_directory(base.path()).join("client").join("client");
    assert_openssl_verifies(&client.join("SHCA.cer"), &client.join("SHclient.cer"));
    let transcript = run
        .transcript(base.path())
        .replace(&module.display().to_string(), "[MODULE]");
    insta::with_settings!({ filters => redactions() }, {
        insta::assert_snapshot!(transcript);
    });
}
