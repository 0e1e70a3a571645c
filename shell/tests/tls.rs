//! Mutual TLS between clients in the cases `scripts/tls-exchange.rhai` does
//! not reach: each refusal of a handshake, time-outs, closed connections and
//! a connection to a port where nothing listens.

#![allow(clippy::unwrap_used)]

mod common;

use common::{certa, init_softhsm_token, softhsm_module, Run, TEST_CA_PASSWORD};

/// A CA "One CA" on 127.0.0.1 and two clients, alice and bob, each with a
/// certificate for NAME.example.org; alice listens, accepting bob only.
const TWO_CLIENTS: &str = r#"
fn enrol(ca, server, client, name) {
    client.configure_client(#{ host: server.host, port: server.port, contact: #{ name: name } });
    client.fetch_ca_certificate();
    let request = client.submit(#{
        root: name,
        subject: #{ cn: name + ".example.org" },
        sans: [name + ".example.org"],
        unencrypted: true,
    });
    ca.issue(request.id, #{ usage: "tls" });
    client.fetch_certificate(name);
}
let ca = instance(ARGS[0] + "/ca");
ca.configure_server(#{ root: "ONECA", directory: "oneca", subject: #{ cn: "One CA" } });
let server = ca.serve(#{ listen: "127.0.0.1:0" });
let alice = instance(ARGS[0] + "/alice");
let bob = instance(ARGS[0] + "/bob");
enrol(ca, server, alice, "alice");
enrol(ca, server, bob, "bob");
let listener = alice.tls_listen(#{ root: "alice", peer_name: "bob.example.org" });
"#;

/// Runs `TWO_CLIENTS` and then `body`, with a fresh directory as `ARGS[0]`.
fn run(body: &str) -> Run {
    let directory = tempfile::tempdir().unwrap();
    let script = directory.path().join("test.rhai");
    std::fs::write(&script, format!("{TWO_CLIENTS}\n{body}")).unwrap();
    Run::of(
        certa()
            .arg("run")
            .arg(&script)
            .arg(directory.path())
            .env("CERTA_CA_PASSWORD", TEST_CA_PASSWORD),
    )
}

/// Returns the standard output's lines, after checking that the script succeeded.
fn lines(run: &Run) -> Vec<String> {
    run.assert_success();
    run.stdout.lines().map(str::to_owned).collect()
}

#[test]
fn exchange_both_ways() {
    let run = run(r#"
let to_alice = bob.tls_connect(#{ root: "bob", host: listener.host, port: listener.port, server_name: "alice.example.org" });
let to_bob = listener.accept(10);
to_alice.send("ping");
print(to_bob.receive(5));
to_bob.send("pong");
print(to_alice.receive(5));
print(to_alice.peer().subject);
print(to_bob.peer().subject);
print(to_bob.peer().subject_alt_names);
"#);

    let lines = lines(&run);
    assert_eq!(lines[0], "ping", "{}", run.stdout);
    assert_eq!(lines[1], "pong", "{}", run.stdout);
    assert_eq!(lines[2], "CN=alice.example.org", "{}", run.stdout);
    assert_eq!(lines[3], "CN=bob.example.org", "{}", run.stdout);
    assert!(lines[4].contains("bob.example.org"), "{}", run.stdout);
}

#[test]
fn accept_rejects_unexpected_name() {
    let run = run(r#"
let carol = instance(ARGS[0] + "/carol");
enrol(ca, server, carol, "carol");
try {
    carol.tls_connect(#{ root: "carol", host: listener.host, port: listener.port, server_name: "alice.example.org" });
} catch (err) { print(err.code); }
try { listener.accept(10); } catch (err) { print(err.code); print(err.message); }
"#);

    let lines = lines(&run);
    assert_eq!(lines[0], "tls_rejected_by_peer", "{}", run.stdout);
    assert_eq!(lines[1], "tls_name_mismatch", "{}", run.stdout);
    assert!(lines[2].contains("bob.example.org"), "{}", lines[2]);
    assert!(lines[2].contains("carol.example.org"), "{}", lines[2]);
}

#[test]
fn accept_rejects_missing_certificate() {
    let run = run(r#"
try {
    bob.tls_connect(#{ host: listener.host, port: listener.port, server_name: "alice.example.org" });
} catch (err) { print(err.code); }
try { listener.accept(10); } catch (err) { print(err.code); }
"#);

    let lines = lines(&run);
    assert_eq!(lines[0], "tls_rejected_by_peer", "{}", run.stdout);
    assert_eq!(lines[1], "tls_no_certificate", "{}", run.stdout);
}

#[test]
fn accept_rejects_other_ca() {
    // Eve's certificate comes from Two CA, but she trusts One CA, so she
    // accepts alice and alice rejects her.
    let run = run(r#"
let other = instance(ARGS[0] + "/other");
other.configure_server(#{ root: "TWOCA", directory: "twoca", subject: #{ cn: "Two CA" } });
let other_server = other.serve(#{ listen: "127.0.0.1:0" });
let eve = instance(ARGS[0] + "/eve");
enrol(other, other_server, eve, "eve");
eve.configure_client(#{ host: server.host, port: server.port, contact: #{ name: "eve" } });
eve.fetch_ca_certificate();
try {
    eve.tls_connect(#{ root: "eve", host: listener.host, port: listener.port, server_name: "alice.example.org" });
} catch (err) { print(err.code); }
try { listener.accept(10); } catch (err) { print(err.code); print(err.message); }
"#);

    let lines = lines(&run);
    assert_eq!(lines[0], "tls_rejected_by_peer", "{}", run.stdout);
    assert_eq!(lines[1], "tls_untrusted_issuer", "{}", run.stdout);
    assert!(
        lines[2].contains("not issued by a trusted CA"),
        "{}",
        lines[2]
    );
}

#[test]
fn accept_reports_peer_refusal() {
    // Bob expects a name alice's certificate does not carry: he refuses,
    // and alice's accept reports his alert.
    let run = run(r#"
try {
    bob.tls_connect(#{ root: "bob", host: listener.host, port: listener.port, server_name: "billing.example.org" });
} catch (err) { print(err.code); print(err.message); }
try { listener.accept(10); } catch (err) { print(err.code); }
"#);

    let lines = lines(&run);
    assert_eq!(lines[0], "tls_name_mismatch", "{}", run.stdout);
    assert!(lines[1].contains("billing.example.org"), "{}", lines[1]);
    assert_eq!(lines[2], "tls_rejected_by_peer", "{}", run.stdout);
}

#[test]
fn accept_times_out() {
    let run = run(r#"
try { listener.accept(1); } catch (err) { print(err.code); }
"#);

    assert_eq!(lines(&run), ["tls_timed_out"]);
}

#[test]
fn receive_times_out() {
    let run = run(r#"
let to_alice = bob.tls_connect(#{ root: "bob", host: listener.host, port: listener.port, server_name: "alice.example.org" });
let to_bob = listener.accept(10);
try { to_bob.receive(1); } catch (err) { print(err.code); }
to_alice.send("late");
print(to_bob.receive(5));
"#);

    assert_eq!(lines(&run), ["tls_timed_out", "late"]);
}

#[test]
fn receive_after_close_is_unit() {
    let run = run(r#"
let to_alice = bob.tls_connect(#{ root: "bob", host: listener.host, port: listener.port, server_name: "alice.example.org" });
let to_bob = listener.accept(10);
print(to_alice.close());
print(to_bob.receive(5) == ());
print(to_alice.close());
try { to_alice.send("after close"); } catch (err) { print(err.code); }
"#);

    assert_eq!(lines(&run), ["true", "true", "false", "closed"]);
}

#[test]
fn connect_to_nothing_listening() {
    let run = run(r#"
let port = listener.port;
print(listener.stop_listening());
print(listener.stop_listening());
try { listener.accept(1); } catch (err) { print(err.code); }
try {
    bob.tls_connect(#{ root: "bob", host: "127.0.0.1", port: port, server_name: "alice.example.org" });
} catch (err) { print(err.code); print(err.message); }
"#);

    let lines = lines(&run);
    assert_eq!(lines[0], "true", "{}", run.stdout);
    assert_eq!(lines[1], "false", "{}", run.stdout);
    assert_eq!(lines[2], "closed", "{}", run.stdout);
    assert_eq!(lines[3], "tls", "{}", run.stdout);
    assert!(lines[4].contains("127.0.0.1"), "{}", lines[4]);
}

#[test]
fn listen_without_certificate_names_fix() {
    let run = run(r#"
let carol = instance(ARGS[0] + "/carol");
carol.configure_client(#{ host: server.host, port: server.port, contact: #{ name: "carol" } });
carol.fetch_ca_certificate();
try { carol.tls_listen(#{ root: "carol" }); } catch (err) { print(err.code); print(err.message); }
"#);

    let lines = lines(&run);
    assert_eq!(lines[0], "not_found", "{}", run.stdout);
    assert!(lines[1].contains("fetch_certificate"), "{}", lines[1]);
}

#[test]
fn token_key_signs_handshakes() {
    const LABEL: &str = "certa-tls";
    const PIN: &str = "test-only-2468";
    let tokens = tempfile::tempdir().unwrap();
    let config = init_softhsm_token(tokens.path(), LABEL, PIN);
    let key = format!(
        "pkcs11:token={LABEL};object=carol?module-path={}&pin-source=env:CERTA_TOKEN_PIN",
        softhsm_module().display()
    );
    let directory = tempfile::tempdir().unwrap();
    let script = directory.path().join("test.rhai");
    let body = r#"
let carol = instance(ARGS[0] + "/carol");
carol.configure_client(#{ host: server.host, port: server.port, contact: #{ name: "carol" } });
carol.fetch_ca_certificate();
let request = carol.submit(#{
    root: "carol",
    subject: #{ cn: "carol.example.org" },
    sans: ["carol.example.org"],
    key: ARGS[1],
});
print(request.key.starts_with("pkcs11:"));
ca.issue(request.id, #{ usage: "tls" });
carol.fetch_certificate("carol");

let on_token = carol.tls_listen(#{ root: "carol" });
let to_carol = bob.tls_connect(#{ root: "bob", host: on_token.host, port: on_token.port, server_name: "carol.example.org" });
let to_bob = on_token.accept(10);
to_bob.send("signed on the token");
print(to_carol.receive(5));
print(to_carol.peer().subject);

let from_token = carol.tls_connect(#{ root: "carol", host: on_token.host, port: on_token.port, server_name: "carol.example.org" });
let accepted = on_token.accept(10);
print(accepted.peer().subject);
"#;
    std::fs::write(&script, format!("{TWO_CLIENTS}\n{body}")).unwrap();

    let run = Run::of(
        certa()
            .arg("run")
            .arg(&script)
            .arg(directory.path())
            .arg(&key)
            .env("CERTA_CA_PASSWORD", TEST_CA_PASSWORD)
            .env("SOFTHSM2_CONF", &config)
            .env("CERTA_TOKEN_PIN", PIN),
    );

    let lines = lines(&run);
    assert_eq!(lines[0], "true", "{}", run.stdout);
    assert_eq!(lines[1], "signed on the token", "{}", run.stdout);
    assert_eq!(lines[2], "CN=carol.example.org", "{}", run.stdout);
    assert_eq!(lines[3], "CN=carol.example.org", "{}", run.stdout);
    assert!(!run.stdout.contains(PIN), "the PIN was printed");
}

#[test]
fn token_pin_from_option() {
    const LABEL: &str = "certa-pin";
    const PIN: &str = "test-only-3579";
    let tokens = tempfile::tempdir().unwrap();
    let config = init_softhsm_token(tokens.path(), LABEL, PIN);
    let key = format!(
        "pkcs11:token={LABEL};object=dave?module-path={}",
        softhsm_module().display()
    );
    let directory = tempfile::tempdir().unwrap();
    let script = directory.path().join("test.rhai");
    let body = r#"
let dave = instance(ARGS[0] + "/dave");
dave.configure_client(#{ host: server.host, port: server.port, contact: #{ name: "dave" } });
dave.fetch_ca_certificate();
try {
    dave.submit(#{ root: "dave", subject: #{ cn: "dave.example.org" }, key: ARGS[1] });
} catch (err) { print(err.code); }
let request = dave.submit(#{
    root: "dave",
    subject: #{ cn: "dave.example.org" },
    sans: ["dave.example.org"],
    key: ARGS[1],
    pin_env: "DAVE_TOKEN_PIN",
});
ca.issue(request.id, #{ usage: "tls" });
try { dave.fetch_certificate("dave"); } catch (err) { print(err.code); }
dave.fetch_certificate("dave", #{ pin_env: "DAVE_TOKEN_PIN" });
let on_token = dave.tls_listen(#{ root: "dave", pin_env: "DAVE_TOKEN_PIN" });
let to_dave = bob.tls_connect(#{ root: "bob", host: on_token.host, port: on_token.port, server_name: "dave.example.org" });
print(to_dave.peer().subject);
"#;
    std::fs::write(&script, format!("{TWO_CLIENTS}\n{body}")).unwrap();

    let run = Run::of(
        certa()
            .arg("run")
            .arg(&script)
            .arg(directory.path())
            .arg(&key)
            .env("CERTA_CA_PASSWORD", TEST_CA_PASSWORD)
            .env("SOFTHSM2_CONF", &config)
            .env("DAVE_TOKEN_PIN", PIN),
    );

    let lines = lines(&run);
    assert_eq!(lines[0], "password_required", "{}", run.stdout);
    assert_eq!(lines[1], "password_required", "{}", run.stdout);
    assert_eq!(lines[2], "CN=dave.example.org", "{}", run.stdout);
    assert!(!run.stdout.contains(PIN), "the PIN was printed");
}

#[test]
fn optional_certificate_lets_anonymous_in() {
    let run = run(r#"
let open_listener = alice.tls_listen(#{ root: "alice", require_client_certificates: false });
let to_alice = bob.tls_connect(#{ host: open_listener.host, port: open_listener.port, server_name: "alice.example.org" });
let anonymous = open_listener.accept(10);
to_alice.send("hello without a certificate");
print(anonymous.receive(5));
print(anonymous.peer() == ());
print(to_alice.peer().subject);
"#);

    let lines = lines(&run);
    assert_eq!(lines[0], "hello without a certificate", "{}", run.stdout);
    assert_eq!(lines[1], "true", "{}", run.stdout);
    assert_eq!(lines[2], "CN=alice.example.org", "{}", run.stdout);
}

#[test]
fn accept_loop_skips_queued_failure() {
    // The loop of help("accept"): the refused attempt comes out first, and
    // accepting again reaches the good connection behind it.
    let run = run(r#"
try {
    bob.tls_connect(#{ host: listener.host, port: listener.port, server_name: "alice.example.org" });
} catch (err) { print(err.code); }
let to_alice = bob.tls_connect(#{ root: "bob", host: listener.host, port: listener.port, server_name: "alice.example.org" });
let connection = ();
while connection == () {
    try { connection = listener.accept(10); }
    catch (err) {
        if err.code == "tls_timed_out" { throw err; }
        print("refused: " + err.code);
    }
}
print(connection.peer().subject);
"#);

    let lines = lines(&run);
    assert_eq!(lines[0], "tls_rejected_by_peer", "{}", run.stdout);
    assert_eq!(lines[1], "refused: tls_no_certificate", "{}", run.stdout);
    assert_eq!(lines[2], "CN=bob.example.org", "{}", run.stdout);
}
