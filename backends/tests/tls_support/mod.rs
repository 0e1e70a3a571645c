//! The fixture of the TLS tests. A CA server serves its HTTP API on
//! 127.0.0.1, and OpenSSL made its certificate with a start date in the
//! past, so that the tests can issue certificates that have already expired.
//! Client instances keep their keys in a real file key store, submit CSRs,
//! get them issued and fetch their certificates.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use certa_backends::file::FileKeyStore;
use certa_core::ca::builder::{build_certificate, CaIdentity, IssueParams};
use certa_core::ca::profile::Usage;
use certa_core::ca::server::CaServer;
use certa_core::client::{ClientInstance, KeyChoice, NewRequest};
use certa_core::csr::CertificateRequest;
use certa_core::http::{self, ServerHandle};
use certa_core::key::{KeyAlgorithm, KeyStore, KeyUri, SecretString};
use certa_core::name::SubjectName;
use certa_core::settings::{Contact, ServerSettings, Settings};
use certa_core::tls::{TlsIdentity, TrustAnchors};
use certa_test_support::openssl_ok;
use tempfile::TempDir;

/// The file name root of every client's key, CSR and certificate.
pub const ROOT: &str = "member";

/// The CA's file name root.
pub const CA_ROOT: &str = "TLSCA";

/// The OpenSSL configuration of `openssl ca -selfsign`, which, unlike
/// `openssl req -x509`, takes a start date.
const CA_CONFIG: &str = "\
[ca]
default_ca = backdated
[backdated]
database = index.txt
new_certs_dir = .
serial = ca.serial
default_md = sha256
policy = any_name
x509_extensions = ca_extensions
unique_subject = no
[any_name]
organizationName = optional
commonName = supplied
[ca_extensions]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
";

/// A CA server instance serving its HTTP API on 127.0.0.1.
pub struct Ca {
    pub dir: TempDir,
    handle: ServerHandle,
}

impl Ca {
    /// Makes a P-256 CA valid from 2020 to 2099 named `common_name` and serves it.
    pub fn start(common_name: &str) -> Ca {
        let dir = tempfile::tempdir().expect("temporary directory");
        make_backdated_ca(dir.path(), common_name);
        let settings = Settings {
            server: Some(ServerSettings {
                root: CA_ROOT.to_owned(),
                directory: PathBuf::from("ca"),
                key: format!("file:ca/{CA_ROOT}.key"),
                listen: "127.0.0.1:0".to_owned(),
                max_pending_requests: 10,
                validity_days: 30,
                https: None,
            }),
            client: None,
        };
        settings.save(dir.path()).expect("settings");

        let server = Arc::new(CaServer::open(dir.path()).expect("open the CA server"));
        let listen: SocketAddr = "127.0.0.1:0".parse().expect("address");
        let handle =
            http::start(&tokio::runtime::Handle::current(), server, listen).expect("start");
        Ca { dir, handle }
    }

    pub fn port(&self) -> u16 {
        self.handle.address().port()
    }

    /// Returns the path of the CA certificate (PEM).
    pub fn certificate_path(&self) -> PathBuf {
        self.dir.path().join(format!("ca/{CA_ROOT}.cer"))
    }

    /// Issues a pending request with `usage`, as the operator does.
    pub fn issue(&self, id: &str, usage: Usage) {
        let server = CaServer::open(self.dir.path()).expect("open the CA server");
        let key_store = FileKeyStore::new(self.dir.path());
        server
            .issue_with_key_store(id, usage, None, &key_store, None)
            .expect("issue");
    }

    /// Builds a certificate (DER) for the CSR file `csr` with usage `tls`,
    /// 1 day of validity and `issued_at` as the time of issuance, outside
    /// the CA's repository.
    pub fn build_certificate_at(&self, csr: &Path, serial: u64, issued_at: IssuedAt) -> Vec<u8> {
        let ca = CaIdentity::from_der(&pem_to_der(&self.certificate_path())).expect("CA identity");
        let key_store = FileKeyStore::new(self.dir.path());
        let signer = key_store
            .unlock(&KeyUri::file(format!("ca/{CA_ROOT}.key")), None)
            .expect("unlock the CA key");
        let request = CertificateRequest::from_bytes(&fs::read(csr).expect("CSR")).expect("CSR");
        let mut params = IssueParams::new(serial);
        params.usage = Usage::Tls;
        params.validity_days = 1;
        params.now = issued_at.apply(params.now);
        build_certificate(&ca, signer.as_ref(), &request, &params).expect("build certificate")
    }
}

/// The time of issuance of a certificate built outside the repository,
/// relative to now.
#[derive(Debug, Clone, Copy)]
pub enum IssuedAt {
    /// This many days ago.
    DaysAgo(u64),
    /// This many days from now.
    DaysAhead(u64),
}

impl IssuedAt {
    /// Moves `now`; generic so that this crate needs no `time` dependency.
    fn apply<T>(self, now: T) -> T
    where
        T: std::ops::Sub<Duration, Output = T> + std::ops::Add<Duration, Output = T>,
    {
        match self {
            IssuedAt::DaysAgo(days) => now - Duration::from_secs(days * 86_400),
            IssuedAt::DaysAhead(days) => now + Duration::from_secs(days * 86_400),
        }
    }
}

