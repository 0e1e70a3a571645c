//! The file key store: one PKCS#8 PEM file per key, in or under the instance directory.
//!
//! A key protected by a password is an "ENCRYPTED PRIVATE KEY" (RFC 5958,
//! PBES2 of RFC 8018): certa writes scrypt with AES-256-CBC and reads scrypt
//! or PBKDF2 (HMAC-SHA-256 or HMAC-SHA-1) with AES-128, -192 or -256 in CBC
//! mode, which covers what `openssl genpkey -aes-256-cbc` and
//! `openssl pkcs8 -topk8 [-scrypt]` write. A key without a password is a plain
//! "PRIVATE KEY", and writing one is logged as a warning.
//!
//! Key files are written with mode 0600 through
//! [`certa_core::fsutil::write_atomic`] and never replace an existing file.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use certa_core::fsutil::{self, write_atomic, Replace};
use certa_core::key::software::SoftwareKey;
use certa_core::key::{
    ExposeSecret, KeyAlgorithm, KeyDelete, KeyImport, KeyList, KeyStore, KeyUri, SecretString,
    Signer, SubjectPublicKeyInfoDer,
};
use certa_core::{Error, Result};
use der::pem::LineEnding;
use der::SecretDocument;
use pkcs8::pkcs5::{self, pbes2};
use pkcs8::{EncryptedPrivateKeyInfo, PrivateKeyInfo};
use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

/// The PEM label of an encrypted PKCS#8 key (RFC 7468, section 11).
const ENCRYPTED_LABEL: &str = "ENCRYPTED PRIVATE KEY";
/// The PEM label of an unencrypted PKCS#8 key (RFC 7468, section 10).
const PLAIN_LABEL: &str = "PRIVATE KEY";
/// The mode of every key file: read and write for the owner only.
const KEY_FILE_MODE: u32 = 0o600;
/// The file name extension [`FileKeyStore::list_keys`] looks for.
const KEY_EXTENSION: &str = "key";
/// How deep [`FileKeyStore::list_keys`] looks below the instance directory.
const LIST_DEPTH: usize = 4;

/// scrypt's cost parameter N is 2^14, with r = 8 and p = 1.
///
/// scrypt needs 128·r·N bytes of memory, 16 MiB here. OpenSSL 3 refuses to
/// derive a key that needs more than 32 MiB (its `SCRYPT_MAX_MEM`, counted
/// as 128·r·(N+2) + 128·r·p bytes), so N = 2^15 with r = 8, 32 MiB and a
/// little more, makes a file that `openssl pkey` cannot open ("memory limit
/// exceeded"); we measured it with OpenSSL 3.0. N = 2^14, r = 8, p = 1 is
/// also what `openssl pkcs8 -topk8 -scrypt` writes by default.
const SCRYPT_LOG_N: u8 = 14;
/// scrypt's block size r.
const SCRYPT_R: u32 = 8;
/// scrypt's parallelization p.
const SCRYPT_P: u32 = 1;
/// The length of the key scrypt derives: 32 bytes for AES-256.
const AES_256_KEY_LENGTH: usize = 32;
/// The length of the random salt, in bytes.
const SALT_LENGTH: usize = 16;

/// Keys kept as PKCS#8 PEM files.
///
/// A relative `file:` path is resolved against the instance directory the
/// store is rooted at; an absolute path is used as it is.
#[derive(Debug, Clone)]
pub struct FileKeyStore {
    instance_dir: PathBuf,
}

impl FileKeyStore {
    /// A key store rooted at `instance_dir`.
    pub fn new(instance_dir: impl Into<PathBuf>) -> Self {
        FileKeyStore {
            instance_dir: instance_dir.into(),
        }
    }

    /// The instance directory relative paths are resolved against.
    pub fn instance_dir(&self) -> &Path {
        &self.instance_dir
    }

    /// The key file a `file:` URI names.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] for a URI that is not a `file:` URI.
    pub fn path_of(&self, key: &KeyUri) -> Result<PathBuf> {
        key.file_path(&self.instance_dir)
            .ok_or_else(|| Error::Unsupported {
                what: format!("key URI {key} in the file key store; give a file: URI"),
            })
    }

