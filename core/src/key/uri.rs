//! Key URIs: `file:PATH` and RFC 7512 `pkcs11:` URIs, parsed once into typed values.
//!
//! A `pin-value` is kept as a secret: it is left out of `Display` and `Debug`,
//! so a URI can be logged and shown in errors as it is.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use secrecy::SecretString;

/// Why a key URI was rejected. Each malformed or conflicting attribute has its own variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyUriError {
    /// The URI's scheme is neither `file` nor `pkcs11`.
    #[error("unsupported key URI scheme {shown:?}; use file:PATH or pkcs11:...")]
    UnknownScheme {
        /// The scheme, up to the colon.
        shown: String,
    },
    /// No `scheme:` at the start; what was given is not shown, as it may be a PIN.
    #[error("key URI has no scheme; use file:PATH or pkcs11:...")]
    MissingScheme,
    /// `file://HOST/...` with a host other than `localhost`.
    #[error("file: key URI names the host {host:?}; keys are read on this machine only, so write file:/PATH or file:PATH")]
    FileHost {
        /// The host as written.
        host: String,
    },
    /// `file:` with no path.
    #[error("empty path in file: key URI; give the key file, as in file:flca/FLCA.key")]
    EmptyPath,
    /// An attribute without `=`.
    #[error("pkcs11 URI attribute {attribute:?} has no value; write it as name=value")]
    MissingValue {
        /// The attribute as written; `<redacted>` in a URI with a `pin-value`,
        /// where it could be part of the PIN (an unescaped `&`).
        attribute: String,
    },
    /// An attribute name that RFC 7512 does not define and certa does not use.
    #[error("unknown pkcs11 URI attribute {name:?}")]
    UnknownAttribute {
        /// The attribute's name; `<redacted>` in a URI with a `pin-value`.
        name: String,
    },
    /// A path attribute in the query, or a query attribute in the path.
    #[error("pkcs11 URI attribute {name:?} belongs in the {expected} part of the URI")]
    MisplacedAttribute {
        /// The attribute's name.
        name: String,
        /// `"path"` (before `?`, separated by `;`) or `"query"` (after `?`, separated by `&`).
        expected: &'static str,
    },
    /// The same attribute twice.
    #[error("pkcs11 URI attribute {name:?} is given more than once")]
    DuplicateAttribute {
        /// The attribute's name.
        name: String,
    },
    /// A bad `%XX` escape or a value that is not UTF-8 where text is expected.
    #[error("pkcs11 URI attribute {name:?} has an invalid percent-encoded value")]
    InvalidEncoding {
        /// The attribute's name.
        name: String,
    },
    /// `slot-id` is not a decimal number.
    #[error("pkcs11 URI slot-id {value:?} is not a decimal number")]
    InvalidSlotId {
        /// The value as written.
        value: String,
    },
    /// `type` is not one of RFC 7512's object types.
    #[error("pkcs11 URI type {value:?} is not one of private, public, cert, secret-key, data")]
    InvalidObjectType {
        /// The value as written.
        value: String,
    },
    /// `type` names an object that is not a key (`cert`, `secret-key`, `data`).
    #[error("pkcs11 URI type {value:?} names no key pair; use type=private (or leave type out)")]
    UnsupportedObjectType {
        /// The value as written.
        value: String,
    },
    /// `object` is empty.
    #[error("pkcs11 URI object is empty; give the key's label, as in object=FLCA")]
    EmptyObject,
    /// `id` is empty.
    #[error(
        "pkcs11 URI id is empty; give the object's CKA_ID bytes percent-encoded, as in id=%01"
    )]
    EmptyId,
    /// `pin-source` is neither `env:NAME` nor `file:PATH` (or a bare path).
    #[error("pkcs11 URI pin-source {value:?} is invalid; use env:NAME or file:PATH")]
    InvalidPinSource {
        /// The value as written.
        value: String,
    },
    /// Two attributes that cannot be used together.
    #[error("pkcs11 URI attributes {first:?} and {second:?} conflict; keep one of them")]
    Conflict {
        /// The first attribute's name.
        first: &'static str,
        /// The second attribute's name.
        second: &'static str,
    },
    /// Neither `object` nor `id` names the key.
    #[error("pkcs11 URI names no key; add object=LABEL or id=%XX")]
    MissingKeyName,
}

/// Where a key is kept.
// A key URI is parsed once and then passed by reference, so the size of the
// `Pkcs11` variant costs nothing worth a `Box` in every match.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, PartialEq, Eq)]
pub enum KeyUri {
    /// An encrypted PKCS#8 PEM file. A relative path is relative to the instance directory.
    File(PathBuf),
    /// A key object on a PKCS#11 token.
    Pkcs11(Pkcs11Uri),
}

