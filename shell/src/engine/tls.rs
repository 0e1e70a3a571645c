//! Mutual TLS between CA clients: listen, connect, and exchange text messages.
//!
//! A client instance that holds a certificate (fetched with
//! `fetch_certificate`) listens with `tls_listen` or connects with
//! `tls_connect`, both with the CA certificate it fetched as the only trust
//! anchor. A listener accepts in the background on the shell's Tokio runtime,
//! because a script is sequential: while the script runs the connecting side,
//! the listener's handshake goes on in a task, and `accept` later takes the
//! finished connection, or the handshake's failure, from a queue.
//!
//! Connections carry one line of text per message. Every failure is a script
//! error whose code names the check that failed (`tls_untrusted_issuer`,
//! `tls_name_mismatch`, `tls_timed_out`, ...).

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use certa_core::client::ClientInstance;
use certa_core::key::SecretString;
use certa_core::tls::{
    client_config, server_config, ClientAuth, PeerIdentity, TlsConnection, TlsIdentity, TlsListener,
};
use rhai::{Dynamic, Engine, Map, INT};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::client::{open_client_store, with_client_key};
use super::errors::{core_error, invalid_argument, script_error, ScriptResult};
use super::https::{REQUIRE_CLIENT_CERTIFICATE, REQUIRE_CLIENT_CERTIFICATES};
use super::instance::Instance;
use super::options::Options;
use super::values::Fields;
use super::Shell;
use crate::secrets::{PLAIN_SECRET_OPTIONS, SECRET_OPTIONS};

/// How long `accept` and `receive` wait when the call gives no time-out, in seconds.
const DEFAULT_WAIT_SECONDS: u64 = 30;

/// How many finished handshakes (or their failures) wait for `accept`. The
/// background task stops accepting while the queue is full.
const ACCEPT_QUEUE: usize = 16;

/// The code of a time-out, the same that a TLS time-out in the core has.
const TIMED_OUT_CODE: &str = "tls_timed_out";

/// The code of a call on a stopped listener or a closed connection.
const CLOSED_CODE: &str = "closed";

/// Registers the TLS functions and the listener and connection types.
pub fn register(engine: &mut Engine, shell: &Arc<Shell>) {
    register_on_instances!(engine, shell, "tls_listen", tls_listen, options: Map);
    register_on_instances!(engine, shell, "tls_connect", tls_connect, options: Map);

    engine
        .register_type_with_name::<Listener>("Listener")
        .register_fn("to_string", |listener: &mut Listener| listener.to_string())
        .register_fn("to_debug", |listener: &mut Listener| listener.to_string())
        .register_get("host", |listener: &mut Listener| {
            listener.inner.address.ip().to_string()
        })
        .register_get("port", |listener: &mut Listener| {
            INT::from(listener.inner.address.port())
        })
        .register_get("address", |listener: &mut Listener| {
            listener.inner.address.to_string()
        })
        .register_get("subject", |listener: &mut Listener| {
            listener.inner.subject.clone()
        });
    engine
        .register_type_with_name::<Connection>("Connection")
        .register_fn("to_string", |connection: &mut Connection| {
            connection.to_string()
        })
        .register_fn("to_debug", |connection: &mut Connection| {
            connection.to_string()
        });

    let runner = Arc::clone(shell);
    engine.register_fn("accept", move |listener: &mut Listener| {
        listener.accept(&runner, DEFAULT_WAIT_SECONDS)
    });
    let runner = Arc::clone(shell);
    engine.register_fn("accept", move |listener: &mut Listener, seconds: INT| {
        let seconds = wait_seconds("accept", seconds)?;
        listener.accept(&runner, seconds)
    });
    engine.register_fn("stop_listening", |listener: &mut Listener| listener.stop());

    let runner = Arc::clone(shell);
    engine.register_fn("send", move |connection: &mut Connection, text: &str| {
        connection.send(&runner, text)
    });
    let runner = Arc::clone(shell);
    engine.register_fn("receive", move |connection: &mut Connection| {
        connection.receive(&runner, DEFAULT_WAIT_SECONDS)
    });
    let runner = Arc::clone(shell);
    engine.register_fn(
        "receive",
        move |connection: &mut Connection, seconds: INT| {
            let seconds = wait_seconds("receive", seconds)?;
            connection.receive(&runner, seconds)
        },
    );
    let runner = Arc::clone(shell);
    engine.register_fn("close", move |connection: &mut Connection| {
        connection.close(&runner)
    });
    engine.register_fn("peer", |connection: &mut Connection| -> Dynamic {
        match &connection.inner.peer {
            Some(peer) => peer_fields(peer).into(),
            None => Dynamic::UNIT,
        }
    });
}

