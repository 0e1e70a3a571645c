//! The CA client: configure the server to talk to, submit a CSR for a new
//! key pair, and fetch the CA certificate and the client's own certificates.
//!
//! The client's files live in its directory (`client/` in the instance
//! directory by default), by file name root: `<root>.key` (the private key,
//! in the key store given to each call), `<root>.csr` and `<root>.cer`, and
//! the CA certificate as `<CA root>.cer`.
//!
//! A client talks to its server over plain HTTP or over HTTPS
//! ([`ClientInstance::configure_with`]). Over HTTPS it trusts only the CA
//! certificate it fetched, so it fetches that certificate first with
//! [`ClientInstance::fetch_ca_certificate_checked`]. That certificate comes
//! from the TLS handshake, and nothing is sent or saved until its
//! fingerprint matches the one the CA operator reads out.
//!
//! The calls that talk to the server are async. Key generation and the
//! password-based key derivation of an encrypted key run on the calling task
//! and can block it for a second. A synchronous caller such as the shell
//! drives the calls with `Runtime::block_on`:
//!
//! ```no_run
//! # fn example(runtime: &tokio::runtime::Runtime) -> certa_core::Result<()> {
//! let client = certa_core::client::ClientInstance::new("certa-instance");
//! let fetched = runtime.block_on(client.fetch_ca_certificate())?;
//! println!("saved {}, SHA-256 {}", fetched.path.display(), fetched.fingerprints.sha256);
//! # Ok(())
//! # }
//! ```

mod csr;
mod tls;
mod verify;

use std::path::{Path, PathBuf};

use crate::fingerprint::{normalize, Fingerprints};
use crate::fsutil::{create_directory, write_atomic, Replace};
use crate::http::api::{CaCertificateResponse, CertificateResponse, SubmissionBody};
use crate::http::{probe_ca_certificate, CaClient, ClientOptions};
use crate::key::{KeyAlgorithm, KeyStore, KeyUri, SecretString, Signer};
use crate::name::SubjectName;
use crate::settings::{ClientSettings, Contact, Settings, SubmittedRequest};
use crate::tls::{client_config, TlsIdentity, TrustAnchors};
use crate::{Error, Result};

pub use crate::http::OfferedCaCertificate;
pub use csr::{parse_subject_alt_name, SubjectAltName};
use verify::{certificate_der, check_issued_by, check_public_key};

/// The maximum length of a file name root.
const MAX_ROOT_LENGTH: usize = 64;

/// The CA client role of one instance.
#[derive(Debug, Clone)]
pub struct ClientInstance {
    instance_dir: PathBuf,
    options: ClientOptions,
    /// The certificate and key presented to an HTTPS server that requests one.
    tls_identity: Option<TlsIdentity>,
}

/// How [`ClientInstance::fetch_ca_certificate_checked`] decides whether to
/// trust the CA certificate a server offers.
#[derive(Clone, Copy)]
pub enum CaCheck<'a> {
    /// Trust it when its SHA-256 fingerprint is this one (any case, with or
    /// without colons), as a script that was given the fingerprint does.
    Expected(&'a str),
    /// Ask: trust it when the callback returns `true`, as the shell does
    /// after showing the fingerprints to the operator.
    Confirm(&'a (dyn Fn(&OfferedCaCertificate) -> bool + Send + Sync)),
}

impl std::fmt::Debug for CaCheck<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CaCheck::Expected(fingerprint) => f.debug_tuple("Expected").field(fingerprint).finish(),
            CaCheck::Confirm(_) => f.write_str("Confirm(..)"),
        }
    }
}

/// The source of the key pair of a new request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyChoice {
    /// Make a new key pair; fail when a key already exists for the root, so
    /// that no private key is ever overwritten.
    #[default]
    Create,
    /// Use the key pair already stored for the root, as when a CSR is
    /// submitted again after the server rejected it.
    Reuse,
}

