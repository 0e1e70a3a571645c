//! The CA server's HTTP API: JSON over HTTP/1.1, served with warp and used
//! with reqwest.
//!
//! | method and path | does |
//! |---|---|
//! | `GET /v1/ca` | the CA certificate (PEM), its chain, subject, fingerprints and file name root |
//! | `POST /v1/requests` | submits a CSR with a contact; 201 with the request id |
//! | `GET /v1/requests/{id}` | the state of one request, and its certificate number once issued |
//! | `GET /v1/certificates?request={id}` | the certificates issued for a request |
//! | `GET /v1/certificates/{number}` | one certificate (PEM) and its details |
//! | `GET /v1/health` | `{"status": "ok"}` |
//!
//! Every error is `{"error": {"code": ..., "message": ...}}` with a fitting
//! status: 400 for a malformed body, query or CSR, 404 for an unknown id,
//! number or path, 405 for a wrong method, 411 without `Content-Length`, 413
//! for a body over [`MAX_BODY_SIZE`], 415 for a body that is not
//! `application/json`, 403 `client_certificate_required` when the server
//! requires client certificates for listing and downloading certificates
//! and the client presented none, 503 when the queue of pending requests is
//! full, and 500 for the server's own failures, whose details go to its log
//! only.
//!
//! The API is served over plain HTTP ([`start`]) or over HTTPS
//! ([`start_https`]). Over HTTPS, a client's first contact reads the CA
//! certificate from the TLS handshake ([`probe_ca_certificate`]) and trusts
//! it only after its fingerprint is checked.
//! Issuing, rejecting and listing pending requests are not on the API: they
//! are the operator's acts on the server's own instance.

pub mod api;
pub mod client;
pub mod https;
pub mod probe;
pub mod routes;
pub mod server;

pub use client::{CaClient, ClientOptions};
pub use https::{serve_https, start_https, ConnectionInfo, HttpsConfig};
pub use probe::{probe_ca_certificate, OfferedCaCertificate};
pub use routes::{routes, routes_with, RouteOptions};
pub use server::{serve, serve_until_signal, start, ServerHandle, SHUTDOWN_GRACE};

/// The largest request body the server reads, in bytes. A PEM CSR with an
/// RSA-4096 key and its contact take about 2 KiB.
pub const MAX_BODY_SIZE: usize = 64 * 1024;