/// Reads a time-out argument in whole seconds.
fn wait_seconds(function: &str, seconds: INT) -> ScriptResult<u64> {
    match u64::try_from(seconds) {
        Ok(value) if value > 0 => Ok(value),
        _ => Err(invalid_argument(
            function,
            format!("the time-out must be a positive number of seconds, not {seconds}"),
        )),
    }
}

/// Returns the fields of a listener or connection value, for `show` and the REPL.
pub fn fields_of(value: &Dynamic) -> Option<Map> {
    if let Some(listener) = value.read_lock::<Listener>() {
        return Some(listener.fields());
    }
    if let Some(connection) = value.read_lock::<Connection>() {
        return Some(connection.fields());
    }
    None
}

fn tls_listen(shell: &Shell, instance: &Instance, options: Map) -> ScriptResult<Listener> {
    let mut allowed = vec![
        "root",
        "listen",
        "peer_name",
        REQUIRE_CLIENT_CERTIFICATES,
        REQUIRE_CLIENT_CERTIFICATE,
    ];
    allowed.extend(SECRET_OPTIONS);
    let mut options = Options::new("tls_listen", options).allow(&allowed)?;
    let root = options.string("root")?;
    let listen = options
        .opt_string("listen")?
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let address: SocketAddr = listen.parse().map_err(|e| {
        invalid_argument(
            "tls_listen",
            format!(
                "listen address {listen:?} is not an IP address and port such as 127.0.0.1:0 ({e})"
            ),
        )
    })?;
    let expected_names = options.opt_string_or_strings("peer_name")?;
    let required = options
        .opt_flag_or_alias(REQUIRE_CLIENT_CERTIFICATES, REQUIRE_CLIENT_CERTIFICATE)?
        .unwrap_or(true);
    if !required && !expected_names.is_empty() {
        return Err(invalid_argument(
            "tls_listen",
            "peer_name needs a client certificate to check; leave out require_client_certificates: false",
        ));
    }

    let client = ClientInstance::new(instance.directory());
    let trust = client.trust_anchors().map_err(core_error)?;
    let identity = load_identity(shell, instance, &client, &root, options)?;
    let client_auth = ClientAuth {
        required,
        expected_names: expected_names.clone(),
    };
    let config = server_config(&identity, &trust, &client_auth).map_err(core_error)?;

    let runtime = shell.runtime()?;
    let listener = runtime
        .block_on(TlsListener::bind(address, config))
        .map_err(core_error)?;
    let bound = listener.local_addr();
    let (queue, accepted) = mpsc::channel(ACCEPT_QUEUE);
    let task = runtime.spawn(accept_in_background(listener, queue));
    tracing::info!(address = %bound, subject = identity.subject(), "listening for TLS connections");

    Ok(Listener {
        inner: Arc::new(ListenerInner {
            address: bound,
            subject: identity.subject().to_owned(),
            root,
            expected_names,
            required,
            accepted: Mutex::new(Some(accepted)),
            task: Mutex::new(Some(task)),
        }),
    })
}

/// Accepts connections and completes their handshakes until the listener is
/// stopped, queueing each connection or handshake failure for `accept`.
async fn accept_in_background(
    listener: TlsListener,
    queue: mpsc::Sender<certa_core::Result<TlsConnection>>,
) {
    let address = listener.local_addr();
    loop {
        let accepted = listener.accept().await;
        if let Err(error) = &accepted {
            tracing::debug!(%address, code = error.code(), "queued a failed TLS handshake: {error}");
        }
        if queue.send(accepted).await.is_err() {
            tracing::debug!(%address, "the listener value is gone; no longer accepting");
            return;
        }
    }
}

