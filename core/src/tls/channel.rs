//! TLS connections that carry text messages, one per line.
//!
//! A message is UTF-8 text without a line break, at most
//! [`MAX_MESSAGE_BYTES`] long. On the wire each ends with `\n` (a `\r`
//! before it is accepted and removed), so that `openssl s_client` and
//! `s_server` can take part in a conversation.
//!
//! In TLS 1.3 a client finishes its handshake before the server has checked
//! the client's certificate. So [`connect`] waits for the server's verdict,
//! and a rejected client learns it there rather than at its first read. The
//! verdict is a session ticket (rustls and OpenSSL 3.0 servers send them
//! once they have accepted the client), a first message, or an alert.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use rustls::{ClientConfig, ProtocolVersion, ServerConfig};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{timeout, timeout_at, Instant};
use tokio_rustls::{TlsAcceptor, TlsConnector, TlsStream};

use super::failure::{connection_error, timed_out, PeerRole, TlsFailure};
use super::peer::PeerIdentity;
use super::verify::parse_server_name;
use crate::{Error, Result};

/// The maximum length of a message, in bytes, without its line break.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// How long a TCP connection plus the handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The advice of a connection or handshake that timed out.
const UNANSWERED: &str = "check that the peer is reachable and speaks TLS on that port";

/// How long [`connect`] waits, after a TLS 1.3 handshake, for the server to
/// accept or reject the client.
///
/// NOTE: a server that sends no session ticket and no message makes
/// `connect` wait this long. If such a server rejects the client later than
/// this, the rejection shows at the first [`TlsConnection::receive`] or
/// [`TlsConnection::send`].
const SERVER_VERDICT_WAIT: Duration = Duration::from_secs(2);

/// A bound TCP socket that accepts TLS connections.
pub struct TlsListener {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    address: SocketAddr,
}

impl TlsListener {
    /// Binds `address` (port 0 picks a free port) and accepts with `config`.
    ///
    /// # Errors
    ///
    /// [`Error::Tls`] when the address cannot be bound.
    pub async fn bind(address: SocketAddr, config: Arc<ServerConfig>) -> Result<Self> {
        let listener = TcpListener::bind(address)
            .await
            .map_err(|e| Error::Tls {
                operation: format!("listen on {address}"),
                failure: TlsFailure::Other,
                reason: format!("the address cannot be bound ({e}); pick another port or stop the process that holds it"),
                source: Some(Box::new(e)),
            })?;
        let address = listener.local_addr().map_err(|e| Error::Tls {
            operation: format!("listen on {address}"),
            failure: TlsFailure::Other,
            reason: format!("the bound address cannot be read: {e}"),
            source: Some(Box::new(e)),
        })?;

        tracing::info!(%address, "listening for TLS connections");
        Ok(TlsListener {
            listener,
            acceptor: TlsAcceptor::from(config),
            address,
        })
    }

    /// Returns the bound address, with the port the system chose for port 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// Waits for the next TCP connection and completes its handshake, with
    /// [`HANDSHAKE_TIMEOUT`] for the handshake. A rejected handshake is
    /// logged with its reason and returned as an error, so call `accept`
    /// again for the next connection. A client without certificate is
    /// rejected even where the configuration does not require one.
    ///
    /// # Errors
    ///
    /// [`Error::Tls`] whose [`TlsFailure`] names the check that failed:
    /// the client's certificate is from another CA, expired, for another
    /// name, missing, and so on.
    pub async fn accept(&self) -> Result<TlsConnection> {
        let (tcp, peer_address) = self.listener.accept().await.map_err(|e| Error::Tls {
            operation: format!("accept on {}", self.address),
            failure: TlsFailure::Other,
            reason: format!("no TCP connection could be accepted: {e}"),
            source: Some(Box::new(e)),
        })?;

        let operation = format!("handshake with client {peer_address}");
        let stream = match timeout(HANDSHAKE_TIMEOUT, self.acceptor.accept(tcp)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                return Err(rejected(connection_error(operation, PeerRole::Client, e)));
            }
            Err(_) => {
                let error = timed_out(operation, HANDSHAKE_TIMEOUT, "the handshake", UNANSWERED);
                return Err(rejected(error));
            }
        };

