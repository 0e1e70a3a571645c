//! Certificate numbers stay unique when several threads, and several
//! processes, issue on one CA instance at the same time.
//!
//! The processes are this test binary run again with an environment variable
//! naming the instance, so no extra binary is needed.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use certa_core::ca::index::Index;
use certa_core::ca::profile::Usage;
use certa_core::ca::serial::{parse_serial, SerialFile};
use certa_core::ca::server::{CaServer, Submission};
use certa_core::key::software::SoftwareKey;
use certa_core::settings::{Contact, ServerSettings, Settings};
use certa_test_support::openssl_ok;

const ISSUANCES: usize = 1000;
const THREADS: usize = 4;
const PROCESSES: usize = 2;
const THREADS_PER_PROCESS: usize = 2;

/// Set in a child process: the instance directory to issue on.
const CHILD_INSTANCE: &str = "CERTA_TEST_CHILD_INSTANCE";
/// Set in a child process: a file with one request id per line to issue.
const CHILD_IDS: &str = "CERTA_TEST_CHILD_IDS";

const REQ_CONFIG: &str = "[req]\ndistinguished_name = dn\nx509_extensions = v3_ca\nprompt = no\n[dn]\nCN = unused\n[v3_ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid:always\n";

/// Makes a P-256 CA with OpenSSL in `instance/tca` and returns a CSR made with OpenSSL.
fn make_ca(instance: &Path) -> Vec<u8> {
    let ca_directory = instance.join("tca");
    fs::create_dir_all(&ca_directory).unwrap();
    let config = instance.join("req.cnf");
    fs::write(&config, REQ_CONFIG).unwrap();
    let key = ca_directory.join("TCA-plain.pem");
    let cert = ca_directory.join("TCA.cer");
    let pkcs8 = ca_directory.join("TCA.pk8");
    let client_key = instance.join("client.key");
    let csr = instance.join("client.csr");

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
        pkcs8.as_os_str(),
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
        "/CN=Concurrency Test CA".as_ref(),
        "-days".as_ref(),
        "30".as_ref(),
        "-set_serial".as_ref(),
        "1".as_ref(),
        "-out".as_ref(),
        cert.as_os_str(),
    ]);
    openssl_ok([
        "req".as_ref(),
        "-new".as_ref(),
        "-key".as_ref(),
        client_key.as_os_str(),
        "-subj".as_ref(),
        "/CN=client.example".as_ref(),
        "-out".as_ref(),
        csr.as_os_str(),
    ]);
    fs::write(ca_directory.join("TCA.srl"), "02\n").unwrap();
    let settings = Settings {
        server: Some(ServerSettings {
            root: "TCA".to_owned(),
            directory: PathBuf::from("tca"),
            key: "file:tca/TCA.key".to_owned(),
            listen: "127.0.0.1:0".to_owned(),
            max_pending_requests: ISSUANCES,
            validity_days: 30,
            https: None,
        }),
        client: None,
    };
    settings.save(instance).unwrap();
    fs::read(csr).unwrap()
}

/// A temporary directory, in memory where the system offers one (`/dev/shm`).
///
/// These tests are about the lock, which works the same on tmpfs, and not
/// about durability, which no test short of a power cut can show. On a disk,
/// each of the 2,000 issuances and 2,000 submissions waits for its fsyncs,
/// which makes the tests several times slower.
fn temporary_directory() -> tempfile::TempDir {
    let memory = Path::new("/dev/shm");
    if memory.is_dir() {
        if let Ok(dir) = tempfile::tempdir_in(memory) {
            return dir;
        }
    }
    tempfile::tempdir().unwrap()
}

fn ca_key(instance: &Path) -> SoftwareKey {
    SoftwareKey::from_pkcs8_der(&fs::read(instance.join("tca/TCA.pk8")).unwrap()).unwrap()
}

fn submit_all(server: &CaServer, csr: &[u8]) -> Vec<String> {
    (0..ISSUANCES)
        .map(|_| {
            let submission = Submission {
                name: "client".to_owned(),
                csr: csr.to_vec(),
                contact: Contact {
                    name: "Load Tester".to_owned(),
                    phone: None,
                    email: None,
                },
                source: "local".to_owned(),
            };
            server.submit(submission).unwrap().id
        })
        .collect()
}

