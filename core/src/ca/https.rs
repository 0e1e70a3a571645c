//! The CA server's own TLS certificate, for serving the API over HTTPS.
//!
//! The certificate goes through the same intake as every other request, so
//! it is in `requests/`, `index.txt` and `audit.log` with the source
//! `local`. Its files live in `https/` in the CA directory:
//!
//! | path | contents |
//! |---|---|
//! | `https/ROOT-https.cer` | the server's TLS certificate, PEM |
//! | `https/ROOT-https.key` | its private key, encrypted (file key store, by default) |
//!
//! Issuing again replaces both and keeps the old files as
//! `NAME.replaced-TIMESTAMP`.

use std::path::{Path, PathBuf};

use super::server::{CaServer, IssuedCertificate, Submission, Usage};
use crate::client::{build_csr, parse_subject_alt_name, SubjectAltName};
use crate::fsutil::{create_directory, write_atomic, Replace};
use crate::key::{KeyAlgorithm, KeyStore, KeyUri, SecretString, Signer};
use crate::name::SubjectName;
use crate::settings::{Contact, HttpsSettings};
use crate::{Error, Result};

/// The source recorded for a request the server makes for itself.
const LOCAL_SOURCE: &str = "local";

/// The parameters of [`CaServer::issue_https_certificate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpsCertificateRequest {
    /// The server's host names and IP addresses, as clients connect to it
    /// (`ca.example.org`, `127.0.0.1`). The first is also the common name.
    pub names: Vec<String>,
    /// The algorithm of a new key pair; ignored when `reuse_key` is set.
    pub algorithm: KeyAlgorithm,
    /// The location of the TLS key: `None` for the file
    /// `<CA directory>/https/<root>-https.key`, or a `pkcs11:` URI.
    pub key: Option<KeyUri>,
    /// Whether to use the key pair already at `key` instead of making one,
    /// as when a certificate on a token is renewed.
    pub reuse_key: bool,
    /// The certificate's validity in days; `None` for the server's setting.
    pub validity_days: Option<u32>,
    /// Whether listing and downloading certificates will require a client
    /// certificate issued by this CA.
    pub require_client_certificates: bool,
}

impl Default for HttpsCertificateRequest {
    /// No names, a new ECDSA P-256 key in the default file, the server's
    /// validity, and no client certificates required.
    fn default() -> Self {
        HttpsCertificateRequest {
            names: Vec::new(),
            algorithm: KeyAlgorithm::EcdsaP256,
            key: None,
            reuse_key: false,
            validity_days: None,
            require_client_certificates: false,
        }
    }
}

/// The server's TLS certificate, as issued and recorded.
#[derive(Debug, Clone)]
pub struct HttpsCertificate {
    /// The settings recorded in the instance's HTTPS settings file.
    pub settings: HttpsSettings,
    /// The certificate as the CA issued it.
    pub certificate: IssuedCertificate,
    /// The saved certificate, `<CA directory>/https/<root>-https.cer`.
    pub certificate_path: PathBuf,
    /// The TLS private key, without any PIN value.
    pub key: KeyUri,
    /// The certificate this one replaced, kept as `NAME.replaced-TIMESTAMP`.
    pub replaced: Option<PathBuf>,
    /// The default key file a new key replaced, kept as `NAME.replaced-TIMESTAMP`.
    pub replaced_key: Option<PathBuf>,
}

impl CaServer {
    /// Returns the default TLS key, `file:<CA directory>/https/<root>-https.key`,
    /// relative to the instance directory.
    pub fn default_https_key(&self) -> KeyUri {
        KeyUri::file(self.https_relative_path("key"))
    }

