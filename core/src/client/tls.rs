//! The client's TLS identity and trust, from the files it fetched.

use std::path::PathBuf;

use super::{validate_root, ClientInstance};
use crate::key::{KeyStore, SecretString};
use crate::settings::ClientSettings;
use crate::tls::{TlsIdentity, TrustAnchors};
use crate::{Error, Result};

impl ClientInstance {
    /// Loads the client's TLS identity for the file name root `root`: the
    /// certificate `<root>.cer` (saved by
    /// [`fetch_certificate`](ClientInstance::fetch_certificate)), the CA
    /// certificate `<CA root>.cer` and, for an intermediate CA, the chain
    /// `<CA root>-chain.pem` above it. The private key is the one
    /// [`key_uri`](ClientInstance::key_uri) names, unlocked from `key_store`
    /// with `secret`, and stays in the key store.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an unconfigured client, an invalid root,
    /// or a client that has not fetched the CA certificate;
    /// [`Error::NotFound`] when `<root>.cer` or the CA certificate file is
    /// missing; [`Error::WrongPassword`] and the key store's errors;
    /// [`Error::InvalidCertificate`] when a file is not a PEM certificate or
    /// the certificate is not for the key.
    pub fn tls_identity(
        &self,
        key_store: &dyn KeyStore,
        root: &str,
        secret: Option<&SecretString>,
    ) -> Result<TlsIdentity> {
        validate_root(root)?;
        let client = self.settings()?;
        let certificate = self.client_file(&client, &format!("{root}.cer"));
        if !certificate.is_file() {
            return Err(Error::NotFound {
                kind: "certificate",
                name: format!(
                    "{} for file name root {root}; fetch it first with fetch_certificate, or, when the server requires client certificates, save the certificate the CA operator hands over under that name",
                    certificate.display()
                ),
            });
        }
        let (ca_certificate, ca_chain) = self.fetched_ca_files(&client)?;

        let mut above = vec![ca_certificate.as_path()];
        if let Some(chain) = &ca_chain {
            above.push(chain.as_path());
        }
        let signer = key_store.unlock(&self.key_uri(root)?, secret)?;

        let identity = TlsIdentity::from_pem_files(&certificate, &above, signer)?;
        tracing::debug!(
            root,
            subject = identity.subject(),
            "loaded the client's TLS identity"
        );
        Ok(identity)
    }

    /// Trusts the CA certificate the client fetched (`<CA root>.cer`), so
    /// that peers' certificates must be issued by this CA. For an
    /// intermediate CA, the intermediate itself is the trust anchor, so
    /// certificates from other CAs under the same root are not accepted.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an unconfigured client, or one that has
    /// not fetched the CA certificate; [`Error::NotFound`] when its file is
    /// missing; [`Error::InvalidCertificate`] when it cannot be a trust anchor.
    pub fn trust_anchors(&self) -> Result<TrustAnchors> {
        let client = self.settings()?;
        let (ca_certificate, _) = self.fetched_ca_files(&client)?;
        TrustAnchors::from_pem_file(&ca_certificate)
    }

    /// Returns `<CA root>.cer`, checked to exist, and `<CA root>-chain.pem`
    /// when it exists.
    fn fetched_ca_files(&self, client: &ClientSettings) -> Result<(PathBuf, Option<PathBuf>)> {
        let certificate = self.ca_certificate_path(client)?;
        if !certificate.is_file() {
            return Err(Error::NotFound {
                kind: "CA certificate",
                name: format!(
                    "{}; fetch it again with fetch_ca_certificate",
                    certificate.display()
                ),
            });
        }

        let chain = client
            .ca_root
            .as_ref()
            .map(|root| self.client_file(client, &format!("{root}-chain.pem")))
            .filter(|chain| chain.is_file());
        Ok((certificate, chain))
    }
}