impl KeyUri {
    /// Names the key file at `path`.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        KeyUri::File(path.into())
    }

    /// The key file a `file:` URI names, with a relative path resolved
    /// against `instance_dir`; `None` for a `pkcs11:` URI.
    pub fn file_path(&self, instance_dir: &Path) -> Option<PathBuf> {
        match self {
            KeyUri::File(path) => Some(instance_dir.join(path)),
            KeyUri::Pkcs11(_) => None,
        }
    }

    /// The URI's scheme, `"file"` or `"pkcs11"`.
    pub fn scheme(&self) -> &'static str {
        match self {
            KeyUri::File(_) => "file",
            KeyUri::Pkcs11(_) => "pkcs11",
        }
    }

    /// Returns the URI without a `pin-value`, for keeping or handing back;
    /// a `pin-source` stays, because it names where the PIN is, not the PIN.
    pub fn without_pin_value(&self) -> KeyUri {
        match self {
            KeyUri::Pkcs11(uri) if matches!(uri.pin, Some(PinSource::Value(_))) => {
                KeyUri::Pkcs11(Pkcs11Uri {
                    pin: None,
                    ..uri.clone()
                })
            }
            other => other.clone(),
        }
    }
}

impl FromStr for KeyUri {
    type Err = KeyUriError;

    /// Parses `file:PATH` (also `file:///PATH` and `file://localhost/PATH`;
    /// the path is taken as it is, without percent-decoding) or a `pkcs11:`
    /// URI. The scheme is matched without regard to case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (scheme, rest) = split_scheme(s)?;
        match scheme.to_ascii_lowercase().as_str() {
            "file" => parse_file_path(rest).map(KeyUri::File),
            "pkcs11" => parse_pkcs11(s, rest).map(KeyUri::Pkcs11),
            _ => Err(KeyUriError::UnknownScheme {
                shown: scheme.to_owned(),
            }),
        }
    }
}

/// Splits `scheme:rest`; a scheme is a letter followed by letters, digits, `+`, `-` or `.` (RFC 3986).
fn split_scheme(s: &str) -> Result<(&str, &str), KeyUriError> {
    let Some((scheme, rest)) = s.split_once(':') else {
        return Err(KeyUriError::MissingScheme);
    };
    let valid = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !valid {
        return Err(KeyUriError::MissingScheme);
    }
    Ok((scheme, rest))
}

fn parse_file_path(rest: &str) -> Result<PathBuf, KeyUriError> {
    let path = match rest.strip_prefix("//") {
        Some(authority_and_path) => {
            let (host, path) = match authority_and_path.find('/') {
                Some(slash) => authority_and_path.split_at(slash),
                None => (authority_and_path, ""),
            };
            if !host.is_empty() && !host.eq_ignore_ascii_case("localhost") {
                return Err(KeyUriError::FileHost {
                    host: host.chars().take(40).collect(),
                });
            }
            path
        }
        None => rest,
    };
    if path.is_empty() {
        return Err(KeyUriError::EmptyPath);
    }
    Ok(PathBuf::from(path))
}

impl fmt::Display for KeyUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyUri::File(path) => write!(f, "file:{}", path.display()),
            KeyUri::Pkcs11(uri) => uri.fmt(f),
        }
    }
}

impl fmt::Debug for KeyUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyUri({self})")
    }
}

/// The kind of object a `pkcs11:` URI names (`type=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectType {
    /// `private`: a private key.
    Private,
    /// `public`: a public key.
    Public,
    /// `cert`: a certificate.
    Cert,
    /// `secret-key`: a symmetric key.
    SecretKey,
    /// `data`: a data object.
    Data,
}

impl ObjectType {
    fn as_str(self) -> &'static str {
        match self {
            ObjectType::Private => "private",
            ObjectType::Public => "public",
            ObjectType::Cert => "cert",
            ObjectType::SecretKey => "secret-key",
            ObjectType::Data => "data",
        }
    }
}

/// Where the PIN of a token comes from, besides a prompt.
#[derive(Clone)]
pub enum PinSource {
    /// `pin-source=env:NAME`: the environment variable NAME.
    Env(String),
    /// `pin-source=file:PATH` (or a bare path): the first line of the file.
    File(PathBuf),
    /// `pin-value=...`: the PIN itself, in the URI. Never shown.
    Value(SecretString),
}

impl PartialEq for PinSource {
    fn eq(&self, other: &Self) -> bool {
        use secrecy::ExposeSecret;
        match (self, other) {
            (PinSource::Env(a), PinSource::Env(b)) => a == b,
            (PinSource::File(a), PinSource::File(b)) => a == b,
            (PinSource::Value(a), PinSource::Value(b)) => a.expose_secret() == b.expose_secret(),
            _ => false,
        }
    }
}