/// Writes `<dir>/ca/TLSCA.key`, `TLSCA.cer` (valid from 2020 to 2099) and `TLSCA.srl`.
fn make_backdated_ca(dir: &Path, common_name: &str) {
    let ca_dir = dir.join("ca");
    let scratch = dir.join("openssl-ca");
    fs::create_dir_all(&ca_dir).expect("CA directory");
    fs::create_dir_all(&scratch).expect("scratch directory");
    let key = ca_dir.join(format!("{CA_ROOT}.key"));
    let certificate = ca_dir.join(format!("{CA_ROOT}.cer"));
    let csr = scratch.join("ca.csr");
    fs::write(scratch.join("ca.cnf"), CA_CONFIG).expect("CA configuration");
    fs::write(scratch.join("index.txt"), "").expect("CA database");
    fs::write(scratch.join("ca.serial"), "01\n").expect("CA serial");

    openssl_ok([
        "genpkey".as_ref(),
        "-algorithm".as_ref(),
        "EC".as_ref(),
        "-pkeyopt".as_ref(),
        "ec_paramgen_curve:P-256".as_ref(),
        "-out".as_ref(),
        key.as_os_str(),
    ]);
    openssl_ok([
        "req".as_ref(),
        "-new".as_ref(),
        "-key".as_ref(),
        key.as_os_str(),
        "-subj".as_ref(),
        format!("/O=Example/CN={common_name}").as_ref(),
        "-out".as_ref(),
        csr.as_os_str(),
    ]);
    let output = std::process::Command::new("openssl")
        .current_dir(&scratch)
        .args(["ca", "-batch", "-selfsign", "-notext", "-config", "ca.cnf"])
        .arg("-keyfile")
        .arg(&key)
        .arg("-in")
        .arg(&csr)
        .arg("-out")
        .arg(&certificate)
        .args([
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20991231235959Z",
        ])
        .output()
        .expect("start openssl");
    assert!(
        output.status.success(),
        "openssl ca -selfsign failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    fs::write(ca_dir.join(format!("{CA_ROOT}.srl")), "02\n").expect("serial file");
}

/// Reads the first certificate of a PEM file as DER, with OpenSSL.
pub fn pem_to_der(path: &Path) -> Vec<u8> {
    let der_path = path.with_extension("der");
    openssl_ok([
        "x509".as_ref(),
        "-in".as_ref(),
        path.as_os_str(),
        "-outform".as_ref(),
        "DER".as_ref(),
        "-out".as_ref(),
        der_path.as_os_str(),
    ]);
    fs::read(der_path).expect("DER certificate")
}

/// A client instance with its own directory and file key store.
pub struct Member {
    pub dir: TempDir,
    pub client: ClientInstance,
    pub key_store: FileKeyStore,
    /// The DNS name in the certificate's subject and subjectAltName.
    pub name: String,
    pub password: Option<SecretString>,
}

impl Member {
    /// A client of `ca` that has submitted a CSR for `name` (subject
    /// `O=Example, CN=<name>`, subjectAltName `DNS:<name>`) and fetched the
    /// CA certificate; the request is still pending.
    pub async fn submitted(
        ca: &Ca,
        name: &str,
        algorithm: KeyAlgorithm,
        password: Option<&str>,
    ) -> (Member, String) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let client = ClientInstance::new(dir.path());
        let contact = Contact {
            name: "Ada Operator".to_owned(),
            phone: None,
            email: Some("ada@example.org".to_owned()),
        };
        client
            .configure("127.0.0.1", ca.port(), contact)
            .expect("configure");
        let key_store = FileKeyStore::new(dir.path());
        let password = password.map(SecretString::from);

        let mut subject = SubjectName::common_name(name);
        subject.organization = Some("Example".to_owned());
        let request = NewRequest {
            root: ROOT.to_owned(),
            subject,
            subject_alt_names: vec![format!("DNS:{name}")],
            algorithm,
            key: KeyChoice::Create,
            key_location: None,
        };
        let submitted = client
            .submit(&key_store, &request, password.as_ref())
            .await
            .expect("submit");
        client.fetch_ca_certificate().await.expect("fetch CA");

        let member = Member {
            dir,
            client,
            key_store,
            name: name.to_owned(),
            password,
        };
        (member, submitted.id)
    }

    /// A client of `ca` whose certificate for `name` was issued with usage
    /// `tls` and fetched.
    pub async fn enrolled(
        ca: &Ca,
        name: &str,
        algorithm: KeyAlgorithm,
        password: Option<&str>,
    ) -> Member {
        Member::enrolled_for(ca, name, algorithm, password, Usage::Tls).await
    }

    /// A client of `ca` whose certificate for `name` was issued with `usage` and fetched.
    pub async fn enrolled_for(
        ca: &Ca,
        name: &str,
        algorithm: KeyAlgorithm,
        password: Option<&str>,
        usage: Usage,
    ) -> Member {
        let (member, id) = Member::submitted(ca, name, algorithm, password).await;
        ca.issue(&id, usage);
        member
            .client
            .fetch_certificate(&member.key_store, ROOT, member.password.as_ref())
            .await
            .expect("fetch certificate");
        member
    }

    /// The subject as certa prints it.
    pub fn subject(&self) -> String {
        format!("O=Example, CN={}", self.name)
    }

    pub fn identity(&self) -> TlsIdentity {
        self.client
            .tls_identity(&self.key_store, ROOT, self.password.as_ref())
            .expect("TLS identity")
    }

    pub fn trust(&self) -> TrustAnchors {
        self.client.trust_anchors().expect("trust anchors")
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join("client").join(name)
    }
}
