//! Running the real `certa` binary and redacting its output for snapshots.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The CA password the tests give through the environment. Not a real secret.
pub const TEST_CA_PASSWORD: &str = "test-only-ca-password";

/// Returns the repository's root, which contains `scripts/`.
pub fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Builds a `certa` command with a clean environment for secrets and logs, run in
/// the repository's root so that script paths in errors read `scripts/...`.
pub fn certa() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_certa"));
    command
        .current_dir(repository_root())
        .env_remove("CERTA_CA_PASSWORD")
        .env_remove("CERTA_KEY_PASSWORD")
        .env_remove("CERTA_IMPORT_PASSWORD")
        .env_remove("CERTA_INSTANCE")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1");
    command
}

/// The outcome of a run, as a snapshot shows it.
pub struct Run {
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// The exit code.
    pub code: i32,
}

impl Run {
    /// Runs `command` and collects its output.
    pub fn of(command: &mut Command) -> Run {
        let output: Output = command.output().expect("start the certa binary");
        Run {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            code: output.status.code().unwrap_or(-1),
        }
    }

    /// Formats the run for a snapshot, with `temporary` shown as `[TMP]`.
    pub fn transcript(&self, temporary: &Path) -> String {
        let text = format!(
            "exit code: {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        let canonical = temporary.canonicalize().unwrap_or(temporary.to_path_buf());
        text.replace(&canonical.display().to_string(), "[TMP]")
            .replace(&temporary.display().to_string(), "[TMP]")
    }

    /// Fails with the whole output unless the run succeeded.
    pub fn assert_success(&self) {
        assert_eq!(
            self.code, 0,
            "certa failed\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
    }
}

/// Regular expressions and replacements for what changes from run to run:
/// fingerprints, times, ports, request ids and temporary names.
pub fn redactions() -> Vec<(&'static str, &'static str)> {
    vec![
        (r"([0-9A-F]{2}:){31}[0-9A-F]{2}", "[SHA256]"),
        (r"([0-9A-F]{2}:){19}[0-9A-F]{2}", "[SHA1]"),
        (
            r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})",
            "[TIME]",
        ),
        (r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]"),
        (r"(?m)^(\s*port:\s+)\d+", "${1}[PORT]"),
        (r"\b[0-9a-f]{16}\b", "[REQUEST-ID]"),
        (r"certa-[A-Za-z0-9]{6}", "certa-[RANDOM]"),
    ]
}