impl Eq for PinSource {}

impl fmt::Debug for PinSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PinSource::Env(name) => write!(f, "Env({name:?})"),
            PinSource::File(path) => write!(f, "File({path:?})"),
            PinSource::Value(_) => f.write_str("Value(<redacted>)"),
        }
    }
}

/// A parsed RFC 7512 `pkcs11:` URI, limited to the attributes certa uses.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// `token`: the token label.
    pub token: Option<String>,
    /// `manufacturer`: the token's manufacturer ID.
    pub manufacturer: Option<String>,
    /// `model`: the token's model.
    pub model: Option<String>,
    /// `serial`: the token's serial number.
    pub serial: Option<String>,
    /// `slot-id`: the slot's number.
    pub slot_id: Option<u64>,
    /// `object`: the key's label (`CKA_LABEL`).
    pub object: Option<String>,
    /// `id`: the key's `CKA_ID` bytes.
    pub id: Option<Vec<u8>>,
    /// `type`: the object's class.
    pub object_type: Option<ObjectType>,
    /// `module-path`: the PKCS#11 module (shared library) to load.
    pub module_path: Option<PathBuf>,
    /// `module-name`: the module's name, without directory or suffix.
    pub module_name: Option<String>,
    /// `pin-source` or `pin-value`.
    pub pin: Option<PinSource>,
}

const PATH_ATTRIBUTES: [&str; 8] = [
    "token",
    "manufacturer",
    "model",
    "serial",
    "slot-id",
    "object",
    "id",
    "type",
];
const QUERY_ATTRIBUTES: [&str; 4] = ["module-path", "module-name", "pin-source", "pin-value"];

impl FromStr for Pkcs11Uri {
    type Err = KeyUriError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (scheme, rest) = split_scheme(s)?;
        if !scheme.eq_ignore_ascii_case("pkcs11") {
            return Err(KeyUriError::UnknownScheme {
                shown: scheme.to_owned(),
            });
        }
        parse_pkcs11(s, rest)
    }
}

/// Parses what follows `pkcs11:` in `uri`.
fn parse_pkcs11(uri: &str, rest: &str) -> Result<Pkcs11Uri, KeyUriError> {
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    // With a pin-value in the URI, an unescaped '&' in the PIN would make
    // part of it look like an attribute: such text is never echoed then.
    let redact = uri.contains("pin-value");

    let mut parsed = Pkcs11Uri::default();
    let mut seen: Vec<&str> = Vec::new();
    let path_parts = path.split(';').map(|part| (part, "path"));
    let query_parts = query.split('&').map(|part| (part, "query"));
    for (part, component) in path_parts.chain(query_parts) {
        if part.is_empty() {
            continue;
        }
        let Some((name, value)) = part.split_once('=') else {
            return Err(KeyUriError::MissingValue {
                attribute: shown_attribute(part, redact),
            });
        };
        check_placement(name, component, redact)?;
        if seen.contains(&name) {
            return Err(KeyUriError::DuplicateAttribute {
                name: name.to_owned(),
            });
        }
        seen.push(name);
        parsed.set_attribute(name, value)?;
    }

    parsed.check_conflicts()?;
    Ok(parsed)
}

const REDACTED: &str = "<redacted>";

/// Shows an attribute written without `=`, unless it could be (part of) a PIN.
fn shown_attribute(part: &str, redact: bool) -> String {
    if redact {
        REDACTED.to_owned()
    } else if part.starts_with("pin") {
        "pin-...".to_owned()
    } else {
        part.chars().take(40).collect()
    }
}

fn check_placement(name: &str, component: &'static str, redact: bool) -> Result<(), KeyUriError> {
    let in_path = PATH_ATTRIBUTES.contains(&name);
    let in_query = QUERY_ATTRIBUTES.contains(&name);
    if !in_path && !in_query {
        let name = if redact {
            REDACTED.to_owned()
        } else {
            name.chars().take(40).collect()
        };
        return Err(KeyUriError::UnknownAttribute { name });
    }
    match (component, in_path) {
        ("path", false) => Err(KeyUriError::MisplacedAttribute {
            name: name.to_owned(),
            expected: "query",
        }),
        ("query", true) => Err(KeyUriError::MisplacedAttribute {
            name: name.to_owned(),
            expected: "path",
        }),
        _ => Ok(()),
    }
}

