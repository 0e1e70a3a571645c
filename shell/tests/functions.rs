//! Shell functions in cases the scripts in `scripts/` do not reach.

#![allow(clippy::unwrap_used)]

mod common;

use common::{certa, Run, TEST_CA_PASSWORD};

/// Runs `body` with a fresh directory as `ARGS[0]` and the CA password in the environment.
fn run(body: &str) -> Run {
    let directory = tempfile::tempdir().unwrap();
    let script = directory.path().join("test.rhai");
    std::fs::write(&script, body).unwrap();
    Run::of(
        certa()
            .arg("run")
            .arg(&script)
            .arg(directory.path())
            .env("CERTA_CA_PASSWORD", TEST_CA_PASSWORD),
    )
}

#[test]
fn server_lifecycle_and_rejection() {
    let run = run(r#"
let ca = instance(ARGS[0] + "/ca");
let client = instance(ARGS[0] + "/client");
ca.configure_server(#{ root: "LIFECA", directory: "lifeca", subject: #{ cn: "Life CA" } });
print(ca.stop_serving());
print(ca.issue_all().len());
let server = ca.serve(#{ listen: "127.0.0.1:0" });
try { ca.serve(#{ listen: "127.0.0.1:0" }); } catch (err) { print(err.code); }
client.configure_client(#{ host: server.host, port: server.port, contact: #{ name: "Ada" } });
let request = client.submit(#{ root: "denied", subject: #{ cn: "denied.example.org" }, unencrypted: true });
let rejected = ca.reject(request.id, "unknown requester");
print(rejected.state);
print(rejected.reason);
print(ca.pending().len());
print(client.list_certificates().len());
try { client.fetch_certificate("denied"); } catch (err) { print(err.code); }
print(ca.stop_serving());
"#);

    run.assert_success();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "false",
            "0",
            "already_exists",
            "rejected",
            "unknown requester",
            "0",
            "0",
            "not_found",
            "true"
        ],
        "{}",
        run.stderr
    );
}

#[test]
fn encrypted_client_key_needs_password_to_fetch() {
    let run = run(r#"
let ca = instance(ARGS[0] + "/ca");
let client = instance(ARGS[0] + "/client");
ca.configure_server(#{ root: "KEYCA", directory: "keyca", subject: #{ cn: "Key CA" } });
let server = ca.serve(#{ listen: "127.0.0.1:0" });
client.configure_client(#{ host: server.host, port: server.port, contact: #{ name: "Ada" } });
let request = client.submit(#{ root: "locked", subject: #{ cn: "locked.example.org" }, password: "test-only-key" });
ca.issue(request.id);
client.fetch_ca_certificate();
try { client.fetch_certificate("locked"); } catch (err) { print(err.code); }
print(client.fetch_certificate("locked", #{ password: "test-only-key" }).number);
"#);

    run.assert_success();
    assert_eq!(run.stdout, "password_required\n2\n", "{}", run.stderr);
}

#[test]
fn submit_again_after_failure_reuses_key() {
    let run = run(r#"
let ca = instance(ARGS[0] + "/ca");
let client = instance(ARGS[0] + "/client");
ca.configure_server(#{ root: "RETRYCA", directory: "retryca", subject: #{ cn: "Retry CA" } });
let server = ca.serve(#{ listen: "127.0.0.1:0" });
client.configure_client(#{ host: server.host, port: server.port, contact: #{ name: "Ada Operator" } });
ca.stop_serving();
try { client.submit(#{ root: "web", subject: #{ cn: "web.example.org" }, unencrypted: true }); } catch (err) { print(err.code); }
let server = ca.serve(#{ listen: "127.0.0.1:0" });
client.configure_client(#{ host: server.host, port: server.port, contact: #{ name: "Ada Operator" } });
try { client.submit(#{ root: "web", subject: #{ cn: "web.example.org" }, unencrypted: true }); } catch (err) { print(err.code); print(err.message); }
print(client.submit(#{ root: "web", subject: #{ cn: "web.example.org" }, reuse_key: true, unencrypted: true }).state);
"#);

    // The first submit made the key and then failed to reach the stopped
    // server; the second finds the key and says how to use it.
    run.assert_success();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], "server", "{}", run.stdout);
    assert_eq!(lines[1], "already_exists", "{}", run.stdout);
    assert!(lines[2].contains("reuse_key: true"), "{}", lines[2]);
    assert!(lines[2].contains("another root"), "{}", lines[2]);
    assert_eq!(lines[3], "pending", "{}", run.stdout);
}