        // The verifier has enforced the listener's ClientAuth, so a missing
        // certificate here means that ClientAuth.required is false.
        let peer = match stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
        {
            Some(end_entity) => Some(PeerIdentity::from_der(end_entity)?),
            None => None,
        };
        let connection = TlsConnection::new(
            TlsStream::Server(stream),
            peer,
            peer_address,
            PeerRole::Client,
        );
        let subject = connection
            .peer
            .as_ref()
            .map_or("none (no client certificate)", |peer| peer.subject.as_str());
        tracing::info!(%peer_address, subject, protocol = %connection.protocol(), "accepted a TLS connection");
        Ok(connection)
    }
}

/// Logs a handshake the listener rejected, and returns the error.
fn rejected(error: Error) -> Error {
    tracing::warn!(code = error.code(), %error, "rejected a TLS handshake");
    error
}

/// Connects to `address` (`host:port`), verifies that the server's
/// certificate is valid for `server_name` (a DNS name or an IP address), and
/// completes the handshake with `config`, within [`HANDSHAKE_TIMEOUT`].
///
/// In TLS 1.3 it then waits up to 2 s for the server to accept the client's
/// certificate (see the module documentation), so that a rejection is
/// reported here as [`TlsFailure::RejectedByPeer`].
///
/// # Errors
///
/// [`Error::InvalidInput`] for a `server_name` that is neither a DNS name
/// nor an IP address; [`Error::Tls`] whose [`TlsFailure`] names the reason the
/// connection or the handshake failed.
pub async fn connect(
    address: &str,
    server_name: &str,
    config: Arc<ClientConfig>,
) -> Result<TlsConnection> {
    let name = parse_server_name(
        server_name,
        "TLS server name",
        "give the name the server's certificate carries",
    )?;
    let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
    let operation = format!("connection to {address} ({server_name})");

    let tcp = match timeout_at(deadline, TcpStream::connect(address)).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => {
            return Err(Error::Tls {
                operation,
                failure: TlsFailure::Other,
                reason: format!(
                    "the TCP connection failed ({e}); check the address and that the listener runs"
                ),
                source: Some(Box::new(e)),
            })
        }
        Err(_) => {
            return Err(timed_out(
                operation,
                HANDSHAKE_TIMEOUT,
                "the TCP connection",
                UNANSWERED,
            ))
        }
    };
    let peer_address = tcp
        .peer_addr()
        .map_err(|e| connection_error(operation.clone(), PeerRole::Server, e))?;

    let connector = TlsConnector::from(config);
    let stream = match timeout_at(deadline, connector.connect(name, tcp)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Err(connection_error(operation, PeerRole::Server, e)),
        Err(_) => {
            return Err(timed_out(
                operation,
                HANDSHAKE_TIMEOUT,
                "the handshake",
                UNANSWERED,
            ))
        }
    };
    // rustls fails a client handshake without a server certificate.
    let Some(end_entity) = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
    else {
        return Err(Error::Tls {
            operation,
            failure: TlsFailure::NoCertificate,
            reason: "the server presented no certificate".to_owned(),
            source: None,
        });
    };
    let peer = PeerIdentity::from_der(end_entity)?;
    let mut connection = TlsConnection::new(
        TlsStream::Client(stream),
        Some(peer),
        peer_address,
        PeerRole::Server,
    );

    if let Err(e) = connection.await_server_verdict().await {
        return Err(connection_error(operation, PeerRole::Server, e));
    }
    tracing::info!(%peer_address, server_name, protocol = %connection.protocol(), "connected over TLS");
    Ok(connection)
}

/// An established TLS connection; its peer is verified as [`TlsConnection::peer`] describes.
#[derive(Debug)]
pub struct TlsConnection {
    stream: BufReader<TlsStream<TcpStream>>,
    peer: Option<PeerIdentity>,
    peer_address: SocketAddr,
    peer_role: PeerRole,
    /// The start of a message whose line break has not arrived yet.
    partial: Vec<u8>,
}

impl TlsConnection {
    fn new(
        stream: TlsStream<TcpStream>,
        peer: Option<PeerIdentity>,
        peer_address: SocketAddr,
        peer_role: PeerRole,
    ) -> Self {
        TlsConnection {
            stream: BufReader::new(stream),
            peer,
            peer_address,
            peer_role,
            partial: Vec::new(),
        }
    }

