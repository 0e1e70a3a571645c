//! The commented examples in config/ are valid settings, set every value
//! they mention, and name keys certa can parse.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};

use certa_core::key::{KeyUri, PinSource};
use certa_core::settings::Settings;

fn example(name: &str) -> (String, Settings) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../config")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let settings: Settings = serde_yaml::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "{} does not match core/src/settings.rs: {e}",
            path.display()
        )
    });
    (text, settings)
}

/// Every value written in the example is one the settings keep: serializing
/// what was loaded gives the example back.
fn assert_nothing_ignored(text: &str, settings: &Settings) {
    let written: serde_yaml::Value = serde_yaml::from_str(text).unwrap();
    assert_eq!(serde_yaml::to_value(settings).unwrap(), written);
}

#[test]
fn server_example_is_valid_settings() {
    let (text, settings) = example("server.yaml");
    assert_nothing_ignored(&text, &settings);

    let server = settings.server.unwrap();
    assert!(settings.client.is_none());
    assert_eq!(server.directory, Path::new("flca"));
    let key: KeyUri = server.key.parse().unwrap();
    assert_eq!(key, KeyUri::file("flca/FLCA.key"));
}

#[test]
fn client_example_is_valid_settings() {
    let (text, settings) = example("client.yaml");
    assert_nothing_ignored(&text, &settings);

    let client = settings.client.unwrap();
    assert!(settings.server.is_none());
    assert_eq!(client.contact.name, "Ada Operator");
    assert!(client.requests.is_empty());
}

#[test]
fn softhsm_example_names_a_token_key_with_pin_from_environment() {
    let (text, settings) = example("softhsm-server.yaml");
    assert_nothing_ignored(&text, &settings);

    let server = settings.server.unwrap();
    let KeyUri::Pkcs11(key) = server.key.parse::<KeyUri>().unwrap() else {
        panic!("not a pkcs11: key URI: {}", server.key);
    };
    assert_eq!(key.token.as_deref(), Some("certa"));
    assert_eq!(key.object.as_deref(), Some("FLCA"));
    assert_eq!(key.pin, Some(PinSource::Env("CERTA_TOKEN_PIN".to_owned())));
    assert_eq!(
        key.module(),
        Some(PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"))
    );
    assert_eq!(
        key.to_string(),
        server.key,
        "certa writes the URI as the example does"
    );
}
