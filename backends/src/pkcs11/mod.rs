//! The PKCS#11 key store: keys made on, and never leaving, a hardware token
//! (or SoftHSM), driven through cryptoki.
//!
//! A [`Pkcs11KeyStore`] is opened on one token of one module, both named by
//! a `pkcs11:` URI (RFC 7512): the module by `module-path` or `module-name`,
//! the token by `token` (its label), `serial` or `slot-id`. Each key URI
//! then names a key by `object` (its label) and `id`.
//!
//! The PIN comes from the `secret` argument, else from the key URI's
//! `pin-source` (`env:NAME`, or `file:PATH` whose first line is the PIN) or
//! `pin-value`, else from the key store's URI. The process logs in once per
//! token and keeps a pool of sessions; signers from [`KeyStore::unlock`]
//! share it and can be used from several threads.
//!
//! Files are named after the chapters of the PKCS#11 specification whose
//! functions they call.

mod error;
mod general_purpose;
mod key_management;
mod object_management;
mod session_management;
mod signing;
mod slot_token_management;

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use certa_core::key::{
    KeyAlgorithm, KeyDelete, KeyList, KeyStore, KeyUri, ObjectType, PinSource, Pkcs11Uri,
    SecretString, Signer, SubjectPublicKeyInfoDer,
};
use certa_core::{Error, Result};
use cryptoki::context::Pkcs11;
use zeroize::Zeroizing;

pub use error::Pkcs11Error;
pub use key_management::Pkcs11KeyOptions;

use key_management::{check_free, generate_key_pair, new_key_name};
use object_management::{describe, find_private_key, find_public_keys, public_key_info};
use session_management::SessionPool;
use signing::Pkcs11Signer;
use slot_token_management::{find_token, Token};

/// A key store on one PKCS#11 token.
pub struct Pkcs11KeyStore {
    module: PathBuf,
    context: Pkcs11,
    token: Token,
    /// The URI the store was opened with; its PIN source is the last resort.
    uri: Pkcs11Uri,
    /// The session pool after the first login, kept so that the store stays logged in.
    pool: Mutex<Option<Arc<SessionPool>>>,
}

impl fmt::Debug for Pkcs11KeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11KeyStore")
            .field("module", &self.module)
            .field("token", &self.token.label)
            .field("slot", &self.token.slot.id())
            .finish_non_exhaustive()
    }
}

impl Pkcs11KeyStore {
    /// Loads the module that `uri` names and opens the token it names.
    ///
    /// The module is loaded and initialized once per process. A URI without
    /// `token`, `serial` or `slot-id` opens the module's only initialized token.
    ///
    /// # Errors
    ///
    /// [`Error::KeyStore`] when the URI names no module or the module cannot
    /// be found or loaded, or more than one token matches;
    /// [`Error::NotFound`] when no token matches (the message lists the
    /// tokens found).
    pub fn open(uri: &Pkcs11Uri) -> Result<Pkcs11KeyStore> {
        let opening = "opening PKCS#11 token for";
        let shown = uri.to_string();
        let (module, context) =
            general_purpose::load_module(uri).map_err(|e| e.into_core(opening, &shown))?;
        let token = find_token(&context, &module, uri).map_err(|e| e.into_core(opening, &shown))?;
        tracing::info!(module = %module.display(), token = %token.label, slot = token.slot.id(), "opened PKCS#11 token");

        Ok(Pkcs11KeyStore {
            module,
            context,
            token,
            uri: uri.clone(),
            pool: Mutex::new(None),
        })
    }

    /// Returns the label of the token the store is open on.
    pub fn token_label(&self) -> &str {
        &self.token.label
    }

    /// Returns the serial number of the token the store is open on.
    pub fn token_serial(&self) -> &str {
        &self.token.serial
    }

    /// Returns the id of the slot that contains the token.
    pub fn slot_id(&self) -> u64 {
        self.token.slot.id()
    }

    /// Returns the path of the module the store uses.
    pub fn module_path(&self) -> &std::path::Path {
        &self.module
    }

