//! An HTTP client for the CA server's API, with reqwest.
//!
//! Every failure is an [`Error::Server`] that names the server's address and
//! the cause: the connection error, the time-out, or the server's error code
//! and message.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use super::api::{
    CaCertificateResponse, CertificateListResponse, CertificateResponse, ErrorResponse,
    HealthResponse, RequestResponse, SubmissionBody, SubmissionResponse,
};
use crate::{Error, Result};

/// Time-outs of a [`CaClient`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOptions {
    /// How long to wait for the TCP connection.
    pub connect_timeout: Duration,
    /// How long a whole exchange (connect, send, receive) may take.
    pub timeout: Duration,
}

impl Default for ClientOptions {
    /// Ten seconds to connect and thirty for a whole exchange. Every call is
    /// a small JSON exchange that a CA server completes in milliseconds, so a
    /// call that takes longer finds a server that is down or unreachable, and
    /// an operator at the shell should hear so instead of waiting without end.
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
        }
    }
}

/// A client of one CA server.
#[derive(Debug, Clone)]
pub struct CaClient {
    http: reqwest::Client,
    /// `host:port`, as errors show it.
    address: String,
    /// `http://host:port`.
    base_url: String,
    options: ClientOptions,
}

impl CaClient {
    /// Makes a client of the server at `host` and `port` over plain HTTP.
    /// `host` is a name, an IPv4 address or an IPv6 address (with or
    /// without brackets).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty host or port 0, and
    /// [`Error::Server`] when the HTTP client cannot be built.
    pub fn new(host: &str, port: u16, options: ClientOptions) -> Result<Self> {
        CaClient::build(host, port, options, None)
    }

    /// Makes a client of the server at `host` and `port` over HTTPS with
    /// certa's own rustls configuration `tls` (from
    /// [`tls::client_config`](crate::tls::client_config)). The server's
    /// certificate must be valid for `host`, and a client certificate in
    /// `tls` is presented when the server requests one, with a key from
    /// either key store.
    ///
    /// # Errors
    ///
    /// As [`CaClient::new`].
    pub fn new_https(
        host: &str,
        port: u16,
        options: ClientOptions,
        tls: Arc<rustls::ClientConfig>,
    ) -> Result<Self> {
        CaClient::build(host, port, options, Some(tls))
    }

    fn build(
        host: &str,
        port: u16,
        options: ClientOptions,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<Self> {
        let address = server_address(host, port)?;

        let mut builder = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .timeout(options.timeout)
            .user_agent(concat!("certa/", env!("CARGO_PKG_VERSION")));
        let scheme = match tls {
            Some(tls) => {
                builder = builder
                    .use_preconfigured_tls(rustls::ClientConfig::clone(&tls))
                    .https_only(true);
                "https"
            }
            None => "http",
        };
        let http = builder.build().map_err(|e| Error::Server {
            address: address.clone(),
            reason: "cannot build the HTTP client".to_owned(),
            source: Some(Box::new(e)),
        })?;

        Ok(CaClient {
            http,
            base_url: format!("{scheme}://{address}"),
            address,
            options,
        })
    }

    /// Returns whether the client talks HTTPS.
    pub fn is_https(&self) -> bool {
        self.base_url.starts_with("https:")
    }

    /// The server's address, `host:port`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Fetches the CA certificate: `GET /v1/ca`.
    ///
    /// # Errors
    ///
    /// [`Error::Server`] when the server cannot be reached or returns an error.
    pub async fn ca_certificate(&self) -> Result<CaCertificateResponse> {
        self.get("/v1/ca").await
    }

    /// Submits a CSR: `POST /v1/requests`.
    ///
    /// # Errors
    ///
    /// [`Error::Server`] when the server cannot be reached or returns an
    /// error; its code is in the reason (`invalid_csr`, `queue_full`).
    pub async fn submit(&self, body: &SubmissionBody) -> Result<SubmissionResponse> {
        let sent = self
            .http
            .post(format!("{}/v1/requests", self.base_url))
            .json(body)
            .send()
            .await;
        self.receive(sent).await
    }

    /// Fetches the state of a request: `GET /v1/requests/{id}`.
    ///
    /// # Errors
    ///
    /// [`Error::Server`] when the server cannot be reached or returns an
    /// error (`not_found` for an unknown id).
    pub async fn request(&self, id: &str) -> Result<RequestResponse> {
        self.get(&format!("/v1/requests/{}", path_segment(id)))
            .await
    }

    /// Lists the certificates issued for a request: `GET /v1/certificates?request={id}`.
    ///
    /// # Errors
    ///
    /// [`Error::Server`] when the server cannot be reached or returns an
    /// error (`not_found` for an unknown id).
    pub async fn certificates_for_request(&self, id: &str) -> Result<Vec<CertificateResponse>> {
        let list: CertificateListResponse = self.receive(self.list_request(id).await).await?;
        Ok(list.certificates)
    }

    /// Like [`CaClient::certificates_for_request`], but `None` when the
    /// server does not know the request.
    ///
    /// # Errors
    ///
    /// [`Error::Server`] when the server cannot be reached or returns
    /// another error.
    pub async fn certificates_for_known_request(
        &self,
        id: &str,
    ) -> Result<Option<Vec<CertificateResponse>>> {
        let (status, body) = self.read(self.list_request(id).await).await?;
        if status == StatusCode::NOT_FOUND {
            tracing::debug!(address = %self.address, id, "the server does not know the request");
            return Ok(None);
        }
        let list: CertificateListResponse = self.parse(status, &body)?;
        Ok(Some(list.certificates))
    }

    async fn list_request(&self, id: &str) -> reqwest::Result<reqwest::Response> {
        self.http
            .get(format!("{}/v1/certificates", self.base_url))
            .query(&[("request", id)])
            .send()
            .await
    }

    /// Fetches one certificate: `GET /v1/certificates/{number}`.
    ///
    /// # Errors
    ///
    /// [`Error::Server`] when the server cannot be reached or returns an
    /// error (`not_found` for an unknown number).
    pub async fn certificate(&self, number: u64) -> Result<CertificateResponse> {
        self.get(&format!("/v1/certificates/{number}")).await
    }

    /// Checks that the server serves: `GET /v1/health`.
    ///
    /// # Errors
    ///
    /// [`Error::Server`] when the server cannot be reached or does not answer `ok`.
    pub async fn health(&self) -> Result<()> {
        let health: HealthResponse = self.get("/v1/health").await?;
        if health.status != "ok" {
            return Err(self.failure(format!("the server reports status {:?}", health.status)));
        }
        Ok(())
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let sent = self
            .http
            .get(format!("{}{path}", self.base_url))
            .send()
            .await;
        self.receive(sent).await
    }

    /// Reads a JSON answer, or turns the error answer or the transport error into an [`Error::Server`].
    async fn receive<T: DeserializeOwned>(
        &self,
        sent: reqwest::Result<reqwest::Response>,
    ) -> Result<T> {
        let (status, body) = self.read(sent).await?;
        self.parse(status, &body)
    }

    async fn read(
        &self,
        sent: reqwest::Result<reqwest::Response>,
    ) -> Result<(StatusCode, Vec<u8>)> {
        let response = sent.map_err(|e| self.transport_error(e))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(e))?;
        Ok((status, body.to_vec()))
    }

