//! The interactive shell, driven through a pseudo-terminal as a person would type.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use rexpect::session::{spawn_command, PtySession};

/// The password typed at the hidden prompt; it must never reach the terminal or the history.
const TYPED_PASSWORD: &str = "typed-hidden-Secret-1234";
/// A password written as a literal in a line; the line must stay out of the history.
const LITERAL_PASSWORD: &str = "literal-Secret-5678";

fn start_repl(home: &std::path::Path, instance: &std::path::Path) -> PtySession {
    let mut command = Command::new(env!("CARGO_BIN_EXE_certa"));
    command
        .arg("--instance")
        .arg(instance)
        .env("HOME", home)
        .env("TERM", "xterm")
        .env_remove("CERTA_CA_PASSWORD")
        .env_remove("CERTA_KEY_PASSWORD")
        .env_remove("RUST_LOG");
    spawn_command(command, Some(60_000)).unwrap()
}

#[test]
fn repl_completes_prompts_and_keeps_history() {
    let home = tempfile::tempdir().unwrap();
    let instance = home.path().join("instance");
    let mut session = start_repl(home.path(), &instance);
    let mut seen = String::new();

    seen += &session.exp_string("certa> ").unwrap();

    // A function name: "verify_ch" has one completion.
    session.send("verify_ch").unwrap();
    session.send("\t").unwrap();
    session.flush().unwrap();
    seen += &session.exp_string("verify_chain").unwrap();
    // Ctrl-C drops the line without running it.
    session.send_control('c').unwrap();
    seen += &session.exp_string("certa> ").unwrap();

    // An instance method after a dot.
    session
        .send_line("let other = instance(\"second\");")
        .unwrap();
    seen += &session.exp_string("certa> ").unwrap();
    session.send("other.pend").unwrap();
    session.send("\t").unwrap();
    session.flush().unwrap();
    seen += &session.exp_string("other.pending").unwrap();
    session.send_control('c').unwrap();
    seen += &session.exp_string("certa> ").unwrap();

    // A call without a password asks for it twice, without echo.
    session
        .send_line(
            "configure_server(#{root: \"FLCA\", directory: \"flca\", subject: #{cn: \"First Look CA\"}})",
        )
        .unwrap();
    seen += &session
        .exp_string("CA key password for configure_server: ")
        .unwrap();
    session.send_line(TYPED_PASSWORD).unwrap();
    seen += &session.exp_string("CA key password again: ").unwrap();
    session.send_line(TYPED_PASSWORD).unwrap();
    seen += &session.exp_string("CN=First Look CA").unwrap();
    seen += &session.exp_string("certa> ").unwrap();
    session.send_line("pending()").unwrap();
    seen += &session.exp_string("(none)").unwrap();
    seen += &session.exp_string("certa> ").unwrap();

    // A statement left open continues on the next line.
    session.send_line("let total = [1, 2,").unwrap();
    session.send_line("3].len();").unwrap();
    seen += &session.exp_string("certa> ").unwrap();
    session.send_line("total").unwrap();
    seen += &session.exp_string("3").unwrap();
    seen += &session.exp_string("certa> ").unwrap();

    // A line with a password literal runs but is not kept.
    session
        .send_line(&format!(
            "let options = #{{password: \"{LITERAL_PASSWORD}\"}};"
        ))
        .unwrap();
    seen += &session.exp_string("certa> ").unwrap();

    session.send_line("help").unwrap();
    seen += &session.exp_string("verify_chain").unwrap();
    seen += &session.exp_string("certa> ").unwrap();

    // Ctrl-D leaves.
    session.send_control('d').unwrap();
    seen += &session.exp_eof().unwrap();

    assert!(
        !seen.contains(TYPED_PASSWORD),
        "the typed password was echoed:\n{seen}"
    );
    let key = instance.join("flca").join("FLCA.key");
    let opened = certa_test_support::openssl([
        "pkey".as_ref(),
        "-in".as_ref(),
        key.as_os_str(),
        "-passin".as_ref(),
        format!("pass:{TYPED_PASSWORD}").as_ref(),
        "-noout".as_ref(),
    ]);
    assert!(
        opened.success,
        "the typed password opens the CA key: {}",
        opened.stderr
    );

    let history = std::fs::read_to_string(home.path().join(".certa_history")).unwrap();
    assert!(history.contains("let total = [1, 2,"), "{history}");
    assert!(history.contains("help"), "{history}");
    assert!(!history.contains(TYPED_PASSWORD), "{history}");
    assert!(!history.contains(LITERAL_PASSWORD), "{history}");
}

#[test]
fn ctrl_c_at_password_prompt_cancels_call() {
    let home = tempfile::tempdir().unwrap();
    let instance = home.path().join("instance");
    let mut session = start_repl(home.path(), &instance);
    let configure =
        "configure_server(#{root: \"CCCA\", directory: \"ccca\", subject: #{cn: \"Cancel CA\"}})";

    session.exp_string("certa> ").unwrap();

    // Ctrl-C at the first prompt: the call fails with a report, the shell goes on.
    session.send_line(configure).unwrap();
    session
        .exp_string("CA key password for configure_server: ")
        .unwrap();
    session.send_control('c').unwrap();
    session
        .exp_string("configure_server: CA key password entry cancelled (code cancelled)")
        .unwrap();
    session.exp_string("certa> ").unwrap();
    session.send_line("1 + 1").unwrap();
    session.exp_regex(r"\n2\r\n").unwrap();
    session.exp_string("certa> ").unwrap();

    // Ctrl-C at the second prompt raises an error that a script can catch.
    session
        .send_line(&format!(
            "try {{ {configure} }} catch (err) {{ print(`caught ${{err.code}}`) }}"
        ))
        .unwrap();
    session
        .exp_string("CA key password for configure_server: ")
        .unwrap();
    session.send_line(TYPED_PASSWORD).unwrap();
    session.exp_string("CA key password again: ").unwrap();
    session.send_control('c').unwrap();
    session.exp_string("caught cancelled").unwrap();
    session.exp_string("certa> ").unwrap();
    session.send_line("let answer = 6 * 7;").unwrap();
    session.exp_string("certa> ").unwrap();

    // A killed session keeps the lines entered so far, in a file only the user can read.
    session
        .process_mut()
        .kill(rexpect::process::Signal::SIGKILL)
        .unwrap();
    let path = home.path().join(".certa_history");
    let history = std::fs::read_to_string(&path).unwrap();
    assert!(history.contains("1 + 1"), "{history}");
    assert!(history.contains("let answer = 6 * 7;"), "{history}");
    assert!(!history.contains(TYPED_PASSWORD), "{history}");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "history file mode {mode:o}");
    assert!(
        !instance.join("ccca").join("CCCA.key").exists(),
        "a cancelled configure_server created the CA key"
    );
}
