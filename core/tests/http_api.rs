//! The CA server's HTTP API, driven with reqwest against a real server on
//! 127.0.0.1 over a CA instance made with OpenSSL in a temporary directory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use certa_core::ca::profile::Usage;
use certa_core::ca::server::CaServer;
use certa_core::fingerprint::Fingerprints;
use certa_core::http::{self, ServerHandle, MAX_BODY_SIZE};
use certa_core::key::software::SoftwareKey;
use certa_core::settings::{ServerSettings, Settings};
use certa_test_support::{assert_openssl_verifies, make_openssl_ca, openssl_ok};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tempfile::TempDir;

/// A CA instance: `ca/FLCA.cer` and `ca/FLCA.key` made by `openssl req -x509`,
/// the serial file, and settings with a `server` section.
struct Instance {
    dir: TempDir,
}

impl Instance {
    fn new(max_pending_requests: usize) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        make_openssl_ca(
            &dir.path().join("ca"),
            "FLCA",
            "/O=Example/CN=First Look CA",
            30,
        );
        let settings = Settings {
            server: Some(ServerSettings {
                root: "FLCA".to_owned(),
                directory: PathBuf::from("ca"),
                key: "file:ca/FLCA.key".to_owned(),
                listen: "127.0.0.1:0".to_owned(),
                max_pending_requests,
                validity_days: 30,
                https: None,
            }),
            client: None,
        };
        settings.save(dir.path()).expect("settings");
        Instance { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn ca_certificate(&self) -> PathBuf {
        self.path().join("ca/FLCA.cer")
    }

    fn open(&self) -> Arc<CaServer> {
        Arc::new(CaServer::open(self.path()).expect("open the CA server"))
    }

    fn start(&self) -> ServerHandle {
        let listen: SocketAddr = "127.0.0.1:0".parse().expect("address");
        http::start(&tokio::runtime::Handle::current(), self.open(), listen).expect("start")
    }

    /// Every file below `ca/requests/`, pending or decided.
    fn request_files(&self) -> usize {
        count_files(&self.path().join("ca/requests"))
    }

    /// The CA key, read from OpenSSL's unencrypted PKCS#8 PEM file.
    fn ca_signer(&self) -> SoftwareKey {
        let pem = fs::read_to_string(self.path().join("ca/FLCA.key")).expect("CA key");
        let (label, document) = der::Document::from_pem(&pem).expect("PEM key");
        assert_eq!(label, "PRIVATE KEY");
        SoftwareKey::from_pkcs8_der(document.as_bytes()).expect("PKCS#8 key")
    }
}

fn count_files(directory: &Path) -> usize {
    let Ok(entries) = fs::read_dir(directory) else {
        return 0;
    };
    entries
        .map(|entry| entry.expect("directory entry").path())
        .map(|path| if path.is_dir() { count_files(&path) } else { 1 })
        .sum()
}

/// A CSR made by `openssl req`, PEM.
fn openssl_csr(directory: &Path, common_name: &str) -> String {
    let csr = directory.join(format!("{common_name}.csr"));
    openssl_ok([
        "req".as_ref(),
        "-new".as_ref(),
        "-newkey".as_ref(),
        "ec".as_ref(),
        "-pkeyopt".as_ref(),
        "ec_paramgen_curve:P-256".as_ref(),
        "-nodes".as_ref(),
        "-keyout".as_ref(),
        directory.join(format!("{common_name}.key")).as_os_str(),
        "-out".as_ref(),
        csr.as_os_str(),
        "-subj".as_ref(),
        format!("/CN={common_name}").as_ref(),
    ]);
    fs::read_to_string(csr).expect("CSR")
}

fn submission(csr: &str) -> Value {
    json!({
        "name": "FLCAclient",
        "csr": csr,
        "contact": {"name": "Ada Operator", "phone": "+49 30 1234", "email": "ada@example.org"},
    })
}

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    fn new(server: &ServerHandle) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("HTTP client");
        Api {
            http,
            base: format!("http://{}", server.address()),
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("send");
        read(response).await
    }

