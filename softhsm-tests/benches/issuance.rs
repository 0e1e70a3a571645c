//! Issuance with the CA key on a SoftHSM token, beside the same issuance with
//! a software key unlocked from the file key store.
//!
//! Each measured call is `CaServer::issue` for one pending request (the
//! submission is set-up work and not measured) with a signer unlocked once,
//! as a running CA server holds it. A second group measures the signature
//! alone. Run with `cargo bench -p certa-softhsm-tests --bench issuance`.

// criterion_group! defines an undocumented public function.
#![allow(missing_docs)]

use std::path::Path;
use std::sync::Arc;

use certa_backends::file::FileKeyStore;
use certa_core::ca::profile::Usage;
use certa_core::ca::server::{CaServer, Submission};
use certa_core::ca::setup::{set_up_self_signed, SelfSignedSetup};
use certa_core::key::{KeyAlgorithm, KeyStore, KeyUri, SecretString, Signer};
use certa_core::name::SubjectName;
use certa_core::settings::Contact;
use certa_softhsm_tests::SoftHsmToken;
use certa_test_support::openssl_ok;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};

/// The bytes signed in the signature group: about the size of a tbsCertificate.
const MESSAGE: [u8; 600] = [0x5a; 600];

/// A CA and the signer of its key.
struct BenchCa {
    name: String,
    server: CaServer,
    signer: Arc<dyn Signer>,
}

fn subject(name: &str) -> SubjectName {
    SubjectName::common_name(format!("Bench CA {name}"))
}

fn token_ca(token: &SoftHsmToken, algorithm: KeyAlgorithm) -> BenchCa {
    let name = format!("softhsm-{}", algorithm.name());
    let instance = token.directory().join(&name);
    std::fs::create_dir_all(&instance).expect("create the instance directory");
    let key = token.key_uri(&format!("bench-{}", algorithm.name()));
    let setup = SelfSignedSetup {
        algorithm,
        key: Some(key.clone()),
        ..SelfSignedSetup::new("BENCH", "ca", subject(&name))
    };
    let store = token.key_store();
    set_up_self_signed(&instance, &setup, &store, None).expect("set up the token CA");

    BenchCa {
        server: CaServer::open(&instance).expect("open the token CA"),
        signer: store.unlock(&key, None).expect("unlock the token key"),
        name,
    }
}

fn software_ca(directory: &Path, algorithm: KeyAlgorithm) -> BenchCa {
    let name = format!("software-{}", algorithm.name());
    let instance = directory.join(&name);
    std::fs::create_dir_all(&instance).expect("create the instance directory");
    let password = SecretString::from("bench password");
    let setup = SelfSignedSetup {
        algorithm,
        ..SelfSignedSetup::new("BENCH", "ca", subject(&name))
    };
    let store = FileKeyStore::new(&instance);
    set_up_self_signed(&instance, &setup, &store, Some(&password)).expect("set up the file CA");

    BenchCa {
        server: CaServer::open(&instance).expect("open the file CA"),
        signer: store
            .unlock(&KeyUri::file("ca/BENCH.key"), Some(&password))
            .expect("unlock the file key"),
        name,
    }
}

fn csr_pem(directory: &Path) -> Vec<u8> {
    let key = directory.join("requester.key");
    let csr = directory.join("requester.csr");
    openssl_ok([
        "req".as_ref(),
        "-new".as_ref(),
        "-newkey".as_ref(),
        "ec".as_ref(),
        "-pkeyopt".as_ref(),
        "ec_paramgen_curve:P-256".as_ref(),
        "-nodes".as_ref(),
        "-subj".as_ref(),
        "/CN=bench.example.com".as_ref(),
        "-keyout".as_ref(),
        key.as_os_str(),
        "-out".as_ref(),
        csr.as_os_str(),
    ]);
    std::fs::read(csr).expect("read the CSR")
}

fn issuance(c: &mut Criterion) {
    let token = SoftHsmToken::new("bench");
    let directory = token.directory();
    let csr = csr_pem(&directory);
    let cas = [
        token_ca(&token, KeyAlgorithm::EcdsaP256),
        software_ca(&directory, KeyAlgorithm::EcdsaP256),
        token_ca(&token, KeyAlgorithm::Rsa2048),
        software_ca(&directory, KeyAlgorithm::Rsa2048),
    ];

    let mut group = c.benchmark_group("issue");
    group.sample_size(30);
    for ca in &cas {
        group.bench_function(&ca.name, |bench| {
            bench.iter_batched(
                || {
                    let submission = Submission {
                        name: "bench".to_owned(),
                        csr: csr.clone(),
                        contact: Contact {
                            name: "Bench Operator".to_owned(),
                            phone: None,
                            email: None,
                        },
                        source: "local".to_owned(),
                    };
                    ca.server.submit(submission).expect("submit").id
                },
                |id| {
                    ca.server
                        .issue(&id, Usage::Tls, None, ca.signer.as_ref())
                        .expect("issue")
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();

    let mut group = c.benchmark_group("sign");
    for ca in &cas {
        group.bench_function(&ca.name, |bench| {
            bench.iter(|| ca.signer.sign(&MESSAGE).expect("sign"));
        });
    }
    group.finish();
}

criterion_group!(benches, issuance);
criterion_main!(benches);