fn decode_bytes(name: &str, value: &str) -> Result<Vec<u8>, KeyUriError> {
    // percent_decode_str passes a malformed escape through unchanged; reject it instead.
    let bytes = value.as_bytes();
    for (index, byte) in bytes.iter().enumerate() {
        if *byte == b'%' {
            let valid = bytes
                .get(index + 1..index + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit));
            if !valid {
                return Err(KeyUriError::InvalidEncoding {
                    name: name.to_owned(),
                });
            }
        }
    }
    Ok(percent_decode_str(value).collect())
}

fn decode_text(name: &str, value: &str) -> Result<String, KeyUriError> {
    String::from_utf8(decode_bytes(name, value)?).map_err(|_| KeyUriError::InvalidEncoding {
        name: name.to_owned(),
    })
}

impl Pkcs11Uri {
    fn set_attribute(&mut self, name: &str, value: &str) -> Result<(), KeyUriError> {
        match name {
            "token" => self.token = Some(decode_text(name, value)?),
            "manufacturer" => self.manufacturer = Some(decode_text(name, value)?),
            "model" => self.model = Some(decode_text(name, value)?),
            "serial" => self.serial = Some(decode_text(name, value)?),
            "slot-id" => {
                let text = decode_text(name, value)?;
                let valid = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
                let slot = text.parse().ok().filter(|_| valid);
                let Some(slot) = slot else {
                    return Err(KeyUriError::InvalidSlotId {
                        value: text.chars().take(40).collect(),
                    });
                };
                self.slot_id = Some(slot);
            }
            "object" => {
                let object = decode_text(name, value)?;
                if object.is_empty() {
                    return Err(KeyUriError::EmptyObject);
                }
                self.object = Some(object);
            }
            "id" => {
                let id = decode_bytes(name, value)?;
                if id.is_empty() {
                    return Err(KeyUriError::EmptyId);
                }
                self.id = Some(id);
            }
            "type" => {
                let text = decode_text(name, value)?;
                let object_type = match text.as_str() {
                    "private" => ObjectType::Private,
                    "public" => ObjectType::Public,
                    "cert" => ObjectType::Cert,
                    "secret-key" => ObjectType::SecretKey,
                    "data" => ObjectType::Data,
                    _ => {
                        return Err(KeyUriError::InvalidObjectType {
                            value: text.chars().take(40).collect(),
                        })
                    }
                };
                self.object_type = Some(object_type);
            }
            "module-path" => self.module_path = Some(PathBuf::from(decode_text(name, value)?)),
            "module-name" => self.module_name = Some(decode_text(name, value)?),
            "pin-source" | "pin-value" if self.pin.is_some() => {
                return Err(KeyUriError::Conflict {
                    first: "pin-source",
                    second: "pin-value",
                });
            }
            "pin-source" => self.pin = Some(parse_pin_source(&decode_text(name, value)?)?),
            "pin-value" => {
                // The PIN is decoded but never echoed, not even in an encoding error.
                let pin = decode_text(name, value)?;
                self.pin = Some(PinSource::Value(SecretString::from(pin)));
            }
            _ => unreachable!("attribute names are checked before they are set"),
        }
        Ok(())
    }

    fn check_conflicts(&self) -> Result<(), KeyUriError> {
        if self.module_path.is_some() && self.module_name.is_some() {
            return Err(KeyUriError::Conflict {
                first: "module-path",
                second: "module-name",
            });
        }
        if let Some(object_type) = self.object_type {
            if object_type != ObjectType::Private && object_type != ObjectType::Public {
                return Err(KeyUriError::UnsupportedObjectType {
                    value: object_type.as_str().to_owned(),
                });
            }
        }
        if self.object.is_none() && self.id.is_none() {
            return Err(KeyUriError::MissingKeyName);
        }
        Ok(())
    }

    /// The module to load: `module-path`, else `module-name` as a library file name.
    pub fn module(&self) -> Option<PathBuf> {
        if let Some(path) = &self.module_path {
            return Some(path.clone());
        }
        self.module_name
            .as_ref()
            .map(|name| PathBuf::from(format!("lib{name}.so")))
    }

    /// Returns a copy of the URI with `module-path` set to `path`.
    pub fn with_module_path(mut self, path: &Path) -> Self {
        self.module_name = None;
        self.module_path = Some(path.to_path_buf());
        self
    }
}

fn parse_pin_source(value: &str) -> Result<PinSource, KeyUriError> {
    let invalid = || KeyUriError::InvalidPinSource {
        value: value.chars().take(60).collect(),
    };
    if let Some(name) = value.strip_prefix("env:") {
        let valid =
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        return if valid {
            Ok(PinSource::Env(name.to_owned()))
        } else {
            Err(invalid())
        };
    }
    let path = value
        .strip_prefix("file://")
        .or_else(|| value.strip_prefix("file:"));
    let path = path.unwrap_or(value);
    if path.is_empty() || path.contains(':') {
        return Err(invalid());
    }
    Ok(PinSource::File(PathBuf::from(path)))
}