    /// Makes the server's TLS key pair and certificate.
    ///
    /// It creates (or reuses) the key, builds a CSR for `request.names` and
    /// takes it through the normal intake with the source `local`. It then
    /// issues the certificate with the `tls-server` profile, saves it as
    /// `<root>-https.cer` and records the HTTPS settings, which
    /// [`serve_until_signal`](crate::http::serve_until_signal) reads.
    ///
    /// The CA key is unlocked with `ca_secret` first, so that a wrong
    /// password changes nothing. A certificate (and a default key file) from
    /// an earlier run is kept as `NAME.replaced-TIMESTAMP`.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidInput`] for no names, a name that is neither a DNS
    ///   name nor an IP address, or an invalid validity;
    /// - [`Error::WrongPassword`] and the key stores' other errors;
    /// - [`Error::AlreadyExists`] when a key other than the default file is
    ///   already at `request.key` and `reuse_key` is not set;
    /// - the errors of [`CaServer::submit`] and [`CaServer::issue`];
    /// - [`Error::Io`] when a file cannot be moved or written.
    pub fn issue_https_certificate(
        &self,
        request: &HttpsCertificateRequest,
        ca_key_store: &dyn KeyStore,
        ca_secret: Option<&SecretString>,
        tls_key_store: &dyn KeyStore,
        tls_secret: Option<&SecretString>,
    ) -> Result<HttpsCertificate> {
        let names: Vec<String> = request
            .names
            .iter()
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .collect();
        let alt_names = parse_names(&names)?;
        if request.validity_days == Some(0) {
            return Err(Error::invalid_input("validity", "0 days; give at least 1"));
        }
        let ca_key: KeyUri = self.settings().key.parse()?;
        let ca_signer = ca_key_store.unlock(&ca_key, ca_secret)?;

        let key = request
            .key
            .clone()
            .unwrap_or_else(|| self.default_https_key());
        create_directory(&self.paths().directory().join("https"))?;
        let staged = self.stage_key(request, &key, tls_key_store, tls_secret)?;
        let subject = SubjectName::common_name(names[0].as_str());
        let issued = self.certify_https_key(
            &subject,
            &alt_names,
            request.validity_days,
            (tls_key_store, &staged.key, tls_secret),
            ca_signer.as_ref(),
        );
        let certificate = match issued {
            Ok(certificate) => certificate,
            Err(error) => {
                staged.discard();
                return Err(error);
            }
        };

        let replaced_key = staged.commit()?;
        let certificate_path = self.https_path("cer");
        let replaced = archive_if_present(&certificate_path)?;
        write_atomic(
            &certificate_path,
            certificate.pem.as_bytes(),
            0o644,
            Replace::Allow,
        )?;

        let settings = HttpsSettings {
            certificate: self.https_relative_path("cer"),
            key: key.to_string(),
            names,
            require_client_certificates: request.require_client_certificates,
        };
        settings.save(self.instance_dir())?;
        tracing::info!(
            number = certificate.number,
            request = %certificate.request_id,
            path = %certificate_path.display(),
            names = ?settings.names,
            "issued the HTTPS server's certificate"
        );
        Ok(HttpsCertificate {
            settings,
            certificate,
            certificate_path,
            key: key.without_pin_value(),
            replaced,
            replaced_key,
        })
    }

    /// Creates the TLS key pair, or checks that the key to reuse is there.
    ///
    /// A new key for the default file is made next to an existing one and
    /// moves into place only once its certificate is issued, so that a
    /// failed run leaves the old key and certificate usable.
    fn stage_key(
        &self,
        request: &HttpsCertificateRequest,
        key: &KeyUri,
        tls_key_store: &dyn KeyStore,
        tls_secret: Option<&SecretString>,
    ) -> Result<StagedKey> {
        if request.reuse_key {
            tls_key_store.public_key(key, tls_secret)?;
            return Ok(StagedKey::direct(key.clone()));
        }

        let existing_file = self.default_key_file(key).filter(|path| path.exists());
        let staged = match existing_file {
            Some(final_path) => {
                let staging = KeyUri::file(self.https_relative_path("key.new"));
                let staging_path = self
                    .instance_dir()
                    .join(self.https_relative_path("key.new"));
                remove_stale(&staging_path)?;
                StagedKey {
                    key: staging,
                    files: Some((staging_path, final_path)),
                }
            }
            None => StagedKey::direct(key.clone()),
        };
        tls_key_store
            .create_key(&staged.key, request.algorithm, tls_secret)
            .map_err(key_exists_hint)?;
        tracing::info!(key = %staged.key, algorithm = %request.algorithm, "created the HTTPS server's key pair");
        Ok(staged)
    }

    /// Builds the CSR for the key, takes it through the intake with the
    /// source `local`, and issues it with the `tls-server` profile.
    fn certify_https_key(
        &self,
        subject: &SubjectName,
        alt_names: &[SubjectAltName],
        validity_days: Option<u32>,
        (tls_key_store, key, tls_secret): (&dyn KeyStore, &KeyUri, Option<&SecretString>),
        ca_signer: &dyn Signer,
    ) -> Result<IssuedCertificate> {
        let tls_signer = tls_key_store.unlock(key, tls_secret)?;
        let csr = build_csr(subject, alt_names, tls_signer.as_ref())?;
        let record = self.submit(Submission {
            name: format!("{}-https", self.paths().root),
            csr: csr.into_bytes(),
            contact: Contact {
                name: "operator of this CA server".to_owned(),
                phone: None,
                email: None,
            },
            source: LOCAL_SOURCE.to_owned(),
        })?;
        self.issue(&record.id, Usage::TlsServer, validity_days, ca_signer)
    }

