//! The CA server's API over HTTPS from the shell: the fingerprint check of
//! the first CA download, the client-certificate mode, and `certa serve` on
//! an HTTPS instance.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use rexpect::session::spawn_command;

use common::{certa, Run, ServerProcess, TEST_CA_PASSWORD};

/// The password of the HTTPS key in the tests that encrypt it. Not a real secret.
const TEST_HTTPS_KEY_PASSWORD: &str = "test-only-https-password";

/// A CA "HTTPS CA" with an HTTPS certificate for 127.0.0.1, serving HTTPS,
/// and a client alice configured for it that has not fetched the CA
/// certificate yet. `setup.sha256` is the CA certificate's fingerprint.
const HTTPS_CA: &str = r#"
let ca = instance(ARGS[0] + "/ca");
let setup = ca.configure_server(#{ root: "HCA", directory: "hca", subject: #{ cn: "HTTPS CA" } });
ca.configure_https(#{ names: ["127.0.0.1"], unencrypted_key: true });
let server = ca.serve(#{ listen: "127.0.0.1:0" });
let alice = instance(ARGS[0] + "/alice");
alice.configure_client(#{ host: server.host, port: server.port, https: true, contact: #{ name: "alice" } });
"#;

/// Runs `prelude` and then `body` in `directory`, given as `ARGS[0]`.
fn run_in(directory: &Path, prelude: &str, body: &str) -> Run {
    run_in_with_env(directory, prelude, body, &[])
}

/// Runs the script as [`run_in`] does, with the environment variables
/// `variables` set.
fn run_in_with_env(directory: &Path, prelude: &str, body: &str, variables: &[(&str, &str)]) -> Run {
    let script = directory.join("test.rhai");
    std::fs::write(&script, format!("{prelude}\n{body}")).unwrap();
    Run::of(
        certa()
            .arg("run")
            .arg(&script)
            .arg(directory)
            .env("CERTA_CA_PASSWORD", TEST_CA_PASSWORD)
            .envs(variables.iter().copied()),
    )
}

/// Returns the standard output's lines, after checking that the script succeeded.
fn lines(run: &Run) -> Vec<String> {
    run.assert_success();
    run.stdout.lines().map(str::to_owned).collect()
}

#[test]
fn serve_uses_https_after_configure() {
    let directory = tempfile::tempdir().unwrap();
    let run = run_in(
        directory.path(),
        HTTPS_CA,
        r#"
print(server.url.starts_with("https://"));
let fetched = alice.fetch_ca_certificate(#{ fingerprint: setup.sha256 });
print(fetched.sha256 == setup.sha256);
print(alice.fetch_ca_certificate().sha256 == setup.sha256);
"#,
    );

    assert_eq!(lines(&run), ["true", "true", "true"]);
}

#[test]
fn fetch_ca_without_fingerprint_fails() {
    let directory = tempfile::tempdir().unwrap();
    let run = run_in(
        directory.path(),
        HTTPS_CA,
        r#"
try { alice.fetch_ca_certificate(); } catch (err) { print(err.code); print(err.message); }
"#,
    );

    let lines = lines(&run);
    assert_eq!(lines[0], "fingerprint_required", "{}", run.stdout);
    assert!(lines[1].contains("#{fingerprint:"), "{}", lines[1]);
}

#[test]
fn wrong_fingerprint_saves_nothing() {
    let directory = tempfile::tempdir().unwrap();
    let wrong = ["AB"; 32].join(":");
    let body = format!(
        r#"
try {{ alice.fetch_ca_certificate(#{{ fingerprint: "{wrong}" }}); }} catch (err) {{ print(err.code); print(err.message); }}
print(ca.pending().len());
"#
    );
    let run = run_in(directory.path(), HTTPS_CA, &body);

    let lines = lines(&run);
    assert_eq!(lines[0], "invalid_certificate", "{}", run.stdout);
    assert!(lines[1].contains(&wrong), "{}", lines[1]);
    assert_eq!(lines[2], "0", "{}", run.stdout);
    let saved = directory.path().join("alice/client/HCA.cer");
    assert!(!saved.exists(), "{} was saved", saved.display());
}

#[test]
fn client_certificate_mode_needs_certificate() {
    let directory = tempfile::tempdir().unwrap();
    let run = run_in(
        directory.path(),
        HTTPS_CA,
        r#"
alice.fetch_ca_certificate(#{ fingerprint: setup.sha256 });
let first = alice.submit(#{ root: "alice", subject: #{ cn: "alice.example.org" }, unencrypted: true });
ca.issue(first.id);
alice.fetch_certificate("alice");

ca.stop_serving();
let strict = ca.serve(#{ listen: "127.0.0.1:0", require_client_certificates: true });
alice.configure_client(#{ host: strict.host, port: strict.port, https: true, contact: #{ name: "alice" } });
let second = alice.submit(#{ root: "alice2", subject: #{ cn: "alice.example.org" }, unencrypted: true });
ca.issue(second.id);
try { alice.list_certificates(); } catch (err) { print(err.code); print(err.message); }
try { alice.fetch_certificate("alice2"); } catch (err) { print(err.code); }
print(alice.list_certificates(#{ client_certificate: "alice" }).len());
print(alice.fetch_certificate("alice2", #{ client_certificate: "alice" }).number);
"#,
    );

    // The shell reports the server's refusal with the HTTP API's error code
    // and names the option that presents a certificate.
    let lines = lines(&run);
    assert_eq!(lines[0], "client_certificate_required", "{}", run.stdout);
    assert!(lines[1].contains("403 Forbidden"), "{}", lines[1]);
    assert!(
        lines[1].contains(r#"client_certificate: "ROOT""#),
        "{}",
        lines[1]
    );
    assert_eq!(lines[2], "client_certificate_required", "{}", run.stdout);
    assert_eq!(lines[3], "2", "{}", run.stdout);
    assert_eq!(lines[4], "4", "{}", run.stdout);
}

#[test]
fn serve_command_needs_https_key_password() {
    let directory = tempfile::tempdir().unwrap();
    let prepared = run_in(
        directory.path(),
        "",
        &format!(
            r#"
let ca = instance(ARGS[0] + "/ca");
let setup = ca.configure_server(#{{ root: "HCA", directory: "hca", subject: #{{ cn: "HTTPS CA" }} }});
ca.configure_https(#{{ names: ["127.0.0.1"], key_password: "{TEST_HTTPS_KEY_PASSWORD}" }});
print(setup.sha256);
"#
        ),
    );
    let fingerprint = lines(&prepared)[0].clone();
    let instance = directory.path().join("ca");

    let refused = Run::of(
        certa()
            .arg("serve")
            .arg("--instance")
            .arg(&instance)
            .args(["--listen", "127.0.0.1:0"]),
    );
    let server = ServerProcess::start_with_env(
        &instance,
        &[("CERTA_HTTPS_KEY_PASSWORD", TEST_HTTPS_KEY_PASSWORD)],
    );
    let client = run_in(
        directory.path(),
        "",
        &format!(
            r#"
let alice = instance(ARGS[0] + "/alice");
alice.configure_client(#{{ host: "127.0.0.1", port: {}, https: true, contact: #{{ name: "alice" }} }});
print(alice.fetch_ca_certificate(#{{ fingerprint: "{fingerprint}" }}).subject);
"#,
            server.port
        ),
    );
    drop(server);

    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("CERTA_HTTPS_KEY_PASSWORD"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("at a terminal"),
        "{}",
        refused.stderr
    );
    // certa serve has no password_env option to suggest.
    assert!(
        !refused.stderr.contains("password_env"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("(code password_required)"),
        "{}",
        refused.stderr
    );
    assert!(
        !refused.stderr.contains(TEST_HTTPS_KEY_PASSWORD),
        "the password was printed"
    );
    assert_eq!(lines(&client), ["CN=HTTPS CA"]);
}

#[test]
fn repl_asks_to_confirm_fingerprint() {
    let directory = tempfile::tempdir().unwrap();
    let prepared = run_in(
        directory.path(),
        "",
        r#"
let ca = instance(ARGS[0] + "/ca");
let setup = ca.configure_server(#{ root: "HCA", directory: "hca", subject: #{ cn: "HTTPS CA" } });
ca.configure_https(#{ names: ["127.0.0.1"], unencrypted_key: true });
print(setup.sha256);
"#,
    );
    let fingerprint = lines(&prepared)[0].clone();
    let server = ServerProcess::start(&directory.path().join("ca"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_certa"));
    command
        .arg("--instance")
        .arg(directory.path().join("alice"))
        .env("HOME", directory.path())
        .env("TERM", "xterm")
        .env_remove("CERTA_KEY_PASSWORD")
        .env_remove("RUST_LOG");
    let mut session = spawn_command(command, Some(60_000)).unwrap();
    let configure = format!(
        "configure_client(#{{host: \"127.0.0.1\", port: {}, https: true, contact: #{{name: \"Ada\"}}}})",
        server.port
    );

    session.exp_string("certa> ").unwrap();
    session.send_line(&configure).unwrap();
    session.exp_string("certa> ").unwrap();

    // "n" rejects the certificate: nothing is saved.
    session.send_line("fetch_ca_certificate()").unwrap();
    session.exp_string(&fingerprint).unwrap();
    session.exp_string("[y/N] ").unwrap();
    session.send_line("n").unwrap();
    session.exp_string("(code invalid_certificate)").unwrap();
    session.exp_string("certa> ").unwrap();
    let saved = directory.path().join("alice/client/HCA.cer");
    assert!(!saved.exists(), "{} was saved after no", saved.display());

    // "y" accepts it.
    session.send_line("fetch_ca_certificate().subject").unwrap();
    session.exp_string("[y/N] ").unwrap();
    session.send_line("y").unwrap();
    session.exp_string("CN=HTTPS CA").unwrap();
    session.exp_string("certa> ").unwrap();
    session.send_line("exit").unwrap();
    drop(server);

    assert!(
        saved.exists(),
        "{} was not saved after yes",
        saved.display()
    );
}

#[test]
fn serve_command_asks_https_key_password() {
    let directory = tempfile::tempdir().unwrap();
    let prepared = run_in(
        directory.path(),
        "",
        &format!(
            r#"
let ca = instance(ARGS[0] + "/ca");
ca.configure_server(#{{ root: "HCA", directory: "hca", subject: #{{ cn: "HTTPS CA" }} }});
ca.configure_https(#{{ names: ["127.0.0.1"], key_password: "{TEST_HTTPS_KEY_PASSWORD}" }});
"#
        ),
    );
    prepared.assert_success();
    let mut command = Command::new(env!("CARGO_BIN_EXE_certa"));
    command
        .arg("serve")
        .arg("--instance")
        .arg(directory.path().join("ca"))
        .args(["--listen", "127.0.0.1:0"])
        .env("TERM", "xterm")
        .env_remove("CERTA_HTTPS_KEY_PASSWORD")
        .env_remove("RUST_LOG");
    let mut session = spawn_command(command, Some(60_000)).unwrap();

    session
        .exp_string("HTTPS key password for certa serve: ")
        .unwrap();
    session.send_line(TEST_HTTPS_KEY_PASSWORD).unwrap();
    let before = session
        .exp_string("listening on https://127.0.0.1:")
        .unwrap();
    session
        .process_mut()
        .kill(rexpect::process::Signal::SIGTERM)
        .unwrap();

    assert!(
        !before.contains(TEST_HTTPS_KEY_PASSWORD),
        "the password was echoed: {before}"
    );
}

/// A client alice of the HTTPS CA with two certificates, "alice" and
/// "alice2", whose keys are encrypted with two different passwords, and a
/// server `strict` that requires client certificates.
const TWO_ENCRYPTED_KEYS: &str = r#"
alice.fetch_ca_certificate(#{ fingerprint: setup.sha256 });
let first = alice.submit(#{ root: "alice", subject: #{ cn: "alice.example.org" }, password: "test-only-alice-1" });
ca.issue(first.id);
alice.fetch_certificate("alice", #{ password: "test-only-alice-1" });
let second = alice.submit(#{ root: "alice2", subject: #{ cn: "alice.example.org" }, password: "test-only-alice-2" });
ca.issue(second.id);
ca.stop_serving();
let strict = ca.serve(#{ listen: "127.0.0.1:0", require_client_certificates: true });
alice.configure_client(#{ host: strict.host, port: strict.port, https: true, contact: #{ name: "alice" } });
"#;

#[test]
fn client_certificate_password_options() {
    let directory = tempfile::tempdir().unwrap();
    let prelude = format!("{HTTPS_CA}{TWO_ENCRYPTED_KEYS}");
    let run = run_in_with_env(
        directory.path(),
        &prelude,
        r#"
try {
    alice.fetch_certificate("alice2", #{ client_certificate: "alice", password: "test-only-alice-2" });
} catch (err) { print(err.code); print(err.message); }
print(alice.fetch_certificate("alice2", #{
    client_certificate: "alice",
    client_certificate_password: "test-only-alice-1",
    password: "test-only-alice-2",
}).number);
print(alice.fetch_certificate("alice2", #{
    client_certificate: "alice",
    client_certificate_password_env: "ALICE_PASSWORD",
    password: "test-only-alice-2",
}).number);
print(alice.fetch_certificate("alice", #{ client_certificate: "alice", password: "test-only-alice-1" }).number);
print(alice.list_certificates(#{ client_certificate: "alice", client_certificate_password: "test-only-alice-1" }).len());
try {
    alice.fetch_certificate("alice2", #{ client_certificate_password: "test-only-alice-1" });
} catch (err) { print(err.code); }
"#,
        &[("ALICE_PASSWORD", "test-only-alice-1")],
    );

    // Without its own option, the presented key's password is missing; the
    // error names that key and the option that gives its password.
    let lines = lines(&run);
    assert_eq!(lines[0], "password_required", "{}", run.stdout);
    assert!(lines[1].contains("key password of alice"), "{}", lines[1]);
    assert!(
        lines[1].contains("client_certificate_password_env"),
        "{}",
        lines[1]
    );
    assert_eq!(lines[2], "4", "{}", run.stdout);
    assert_eq!(lines[3], "4", "{}", run.stdout);
    // The same root's key: one password serves both.
    assert_eq!(lines[4], "3", "{}", run.stdout);
    assert_eq!(lines[5], "2", "{}", run.stdout);
    assert_eq!(lines[6], "invalid_input", "{}", run.stdout);
    assert!(
        !run.stdout.contains("test-only-alice"),
        "a password was printed"
    );
}

#[test]
fn repl_names_key_in_password_prompts() {
    let directory = tempfile::tempdir().unwrap();
    let prepared = run_in(
        directory.path(),
        &format!("{HTTPS_CA}{TWO_ENCRYPTED_KEYS}"),
        "",
    );
    prepared.assert_success();
    // The script's server stopped with it, so the REPL talks to certa serve.
    let server = ServerProcess::start(&directory.path().join("ca"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_certa"));
    command
        .arg("--instance")
        .arg(directory.path().join("alice"))
        .env("HOME", directory.path())
        .env("TERM", "xterm")
        .env_remove("CERTA_KEY_PASSWORD")
        .env_remove("RUST_LOG");
    let mut session = spawn_command(command, Some(60_000)).unwrap();
    let configure = format!(
        "configure_client(#{{host: \"127.0.0.1\", port: {}, https: true, contact: #{{name: \"alice\"}}}})",
        server.port
    );

    session.exp_string("certa> ").unwrap();
    session.send_line(&configure).unwrap();
    session.exp_string("certa> ").unwrap();
    session
        .send_line(
            "print(\"number \" + fetch_certificate(\"alice2\", #{client_certificate: \"alice\"}).number)",
        )
        .unwrap();
    session
        .exp_string("key password of alice for fetch_certificate: ")
        .unwrap();
    session.send_line("test-only-alice-1").unwrap();
    session
        .exp_string("key password of alice2 for fetch_certificate: ")
        .unwrap();
    session.send_line("test-only-alice-2").unwrap();
    let output = session.exp_string("certa> ").unwrap();
    session.send_line("exit").unwrap();
    drop(server);

    assert!(output.contains("number 4"), "{output}");
    assert!(!output.contains("test-only-alice"), "a password was echoed");
}

#[test]
fn require_client_certificate_alias() {
    let directory = tempfile::tempdir().unwrap();
    let run = run_in(
        directory.path(),
        "",
        r#"
let ca = instance(ARGS[0] + "/ca");
ca.configure_server(#{ root: "HCA", directory: "hca", subject: #{ cn: "HTTPS CA" } });
print(ca.configure_https(#{ names: ["127.0.0.1"], unencrypted_key: true, require_client_certificate: true }).client_certificates);
let again = ca.configure_https(#{ names: ["127.0.0.1"], unencrypted_key: true, require_client_certificates: false });
print(again.client_certificates);
print(again.replaced.contains(".replaced-"));
print(again.replaced_key.contains("HCA-https.key.replaced-"));
try {
    ca.serve(#{ listen: "127.0.0.1:0", require_client_certificates: true, require_client_certificate: true });
} catch (err) { print(err.code); print(err.message); }
"#,
    );

    let lines = lines(&run);
    assert!(lines[0].starts_with("required"), "{}", run.stdout);
    assert_eq!(lines[1], "not required", "{}", run.stdout);
    assert_eq!(lines[2], "true", "{}", run.stdout);
    assert_eq!(lines[3], "true", "{}", run.stdout);
    assert_eq!(lines[4], "invalid_input", "{}", run.stdout);
    assert!(
        lines[5].contains("give only require_client_certificates"),
        "{}",
        lines[5]
    );
}