    /// Creates a key pair of `algorithm` on the token, with `options`.
    ///
    /// Like [`KeyStore::create_key`], which uses the default options.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyExists`] when an object on the token has the key's
    /// label or id, [`Error::Unsupported`] when the token lacks the
    /// mechanism, [`Error::WrongPassword`] for a wrong PIN, and
    /// [`Error::KeyStore`] for the token's other errors.
    pub fn create_key_with_options(
        &self,
        key: &KeyUri,
        algorithm: KeyAlgorithm,
        secret: Option<&SecretString>,
        options: Pkcs11KeyOptions,
    ) -> Result<SubjectPublicKeyInfoDer> {
        let uri = self.key_uri(key)?;
        let shown = uri.to_string();
        let fail = |e: Pkcs11Error| e.into_core("creating key", &shown);
        let pool = self.pool(uri, secret).map_err(fail)?;

        let name = new_key_name(uri);
        let named = Pkcs11Uri {
            object: Some(String::from_utf8_lossy(&name.label).into_owned()),
            id: Some(name.id.clone()),
            ..uri.clone()
        };
        pool.run_read_write(|session| {
            check_free(session, &name, &shown)?;
            generate_key_pair(session, &self.token, algorithm, &name, options)
        })
        .map_err(fail)?;
        tracing::info!(key = %named, %algorithm, always_authenticate = options.always_authenticate, "created key pair on token");

        let (_, public_key) = pool
            .run(|session| {
                let private = find_private_key(session, &named)?;
                public_key_info(session, &private, &shown)
            })
            .map_err(fail)?;
        Ok(public_key)
    }

    /// Logs this process out of the token.
    ///
    /// Every session of the process on the token loses its login. Signers
    /// log in again, with the PIN they were unlocked with, before their next
    /// signature.
    ///
    /// # Errors
    ///
    /// [`Error::KeyStore`] when `C_Logout` fails. Logging out while not
    /// logged in is no error.
    pub fn log_out(&self) -> Result<()> {
        let pool = self
            .cached_pool()
            .or_else(|| SessionPool::existing(&self.module, &self.token));
        let Some(pool) = pool else {
            return Ok(());
        };
        pool.log_out()
            .map_err(|e| e.into_core("logging out of token", &self.token.label))
    }

    /// Checks that `key` is a `pkcs11:` URI for this store's token.
    fn key_uri<'a>(&self, key: &'a KeyUri) -> Result<&'a Pkcs11Uri> {
        let KeyUri::Pkcs11(uri) = key else {
            return Err(Error::invalid_input(
                "key URI",
                format!("{key} is not a pkcs11: URI; the PKCS#11 key store on token \"{}\" holds pkcs11: keys only", self.token.label),
            ));
        };
        if !self.token.matches(uri) {
            let error = Pkcs11Error::OtherToken {
                key: uri.to_string(),
                token: self.token.label.clone(),
            };
            return Err(error.into_core("using key", &uri.to_string()));
        }
        if uri.object_type == Some(ObjectType::Public) {
            return Err(Error::invalid_input(
                "key URI",
                format!("{uri} names a public key; name the key pair with type=private or without type="),
            ));
        }
        Ok(uri)
    }

    /// Returns the session pool for the token, logged in with the PIN for `uri`.
    fn pool(
        &self,
        uri: &Pkcs11Uri,
        secret: Option<&SecretString>,
    ) -> Result<Arc<SessionPool>, Pkcs11Error> {
        let pin = match secret {
            Some(secret) => secret.clone(),
            None => self.pin_from_uris(uri)?,
        };
        let pool = SessionPool::get_or_open(&self.module, &self.context, &self.token, &pin)?;
        *self.pool.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&pool));
        Ok(pool)
    }

    fn cached_pool(&self) -> Option<Arc<SessionPool>> {
        self.pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Returns the pool for calls that take no PIN: this process's pool for
    /// the token, or a new one logged in with the PIN the URIs give.
    fn pool_without_secret(&self, uri: &Pkcs11Uri) -> Result<Arc<SessionPool>, Pkcs11Error> {
        if uri.pin.is_none() && self.uri.pin.is_none() {
            let existing = self
                .cached_pool()
                .or_else(|| SessionPool::existing(&self.module, &self.token));
            if let Some(pool) = existing {
                return Ok(pool);
            }
        }
        self.pool(uri, None)
    }

    fn pin_from_uris(&self, uri: &Pkcs11Uri) -> Result<SecretString, Pkcs11Error> {
        let source = uri.pin.as_ref().or(self.uri.pin.as_ref());
        let Some(source) = source else {
            return Err(Pkcs11Error::PinMissing {
                token: self.token.label.clone(),
            });
        };
        read_pin(source)
    }
}

