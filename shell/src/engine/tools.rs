//! Shell functions that belong to no role: help, instances, directories,
//! environment variables, output and chain verification.

use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use der::{Decode, DecodePem, Encode};
use rhai::{Dynamic, Engine, Map};
use x509_cert::ext::pkix::BasicConstraints;
use x509_cert::Certificate;

use super::errors::{core_error, script_error, ScriptResult};
use super::instance::Instance;
use super::Shell;
use crate::help;
use crate::output::format_value;

/// Registers the shell's own functions.
pub fn register(engine: &mut Engine, shell: &Arc<Shell>) {
    engine.register_fn("help", || -> ScriptResult<()> {
        println!("{}", help::overview());
        Ok(())
    });
    engine.register_fn("help", |name: &str| -> ScriptResult<()> {
        let Some(entry) = help::find(name) else {
            return Err(script_error(
                "not_found",
                format!("no function named {name:?}; help() lists them all"),
            ));
        };
        println!("{}", help::describe(entry));
        Ok(())
    });

    let opener = Arc::clone(shell);
    engine.register_fn("instance", move |directory: &str| {
        opener.instances().open(Path::new(directory))
    });
    let current = Arc::clone(shell);
    engine.register_fn("instance_dir", move || -> ScriptResult<String> {
        Ok(path_string(current.default_instance()?.directory()))
    });
    engine.register_fn("instance_dir", |instance: &mut Instance| {
        path_string(instance.directory())
    });

    engine.register_fn("temp_dir", || temp_dir(None));
    engine.register_fn("temp_dir", |parent: &str| temp_dir(Some(Path::new(parent))));

    engine.register_fn("env", |name: &str| match std::env::var(name) {
        Ok(value) => Dynamic::from(value),
        Err(_) => Dynamic::UNIT,
    });

    engine.register_fn("show", |value: Dynamic| {
        let text = format_value(&value);
        if !text.is_empty() {
            println!("{text}");
        }
    });

    engine.register_fn("verify_chain", |ca: &str, certificate: &str| {
        verify_chain(Path::new(ca), Path::new(certificate))
    });
}

/// Shows a path as a string for scripts.
pub fn path_string(path: &Path) -> String {
    path.display().to_string()
}

/// Creates a new directory that outlives the shell, in `parent` or the system's temporary directory.
fn temp_dir(parent: Option<&Path>) -> ScriptResult<String> {
    let builder = {
        let mut builder = tempfile::Builder::new();
        builder.prefix("certa-");
        builder
    };
    let created = match parent {
        Some(parent) => {
            certa_core::fsutil::create_directory(parent).map_err(core_error)?;
            builder.tempdir_in(parent)
        }
        None => builder.tempdir(),
    };
    let directory = created.map_err(|e| {
        let place = parent.map_or_else(std::env::temp_dir, Path::to_path_buf);
        core_error(certa_core::Error::io(
            "create a temporary directory in",
            place,
            e,
        ))
    })?;
    Ok(path_string(&directory.keep()))
}

/// Checks that `certificate_path` is signed by the CA certificate at `ca_path`
/// and that both are valid now.
fn verify_chain(ca_path: &Path, certificate_path: &Path) -> ScriptResult<Map> {
    let ca = read_certificate(ca_path, "CA certificate")?;
    let certificate = read_certificate(certificate_path, "certificate")?;

    let subject = one_line(&certificate.tbs_certificate.subject);
    let issuer = one_line(&certificate.tbs_certificate.issuer);
    let problems = chain_problems(&ca, &certificate);

    tracing::debug!(ca = %ca_path.display(), certificate = %certificate_path.display(), ?problems, "verified a chain");
    let mut result = Map::new();
    result.insert("valid".into(), Dynamic::from(problems.is_empty()));
    result.insert("subject".into(), Dynamic::from(subject));
    result.insert("issuer".into(), Dynamic::from(issuer));
    result.insert("ca_certificate".into(), Dynamic::from(path_string(ca_path)));
    result.insert(
        "certificate".into(),
        Dynamic::from(path_string(certificate_path)),
    );
    let reason = if problems.is_empty() {
        "signature, issuer name and validity periods check out".to_owned()
    } else {
        problems.join("; ")
    };
    result.insert("reason".into(), Dynamic::from(reason));
    Ok(result)
}