    /// `https/<root>-https.EXTENSION` in the CA directory, relative to the instance directory.
    fn https_relative_path(&self, extension: &str) -> PathBuf {
        self.settings()
            .directory
            .join("https")
            .join(format!("{}-https.{extension}", self.paths().root))
    }

    fn https_path(&self, extension: &str) -> PathBuf {
        self.instance_dir()
            .join(self.https_relative_path(extension))
    }

    /// Returns the file of `key` when it is the default key file, which
    /// issuing again may move aside. Other key locations are never moved.
    fn default_key_file(&self, key: &KeyUri) -> Option<PathBuf> {
        if *key != self.default_https_key() {
            return None;
        }
        key.file_path(self.instance_dir())
    }
}

/// A new TLS key, and where its file moves once its certificate is issued.
struct StagedKey {
    /// The key the certificate is issued for.
    key: KeyUri,
    /// The staging file and the default key file it replaces, for a new key
    /// made next to an existing default key file.
    files: Option<(PathBuf, PathBuf)>,
}

impl StagedKey {
    fn direct(key: KeyUri) -> Self {
        StagedKey { key, files: None }
    }

    /// Keeps the replaced key file as `NAME.replaced-TIMESTAMP`, moves the
    /// new one into place, and returns where the replaced one went.
    fn commit(self) -> Result<Option<PathBuf>> {
        let Some((staging, final_path)) = self.files else {
            return Ok(None);
        };

        let replaced = archive_if_present(&final_path)?;
        std::fs::rename(&staging, &final_path)
            .map_err(|e| Error::io("move into place", &staging, e))?;
        Ok(replaced)
    }

    /// Removes a staged key file whose certificate was not issued.
    fn discard(self) {
        let Some((staging, _)) = self.files else {
            return;
        };
        if let Err(error) = std::fs::remove_file(&staging) {
            tracing::warn!(path = %staging.display(), %error, "failed to remove the unused staged HTTPS key; remove it by hand");
        }
    }
}

/// Removes a staging key file left behind by an interrupted run; no
/// certificate was issued for it.
fn remove_stale(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {
            tracing::info!(path = %path.display(), "removed a staged HTTPS key left by an interrupted run");
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path, e)),
    }
}

/// Parses the server's names: each a DNS name or an IP address.
fn parse_names(names: &[String]) -> Result<Vec<SubjectAltName>> {
    if names.is_empty() {
        return Err(Error::invalid_input(
            "HTTPS server names",
            "none was given; give the host names or IP addresses clients connect to",
        ));
    }

    names
        .iter()
        .map(|name| {
            let parsed = match name.parse::<std::net::IpAddr>() {
                Ok(address) => SubjectAltName::Ip(address),
                Err(_) => parse_subject_alt_name(&format!("DNS:{name}"))?,
            };
            Ok(parsed)
        })
        .collect()
}

/// Moves `path` aside as `NAME.replaced-TIMESTAMP` when it exists.
fn archive_if_present(path: &Path) -> Result<Option<PathBuf>> {
    if !path.exists() {
        return Ok(None);
    }

    let archive = crate::fsutil::replaced_path(path);
    std::fs::rename(path, &archive).map_err(|e| Error::io("move aside", path, e))?;
    tracing::info!(old = %path.display(), kept = %archive.display(), "kept the replaced HTTPS file");
    Ok(Some(archive))
}

/// Adds what to do to the key store's "already exists" error.
fn key_exists_hint(error: Error) -> Error {
    match error {
        Error::AlreadyExists { kind, name, .. } => Error::AlreadyExists {
            kind,
            name,
            hint:
                "set reuse_key to renew the certificate for that key, or give another key location",
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_as_dns_and_ip() {
        let names = vec!["ca.example.org".to_owned(), "127.0.0.1".to_owned()];

        let parsed = parse_names(&names).expect("names");

        assert_eq!(
            parsed,
            vec![
                SubjectAltName::Dns("ca.example.org".to_owned()),
                SubjectAltName::Ip("127.0.0.1".parse().expect("address")),
            ]
        );
    }

    #[test]
    fn empty_names_rejected() {
        let error = parse_names(&[]).expect_err("no names");
        assert_eq!(error.code(), "invalid_input");
    }

    #[test]
    fn name_with_space_rejected() {
        assert!(parse_names(&["bad name".to_owned()]).is_err());
    }

    #[test]
    fn archive_keeps_old_file() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("FLCA-https.cer");
        std::fs::write(&path, "old").expect("write");

        let archive = archive_if_present(&path).expect("archive").expect("moved");

        assert!(!path.exists());
        assert_eq!(std::fs::read_to_string(&archive).expect("read"), "old");
    }
}
