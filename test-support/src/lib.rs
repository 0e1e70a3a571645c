//! Test helpers that check certa's output with implementations we did not
//! write: OpenSSL's command line and pkilint.
//!
//! Each helper panics with the tool's full output when the tool fails, so a
//! failing test shows why. These helpers are for tests only.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

/// The result of running an external tool.
#[derive(Debug)]
pub struct ToolOutput {
    /// Whether the tool exited with status 0.
    pub success: bool,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

impl From<Output> for ToolOutput {
    fn from(output: Output) -> Self {
        ToolOutput {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// Runs `openssl` with `args` and returns its output, whatever its exit status.
///
/// # Panics
///
/// When `openssl` cannot be started (run `./test.sh`, which installs it).
pub fn openssl<I, S>(args: I) -> ToolOutput
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new("openssl")
        .args(args)
        .output()
        .expect("start openssl; ./test.sh installs it")
        .into()
}

/// Runs `openssl` with `args` and returns its standard output.
///
/// # Panics
///
/// When `openssl` fails; the message has its standard error.
pub fn openssl_ok<I, S>(args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let output = openssl(&args);
    assert!(
        output.success,
        "openssl {args:?} failed:\n{}\n{}",
        output.stdout, output.stderr
    );
    output.stdout
}

/// Checks `certificate` (PEM or DER, any file name) with `openssl verify -CAfile ca`.
///
/// # Panics
///
/// When OpenSSL does not accept the chain; the message has its output.
pub fn assert_openssl_verifies(ca: &Path, certificate: &Path) {
    let output = openssl([
        "verify".as_ref(),
        "-CAfile".as_ref(),
        ca.as_os_str(),
        certificate.as_os_str(),
    ]);
    assert!(
        output.success && output.stdout.contains(": OK"),
        "openssl verify -CAfile {} {} failed:\n{}\n{}",
        ca.display(),
        certificate.display(),
        output.stdout,
        output.stderr
    );
}

/// Runs pkilint's RFC 5280 linter on a PEM certificate and returns the
/// findings of severity ERROR or worse (empty when there are none).
///
/// # Panics
///
/// When `lint_pkix_cert` cannot be started (run `./test.sh`, which installs it).
pub fn pkilint_errors(certificate_pem: &Path) -> String {
    let output: ToolOutput = Command::new("lint_pkix_cert")
        .args(["lint", "-s", "ERROR", "--document-format", "PEM"])
        .arg(certificate_pem)
        .output()
        .expect("start lint_pkix_cert; ./test.sh installs pkilint")
        .into();
    let mut findings = output.stdout.trim().to_owned();
    if !output.success && findings.is_empty() {
        findings = format!("lint_pkix_cert failed: {}", output.stderr.trim());
    }
    findings
}

/// Checks that pkilint's RFC 5280 linter finds no error in a PEM certificate.
///
/// # Panics
///
/// When pkilint reports an error; the message lists the findings.
pub fn assert_pkilint_clean(certificate_pem: &Path) {
    let findings = pkilint_errors(certificate_pem);
    assert!(
        findings.is_empty(),
        "pkilint found errors in {}:\n{findings}",
        certificate_pem.display()
    );
}

/// Makes a P-256 CA with `openssl req -x509` in `ca_directory`, laid out as a
/// certa CA directory: `ROOT.key` (unencrypted PKCS#8), `ROOT.cer` (with
/// basicConstraints CA:TRUE and keyUsage keyCertSign, cRLSign, both
/// critical) and `ROOT.srl` holding the next number, 2. `subject` is in
/// OpenSSL's `/O=Example/CN=Name` form.
///
/// # Panics
///
/// When the directory cannot be created or OpenSSL fails.
pub fn make_openssl_ca(ca_directory: &Path, root: &str, subject: &str, days: u32) {
    std::fs::create_dir_all(ca_directory).expect("create the CA directory");
    let key = ca_directory.join(format!("{root}.key"));
    let certificate = ca_directory.join(format!("{root}.cer"));
    let days = days.to_string();
    openssl_ok([
        "req".as_ref(),
        "-x509".as_ref(),
        "-newkey".as_ref(),
        "ec".as_ref(),
        "-pkeyopt".as_ref(),
        "ec_paramgen_curve:P-256".as_ref(),
        "-nodes".as_ref(),
        "-keyout".as_ref(),
        key.as_os_str(),
        "-out".as_ref(),
        certificate.as_os_str(),
        "-subj".as_ref(),
        subject.as_ref(),
        "-days".as_ref(),
        days.as_ref(),
        "-addext".as_ref(),
        "basicConstraints=critical,CA:TRUE".as_ref(),
        "-addext".as_ref(),
        "keyUsage=critical,keyCertSign,cRLSign".as_ref(),
    ]);
    std::fs::write(ca_directory.join(format!("{root}.srl")), "02\n")
        .expect("write the serial file");
}