fn tls_connect(shell: &Shell, instance: &Instance, options: Map) -> ScriptResult<Connection> {
    let mut allowed = vec!["root", "host", "port", "server_name"];
    allowed.extend(SECRET_OPTIONS);
    let mut options = Options::new("tls_connect", options).allow(&allowed)?;
    let root = options.opt_string("root")?;
    let host = options.string("host")?;
    let port = read_port(&mut options)?;
    let server_name = options
        .opt_string("server_name")?
        .unwrap_or_else(|| host.clone());

    let client = ClientInstance::new(instance.directory());
    let trust = client.trust_anchors().map_err(core_error)?;
    let identity = match &root {
        Some(root) => Some(load_identity(shell, instance, &client, root, options)?),
        None => {
            options.finish()?;
            None
        }
    };
    let config = client_config(identity.as_ref(), &trust).map_err(core_error)?;

    let address = format!("{host}:{port}");
    let connection = shell
        .runtime()?
        .block_on(certa_core::tls::connect(&address, &server_name, config))
        .map_err(core_error)?;
    let peer = connection.peer().map_or("", |peer| peer.subject.as_str());
    tracing::info!(%address, peer, "connected with TLS");
    Ok(Connection::new(connection, "connected"))
}

fn read_port(options: &mut Options) -> ScriptResult<u16> {
    let Some(port) = options.opt_int("port")? else {
        return Err(invalid_argument(
            "tls_connect",
            "option port is missing; add port: listener.port",
        ));
    };
    u16::try_from(port)
        .ok()
        .filter(|port| *port > 0)
        .ok_or_else(|| {
            invalid_argument(
                "tls_connect",
                format!("port {port} is not a TCP port; give 1 to 65535"),
            )
        })
}

/// Unlocks the client's key for `root` and pairs it with its certificate and
/// the CA certificate. The secret comes from the options, the URI's PIN
/// source, the environment or a prompt, as for `fetch_certificate`.
fn load_identity(
    shell: &Shell,
    instance: &Instance,
    client: &ClientInstance,
    root: &str,
    options: Options,
) -> ScriptResult<TlsIdentity> {
    let key = client.key_uri(root).map_err(core_error)?;
    let store = open_client_store(client, instance, root)?;
    with_client_key(
        shell,
        root,
        &key,
        options,
        PLAIN_SECRET_OPTIONS,
        |secret: Option<&SecretString>| client.tls_identity(store.as_ref(), root, secret),
    )
}

/// A TLS listener as a script value: it accepts in the background until
/// `stop_listening`.
#[derive(Clone)]
pub struct Listener {
    inner: Arc<ListenerInner>,
}

struct ListenerInner {
    address: SocketAddr,
    subject: String,
    root: String,
    expected_names: Vec<String>,
    required: bool,
    /// Finished handshakes; `None` once the listener is stopped.
    accepted: Mutex<Option<mpsc::Receiver<certa_core::Result<TlsConnection>>>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Listener {
    fn accept(&mut self, shell: &Shell, seconds: u64) -> ScriptResult<Connection> {
        let mut slot = lock(&self.inner.accepted);
        let Some(accepted) = slot.as_mut() else {
            return Err(script_error(
                CLOSED_CODE,
                format!(
                    "accept: the listener on {} is stopped; start another with tls_listen",
                    self.inner.address
                ),
            ));
        };

        // The timer is made inside the runtime, which it needs.
        let waited = shell.runtime()?.block_on(async {
            tokio::time::timeout(Duration::from_secs(seconds), accepted.recv()).await
        });
        match waited {
            Ok(Some(Ok(connection))) => Ok(Connection::new(connection, "accepted")),
            Ok(Some(Err(error))) => Err(core_error(error)),
            Ok(None) => Err(script_error(
                CLOSED_CODE,
                format!(
                    "accept: the listener on {} stopped accepting; start another with tls_listen",
                    self.inner.address
                ),
            )),
            Err(_) => Err(script_error(
                TIMED_OUT_CODE,
                format!(
                    "accept: no connection reached {} within {seconds} s; connect first, or give a longer time-out as accept(listener, seconds)",
                    self.inner.address
                ),
            )),
        }
    }

    /// Stops accepting and closes the socket; returns whether it was accepting.
    fn stop(&mut self) -> bool {
        let task = lock(&self.inner.task).take();
        lock(&self.inner.accepted).take();
        let Some(task) = task else {
            return false;
        };
        task.abort();
        tracing::info!(address = %self.inner.address, "stopped listening for TLS connections");
        true
    }

    fn fields(&self) -> Map {
        let listening = lock(&self.inner.task).is_some();
        Fields::new()
            .text("address", self.inner.address.to_string())
            .text("host", self.inner.address.ip().to_string())
            .number("port", u64::from(self.inner.address.port()))
            .text("root", self.inner.root.clone())
            .text("subject", self.inner.subject.clone())
            .text(
                "client_certificate",
                if self.inner.required {
                    "required"
                } else {
                    "optional"
                },
            )
            .texts("peer_names", &self.inner.expected_names)
            .text("state", if listening { "listening" } else { "stopped" })
            .build()
    }
}

impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "listener({}, {})",
            self.inner.address, self.inner.subject
        )
    }
}

