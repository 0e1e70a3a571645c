//! certa's TLS side talks to OpenSSL's `s_client` and `s_server`, with
//! certificates and encrypted key files from certa's CA client.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod tls_support;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use certa_core::key::KeyAlgorithm;
use certa_core::tls::{client_config, connect, server_config, ClientAuth, TlsFailure, TlsListener};
use certa_core::Error;
use tls_support::{Ca, Member, CA_ROOT, ROOT};

const CA_NAME: &str = "Mutual TLS CA";
const PASSWORD: &str = "correct horse battery staple";
const WAIT: Duration = Duration::from_secs(10);

/// An OpenSSL process that is killed when dropped, so that a hung
/// `s_client` or `s_server` never outlives its test. Its standard output
/// and standard error arrive line by line on one channel.
struct OpenSsl {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl OpenSsl {
    fn spawn(args: &[String]) -> OpenSsl {
        let mut child = Command::new("openssl")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start openssl");
        let (sender, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        for stream in [
            Box::new(stdout) as Box<dyn std::io::Read + Send>,
            Box::new(stderr),
        ] {
            let sender = sender.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { return };
                    if sender.send(line).is_err() {
                        return;
                    }
                }
            });
        }
        let stdin = child.stdin.take();
        OpenSsl {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin");
        stdin.write_all(line.as_bytes()).expect("write to openssl");
        stdin.write_all(b"\n").expect("write to openssl");
        stdin.flush().expect("flush openssl's stdin");
    }

    /// Waits up to [`WAIT`] for a line of output that contains `text`.
    fn wait_for(&mut self, text: &str) -> bool {
        if self.seen.iter().any(|line| line.contains(text)) {
            return true;
        }
        let deadline = Instant::now() + WAIT;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(line) = self.lines.recv_timeout(left) else {
                return false;
            };
            let found = line.contains(text);
            self.seen.push(line);
            if found {
                return true;
            }
        }
        false
    }

    fn output(&self) -> String {
        self.seen.join("\n")
    }
}