/// A CSR to make and submit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRequest {
    /// The file name root of the key, CSR and certificate (`FLCAclient`).
    pub root: String,
    /// The subject of the CSR.
    pub subject: SubjectName,
    /// Subject alternative names: `DNS:host`, `IP:192.0.2.1`, `email:a@b`,
    /// `URI:https://...`, or a bare DNS name.
    pub subject_alt_names: Vec<String>,
    /// The algorithm of a new key pair; ignored with [`KeyChoice::Reuse`].
    pub algorithm: KeyAlgorithm,
    /// Whether to make a key pair or use the stored one.
    pub key: KeyChoice,
    /// The location of the key pair: `None` for the file `<client dir>/<root>.key`,
    /// or another URI such as a `pkcs11:` key on a token. The URI is
    /// remembered with the request, without any PIN value.
    pub key_location: Option<KeyUri>,
}

/// A submitted request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// The request id the server gave.
    pub id: String,
    /// The SHA-1 fingerprint of the CSR (DER), to read out to the CA operator.
    pub sha1_fingerprint: String,
    /// The CSR file.
    pub csr_path: PathBuf,
    /// The private key.
    pub key: KeyUri,
}

/// A CA certificate saved by [`ClientInstance::fetch_ca_certificate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedCaCertificate {
    /// The CA's file name root.
    pub root: String,
    /// The saved certificate, `<CA root>.cer`.
    pub path: PathBuf,
    /// The saved chain above an intermediate CA, `<CA root>-chain.pem`.
    pub chain_path: Option<PathBuf>,
    /// The CA's subject, as the server describes it.
    pub subject: String,
    /// The fingerprints of the saved certificate, computed by the client, to
    /// compare with those the CA operator reads out.
    pub fingerprints: Fingerprints,
}

/// A certificate issued for one of the client's requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedCertificate {
    /// The file name root of the request.
    pub root: String,
    /// The certificate, as the server describes it.
    pub certificate: CertificateResponse,
}

/// A certificate saved by [`ClientInstance::fetch_certificate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedCertificate {
    /// The request it was issued for.
    pub request_id: String,
    /// The certificate number.
    pub number: u64,
    /// The saved certificate, `<root>.cer`.
    pub path: PathBuf,
    /// The certificate's subject.
    pub subject: String,
    /// End of validity, RFC 3339 UTC.
    pub not_after: String,
    /// The fingerprints of the saved certificate, computed by the client.
    pub fingerprints: Fingerprints,
}

impl ClientInstance {
    /// The client role of the instance in `instance_dir`, with the default time-outs.
    pub fn new(instance_dir: impl Into<PathBuf>) -> Self {
        ClientInstance {
            instance_dir: instance_dir.into(),
            options: ClientOptions::default(),
            tls_identity: None,
        }
    }

    /// Presents `identity` (the client's certificate, the CA certificate and
    /// a signer for the client's key, from either key store) when an HTTPS
    /// server requests a client certificate, as a server that requires
    /// client certificates for listing and downloading certificates does.
    pub fn with_tls_identity(mut self, identity: TlsIdentity) -> Self {
        self.tls_identity = Some(identity);
        self
    }

    /// Uses `options` for the time-outs of every call to the server.
    pub fn with_options(mut self, options: ClientOptions) -> Self {
        self.options = options;
        self
    }

    /// The instance directory.
    pub fn instance_dir(&self) -> &Path {
        &self.instance_dir
    }

    /// Saves the server's address and the technical contact in the instance's
    /// settings, for plain HTTP, and creates the client directory. Requests
    /// remembered from an earlier configuration are kept.
    ///
    /// # Errors
    ///
    /// As [`ClientInstance::configure_with`].
    pub fn configure(&self, host: &str, port: u16, contact: Contact) -> Result<ClientSettings> {
        self.configure_with(host, port, contact, false)
    }

