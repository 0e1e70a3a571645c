//! Serving the CA server's API over HTTPS: tokio-rustls accepts each
//! connection, and hyper serves warp's routes on the TLS stream.
//!
//! The server presents its `tls-server` certificate with the CA certificate
//! (and the chain above an intermediate CA), so that a client can take the
//! CA certificate from the handshake on its first contact. Clients may
//! present a certificate; one that is presented must verify against the CA
//! certificate. With `require_client_certificates`, the routes that list and
//! serve certificates respond only to clients that presented one.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use rustls::pki_types::CertificateDer;
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;
use tower_service::Service as _;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::routes::{routes_with, RouteOptions};
use super::server::{spawn_server, ServerHandle, SHUTDOWN_GRACE};
use crate::ca::server::CaServer;
use crate::key::Signer;
use crate::settings::HttpsSettings;
use crate::tls::{
    connection_error, server_config, ClientAuth, PeerRole, TlsIdentity, TrustAnchors,
};
use crate::Result;

/// How long a client may take for the TLS handshake after connecting.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the accept loop pauses after the system refuses a connection
/// (too many open files, for instance), so that it does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// The TLS side of an HTTPS server.
#[derive(Debug, Clone)]
pub struct HttpsConfig {
    /// The rustls server configuration: the server's chain and key, and the
    /// verification of client certificates.
    pub tls: Arc<ServerConfig>,
    /// Whether `/v1/certificates` and `/v1/certificates/{number}` respond
    /// only to clients that presented a certificate.
    pub require_client_certificates: bool,
}

impl HttpsConfig {
    /// Builds the configuration of `server` from its HTTPS settings.
    ///
    /// The server sends its certificate, the CA certificate and, for an
    /// intermediate CA, the certificates above it. `tls_signer` signs with
    /// the server's TLS key. Client certificates are optional, but one that
    /// is presented must verify against the CA certificate.
    ///
    /// # Errors
    ///
    /// [`Error::Io`](crate::Error::Io) when a certificate file cannot be read,
    /// [`Error::InvalidCertificate`](crate::Error::InvalidCertificate) when
    /// one is not a PEM certificate or the server's certificate is not for
    /// the key of `tls_signer`, and [`Error::Crypto`](crate::Error::Crypto)
    /// when rustls rejects the set-up.
    pub fn from_settings(
        server: &CaServer,
        settings: &HttpsSettings,
        tls_signer: Arc<dyn Signer>,
    ) -> Result<Self> {
        let certificate = server.instance_dir().join(&settings.certificate);
        let ca_certificate = server.paths().certificate();
        let ca_chain = server.paths().chain();
        let mut above: Vec<&std::path::Path> = vec![&ca_certificate];
        if ca_chain.exists() {
            above.push(&ca_chain);
        }

        let identity = TlsIdentity::from_pem_files(&certificate, &above, tls_signer)?;
        let trust = TrustAnchors::from_pem_file(&ca_certificate)?;
        let client_auth = ClientAuth {
            required: false,
            expected_names: Vec::new(),
        };
        let tls = server_config(&identity, &trust, &client_auth)?;

        Ok(HttpsConfig {
            tls,
            require_client_certificates: settings.require_client_certificates,
        })
    }
}

/// The facts about the TLS connection a request came on that the routes use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The client's address.
    pub peer: SocketAddr,
    /// The subject of the client's certificate (RFC 4514), when it
    /// presented one; the handshake has verified it against the CA.
    pub client_certificate: Option<String>,
}

