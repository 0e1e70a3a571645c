//! Loading and initializing PKCS#11 modules (the spec's general-purpose functions).
//!
//! A module is loaded and initialized once per process and never finalized:
//! `C_Initialize` may run only once per process, and every key store and
//! signer on the module's tokens shares its state, including the login.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

use certa_core::key::Pkcs11Uri;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::RvError;

use super::error::Pkcs11Error;

/// Directories searched for a `module-name=`, besides the dynamic loader's own path.
const MODULE_DIRECTORIES: [&str; 6] = [
    "/usr/lib",
    "/usr/lib64",
    "/usr/local/lib",
    "/usr/lib/pkcs11",
    "/usr/lib/softhsm",
    "/usr/local/lib/softhsm",
];

/// Returns the initialized modules of this process, by canonical path.
fn modules() -> &'static Mutex<HashMap<PathBuf, Pkcs11>> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    MODULES.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Loads and initializes the module that `uri` names, or returns the one this process already loaded.
///
/// Returns the module's path and its context.
pub(crate) fn load_module(uri: &Pkcs11Uri) -> Result<(PathBuf, Pkcs11), Pkcs11Error> {
    let path = module_path(uri)?;
    let key = path.canonicalize().unwrap_or_else(|_| path.clone());

    let mut loaded = modules().lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(context) = loaded.get(&key) {
        return Ok((path, context.clone()));
    }

    let context = Pkcs11::new(&path).map_err(|source| Pkcs11Error::ModuleNotLoadable {
        path: path.clone(),
        source,
    })?;
    let initialized = context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
    match initialized {
        Ok(()) => {}
        // Another library in this process initialized the module first; its
        // state, and its tokens' logins, are shared with us.
        Err(cryptoki::error::Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {
            tracing::debug!(module = %path.display(), "PKCS#11 module was already initialized in this process");
        }
        Err(source) => return Err(Pkcs11Error::ModuleNotLoadable { path, source }),
    }
    tracing::info!(module = %path.display(), "loaded PKCS#11 module");

    loaded.insert(key, context.clone());
    Ok((path, context))
}

/// Finds the module's file: `module-path` as given, or `module-name` in the usual library directories.
fn module_path(uri: &Pkcs11Uri) -> Result<PathBuf, Pkcs11Error> {
    if let Some(path) = &uri.module_path {
        if !path.exists() {
            return Err(Pkcs11Error::ModuleNotFound { path: path.clone() });
        }
        return Ok(path.clone());
    }
    let Some(file_name) = uri.module() else {
        return Err(Pkcs11Error::NoModule);
    };

    let multiarch = format!("{}-linux-gnu", std::env::consts::ARCH);
    let mut directories: Vec<PathBuf> = MODULE_DIRECTORIES.iter().map(PathBuf::from).collect();
    for sub in ["", "pkcs11", "softhsm"] {
        directories.push(Path::new("/usr/lib").join(&multiarch).join(sub));
    }
    let found = directories
        .iter()
        .map(|directory| directory.join(&file_name))
        .find(|candidate| candidate.exists());

    // NOTE: a bare library name is left to the dynamic loader, which searches
    // LD_LIBRARY_PATH and its cache. A name it cannot find is reported as not loadable.
    Ok(found.unwrap_or(file_name))
}