    /// Saves the server's address, the technical contact and whether the
    /// server serves HTTPS in the instance's settings, and creates the
    /// client directory. Requests remembered from an earlier configuration
    /// are kept, and so is the fetched CA certificate.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty host, port 0, an empty contact
    /// name or an e-mail address without `@`; [`Error::Io`] and
    /// [`Error::Settings`] when the settings cannot be read or written.
    pub fn configure_with(
        &self,
        host: &str,
        port: u16,
        contact: Contact,
        https: bool,
    ) -> Result<ClientSettings> {
        crate::http::client::server_address(host, port)?;
        let host = host.trim();
        let contact = validate_contact(contact)?;

        let mut settings = Settings::load(&self.instance_dir)?;
        let client = match settings.client.take() {
            Some(mut client) => {
                client.host = host.to_owned();
                client.port = port;
                client.contact = contact;
                client.https = https;
                client
            }
            None => ClientSettings {
                host: host.to_owned(),
                port,
                contact,
                directory: PathBuf::from("client"),
                requests: Vec::new(),
                ca_root: None,
                https,
            },
        };
        create_directory(&self.instance_dir.join(&client.directory))?;
        settings.client = Some(client.clone());
        settings.save(&self.instance_dir)?;

        tracing::info!(instance = %self.instance_dir.display(), host, port, https, "configured the CA client");
        Ok(client)
    }

    /// The key URI of the private key for `root`: the location given with
    /// the newest request for `root`, else `file:<client dir>/<root>.key`,
    /// relative to the instance directory.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the client is not configured, `root` is
    /// not a valid file name root, or the remembered location is not a valid
    /// key URI.
    pub fn key_uri(&self, root: &str) -> Result<KeyUri> {
        validate_root(root)?;
        let client = self.settings()?;
        let newest = client
            .requests
            .iter()
            .rev()
            .find(|request| request.root == root);
        match newest {
            Some(request) => request_key_uri(&client, request),
            None => Ok(key_uri_in(&client, root)),
        }
    }

    /// Makes (or reuses) the key pair for `request.root`, builds and saves the
    /// CSR as `<root>.csr`, submits it with the configured contact, and
    /// remembers the request.
    ///
    /// `secret` protects a new key (and opens a reused one); `None` stores a
    /// new key unencrypted, which the file key store logs as a warning.
    ///
    /// When the server cannot be reached or rejects the CSR, the key and the
    /// CSR stay on disk: the key is the valuable part, and submitting again
    /// with [`KeyChoice::Reuse`] needs no new key.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an unconfigured client, an invalid root,
    /// subject or subject alternative name; [`Error::AlreadyExists`] when
    /// [`KeyChoice::Create`] finds a key for the root; [`Error::NotFound`] when
    /// [`KeyChoice::Reuse`] finds none; [`Error::WrongPassword`]; the key
    /// store's errors; [`Error::Server`] when the submission fails.
    pub async fn submit(
        &self,
        key_store: &dyn KeyStore,
        request: &NewRequest,
        secret: Option<&SecretString>,
    ) -> Result<Submitted> {
        let client = self.settings()?;
        validate_root(&request.root)?;
        request.subject.validate()?;
        let alt_names = request
            .subject_alt_names
            .iter()
            .map(|name| parse_subject_alt_name(name))
            .collect::<Result<Vec<_>>>()?;

        // Set up the connection before making a key, so that a client that
        // cannot talk to the server yet leaves no key behind.
        let http = self.http(&client)?;
        let key = match &request.key_location {
            Some(location) => location.clone(),
            None => key_uri_in(&client, &request.root),
        };
        if request.key == KeyChoice::Create {
            key_store.create_key(&key, request.algorithm, secret)?;
            tracing::info!(%key, algorithm = %request.algorithm, "created the client's key pair");
        }
        let signer = key_store.unlock(&key, secret)?;
        let csr = csr::build(&request.subject, &alt_names, signer.as_ref())?;

        let csr_path = self.client_file(&client, &format!("{}.csr", request.root));
        write_atomic(&csr_path, csr.pem.as_bytes(), 0o644, Replace::Allow)?;

        let body = SubmissionBody {
            name: request.root.clone(),
            csr: csr.pem,
            contact: client.contact.clone(),
        };
        let answer = http.submit(&body).await?;
        if answer.sha1_fingerprint != csr.fingerprints.sha1 {
            // The server hashed other bytes than the client sent. Log it, but
            // keep the id, because the request exists on the server.
            tracing::warn!(id = %answer.id, client = %csr.fingerprints.sha1, server = %answer.sha1_fingerprint, "the server reports another CSR fingerprint");
        }

        self.remember(SubmittedRequest {
            id: answer.id.clone(),
            root: request.root.clone(),
            sha1_fingerprint: csr.fingerprints.sha1.clone(),
            key: request.key_location.as_ref().map(KeyUri::to_string),
        })?;
        tracing::info!(id = %answer.id, root = %request.root, "submitted a CSR");
        Ok(Submitted {
            id: answer.id,
            sha1_fingerprint: csr.fingerprints.sha1,
            csr_path,
            key,
        })
    }

