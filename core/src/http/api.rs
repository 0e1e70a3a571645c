//! The JSON bodies of the CA server's HTTP API, shared by the server and the client.
//!
//! Request bodies reject unknown fields, so that a misspelt field is an error
//! and not silently dropped. Response bodies accept unknown fields, so that a
//! client keeps working when a newer server adds some.

use serde::{Deserialize, Serialize};

use crate::ca::server::{CaCertificateInfo, IssuedCertificate, RequestRecord, RequestState};
use crate::fingerprint::Fingerprints;
use crate::settings::Contact;

/// `GET /v1/ca`: the CA certificate and what clients check it by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaCertificateResponse {
    /// The CA's file name root; clients save the certificate as `<root>.cer`.
    pub root: String,
    /// The CA certificate, PEM.
    pub pem: String,
    /// The certificates above an intermediate CA, issuer first, PEM; empty for a root CA.
    pub chain_pem: Vec<String>,
    /// The CA's subject, in OpenSSL's one-line form.
    pub subject: String,
    /// Start of validity, RFC 3339 UTC.
    pub not_before: String,
    /// End of validity, RFC 3339 UTC.
    pub not_after: String,
    /// SHA-1 and SHA-256 fingerprints of the certificate (DER).
    pub fingerprints: Fingerprints,
}

impl CaCertificateResponse {
    /// Builds the response from the server's CA certificate and its file name root.
    pub fn new(root: &str, info: CaCertificateInfo) -> Self {
        CaCertificateResponse {
            root: root.to_owned(),
            pem: info.pem,
            chain_pem: info.chain_pem,
            subject: info.subject,
            not_before: info.not_before,
            not_after: info.not_after,
            fingerprints: info.fingerprints,
        }
    }
}

/// `POST /v1/requests`: a CSR and the person to call about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmissionBody {
    /// The file name root the requester uses for its key and certificate.
    pub name: String,
    /// The CSR, PEM.
    pub csr: String,
    /// The technical contact.
    pub contact: Contact,
}

/// The answer to `POST /v1/requests` (status 201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmissionResponse {
    /// The request id to ask about later.
    pub id: String,
    /// The request's state, `pending` for a new request.
    pub state: RequestState,
    /// SHA-1 fingerprint of the CSR (DER), for the operator and requester to compare.
    pub sha1_fingerprint: String,
}

impl From<&RequestRecord> for SubmissionResponse {
    fn from(record: &RequestRecord) -> Self {
        SubmissionResponse {
            id: record.id.clone(),
            state: record.state,
            sha1_fingerprint: record.sha1_fingerprint.clone(),
        }
    }
}

/// `GET /v1/requests/{id}`: where a request is.
///
/// The contact and the source address stay on the server: anyone who knows
/// the id can read this answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestResponse {
    /// The request id.
    pub id: String,
    /// The file name root the requester gave.
    pub name: String,
    /// The CSR's subject, in OpenSSL's one-line form.
    pub subject: String,
    /// Pending, issued or rejected.
    pub state: RequestState,
    /// When the request arrived, RFC 3339 UTC.
    pub received: String,
    /// SHA-1 fingerprint of the CSR (DER).
    pub sha1_fingerprint: String,
    /// The number of the certificate issued for the request, once issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_number: Option<u64>,
    /// Why the operator rejected the request, once rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl From<RequestRecord> for RequestResponse {
    fn from(record: RequestRecord) -> Self {
        RequestResponse {
            id: record.id,
            name: record.name,
            subject: record.subject,
            state: record.state,
            received: record.received,
            sha1_fingerprint: record.sha1_fingerprint,
            certificate_number: record.certificate_number,
            reason: record.reason,
        }
    }
}

/// `GET /v1/certificates/{number}`, and each entry of a certificate list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateResponse {
    /// The certificate number, equal to the X.509 serial number.
    pub number: u64,
    /// The request the certificate was issued for.
    pub request_id: String,
    /// The certificate's subject, in OpenSSL's one-line form.
    pub subject: String,
    /// The profile the certificate was issued under, such as `tls`.
    pub usage: String,
    /// Start of validity, RFC 3339 UTC.
    pub not_before: String,
    /// End of validity, RFC 3339 UTC.
    pub not_after: String,
    /// The certificate, PEM.
    pub pem: String,
    /// SHA-1 and SHA-256 fingerprints of the certificate (DER).
    pub fingerprints: Fingerprints,
}

impl From<IssuedCertificate> for CertificateResponse {
    /// Keeps everything but the certificate's path on the server.
    fn from(certificate: IssuedCertificate) -> Self {
        CertificateResponse {
            number: certificate.number,
            request_id: certificate.request_id,
            subject: certificate.subject,
            usage: certificate.usage.to_string(),
            not_before: certificate.not_before,
            not_after: certificate.not_after,
            pem: certificate.pem,
            fingerprints: certificate.fingerprints,
        }
    }
}

/// `GET /v1/certificates?request={id}`: the certificates issued for a request, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateListResponse {
    /// The certificates.
    pub certificates: Vec<CertificateResponse>,
}

/// The query of `GET /v1/certificates`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateQuery {
    /// The request id.
    pub request: String,
}

/// `GET /v1/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthResponse {
    /// `ok` while the server serves.
    pub status: String,
}

/// The body of every error answer: `{"error": {"code": ..., "message": ...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// The error.
    pub error: ErrorDetail,
}

/// An error's stable code and its message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// A short, stable code such as `invalid_csr` or `queue_full`.
    pub code: String,
    /// What went wrong and what to do next.
    pub message: String,
}