/// Formats a name as the rest of certa shows names: OpenSSL's one-line
/// form, most general part first (`O=Example, CN=web.example.org`).
fn one_line(name: &x509_cert::name::Name) -> String {
    let parts: Vec<String> = name.0.iter().map(|rdn| rdn.to_string()).collect();
    parts.join(", ")
}

fn read_certificate(path: &Path, what: &str) -> ScriptResult<Certificate> {
    let bytes =
        std::fs::read(path).map_err(|e| core_error(certa_core::Error::io("read", path, e)))?;
    let parsed = match std::str::from_utf8(&bytes) {
        Ok(text) if text.contains("-----BEGIN") => Certificate::from_pem(text.as_bytes()),
        _ => Certificate::from_der(&bytes),
    };
    parsed.map_err(|e| {
        core_error(certa_core::Error::InvalidCertificate {
            what: format!("{what} {}", path.display()),
            reason: "not a PEM or DER X.509 certificate".to_owned(),
            source: Some(Box::new(e)),
        })
    })
}

/// Lists what is wrong with the chain from `ca` to `certificate`; empty when it is valid.
fn chain_problems(ca: &Certificate, certificate: &Certificate) -> Vec<String> {
    let mut problems = Vec::new();

    if certificate.tbs_certificate.issuer != ca.tbs_certificate.subject {
        problems.push(format!(
            "the certificate's issuer {} is not the CA's subject {}",
            one_line(&certificate.tbs_certificate.issuer),
            one_line(&ca.tbs_certificate.subject)
        ));
    }

    if !is_ca(ca) {
        problems.push("the CA certificate has no basicConstraints with cA true".to_owned());
    }

    if let Some(problem) = signature_problem(ca, certificate) {
        problems.push(problem);
    }

    for (what, cert) in [("CA certificate", ca), ("certificate", certificate)] {
        if let Some(problem) = validity_problem(cert) {
            problems.push(format!("the {what} {problem}"));
        }
    }
    problems
}

fn is_ca(certificate: &Certificate) -> bool {
    let Some(extensions) = &certificate.tbs_certificate.extensions else {
        return false;
    };
    extensions
        .iter()
        .filter(|extension| extension.extn_id == const_oid::db::rfc5280::ID_CE_BASIC_CONSTRAINTS)
        .filter_map(|extension| BasicConstraints::from_der(extension.extn_value.as_bytes()).ok())
        .any(|constraints| constraints.ca)
}

fn signature_problem(ca: &Certificate, certificate: &Certificate) -> Option<String> {
    let ca_key = match ca.tbs_certificate.subject_public_key_info.to_der() {
        Ok(der) => der,
        Err(e) => return Some(format!("the CA's public key cannot be encoded: {e}")),
    };
    let signed = match certificate.tbs_certificate.to_der() {
        Ok(der) => der,
        Err(e) => return Some(format!("the certificate cannot be encoded: {e}")),
    };
    let Some(signature) = certificate.signature.as_bytes() else {
        return Some("the certificate's signature is not a whole number of bytes".to_owned());
    };
    certa_core::key::verify::verify_signature(
        &ca_key,
        &certificate.signature_algorithm,
        &signed,
        signature,
    )
    .err()
    .map(|e| format!("the signature does not verify with the CA's key: {e}"))
}

fn validity_problem(certificate: &Certificate) -> Option<String> {
    let validity = &certificate.tbs_certificate.validity;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    if now < validity.not_before.to_unix_duration() {
        return Some(format!("is not valid before {}", validity.not_before));
    }
    if now > validity.not_after.to_unix_duration() {
        return Some(format!("expired at {}", validity.not_after));
    }
    None
}
