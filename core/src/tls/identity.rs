//! An instance's TLS identity (certificate chain and signer) and the CA
//! certificates it trusts.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::signing::KeyStoreSigningKey;
use crate::fingerprint::Fingerprints;
use crate::key::Signer;
use crate::{Error, Result};

/// An instance's certificate, the CA certificates above it, and a signer for
/// its private key.
#[derive(Clone)]
pub struct TlsIdentity {
    chain: Vec<CertificateDer<'static>>,
    signer: Arc<dyn Signer>,
    subject: String,
}

impl fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("subject", &self.subject)
            .field("chain_length", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// Builds an identity from `chain` (DER, the instance's certificate first, then
    /// the CA certificates that issued it) and the signer of its key.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCertificate`] for an empty chain, a certificate that
    /// cannot be parsed, or a first certificate whose public key is not the
    /// signer's.
    pub fn new(chain: Vec<Vec<u8>>, signer: Arc<dyn Signer>) -> Result<Self> {
        let Some(first) = chain.first() else {
            return Err(Error::InvalidCertificate {
                what: "TLS certificate chain".to_owned(),
                reason: "the chain is empty; give the instance's certificate".to_owned(),
                source: None,
            });
        };
        let (subject, public_key) = {
            let certificate = parse("TLS certificate", first)?;
            (
                certificate.subject().to_string(),
                certificate.public_key().raw.to_vec(),
            )
        };
        if public_key != signer.public_key().as_bytes() {
            return Err(Error::InvalidCertificate {
                what: format!("TLS certificate {subject}"),
                reason: "its public key is not the key given to sign with; give the key the certificate was issued for".to_owned(),
                source: None,
            });
        }
        for (position, der) in chain.iter().enumerate().skip(1) {
            parse(
                &format!("certificate {} of the TLS chain", position + 1),
                der,
            )?;
        }

        Ok(TlsIdentity {
            chain: chain.into_iter().map(CertificateDer::from).collect(),
            signer,
            subject,
        })
    }

    /// Builds an identity from PEM files: `certificate` contains the instance's
    /// certificate, and each file of `ca_chain` one or more CA certificates,
    /// the issuer of the instance's certificate first.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when a file cannot be read, and the errors of [`TlsIdentity::new`].
    pub fn from_pem_files(
        certificate: &Path,
        ca_chain: &[&Path],
        signer: Arc<dyn Signer>,
    ) -> Result<Self> {
        let mut chain = read_pem_certificates(certificate)?;
        chain.truncate(1);
        for path in ca_chain {
            chain.extend(read_pem_certificates(path)?);
        }
        TlsIdentity::new(chain, signer)
    }

    /// Checks that the instance's certificate allows the `side` of TLS it is
    /// about to take, so that a wrong usage shows before any peer connects.
    /// A certificate without an extended key usage extension allows both.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCertificate`] when the extended key usage leaves out
    /// the side, naming the usages that allow it.
    pub fn check_usage(&self, side: TlsSide) -> Result<()> {
        let certificate = parse("TLS certificate", &self.chain[0])?;
        let extended = match certificate.extended_key_usage() {
            Ok(Some(extension)) => extension.value,
            Ok(None) => return Ok(()),
            Err(e) => {
                return Err(Error::InvalidCertificate {
                    what: format!("TLS certificate {}", self.subject),
                    reason: "its extended key usage cannot be read".to_owned(),
                    source: Some(Box::new(e)),
                })
            }
        };
        let allowed = match side {
            TlsSide::Server => extended.any || extended.server_auth,
            TlsSide::Client => extended.any || extended.client_auth,
        };
        if allowed {
            return Ok(());
        }
        let (purpose, usage) = match side {
            TlsSide::Server => ("TLS server authentication (serverAuth)", "tls-server"),
            TlsSide::Client => ("TLS client authentication (clientAuth)", "tls-client"),
        };
        Err(Error::InvalidCertificate {
            what: format!("TLS certificate {}", self.subject),
            reason: format!("its extended key usage does not allow {purpose}; have a certificate issued with usage tls or {usage}"),
            source: None,
        })
    }

    /// Returns the subject of the instance's certificate, as x509-parser prints it
    /// (`O=Example, CN=a.example.org`).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Returns the instance's certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.chain[0]
    }

    /// Returns the certificate chain and the signing key, as rustls takes them.
    pub fn certified_key(&self) -> Arc<CertifiedKey> {
        let key = KeyStoreSigningKey::new(Arc::clone(&self.signer));
        Arc::new(CertifiedKey::new(self.chain.clone(), Arc::new(key)))
    }
}

