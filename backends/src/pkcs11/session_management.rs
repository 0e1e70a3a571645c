//! Logged-in sessions, pooled and recovered (the spec's session management functions).
//!
//! A cryptoki [`Session`] is `Send` but not `Sync`: one thread at a time may
//! use it. The pool hands each caller a session of its own and takes it back
//! afterwards, so that signers can be shared between threads and log in once.
//!
//! PKCS#11 keeps the login per process and token, not per session: every
//! session of this process on the token is logged in after one `C_Login`, and
//! closing the last session logs the process out. Pools are therefore shared
//! per module and slot, and a pool keeps its idle sessions open.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

use certa_core::key::{ExposeSecret, Pkcs11Uri, SecretString};
use cryptoki::context::Pkcs11;
use cryptoki::error::RvError;
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::types::AuthPin;

use super::error::Pkcs11Error;
use super::slot_token_management::{find_token, Token};

type PoolKey = (PathBuf, u64);

fn pools() -> &'static Mutex<HashMap<PoolKey, Weak<SessionPool>>> {
    static POOLS: OnceLock<Mutex<HashMap<PoolKey, Weak<SessionPool>>>> = OnceLock::new();
    POOLS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The logged-in sessions of this process on one token.
pub(crate) struct SessionPool {
    context: Pkcs11,
    module: PathBuf,
    /// The token; its slot changes when the token is found again after a loss.
    token: Mutex<Token>,
    pin: AuthPin,
    idle: Mutex<Vec<Session>>,
    /// How many times the pool replaced its sessions after a loss; object
    /// handles found before a replacement may be invalid after it.
    generation: AtomicU64,
}

impl fmt::Debug for SessionPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let token = self.token();
        f.debug_struct("SessionPool")
            .field("token", &token.label)
            .field("slot", &token.slot.id())
            .finish_non_exhaustive()
    }
}

impl SessionPool {
    /// Returns the pool of `token`, logging in with `pin` when this process has none yet.
    ///
    /// A PIN that differs from the one the existing pool logged in with is
    /// rejected, so that a wrong PIN fails even while the token is logged in.
    pub fn get_or_open(
        module: &Path,
        context: &Pkcs11,
        token: &Token,
        pin: &SecretString,
    ) -> Result<Arc<SessionPool>, Pkcs11Error> {
        let key = (module.to_path_buf(), token.slot.id());
        let mut registry = pools().lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(pool) = registry.get(&key).and_then(Weak::upgrade) {
            if pool.pin.expose_secret() != pin.expose_secret() {
                return Err(Pkcs11Error::PinDiffers {
                    token: token.label.clone(),
                });
            }
            return Ok(pool);
        }

        let pool = Arc::new(SessionPool {
            context: context.clone(),
            module: module.to_path_buf(),
            token: Mutex::new(token.clone()),
            pin: AuthPin::from(pin.expose_secret()),
            idle: Mutex::new(Vec::new()),
            generation: AtomicU64::new(0),
        });
        let session = pool.open_session()?;
        pool.give_back(session);

        registry.retain(|_, pool| pool.strong_count() > 0);
        registry.insert(key, Arc::downgrade(&pool));
        Ok(pool)
    }

    /// Returns the pool of `token` if this process has one.
    pub fn existing(module: &Path, token: &Token) -> Option<Arc<SessionPool>> {
        let key = (module.to_path_buf(), token.slot.id());
        let registry = pools().lock().unwrap_or_else(PoisonError::into_inner);
        registry.get(&key).and_then(Weak::upgrade)
    }