    /// Returns the verified identity of the other side: always present on
    /// the connecting side, and on the listening side unless the listener's
    /// [`ClientAuth`](super::ClientAuth) lets a client in without a certificate.
    pub fn peer(&self) -> Option<&PeerIdentity> {
        self.peer.as_ref()
    }

    /// Returns the other side's address.
    pub fn peer_address(&self) -> SocketAddr {
        self.peer_address
    }

    /// The negotiated protocol version and cipher suite, as `TLSv1.3 TLS13_AES_256_GCM_SHA384`.
    pub fn protocol(&self) -> String {
        let state = self.stream.get_ref().get_ref().1;
        let version = match state.protocol_version() {
            Some(ProtocolVersion::TLSv1_3) => "TLSv1.3".to_owned(),
            Some(ProtocolVersion::TLSv1_2) => "TLSv1.2".to_owned(),
            Some(other) => format!("{other:?}"),
            None => "unknown version".to_owned(),
        };
        match state.negotiated_cipher_suite() {
            Some(suite) => format!("{version} {:?}", suite.suite()),
            None => version,
        }
    }

    /// Sends one message.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a message with a line break or longer than
    /// [`MAX_MESSAGE_BYTES`]; [`Error::Tls`] when the connection fails.
    /// A send does not read, so an alert the peer sent after the handshake
    /// shows at the next [`receive`](TlsConnection::receive).
    pub async fn send(&mut self, message: &str) -> Result<()> {
        if message.contains(['\n', '\r']) {
            return Err(Error::invalid_input(
                "TLS message",
                "it contains a line break, which ends a message on the wire; send each line as its own message",
            ));
        }
        if message.len() > MAX_MESSAGE_BYTES {
            return Err(Error::invalid_input(
                "TLS message",
                format!(
                    "it is {} bytes long, more than the maximum of {MAX_MESSAGE_BYTES}; split it",
                    message.len()
                ),
            ));
        }

        let mut line = Vec::with_capacity(message.len() + 1);
        line.extend_from_slice(message.as_bytes());
        line.push(b'\n');
        let stream = self.stream.get_mut();
        let written = async {
            stream.write_all(&line).await?;
            stream.flush().await
        };
        if let Err(e) = written.await {
            return Err(self.failure(format!("send to {}", self.peer_address), e));
        }
        Ok(())
    }

    /// Waits up to `timeout` for the next message. Returns `None` when the
    /// peer has closed the connection (with close_notify, or by closing TCP
    /// without it). A message is returned without its line break and without
    /// a `\r` before it. Text received before a time-out is kept for the next call.
    ///
    /// # Errors
    ///
    /// [`Error::Tls`] on a time-out (with [`TlsFailure::TimedOut`]), a message
    /// that is not UTF-8, a message longer than [`MAX_MESSAGE_BYTES`] (after
    /// which the rest of it arrives as the next message, so close the
    /// connection), and a failed connection, with
    /// [`TlsFailure::RejectedByPeer`] when the peer has rejected us.
    pub async fn receive(&mut self, timeout: Duration) -> Result<Option<String>> {
        let operation = format!("receive from {}", self.peer_address);
        let line = match tokio::time::timeout(timeout, self.read_line()).await {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => return Err(self.failure(operation, e)),
            Err(_) => return Err(timed_out(
                operation,
                timeout,
                "waiting for a message",
                "the peer sent no complete message in that time, so wait longer or ask the peer to send",
            )),
        };
        let Some(mut line) = line else {
            return Ok(None);
        };

        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.len() > MAX_MESSAGE_BYTES {
            return Err(self.invalid_message(operation, &too_long()));
        }
        match String::from_utf8(line) {
            Ok(message) => Ok(Some(message)),
            Err(_) => Err(self.invalid_message(
                operation,
                "it is not UTF-8 text; ask the peer to send UTF-8",
            )),
        }
    }