impl ConnectionInfo {
    fn new(peer: SocketAddr, certificates: Option<&[CertificateDer<'_>]>) -> Self {
        let client_certificate =
            certificates.and_then(|chain| chain.first()).map(
                |der| match X509Certificate::from_der(der) {
                    Ok((_, certificate)) => certificate.subject().to_string(),
                    Err(_) => "an unreadable subject".to_owned(),
                },
            );
        ConnectionInfo {
            peer,
            client_certificate,
        }
    }
}

/// Serves the API over HTTPS on `listener` until `shutdown` completes, then
/// waits up to [`SHUTDOWN_GRACE`] for requests in flight.
///
/// Logs the start with the bound address, the stop, and every rejected
/// handshake with the client's address and the reason.
pub async fn serve_https(
    server: Arc<CaServer>,
    listener: tokio::net::TcpListener,
    config: HttpsConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let address = listener.local_addr().map_or_else(
        |_| "an unknown address".to_owned(),
        |address| address.to_string(),
    );
    let instance = server.instance_dir().display().to_string();
    tracing::info!(
        %address,
        %instance,
        require_client_certificates = config.require_client_certificates,
        "CA server HTTPS API started"
    );

    let routes = routes_with(
        server,
        RouteOptions {
            require_client_certificates: config.require_client_certificates,
        },
    );
    let acceptor = TlsAcceptor::from(config.tls);
    let graceful = GracefulShutdown::new();
    // Every rejected handshake is logged with the running count, which
    // makes a burst (a scan, a misconfigured client) easy to spot.
    let rejected = Arc::new(AtomicU64::new(0));
    let mut shutdown = std::pin::pin!(shutdown);

    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%address, %error, "failed to accept a connection");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };

        let acceptor = acceptor.clone();
        let service = warp::service(routes.clone());
        let watcher = graceful.watcher();
        let rejected = Arc::clone(&rejected);
        tokio::spawn(async move {
            let accepted = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await;
            let tls = match accepted {
                Ok(Ok(tls)) => tls,
                Ok(Err(error)) => {
                    let total = rejected.fetch_add(1, Ordering::Relaxed) + 1;
                    let error =
                        connection_error(format!("handshake with {peer}"), PeerRole::Client, error);
                    tracing::warn!(%peer, %error, rejected_handshakes = total, "rejected a TLS handshake");
                    return;
                }
                Err(_) => {
                    let total = rejected.fetch_add(1, Ordering::Relaxed) + 1;
                    tracing::warn!(%peer, timeout_seconds = HANDSHAKE_TIMEOUT.as_secs(), rejected_handshakes = total, "rejected a TLS handshake: it timed out");
                    return;
                }
            };

            let info = ConnectionInfo::new(peer, tls.get_ref().1.peer_certificates());
            tracing::debug!(%peer, client_certificate = ?info.client_certificate, "accepted a TLS connection");
            let handler = hyper::service::service_fn(
                move |mut request: http::Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(info.clone());
                    let mut service = service.clone();
                    async move { service.call(request).await }
                },
            );
            // The timer enables hyper's default time-out for reading a
            // request's headers, so a client that stalls does not hold the
            // connection open.
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(tls), handler);
            if let Err(error) = watcher.watch(connection).await {
                tracing::debug!(%peer, %error, "an HTTPS connection ended with an error");
            }
        });
    }

    drop(listener);
    tracing::info!(
        %address,
        rejected_handshakes = rejected.load(Ordering::Relaxed),
        "CA server HTTPS API stopping; finishing requests in flight"
    );
    match tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await {
        Ok(()) => tracing::info!(%address, "CA server HTTPS API stopped"),
        Err(_) => tracing::warn!(
            %address,
            grace_seconds = SHUTDOWN_GRACE.as_secs(),
            "CA server HTTPS API stopped with requests still in flight after the grace period"
        ),
    }
}

/// Binds `listen` and serves the API of `server` over HTTPS on `runtime`
/// until the returned handle is stopped or dropped, as [`start`](super::start) does over HTTP.
///
/// # Errors
///
/// [`Error::HttpServer`](crate::Error::HttpServer) when the address cannot be bound.
pub fn start_https(
    runtime: &tokio::runtime::Handle,
    server: Arc<CaServer>,
    listen: SocketAddr,
    config: HttpsConfig,
) -> Result<ServerHandle> {
    spawn_server(runtime, listen, move |listener, shutdown| {
        serve_https(server, listener, config, shutdown)
    })
}
