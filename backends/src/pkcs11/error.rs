//! Errors of the PKCS#11 key store and their conversion into [`certa_core::Error`].
//!
//! A failed PKCS#11 call keeps the function's name and the return value's name
//! (`C_Login returned CKR_PIN_INCORRECT`), so an operator can look both up in
//! the token's documentation. No variant carries a PIN.

use std::fmt;
use std::path::PathBuf;

use certa_core::Error;
use cryptoki::context::Function;
use cryptoki::error::RvError;
use cryptoki::mechanism::MechanismType;

/// An error of the PKCS#11 key store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Pkcs11Error {
    /// The key URI names no module.
    #[error(
        "the pkcs11 URI names no PKCS#11 module; add module-path=/path/to/module.so \
         (SoftHSM 2: module-path=/usr/lib/softhsm/libsofthsm2.so) or module-name="
    )]
    NoModule,

    /// The module file does not exist.
    #[error(
        "PKCS#11 module {} not found; install the token's module (SoftHSM 2: apt-get install \
         softhsm2) or set module-path= to the module's file",
        path.display()
    )]
    ModuleNotFound {
        /// The path or library name that was tried.
        path: PathBuf,
    },

    /// The module exists but cannot be loaded or initialized.
    #[error(
        "failed to load PKCS#11 module {}: {source}; check that module-path= names a PKCS#11 \
         module built for this machine",
        path.display()
    )]
    ModuleNotLoadable {
        /// The module's path.
        path: PathBuf,
        /// The loader's or `C_Initialize`'s error.
        #[source]
        source: cryptoki::error::Error,
    },

    /// No initialized token matches the URI's token attributes.
    #[error("no token matches {requested} in module {}; tokens found: {}; check the URI's token= or serial= attribute", module.display(), found_list(found))]
    TokenNotFound {
        /// The URI's token attributes, as written in the URI.
        requested: String,
        /// The module that was searched.
        module: PathBuf,
        /// The tokens the module offers, one description each.
        found: Vec<String>,
    },

    /// More than one token matches the URI.
    #[error("{} tokens match {requested}: {}; add serial= or slot-id= to the key URI", found.len(), found_list(found))]
    AmbiguousToken {
        /// The URI's token attributes.
        requested: String,
        /// The matching tokens.
        found: Vec<String>,
    },

    /// The key URI names another token than the key store was opened on.
    #[error("key URI {key} names another token than this key store's token \"{token}\"; open a key store for that token")]
    OtherToken {
        /// The key URI, without PIN.
        key: String,
        /// The label of the key store's token.
        token: String,
    },

    /// Neither the caller, the key URI nor the key store's URI gives a PIN.
    #[error(
        "no PIN for token \"{token}\"; enter the PIN, or add pin-source=env:NAME or \
         pin-source=file:PATH to the key URI"
    )]
    PinMissing {
        /// The token's label.
        token: String,
    },

    /// The `pin-source` environment variable is not set or not Unicode.
    #[error("environment variable {name} named by pin-source is not set; export it or use pin-source=file:PATH")]
    PinSourceEnv {
        /// The variable's name.
        name: String,
        /// The reason the variable could not be read.
        #[source]
        source: std::env::VarError,
    },

    /// The `pin-source` file cannot be read.
    #[error("failed to read the PIN file {} named by pin-source: {source}", path.display())]
    PinSourceFile {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// The user PIN is locked after too many wrong attempts.
    #[error(
        "the user PIN of token \"{token}\" is locked (CKR_PIN_LOCKED); the token's security \
         officer must set a new user PIN (C_InitPIN, e.g. pkcs11-tool --init-pin --login \
         --login-type so)"
    )]
    PinLocked {
        /// The token's label.
        token: String,
    },

    /// This process is already logged in to the token with another PIN.
    #[error("the PIN differs from the PIN this process logged in to token \"{token}\" with")]
    PinDiffers {
        /// The token's label.
        token: String,
    },

    /// No private key matches the key URI.
    #[error("no private key matches {key}")]
    KeyNotFound {
        /// The key URI, without PIN.
        key: String,
    },

    /// Several private keys match the key URI.
    #[error(
        "{count} private keys match {key}; add id= or a more specific object= label to the key URI"
    )]
    AmbiguousKey {
        /// The key URI, without PIN.
        key: String,
        /// How many keys match.
        count: usize,
    },

    /// An object with the new key's label or id is already on the token.
    #[error("an object with {attribute} {value} is already on the token")]
    KeyExists {
        /// The key URI, without PIN.
        key: String,
        /// `"label"` or `"id"`.
        attribute: &'static str,
        /// The label, or the id in hexadecimal.
        value: String,
    },

    /// The private key has no public key object beside it.
    #[error(
        "no public key object found for {key}; the token holds the private key only, so \
         certa cannot build its SubjectPublicKeyInfo; import the public key with the same \
         id= and object= label"
    )]
    PublicKeyMissing {
        /// The key URI, without PIN.
        key: String,
    },

    /// The token does not offer a mechanism that the operation needs.
    #[error("token \"{token}\" does not offer mechanism {mechanism}, which {purpose} needs")]
    MechanismUnsupported {
        /// The token's label.
        token: String,
        /// The missing mechanism.
        mechanism: MechanismType,
        /// The purpose of the mechanism ("generating an ed25519 key").
        purpose: String,
    },

    /// A key, or a way of using it, that certa does not support.
    #[error("{what}")]
    KeyUnsupported {
        /// The unsupported key or use, and the reason.
        what: String,
    },

    /// An attribute value that the token returned is malformed.
    #[error("invalid {attribute} of {key}: {reason}")]
    InvalidAttribute {
        /// The attribute (`CKA_EC_POINT`).
        attribute: &'static str,
        /// The key URI, without PIN.
        key: String,
        /// The defect found.
        reason: String,
    },

    /// The token returned an ECDSA signature that is not r and s of equal length.
    #[error(
        "the token returned an ECDSA signature of {length} bytes; expected r and s of equal length"
    )]
    MalformedSignature {
        /// The signature's length in bytes.
        length: usize,
    },

    /// A PKCS#11 function returned an error.
    #[error("{} returned {}", function_name(*function), rv_name(*rv))]
    Call {
        /// The function.
        function: Function,
        /// Its return value.
        rv: RvError,
    },

    /// cryptoki failed without a PKCS#11 return value (a conversion, a missing function).
    #[error("cryptoki failed: {0}")]
    Cryptoki(#[source] cryptoki::error::Error),

    /// A DER encoding failed.
    #[error("DER encoding failed: {0}")]
    Der(#[from] der::Error),
}

impl From<cryptoki::error::Error> for Pkcs11Error {
    fn from(error: cryptoki::error::Error) -> Self {
        match error {
            cryptoki::error::Error::Pkcs11(rv, function) => Pkcs11Error::Call { function, rv },
            other => Pkcs11Error::Cryptoki(other),
        }
    }
}

impl Pkcs11Error {
    /// The PKCS#11 return value, when the error is a failed call.
    pub fn rv(&self) -> Option<RvError> {
        match self {
            Pkcs11Error::Call { rv, .. } => Some(*rv),
            _ => None,
        }
    }

    /// Returns whether the session is gone or no longer logged in, so that a new
    /// session with a new login may succeed.
    ///
    /// Invalid object handles count too: a token that logged the process out
    /// hides its private keys (SoftHSM 2.6.1 then returns
    /// CKR_OBJECT_HANDLE_INVALID from C_SignInit), and a restarted module
    /// numbers its objects anew.
    pub(crate) fn is_session_lost(&self) -> bool {
        matches!(
            self.rv(),
            Some(
                RvError::SessionHandleInvalid
                    | RvError::SessionClosed
                    | RvError::TokenNotPresent
                    | RvError::DeviceRemoved
                    | RvError::UserNotLoggedIn
                    | RvError::KeyHandleInvalid
                    | RvError::ObjectHandleInvalid
            )
        )
    }

    /// Converts the error into certa's error for `operation` ("unlocking")
    /// on `object` (a key URI or a token).
    pub(crate) fn into_core(self, operation: &str, object: &str) -> Error {
        match self {
            Pkcs11Error::Call {
                rv: RvError::PinIncorrect,
                ..
            }
            | Pkcs11Error::PinDiffers { .. } => Error::WrongPassword {
                key: object.to_owned(),
            },
            Pkcs11Error::TokenNotFound { .. } => Error::NotFound {
                kind: "token",
                name: self.to_string(),
            },
            Pkcs11Error::KeyNotFound { key } => Error::NotFound {
                kind: "key",
                name: key,
            },
            Pkcs11Error::KeyExists {
                key,
                attribute,
                value,
            } => Error::AlreadyExists {
                kind: "key",
                name: format!("{key} (an object with {attribute} {value} is on the token)"),
                hint: "choose another object= label and id=, or delete the existing object first",
            },
            Pkcs11Error::MechanismUnsupported { .. } | Pkcs11Error::KeyUnsupported { .. } => {
                Error::Unsupported {
                    what: self.to_string(),
                }
            }
            other => Error::KeyStore {
                operation: format!("{operation} {object}"),
                source: Box::new(other),
            },
        }
    }
}

fn found_list(found: &[String]) -> String {
    if found.is_empty() {
        return "none".to_owned();
    }
    found.join(", ")
}

/// The C name of a PKCS#11 function (`C_Login`).
pub(crate) fn function_name(function: Function) -> String {
    format!("C_{function:?}")
}

/// The name of a PKCS#11 return value as the standard spells it (`CKR_PIN_INCORRECT`).
pub(crate) fn rv_name(rv: RvError) -> String {
    match rv {
        RvError::VendorDefined(value) => format!("vendor-defined CK_RV {value:#x}"),
        RvError::UnknownErrorCode(value) => format!("unknown CK_RV {value:#x}"),
        other => format!("CKR_{}", screaming_snake_case(&format!("{other:?}"))),
    }
}

fn screaming_snake_case(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 8);
    for (index, character) in camel.chars().enumerate() {
        if character.is_ascii_uppercase() && index > 0 {
            out.push('_');
        }
        out.push(character.to_ascii_uppercase());
    }
    out
}