    fn parse<T: DeserializeOwned>(&self, status: StatusCode, body: &[u8]) -> Result<T> {
        if !status.is_success() {
            return Err(self.status_error(status, body));
        }
        serde_json::from_slice(body).map_err(|e| Error::Server {
            address: self.address.clone(),
            reason: format!(
                "the answer ({status}) is not the expected JSON; check that {} is a certa server",
                self.address
            ),
            source: Some(Box::new(e)),
        })
    }

    fn status_error(&self, status: StatusCode, body: &[u8]) -> Error {
        let reason = match serde_json::from_slice::<ErrorResponse>(body) {
            Ok(answer) => format!(
                "the server returned {status}: {} ({})",
                answer.error.message, answer.error.code
            ),
            Err(_) => format!(
                "the server returned {status} without a certa error body; check that {} is a certa server",
                self.address
            ),
        };
        self.failure(reason)
    }

    fn transport_error(&self, error: reqwest::Error) -> Error {
        let cause = innermost_cause(&error);
        let reason = if error.is_timeout() {
            format!(
                "timed out (connect time-out {} s, total {} s); check that the server runs and is reachable",
                self.options.connect_timeout.as_secs(),
                self.options.timeout.as_secs()
            )
        } else if error.is_connect() && self.is_https() {
            format!(
                "cannot connect over HTTPS ({cause}); check the host and port, that certa serve runs there with HTTPS, and that the server's certificate is from the CA certificate this client fetched"
            )
        } else if error.is_connect() {
            format!(
                "cannot connect ({cause}); check the host and port and that certa serve runs there"
            )
        } else if self.is_https() {
            format!("the exchange failed ({cause})")
        } else {
            // A plain-HTTP client reading a TLS record ends up here, with a
            // parse error that does not mention TLS.
            format!("the exchange failed ({cause}); if the server serves HTTPS, configure this client for HTTPS")
        };
        Error::Server {
            address: self.address.clone(),
            reason,
            source: Some(Box::new(error)),
        }
    }

    fn failure(&self, reason: String) -> Error {
        Error::Server {
            address: self.address.clone(),
            reason,
            source: None,
        }
    }
}

/// Checks `host` and `port` and returns `host:port`, with an IPv6 address in brackets.
///
/// # Errors
///
/// [`Error::InvalidInput`] for an empty host or port 0.
pub fn server_address(host: &str, port: u16) -> Result<String> {
    let host = host.trim();
    if host.is_empty() {
        return Err(Error::invalid_input(
            "CA server host",
            "the host is empty; give the server's name or address",
        ));
    }
    if port == 0 {
        return Err(Error::invalid_input(
            "CA server port",
            "port 0 is not a server's port; give the port certa serve listens on",
        ));
    }

    let bare_host = host.trim_start_matches('[').trim_end_matches(']');
    if bare_host.contains(':') {
        Ok(format!("[{bare_host}]:{port}"))
    } else {
        Ok(format!("{bare_host}:{port}"))
    }
}

/// Returns the message of the last error in `error`'s source chain, which is the
/// most specific one ("Connection refused (os error 111)").
fn innermost_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

/// Percent-encodes a path segment, so that an id typed by a person cannot change the path.
fn path_segment(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC).to_string()
}
