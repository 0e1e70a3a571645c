//! Instances as script values: `let ca = instance("dir1");`.
//!
//! An instance is a directory with a `certa.yaml` settings file and the files
//! of its roles. The shell opens one instance at start (`--instance`), which
//! the plain functions act on; `instance(DIR)` opens more, whose methods
//! (`ca.configure_server(...)`) act on that directory. Opening the same
//! directory twice gives the same instance, so a server started through one
//! value can be stopped through the other.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use certa_core::http::ServerHandle;
use certa_core::settings::Settings;

use super::errors::{core_error, script_error, ScriptResult, NOT_CONFIGURED_CODE};

/// An instance directory opened by the shell.
#[derive(Clone)]
pub struct Instance {
    inner: Arc<InstanceInner>,
}

struct InstanceInner {
    directory: PathBuf,
    server: Mutex<Option<ServerHandle>>,
}

impl Instance {
    fn new(directory: PathBuf) -> Self {
        Instance {
            inner: Arc::new(InstanceInner {
                directory,
                server: Mutex::new(None),
            }),
        }
    }

    /// Returns the instance directory.
    pub fn directory(&self) -> &Path {
        &self.inner.directory
    }

    /// Reads the instance's settings.
    ///
    /// # Errors
    ///
    /// When `certa.yaml` cannot be read or is invalid.
    pub fn settings(&self) -> ScriptResult<Settings> {
        Settings::load(self.directory()).map_err(core_error)
    }

    /// Reads the client role's settings.
    ///
    /// # Errors
    ///
    /// A `not_configured` error when the instance is no CA client yet.
    pub fn client_settings(
        &self,
        function: &str,
    ) -> ScriptResult<certa_core::settings::ClientSettings> {
        match self.settings()?.client {
            Some(client) => Ok(client),
            None => Err(script_error(
                NOT_CONFIGURED_CODE,
                format!(
                    "{function}: instance {} is not a CA client; run configure_client first",
                    self.directory().display()
                ),
            )),
        }
    }

    /// Locks the slot of the instance's running server.
    pub fn server_slot(&self) -> MutexGuard<'_, Option<ServerHandle>> {
        // A panic while the lock was held leaves the slot usable: it holds a
        // server handle or nothing, never a half-written value.
        self.inner
            .server
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stops the instance's server if it runs; returns whether one ran.
    pub fn stop_server(&self) -> bool {
        let server = self.server_slot().take();
        let Some(mut server) = server else {
            return false;
        };
        let address = server.address();
        if let Err(e) = server.shutdown() {
            tracing::warn!(%address, "stopping the HTTP server: {e}");
        }
        true
    }
}

impl fmt::Display for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "instance({})", self.directory().display())
    }
}

impl fmt::Debug for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The instances a shell has opened, by directory.
#[derive(Default)]
pub struct Instances {
    opened: Mutex<HashMap<PathBuf, Instance>>,
}

impl Instances {
    /// Opens the instance in `directory`, creating the directory when it is
    /// missing; an instance opened before is returned again.
    ///
    /// # Errors
    ///
    /// When the directory cannot be created or resolved.
    pub fn open(&self, directory: &Path) -> ScriptResult<Instance> {
        certa_core::fsutil::create_directory(directory).map_err(core_error)?;
        let canonical = directory.canonicalize().map_err(|e| {
            core_error(certa_core::Error::io(
                "resolve instance directory",
                directory,
                e,
            ))
        })?;

        let mut opened = self
            .opened
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let instance = opened
            .entry(canonical.clone())
            .or_insert_with(|| Instance::new(canonical));
        Ok(instance.clone())
    }

    /// Stops every server the instances run, as the shell exits.
    pub fn stop_all(&self) {
        let opened = self
            .opened
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for instance in opened.values() {
            if instance.stop_server() {
                tracing::info!(instance = %instance.directory().display(), "stopped the HTTP server as the shell exits");
            }
        }
    }
}
