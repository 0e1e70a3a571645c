//! An instance's settings, kept as YAML in `certa.yaml` in the instance directory.
//!
//! An instance directory holds one certa instance: a CA server, a CA client,
//! or both. `config/` in the repository has commented examples.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fsutil::{write_atomic, Replace};
use crate::{Error, Result};

/// The settings file's name inside an instance directory.
pub const SETTINGS_FILE: &str = "certa.yaml";

/// Everything an instance remembers between runs. No secret is ever stored here.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The CA server role, once set up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerSettings>,
    /// The CA client role, once configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<ClientSettings>,
}

/// The CA server role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// The file name root of the CA's files (`FLCA` gives `FLCA.cer`, `FLCA.key`, `FLCA.srl`).
    pub root: String,
    /// The CA directory, relative to the instance directory.
    pub directory: PathBuf,
    /// The CA private key: `file:PATH` (relative to the instance directory) or a `pkcs11:` URI without a PIN value.
    pub key: String,
    /// The address `certa serve` listens on when none is given.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The most pending requests kept; past it, submissions are rejected.
    #[serde(default = "default_max_pending")]
    pub max_pending_requests: usize,
    /// The validity of issued certificates, in days, when the operator gives none.
    #[serde(default = "default_validity_days")]
    pub validity_days: u32,
    /// HTTPS for the API, once the server has issued its own TLS
    /// certificate; `None` serves plain HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https: Option<HttpsSettings>,
}

impl ServerSettings {
    /// The settings of a CA `root` in `directory` whose key is at `key` (a
    /// key URI without a PIN value), with the default address, queue limit
    /// and validity of issued certificates.
    pub fn new(
        root: impl Into<String>,
        directory: impl Into<PathBuf>,
        key: impl Into<String>,
    ) -> Self {
        ServerSettings {
            root: root.into(),
            directory: directory.into(),
            key: key.into(),
            listen: default_listen(),
            max_pending_requests: default_max_pending(),
            validity_days: default_validity_days(),
            https: None,
        }
    }
}

/// The CA client role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSettings {
    /// The CA server's host name or address.
    pub host: String,
    /// The CA server's port.
    pub port: u16,
    /// The technical contact sent with each CSR.
    pub contact: Contact,
    /// The directory for the client's keys, CSRs and certificates, relative to the instance directory.
    #[serde(default = "default_client_directory")]
    pub directory: PathBuf,
    /// Requests this client has submitted, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<SubmittedRequest>,
    /// The file name root of the CA certificate last fetched from the server (`FLCA` for `FLCA.cer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_root: Option<String>,
    /// Whether the server serves its API over HTTPS. The client then
    /// trusts only the CA certificate it fetched and checked.
    #[serde(default, skip_serializing_if = "is_false")]
    pub https: bool,
}

/// The HTTPS set-up of a CA server, kept under `server: https:` in
/// [`SETTINGS_FILE`]. Setting up a new CA drops it, because the server's
/// certificate was issued by the CA it replaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpsSettings {
    /// The server's TLS certificate, PEM, relative to the instance directory.
    pub certificate: PathBuf,
    /// The TLS private key: `file:PATH` (relative to the instance directory)
    /// or a `pkcs11:` URI without a PIN value.
    pub key: String,
    /// The host names and IP addresses in the certificate's subjectAltName.
    pub names: Vec<String>,
    /// Whether listing and downloading certificates require a client
    /// certificate issued by this CA. Submitting a CSR and downloading the
    /// CA certificate stay open to every client.
    #[serde(default)]
    pub require_client_certificates: bool,
}

/// The person the CA operator can call about a request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    /// Full name, required.
    pub name: String,
    /// Telephone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// E-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// A request a client has submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmittedRequest {
    /// The id the server gave the request.
    pub id: String,
    /// The file name root of the key and certificate.
    pub root: String,
    /// The SHA-1 fingerprint of the CSR.
    pub sha1_fingerprint: String,
    /// The key URI (without any PIN value) when the key is not the default
    /// file `<client dir>/<root>.key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

fn default_listen() -> String {
    "127.0.0.1:8443".to_owned()
}

fn default_max_pending() -> usize {
    10_000
}

fn default_validity_days() -> u32 {
    365
}

fn default_client_directory() -> PathBuf {
    PathBuf::from("client")
}

fn is_false(value: &bool) -> bool {
    !*value
}

impl HttpsSettings {
    /// Reads the HTTPS settings of the CA server in `instance_dir` (the
    /// `server.https` section of its settings file); `None` when the
    /// instance serves plain HTTP or is no CA server.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be read, [`Error::Settings`] when it is not valid.
    pub fn load(instance_dir: &Path) -> Result<Option<Self>> {
        let settings = Settings::load(instance_dir)?;
        Ok(settings.server.and_then(|server| server.https))
    }