/// Reads the PIN from `source`: an environment variable, the first line of a file, or the URI itself.
fn read_pin(source: &PinSource) -> Result<SecretString, Pkcs11Error> {
    match source {
        PinSource::Value(pin) => Ok(pin.clone()),
        PinSource::Env(name) => std::env::var(name)
            .map(SecretString::from)
            .map_err(|source| Pkcs11Error::PinSourceEnv {
                name: name.clone(),
                source,
            }),
        PinSource::File(path) => {
            let contents = std::fs::read_to_string(path)
                .map(Zeroizing::new)
                .map_err(|source| Pkcs11Error::PinSourceFile {
                    path: path.clone(),
                    source,
                })?;
            let first_line = contents.lines().next().unwrap_or("");
            Ok(SecretString::from(first_line))
        }
    }
}

impl KeyStore for Pkcs11KeyStore {
    fn create_key(
        &self,
        key: &KeyUri,
        algorithm: KeyAlgorithm,
        secret: Option<&SecretString>,
    ) -> Result<SubjectPublicKeyInfoDer> {
        self.create_key_with_options(key, algorithm, secret, Pkcs11KeyOptions::default())
    }

    fn public_key(
        &self,
        key: &KeyUri,
        secret: Option<&SecretString>,
    ) -> Result<SubjectPublicKeyInfoDer> {
        let uri = self.key_uri(key)?;
        let shown = uri.to_string();
        let fail = |e: Pkcs11Error| e.into_core("reading the public key of", &shown);
        let pool = self.pool(uri, secret).map_err(fail)?;

        let (_, public_key) = pool
            .run(|session| {
                let private = find_private_key(session, uri)?;
                public_key_info(session, &private, &shown)
            })
            .map_err(fail)?;
        Ok(public_key)
    }

    fn unlock(&self, key: &KeyUri, secret: Option<&SecretString>) -> Result<Arc<dyn Signer>> {
        let uri = self.key_uri(key)?;
        let shown = uri.to_string();
        let fail = |e: Pkcs11Error| e.into_core("unlocking key", &shown);
        let pool = self.pool(uri, secret).map_err(fail)?;

        let (private, algorithm, public_key) = pool
            .run(|session| {
                let private = find_private_key(session, uri)?;
                let (algorithm, public_key) = public_key_info(session, &private, &shown)?;
                Ok((private, algorithm, public_key))
            })
            .map_err(fail)?;
        let signer =
            Pkcs11Signer::new(pool, uri.clone(), private, algorithm, public_key).map_err(fail)?;
        tracing::info!(key = %shown, %algorithm, "unlocked key on token");
        Ok(Arc::new(signer))
    }
}

impl KeyList for Pkcs11KeyStore {
    /// Lists the private keys on the token, each as a URI with its label and
    /// id. Without an existing login, the PIN comes from the store's URI.
    fn list_keys(&self) -> Result<Vec<KeyUri>> {
        let fail = |e: Pkcs11Error| e.into_core("listing keys on token", &self.token.label);
        let pool = self.pool_without_secret(&self.uri).map_err(fail)?;

        let keys = pool
            .run(object_management::list_private_keys)
            .map_err(fail)?;
        let uris = keys
            .iter()
            .map(|key| {
                KeyUri::Pkcs11(Pkcs11Uri {
                    token: Some(self.token.label.clone()),
                    object: key
                        .label
                        .as_ref()
                        .map(|label| String::from_utf8_lossy(label).into_owned()),
                    id: key.id.clone(),
                    object_type: Some(ObjectType::Private),
                    module_path: Some(self.module.clone()),
                    ..Pkcs11Uri::default()
                })
            })
            .collect();
        Ok(uris)
    }
}

impl KeyDelete for Pkcs11KeyStore {
    /// Destroys the private key and its public key objects. Without an
    /// existing login, the PIN comes from the key URI or the store's URI.
    fn delete_key(&self, key: &KeyUri) -> Result<()> {
        let uri = self.key_uri(key)?;
        let shown = uri.to_string();
        let fail = |e: Pkcs11Error| e.into_core("deleting key", &shown);
        let pool = self.pool_without_secret(uri).map_err(fail)?;

        let described = pool
            .run_read_write(|session| {
                let private = find_private_key(session, uri)?;
                let publics = find_public_keys(session, &private)?;
                for public in publics {
                    session.destroy_object(public)?;
                }
                session.destroy_object(private.handle)?;
                Ok(describe(&private))
            })
            .map_err(fail)?;
        tracing::info!(key = %shown, object = %described, "deleted key from token");
        Ok(())
    }
}
