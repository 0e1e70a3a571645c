//! Load benchmark of `POST /v1/requests`: concurrent clients on loopback
//! submit CSRs made ahead of time to a real server over a CA instance made
//! with OpenSSL, then the benchmark checks that every accepted request is on
//! disk.
//!
//! Run it with `cargo bench -p certa-core --bench submit_load`; options:
//! `--count N` submissions (10000), `--connections N` (32), `--seconds N`,
//! the time bound (120), and `--dir PATH`, the parent of the temporary
//! instance (the system's temporary directory), so that the file system
//! whose `fsync` is measured can be chosen.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use certa_core::ca::server::{CaServer, Submission};
use certa_core::fsutil::{write_atomic, Replace};
use certa_core::http;
use certa_core::key::rcgen_signer::RcgenSigner;
use certa_core::key::software::SoftwareKey;
use certa_core::key::KeyAlgorithm;
use certa_core::settings::{Contact, ServerSettings, Settings};
use certa_test_support::make_openssl_ca;
use serde_json::json;

struct Options {
    count: usize,
    connections: usize,
    seconds: u64,
    parent: Option<PathBuf>,
}

fn options() -> Options {
    let mut options = Options {
        count: 10_000,
        connections: 32,
        seconds: 120,
        parent: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().expect("a value after the option");
        match arg.as_str() {
            "--count" => options.count = value().parse().expect("--count N"),
            "--connections" => options.connections = value().parse().expect("--connections N"),
            "--seconds" => options.seconds = value().parse().expect("--seconds N"),
            "--dir" => options.parent = Some(PathBuf::from(value())),
            // `cargo bench` passes `--bench` to every bench target.
            _ => {}
        }
    }
    options
}

/// A CA instance made with `openssl req -x509`, with room for every submission in the queue.
fn make_instance(dir: &Path, max_pending_requests: usize) {
    make_openssl_ca(&dir.join("ca"), "BENCH", "/CN=Benchmark CA", 2);
    let settings = Settings {
        server: Some(ServerSettings {
            root: "BENCH".to_owned(),
            directory: PathBuf::from("ca"),
            key: "file:ca/BENCH.key".to_owned(),
            listen: "127.0.0.1:0".to_owned(),
            max_pending_requests,
            validity_days: 1,
            https: None,
        }),
        client: None,
    };
    settings.save(dir).expect("settings");
}

/// `count` CSRs, each for its own P-256 key, as PEM.
fn make_csrs(count: usize) -> Vec<String> {
    (0..count)
        .map(|i| {
            let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).expect("key");
            let mut params = rcgen::CertificateParams::default();
            params.distinguished_name = rcgen::DistinguishedName::new();
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, format!("client-{i}.example.org"));
            let signer = RcgenSigner::new(&key).expect("signer");
            params
                .serialize_request(&signer)
                .expect("CSR")
                .pem()
                .expect("PEM")
        })
        .collect()
}

fn body(csr: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "name": "bench",
        "csr": csr,
        "contact": {"name": "Load Test", "email": "load@example.org"},
    }))
    .expect("JSON")
}

fn count_files(directory: &Path) -> usize {
    let Ok(entries) = fs::read_dir(directory) else {
        return 0;
    };
    entries
        .map(|entry| entry.expect("directory entry").path())
        .map(|path| if path.is_dir() { count_files(&path) } else { 1 })
        .sum()
}

#[derive(Default)]
struct Outcome {
    latencies: Vec<Duration>,
    accepted: usize,
    rejected: Vec<u16>,
}

async fn run_connection(
    address: SocketAddr,
    bodies: Arc<Vec<Vec<u8>>>,
    next: Arc<AtomicUsize>,
    deadline: Instant,
) -> Outcome {
    // One client per task, with one pooled connection each.
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(1)
        .build()
        .expect("HTTP client");
    let url = format!("http://{address}/v1/requests");
    let mut outcome = Outcome::default();
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= bodies.len() || Instant::now() >= deadline {
            return outcome;
        }
        let started = Instant::now();
        let response = http
            .post(&url)
            .header("content-type", "application/json")
            .body(bodies[i].clone())
            .send()
            .await
            .expect("send");
        let status = response.status();
        let _ = response.bytes().await.expect("answer");
        outcome.latencies.push(started.elapsed());
        if status == reqwest::StatusCode::CREATED {
            outcome.accepted += 1;
        } else {
            outcome.rejected.push(status.as_u16());
        }
    }
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

