//! Choosing the token a key URI names (the spec's slot and token management functions).

use std::path::Path;

use certa_core::key::Pkcs11Uri;
use cryptoki::context::Pkcs11;
use cryptoki::mechanism::MechanismType;
use cryptoki::slot::{Slot, TokenInfo};

use super::error::Pkcs11Error;

/// The token a key store works on.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    /// The slot that contains the token.
    pub slot: Slot,
    /// `CKA_LABEL` of the token, without padding.
    pub label: String,
    /// The token's serial number, without padding.
    pub serial: String,
    /// The mechanisms the token offers.
    pub mechanisms: Vec<MechanismType>,
}

impl Token {
    /// Returns whether the token offers `mechanism`.
    pub fn offers(&self, mechanism: MechanismType) -> bool {
        self.mechanisms.contains(&mechanism)
    }

    /// Returns whether `uri`'s token attributes, where given, name this token.
    pub fn matches(&self, uri: &Pkcs11Uri) -> bool {
        let label_matches = uri.token.as_ref().is_none_or(|label| *label == self.label);
        let serial_matches = uri
            .serial
            .as_ref()
            .is_none_or(|serial| *serial == self.serial);
        let slot_matches = uri.slot_id.is_none_or(|id| id == self.slot.id());
        label_matches && serial_matches && slot_matches
    }
}

/// Finds the one initialized token that matches `uri`'s token, serial,
/// slot-id, manufacturer and model attributes.
///
/// A URI without any of them names the module's only token.
pub(crate) fn find_token(
    context: &Pkcs11,
    module: &Path,
    uri: &Pkcs11Uri,
) -> Result<Token, Pkcs11Error> {
    let slots = context.get_slots_with_initialized_token()?;
    let mut candidates = Vec::with_capacity(slots.len());
    for slot in slots {
        let info = context.get_token_info(slot)?;
        candidates.push((slot, info));
    }

    let requested = requested_token(uri);
    let matching: Vec<&(Slot, TokenInfo)> = candidates
        .iter()
        .filter(|(slot, info)| token_matches(uri, *slot, info))
        .collect();
    let [(slot, info)] = matching.as_slice() else {
        let described = |list: &[&(Slot, TokenInfo)]| -> Vec<String> {
            list.iter()
                .map(|(slot, info)| describe_token(*slot, info))
                .collect()
        };
        if matching.is_empty() {
            return Err(Pkcs11Error::TokenNotFound {
                requested,
                module: module.to_path_buf(),
                found: described(&candidates.iter().collect::<Vec<_>>()),
            });
        }
        return Err(Pkcs11Error::AmbiguousToken {
            requested,
            found: described(&matching),
        });
    };

    let mechanisms = context.get_mechanism_list(*slot)?;
    Ok(Token {
        slot: *slot,
        label: info.label().to_owned(),
        serial: info.serial_number().to_owned(),
        mechanisms,
    })
}

fn token_matches(uri: &Pkcs11Uri, slot: Slot, info: &TokenInfo) -> bool {
    let checks = [
        (&uri.token, info.label()),
        (&uri.serial, info.serial_number()),
        (&uri.manufacturer, info.manufacturer_id()),
        (&uri.model, info.model()),
    ];
    let attributes_match = checks.iter().all(|(requested, actual)| {
        requested
            .as_deref()
            .is_none_or(|requested| requested == *actual)
    });
    attributes_match && uri.slot_id.is_none_or(|id| id == slot.id())
}

/// Formats the URI's token attributes as an operator writes them.
fn requested_token(uri: &Pkcs11Uri) -> String {
    let mut parts = Vec::new();
    let text = [
        ("token", &uri.token),
        ("serial", &uri.serial),
        ("manufacturer", &uri.manufacturer),
        ("model", &uri.model),
    ];
    for (name, value) in text {
        if let Some(value) = value {
            parts.push(format!("{name}={value:?}"));
        }
    }
    if let Some(id) = uri.slot_id {
        parts.push(format!("slot-id={id}"));
    }
    if parts.is_empty() {
        return "any token".to_owned();
    }
    parts.join(";")
}

fn describe_token(slot: Slot, info: &TokenInfo) -> String {
    format!(
        "{:?} (serial {}, slot-id {})",
        info.label(),
        info.serial_number(),
        slot.id()
    )
}