    /// Fetches the CA certificate, checks that the server's fingerprints match
    /// the certificate it sent, and saves it as `<CA root>.cer` in the client
    /// directory (and the chain of an intermediate CA as
    /// `<CA root>-chain.pem`). Compare the returned fingerprints with those
    /// the CA operator reads out before trusting the certificate.
    ///
    /// An HTTPS client must have fetched the CA certificate once with
    /// [`ClientInstance::fetch_ca_certificate_checked`]; later calls use the
    /// trusted connection.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an HTTPS client that trusts no CA
    /// certificate yet; [`Error::Server`] when the server cannot be reached
    /// or sends a root that is not a plain file name;
    /// [`Error::InvalidCertificate`] when the certificate cannot be read or
    /// its fingerprints differ from the server's; [`Error::Io`] when it
    /// cannot be saved.
    pub async fn fetch_ca_certificate(&self) -> Result<FetchedCaCertificate> {
        let client = self.settings()?;
        let http = self.http(&client)?;
        let answer = http.ca_certificate().await?;

        self.save_ca_certificate(&client, &http, answer)
    }

    /// Reads the CA certificate the server offers, checks it with `check`
    /// and, once it passes, fetches and saves it as
    /// [`ClientInstance::fetch_ca_certificate`] does. From then on the
    /// client trusts it.
    ///
    /// Over HTTPS the certificate comes from the TLS handshake, which is
    /// stopped before any HTTP request is sent. Once the check passes, the
    /// client connects again, verifying the server's certificate against
    /// the checked CA certificate and the configured host, fetches
    /// `GET /v1/ca` and checks that it is the same certificate. Over plain
    /// HTTP the certificate from `GET /v1/ca` is checked before it is saved.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCertificate`] naming both fingerprints when the
    /// fingerprint differs from the expected one or the callback returns
    /// `false`, and when the trusted connection returns another CA
    /// certificate. Nothing is saved then, and over HTTPS nothing was sent.
    /// [`Error::InvalidInput`] for an expected fingerprint that is not 64
    /// hexadecimal digits; [`Error::Tls`] when the first handshake fails; the
    /// errors of [`ClientInstance::fetch_ca_certificate`].
    pub async fn fetch_ca_certificate_checked(
        &self,
        check: CaCheck<'_>,
    ) -> Result<FetchedCaCertificate> {
        let client = self.settings()?;
        if let CaCheck::Expected(expected) = check {
            validate_sha256(expected)?;
        }

        if !client.https {
            let http = self.http(&client)?;
            let answer = http.ca_certificate().await?;
            let der = certificate_der(&answer.pem, &format!("from CA server {}", http.address()))?;
            let offered = OfferedCaCertificate {
                address: http.address().to_owned(),
                subject: answer.subject.clone(),
                not_after: answer.not_after.clone(),
                fingerprints: Fingerprints::of(&der),
                der,
                pem: answer.pem.clone(),
                server_subject: String::new(),
            };
            run_check(check, &offered)?;
            return self.save_ca_certificate(&client, &http, answer);
        }

        let offered = self.probe_ca_certificate().await?;
        run_check(check, &offered)?;

        let trust = TrustAnchors::from_der(vec![offered.der.clone()])?;
        let http = self.https_client(&client, &trust)?;
        let answer = http.ca_certificate().await?;
        let what = format!(
            "from CA server {} over the verified connection",
            http.address()
        );
        if certificate_der(&answer.pem, &what)? != offered.der {
            return Err(Error::InvalidCertificate {
                what,
                reason: format!(
                    "GET /v1/ca returned another certificate than the checked CA certificate (SHA-256 {}) the handshake presented; nothing was saved",
                    offered.fingerprints.sha256
                ),
                source: None,
            });
        }
        self.save_ca_certificate(&client, &http, answer)
    }

