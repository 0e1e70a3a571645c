//! The error type of `certa-core`.

use std::path::PathBuf;

/// A boxed error kept as the cause of an [`Error`].
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The result type of `certa-core`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in certa's workflows.
///
/// Messages are lowercase, name the operation and the object, and say what to
/// do next where that is not obvious. No variant carries a password, a PIN or
/// private key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file system operation failed.
    #[error("failed to {action} {}: {source}", path.display())]
    Io {
        /// What was being done, as a verb phrase ("write", "create directory").
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// A key URI could not be parsed.
    #[error(transparent)]
    InvalidKeyUri(#[from] crate::key::KeyUriError),

    /// The password or PIN does not unlock the key.
    #[error("wrong password or PIN for key {key}; check it and try again")]
    WrongPassword {
        /// The key, as a URI without any PIN value.
        key: String,
    },

    /// A feature, algorithm or backend that this build or this object does not offer.
    #[error("unsupported: {what}")]
    Unsupported {
        /// What is not supported, with the value that asked for it.
        what: String,
    },

    /// An object that was looked up does not exist.
    #[error("{kind} not found: {name}")]
    NotFound {
        /// The kind of object ("request", "certificate", "key").
        kind: &'static str,
        /// Its name, number or path.
        name: String,
    },

    /// An object that was to be created already exists.
    #[error("{kind} already exists: {name}; {hint}")]
    AlreadyExists {
        /// The kind of object ("CA", "key", "request").
        kind: &'static str,
        /// Its name or path.
        name: String,
        /// What the operator can do about it.
        hint: &'static str,
    },

    /// An input value (a name, a setting, an argument) is invalid.
    #[error("invalid {what}: {reason}")]
    InvalidInput {
        /// What was invalid, with its name ("common name", "validity").
        what: String,
        /// Why, naming the value where it is no secret.
        reason: String,
    },

    /// A certificate signing request was rejected.
    #[error("invalid CSR: {reason}")]
    InvalidCsr {
        /// The kind of rejection, for matching in code.
        kind: crate::csr::CsrErrorKind,
        /// Why the CSR was rejected, naming the value involved.
        reason: String,
        /// The parser's or verifier's error, if any.
        #[source]
        source: Option<Cause>,
    },

    /// A certificate is unusable for what it was given for.
    #[error("invalid certificate {what}: {reason}")]
    InvalidCertificate {
        /// Which certificate ("CA certificate flca/FLCA.cer").
        what: String,
        /// Why.
        reason: String,
        /// The parser's or verifier's error, if any.
        #[source]
        source: Option<Cause>,
    },

    /// A signature could not be verified.
    #[error(transparent)]
    Signature(#[from] crate::key::verify::SignatureError),

    /// A cryptographic operation failed.
    #[error("{operation} failed: {source}")]
    Crypto {
        /// The operation ("signing the CA certificate", "generating an RSA-4096 key").
        operation: String,
        /// The library's error.
        #[source]
        source: Cause,
    },

    /// A key store (a backend) reported an error.
    #[error("key store error while {operation}: {source}")]
    KeyStore {
        /// What the key store was doing.
        operation: String,
        /// The backend's error.
        #[source]
        source: Cause,
    },

    /// The pending queue has reached its configured limit.
    #[error("the CA server's queue of pending requests is full ({limit} requests); try again after the operator has processed some")]
    QueueFull {
        /// The configured limit.
        limit: usize,
    },

    /// The CA server could not be reached, or answered with an error.
    #[error("request to CA server {address} failed: {reason}")]
    Server {
        /// The server's address as configured (`host:port`).
        address: String,
        /// What went wrong: the connection error, a time-out, or the server's error code and message.
        reason: String,
        /// The HTTP client's error, if any.
        #[source]
        source: Option<Cause>,
    },

    /// The HTTP server could not start or run.
    #[error("HTTP server failed to {operation}: {source}; {hint}")]
    HttpServer {
        /// What the server was doing ("listen on 127.0.0.1:8443").
        operation: String,
        /// What the operator can do about it.
        hint: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// A TLS connection could not be set up, or failed.
    #[error("TLS {operation} failed: {reason}")]
    Tls {
        /// The operation, with the peer ("handshake with 127.0.0.1:4433").
        operation: String,
        /// The failed check or step, for matching in code.
        failure: crate::tls::TlsFailure,
        /// Why, in words, with what to do next.
        reason: String,
        /// rustls' or the operating system's error, if any.
        #[source]
        source: Option<Cause>,
    },

    /// An instance's settings file could not be read or written.
    #[error("invalid settings in {}: {source}", path.display())]
    Settings {
        /// The settings file.
        path: PathBuf,
        /// The YAML error.
        #[source]
        source: serde_yaml::Error,
    },
}

impl Error {
    /// Returns a short, stable code for the error, as used by the HTTP API and
    /// by scripts (`"not_found"`, `"wrong_password"`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            Error::Io { .. } => "io",
            Error::InvalidKeyUri(_) => "invalid_key_uri",
            Error::WrongPassword { .. } => "wrong_password",
            Error::Unsupported { .. } => "unsupported",
            Error::NotFound { .. } => "not_found",
            Error::AlreadyExists { .. } => "already_exists",
            Error::InvalidInput { .. } => "invalid_input",
            Error::InvalidCsr { .. } => "invalid_csr",
            Error::Signature(error) => error.code(),
            Error::InvalidCertificate { .. } => "invalid_certificate",
            Error::Crypto { .. } => "crypto",
            Error::KeyStore { .. } => "key_store",
            Error::QueueFull { .. } => "queue_full",
            Error::Server { .. } => "server",
            Error::HttpServer { .. } => "http_server",
            Error::Tls { failure, .. } => failure.code(),
            Error::Settings { .. } => "invalid_settings",
        }
    }

    /// Builds an [`Error::Io`] for `action` on `path`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// Builds an [`Error::InvalidInput`].
    pub fn invalid_input(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            what: what.into(),
            reason: reason.into(),
        }
    }

    /// Builds an [`Error::InvalidCsr`] of kind
    /// [`CsrErrorKind::Other`](crate::csr::CsrErrorKind::Other) without a cause.
    pub fn invalid_csr(reason: impl Into<String>) -> Self {
        Error::InvalidCsr {
            kind: crate::csr::CsrErrorKind::Other,
            reason: reason.into(),
            source: None,
        }
    }

    /// Builds an [`Error::Crypto`].
    pub fn crypto(
        operation: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Crypto {
            operation: operation.into(),
            source: Box::new(source),
        }
    }
}