    /// Returns the token the pool's sessions are on.
    pub fn token(&self) -> Token {
        self.token
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Returns how many times the pool replaced its sessions after a loss.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Runs `operation` on a session, logging in first when the token has
    /// logged the process out.
    ///
    /// When the module reports the session closed, the token removed, the
    /// user logged out or an object handle invalid, the pool drops its
    /// sessions and opens a new one, finding the token again if its slot is
    /// gone. It then logs in and runs `operation` once more. Operations that hold
    /// object handles compare [`SessionPool::generation`] to find them again.
    pub fn run<T>(
        &self,
        mut operation: impl FnMut(&Session) -> Result<T, Pkcs11Error>,
    ) -> Result<T, Pkcs11Error> {
        // Another part of the process may have logged out since the session
        // was last used, which would hide the private keys without an error.
        let session = self.take_session()?;
        let first = self.log_in(&session).and_then(|()| operation(&session));
        let error = match first {
            Err(error) if error.is_session_lost() => error,
            other => {
                self.give_back(session);
                return other;
            }
        };

        let token = self.token();
        tracing::warn!(
            token = %token.label,
            %error,
            "PKCS#11 session lost; opening a new session and logging in again"
        );
        // Invalid handles are dropped before new sessions are opened, so
        // that no new session can carry a number an old one had.
        drop(session);
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.generation.fetch_add(1, Ordering::SeqCst);

        let session = self.reopen_session()?;
        let second = operation(&session);
        self.give_back(session);
        second
    }

    /// Runs `operation` on a new read-write session, for creating and destroying objects.
    pub fn run_read_write<T>(
        &self,
        operation: impl FnOnce(&Session) -> Result<T, Pkcs11Error>,
    ) -> Result<T, Pkcs11Error> {
        let session = self.context.open_rw_session(self.token().slot)?;
        self.log_in(&session)?;
        operation(&session)
    }

    /// Logs this process out of the token (`C_Logout`).
    ///
    /// Every session of the process on the token returns to the public
    /// state. The pool closes its idle sessions, so the next operation opens
    /// a new session and logs in again.
    pub fn log_out(&self) -> Result<(), Pkcs11Error> {
        let session = self.take_session()?;
        match session.logout() {
            Ok(()) | Err(cryptoki::error::Error::Pkcs11(RvError::UserNotLoggedIn, _)) => {}
            Err(error) => {
                self.give_back(session);
                return Err(error.into());
            }
        }

        // The idle sessions are public now. New sessions log in before their
        // first use, and key handles are found again.
        drop(session);
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.generation.fetch_add(1, Ordering::SeqCst);
        tracing::info!(token = %self.token().label, "logged out of token");
        Ok(())
    }

    fn take_session(&self) -> Result<Session, Pkcs11Error> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match idle {
            Some(session) => Ok(session),
            None => self.open_session(),
        }
    }

    fn give_back(&self, session: Session) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(session);
    }

    fn open_session(&self) -> Result<Session, Pkcs11Error> {
        let token = self.token();
        let session = self.context.open_ro_session(token.slot)?;
        self.log_in(&session)?;
        tracing::debug!(token = %token.label, session = %session, "opened PKCS#11 session");
        Ok(session)
    }

    /// Opens a session after a loss. When the token's slot is gone, because
    /// the token was removed and inserted again or the module restarted, it
    /// finds the token again by its label and serial number first.
    fn reopen_session(&self) -> Result<Session, Pkcs11Error> {
        let error = match self.open_session() {
            Err(error) if is_slot_lost(&error) => error,
            other => return other,
        };

        let old = self.token();
        let requested = Pkcs11Uri {
            token: Some(old.label.clone()),
            serial: Some(old.serial.clone()),
            ..Pkcs11Uri::default()
        };
        let found = find_token(&self.context, &self.module, &requested)?;
        tracing::info!(token = %found.label, old_slot = old.slot.id(), slot = found.slot.id(), %error, "found the token again");
        *self.token.lock().unwrap_or_else(PoisonError::into_inner) = found;
        self.open_session()
    }

    /// Logs the process in through `session` unless it already is.
    pub fn log_in(&self, session: &Session) -> Result<(), Pkcs11Error> {
        let state = session.get_session_info()?.session_state();
        if matches!(state, SessionState::RoUser | SessionState::RwUser) {
            return Ok(());
        }

        match session.login(UserType::User, Some(&self.pin)) {
            Ok(()) => {
                tracing::info!(token = %self.token().label, "logged in to token");
                Ok(())
            }
            // Another thread logged in between the state check and C_Login.
            Err(cryptoki::error::Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
            Err(cryptoki::error::Error::Pkcs11(RvError::PinLocked, _)) => {
                Err(Pkcs11Error::PinLocked {
                    token: self.token().label,
                })
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Logs in for the operation just initialized on `session` (`CKU_CONTEXT_SPECIFIC`),
    /// as a key with `CKA_ALWAYS_AUTHENTICATE` requires before each use.
    pub fn log_in_context_specific(&self, session: &Session) -> Result<(), Pkcs11Error> {
        match session.login(UserType::ContextSpecific, Some(&self.pin)) {
            Ok(()) => Ok(()),
            Err(cryptoki::error::Error::Pkcs11(RvError::PinLocked, _)) => {
                Err(Pkcs11Error::PinLocked {
                    token: self.token().label,
                })
            }
            Err(error) => Err(error.into()),
        }
    }
}

fn is_slot_lost(error: &Pkcs11Error) -> bool {
    matches!(
        error.rv(),
        Some(RvError::SlotIdInvalid | RvError::TokenNotPresent | RvError::DeviceRemoved)
    )
}