    /// Reads the CA certificate an HTTPS server presents in its TLS
    /// handshake, without trusting it, and stops the handshake before any
    /// HTTP request is sent. The shell shows the result to the operator.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an unconfigured client; the errors of
    /// [`probe_ca_certificate`].
    pub async fn probe_ca_certificate(&self) -> Result<OfferedCaCertificate> {
        let client = self.settings()?;
        probe_ca_certificate(&client.host, client.port, self.options.connect_timeout).await
    }

    /// Checks `answer` (from `GET /v1/ca`) and saves it as the client's CA certificate.
    fn save_ca_certificate(
        &self,
        client: &ClientSettings,
        http: &CaClient,
        answer: CaCertificateResponse,
    ) -> Result<FetchedCaCertificate> {
        if validate_root(&answer.root).is_err() {
            return Err(Error::Server {
                address: http.address().to_owned(),
                reason: format!(
                    "the CA's file name root {:?} is not a plain file name",
                    answer.root
                ),
                source: None,
            });
        }
        let what = format!("from CA server {}", http.address());
        let der = certificate_der(&answer.pem, &what)?;
        let fingerprints = Fingerprints::of(&der);
        if fingerprints != answer.fingerprints {
            return Err(Error::InvalidCertificate {
                what,
                reason: format!(
                    "its SHA-256 fingerprint is {}, but the server reports {}; do not trust it",
                    fingerprints.sha256, answer.fingerprints.sha256
                ),
                source: None,
            });
        }

        let path = self.client_file(client, &format!("{}.cer", answer.root));
        write_atomic(&path, answer.pem.as_bytes(), 0o644, Replace::Allow)?;
        let chain_path = if answer.chain_pem.is_empty() {
            None
        } else {
            let chain_path = self.client_file(client, &format!("{}-chain.pem", answer.root));
            write_atomic(
                &chain_path,
                answer.chain_pem.concat().as_bytes(),
                0o644,
                Replace::Allow,
            )?;
            Some(chain_path)
        };
        self.update(|client| client.ca_root = Some(answer.root.clone()))?;

        tracing::info!(path = %path.display(), sha256 = %fingerprints.sha256, "saved the CA certificate");
        Ok(FetchedCaCertificate {
            root: answer.root,
            path,
            chain_path,
            subject: answer.subject,
            fingerprints,
        })
    }

    /// Lists the certificates issued for the client's requests, asking the
    /// server about each remembered request. A request the server no longer
    /// has is left out and logged.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an unconfigured client, and
    /// [`Error::Server`] when the server cannot be reached or fails.
    pub async fn list_certificates(&self) -> Result<Vec<ListedCertificate>> {
        let client = self.settings()?;
        let http = self.http(&client)?;

        let mut listed = Vec::new();
        for request in &client.requests {
            let Some(certificates) = http.certificates_for_known_request(&request.id).await? else {
                tracing::warn!(id = %request.id, root = %request.root, address = %http.address(), "the server does not know a remembered request; leaving it out");
                continue;
            };
            listed.extend(
                certificates
                    .into_iter()
                    .map(|certificate| ListedCertificate {
                        root: request.root.clone(),
                        certificate,
                    }),
            );
        }
        Ok(listed)
    }

