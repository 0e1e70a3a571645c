//! The CA server: set-up, CSR review and issuance, and the files of a CA directory.
//!
//! A CA directory, named by the file name root (`FLCA`), holds:
//!
//! | path | contents |
//! |---|---|
//! | `FLCA.cer` | the CA certificate, PEM |
//! | `FLCA.key` | the CA private key, encrypted (file key store only) |
//! | `FLCA-chain.pem` | the outside CA's chain, for an intermediate CA only |
//! | `FLCA.srl` | the next certificate number, hexadecimal, as OpenSSL's serial file |
//! | `requests/` | each received CSR and its metadata |
//! | `certs/` | each issued certificate, by number |
//! | `index.txt` | one line per issued certificate, in OpenSSL `ca` database format |
//! | `audit.log` | one JSON line per event |
//! | `https/` | the server's own TLS certificate and key, for HTTPS |

pub mod audit;
pub mod builder;
pub mod https;
pub mod index;
pub mod profile;
pub mod requests;
pub mod serial;
pub mod server;
pub mod setup;

use std::path::{Path, PathBuf};

/// The paths of a CA directory's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaPaths {
    /// The CA directory (the instance directory joined with the configured directory).
    pub directory: PathBuf,
    /// The file name root.
    pub root: String,
}

impl CaPaths {
    /// The paths of the CA `root` in `directory`.
    pub fn new(directory: impl Into<PathBuf>, root: impl Into<String>) -> Self {
        CaPaths {
            directory: directory.into(),
            root: root.into(),
        }
    }

    fn file(&self, suffix: &str) -> PathBuf {
        self.directory.join(format!("{}{suffix}", self.root))
    }

    /// `ROOT.cer`: the CA certificate.
    pub fn certificate(&self) -> PathBuf {
        self.file(".cer")
    }

    /// `ROOT.key`: the CA private key in the file key store.
    pub fn key(&self) -> PathBuf {
        self.file(".key")
    }

    /// `ROOT-chain.pem`: the certificates above an intermediate CA, issuer first.
    pub fn chain(&self) -> PathBuf {
        self.file("-chain.pem")
    }

    /// `ROOT.srl`: the serial file.
    pub fn serial(&self) -> PathBuf {
        self.file(".srl")
    }

    /// `requests/`: received CSRs and their metadata.
    pub fn requests(&self) -> PathBuf {
        self.directory.join("requests")
    }

    /// `certs/`: issued certificates.
    pub fn certs(&self) -> PathBuf {
        self.directory.join("certs")
    }

    /// `index.txt`: the OpenSSL `ca` database.
    pub fn index(&self) -> PathBuf {
        self.directory.join("index.txt")
    }

    /// `audit.log`: one JSON line per event.
    pub fn audit_log(&self) -> PathBuf {
        self.directory.join("audit.log")
    }

    /// The CA directory.
    pub fn directory(&self) -> &Path {
        &self.directory
    }
}
