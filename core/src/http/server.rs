//! Starting and stopping the CA server's HTTP API: [`start`] for the shell,
//! which keeps a [`ServerHandle`], [`serve_until_signal`] for `certa serve`,
//! and [`serve`] on a listener the caller has bound. The HTTPS variants are
//! in [`https`](super::https).

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};

use super::https::{serve_https, HttpsConfig};
use super::routes::routes;
use crate::ca::server::CaServer;
use crate::key::{KeyUri, Signer};
use crate::settings::HttpsSettings;
use crate::{Error, Result};

/// How long a shutdown waits for requests in flight before it drops them.
///
/// A submission takes well under a second, so the bound only matters for a
/// client that stalls in the middle of a request.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Serves the API on `listener` until `shutdown` completes, then waits up to
/// [`SHUTDOWN_GRACE`] for requests in flight.
///
/// Logs the start with the bound address, and the stop.
pub async fn serve(
    server: Arc<CaServer>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let address = listener.local_addr().map_or_else(
        |_| "an unknown address".to_owned(),
        |address| address.to_string(),
    );
    let instance = server.instance_dir().display().to_string();
    tracing::info!(%address, %instance, "CA server HTTP API started");

    let (fired_sender, mut fired) = watch::channel(false);
    let stopping_address = address.clone();
    let signal = async move {
        shutdown.await;
        tracing::info!(address = %stopping_address, "CA server HTTP API stopping; finishing requests in flight");
        let _ = fired_sender.send(true);
    };
    let served = warp::serve(routes(server))
        .incoming(listener)
        .graceful(signal)
        .run();
    let grace_over = async move {
        if fired.wait_for(|fired| *fired).await.is_err() {
            // The signal future was dropped without firing, so only `served` can end the wait.
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };

    tokio::select! {
        () = served => tracing::info!(%address, "CA server HTTP API stopped"),
        () = grace_over => tracing::warn!(
            %address,
            grace_seconds = SHUTDOWN_GRACE.as_secs(),
            "CA server HTTP API stopped with requests still in flight after the grace period"
        ),
    }
}

/// A running HTTP server, started with [`start`].
///
/// Dropping the handle signals the server to stop but does not wait for it.
#[derive(Debug)]
pub struct ServerHandle {
    address: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    stopped: Option<oneshot::Receiver<()>>,
}

impl ServerHandle {
    pub(super) fn new(
        address: SocketAddr,
        shutdown: oneshot::Sender<()>,
        stopped: oneshot::Receiver<()>,
    ) -> Self {
        ServerHandle {
            address,
            shutdown: Some(shutdown),
            stopped: Some(stopped),
        }
    }

    /// Returns the address the server listens on, with the port the system chose when port 0 was requested.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting connections and waits until the requests in flight are complete.
    pub async fn stop(&mut self) {
        self.signal();
        if let Some(stopped) = self.stopped.take() {
            // An error means the server task ended without sending, which is a stop too.
            let _ = stopped.await;
        }
    }

    /// Stops accepting connections and blocks the calling thread until the
    /// requests in flight are complete. For the shell and other synchronous callers.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when called from inside a tokio runtime, where
    /// blocking could stall the server it waits for; use [`ServerHandle::stop`]
    /// there. The server is asked to stop in that case too.
    pub fn shutdown(&mut self) -> Result<()> {
        self.signal();
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(Error::Unsupported {
                what: "waiting for the HTTP server to stop with a blocking call inside an async task; await ServerHandle::stop instead".to_owned(),
            });
        }
        if let Some(stopped) = self.stopped.take() {
            let _ = stopped.blocking_recv();
        }
        Ok(())
    }

    fn signal(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.signal();
    }
}

/// Binds `listen` and serves the API of `server` on `runtime` until the
/// returned handle is stopped or dropped.
///
/// The address is bound before this returns, so a busy port is reported here
/// and [`ServerHandle::address`] has the port the system chose for port 0.
///
/// # Errors
///
/// [`Error::HttpServer`] when the address cannot be bound.
pub fn start(
    runtime: &tokio::runtime::Handle,
    server: Arc<CaServer>,
    listen: SocketAddr,
) -> Result<ServerHandle> {
    spawn_server(runtime, listen, move |listener, shutdown| {
        serve(server, listener, shutdown)
    })
}

/// A future that completes when a [`ServerHandle`] tells its server to stop.
pub(super) type StopSignal = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// Binds `listen` and spawns `run` on `runtime` with the listener and the
/// stop signal of the returned handle; `run` serves until the signal
/// completes. Shared by [`start`] and [`start_https`](super::start_https).
pub(super) fn spawn_server<R, F>(
    runtime: &tokio::runtime::Handle,
    listen: SocketAddr,
    run: R,
) -> Result<ServerHandle>
where
    R: FnOnce(tokio::net::TcpListener, StopSignal) -> F + Send + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let listener = bind(runtime, listen)?;
    let address = listener
        .local_addr()
        .map_err(|source| listen_error(listen, source))?;

    let (shutdown_sender, shutdown) = oneshot::channel::<()>();
    let (stopped_sender, stopped) = oneshot::channel::<()>();
    runtime.spawn(async move {
        let shutdown: StopSignal = Box::pin(async move {
            // A dropped sender means the handle was dropped: stop as well.
            let _ = shutdown.await;
        });
        run(listener, shutdown).await;
        let _ = stopped_sender.send(());
    });

    Ok(ServerHandle::new(address, shutdown_sender, stopped))
}

