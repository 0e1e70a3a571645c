//! `certa serve`: serves an instance until SIGTERM, and a client script talks to it.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;
use std::process::Command;

use common::{certa, Run, ServerProcess, TEST_CA_PASSWORD};

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

    let mut server = ServerProcess::start(&base.path().join("ca"));
    let port = server.port;

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
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(signal.success());
    let status = server.child.wait().unwrap();
    let mut logs = String::new();
    server
        .child
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
