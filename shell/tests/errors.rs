//! Script failures: each prints one line with the error's code and the
//! script position, and `certa run` exits non-zero.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::{certa, redactions, Run};

/// A CA on 127.0.0.1 with one pending request, as the start of several error scripts.
const CA_WITH_PENDING_REQUEST: &str = r#"
let ca = instance(ARGS[0] + "/ca");
let client = instance(ARGS[0] + "/client");
ca.configure_server(#{ root: "ERRCA", directory: "errca", subject: #{ cn: "Error CA" }, password: "test-only-right" });
let server = ca.serve(#{ listen: "127.0.0.1:0" });
client.configure_client(#{ host: server.host, port: server.port, contact: #{ name: "Eve Tester" } });
let request = client.submit(#{ root: "errclient", subject: #{ cn: "err.example.org" }, unencrypted: true });
"#;

/// Writes `body` as `name` in `directory` and runs it with the directory as `ARGS[0]`.
fn run_script(directory: &Path, name: &str, body: &str) -> Run {
    let script = directory.join(name);
    std::fs::write(&script, body).unwrap();
    Run::of(certa().arg("run").arg(&script).arg(directory))
}

/// Checks the one-line error and returns the redacted transcript.
fn assert_one_line_error(run: &Run, directory: &Path, name: &str, code: &str) -> String {
    assert_eq!(run.code, 1, "exit code\n{}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "one line on standard error:\n{}",
        run.stderr
    );
    assert!(lines[0].starts_with("error: "), "{}", lines[0]);
    assert!(
        lines[0].contains(&format!("(code {code}) at ")),
        "{}",
        lines[0]
    );
    let position = format!("{}:", directory.join(name).display());
    assert!(lines[0].contains(&position), "{}", lines[0]);
    run.transcript(directory)
}

#[test]
fn wrong_ca_password() {
    let directory = tempfile::tempdir().unwrap();
    let body = format!(
        "{CA_WITH_PENDING_REQUEST}\nca.issue(request.id, #{{ password: \"test-only-wrong\" }});\n"
    );
    let run = run_script(directory.path(), "wrong-password.rhai", &body);
    let transcript = assert_one_line_error(
        &run,
        directory.path(),
        "wrong-password.rhai",
        "wrong_password",
    );
    assert!(!transcript.contains("test-only-wrong"), "{transcript}");
    insta::with_settings!({ filters => redactions() }, {
        insta::assert_snapshot!(transcript);
    });
}

#[test]
fn unknown_request_id() {
    let directory = tempfile::tempdir().unwrap();
    let body = format!("{CA_WITH_PENDING_REQUEST}\nca.show_request(\"0123456789abcdef\");\n");
    let run = run_script(directory.path(), "unknown-request.rhai", &body);
    let transcript =
        assert_one_line_error(&run, directory.path(), "unknown-request.rhai", "not_found");
    insta::with_settings!({ filters => redactions() }, {
        insta::assert_snapshot!(transcript);
    });
}

#[test]
fn server_down() {
    let directory = tempfile::tempdir().unwrap();
    let body =
        format!("{CA_WITH_PENDING_REQUEST}\nca.stop_serving();\nclient.fetch_ca_certificate();\n");
    let run = run_script(directory.path(), "server-down.rhai", &body);
    let transcript = assert_one_line_error(&run, directory.path(), "server-down.rhai", "server");
    insta::with_settings!({ filters => redactions() }, {
        insta::assert_snapshot!(transcript);
    });
}

#[test]
fn missing_password_names_variable() {
    let directory = tempfile::tempdir().unwrap();
    let body = r#"
let ca = instance(ARGS[0] + "/ca");
ca.configure_server(#{ root: "NOPW", directory: "nopw", subject: #{ cn: "No Password CA" } });
"#;
    let run = run_script(directory.path(), "missing-password.rhai", body);
    let transcript = assert_one_line_error(
        &run,
        directory.path(),
        "missing-password.rhai",
        "password_required",
    );
    assert!(transcript.contains("CERTA_CA_PASSWORD"), "{transcript}");
    insta::with_settings!({ filters => redactions() }, {
        insta::assert_snapshot!(transcript);
    });
}

#[test]
fn error_caught_by_script() {
    let directory = tempfile::tempdir().unwrap();
    let body = r#"
let ca = instance(ARGS[0] + "/ca");
try {
    ca.pending();
} catch (err) {
    print(`code: ${err.code}`);
    print(`message: ${err.message}`);
}
"#;
    let run = run_script(directory.path(), "caught.rhai", body);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::with_settings!({ filters => redactions() }, {
        insta::assert_snapshot!(run.transcript(directory.path()));
    });
}

#[test]
fn syntax_error_has_position() {
    let directory = tempfile::tempdir().unwrap();
    let run = run_script(directory.path(), "syntax.rhai", "let x = 1;\nlet y = ;\n");
    let transcript = assert_one_line_error(&run, directory.path(), "syntax.rhai", "script");
    assert!(transcript.contains("syntax.rhai:2:"), "{transcript}");
    insta::with_settings!({ filters => redactions() }, {
        insta::assert_snapshot!(transcript);
    });
}

#[test]
fn unknown_option_lists_known_ones() {
    let directory = tempfile::tempdir().unwrap();
    let body = r#"
let client = instance(ARGS[0] + "/client");
client.configure_client(#{ host: "127.0.0.1", prot: 8443, contact: #{ name: "Ada" } });
"#;
    let run = run_script(directory.path(), "typo.rhai", body);
    let transcript = assert_one_line_error(&run, directory.path(), "typo.rhai", "invalid_input");
    insta::with_settings!({ filters => redactions() }, {
        insta::assert_snapshot!(transcript);
    });
}

#[test]
fn issue_unknown_id_before_password() {
    let directory = tempfile::tempdir().unwrap();
    // No password anywhere: a call that asked for one first would fail with password_required.
    let body = format!("{CA_WITH_PENDING_REQUEST}\nca.issue(\"0123456789abcdef\");\n");
    let run = run_script(directory.path(), "issue-unknown.rhai", &body);
    let transcript =
        assert_one_line_error(&run, directory.path(), "issue-unknown.rhai", "not_found");
    assert!(
        transcript.contains("request not found: 0123456789abcdef"),
        "{transcript}"
    );
    assert!(!transcript.contains("CERTA_CA_PASSWORD"), "{transcript}");
}

#[test]
fn issue_rejected_request_before_password() {
    let directory = tempfile::tempdir().unwrap();
    let body = format!(
        "{CA_WITH_PENDING_REQUEST}\nca.reject(request.id, \"wrong team\");\nca.issue(request.id);\n"
    );
    let run = run_script(directory.path(), "issue-rejected.rhai", &body);
    let transcript = assert_one_line_error(
        &run,
        directory.path(),
        "issue-rejected.rhai",
        "invalid_input",
    );
    assert!(
        transcript.contains("the request is rejected, not pending: it was rejected (wrong team)"),
        "{transcript}"
    );
    assert!(!transcript.contains("CERTA_CA_PASSWORD"), "{transcript}");
}
