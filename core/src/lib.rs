//! Domain model and workflows of the certa certificate authority.
//!
//! `certa-core` holds what does not depend on where a private key lives: the
//! [`key::KeyStore`] trait and key URIs, subject names, CA set-up, CSR intake,
//! certificate profiles, the CA server's repository, the CA client and the
//! HTTP API. Key stores themselves live in `certa-backends`.

pub mod ca;
pub mod client;
pub mod csr;
pub mod error;
pub mod fingerprint;
pub mod fsutil;
pub mod http;
pub mod key;
pub mod name;
pub mod settings;
pub mod tls;

pub use error::{Error, Result};