fn milliseconds(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Times the pieces a submission is made of without HTTP: one durable file
/// write, and `CaServer::submit` called in a loop on one thread.
fn probe(parent: &Path, csrs: &[String]) {
    let dir = tempfile::tempdir_in(parent).expect("temporary directory");
    let writes = 200;
    let started = Instant::now();
    for i in 0..writes {
        let path = dir.path().join(format!("probe-{i}"));
        write_atomic(&path, &[0u8; 1024], 0o644, Replace::Forbid).expect("write");
    }
    let per_write = started.elapsed() / writes;
    println!(
        "probe: write_atomic of 1 KiB (fsync of file and directory): {:.2} ms each",
        milliseconds(per_write)
    );

    make_instance(dir.path(), csrs.len() + 1);
    let server = CaServer::open(dir.path()).expect("open");
    let started = Instant::now();
    for csr in csrs {
        server
            .submit(Submission {
                name: "bench".to_owned(),
                csr: csr.clone().into_bytes(),
                contact: Contact {
                    name: "Load Test".to_owned(),
                    ..Contact::default()
                },
                source: "local".to_owned(),
            })
            .expect("submit");
    }
    let elapsed = started.elapsed();
    println!(
        "probe: CaServer::submit on one thread, no HTTP: {} submissions in {:.2} s, {:.2} ms each, {:.0} per second",
        csrs.len(),
        elapsed.as_secs_f64(),
        milliseconds(elapsed / csrs.len() as u32),
        csrs.len() as f64 / elapsed.as_secs_f64()
    );
}

fn main() {
    let options = options();
    let parent = options.parent.clone().unwrap_or_else(std::env::temp_dir);
    let instance = tempfile::tempdir_in(&parent).expect("temporary directory");
    make_instance(instance.path(), options.count + 1);

    let started = Instant::now();
    let csrs = make_csrs(options.count);
    println!(
        "made {} CSRs (P-256) ahead in {:.1} s; instance in {}",
        csrs.len(),
        started.elapsed().as_secs_f64(),
        instance.path().display()
    );
    let bodies = Arc::new(csrs.iter().map(|csr| body(csr)).collect::<Vec<_>>());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let server = Arc::new(CaServer::open(instance.path()).expect("open"));
    let listen: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let mut handle = http::start(runtime.handle(), server, listen).expect("start");
    let address = handle.address();

    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(options.seconds);
    let started = Instant::now();
    let outcomes = runtime.block_on(async {
        let tasks: Vec<_> = (0..options.connections)
            .map(|_| {
                tokio::spawn(run_connection(
                    address,
                    Arc::clone(&bodies),
                    Arc::clone(&next),
                    deadline,
                ))
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.expect("connection task"));
        }
        outcomes
    });
    let elapsed = started.elapsed();
    runtime.block_on(handle.stop());

    let mut latencies: Vec<Duration> = outcomes
        .iter()
        .flat_map(|o| o.latencies.iter().copied())
        .collect();
    latencies.sort();
    let accepted: usize = outcomes.iter().map(|o| o.accepted).sum();
    let rejected: Vec<u16> = outcomes
        .iter()
        .flat_map(|o| o.rejected.iter().copied())
        .collect();
    let stored = count_files(&instance.path().join("ca/requests"));
    let pending = CaServer::open(instance.path())
        .expect("open")
        .pending()
        .expect("pending")
        .len();

    println!(
        "{} submissions over {} connections in {:.2} s: {:.0} submissions per second",
        latencies.len(),
        options.connections,
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "latency: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        milliseconds(percentile(&latencies, 0.50)),
        milliseconds(percentile(&latencies, 0.90)),
        milliseconds(percentile(&latencies, 0.99)),
        milliseconds(latencies.last().copied().unwrap_or_default())
    );
    println!(
        "accepted {accepted}, rejected {} (statuses {:?}); request files on disk {stored}, pending after restart {pending}",
        rejected.len(),
        rejected.iter().take(5).collect::<Vec<_>>()
    );
    assert_eq!(stored, accepted, "every accepted request must be on disk");
    assert_eq!(
        pending, accepted,
        "every accepted request must be pending after a restart"
    );

    probe(&parent, &csrs[..csrs.len().min(1000)]);
}