/// The side of a TLS connection an identity takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsSide {
    /// The side that accepts connections.
    Server,
    /// The side that connects.
    Client,
}

/// The CA certificates an instance trusts to vouch for its peers.
#[derive(Clone)]
pub struct TrustAnchors {
    roots: Arc<RootCertStore>,
    certificates: Vec<CertificateDer<'static>>,
    subjects: Vec<String>,
}

impl fmt::Debug for TrustAnchors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustAnchors")
            .field("subjects", &self.subjects)
            .finish()
    }
}

impl TrustAnchors {
    /// Trusts the CA certificates in `certificates` (DER).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCertificate`] when there is none, or one cannot be a
    /// trust anchor.
    pub fn from_der(certificates: Vec<Vec<u8>>) -> Result<Self> {
        if certificates.is_empty() {
            return Err(Error::InvalidCertificate {
                what: "trusted CA certificates".to_owned(),
                reason: "none was given; give the CA certificate the peers' certificates come from"
                    .to_owned(),
                source: None,
            });
        }

        let mut roots = RootCertStore::empty();
        let mut subjects = Vec::new();
        let certificates: Vec<CertificateDer<'static>> =
            certificates.into_iter().map(CertificateDer::from).collect();
        for der in &certificates {
            let subject = parse("trusted CA certificate", der)?.subject().to_string();
            roots
                .add(der.clone())
                .map_err(|e| Error::InvalidCertificate {
                    what: format!("trusted CA certificate {subject}"),
                    reason: "it cannot be a trust anchor".to_owned(),
                    source: Some(Box::new(e)),
                })?;
            subjects.push(subject);
        }

        Ok(TrustAnchors {
            roots: Arc::new(roots),
            certificates,
            subjects,
        })
    }

    /// Trusts the CA certificates in the PEM file `path`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be read, and the errors of [`TrustAnchors::from_der`].
    pub fn from_pem_file(path: &Path) -> Result<Self> {
        TrustAnchors::from_der(read_pem_certificates(path)?)
    }

    /// Returns the trusted certificates as rustls' root store.
    pub fn root_store(&self) -> Arc<RootCertStore> {
        Arc::clone(&self.roots)
    }

    /// Returns the trusted certificates, DER.
    pub fn certificates(&self) -> impl Iterator<Item = &[u8]> {
        self.certificates.iter().map(|der| der.as_ref())
    }

    /// Returns the subjects of the trusted certificates, as x509-parser prints them.
    pub fn subjects(&self) -> &[String] {
        &self.subjects
    }

    /// Returns the fingerprints of each trusted certificate.
    pub fn fingerprints(&self) -> Vec<Fingerprints> {
        self.certificates
            .iter()
            .map(|der| Fingerprints::of(der))
            .collect()
    }
}

fn parse<'a>(what: &str, der: &'a [u8]) -> Result<X509Certificate<'a>> {
    match X509Certificate::from_der(der) {
        Ok((_, certificate)) => Ok(certificate),
        Err(e) => Err(Error::InvalidCertificate {
            what: what.to_owned(),
            reason: "it is not a DER X.509 certificate".to_owned(),
            source: Some(Box::new(e)),
        }),
    }
}

/// Reads every certificate of a PEM file, in order.
fn read_pem_certificates(path: &Path) -> Result<Vec<Vec<u8>>> {
    let pem = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .map(|item| item.map(|der| der.to_vec()))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::InvalidCertificate {
            what: path.display().to_string(),
            reason: "it is not a PEM certificate file".to_owned(),
            source: Some(Box::new(e)),
        })?;
    if certificates.is_empty() {
        return Err(Error::InvalidCertificate {
            what: path.display().to_string(),
            reason: "it holds no CERTIFICATE block".to_owned(),
            source: None,
        });
    }
    Ok(certificates)
}
