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
    /// The URI starts with neither `file:` nor `pkcs11:`.
    #[error("unsupported key URI scheme in {shown:?}; use file:PATH or pkcs11:...")]
    UnknownScheme {
        /// The start of the URI, up to the first colon.
        shown: String,
    },
    /// `file:` with no path.
    #[error("empty path in file: key URI; give the key file, as in file:flca/FLCA.key")]
    EmptyPath,
    /// An attribute without `=`.
    #[error("pkcs11 URI attribute {attribute:?} has no value; write it as name=value")]
    MissingValue {
        /// The attribute as written.
        attribute: String,
    },
    /// An attribute name that RFC 7512 does not define and certa does not use.
    #[error("unknown pkcs11 URI attribute {name:?}")]
    UnknownAttribute {
        /// The attribute's name.
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
}

impl FromStr for KeyUri {
    type Err = KeyUriError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(path) = s.strip_prefix("file:") {
            // Accept file:///abs/path as well as file:relative/path.
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(KeyUriError::EmptyPath);
            }
            return Ok(KeyUri::File(PathBuf::from(path)));
        }
        if s.starts_with("pkcs11:") {
            return s.parse().map(KeyUri::Pkcs11);
        }
        let shown: String = s.split(':').next().unwrap_or("").chars().take(40).collect();
        Err(KeyUriError::UnknownScheme { shown })
    }
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
        let Some(rest) = s.strip_prefix("pkcs11:") else {
            let shown: String = s.split(':').next().unwrap_or("").chars().take(40).collect();
            return Err(KeyUriError::UnknownScheme { shown });
        };
        let (path, query) = match rest.split_once('?') {
            Some((path, query)) => (path, query),
            None => (rest, ""),
        };

        let mut uri = Pkcs11Uri::default();
        let mut seen: Vec<String> = Vec::new();
        let path_parts = path.split(';').map(|part| (part, "path"));
        let query_parts = query.split('&').map(|part| (part, "query"));
        for (part, component) in path_parts.chain(query_parts) {
            if part.is_empty() {
                continue;
            }
            let Some((name, value)) = part.split_once('=') else {
                return Err(KeyUriError::MissingValue {
                    attribute: shown_attribute(part),
                });
            };
            check_placement(name, component)?;
            if seen.iter().any(|other| other == name) {
                return Err(KeyUriError::DuplicateAttribute {
                    name: name.to_owned(),
                });
            }
            seen.push(name.to_owned());
            uri.set_attribute(name, value)?;
        }

        uri.check_conflicts()?;
        Ok(uri)
    }
}

/// Shows an attribute written without `=`, unless it could be a PIN typed in the wrong place.
fn shown_attribute(part: &str) -> String {
    if part.starts_with("pin") {
        "pin-...".to_owned()
    } else {
        part.chars().take(40).collect()
    }
}

fn check_placement(name: &str, component: &'static str) -> Result<(), KeyUriError> {
    let in_path = PATH_ATTRIBUTES.contains(&name);
    let in_query = QUERY_ATTRIBUTES.contains(&name);
    if !in_path && !in_query {
        return Err(KeyUriError::UnknownAttribute {
            name: name.chars().take(40).collect(),
        });
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
            "object" => self.object = Some(decode_text(name, value)?),
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
                return Err(KeyUriError::InvalidObjectType {
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

/// Characters that RFC 7512 lets stand unescaped in an attribute value.
const VALUE_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

fn write_attribute(
    f: &mut fmt::Formatter<'_>,
    separator: &mut &'static str,
    name: &str,
    value: &str,
) -> fmt::Result {
    write!(
        f,
        "{separator}{name}={}",
        utf8_percent_encode(value, VALUE_SET)
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
                utf8_percent_encode(value, VALUE_SET)
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
