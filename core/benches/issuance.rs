//! Issuance throughput of the CA server, and where the time goes.
//!
//! - `issuance/durable`: `CaServer::issue` on a pending request, with every
//!   durable write (serial file, certificate file, `index.txt`, `audit.log`,
//!   request state). The request is submitted in the untimed set-up.
//! - `issuance/submit`: `CaServer::submit` of one CSR, with its durable
//!   writes (request file, `audit.log`), for comparison.
//! - `issuance/build`: building and signing one certificate in memory, which
//!   verifies the CSR and the CA's signature, with no file written.
//! - `issuance/csr_verify`: parsing and verifying one CSR.
//! - `issuance/sign`: one ECDSA P-256 signature over a certificate-sized message.
//! - `issuance/fsync_append`: one line appended to a file and `fdatasync`ed,
//!   the unit of durable-write cost on the file system under test.
//! - `pending_count/10000`: counting a queue of 10,000 pending requests.
//!
//! The CA key is a P-256 `SoftwareKey` loaded from an unencrypted PKCS#8 file
//! made by OpenSSL. The file key store lives in `certa-backends`, which
//! `certa-core` cannot depend on; its cost (scrypt or PBKDF2 to unlock) is
//! paid once per unlock, not per certificate, so an unlocked signer is what an
//! operator's session issues with.
//!
//! Run with `cargo bench -p certa-core --bench issuance -- --warm-up-time 1
//! --measurement-time 5`. `CERTA_BENCH_DIR` chooses the parent directory of
//! the instance (the system's temporary directory by default), so the file
//! system whose `fsync` is measured can be chosen.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use certa_core::ca::builder::{build_certificate, CaIdentity, IssueParams};
use certa_core::ca::profile::Usage;
use certa_core::ca::requests::RequestStore;
use certa_core::ca::server::{CaServer, Submission};
use certa_core::csr::CertificateRequest;
use certa_core::key::software::SoftwareKey;
use certa_core::key::Signer;
use certa_core::settings::{Contact, ServerSettings, Settings};
use certa_test_support::openssl_ok;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

const REQ_CONFIG: &str = "[req]\ndistinguished_name = dn\nx509_extensions = v3_ca\nprompt = no\n[dn]\nCN = unused\n[v3_ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid:always\n";

struct Fixture {
    _dir: tempfile::TempDir,
    instance: PathBuf,
    key: SoftwareKey,
    csr: Vec<u8>,
}

