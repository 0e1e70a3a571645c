//! A process issuing certificates in a loop is killed with SIGKILL at random
//! points, 20 times over; after each kill the CA directory must still be
//! consistent, and issuing must go on where it stopped.
//!
//! The issuing process is this test binary run again with an environment
//! variable naming the instance, so no extra binary is needed.

#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use certa_core::ca::audit::{read_all, AuditEvent};
use certa_core::ca::index::Index;
use certa_core::ca::profile::Usage;
use certa_core::ca::serial::SerialFile;
use certa_core::ca::server::{CaServer, RequestState, Submission};
use certa_core::key::software::SoftwareKey;
use certa_core::settings::{Contact, ServerSettings, Settings};
use certa_test_support::{assert_openssl_verifies, openssl, openssl_ok};
use rand_core::{OsRng, RngCore};
use x509_parser::prelude::{FromDer, X509Certificate};

const KILLS: usize = 20;
/// Set in the child process: the instance directory to issue on.
const CHILD_INSTANCE: &str = "CERTA_TEST_CRASH_INSTANCE";

const REQ_CONFIG: &str = "[req]\ndistinguished_name = dn\nx509_extensions = v3_ca\nprompt = no\n[dn]\nCN = unused\n[v3_ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid:always\n";

/// Makes a P-256 CA with OpenSSL in `instance/tca`, and a CSR in `instance/client.csr`.
fn make_ca(instance: &Path) {
    let ca_directory = instance.join("tca");
    fs::create_dir_all(&ca_directory).unwrap();
    let config = instance.join("req.cnf");
    fs::write(&config, REQ_CONFIG).unwrap();
    let key = ca_directory.join("TCA-plain.pem");
    let client_key = instance.join("client.key");
    let genpkey = |out: &Path| {
        openssl_ok([
            "genpkey".as_ref(),
            "-algorithm".as_ref(),
            "EC".as_ref(),
            "-pkeyopt".as_ref(),
            "ec_paramgen_curve:P-256".as_ref(),
            "-out".as_ref(),
            out.as_os_str(),
        ])
    };
    genpkey(&key);
    genpkey(&client_key);
    openssl_ok([
        "pkcs8".as_ref(),
        "-topk8".as_ref(),
        "-nocrypt".as_ref(),
        "-outform".as_ref(),
        "DER".as_ref(),
        "-in".as_ref(),
        key.as_os_str(),
        "-out".as_ref(),
        ca_directory.join("TCA.pk8").as_os_str(),
    ]);
    openssl_ok([
        "req".as_ref(),
        "-x509".as_ref(),
        "-new".as_ref(),
        "-key".as_ref(),
        key.as_os_str(),
        "-config".as_ref(),
        config.as_os_str(),
        "-subj".as_ref(),
        "/CN=Crash Test CA".as_ref(),
        "-days".as_ref(),
        "30".as_ref(),
        "-set_serial".as_ref(),
        "1".as_ref(),
        "-out".as_ref(),
        ca_directory.join("TCA.cer").as_os_str(),
    ]);
    openssl_ok([
        "req".as_ref(),
        "-new".as_ref(),
        "-key".as_ref(),
        client_key.as_os_str(),
        "-subj".as_ref(),
        "/CN=crash.example".as_ref(),
        "-out".as_ref(),
        instance.join("client.csr").as_os_str(),
    ]);
    fs::write(ca_directory.join("TCA.srl"), "02\n").unwrap();
    let settings = Settings {
        server: Some(ServerSettings {
            root: "TCA".to_owned(),
            directory: PathBuf::from("tca"),
            key: "file:tca/TCA.key".to_owned(),
            listen: "127.0.0.1:0".to_owned(),
            max_pending_requests: 100_000,
            validity_days: 30,
            https: None,
        }),
        client: None,
    };
    settings.save(instance).unwrap();
}

/// Submits the instance's CSR and issues it; returns the certificate number.
fn submit_and_issue(server: &CaServer, key: &SoftwareKey, csr: &[u8]) -> u64 {
    let submission = Submission {
        name: "crash".to_owned(),
        csr: csr.to_vec(),
        contact: Contact {
            name: "Crash Tester".to_owned(),
            phone: None,
            email: None,
        },
        source: "local".to_owned(),
    };
    let record = server.submit(submission).unwrap();
    server
        .issue(&record.id, Usage::Tls, None, key)
        .unwrap()
        .number
}

fn ca_key(instance: &Path) -> SoftwareKey {
    SoftwareKey::from_pkcs8_der(&fs::read(instance.join("tca/TCA.pk8")).unwrap()).unwrap()
}