    /// Reads and, when it is encrypted, decrypts the key at `key`.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when the file does not exist,
    /// [`Error::WrongPassword`] when `secret` is missing or does not decrypt
    /// an encrypted key, [`Error::Unsupported`] for a key or an encryption
    /// scheme certa does not read, and [`Error::Io`] when the file cannot be read.
    pub fn read_key(&self, key: &KeyUri, secret: Option<&SecretString>) -> Result<SoftwareKey> {
        let path = self.path_of(key)?;
        let contents = read_key_file(&path)?;
        let text = std::str::from_utf8(&contents).map_err(|e| Error::InvalidInput {
            what: format!("key file {}", path.display()),
            reason: format!("it is not PEM text: {e}"),
        })?;
        let (label, document) =
            SecretDocument::from_pem(text).map_err(|e| Error::InvalidInput {
                what: format!("key file {}", path.display()),
                reason: format!("it is not a PKCS#8 PEM file: {e}"),
            })?;

        match label {
            ENCRYPTED_LABEL => {
                let Some(secret) = secret else {
                    tracing::debug!(key = %key, "no password given for an encrypted key");
                    return Err(wrong_password(key));
                };
                let plaintext = decrypt(key, document.as_bytes(), secret)?;
                SoftwareKey::from_pkcs8_der(&plaintext)
            }
            PLAIN_LABEL => {
                if secret.is_some() {
                    tracing::debug!(key = %key, "key file is not encrypted; the password given is not needed");
                }
                SoftwareKey::from_pkcs8_der(document.as_bytes())
            }
            other => Err(Error::Unsupported {
                what: format!(
                    "key file {} with PEM label {other:?}; convert it to PKCS#8 with openssl pkcs8 -topk8",
                    path.display()
                ),
            }),
        }
    }

    /// Encrypts (or, without a secret, encodes) `key` and writes it to a new file at `uri`.
    fn write_key(
        &self,
        uri: &KeyUri,
        key: &SoftwareKey,
        secret: Option<&SecretString>,
    ) -> Result<()> {
        let path = self.path_of(uri)?;
        let der = key.to_pkcs8_der()?;
        let pem = match secret {
            Some(secret) => encrypt(&der, secret)?,
            None => {
                tracing::warn!(key = %uri, "writing an unencrypted private key; anyone who can read the file can use the key");
                encode_pem(PLAIN_LABEL, &der)?
            }
        };

        let directory = fsutil::parent_directory(&path);
        if !directory.exists() {
            fsutil::create_directory(directory)?;
        }
        write_atomic(&path, pem.as_bytes(), KEY_FILE_MODE, Replace::Forbid)
            .map_err(|e| key_exists(e, &path))?;
        tracing::info!(key = %uri, algorithm = %key.algorithm(), encrypted = secret.is_some(), "wrote a key file");
        Ok(())
    }

    /// Fails with [`Error::AlreadyExists`] when a file is already at `uri`'s path.
    fn check_free(&self, uri: &KeyUri) -> Result<()> {
        let path = self.path_of(uri)?;
        match fs::symlink_metadata(&path) {
            Ok(_) => Err(already_exists(&path)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("look at", path, e)),
        }
    }
}

impl KeyStore for FileKeyStore {
    fn create_key(
        &self,
        key: &KeyUri,
        algorithm: KeyAlgorithm,
        secret: Option<&SecretString>,
    ) -> Result<SubjectPublicKeyInfoDer> {
        // Checked before generating, which takes seconds for RSA 4096;
        // write_atomic checks again, so a file made meanwhile is not replaced.
        self.check_free(key)?;

        let generated = SoftwareKey::generate(algorithm)?;
        self.write_key(key, &generated, secret)?;
        Ok(Signer::public_key(&generated).clone())
    }

    fn public_key(
        &self,
        key: &KeyUri,
        secret: Option<&SecretString>,
    ) -> Result<SubjectPublicKeyInfoDer> {
        let read = self.read_key(key, secret)?;
        Ok(Signer::public_key(&read).clone())
    }