    /// Fetches the newest certificate issued for a request, named by its id
    /// or its file name root, checks it, and saves it as `<root>.cer`.
    ///
    /// The certificate must hold the public key of the client's private key
    /// for the root (the key store is asked for it, with `secret` for an
    /// encrypted key) and must be signed by the CA certificate the client has
    /// fetched.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when `id_or_root` names no remembered request, or no
    /// certificate was issued yet; [`Error::InvalidInput`] when the CA
    /// certificate was not fetched first; [`Error::InvalidCertificate`] when
    /// the key or the signature does not match; [`Error::WrongPassword`] and
    /// the key store's errors; [`Error::Server`].
    pub async fn fetch_certificate(
        &self,
        key_store: &dyn KeyStore,
        id_or_root: &str,
        secret: Option<&SecretString>,
    ) -> Result<FetchedCertificate> {
        let client = self.settings()?;
        let request = find_request(&client, id_or_root)?.clone();
        validate_root(&request.root)?;
        let http = self.http(&client)?;

        let certificates = http.certificates_for_request(&request.id).await?;
        let Some(newest) = certificates.into_iter().max_by_key(|c| c.number) else {
            let state = http.request(&request.id).await?;
            let next = match &state.reason {
                Some(reason) => format!("the operator rejected it: {reason}"),
                None => "ask the CA operator to issue it".to_owned(),
            };
            return Err(Error::NotFound {
                kind: "certificate",
                name: format!(
                    "for request {} ({}), which is {}; {next}",
                    request.id, request.root, state.state
                ),
            });
        };

        let what = format!("number {} for request {}", newest.number, request.id);
        let der = certificate_der(&newest.pem, &what)?;
        let key = request_key_uri(&client, &request)?;
        check_public_key(&der, &key_store.public_key(&key, secret)?, &key, &what)?;
        let ca_path = self.ca_certificate_path(&client)?;
        check_issued_by(&der, &ca_path, &what)?;

        let path = self.client_file(&client, &format!("{}.cer", request.root));
        write_atomic(&path, newest.pem.as_bytes(), 0o644, Replace::Allow)?;
        tracing::info!(path = %path.display(), number = newest.number, id = %request.id, "saved the client's certificate");
        Ok(FetchedCertificate {
            request_id: request.id,
            number: newest.number,
            path,
            subject: newest.subject,
            not_after: newest.not_after,
            fingerprints: Fingerprints::of(&der),
        })
    }

    fn settings(&self) -> Result<ClientSettings> {
        Settings::load(&self.instance_dir)?.client.ok_or_else(|| {
            Error::invalid_input(
                "CA client",
                format!(
                    "the instance {} is not configured as a CA client; configure the server's host, port and a contact first",
                    self.instance_dir.display()
                ),
            )
        })
    }

    /// Changes the client settings, reading them again right before, so that
    /// a change made since [`ClientInstance::settings`] is kept.
    fn update(&self, change: impl FnOnce(&mut ClientSettings)) -> Result<()> {
        let mut settings = Settings::load(&self.instance_dir)?;
        let Some(client) = settings.client.as_mut() else {
            return Err(Error::invalid_input(
                "CA client",
                "the client settings were removed while certa was running; configure the client again",
            ));
        };
        change(client);
        settings.save(&self.instance_dir)
    }

    fn remember(&self, request: SubmittedRequest) -> Result<()> {
        self.update(|client| client.requests.push(request))
    }

    /// The HTTP client of the configured server: plain, or over HTTPS
    /// trusting the CA certificate the client fetched.
    fn http(&self, client: &ClientSettings) -> Result<CaClient> {
        if !client.https {
            return CaClient::new(&client.host, client.port, self.options);
        }

        let Some(root) = &client.ca_root else {
            return Err(Error::invalid_input(
                "HTTPS connection",
                format!(
                    "the client talks HTTPS to {}:{} and trusts no CA certificate yet; fetch the CA certificate first, checking its SHA-256 fingerprint against the one the CA operator reads out",
                    client.host, client.port
                ),
            ));
        };
        let trust = TrustAnchors::from_pem_file(&self.client_file(client, &format!("{root}.cer")))?;
        self.https_client(client, &trust)
    }