/// Characters left unescaped in a path attribute value: RFC 3986's
/// unreserved characters and `:` (RFC 7512, `pk11-v-pchar`, less the
/// characters this parser splits on or that read badly).
const PATH_VALUE_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b':');

/// Characters left unescaped in a query attribute value: those of a path
/// value, and `/` (RFC 7512, `pk11-v-qchar`), so that paths read as paths.
const QUERY_VALUE_SET: &AsciiSet = &PATH_VALUE_SET.remove(b'/');

fn write_attribute(
    f: &mut fmt::Formatter<'_>,
    separator: &mut &'static str,
    name: &str,
    value: &str,
) -> fmt::Result {
    write!(
        f,
        "{separator}{name}={}",
        utf8_percent_encode(value, PATH_VALUE_SET)
    )?;
    *separator = ";";
    Ok(())
}

impl fmt::Display for Pkcs11Uri {
    /// Writes the URI without any `pin-value`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("pkcs11:")?;
        let mut separator = "";
        let text_attributes = [
            ("token", &self.token),
            ("manufacturer", &self.manufacturer),
            ("model", &self.model),
            ("serial", &self.serial),
        ];
        for (name, value) in text_attributes {
            if let Some(value) = value {
                write_attribute(f, &mut separator, name, value)?;
            }
        }
        if let Some(slot) = self.slot_id {
            write_attribute(f, &mut separator, "slot-id", &slot.to_string())?;
        }
        if let Some(object) = &self.object {
            write_attribute(f, &mut separator, "object", object)?;
        }
        if let Some(id) = &self.id {
            let encoded: String = id.iter().map(|byte| format!("%{byte:02X}")).collect();
            write!(f, "{separator}id={encoded}")?;
            separator = ";";
        }
        if let Some(object_type) = self.object_type {
            write_attribute(f, &mut separator, "type", object_type.as_str())?;
        }

        let mut query = Vec::new();
        if let Some(path) = &self.module_path {
            query.push(("module-path", path.display().to_string()));
        }
        if let Some(name) = &self.module_name {
            query.push(("module-name", name.clone()));
        }
        match &self.pin {
            Some(PinSource::Env(name)) => query.push(("pin-source", format!("env:{name}"))),
            Some(PinSource::File(path)) => {
                query.push(("pin-source", format!("file:{}", path.display())))
            }
            Some(PinSource::Value(_)) | None => {}
        }
        for (index, (name, value)) in query.iter().enumerate() {
            let separator = if index == 0 { "?" } else { "&" };
            write!(
                f,
                "{separator}{name}={}",
                utf8_percent_encode(value, QUERY_VALUE_SET)
            )?;
        }
        Ok(())
    }
}