/// The peer shown for a client a listener let in without a certificate.
const ANONYMOUS_PEER: &str = "none (the client presented no certificate)";

/// A TLS connection, as a script value.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<ConnectionInner>,
}

struct ConnectionInner {
    /// The verified peer; `None` for a client a listener let in without a certificate.
    peer: Option<PeerIdentity>,
    peer_address: SocketAddr,
    protocol: String,
    /// `"accepted"` or `"connected"`: which side this instance is.
    side: &'static str,
    /// The open connection; `None` once closed.
    stream: Mutex<Option<TlsConnection>>,
}

impl Connection {
    fn new(connection: TlsConnection, side: &'static str) -> Self {
        Connection {
            inner: Arc::new(ConnectionInner {
                peer: connection.peer().cloned(),
                peer_address: connection.peer_address(),
                protocol: connection.protocol(),
                side,
                stream: Mutex::new(Some(connection)),
            }),
        }
    }

    fn closed_error(&self, function: &str) -> Box<rhai::EvalAltResult> {
        script_error(
            CLOSED_CODE,
            format!(
                "{function}: the connection with {} ({}) is closed; open another with tls_connect or accept",
                self.inner.peer_address,
                self.peer_subject()
            ),
        )
    }

    fn send(&mut self, shell: &Shell, text: &str) -> ScriptResult<()> {
        let mut slot = lock(&self.inner.stream);
        let Some(stream) = slot.as_mut() else {
            return Err(self.closed_error("send"));
        };
        shell
            .runtime()?
            .block_on(stream.send(text))
            .map_err(core_error)
    }

    fn receive(&mut self, shell: &Shell, seconds: u64) -> ScriptResult<Dynamic> {
        let mut slot = lock(&self.inner.stream);
        let Some(stream) = slot.as_mut() else {
            return Err(self.closed_error("receive"));
        };
        let received = shell
            .runtime()?
            .block_on(stream.receive(Duration::from_secs(seconds)))
            .map_err(core_error)?;
        Ok(received.map_or(Dynamic::UNIT, Dynamic::from))
    }

    /// Sends close_notify and closes; returns whether the connection was open.
    fn close(&mut self, shell: &Shell) -> ScriptResult<bool> {
        let Some(stream) = lock(&self.inner.stream).take() else {
            return Ok(false);
        };
        shell
            .runtime()?
            .block_on(stream.close())
            .map_err(core_error)?;
        Ok(true)
    }

    fn fields(&self) -> Map {
        let open = lock(&self.inner.stream).is_some();
        let fields = Fields::new()
            .text("address", self.inner.peer_address.to_string())
            .text("side", self.inner.side)
            .text("protocol", self.inner.protocol.clone())
            .text("state", if open { "open" } else { "closed" });
        match &self.inner.peer {
            Some(peer) => fields.map("peer", peer_fields(peer)).build(),
            None => fields.text("peer", ANONYMOUS_PEER).build(),
        }
    }

    fn peer_subject(&self) -> &str {
        self.inner
            .peer
            .as_ref()
            .map_or(ANONYMOUS_PEER, |peer| peer.subject.as_str())
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "connection({}, {})",
            self.inner.peer_address,
            self.peer_subject()
        )
    }
}

/// Converts the verified peer's certificate to a result map.
fn peer_fields(peer: &PeerIdentity) -> Map {
    Fields::new()
        .text("subject", peer.subject.clone())
        .text("issuer", peer.issuer.clone())
        .texts("subject_alt_names", &peer.subject_alt_names)
        .text("serial", peer.serial.clone())
        .text("not_after", peer.not_after.clone())
        .fingerprints(&peer.fingerprints)
        .build()
}

/// Locks a slot of a listener or connection. A panic while the lock was held
/// leaves it usable: the slot holds a value or nothing, never half of one.
fn lock<T>(slot: &Mutex<T>) -> MutexGuard<'_, T> {
    slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