/// Opens the CA server of `instance_dir` and serves its API until SIGINT or
/// SIGTERM, for `certa serve`: over HTTPS when the instance has HTTPS
/// settings, else over plain HTTP.
///
/// Listens on `listen`, or on the `listen` setting of the instance when it is
/// `None`. `unlock_tls_key` is called once, with the TLS key's URI, only for
/// an HTTPS instance: it opens the key store and unlocks the key, asking for
/// the password or PIN if it must. `ready` is called with the bound address
/// once the server accepts connections, so the caller can print it:
///
/// ```no_run
/// # fn serve(instance: &std::path::Path, listen: Option<std::net::SocketAddr>, key_store: &dyn certa_core::key::KeyStore) -> certa_core::Result<()> {
/// let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
/// let unlock = |key: &certa_core::key::KeyUri| key_store.unlock(key, None);
/// let ready = |address| println!("serving on {address}; stop with Ctrl-C");
/// runtime.block_on(certa_core::http::serve_until_signal(instance, listen, unlock, ready))
/// # }
/// ```
///
/// # Errors
///
/// The errors of [`CaServer::open`] and of `unlock_tls_key`,
/// [`Error::InvalidInput`] when the `listen` setting is not an IP address and
/// port or the TLS key URI is invalid, the errors of
/// [`HttpsConfig::from_settings`], and [`Error::HttpServer`] when the address
/// cannot be bound or the signal handlers cannot be installed.
pub async fn serve_until_signal(
    instance_dir: &Path,
    listen: Option<SocketAddr>,
    unlock_tls_key: impl FnOnce(&KeyUri) -> Result<Arc<dyn Signer>>,
    ready: impl FnOnce(SocketAddr),
) -> Result<()> {
    let owned_dir = instance_dir.to_path_buf();
    let (server, https) = tokio::task::spawn_blocking(move || {
        let server = CaServer::open(&owned_dir)?;
        // Read the CA certificate once, so that an unusable instance fails
        // here and not with a 500 on every request.
        server.ca_certificate()?;
        let https = HttpsSettings::load(&owned_dir)?;
        Ok::<_, Error>((server, https))
    })
    .await
    .map_err(|source| task_error("open the CA server", source))??;
    let listen = match listen {
        Some(listen) => listen,
        None => parse_listen_setting(&server.settings().listen, instance_dir)?,
    };
    let https = match https {
        Some(settings) => {
            let key: KeyUri = settings.key.parse()?;
            let signer = unlock_tls_key(&key)?;
            Some(HttpsConfig::from_settings(&server, &settings, signer)?)
        }
        None => None,
    };

    let terminate = terminate_signal()?;
    let listener = bind(&tokio::runtime::Handle::current(), listen)?;
    let address = listener
        .local_addr()
        .map_err(|source| listen_error(listen, source))?;
    ready(address);

    let server = Arc::new(server);
    match https {
        Some(config) => serve_https(server, listener, config, terminate).await,
        None => serve(server, listener, terminate).await,
    }
    Ok(())
}

fn parse_listen_setting(listen: &str, instance_dir: &Path) -> Result<SocketAddr> {
    listen.parse().map_err(|e| {
        Error::invalid_input(
            format!(
                "listen setting in {}",
                instance_dir.join(crate::settings::SETTINGS_FILE).display()
            ),
            format!("{listen:?} is not an IP address and port such as 127.0.0.1:8443 ({e})"),
        )
    })
}

/// Installs the SIGINT and SIGTERM handlers and returns a future that completes on either.
fn terminate_signal() -> Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{signal, SignalKind};

    let install = |kind: SignalKind, name: &str| {
        signal(kind).map_err(|source| Error::HttpServer {
            operation: format!("install the {name} handler"),
            hint: "run certa serve where it may handle signals",
            source,
        })
    };
    let mut interrupt = install(SignalKind::interrupt(), "SIGINT")?;
    let mut terminate = install(SignalKind::terminate(), "SIGTERM")?;

    Ok(async move {
        let name = tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        };
        tracing::info!(signal = name, "received a stop signal");
    })
}

/// Binds `listen` with the standard library, so that a failure is reported
/// at once, and hands the socket to `runtime`.
pub(super) fn bind(
    runtime: &tokio::runtime::Handle,
    listen: SocketAddr,
) -> Result<tokio::net::TcpListener> {
    let listener =
        std::net::TcpListener::bind(listen).map_err(|source| listen_error(listen, source))?;
    listener
        .set_nonblocking(true)
        .map_err(|source| listen_error(listen, source))?;
    let _entered = runtime.enter();
    tokio::net::TcpListener::from_std(listener).map_err(|source| listen_error(listen, source))
}

pub(super) fn listen_error(listen: SocketAddr, source: std::io::Error) -> Error {
    Error::HttpServer {
        operation: format!("listen on {listen}"),
        hint: "choose another address, or stop the program that uses it",
        source,
    }
}

fn task_error(operation: &str, source: tokio::task::JoinError) -> Error {
    Error::HttpServer {
        operation: operation.to_owned(),
        hint: "the server's log has the details",
        source: std::io::Error::other(source),
    }
}
