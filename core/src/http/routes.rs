//! The routes and handlers of the CA server's HTTP API.
//!
//! Every handler returns a JSON body; every failure, including warp's own
//! rejections (unknown route, wrong method, body too large, wrong content
//! type), becomes `{"error": {"code", "message"}}` with a fitting status.
//! Repository calls do file I/O and `fsync`, so they run on tokio's blocking
//! thread pool and never on the threads that drive connections.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use super::api::{
    CaCertificateResponse, CertificateListResponse, CertificateQuery, CertificateResponse,
    ErrorDetail, ErrorResponse, HealthResponse, RequestResponse, SubmissionBody,
    SubmissionResponse,
};
use super::https::ConnectionInfo;
use super::MAX_BODY_SIZE;
use crate::ca::server::{CaServer, Submission};
use crate::{Error, Result};

/// The maximum length of a request id the API looks up. The repository's ids have 16 characters.
const MAX_ID_LENGTH: usize = 64;

/// Options of the routes that differ between servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RouteOptions {
    /// Whether listing and downloading certificates require a client
    /// certificate, which only an HTTPS connection can carry.
    pub require_client_certificates: bool,
}

/// Builds the API's routes over `server`, with every rejection turned into a JSON error.
pub fn routes(
    server: Arc<CaServer>,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static {
    routes_with(server, RouteOptions::default())
}

/// Builds the API's routes over `server` with `options`.
pub fn routes_with(
    server: Arc<CaServer>,
    options: RouteOptions,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static {
    let with_server = warp::any().map(move || Arc::clone(&server));
    let client_certificate = warp::ext::optional::<ConnectionInfo>()
        .and_then(move |connection: Option<ConnectionInfo>| async move {
            check_client_certificate(options, connection.as_ref())
        })
        .untuple_one();

    let ca = warp::path!("v1" / "ca")
        .and(warp::get())
        .and(with_server.clone())
        .then(get_ca);
    let submit = warp::path!("v1" / "requests")
        .and(warp::post())
        .and(json_content_type())
        .and(warp::body::content_length_limit(MAX_BODY_SIZE as u64))
        .and(warp::body::bytes())
        .and(peer_address())
        .and(with_server.clone())
        .then(post_request);
    let request = warp::path!("v1" / "requests" / String)
        .and(warp::get())
        .and(with_server.clone())
        .then(get_request);
    let certificates = warp::path!("v1" / "certificates")
        .and(warp::get())
        .and(client_certificate)
        .and(warp::query::<CertificateQuery>())
        .and(with_server.clone())
        .then(get_certificates);
    let certificate = warp::path!("v1" / "certificates" / String)
        .and(warp::get())
        .and(client_certificate)
        .and(with_server)
        .then(get_certificate);
    let health = warp::path!("v1" / "health").and(warp::get()).map(|| {
        json_response(
            StatusCode::OK,
            &HealthResponse {
                status: "ok".to_owned(),
            },
        )
    });

    ca.or(submit)
        .unify()
        .or(request)
        .unify()
        .or(certificates)
        .unify()
        .or(certificate)
        .unify()
        .or(health)
        .unify()
        .recover(recover)
        .unify()
}

/// Extracts the client's address: warp's own for a plain HTTP connection,
/// or the one the HTTPS server records with the connection.
fn peer_address() -> impl Filter<Extract = (Option<SocketAddr>,), Error = Infallible> + Clone {
    warp::addr::remote()
        .and(warp::ext::optional::<ConnectionInfo>())
        .map(
            |remote: Option<SocketAddr>, connection: Option<ConnectionInfo>| {
                remote.or(connection.map(|connection| connection.peer))
            },
        )
}

/// Passes a request on when the options require no client certificate or
/// the connection carries one, else rejects it with [`ClientCertificateRequired`].
fn check_client_certificate(
    options: RouteOptions,
    connection: Option<&ConnectionInfo>,
) -> std::result::Result<(), Rejection> {
    if !options.require_client_certificates {
        return Ok(());
    }
    match connection.and_then(|connection| connection.client_certificate.as_deref()) {
        Some(subject) => {
            tracing::debug!(
                client = subject,
                "a client certificate opens the certificate routes"
            );
            Ok(())
        }
        None => Err(warp::reject::custom(ClientCertificateRequired {
            peer: connection.map(|connection| connection.peer),
        })),
    }
}

// ----- Handlers -----

async fn get_ca(server: Arc<CaServer>) -> Response {
    let root = server.paths().root.clone();
    match blocking(&server, |server| server.ca_certificate()).await {
        Ok(info) => json_response(StatusCode::OK, &CaCertificateResponse::new(&root, info)),
        Err(failure) => failure.respond("read the CA certificate", None, "CA certificate"),
    }
}

async fn post_request(
    body: warp::hyper::body::Bytes,
    peer: Option<SocketAddr>,
    server: Arc<CaServer>,
) -> Response {
    let source = peer.map_or_else(|| "unknown".to_owned(), |peer| peer.to_string());
    let body: SubmissionBody = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(e) => {
            tracing::warn!(peer = %source, error = %e, "rejected a submission: invalid JSON");
            return error_response(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("invalid JSON body: {e}; send {{\"name\", \"csr\", \"contact\": {{\"name\", \"phone\", \"email\"}}}}"),
            );
        }
    };

    let submission = Submission {
        name: body.name,
        csr: body.csr.into_bytes(),
        contact: body.contact,
        source: source.clone(),
    };
    match blocking(&server, move |server| server.submit(submission)).await {
        // The repository logs the new request with its id and source.
        Ok(record) => json_response(StatusCode::CREATED, &SubmissionResponse::from(&record)),
        Err(failure) => failure.respond("submit a request", Some(&source), "request"),
    }
}

async fn get_request(id: String, server: Arc<CaServer>) -> Response {
    if !is_plausible_id(&id) {
        return not_found_response("request", &id);
    }
    let looked_up = id.clone();
    match lookup(&server, move |server| server.request(&looked_up)).await {
        Ok(record) => json_response(StatusCode::OK, &RequestResponse::from(record)),
        Err(failure) => failure.respond("read a request", None, &format!("request {id}")),
    }
}

async fn get_certificates(query: CertificateQuery, server: Arc<CaServer>) -> Response {
    let id = query.request;
    if !is_plausible_id(&id) {
        return not_found_response("request", &id);
    }
    let looked_up = id.clone();
    match lookup(&server, move |server| {
        server.certificates_for_request(&looked_up)
    })
    .await
    {
        Ok(certificates) => {
            let certificates = certificates
                .into_iter()
                .map(CertificateResponse::from)
                .collect();
            json_response(StatusCode::OK, &CertificateListResponse { certificates })
        }
        Err(failure) => failure.respond("list certificates", None, &format!("request {id}")),
    }
}

async fn get_certificate(number: String, server: Arc<CaServer>) -> Response {
    let Ok(number) = number.parse::<u64>() else {
        tracing::warn!(number = %number.escape_debug(), "rejected: malformed certificate number");
        return error_response(
            StatusCode::NOT_FOUND,
            "not_found",
            format!(
                "certificate {:?} not found; certificate numbers are decimal, as in /v1/certificates/2",
                number.chars().take(40).collect::<String>()
            ),
        );
    };
    match blocking(&server, move |server| server.certificate(number)).await {
        Ok(certificate) => json_response(StatusCode::OK, &CertificateResponse::from(certificate)),
        Err(failure) => {
            failure.respond("read a certificate", None, &format!("certificate {number}"))
        }
    }
}

/// Checks whether `id` can be a request id. Other ids are not looked up, so
/// no URL segment reaches the repository's file names unchecked.
fn is_plausible_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LENGTH
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

// ----- Running repository calls -----

/// The reason a repository call produced no value.
enum Failure {
    Repository(Error),
    Task(tokio::task::JoinError),
}

async fn blocking<T, F>(server: &Arc<CaServer>, call: F) -> std::result::Result<T, Failure>
where
    T: Send + 'static,
    F: FnOnce(&CaServer) -> Result<T> + Send + 'static,
{
    let server = Arc::clone(server);
    match tokio::task::spawn_blocking(move || call(&server)).await {
        Ok(result) => result.map_err(Failure::Repository),
        Err(e) => Err(Failure::Task(e)),
    }
}

/// Runs a look-up by request id. The repository rejects a malformed id as
/// invalid input, but no request has such an id, so the client gets 404.
async fn lookup<T, F>(server: &Arc<CaServer>, call: F) -> std::result::Result<T, Failure>
where
    T: Send + 'static,
    F: FnOnce(&CaServer) -> Result<T> + Send + 'static,
{
    match blocking(server, call).await {
        Err(Failure::Repository(Error::InvalidInput { what, reason })) => {
            Err(Failure::Repository(Error::NotFound {
                kind: "request",
                name: format!("{what}: {reason}"),
            }))
        }
        other => other,
    }
}

impl Failure {
    /// Turns the failure into an error answer and logs it. `object` names what
    /// the client asked for ("request 0f3a…"); not-found messages use it
    /// instead of the repository's message, which may name server paths.
    fn respond(self, operation: &str, peer: Option<&str>, object: &str) -> Response {
        let peer = peer.unwrap_or("-");
        let error = match self {
            Failure::Repository(error) => error,
            Failure::Task(e) => {
                tracing::error!(%peer, %object, error = %e, "{operation} failed: the worker task did not finish");
                return internal_error_response(operation);
            }
        };

        let (status, message) = match &error {
            Error::InvalidCsr { .. } | Error::InvalidInput { .. } => {
                (StatusCode::BAD_REQUEST, error.to_string())
            }
            Error::NotFound { .. } => (
                StatusCode::NOT_FOUND,
                format!("{object} not found; check the id or number"),
            ),
            Error::AlreadyExists { .. } => (StatusCode::CONFLICT, error.to_string()),
            Error::QueueFull { .. } => (StatusCode::SERVICE_UNAVAILABLE, error.to_string()),
            _ => {
                tracing::error!(%peer, %object, error = %error, details = ?error, "{operation} failed");
                return internal_error_response(operation);
            }
        };
        tracing::warn!(%peer, %object, code = error.code(), error = %error, "rejected: {operation}");
        error_response(status, error.code(), message)
    }
}

// ----- Responses -----

fn json_response<T: serde::Serialize>(status: StatusCode, body: &T) -> Response {
    warp::reply::with_status(warp::reply::json(body), status).into_response()
}

fn error_response(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = ErrorResponse {
        error: ErrorDetail {
            code: code.to_owned(),
            message: message.into(),
        },
    };
    json_response(status, &body)
}

fn not_found_response(kind: &str, id: &str) -> Response {
    tracing::warn!(%kind, id, "rejected: malformed {kind} id");
    error_response(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("{kind} {id:?} not found; check the id the server returned on submission"),
    )
}

fn internal_error_response(operation: &str) -> Response {
    error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        format!("internal error while trying to {operation}; the CA server's log has the details"),
    )
}