/// Shows `id` bytes as hexadecimal, as tools such as pkcs11-tool print them.
pub(crate) struct HexId<'a>(pub &'a [u8]);

impl fmt::Display for HexId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_values_keep_standard_names() {
        assert_eq!(rv_name(RvError::PinIncorrect), "CKR_PIN_INCORRECT");
        assert_eq!(
            rv_name(RvError::SessionHandleInvalid),
            "CKR_SESSION_HANDLE_INVALID"
        );
        assert_eq!(rv_name(RvError::UserNotLoggedIn), "CKR_USER_NOT_LOGGED_IN");
        assert_eq!(function_name(Function::Login), "C_Login");
    }

    #[test]
    fn wrong_pin_becomes_wrong_password() {
        let error = Pkcs11Error::Call {
            function: Function::Login,
            rv: RvError::PinIncorrect,
        };
        let converted = error.into_core("unlocking", "pkcs11:token=t;object=k");
        assert!(
            matches!(converted, Error::WrongPassword { .. }),
            "{converted}"
        );
    }

    #[test]
    fn locked_pin_says_security_officer_resets_it() {
        // SoftHSM 2.6 never locks a user PIN, so this message is checked here
        // and not against a token.
        let error = Pkcs11Error::PinLocked {
            token: "certa".to_owned(),
        };
        let message = error.into_core("unlocking", "key").to_string();
        assert!(message.contains("CKR_PIN_LOCKED"), "{message}");
        assert!(message.contains("security officer"), "{message}");
    }

    #[test]
    fn lost_sessions_are_recognized() {
        let lost = Pkcs11Error::Call {
            function: Function::Sign,
            rv: RvError::SessionHandleInvalid,
        };
        let other = Pkcs11Error::Call {
            function: Function::Sign,
            rv: RvError::DataInvalid,
        };
        assert!(lost.is_session_lost());
        assert!(!other.is_session_lost());
    }
}