    /// Stores these settings as the `server.https` section of the settings
    /// of `instance_dir`, atomically, keeping every other setting.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the instance is no CA server, and the
    /// errors of [`Settings::load`] and [`Settings::save`].
    pub fn save(&self, instance_dir: &Path) -> Result<()> {
        let mut settings = Settings::load(instance_dir)?;
        let Some(server) = settings.server.as_mut() else {
            return Err(Error::invalid_input(
                "HTTPS settings",
                format!(
                    "the instance {} is no CA server; set up the CA first",
                    instance_dir.display()
                ),
            ));
        };
        server.https = Some(self.clone());
        settings.save(instance_dir)
    }
}

impl Settings {
    /// Reads the settings of the instance in `instance_dir`; an instance with no settings file has default settings.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be read, [`Error::Settings`] when it is not valid.
    pub fn load(instance_dir: &Path) -> Result<Self> {
        let path = instance_dir.join(SETTINGS_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Settings::default()),
            Err(e) => return Err(Error::io("read", path, e)),
        };
        serde_yaml::from_str(&text).map_err(|source| Error::Settings { path, source })
    }

    /// Writes the settings to the instance in `instance_dir`, atomically.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be written.
    pub fn save(&self, instance_dir: &Path) -> Result<()> {
        let path = instance_dir.join(SETTINGS_FILE);
        let mut text = String::from("# certa instance settings; see config/ in the certa repository for a commented example.\n");
        text += &serde_yaml::to_string(self).map_err(|source| Error::Settings {
            path: path.clone(),
            source,
        })?;
        write_atomic(&path, text.as_bytes(), 0o644, Replace::Allow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let settings = Settings {
            server: None,
            client: Some(ClientSettings {
                host: "ca.example.org".to_owned(),
                port: 8443,
                contact: Contact {
                    name: "Ada Operator".to_owned(),
                    phone: Some("+49 30 1234".to_owned()),
                    email: None,
                },
                directory: default_client_directory(),
                requests: Vec::new(),
                ca_root: None,
                https: true,
            }),
        };

        settings.save(dir.path()).expect("save");
        let loaded = Settings::load(dir.path()).expect("load");

        assert_eq!(loaded, settings);
    }

    #[test]
    fn missing_settings_are_default() {
        let dir = tempfile::tempdir().expect("temporary directory");
        assert_eq!(
            Settings::load(dir.path()).expect("load"),
            Settings::default()
        );
    }

    #[test]
    fn client_without_https_loads() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let old =
            "client:\n  host: ca.example.org\n  port: 8443\n  contact:\n    name: Ada Operator\n";
        fs::write(dir.path().join(SETTINGS_FILE), old).expect("write");

        let loaded = Settings::load(dir.path()).expect("load");

        assert_eq!(loaded.client.map(|client| client.https), Some(false));
    }

    #[test]
    fn https_settings_round_trip() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let server = ServerSettings::new("FLCA", "ca", "file:ca/FLCA.key");
        Settings {
            server: Some(server.clone()),
            client: None,
        }
        .save(dir.path())
        .expect("save the server settings");
        let https = HttpsSettings {
            certificate: PathBuf::from("ca/https/FLCA-https.cer"),
            key: "file:ca/https/FLCA-https.key".to_owned(),
            names: vec!["ca.example.org".to_owned(), "127.0.0.1".to_owned()],
            require_client_certificates: true,
        };

        https.save(dir.path()).expect("save");
        let loaded = HttpsSettings::load(dir.path()).expect("load");
        let kept = Settings::load(dir.path()).expect("load").server;

        assert_eq!(loaded, Some(https.clone()));
        assert_eq!(
            kept,
            Some(ServerSettings {
                https: Some(https),
                ..server
            })
        );
    }

    #[test]
    fn https_settings_need_server() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let https = HttpsSettings {
            certificate: PathBuf::from("ca/https/FLCA-https.cer"),
            key: "file:ca/https/FLCA-https.key".to_owned(),
            names: vec!["ca.example.org".to_owned()],
            require_client_certificates: false,
        };

        let error = https.save(dir.path()).unwrap_err();

        assert_eq!(error.code(), "invalid_input");
    }

    #[test]
    fn missing_https_settings_are_none() {
        let dir = tempfile::tempdir().expect("temporary directory");
        assert_eq!(HttpsSettings::load(dir.path()).expect("load"), None);
    }

    #[test]
    fn unknown_setting_rejected() {
        let dir = tempfile::tempdir().expect("temporary directory");
        fs::write(dir.path().join(SETTINGS_FILE), "servr: {}\n").expect("write");
        let error = Settings::load(dir.path()).unwrap_err();
        assert!(error.to_string().contains("servr"), "{error}");
    }
}
