//! A SoftHSM 2 harness for certa's tests: real tokens in a temporary directory.
//!
//! SoftHSM reads its configuration (`SOFTHSM2_CONF`) once, when the module is
//! initialized, and does not see tokens that other processes create later.
//! So each test process gets one token directory and one configuration file,
//! made before the module is first initialized, and each test gets its own
//! token in that directory, initialized in this process through cryptoki.
//! Tests of one process share the module and run one at a time: a
//! [`SoftHsmToken`] holds a process-wide lock until it is dropped.
//!
//! There is no fallback when SoftHSM is missing: the harness panics with a
//! message that points to `./test.sh`, which installs it.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use certa_backends::pkcs11::Pkcs11KeyStore;
use certa_core::key::{KeyUri, PinSource, Pkcs11Uri, SecretString};
pub use certa_test_support::ToolOutput;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::RvError;
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use tempfile::TempDir;

/// The security officer PIN of every test token.
pub const SO_PIN: &str = "so-secret-8642";
/// The user PIN of every test token.
pub const USER_PIN: &str = "user-1357";

/// Install paths of SoftHSM 2's module on Debian, Ubuntu (multiarch), Fedora and from source.
const MODULE_CANDIDATES: [&str; 6] = [
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
];

/// Returns the path of SoftHSM 2's PKCS#11 module.
///
/// `CERTA_SOFTHSM_MODULE` overrides the search.
///
/// # Panics
///
/// When SoftHSM 2 is not installed; the message points to `./test.sh`.
pub fn softhsm_module() -> PathBuf {
    if let Some(path) = std::env::var_os("CERTA_SOFTHSM_MODULE") {
        let path = PathBuf::from(path);
        assert!(
            path.exists(),
            "CERTA_SOFTHSM_MODULE names {}, which does not exist",
            path.display()
        );
        return path;
    }
    let multiarch = format!(
        "/usr/lib/{}-linux-gnu/softhsm/libsofthsm2.so",
        std::env::consts::ARCH
    );
    let candidates = MODULE_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .chain([PathBuf::from(multiarch)]);
    for candidate in candidates {
        if candidate.exists() {
            return candidate;
        }
    }
    panic!(
        "SoftHSM 2 is not installed: libsofthsm2.so is in none of {MODULE_CANDIDATES:?}; \
         run ./test.sh, which installs softhsm2, opensc and openssl"
    );
}

/// The token directory, configuration and module of this test process.
struct Environment {
    directory: TempDir,
    module: PathBuf,
    context: Pkcs11,
}

static ENVIRONMENT: OnceLock<Environment> = OnceLock::new();
static MECHANISMS: Mutex<Option<String>> = Mutex::new(None);
static TEST_LOCK: Mutex<()> = Mutex::new(());
static LABELS: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// Limits the mechanisms SoftHSM offers in this process, as its
/// `slots.mechanisms` setting (`"CKM_EC_KEY_PAIR_GEN,CKM_ECDSA"` offers only those two).
///
/// # Panics
///
/// When a token was already made in this process, because SoftHSM has then
/// read its configuration.
pub fn configure_mechanisms(setting: &str) {
    assert!(
        ENVIRONMENT.get().is_none(),
        "configure_mechanisms must run before the first SoftHsmToken::new of the process"
    );
    *MECHANISMS.lock().unwrap_or_else(PoisonError::into_inner) = Some(setting.to_owned());
}

fn environment() -> &'static Environment {
    ENVIRONMENT.get_or_init(|| {
        let module = softhsm_module();
        let directory = tempfile::Builder::new()
            .prefix("certa-softhsm-")
            .tempdir()
            .expect("create a temporary directory for SoftHSM");
        let tokens = directory.path().join("tokens");
        std::fs::create_dir(&tokens).expect("create the SoftHSM token directory");

        let mechanisms = MECHANISMS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .unwrap_or_else(|| "ALL".to_owned());
        let configuration = format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n\
             slots.removable = false\nslots.mechanisms = {mechanisms}\n",
            tokens.display()
        );
        let conf = directory.path().join("softhsm2.conf");
        std::fs::write(&conf, configuration).expect("write softhsm2.conf");
        // Set before the module is initialized, once per process, while the
        // test lock is held, so no other thread reads the environment meanwhile.
        std::env::set_var("SOFTHSM2_CONF", &conf);

        let context = Pkcs11::new(&module).unwrap_or_else(|error| {
            panic!(
                "load SoftHSM module {}: {error}; run ./test.sh",
                module.display()
            )
        });
        match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(())
            | Err(cryptoki::error::Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(error) => panic!("C_Initialize of SoftHSM failed: {error}"),
        }
        Environment {
            directory,
            module,
            context,
        }
    })
}

/// A fresh SoftHSM token, initialized with [`SO_PIN`] and [`USER_PIN`].
///
/// While it exists, no other test of the process can make a token.
pub struct SoftHsmToken {
    label: String,
    _lock: MutexGuard<'static, ()>,
}