    fn https_client(&self, client: &ClientSettings, trust: &TrustAnchors) -> Result<CaClient> {
        let tls = client_config(self.tls_identity.as_ref(), trust)?;
        CaClient::new_https(&client.host, client.port, self.options, tls)
    }

    fn client_file(&self, client: &ClientSettings, name: &str) -> PathBuf {
        self.instance_dir.join(&client.directory).join(name)
    }

    fn ca_certificate_path(&self, client: &ClientSettings) -> Result<PathBuf> {
        let Some(root) = &client.ca_root else {
            return Err(Error::invalid_input(
                "CA certificate",
                "the client has not fetched the CA certificate yet; fetch it first, so that the certificate can be checked against it",
            ));
        };
        Ok(self.client_file(client, &format!("{root}.cer")))
    }
}

/// Builds a CSR for `subject` and `alt_names`, signed by `signer`, and
/// returns it as PEM; the CA server uses it for its own TLS certificate.
pub(crate) fn build_csr(
    subject: &SubjectName,
    alt_names: &[SubjectAltName],
    signer: &dyn Signer,
) -> Result<String> {
    Ok(csr::build(subject, alt_names, signer)?.pem)
}

/// Checks an expected SHA-256 fingerprint: 32 bytes in hexadecimal.
fn validate_sha256(expected: &str) -> Result<()> {
    let digits = expected.chars().filter(char::is_ascii_hexdigit).count();
    let others = expected
        .chars()
        .any(|c| !c.is_ascii_hexdigit() && c != ':' && !c.is_whitespace());
    if digits != 64 || others {
        return Err(Error::invalid_input(
            "expected SHA-256 fingerprint",
            format!(
                "{expected:?} is not 64 hexadecimal digits (colons allowed); give the SHA-256 fingerprint of the CA certificate, not the SHA-1 one"
            ),
        ));
    }
    Ok(())
}

/// Applies `check` to the offered CA certificate.
fn run_check(check: CaCheck<'_>, offered: &OfferedCaCertificate) -> Result<()> {
    let what = format!(
        "offered by CA server {} ({})",
        offered.address, offered.subject
    );
    match check {
        CaCheck::Expected(expected) => {
            let expected = normalize(expected);
            if expected != offered.fingerprints.sha256 {
                tracing::warn!(address = %offered.address, offered = %offered.fingerprints.sha256, %expected, "the offered CA certificate has another fingerprint than expected");
                return Err(Error::InvalidCertificate {
                    what,
                    reason: format!(
                        "its SHA-256 fingerprint is {}, but the expected fingerprint is {expected}; nothing was sent or saved. Check the fingerprint with the CA operator, and that {} is the CA server",
                        offered.fingerprints.sha256, offered.address
                    ),
                    source: None,
                });
            }
        }
        CaCheck::Confirm(confirm) => {
            if !confirm(offered) {
                tracing::warn!(address = %offered.address, offered = %offered.fingerprints.sha256, "the operator did not confirm the offered CA certificate");
                return Err(Error::InvalidCertificate {
                    what,
                    reason: format!(
                        "its fingerprints (SHA-256 {}, SHA-1 {}) were not confirmed; nothing was sent or saved. Compare them with those the CA operator reads out",
                        offered.fingerprints.sha256, offered.fingerprints.sha1
                    ),
                    source: None,
                });
            }
        }
    }

    tracing::info!(address = %offered.address, sha256 = %offered.fingerprints.sha256, "the offered CA certificate passed the check");
    Ok(())
}

/// Checks that a file name root is a plain file name: letters, digits, `.`,
/// `_` and `-`, not starting with `.`, at most 64 characters.
///
/// # Errors
///
/// [`Error::InvalidInput`] naming the root.
pub fn validate_root(root: &str) -> Result<()> {
    let valid = !root.is_empty()
        && root.len() <= MAX_ROOT_LENGTH
        && !root.starts_with('.')
        && root
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !valid {
        return Err(Error::invalid_input(
            "file name root",
            format!("{root:?} must be 1 to {MAX_ROOT_LENGTH} letters, digits, '.', '_' or '-', not starting with '.'"),
        ));
    }
    Ok(())
}