    fn unlock(&self, key: &KeyUri, secret: Option<&SecretString>) -> Result<Arc<dyn Signer>> {
        let read = self.read_key(key, secret)?;
        tracing::debug!(key = %key, algorithm = %read.algorithm(), "unlocked a key");
        Ok(Arc::new(read))
    }
}

impl KeyImport for FileKeyStore {
    fn import_key(
        &self,
        key: &KeyUri,
        pkcs8_der: &[u8],
        secret: Option<&SecretString>,
    ) -> Result<SubjectPublicKeyInfoDer> {
        self.check_free(key)?;

        let imported = SoftwareKey::from_pkcs8_der(pkcs8_der)?;
        self.write_key(key, &imported, secret)?;
        Ok(Signer::public_key(&imported).clone())
    }
}

impl KeyList for FileKeyStore {
    /// Lists the `*.key` files in the instance directory and up to three
    /// levels below it, skipping hidden directories; paths are relative to
    /// the instance directory.
    fn list_keys(&self) -> Result<Vec<KeyUri>> {
        let mut found = Vec::new();
        collect_key_files(&self.instance_dir, Path::new(""), LIST_DEPTH, &mut found)?;
        found.sort();
        Ok(found.into_iter().map(KeyUri::File).collect())
    }
}

impl KeyDelete for FileKeyStore {
    fn delete_key(&self, key: &KeyUri) -> Result<()> {
        let path = self.path_of(key)?;
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(not_found(&path)),
            Err(e) => return Err(Error::io("remove", path, e)),
        }
        fsutil::sync_directory(fsutil::parent_directory(&path))?;
        tracing::info!(key = %key, "deleted a key file");
        Ok(())
    }
}