impl fmt::Debug for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pkcs11Uri({self})")?;
        if matches!(self.pin, Some(PinSource::Value(_))) {
            f.write_str(" with pin-value <redacted>")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;
    use secrecy::ExposeSecret;

    const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
    const PIN: &str = "s3cr3t-PIN-4711";

    fn pkcs11(uri: &str) -> Pkcs11Uri {
        match uri.parse::<KeyUri>() {
            Ok(KeyUri::Pkcs11(parsed)) => parsed,
            other => panic!("{uri}: {other:?}"),
        }
    }

    fn error(uri: &str) -> KeyUriError {
        match uri.parse::<KeyUri>() {
            Err(error) => error,
            Ok(parsed) => panic!("{uri} parsed as {parsed:?}"),
        }
    }

    #[test]
    fn every_path_attribute_is_parsed() {
        let uri = pkcs11(
            "pkcs11:token=certa;manufacturer=SoftHSM%20project;model=SoftHSM%20v2;\
             serial=0123abcd;slot-id=42;object=FLCA;id=%01%ff;type=private",
        );

        assert_eq!(uri.token.as_deref(), Some("certa"));
        assert_eq!(uri.manufacturer.as_deref(), Some("SoftHSM project"));
        assert_eq!(uri.model.as_deref(), Some("SoftHSM v2"));
        assert_eq!(uri.serial.as_deref(), Some("0123abcd"));
        assert_eq!(uri.slot_id, Some(42));
        assert_eq!(uri.object.as_deref(), Some("FLCA"));
        assert_eq!(uri.id.as_deref(), Some([0x01, 0xff].as_slice()));
        assert_eq!(uri.object_type, Some(ObjectType::Private));
        assert_eq!(uri.pin, None);
    }

    #[test]
    fn every_query_attribute_is_parsed() {
        let uri = pkcs11(&format!(
            "pkcs11:object=FLCA?module-path={MODULE}&pin-source=env:CERTA_PIN"
        ));
        assert_eq!(uri.module_path.as_deref(), Some(Path::new(MODULE)));
        assert_eq!(uri.module(), Some(PathBuf::from(MODULE)));
        assert_eq!(uri.pin, Some(PinSource::Env("CERTA_PIN".to_owned())));

        let uri = pkcs11("pkcs11:object=FLCA?module-name=softhsm2&pin-source=file:/etc/certa/pin");
        assert_eq!(uri.module_name.as_deref(), Some("softhsm2"));
        assert_eq!(uri.module(), Some(PathBuf::from("libsofthsm2.so")));
        assert_eq!(
            uri.pin,
            Some(PinSource::File(PathBuf::from("/etc/certa/pin")))
        );

        let uri = pkcs11(&format!("pkcs11:id=%01?pin-value={PIN}"));
        let Some(PinSource::Value(pin)) = &uri.pin else {
            panic!("no pin-value: {uri:?}");
        };
        assert_eq!(pin.expose_secret(), PIN);
    }

    #[test]
    fn pin_source_forms() {
        let cases = [
            ("env:CERTA_PIN", PinSource::Env("CERTA_PIN".to_owned())),
            ("file:/run/pin", PinSource::File(PathBuf::from("/run/pin"))),
            (
                "file:///run/pin",
                PinSource::File(PathBuf::from("/run/pin")),
            ),
            ("/run/pin", PinSource::File(PathBuf::from("/run/pin"))),
            (
                "pins/token.pin",
                PinSource::File(PathBuf::from("pins/token.pin")),
            ),
            (
                "file%3A%2Frun%2Fpin",
                PinSource::File(PathBuf::from("/run/pin")),
            ),
        ];
        for (source, expected) in cases {
            let uri = pkcs11(&format!("pkcs11:object=k?pin-source={source}"));
            assert_eq!(uri.pin, Some(expected), "{source}");
        }
    }

    #[test]
    fn percent_encoded_values_are_decoded() {
        let uri = pkcs11(
            "pkcs11:token=My%20Token%3B%20%C3%A4;object=CA%2F2026%3Dnew;id=%00%0A%fF?\
             module-path=%2Fopt%2Fhsm%20lib%2Flib.so",
        );
        assert_eq!(uri.token.as_deref(), Some("My Token; ä"));
        assert_eq!(uri.object.as_deref(), Some("CA/2026=new"));
        assert_eq!(uri.id.as_deref(), Some([0x00, 0x0a, 0xff].as_slice()));
        assert_eq!(
            uri.module_path.as_deref(),
            Some(Path::new("/opt/hsm lib/lib.so"))
        );
    }

    #[test]
    fn display_round_trips_without_pin_value() {
        let written = format!(
            "pkcs11:token=My%20Token;manufacturer=ACME;model=M1;serial=42;slot-id=3;object=CA%2F1;\
             id=%01%AB;type=private?module-path={MODULE}&pin-source=env:CERTA_PIN"
        );
        let uri = pkcs11(&written);
        assert_eq!(uri.to_string(), written);
        assert_eq!(pkcs11(&uri.to_string()), uri);

        let with_pin = pkcs11(&format!("pkcs11:object=CA?pin-value={PIN}"));
        assert_eq!(with_pin.to_string(), "pkcs11:object=CA");
    }

    #[test]
    fn scheme_is_case_insensitive() {
        assert_eq!(pkcs11("PKCS11:object=CA").object.as_deref(), Some("CA"));
        assert_eq!(
            "FILE:ca.key".parse::<KeyUri>().ok(),
            Some(KeyUri::file("ca.key"))
        );
    }

    #[test]
    fn file_forms() {
        let cases = [
            ("file:flca/FLCA.key", "flca/FLCA.key"),
            ("file:FLCA.key", "FLCA.key"),
            ("file:/var/lib/certa/FLCA.key", "/var/lib/certa/FLCA.key"),
            ("file:///var/lib/certa/FLCA.key", "/var/lib/certa/FLCA.key"),
            ("file://localhost/var/lib/FLCA.key", "/var/lib/FLCA.key"),
            ("file:my%20key.key", "my%20key.key"),
        ];
        for (written, path) in cases {
            let parsed: KeyUri = written.parse().unwrap_or_else(|e| panic!("{written}: {e}"));
            assert_eq!(parsed, KeyUri::file(path), "{written}");
            assert_eq!(parsed.scheme(), "file");
        }
        assert_eq!(
            KeyUri::file("flca/FLCA.key").to_string(),
            "file:flca/FLCA.key"
        );
        assert_eq!(
            KeyUri::file("/abs/FLCA.key").to_string(),
            "file:/abs/FLCA.key"
        );
    }

    #[test]
    fn file_path_resolves_against_instance_directory() {
        let instance = Path::new("/srv/certa");
        assert_eq!(
            KeyUri::file("flca/FLCA.key").file_path(instance),
            Some(PathBuf::from("/srv/certa/flca/FLCA.key"))
        );
        assert_eq!(
            KeyUri::file("/keys/FLCA.key").file_path(instance),
            Some(PathBuf::from("/keys/FLCA.key"))
        );
        assert_eq!(pkcs11_key("pkcs11:object=CA").file_path(instance), None);
    }

    fn pkcs11_key(uri: &str) -> KeyUri {
        KeyUri::Pkcs11(pkcs11(uri))
    }

    #[test]
    fn malformed_file_uris() {
        assert_eq!(error("file:"), KeyUriError::EmptyPath);
        assert_eq!(error("file://"), KeyUriError::EmptyPath);
        assert_eq!(error("file://localhost"), KeyUriError::EmptyPath);
        assert_eq!(
            error("file://keyserver/ca.key"),
            KeyUriError::FileHost {
                host: "keyserver".to_owned()
            }
        );
    }

    #[test]
    fn each_malformed_or_conflicting_uri_has_its_own_error() {
        let name = |name: &str| name.to_owned();
        let cases: Vec<(&str, KeyUriError)> = vec![
            ("ca.key", KeyUriError::MissingScheme),
            ("/etc/ca.key", KeyUriError::MissingScheme),
            ("1pkcs11:object=CA", KeyUriError::MissingScheme),
            (
                "http://example.org/ca.key",
                KeyUriError::UnknownScheme {
                    shown: name("http"),
                },
            ),
            (
                "pkcs11:object",
                KeyUriError::MissingValue {
                    attribute: name("object"),
                },
            ),
            (
                "pkcs11:object=CA;label=CA",
                KeyUriError::UnknownAttribute {
                    name: name("label"),
                },
            ),
            (
                "pkcs11:object=CA;module-path=/lib.so",
                KeyUriError::MisplacedAttribute {
                    name: name("module-path"),
                    expected: "query",
                },
            ),
            (
                "pkcs11:object=CA?token=certa",
                KeyUriError::MisplacedAttribute {
                    name: name("token"),
                    expected: "path",
                },
            ),
            (
                "pkcs11:object=CA;object=CB",
                KeyUriError::DuplicateAttribute {
                    name: name("object"),
                },
            ),
            (
                "pkcs11:object=CA?pin-source=env:A&pin-source=env:B",
                KeyUriError::DuplicateAttribute {
                    name: name("pin-source"),
                },
            ),
            (
                "pkcs11:object=C%4",
                KeyUriError::InvalidEncoding {
                    name: name("object"),
                },
            ),
            (
                "pkcs11:object=C%zzA",
                KeyUriError::InvalidEncoding {
                    name: name("object"),
                },
            ),
            (
                "pkcs11:object=%C3%28",
                KeyUriError::InvalidEncoding {
                    name: name("object"),
                },
            ),
            (
                "pkcs11:object=CA;slot-id=1a",
                KeyUriError::InvalidSlotId { value: name("1a") },
            ),
            (
                "pkcs11:object=CA;slot-id=-1",
                KeyUriError::InvalidSlotId { value: name("-1") },
            ),
            (
                "pkcs11:object=CA;slot-id=",
                KeyUriError::InvalidSlotId { value: name("") },
            ),
            (
                "pkcs11:object=CA;slot-id=99999999999999999999",
                KeyUriError::InvalidSlotId {
                    value: name("99999999999999999999"),
                },
            ),
            (
                "pkcs11:object=CA;type=key",
                KeyUriError::InvalidObjectType { value: name("key") },
            ),
            (
                "pkcs11:object=CA;type=cert",
                KeyUriError::UnsupportedObjectType {
                    value: name("cert"),
                },
            ),
            (
                "pkcs11:object=CA;type=data",
                KeyUriError::UnsupportedObjectType {
                    value: name("data"),
                },
            ),
            ("pkcs11:object=", KeyUriError::EmptyObject),
            ("pkcs11:id=", KeyUriError::EmptyId),
            (
                "pkcs11:object=CA?pin-source=env:",
                KeyUriError::InvalidPinSource {
                    value: name("env:"),
                },
            ),
            (
                "pkcs11:object=CA?pin-source=env:CERTA-PIN",
                KeyUriError::InvalidPinSource {
                    value: name("env:CERTA-PIN"),
                },
            ),
            (
                "pkcs11:object=CA?pin-source=https://example.org/pin",
                KeyUriError::InvalidPinSource {
                    value: name("https://example.org/pin"),
                },
            ),
            (
                "pkcs11:object=CA?pin-source=env:PIN&pin-value=1234",
                KeyUriError::Conflict {
                    first: "pin-source",
                    second: "pin-value",
                },
            ),
            (
                "pkcs11:object=CA?module-path=/lib.so&module-name=softhsm2",
                KeyUriError::Conflict {
                    first: "module-path",
                    second: "module-name",
                },
            ),
            ("pkcs11:token=certa", KeyUriError::MissingKeyName),
            ("pkcs11:", KeyUriError::MissingKeyName),
        ];
        for (uri, expected) in cases {
            assert_eq!(error(uri), expected, "{uri}");
        }
    }

    /// The PIN must not reach Display, Debug or any error's text.
    fn assert_pin_hidden(uri: &str) {
        let shown = match uri.parse::<KeyUri>() {
            Ok(parsed) => format!("{parsed} {parsed:?} {:?}", uri.parse::<Pkcs11Uri>()),
            Err(error) => format!("{error} {error:?} {}", Error::from(error.clone())),
        };
        assert!(!shown.contains(PIN), "{uri}: {shown}");
        for fragment in ["s3cr3t", "4711"] {
            assert!(!shown.contains(fragment), "{uri}: {shown}");
        }
    }

    #[test]
    fn without_pin_value_drops_only_the_value() {
        let with_value: KeyUri = "pkcs11:token=t;object=k?pin-value=1234"
            .parse()
            .expect("URI with a PIN value");
        let with_source: KeyUri = "pkcs11:token=t;object=k?pin-source=env:PIN"
            .parse()
            .expect("URI with a PIN source");

        let KeyUri::Pkcs11(stripped) = with_value.without_pin_value() else {
            panic!("a pkcs11 URI stays one");
        };

        assert_eq!(stripped.pin, None);
        assert_eq!(stripped.object.as_deref(), Some("k"));
        assert_eq!(with_source.without_pin_value(), with_source);
    }

    #[test]
    fn pin_value_is_never_shown() {
        let uris = [
            format!("pkcs11:object=CA?pin-value={PIN}"),
            format!("pkcs11:object=CA?module-path={MODULE}&pin-value={PIN}"),
            format!("pkcs11:object=CA?pin-value={PIN}&pin-value={PIN}"),
            format!("pkcs11:object=CA?pin-source=env:X&pin-value={PIN}"),
            format!("pkcs11:object=CA?pin-value={PIN}%zz"),
            format!("pkcs11:object=CA;pin-value={PIN}"),
            "pkcs11:object=CA?pin-value=s3cr3t&4711".to_owned(),
            "pkcs11:object=CA?pin-value=s3cr3t&4711=x".to_owned(),
            format!("pkcs11:token=certa?pin-value={PIN}"),
            format!("pkcs11:object=CA;type=cert?pin-value={PIN}"),
            format!("pkcs11:object=CA?pin-value{PIN}"),
            format!("pin-value={PIN}"),
            PIN.to_owned(),
        ];
        for uri in &uris {
            assert_pin_hidden(uri);
        }
    }

    #[test]
    fn debug_says_a_pin_value_is_present_without_showing_it() {
        let uri = pkcs11(&format!("pkcs11:object=CA?pin-value={PIN}"));
        assert_eq!(
            format!("{uri:?}"),
            "Pkcs11Uri(pkcs11:object=CA) with pin-value <redacted>"
        );
        let key = KeyUri::Pkcs11(uri);
        assert_eq!(format!("{key:?}"), "KeyUri(pkcs11:object=CA)");
    }

    #[test]
    fn display_escapes_what_the_parser_splits_on() {
        let uri = Pkcs11Uri {
            token: Some("a;b&c?d=e/f g".to_owned()),
            object: Some("CA".to_owned()),
            module_path: Some(PathBuf::from("/opt/my hsm/lib.so")),
            ..Pkcs11Uri::default()
        };
        let shown = uri.to_string();
        assert_eq!(
            shown,
            "pkcs11:token=a%3Bb%26c%3Fd%3De%2Ff%20g;object=CA?module-path=/opt/my%20hsm/lib.so"
        );
        assert_eq!(pkcs11(&shown), uri);
    }

    #[test]
    fn with_module_path_replaces_module_name() {
        let uri =
            pkcs11("pkcs11:object=CA?module-name=softhsm2").with_module_path(Path::new(MODULE));
        assert_eq!(uri.module_name, None);
        assert_eq!(uri.module(), Some(PathBuf::from(MODULE)));
    }
}