/// Issues each id on `threads` threads, each taking every `threads`-th id.
fn issue_all(server: &CaServer, key: &SoftwareKey, ids: &[String], threads: usize) -> Vec<u64> {
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|start| {
                scope.spawn(move || {
                    ids.iter()
                        .skip(start)
                        .step_by(threads)
                        .map(|id| server.issue(id, Usage::Tls, None, key).unwrap().number)
                        .collect::<Vec<u64>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().unwrap())
            .collect()
    })
}

/// Checks that certs/, index.txt and the serial file agree on `ISSUANCES` distinct numbers.
fn assert_distinct_everywhere(instance: &Path) {
    let ca_directory = instance.join("tca");
    let server = CaServer::open(instance).unwrap();

    let issued: Vec<u64> = server.issued().unwrap().iter().map(|c| c.number).collect();
    let issued_set: HashSet<u64> = issued.iter().copied().collect();
    assert_eq!(issued.len(), ISSUANCES);
    assert_eq!(issued_set.len(), ISSUANCES);

    let files = fs::read_dir(ca_directory.join("certs")).unwrap().count();
    assert_eq!(files, ISSUANCES);

    let index = Index::new(ca_directory.join("index.txt")).read().unwrap();
    let index_set: HashSet<u64> = index.iter().map(|e| e.number).collect();
    assert_eq!(index.len(), ISSUANCES);
    assert_eq!(index_set, issued_set);

    let highest = issued.iter().copied().max().unwrap();
    let next = SerialFile::new(ca_directory.join("TCA.srl"))
        .next()
        .unwrap();
    assert!(next > highest, "serial file {next} is not past {highest}");
    let text = fs::read_to_string(ca_directory.join("TCA.srl")).unwrap();
    assert_eq!(parse_serial(&text), Ok(next));

    assert!(server.pending().unwrap().is_empty());
}

#[test]
fn threads_give_distinct_numbers() {
    let dir = temporary_directory();
    let instance = dir.path().join("instance");
    let csr = make_ca(&instance);
    let server = Arc::new(CaServer::open(&instance).unwrap());
    let key = ca_key(&instance);
    let ids = submit_all(&server, &csr);

    let numbers = issue_all(&server, &key, &ids, THREADS);

    let distinct: HashSet<u64> = numbers.iter().copied().collect();
    assert_eq!(distinct.len(), ISSUANCES);
    assert_distinct_everywhere(&instance);
}

#[test]
fn processes_give_distinct_numbers() {
    let dir = temporary_directory();
    let instance = dir.path().join("instance");
    let csr = make_ca(&instance);
    let server = CaServer::open(&instance).unwrap();
    let ids = submit_all(&server, &csr);

    let children: Vec<_> = (0..PROCESSES)
        .map(|process| {
            let share: Vec<&str> = ids
                .iter()
                .skip(process)
                .step_by(PROCESSES)
                .map(String::as_str)
                .collect();
            let ids_file = dir.path().join(format!("ids-{process}.txt"));
            fs::write(&ids_file, share.join("\n")).unwrap();
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "child_issues", "--nocapture"])
                .env(CHILD_INSTANCE, &instance)
                .env(CHILD_IDS, &ids_file)
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        let status = child.wait().unwrap();
        assert!(status.success(), "child process failed: {status}");
    }

    assert_distinct_everywhere(&instance);
}

/// The work of one child process of `processes_give_distinct_numbers`; does
/// nothing when run as an ordinary test.
#[test]
fn child_issues() {
    let (Some(instance), Some(ids_file)) = (
        std::env::var_os(CHILD_INSTANCE),
        std::env::var_os(CHILD_IDS),
    ) else {
        return;
    };
    let instance = PathBuf::from(instance);
    let server = CaServer::open(&instance).unwrap();
    let key = ca_key(&instance);
    let ids: Vec<String> = fs::read_to_string(ids_file)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();

    let numbers = issue_all(&server, &key, &ids, THREADS_PER_PROCESS);

    assert_eq!(numbers.len(), ids.len());
}