fn read_key_file(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    match fs::read(path) {
        Ok(contents) => Ok(Zeroizing::new(contents)),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(not_found(path)),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

/// Decrypts an `EncryptedPrivateKeyInfo` and checks that the result is a `PrivateKeyInfo`.
fn decrypt(key: &KeyUri, der: &[u8], secret: &SecretString) -> Result<Zeroizing<Vec<u8>>> {
    let info = EncryptedPrivateKeyInfo::try_from(der).map_err(|e| Error::InvalidInput {
        what: format!("key file of {key}"),
        reason: format!("it is not a valid EncryptedPrivateKeyInfo: {e}"),
    })?;
    let scheme = &info.encryption_algorithm;
    log_scheme(key, scheme);

    let mut buffer = Zeroizing::new(info.encrypted_data.to_vec());
    let length = match scheme.decrypt_in_place(secret.expose_secret().as_bytes(), &mut buffer) {
        Ok(plaintext) => plaintext.len(),
        // pkcs5 reports bad CBC padding, what a wrong key gives, as EncryptFailed.
        Err(pkcs5::Error::DecryptFailed | pkcs5::Error::EncryptFailed) => {
            return Err(wrong_password(key))
        }
        Err(e) => return Err(unsupported_scheme(key, scheme, e)),
    };
    buffer.truncate(length);

    // A wrong key passes the padding check about once in 256 tries; the
    // bytes are then noise, not a PrivateKeyInfo.
    if PrivateKeyInfo::try_from(buffer.as_slice()).is_err() {
        return Err(wrong_password(key));
    }
    Ok(buffer)
}

fn log_scheme(key: &KeyUri, scheme: &pkcs5::EncryptionScheme<'_>) {
    let Some(parameters) = scheme.pbes2() else {
        return;
    };
    match &parameters.kdf {
        pbes2::Kdf::Pbkdf2(pbkdf2) => tracing::debug!(
            key = %key,
            iterations = pbkdf2.iteration_count,
            prf = ?pbkdf2.prf,
            cipher = %parameters.encryption.oid(),
            "key file is encrypted with PBKDF2"
        ),
        pbes2::Kdf::Scrypt(scrypt) => tracing::debug!(
            key = %key,
            n = scrypt.cost_parameter,
            r = scrypt.block_size,
            p = scrypt.parallelization,
            cipher = %parameters.encryption.oid(),
            "key file is encrypted with scrypt"
        ),
        other => tracing::debug!(key = %key, kdf = %other.oid(), "key file is encrypted"),
    }
}

fn unsupported_scheme(
    key: &KeyUri,
    scheme: &pkcs5::EncryptionScheme<'_>,
    error: pkcs5::Error,
) -> Error {
    let what = match scheme {
        pkcs5::EncryptionScheme::Pbes1(_) => format!(
            "encryption of key {key} with PBES1 ({}); re-encrypt it with openssl pkcs8 -topk8 -v2 aes-256-cbc",
            scheme.oid()
        ),
        _ => format!(
            "encryption of key {key} ({error}); certa reads PBES2 with scrypt or PBKDF2 and AES-CBC"
        ),
    };
    Error::Unsupported { what }
}

/// Encrypts a `PrivateKeyInfo` with PBES2 (scrypt, AES-256-CBC) and encodes it as PEM.
fn encrypt(der: &[u8], secret: &SecretString) -> Result<Zeroizing<String>> {
    let info = PrivateKeyInfo::try_from(der)
        .map_err(|e| Error::crypto("reading a PKCS#8 private key to encrypt it", e))?;

    let mut salt = [0u8; SALT_LENGTH];
    OsRng.fill_bytes(&mut salt);
    let mut iv = [0u8; 16];
    OsRng.fill_bytes(&mut iv);
    let parameters =
        pkcs5::scrypt::Params::new(SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P, AES_256_KEY_LENGTH)
            .map_err(|_invalid_params| pkcs5::Error::AlgorithmParametersInvalid {
                oid: pbes2::SCRYPT_OID,
            })
            .and_then(|scrypt| pbes2::Parameters::scrypt_aes256cbc(scrypt, &salt, &iv))
            .map_err(|e| {
                Error::crypto(
                    "setting PBES2's parameters",
                    pkcs8::Error::EncryptedPrivateKey(e),
                )
            })?;

    let encrypted = info
        .encrypt_with_params(parameters, secret.expose_secret().as_bytes())
        .map_err(|e| Error::crypto("encrypting a private key", e))?;
    encode_pem(ENCRYPTED_LABEL, encrypted.as_bytes())
}

fn encode_pem(label: &'static str, der: &[u8]) -> Result<Zeroizing<String>> {
    let document = SecretDocument::try_from(der)
        .map_err(|e| Error::crypto("encoding a private key as PEM", e))?;
    document
        .to_pem(label, LineEnding::LF)
        .map_err(|e| Error::crypto("encoding a private key as PEM", e))
}

fn collect_key_files(
    base: &Path,
    relative: &Path,
    depth: usize,
    found: &mut Vec<PathBuf>,
) -> Result<()> {
    let directory = base.join(relative);
    let entries = match fs::read_dir(&directory) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("list", directory, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list", &directory, e))?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let file_type = entry
            .file_type()
            .map_err(|e| Error::io("look at", entry.path(), e))?;
        let path = relative.join(&name);
        if file_type.is_dir() && depth > 1 {
            collect_key_files(base, &path, depth - 1, found)?;
        } else if file_type.is_file() && path.extension().is_some_and(|e| e == KEY_EXTENSION) {
            found.push(path);
        }
    }
    Ok(())
}

fn wrong_password(key: &KeyUri) -> Error {
    Error::WrongPassword {
        key: key.to_string(),
    }
}

fn not_found(path: &Path) -> Error {
    Error::NotFound {
        kind: "key file",
        name: path.display().to_string(),
    }
}

fn already_exists(path: &Path) -> Error {
    Error::AlreadyExists {
        kind: "key file",
        name: path.display().to_string(),
        hint: "certa never overwrites a key; choose another name or delete the old key first",
    }
}

fn key_exists(error: Error, path: &Path) -> Error {
    match error {
        Error::AlreadyExists { .. } => already_exists(path),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrypt_parameters_fit_openssl_memory_limit() {
        // OpenSSL 3's limit, as counted in providers/implementations/kdfs/scrypt.c.
        const OPENSSL_SCRYPT_MAX_MEM: u64 = 32 * 1024 * 1024;
        let n = 1u64 << SCRYPT_LOG_N;
        let r = u64::from(SCRYPT_R);
        let p = u64::from(SCRYPT_P);
        assert!(128 * r * (n + 2) + 128 * r * p <= OPENSSL_SCRYPT_MAX_MEM);
    }
}