    async fn post_json(&self, body: &Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}/v1/requests", self.base))
            .json(body)
            .send()
            .await
            .expect("send");
        read(response).await
    }

    async fn post_raw(&self, content_type: Option<&str>, body: Vec<u8>) -> (StatusCode, Value) {
        let mut request = self
            .http
            .post(format!("{}/v1/requests", self.base))
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        read(request.send().await.expect("send")).await
    }

    async fn is_healthy(&self) -> bool {
        let (status, body) = self.get("/v1/health").await;
        status == StatusCode::OK && body == json!({"status": "ok"})
    }
}

async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the {status} answer is no JSON ({e}): {text:?}"));
    (status, body)
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error code>")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_ok() {
    let instance = Instance::new(10);
    let server = instance.start();
    assert!(Api::new(&server).is_healthy().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_certificate_served() {
    let instance = Instance::new(10);
    let server = instance.start();
    let api = Api::new(&server);

    let (status, body) = api.get("/v1/ca").await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["root"], "FLCA");
    assert_eq!(body["chain_pem"], json!([]));
    let expected = openssl_ok([
        "x509".as_ref(),
        "-noout".as_ref(),
        "-fingerprint".as_ref(),
        "-sha256".as_ref(),
        "-in".as_ref(),
        instance.ca_certificate().as_os_str(),
    ]);
    let sha256 = body["fingerprints"]["sha256"].as_str().expect("SHA-256");
    assert!(expected.trim().ends_with(sha256), "{expected} vs {sha256}");
    let served = instance.path().join("served.cer");
    fs::write(&served, body["pem"].as_str().expect("PEM")).expect("write");
    assert_openssl_verifies(&instance.ca_certificate(), &served);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submission_created() {
    let instance = Instance::new(10);
    let server = instance.start();
    let api = Api::new(&server);
    let csr = openssl_csr(instance.path(), "client.example.org");

    let (status, body) = api.post_json(&submission(&csr)).await;

    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["state"], "pending");
    let (_, der) = der::Document::from_pem(&csr).expect("CSR PEM");
    assert_eq!(
        body["sha1_fingerprint"],
        Fingerprints::of(der.as_bytes()).sha1
    );
    assert_eq!(instance.request_files(), 1);

    let id = body["id"].as_str().expect("id");
    let (status, request) = api.get(&format!("/v1/requests/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(request["state"], "pending");
    assert_eq!(request["subject"], "CN=client.example.org");
    assert!(request.get("certificate_number").is_none(), "{request}");
    assert!(request.get("contact").is_none(), "{request}");

    let (status, list) = api.get(&format!("/v1/certificates?request={id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["certificates"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_json_400() {
    let instance = Instance::new(10);
    let server = instance.start();
    let api = Api::new(&server);

    let (status, body) = api
        .post_raw(Some("application/json"), b"{\"name\": ".to_vec())
        .await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body), "invalid_json");
    assert!(api.is_healthy().await);
    assert_eq!(instance.request_files(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_field_400() {
    let instance = Instance::new(10);
    let server = instance.start();
    let api = Api::new(&server);
    let mut body = submission(&openssl_csr(instance.path(), "client"));
    body["priority"] = json!("high");

    let (status, answer) = api.post_json(&body).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&answer), "invalid_json");
    let message = answer["error"]["message"].as_str().expect("message");
    assert!(message.contains("priority"), "{message}");
    assert_eq!(instance.request_files(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_contact_400() {
    let instance = Instance::new(10);
    let server = instance.start();
    let api = Api::new(&server);
    let csr = openssl_csr(instance.path(), "client");
    let body = json!({"name": "FLCAclient", "csr": csr});

    let (status, answer) = api.post_json(&body).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&answer), "invalid_json");
    assert_eq!(instance.request_files(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_csr_400() {
    let instance = Instance::new(10);
    let server = instance.start();
    let api = Api::new(&server);
    let garbage =
        "-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgQ1NS\n-----END CERTIFICATE REQUEST-----\n";

    let (status, body) = api.post_json(&submission(garbage)).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body), "invalid_csr");
    assert!(api.is_healthy().await);
    assert_eq!(instance.request_files(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_contact_name_400() {
    let instance = Instance::new(10);
    let server = instance.start();
    let api = Api::new(&server);
    let mut body = submission(&openssl_csr(instance.path(), "client"));
    body["contact"]["name"] = json!(" ");

    let (status, answer) = api.post_json(&body).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&answer), "invalid_input");
    assert_eq!(instance.request_files(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_request_404() {
    let instance = Instance::new(10);
    let server = instance.start();
    let api = Api::new(&server);

    for path in [
        "/v1/requests/0123456789abcdef",
        "/v1/requests/not-an-id",
        "/v1/requests/..",
        "/v1/certificates?request=0123456789abcdef",
    ] {
        let (status, body) = api.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(error_code(&body), "not_found", "{path}");
    }
    assert!(api.is_healthy().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_number_404() {
    let instance = Instance::new(10);
    let server = instance.start();
    let api = Api::new(&server);

    for path in ["/v1/certificates/99", "/v1/certificates/not-a-number"] {
        let (status, body) = api.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(error_code(&body), "not_found", "{path}");
    }
    let (_, body) = api.get("/v1/certificates/not-a-number").await;
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("decimal"), "{body}");
    assert!(api.is_healthy().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_route_404() {
    let instance = Instance::new(10);
    let server = instance.start();
    let api = Api::new(&server);

    for path in ["/", "/v1", "/v2/ca", "/v1/ca/extra"] {
        let (status, body) = api.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(error_code(&body), "not_found", "{path}");
    }
    assert!(api.is_healthy().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_query_400() {
    let instance = Instance::new(10);
    let server = instance.start();
    let api = Api::new(&server);

    let (status, body) = api.get("/v1/certificates").await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body), "invalid_query");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_method_405() {
    let instance = Instance::new(10);
    let server = instance.start();
    let api = Api::new(&server);

    let cases = [
        (reqwest::Method::DELETE, "/v1/requests"),
        (reqwest::Method::GET, "/v1/requests"),
        (reqwest::Method::PUT, "/v1/ca"),
        (reqwest::Method::POST, "/v1/certificates/2"),
    ];
    for (method, path) in cases {
        let response = api
            .http
            .request(method.clone(), format!("{}{path}", api.base))
            .send()
            .await
            .expect("send");
        let (status, body) = read(response).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_eq!(error_code(&body), "method_not_allowed", "{method} {path}");
    }
    assert!(api.is_healthy().await);
    assert_eq!(instance.request_files(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_body_413() {
    let instance = Instance::new(10);
    let server = instance.start();
    let api = Api::new(&server);
    let padding = "A".repeat(MAX_BODY_SIZE);
    let body = serde_json::to_vec(&submission(&padding)).expect("JSON");
    assert!(body.len() > MAX_BODY_SIZE);

    let (status, answer) = api.post_raw(Some("application/json"), body).await;

    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(&answer), "payload_too_large");
    assert!(api.is_healthy().await);
    assert_eq!(instance.request_files(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_content_type_415() {
    let instance = Instance::new(10);
    let server = instance.start();
    let api = Api::new(&server);
    let body =
        serde_json::to_vec(&submission(&openssl_csr(instance.path(), "client"))).expect("JSON");

    for content_type in [Some("text/plain"), Some("application/xml"), None] {
        let (status, answer) = api.post_raw(content_type, body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}"
        );
        assert_eq!(
            error_code(&answer),
            "unsupported_media_type",
            "{content_type:?}"
        );
    }
    assert!(api.is_healthy().await);
    assert_eq!(instance.request_files(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_with_charset_accepted() {
    let instance = Instance::new(10);
    let server = instance.start();
    let api = Api::new(&server);
    let body =
        serde_json::to_vec(&submission(&openssl_csr(instance.path(), "client"))).expect("JSON");

    let (status, _) = api
        .post_raw(Some("application/json; charset=utf-8"), body)
        .await;

    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_503() {
    let instance = Instance::new(1);
    let server = instance.start();
    let api = Api::new(&server);
    let body = submission(&openssl_csr(instance.path(), "client"));

    let (first, _) = api.post_json(&body).await;
    let (second, answer) = api.post_json(&body).await;

    assert_eq!(first, StatusCode::CREATED);
    assert_eq!(second, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error_code(&answer), "queue_full");
    assert!(api.is_healthy().await);
    assert_eq!(instance.request_files(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_pending_queue() {
    let instance = Instance::new(10);
    let mut server = instance.start();
    let csr = openssl_csr(instance.path(), "client.example.org");
    let (status, body) = Api::new(&server).post_json(&submission(&csr)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().expect("id").to_owned();
    let first_address = server.address();
    server.stop().await;

    let server = instance.start();
    let api = Api::new(&server);
    assert_ne!(server.address(), first_address);
    let (status, request) = api.get(&format!("/v1/requests/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(request["state"], "pending");

    let issuer = instance.open();
    let issued = issuer
        .issue(&id, Usage::Tls, None, &instance.ca_signer())
        .expect("issue");
    assert_eq!(issued.number, 2);

    let (status, request) = api.get(&format!("/v1/requests/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(request["state"], "issued");
    assert_eq!(request["certificate_number"], 2);
    let (status, list) = api.get(&format!("/v1/certificates?request={id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["certificates"][0]["number"], 2);
    let (status, certificate) = api.get("/v1/certificates/2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(certificate["request_id"], id.as_str());
    assert_eq!(certificate["usage"], "tls");
    assert!(certificate.get("path").is_none(), "{certificate}");

    let fetched = instance.path().join("fetched.cer");
    fs::write(&fetched, certificate["pem"].as_str().expect("PEM")).expect("write");
    assert_openssl_verifies(&instance.ca_certificate(), &fetched);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_port_names_address() {
    let instance = Instance::new(10);
    let server = instance.start();

    let error = http::start(
        &tokio::runtime::Handle::current(),
        instance.open(),
        server.address(),
    )
    .unwrap_err();

    assert_eq!(error.code(), "http_server");
    let message = error.to_string();
    assert!(message.contains(&server.address().to_string()), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_server_refuses_connections() {
    let instance = Instance::new(10);
    let mut server = instance.start();
    let api = Api::new(&server);
    assert!(api.is_healthy().await);

    server.stop().await;

    assert!(is_unreachable(server.address()).await);
}

#[test]
fn blocking_shutdown_stops_server() {
    let instance = Instance::new(10);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let listen: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let mut server = http::start(runtime.handle(), instance.open(), listen).expect("start");
    let api = Api::new(&server);
    assert!(runtime.block_on(api.is_healthy()));

    server.shutdown().expect("shutdown");

    assert!(runtime.block_on(is_unreachable(server.address())));
}

/// Whether a health check on `address` fails, with a fresh connection.
///
/// A refused connection is the usual answer. In about one run of the whole
/// suite in ten, a bare `connect` to the closed port still succeeded; a
/// likely cause is a child process that another test forks for OpenSSL and
/// that holds the listener's socket until it execs. A request then fails
/// instead, and the time-out only keeps such a case from hanging the test.
async fn is_unreachable(address: SocketAddr) -> bool {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("HTTP client");
    http.get(format!("http://{address}/v1/health"))
        .send()
        .await
        .is_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_shutdown_in_runtime_rejected() {
    let instance = Instance::new(10);
    let mut server = instance.start();

    let error = server.shutdown().unwrap_err();

    assert_eq!(error.code(), "unsupported");
    server.stop().await;
}