/// Checks what a kill may never leave behind, and returns the highest certificate number.
fn assert_consistent(instance: &Path, round: usize) -> u64 {
    let ca_directory = instance.join("tca");

    // Every certificate file is whole and contains the number its name says.
    let mut numbers = HashSet::new();
    if let Ok(entries) = fs::read_dir(ca_directory.join("certs")) {
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            // write_atomic's temporary files start with a dot and are never read.
            let Some(hex) = name.strip_suffix(".cer") else {
                assert!(
                    name.starts_with(".certa-"),
                    "round {round}: stray file {name}"
                );
                continue;
            };
            let bytes = fs::read(&path).unwrap();
            let (_, pem) = x509_parser::pem::parse_x509_pem(&bytes)
                .unwrap_or_else(|e| panic!("round {round}: {name} is no PEM file: {e}"));
            let (_, certificate) = X509Certificate::from_der(&pem.contents)
                .unwrap_or_else(|e| panic!("round {round}: {name} is no certificate: {e}"));
            let number = u64::from_str_radix(hex, 16).unwrap();
            assert_eq!(
                certificate.tbs_certificate.serial.to_u64_digits(),
                vec![number],
                "round {round}: {name}"
            );
            assert!(
                numbers.insert(number),
                "round {round}: number {number} twice in certs/"
            );
        }
    }

    // index.txt has no number twice, and only numbers with a certificate file.
    let index = Index::new(ca_directory.join("index.txt")).read().unwrap();
    let mut index_numbers = HashSet::new();
    for entry in &index {
        assert!(
            index_numbers.insert(entry.number),
            "round {round}: number {} twice in index.txt",
            entry.number
        );
        assert!(
            numbers.contains(&entry.number),
            "round {round}: index.txt names {} without a file",
            entry.number
        );
    }

    // The audit log names each number once, and each for one request.
    let mut audited = HashMap::new();
    for record in read_all(&ca_directory.join("audit.log")).unwrap() {
        if let AuditEvent::Issued {
            number, request_id, ..
        } = record.event
        {
            assert!(
                audited.insert(number, request_id).is_none(),
                "round {round}: number {number} issued twice in audit.log"
            );
        }
    }

    let highest = numbers.iter().copied().max().unwrap_or(1);
    let next = SerialFile::new(ca_directory.join("TCA.srl"))
        .next()
        .unwrap();
    assert!(
        next > highest,
        "round {round}: serial file {next} is not past {highest}"
    );

    // OpenSSL loads the database; it refuses one with a number twice or a malformed line.
    if let Some(last) = index.last() {
        let config = ca_directory.join("openssl-ca.cnf");
        fs::write(
            &config,
            format!(
                "[ca]\ndefault_ca = certa\n[certa]\ndatabase = {}\nserial = {}\n",
                ca_directory.join("index.txt").display(),
                ca_directory.join("TCA.srl").display()
            ),
        )
        .unwrap();
        let hex = format!("{:02X}", last.number);
        let hex = if hex.len() % 2 == 1 {
            format!("0{hex}")
        } else {
            hex
        };
        let output = openssl([
            "ca".as_ref(),
            "-config".as_ref(),
            config.as_os_str(),
            "-status".as_ref(),
            hex.as_ref(),
        ]);
        let text = format!("{}{}", output.stdout, output.stderr);
        assert!(
            text.contains(&format!("{hex}=Valid (V)")),
            "round {round}: {text}"
        );
    }
    highest
}

#[test]
fn kill_during_issuance() {
    let dir = tempfile::tempdir().unwrap();
    let instance = dir.path().join("instance");
    make_ca(&instance);
    let mut highest = 1;

    for round in 0..KILLS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash_child", "--nocapture"])
            .env(CHILD_INSTANCE, &instance)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let delay = 50 + u64::from(OsRng.next_u32() % 400);
        std::thread::sleep(Duration::from_millis(delay));
        child.kill().unwrap();
        child.wait().unwrap();

        let now = assert_consistent(&instance, round);
        assert!(
            now >= highest,
            "round {round}: numbers went back from {highest} to {now}"
        );
        highest = now;
    }

    // Issuing goes on past every number used before the kills.
    let server = CaServer::open(&instance).unwrap();
    let csr = fs::read(instance.join("client.csr")).unwrap();
    let number = submit_and_issue(&server, &ca_key(&instance), &csr);
    assert!(number > highest, "{number} is not past {highest}");
    assert_consistent(&instance, KILLS);
    assert_openssl_verifies(
        &instance.join("tca/TCA.cer"),
        &server.certificate(number).unwrap().path,
    );
    assert!(highest > 2, "the child issued nothing before being killed");
    for record in server.pending().unwrap() {
        assert_eq!(record.state, RequestState::Pending);
    }
}

/// The child process of `kill_during_issuance`: issues until killed; does
/// nothing when run as an ordinary test.
#[test]
fn crash_child() {
    let Some(instance) = std::env::var_os(CHILD_INSTANCE) else {
        return;
    };
    let instance = PathBuf::from(instance);
    let server = CaServer::open(&instance).unwrap();
    let key = ca_key(&instance);
    let csr = fs::read(instance.join("client.csr")).unwrap();
    loop {
        submit_and_issue(&server, &key, &csr);
    }
}