impl std::fmt::Debug for SoftHsmToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftHsmToken")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl SoftHsmToken {
    /// Initializes a new token labelled `label` in this process's token directory.
    ///
    /// # Panics
    ///
    /// When SoftHSM is not installed, when `label` was used before in this
    /// process, or when initializing the token fails.
    pub fn new(label: &str) -> SoftHsmToken {
        let lock = TEST_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
        let environment = environment();
        {
            let mut labels = LABELS.lock().unwrap_or_else(PoisonError::into_inner);
            let fresh = labels
                .get_or_insert_with(HashSet::new)
                .insert(label.to_owned());
            assert!(
                fresh,
                "token label {label:?} is used twice in this test process"
            );
        }

        let context = &environment.context;
        let free_slot = context
            .get_slots_with_token()
            .expect("C_GetSlotList")
            .into_iter()
            .find(|slot| {
                context
                    .get_token_info(*slot)
                    .is_ok_and(|info| !info.token_initialized())
            })
            .expect("SoftHSM offers a slot with a free token");
        let so_pin = AuthPin::from(SO_PIN);
        context
            .init_token(free_slot, &so_pin, label)
            .expect("C_InitToken");

        let session = context
            .open_rw_session(free_slot)
            .expect("C_OpenSession on the new token");
        session
            .login(UserType::So, Some(&so_pin))
            .expect("C_Login as security officer");
        session
            .init_pin(&AuthPin::from(USER_PIN))
            .expect("C_InitPIN");
        session.logout().expect("C_Logout");
        drop(session);

        SoftHsmToken {
            label: label.to_owned(),
            _lock: lock,
        }
    }

    /// Returns the token's label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Returns the path of SoftHSM's module.
    pub fn module_path(&self) -> &Path {
        &environment().module
    }

    /// Creates and returns a directory for the test's files, removed when the process ends.
    pub fn directory(&self) -> PathBuf {
        let directory = environment().directory.path().join(&self.label);
        std::fs::create_dir_all(&directory).expect("create the test's directory");
        directory
    }

    /// Returns the user PIN as a secret.
    pub fn user_pin(&self) -> SecretString {
        SecretString::from(USER_PIN)
    }

    /// Returns a URI for the key labelled `object` on this token, with the module path and without PIN.
    pub fn uri(&self, object: &str) -> Pkcs11Uri {
        Pkcs11Uri {
            token: Some(self.label.clone()),
            object: Some(object.to_owned()),
            module_path: Some(self.module_path().to_path_buf()),
            ..Pkcs11Uri::default()
        }
    }

    /// Like [`SoftHsmToken::uri`], with the user PIN as `pin-value`.
    pub fn uri_with_pin(&self, object: &str) -> Pkcs11Uri {
        Pkcs11Uri {
            pin: Some(PinSource::Value(self.user_pin())),
            ..self.uri(object)
        }
    }

    /// [`SoftHsmToken::uri`] as a [`KeyUri`].
    pub fn key_uri(&self, object: &str) -> KeyUri {
        KeyUri::Pkcs11(self.uri(object))
    }

    /// Opens certa's key store on this token, with the user PIN in the store's URI.
    ///
    /// # Panics
    ///
    /// When the key store cannot be opened.
    pub fn key_store(&self) -> Pkcs11KeyStore {
        Pkcs11KeyStore::open(&self.uri_with_pin("store"))
            .unwrap_or_else(|error| panic!("open the key store on token {}: {error}", self.label))
    }

    /// Finalizes and initializes the SoftHSM module again in this process
    /// (`C_Finalize`, `C_Initialize`), as unplugging and replugging a token
    /// would: every session of the process becomes invalid and its login ends.
    ///
    /// # Panics
    ///
    /// When SoftHSM fails to finalize or initialize.
    pub fn restart_module(&self) {
        let context = &environment().context;
        context.clone().finalize().expect("C_Finalize");
        context
            .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .expect("C_Initialize after C_Finalize");
    }

    /// Logs this process out of the token through a session of the
    /// harness's own, as another library in the process could: PKCS#11
    /// keeps one login per process and token, so every session of certa's
    /// key store returns to the public state.
    ///
    /// # Panics
    ///
    /// When the token is not found or `C_Logout` fails.
    pub fn log_out_process(&self) {
        let context = &environment().context;
        let slot = context
            .get_slots_with_token()
            .expect("C_GetSlotList")
            .into_iter()
            .find(|slot| {
                context
                    .get_token_info(*slot)
                    .is_ok_and(|info| info.label() == self.label)
            })
            .expect("the token is in a slot");
        let session = context.open_ro_session(slot).expect("C_OpenSession");
        session.logout().expect("C_Logout");
    }

    /// Runs `pkcs11-tool --module SOFTHSM --token-label LABEL` with `args`.
    ///
    /// # Panics
    ///
    /// When `pkcs11-tool` cannot be started (run `./test.sh`, which installs OpenSC).
    pub fn pkcs11_tool<I, S>(&self, args: I) -> ToolOutput
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Command::new("pkcs11-tool")
            .arg("--module")
            .arg(self.module_path())
            .arg("--token-label")
            .arg(&self.label)
            .args(args)
            .output()
            .expect("start pkcs11-tool; ./test.sh installs it with OpenSC")
            .into()
    }
}