fn key_uri_in(client: &ClientSettings, root: &str) -> KeyUri {
    KeyUri::file(client.directory.join(format!("{root}.key")))
}

/// Returns the key of a remembered request: its own location, or the default file.
fn request_key_uri(client: &ClientSettings, request: &SubmittedRequest) -> Result<KeyUri> {
    let Some(location) = &request.key else {
        return Ok(key_uri_in(client, &request.root));
    };
    location.parse().map_err(|e: crate::key::KeyUriError| {
        Error::invalid_input(
            format!("key location of request {}", request.id),
            format!("{e}; correct it in the client settings"),
        )
    })
}

fn validate_contact(mut contact: Contact) -> Result<Contact> {
    contact.name = contact.name.trim().to_owned();
    if contact.name.is_empty() {
        return Err(Error::invalid_input(
            "contact",
            "the contact name is empty; give the person the CA operator can call",
        ));
    }
    contact.phone = contact
        .phone
        .map(|phone| phone.trim().to_owned())
        .filter(|phone| !phone.is_empty());
    contact.email = contact
        .email
        .map(|email| email.trim().to_owned())
        .filter(|email| !email.is_empty());
    if let Some(email) = &contact.email {
        if !email.contains('@') {
            return Err(Error::invalid_input(
                "contact e-mail address",
                format!("{email:?} has no '@'"),
            ));
        }
    }
    Ok(contact)
}

fn find_request<'a>(client: &'a ClientSettings, id_or_root: &str) -> Result<&'a SubmittedRequest> {
    let by_id = client
        .requests
        .iter()
        .find(|request| request.id == id_or_root);
    let by_root = || {
        client
            .requests
            .iter()
            .rev()
            .find(|request| request.root == id_or_root)
    };
    by_id.or_else(by_root).ok_or_else(|| Error::NotFound {
        kind: "request",
        name: format!("{id_or_root:?} among this client's requests; give a request id or file name root that was submitted from this instance"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offered(der: &[u8]) -> OfferedCaCertificate {
        OfferedCaCertificate {
            address: "127.0.0.1:8443".to_owned(),
            subject: "CN=First Look CA".to_owned(),
            not_after: "2030-01-01T00:00:00Z".to_owned(),
            der: der.to_vec(),
            pem: String::new(),
            fingerprints: Fingerprints::of(der),
            server_subject: "CN=127.0.0.1".to_owned(),
        }
    }

    #[test]
    fn expected_fingerprint_any_case_passes() {
        let offered = offered(b"certificate");
        let lowercase = offered.fingerprints.sha256.replace(':', "").to_lowercase();

        assert!(run_check(CaCheck::Expected(&lowercase), &offered).is_ok());
    }

    #[test]
    fn expected_fingerprint_mismatch_names_both() {
        let offered = offered(b"certificate");
        let other = Fingerprints::of(b"another certificate").sha256;

        let error = run_check(CaCheck::Expected(&other), &offered).expect_err("mismatch");

        let message = error.to_string();
        assert!(message.contains(&other), "{message}");
        assert!(message.contains(&offered.fingerprints.sha256), "{message}");
    }

    #[test]
    fn declined_confirmation_fails() {
        let offered = offered(b"certificate");
        let decline = |_: &OfferedCaCertificate| false;

        let error = run_check(CaCheck::Confirm(&decline), &offered).expect_err("declined");

        assert_eq!(error.code(), "invalid_certificate");
    }

    #[test]
    fn sha1_fingerprint_rejected_as_expected() {
        let sha1 = Fingerprints::of(b"certificate").sha1;

        let error = validate_sha256(&sha1).expect_err("a SHA-1 fingerprint");

        assert!(error.to_string().contains("not the SHA-1 one"), "{error}");
    }

    #[test]
    fn sha256_fingerprint_with_colons_valid() {
        let sha256 = Fingerprints::of(b"certificate").sha256;
        assert!(validate_sha256(&sha256).is_ok());
    }
}
