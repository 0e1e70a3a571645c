//! Key stores of certa: encrypted PKCS#8 files and PKCS#11 tokens.
//!
//! Each backend sits behind a Cargo feature of the same name (`file`,
//! `pkcs11`), both on by default. [`open_key_store`] picks the backend a key
//! URI names; a backend left out of the build answers with
//! [`Error::Unsupported`] naming the feature to enable.

use std::path::Path;

use certa_core::key::{KeyStore, KeyUri};

#[cfg(feature = "file")]
pub mod file;
#[cfg(feature = "pkcs11")]
pub mod pkcs11;

/// Opens the key store that holds `key`.
///
/// A `file:` URI gives a [`file::FileKeyStore`] rooted at `instance_dir`, so
/// that relative key paths are relative to the instance; a `pkcs11:` URI gives
/// the token's key store.
///
/// # Errors
///
/// [`Error::Unsupported`] when the backend for the URI's scheme is not in
/// this build, and the backend's own errors when it cannot be opened (for a
/// token: the module cannot be loaded, or no token matches the URI).
pub fn open_key_store(key: &KeyUri, instance_dir: &Path) -> certa_core::Result<Box<dyn KeyStore>> {
    match key {
        KeyUri::File(_) => open_file(instance_dir),
        KeyUri::Pkcs11(uri) => open_pkcs11(uri),
    }
}

#[cfg(feature = "file")]
fn open_file(instance_dir: &Path) -> certa_core::Result<Box<dyn KeyStore>> {
    Ok(Box::new(file::FileKeyStore::new(instance_dir)))
}

#[cfg(not(feature = "file"))]
fn open_file(_instance_dir: &Path) -> certa_core::Result<Box<dyn KeyStore>> {
    Err(certa_core::Error::Unsupported {
        what:
            "file: key URIs in this build of certa; rebuild certa-backends with the `file` feature"
                .to_owned(),
    })
}

#[cfg(feature = "pkcs11")]
fn open_pkcs11(uri: &certa_core::key::Pkcs11Uri) -> certa_core::Result<Box<dyn KeyStore>> {
    Ok(Box::new(pkcs11::Pkcs11KeyStore::open(uri)?))
}

#[cfg(not(feature = "pkcs11"))]
fn open_pkcs11(uri: &certa_core::key::Pkcs11Uri) -> certa_core::Result<Box<dyn KeyStore>> {
    Err(certa_core::Error::Unsupported {
        what: format!(
            "key URI {uri} in this build of certa; rebuild certa-backends with the `pkcs11` feature"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(not(feature = "pkcs11"))]
    #[test]
    fn pkcs11_uri_without_backend_names_feature() {
        let key: KeyUri = "pkcs11:token=certa;object=CA".parse().expect("valid URI");
        let Err(error) = open_key_store(&key, Path::new(".")) else {
            panic!("the PKCS#11 key store is not in this build");
        };
        assert!(
            matches!(error, certa_core::Error::Unsupported { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("`pkcs11` feature"), "{error}");
    }

    #[cfg(feature = "pkcs11")]
    #[test]
    fn pkcs11_uri_with_missing_module_fails() {
        let key: KeyUri = "pkcs11:token=certa;object=CA?module-path=/nonexistent/libnothing.so"
            .parse()
            .expect("valid URI");
        assert!(open_key_store(&key, Path::new(".")).is_err());
    }

    #[cfg(feature = "file")]
    #[test]
    fn file_uri_opens_file_key_store() {
        let key = KeyUri::file("ca/CA.key");
        assert!(open_key_store(&key, Path::new(".")).is_ok());
    }

    #[cfg(not(feature = "file"))]
    #[test]
    fn file_uri_without_backend_names_feature() {
        let key = KeyUri::file("ca/CA.key");
        let Err(error) = open_key_store(&key, Path::new(".")) else {
            panic!("the file key store is not in this build");
        };
        assert!(error.to_string().contains("`file` feature"), "{error}");
    }
}
