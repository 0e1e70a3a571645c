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
        .env_remove("CERTA_HTTPS_KEY_PASSWORD")
        .env_remove("CERTA_TOKEN_PIN")
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

/// Finds SoftHSM 2's PKCS#11 module where Debian, Ubuntu and Fedora install it;
/// `CERTA_SOFTHSM_MODULE` overrides the search.
pub fn softhsm_module() -> PathBuf {
    if let Some(path) = std::env::var_os("CERTA_SOFTHSM_MODULE") {
        return PathBuf::from(path);
    }
    let candidates = [
        "/usr/lib/softhsm/libsofthsm2.so".to_owned(),
        format!(
            "/usr/lib/{}-linux-gnu/softhsm/libsofthsm2.so",
            std::env::consts::ARCH
        ),
        "/usr/lib64/softhsm/libsofthsm2.so".to_owned(),
        "/usr/lib64/pkcs11/libsofthsm2.so".to_owned(),
    ];
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
        .expect("SoftHSM 2 is not installed; ./test.sh installs it")
}

/// Initializes a SoftHSM token `label` with user PIN `pin` in `directory`
/// and returns the SoftHSM configuration file to set as `SOFTHSM2_CONF`.
pub fn init_softhsm_token(directory: &Path, label: &str, pin: &str) -> PathBuf {
    let config = directory.join("softhsm2.conf");
    std::fs::create_dir(directory.join("tokens")).unwrap();
    std::fs::write(
        &config,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            directory.join("tokens").display()
        ),
    )
    .unwrap();
    let initialized = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", label])
        .args(["--so-pin", "test-only-so-2468", "--pin", pin])
        .env("SOFTHSM2_CONF", &config)
        .output()
        .expect("start softhsm2-util; ./test.sh installs it");
    assert!(
        initialized.status.success(),
        "{}",
        String::from_utf8_lossy(&initialized.stderr)
    );
    config
}

/// A `certa serve` process, killed when dropped so a failing test leaves none behind.
pub struct ServerProcess {
    /// The process.
    pub child: std::process::Child,
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
    /// The rest of its standard output, kept open so that the server can still write to it.
    _stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl ServerProcess {
    /// Starts `certa serve` on the CA instance in `instance` on a free port of
    /// 127.0.0.1, and reads the port from its first line of output,
    /// `listening on http://127.0.0.1:PORT: ...` (or `https://`).
    pub fn start(instance: &Path) -> ServerProcess {
        ServerProcess::start_with_env(instance, &[])
    }

    /// Starts `certa serve` as [`ServerProcess::start`] does, with the
    /// environment variables `variables` set.
    pub fn start_with_env(instance: &Path, variables: &[(&str, &str)]) -> ServerProcess {
        use std::io::BufRead;

        let mut child = certa()
            .envs(variables.iter().copied())
            .arg("serve")
            .arg("--instance")
            .arg(instance)
            .args(["--listen", "127.0.0.1:0"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut first_line = String::new();
        stdout.read_line(&mut first_line).unwrap();
        let address = first_line
            .strip_prefix("listening on ")
            .and_then(|rest| {
                rest.strip_prefix("https://")
                    .or_else(|| rest.strip_prefix("http://"))
            })
            .and_then(|rest| rest.split_once(": "))
            .map(|(address, _)| address.to_owned())
            .unwrap_or_else(|| panic!("unexpected first line: {first_line:?}"));
        let port = address.rsplit_once(':').unwrap().1.parse().unwrap();
        ServerProcess {
            child,
            port,
            _stdout: stdout,
        }
    }

    /// Submits the PEM CSR `csr` as `POST /v1/requests` and returns the HTTP
    /// status line and body.
    pub fn submit_csr(&self, name: &str, csr: &str) -> (String, String) {
        use std::io::{Read, Write};

        let body = serde_json::json!({
            "name": name,
            "csr": csr,
            "contact": { "name": "Test Operator" },
        })
        .to_string();
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            stream,
            "POST /v1/requests HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        let status = head.lines().next().unwrap_or_default().to_owned();
        (status, body.to_owned())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
