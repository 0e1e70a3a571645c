//! `certa serve`: serves an instance until SIGTERM, and a client script talks to it.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};

use common::{certa, Run, TEST_CA_PASSWORD};

/// A server process, killed if the test fails before it stops it.
struct ServerProcess(Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serve_until_sigterm() {
    let base = tempfile::tempdir().unwrap();
    let setup = base.path().join("setup.rhai");
    std::fs::write(
        &setup,
        r#"instance(ARGS[0] + "/ca").configure_server(#{ root: "SRVCA", directory: "srvca", subject: #{ cn: "Serve CA" } });"#,
    )
    .unwrap();
    Run::of(
        certa()
            .arg("run")
            .arg(&setup)
            .arg(base.path())
            .env("CERTA_CA_PASSWORD", TEST_CA_PASSWORD),
    )
    .assert_success();

    let child = certa()
        .arg("serve")
        .arg("--instance")
        .arg(base.path().join("ca"))
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = ServerProcess(child);
    let mut stdout = BufReader::new(server.0.stdout.take().unwrap());
    let mut first_line = String::new();
    stdout.read_line(&mut first_line).unwrap();
    let address = first_line
        .strip_prefix("listening on ")
        .and_then(|rest| rest.split_once(": "))
        .map(|(address, _)| address.to_owned())
        .unwrap_or_else(|| panic!("unexpected first line: {first_line:?}"));
    let port = address.rsplit_once(':').unwrap().1;

    let client = base.path().join("client.rhai");
    std::fs::write(
        &client,
        format!(
            r#"let client = instance(ARGS[0] + "/client");
client.configure_client(#{{ host: "127.0.0.1", port: {port}, contact: #{{ name: "Ada Operator" }} }});
print(client.fetch_ca_certificate().subject);
print(client.submit(#{{ root: "web", subject: #{{ cn: "web.example.org" }}, unencrypted: true }}).state);
"#
        ),
    )
    .unwrap();
    let run = Run::of(certa().arg("run").arg(&client).arg(base.path()));
    run.assert_success();
    assert_eq!(run.stdout, "CN=Serve CA\npending\n");

    let signal = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(signal.success());
    let status = server.0.wait().unwrap();
    let mut logs = String::new();
    server
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    assert!(
        status.success(),
        "certa serve exited with {status}:\n{logs}"
    );
    assert!(logs.contains("SIGTERM"), "{logs}");
    assert!(!logs.contains(TEST_CA_PASSWORD), "{logs}");
}
