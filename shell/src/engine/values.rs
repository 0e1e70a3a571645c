//! Building the maps that shell functions return.

use std::path::Path;

use certa_core::fingerprint::Fingerprints;
use certa_core::settings::Contact;
use rhai::{Array, Dynamic, Map, INT};

/// A result map under construction.
#[derive(Default)]
pub struct Fields(Map);

impl Fields {
    /// Starts an empty map.
    pub fn new() -> Self {
        Fields::default()
    }

    /// Adds a string field.
    pub fn text(mut self, key: &str, value: impl Into<String>) -> Self {
        self.0.insert(key.into(), Dynamic::from(value.into()));
        self
    }

    /// Adds a string field when there is a value; a missing one is left out.
    pub fn opt_text(self, key: &str, value: Option<impl Into<String>>) -> Self {
        match value {
            Some(value) => self.text(key, value),
            None => self,
        }
    }

    /// Adds a number field. Numbers above `INT::MAX` are shown as strings, which no certificate number reaches in practice.
    pub fn number(mut self, key: &str, value: u64) -> Self {
        let value = match INT::try_from(value) {
            Ok(number) => Dynamic::from(number),
            Err(_) => Dynamic::from(value.to_string()),
        };
        self.0.insert(key.into(), value);
        self
    }

    /// Adds a path field, as a string.
    pub fn path(self, key: &str, value: &Path) -> Self {
        self.text(key, value.display().to_string())
    }

    /// Adds an array of strings.
    pub fn texts(mut self, key: &str, values: &[String]) -> Self {
        let array: Array = values.iter().cloned().map(Dynamic::from).collect();
        self.0.insert(key.into(), Dynamic::from_array(array));
        self
    }

    /// Adds `sha1` and `sha256` fingerprint fields.
    pub fn fingerprints(self, fingerprints: &Fingerprints) -> Self {
        self.text("sha1", fingerprints.sha1.clone())
            .text("sha256", fingerprints.sha256.clone())
    }

    /// Adds a nested map.
    pub fn map(mut self, key: &str, value: Map) -> Self {
        self.0.insert(key.into(), Dynamic::from_map(value));
        self
    }

    /// Adds the contact as a nested map `#{name, phone, email}`.
    pub fn contact(self, key: &str, contact: &Contact) -> Self {
        let fields = Fields::new()
            .text("name", contact.name.clone())
            .opt_text("phone", contact.phone.clone())
            .opt_text("email", contact.email.clone());
        self.map(key, fields.build())
    }

    /// Finishes the map.
    pub fn build(self) -> Map {
        self.0
    }
}

/// Collects maps into a Rhai array.
pub fn array_of(maps: impl IntoIterator<Item = Map>) -> Array {
    maps.into_iter().map(Dynamic::from_map).collect()
}