impl Drop for OpenSsl {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn path_arg(path: PathBuf) -> String {
    path.to_str().expect("UTF-8 path").to_owned()
}

/// Builds the arguments that give OpenSSL a member's certificate, its encrypted
/// key file and the CA certificate to verify the peer with.
fn credentials(member: &Member) -> Vec<String> {
    vec![
        "-cert".to_owned(),
        path_arg(member.file(&format!("{ROOT}.cer"))),
        "-key".to_owned(),
        path_arg(member.file(&format!("{ROOT}.key"))),
        "-pass".to_owned(),
        format!("pass:{PASSWORD}"),
        "-CAfile".to_owned(),
        path_arg(member.file(&format!("{CA_ROOT}.cer"))),
    ]
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

async fn s_client_exchange(algorithm: KeyAlgorithm) {
    let ca = Ca::start(CA_NAME);
    let a = Member::enrolled(&ca, "a.example.org", algorithm, Some(PASSWORD)).await;
    let b = Member::enrolled(&ca, "b.example.org", algorithm, Some(PASSWORD)).await;
    let config =
        server_config(&a.identity(), &a.trust(), &ClientAuth::default()).expect("server config");
    let listen: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let listener = TlsListener::bind(listen, config).await.expect("bind");
    let port = listener.local_addr().port();
    let accepting = tokio::spawn(async move { listener.accept().await });

    let mut args = vec![
        "s_client".to_owned(),
        "-connect".to_owned(),
        format!("127.0.0.1:{port}"),
        "-servername".to_owned(),
        "a.example.org".to_owned(),
        "-verify_hostname".to_owned(),
        "a.example.org".to_owned(),
        "-verify_return_error".to_owned(),
        // Lines end with \r\n, which certa's receive strips.
        "-crlf".to_owned(),
        "-quiet".to_owned(),
    ];
    args.extend(credentials(&b));
    let mut s_client = OpenSsl::spawn(&args);
    let mut at_a = tokio::time::timeout(WAIT, accepting)
        .await
        .expect("accept in time")
        .expect("accept task")
        .expect("A accepts s_client");
    s_client.type_line("hello from s_client");
    let received = at_a.receive(WAIT).await.expect("A receives");
    at_a.send("hello from certa").await.expect("A sends");
    let s_client_printed = s_client.wait_for("hello from certa");

    assert_eq!(received.as_deref(), Some("hello from s_client"));
    assert!(s_client_printed, "s_client output:\n{}", s_client.output());
    assert_eq!(
        at_a.peer().map(|peer| peer.subject.as_str()),
        Some(b.subject().as_str())
    );
    assert!(
        at_a.protocol().starts_with("TLSv1.3"),
        "{}",
        at_a.protocol()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s_client_ecdsa() {
    s_client_exchange(KeyAlgorithm::EcdsaP256).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s_client_rsa() {
    s_client_exchange(KeyAlgorithm::Rsa2048).await;
}

async fn s_server_exchange(algorithm: KeyAlgorithm) {
    let ca = Ca::start(CA_NAME);
    let a = Member::enrolled(&ca, "a.example.org", algorithm, Some(PASSWORD)).await;
    let b = Member::enrolled(&ca, "b.example.org", algorithm, Some(PASSWORD)).await;
    let port = free_port();
    let mut args = vec![
        "s_server".to_owned(),
        "-accept".to_owned(),
        format!("127.0.0.1:{port}"),
        "-naccept".to_owned(),
        "1".to_owned(),
        "-Verify".to_owned(),
        "1".to_owned(),
        "-verify_return_error".to_owned(),
    ];
    args.extend(credentials(&a));
    let mut s_server = OpenSsl::spawn(&args);
    assert!(
        s_server.wait_for("ACCEPT"),
        "s_server output:\n{}",
        s_server.output()
    );

    let config = client_config(Some(&b.identity()), &b.trust()).expect("client config");
    let mut at_b = connect(&format!("127.0.0.1:{port}"), "a.example.org", config)
        .await
        .expect("B connects to s_server");
    at_b.send("hello from certa").await.expect("B sends");
    let s_server_printed = s_server.wait_for("hello from certa");
    s_server.type_line("hello from s_server");
    let received = at_b.receive(WAIT).await.expect("B receives");

    assert!(s_server_printed, "s_server output:\n{}", s_server.output());
    assert_eq!(received.as_deref(), Some("hello from s_server"));
    assert_eq!(
        at_b.peer().map(|peer| peer.subject.as_str()),
        Some(a.subject().as_str())
    );
    assert!(
        s_server.output().contains("CN = b.example.org"),
        "s_server did not report B's certificate:\n{}",
        s_server.output()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s_server_ecdsa() {
    s_server_exchange(KeyAlgorithm::EcdsaP256).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s_server_rsa() {
    s_server_exchange(KeyAlgorithm::Rsa2048).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s_client_without_certificate_rejected() {
    let ca = Ca::start(CA_NAME);
    let a = Member::enrolled(&ca, "a.example.org", KeyAlgorithm::EcdsaP256, None).await;
    let config =
        server_config(&a.identity(), &a.trust(), &ClientAuth::default()).expect("server config");
    let listen: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let listener = TlsListener::bind(listen, config).await.expect("bind");
    let port = listener.local_addr().port();
    let accepting = tokio::spawn(async move { listener.accept().await });

    let mut s_client = OpenSsl::spawn(&[
        "s_client".to_owned(),
        "-connect".to_owned(),
        format!("127.0.0.1:{port}"),
        "-CAfile".to_owned(),
        path_arg(a.file(&format!("{CA_ROOT}.cer"))),
        "-verify_return_error".to_owned(),
    ]);
    let error = tokio::time::timeout(WAIT, accepting)
        .await
        .expect("accept in time")
        .expect("accept task")
        .unwrap_err();
    // s_client reads the server's alert once it looks for data.
    s_client.type_line("anyone there?");
    let alert_seen = s_client.wait_for("certificate required");

    let Error::Tls { failure, .. } = &error else {
        panic!("expected a TLS error, got {error:?}");
    };
    assert_eq!(*failure, TlsFailure::NoCertificate);
    assert!(alert_seen, "s_client output:\n{}", s_client.output());
}