    /// Sends the TLS close_notify alert and closes the connection. A peer
    /// that has closed its side already needs no alert, so a connection it
    /// reset or whose pipe is broken closes without an error.
    ///
    /// # Errors
    ///
    /// [`Error::Tls`] when the alert cannot be sent for another reason.
    pub async fn close(mut self) -> Result<()> {
        match self.stream.get_mut().shutdown().await {
            Ok(()) => {
                tracing::debug!(peer_address = %self.peer_address, "closed a TLS connection");
                Ok(())
            }
            Err(e) if is_closed_by_peer(&e) => {
                tracing::debug!(peer_address = %self.peer_address, error = %e, "closed a TLS connection that the peer had closed already");
                Ok(())
            }
            Err(e) => Err(self.failure(format!("close of {}", self.peer_address), e)),
        }
    }

    /// Reads up to the next `\n` into `partial` and returns the line without
    /// it. At the end of the stream, returns what is left, or `None`.
    async fn read_line(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            let available = match self.stream.fill_buf().await {
                Ok(available) => available,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    tracing::debug!(peer_address = %self.peer_address, "the peer closed TCP without close_notify");
                    &[]
                }
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                if self.partial.is_empty() {
                    return Ok(None);
                }
                return Ok(Some(std::mem::take(&mut self.partial)));
            }

            if let Some(end) = available.iter().position(|&byte| byte == b'\n') {
                self.partial.extend_from_slice(&available[..end]);
                self.stream.consume(end + 1);
                return Ok(Some(std::mem::take(&mut self.partial)));
            }
            let length = available.len();
            self.partial.extend_from_slice(available);
            self.stream.consume(length);
            // One byte more than the maximum leaves room for a `\r`.
            if self.partial.len() > MAX_MESSAGE_BYTES + 1 {
                self.partial.clear();
                return Err(io::Error::new(io::ErrorKind::InvalidData, MessageTooLong));
            }
        }
    }

    /// Waits up to [`SERVER_VERDICT_WAIT`] for a TLS 1.3 server to accept
    /// the client (a session ticket or a message) or reject it (an alert).
    async fn await_server_verdict(&mut self) -> io::Result<()> {
        let TlsStream::Client(client) = self.stream.get_ref() else {
            return Ok(());
        };
        if client.get_ref().1.protocol_version() != Some(ProtocolVersion::TLSv1_3) {
            return Ok(());
        }

        let stream = &mut self.stream;
        let verdict = poll_fn(|cx| {
            if tickets_received(stream) > 0 {
                return Poll::Ready(Ok(()));
            }
            match Pin::new(&mut *stream).poll_fill_buf(cx).map_ok(|_| ()) {
                // A message, or the end of the stream, which `receive` reports.
                Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    Poll::Ready(Ok(()))
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending if tickets_received(stream) > 0 => Poll::Ready(Ok(())),
                Poll::Pending => Poll::Pending,
            }
        });
        match timeout(SERVER_VERDICT_WAIT, verdict).await {
            Ok(result) => result,
            Err(_) => {
                tracing::debug!(peer_address = %self.peer_address, "the TLS 1.3 server sent no session ticket; going on without its verdict");
                Ok(())
            }
        }
    }

    fn failure(&self, operation: String, error: io::Error) -> Error {
        if error
            .get_ref()
            .is_some_and(|inner| inner.is::<MessageTooLong>())
        {
            return self.invalid_message(operation, &too_long());
        }
        connection_error(operation, self.peer_role, error)
    }

    fn invalid_message(&self, operation: String, why: &str) -> Error {
        Error::Tls {
            operation,
            failure: TlsFailure::Other,
            reason: format!(
                "a message from the {} is invalid: {why}",
                self.peer_role.name()
            ),
            source: None,
        }
    }
}

fn tickets_received(stream: &BufReader<TlsStream<TcpStream>>) -> u32 {
    match stream.get_ref() {
        TlsStream::Client(client) => client.get_ref().1.tls13_tickets_received(),
        TlsStream::Server(_) => 0,
    }
}

fn too_long() -> String {
    format!("it is longer than the maximum of {MAX_MESSAGE_BYTES} bytes; close the connection, because the rest of the message arrives as the next one")
}

/// A line longer than [`MAX_MESSAGE_BYTES`], as the cause of an I/O error.
#[derive(Debug)]
struct MessageTooLong;

impl std::fmt::Display for MessageTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a line is longer than {MAX_MESSAGE_BYTES} bytes")
    }
}

impl std::error::Error for MessageTooLong {}

/// Returns whether `error` means that the peer has closed the connection already.
fn is_closed_by_peer(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset | io::ErrorKind::NotConnected
    )
}