fn openssl_args<'a>(args: &'a [&'a str], paths: &'a [&'a Path]) -> Vec<&'a std::ffi::OsStr> {
    args.iter()
        .map(|a| a.as_ref())
        .chain(paths.iter().map(|p| p.as_os_str()))
        .collect()
}

/// Makes a P-256 CA and a P-256 CSR with a DNS name, both with OpenSSL.
fn fixture() -> Fixture {
    let dir = match std::env::var_os("CERTA_BENCH_DIR") {
        Some(parent) => tempfile::tempdir_in(parent).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let instance = dir.path().join("instance");
    let ca_directory = instance.join("bca");
    fs::create_dir_all(&ca_directory).unwrap();
    let config = dir.path().join("req.cnf");
    fs::write(&config, REQ_CONFIG).unwrap();
    let key_pem = dir.path().join("ca.pem");
    let key_der = dir.path().join("ca.pk8");
    let client_key = dir.path().join("client.pem");
    let csr = dir.path().join("client.csr");
    let generate = [
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
    ];

    openssl_ok(openssl_args(&generate, &[&key_pem]));
    openssl_ok(openssl_args(&generate, &[&client_key]));
    openssl_ok(
        openssl_args(
            &["pkcs8", "-topk8", "-nocrypt", "-outform", "DER", "-in"],
            &[&key_pem],
        )
        .into_iter()
        .chain(["-out".as_ref(), key_der.as_os_str()]),
    );
    openssl_ok(
        openssl_args(
            &[
                "req",
                "-x509",
                "-new",
                "-subj",
                "/CN=Bench CA",
                "-days",
                "30",
                "-set_serial",
                "1",
                "-key",
            ],
            &[&key_pem],
        )
        .into_iter()
        .chain([
            "-config".as_ref(),
            config.as_os_str(),
            "-out".as_ref(),
            ca_directory.join("BCA.cer").as_os_str(),
        ]),
    );
    openssl_ok(
        openssl_args(
            &[
                "req",
                "-new",
                "-subj",
                "/O=certa bench/CN=bench.example",
                "-addext",
                "subjectAltName=DNS:bench.example",
                "-key",
            ],
            &[&client_key],
        )
        .into_iter()
        .chain(["-out".as_ref(), csr.as_os_str()]),
    );
    fs::write(ca_directory.join("BCA.srl"), "02\n").unwrap();
    Settings {
        server: Some(ServerSettings {
            root: "BCA".to_owned(),
            directory: PathBuf::from("bca"),
            key: "file:bca/BCA.key".to_owned(),
            listen: "127.0.0.1:0".to_owned(),
            max_pending_requests: 1_000_000,
            validity_days: 30,
            https: None,
        }),
        client: None,
    }
    .save(&instance)
    .unwrap();

    Fixture {
        key: SoftwareKey::from_pkcs8_der(&fs::read(&key_der).unwrap()).unwrap(),
        csr: fs::read(&csr).unwrap(),
        instance,
        _dir: dir,
    }
}

fn submission(csr: &[u8]) -> Submission {
    Submission {
        name: "bench".to_owned(),
        csr: csr.to_vec(),
        contact: Contact {
            name: "Bench Requester".to_owned(),
            phone: None,
            email: None,
        },
        source: "local".to_owned(),
    }
}

fn issuance(c: &mut Criterion) {
    let fixture = fixture();
    let server = CaServer::open(&fixture.instance).unwrap();
    let ca_der = {
        let pem = server.ca_certificate().unwrap().pem;
        let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
        block.contents
    };
    let ca = CaIdentity::from_der(&ca_der).unwrap();
    let request = CertificateRequest::from_bytes(&fixture.csr).unwrap();

    let mut group = c.benchmark_group("issuance");
    group.throughput(Throughput::Elements(1));

    group.bench_function("durable", |b| {
        b.iter_batched(
            || server.submit(submission(&fixture.csr)).unwrap().id,
            |id| server.issue(&id, Usage::Tls, None, &fixture.key).unwrap(),
            BatchSize::PerIteration,
        )
    });

    group.bench_function("submit", |b| {
        b.iter(|| server.submit(submission(&fixture.csr)).unwrap())
    });

    let mut serial = 1_000_000u64;
    group.bench_function("build", |b| {
        b.iter(|| {
            serial += 1;
            let request = CertificateRequest::from_bytes(&fixture.csr).unwrap();
            build_certificate(&ca, &fixture.key, &request, &IssueParams::new(serial)).unwrap()
        })
    });

    group.bench_function("csr_verify", |b| {
        b.iter(|| CertificateRequest::from_bytes(&fixture.csr).unwrap())
    });

    let message = vec![0x5a; request.der().len() + 200];
    group.bench_function("sign", |b| b.iter(|| fixture.key.sign(&message).unwrap()));

    let log = fixture.instance.join("fsync-bench.log");
    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .unwrap();
    let line = [b'x'; 200];
    group.bench_function("fsync_append", |b| {
        b.iter(|| {
            file.write_all(&line).unwrap();
            file.sync_data().unwrap();
        })
    });
    group.finish();
}

fn pending_count(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = RequestStore::new(dir.path().join("requests"));
    let pending = store.pending_directory();
    fs::create_dir_all(&pending).unwrap();
    // Only the names are counted, so plain writes are enough to fill the queue.
    for i in 0..10_000u64 {
        fs::write(pending.join(format!("{i:016x}.json")), b"{}").unwrap();
    }

    let mut group = c.benchmark_group("pending_count");
    group.bench_function("10000", |b| {
        b.iter(|| assert_eq!(store.count_pending().unwrap(), 10_000))
    });
    group.finish();
}

criterion_group!(benches, issuance, pending_count);
criterion_main!(benches);