// ----- Rejections -----

/// A request to list or download certificates without a client certificate,
/// on a server that requires one.
#[derive(Debug)]
struct ClientCertificateRequired {
    peer: Option<SocketAddr>,
}

impl warp::reject::Reject for ClientCertificateRequired {}

/// A `Content-Type` other than `application/json` on a request with a JSON body.
#[derive(Debug)]
struct UnsupportedContentType {
    received: Option<String>,
}

impl warp::reject::Reject for UnsupportedContentType {}

/// Requires `Content-Type: application/json`, with any parameters. warp's own
/// JSON filter accepts a request without the header; this API does not.
fn json_content_type() -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::header::optional::<String>("content-type")
        .and_then(|content_type: Option<String>| async move {
            let media_type = content_type
                .as_deref()
                .and_then(|value| value.split(';').next())
                .map(str::trim);
            match media_type {
                Some(media_type) if media_type.eq_ignore_ascii_case("application/json") => Ok(()),
                _ => Err(warp::reject::custom(UnsupportedContentType {
                    received: content_type,
                })),
            }
        })
        .untuple_one()
}

async fn recover(rejection: Rejection) -> std::result::Result<Response, Infallible> {
    use warp::reject::{
        InvalidHeader, InvalidQuery, LengthRequired, MethodNotAllowed, MissingHeader,
        PayloadTooLarge,
    };

    let (status, code, message) = if rejection.is_not_found() {
        (
            StatusCode::NOT_FOUND,
            "not_found",
            "no such resource; the API's paths are /v1/ca, /v1/requests, /v1/certificates and /v1/health".to_owned(),
        )
    } else if let Some(required) = rejection.find::<ClientCertificateRequired>() {
        let peer = required
            .peer
            .map_or_else(|| "-".to_owned(), |peer| peer.to_string());
        tracing::warn!(%peer, "rejected a certificate request without a client certificate");
        (
            StatusCode::FORBIDDEN,
            "client_certificate_required",
            "this CA server lists and serves certificates only to clients that present a certificate it issued; connect over HTTPS with the client's key and certificate as its TLS identity and try again".to_owned(),
        )
    } else if let Some(unsupported) = rejection.find::<UnsupportedContentType>() {
        let received = unsupported.received.as_deref().unwrap_or("none");
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "content type {received:?} is not supported; send the body as application/json"
            ),
        )
    } else if rejection.find::<PayloadTooLarge>().is_some() {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than {MAX_BODY_SIZE} bytes; a CSR with its contact fits in far less"),
        )
    } else if rejection.find::<LengthRequired>().is_some() {
        (
            StatusCode::LENGTH_REQUIRED,
            "length_required",
            "the request has no Content-Length header; send the body with its length, not chunked"
                .to_owned(),
        )
    } else if rejection.find::<MethodNotAllowed>().is_some() {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "method not allowed on this path; POST /v1/requests submits, everything else is GET"
                .to_owned(),
        )
    } else if rejection.find::<InvalidQuery>().is_some() {
        (
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "invalid query; list certificates with /v1/certificates?request=ID".to_owned(),
        )
    } else if let Some(header) = rejection.find::<InvalidHeader>() {
        (
            StatusCode::BAD_REQUEST,
            "invalid_header",
            format!("invalid {} header", header.name()),
        )
    } else if let Some(header) = rejection.find::<MissingHeader>() {
        (
            StatusCode::BAD_REQUEST,
            "missing_header",
            format!("missing {} header", header.name()),
        )
    } else {
        tracing::error!(rejection = ?rejection, "unexpected rejection");
        return Ok(internal_error_response("route the request"));
    };

    tracing::warn!(
        status = status.as_u16(),
        code,
        "rejected a request: {message}"
    );
    // The request's body may be left unread on the connection, as with a 413
    // before the body is read, so the connection is closed instead of reused.
    let mut response = error_response(status, code, message);
    response.headers_mut().insert(
        warp::http::header::CONNECTION,
        warp::http::HeaderValue::from_static("close"),
    );
    Ok(response)
}
