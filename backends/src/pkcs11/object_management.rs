//! Finding key objects and reading their attributes (the spec's object management functions).
//!
//! The SubjectPublicKeyInfo of a key is built from the token's public key
//! object: `CKA_EC_PARAMS` and `CKA_EC_POINT` for EC and Edwards keys,
//! `CKA_MODULUS` and `CKA_PUBLIC_EXPONENT` for RSA keys.

use certa_core::key::{KeyAlgorithm, Pkcs11Uri, SubjectPublicKeyInfoDer};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use der::asn1::{BitString, Null, OctetStringRef, PrintableStringRef, UintRef};
use der::{Any, Decode, Encode};
use spki::{AlgorithmIdentifierOwned, ObjectIdentifier, SubjectPublicKeyInfoOwned};

use super::error::{HexId, Pkcs11Error};

/// id-ecPublicKey (RFC 5480).
pub(crate) const ID_EC_PUBLIC_KEY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// secp256r1, NIST P-256 (RFC 5480).
pub(crate) const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// secp384r1, NIST P-384 (RFC 5480).
pub(crate) const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
/// rsaEncryption (RFC 8017).
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// id-Ed25519 (RFC 8410).
pub(crate) const ID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// The attributes of a private key object that certa uses.
#[derive(Debug, Clone)]
pub(crate) struct PrivateKeyObject {
    /// The object's handle, valid while the process has a session on the token.
    pub handle: ObjectHandle,
    /// `CKA_KEY_TYPE`.
    pub key_type: KeyType,
    /// `CKA_LABEL`, if set.
    pub label: Option<Vec<u8>>,
    /// `CKA_ID`, if set.
    pub id: Option<Vec<u8>>,
    /// `CKA_ALWAYS_AUTHENTICATE`: the key needs a context-specific login before each use.
    pub always_authenticate: bool,
}

/// Builds the template that finds objects of `class` named by `uri`'s `object` and `id`.
pub(crate) fn key_template(class: ObjectClass, uri: &Pkcs11Uri) -> Vec<Attribute> {
    let mut template = vec![Attribute::Class(class)];
    if let Some(label) = &uri.object {
        template.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        template.push(Attribute::Id(id.clone()));
    }
    template
}

/// Finds the one private key that `uri` names.
pub(crate) fn find_private_key(
    session: &Session,
    uri: &Pkcs11Uri,
) -> Result<PrivateKeyObject, Pkcs11Error> {
    let handles = session.find_objects(&key_template(ObjectClass::PRIVATE_KEY, uri))?;
    let handle = match handles.as_slice() {
        [handle] => *handle,
        [] => {
            return Err(Pkcs11Error::KeyNotFound {
                key: uri.to_string(),
            })
        }
        more => {
            return Err(Pkcs11Error::AmbiguousKey {
                key: uri.to_string(),
                count: more.len(),
            })
        }
    };
    read_private_key(session, handle)
}

fn read_private_key(
    session: &Session,
    handle: ObjectHandle,
) -> Result<PrivateKeyObject, Pkcs11Error> {
    let wanted = [
        AttributeType::KeyType,
        AttributeType::Label,
        AttributeType::Id,
        AttributeType::AlwaysAuthenticate,
    ];
    let mut object = PrivateKeyObject {
        handle,
        key_type: KeyType::GENERIC_SECRET,
        label: None,
        id: None,
        always_authenticate: false,
    };
    for attribute in session.get_attributes(handle, &wanted)? {
        match attribute {
            Attribute::KeyType(key_type) => object.key_type = key_type,
            Attribute::Label(label) if !label.is_empty() => object.label = Some(label),
            Attribute::Id(id) if !id.is_empty() => object.id = Some(id),
            Attribute::AlwaysAuthenticate(always) => object.always_authenticate = always,
            _ => {}
        }
    }
    Ok(object)
}

/// Lists the `CKA_LABEL` and `CKA_ID` of every private key on the token.
pub(crate) fn list_private_keys(session: &Session) -> Result<Vec<PrivateKeyObject>, Pkcs11Error> {
    let handles = session.find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])?;
    handles
        .into_iter()
        .map(|handle| read_private_key(session, handle))
        .collect()
}

/// Finds the public key objects that belong to `private`: those with its
/// `CKA_ID`, or with its label when it has no id.
pub(crate) fn find_public_keys(
    session: &Session,
    private: &PrivateKeyObject,
) -> Result<Vec<ObjectHandle>, Pkcs11Error> {
    let mut template = vec![Attribute::Class(ObjectClass::PUBLIC_KEY)];
    match (&private.id, &private.label) {
        (Some(id), _) => template.push(Attribute::Id(id.clone())),
        (None, Some(label)) => template.push(Attribute::Label(label.clone())),
        (None, None) => return Ok(Vec::new()),
    }
    let mut handles = session.find_objects(&template)?;

    // Two public keys with the same id: prefer the one that also has the private key's label.
    if handles.len() > 1 {
        if let (Some(_), Some(label)) = (&private.id, &private.label) {
            template.push(Attribute::Label(label.clone()));
            handles = session.find_objects(&template)?;
        }
    }
    Ok(handles)
}

/// Returns whether any object on the token has `attribute` (a label or an id).
pub(crate) fn object_exists(session: &Session, attribute: Attribute) -> Result<bool, Pkcs11Error> {
    Ok(!session.find_objects(&[attribute])?.is_empty())
}

/// Reads the public key of `private` and returns its algorithm and SubjectPublicKeyInfo.
pub(crate) fn public_key_info(
    session: &Session,
    private: &PrivateKeyObject,
    shown: &str,
) -> Result<(KeyAlgorithm, SubjectPublicKeyInfoDer), Pkcs11Error> {
    let handles = find_public_keys(session, private)?;
    let [public] = handles.as_slice() else {
        if handles.is_empty() {
            return Err(Pkcs11Error::PublicKeyMissing {
                key: shown.to_owned(),
            });
        }
        return Err(Pkcs11Error::KeyUnsupported {
            what: format!(
                "{} public key objects share the id of {shown}; keep one of them",
                handles.len()
            ),
        });
    };

    let key_type = private.key_type;
    if key_type == KeyType::RSA {
        rsa_public_key(session, *public, shown)
    } else if key_type == KeyType::EC {
        ec_public_key(session, *public, shown)
    } else if key_type == KeyType::EC_EDWARDS {
        edwards_public_key(session, *public, shown)
    } else {
        Err(Pkcs11Error::KeyUnsupported {
            what: format!(
                "key {shown} has key type {key_type}; certa signs with EC, Edwards and RSA keys"
            ),
        })
    }
}

fn attribute_bytes(
    session: &Session,
    handle: ObjectHandle,
    attribute: AttributeType,
) -> Result<Option<Vec<u8>>, Pkcs11Error> {
    let values = session.get_attributes(handle, &[attribute])?;
    let value = values.into_iter().find_map(|value| match value {
        Attribute::EcParams(bytes)
        | Attribute::EcPoint(bytes)
        | Attribute::Modulus(bytes)
        | Attribute::PublicExponent(bytes) => Some(bytes),
        _ => None,
    });
    Ok(value)
}

fn required(
    session: &Session,
    handle: ObjectHandle,
    attribute: AttributeType,
    name: &'static str,
    shown: &str,
) -> Result<Vec<u8>, Pkcs11Error> {
    attribute_bytes(session, handle, attribute)?.ok_or_else(|| Pkcs11Error::InvalidAttribute {
        attribute: name,
        key: shown.to_owned(),
        reason: "the public key object has no such attribute".to_owned(),
    })
}

fn rsa_public_key(
    session: &Session,
    public: ObjectHandle,
    shown: &str,
) -> Result<(KeyAlgorithm, SubjectPublicKeyInfoDer), Pkcs11Error> {
    let modulus = required(
        session,
        public,
        AttributeType::Modulus,
        "CKA_MODULUS",
        shown,
    )?;
    let exponent = required(
        session,
        public,
        AttributeType::PublicExponent,
        "CKA_PUBLIC_EXPONENT",
        shown,
    )?;

    let modulus = UintRef::new(&modulus)?;
    let bits = bit_length(modulus.as_bytes());
    let algorithm = match bits {
        2048 => KeyAlgorithm::Rsa2048,
        3072 => KeyAlgorithm::Rsa3072,
        4096 => KeyAlgorithm::Rsa4096,
        _ => {
            return Err(Pkcs11Error::KeyUnsupported {
                what: format!("RSA key {shown} has {bits} bits; certa uses 2048, 3072 or 4096"),
            })
        }
    };
    let public_key = RsaPublicKey {
        modulus,
        public_exponent: UintRef::new(&exponent)?,
    };

    let info = SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: RSA_ENCRYPTION,
            parameters: Some(Any::from(Null)),
        },
        subject_public_key: BitString::from_bytes(&public_key.to_der()?)?,
    };
    Ok((algorithm, SubjectPublicKeyInfoDer(info.to_der()?)))
}

/// RSAPublicKey (RFC 8017, appendix A.1.1).
#[derive(der::Sequence)]
struct RsaPublicKey<'a> {
    modulus: UintRef<'a>,
    public_exponent: UintRef<'a>,
}

fn bit_length(unsigned: &[u8]) -> usize {
    let Some(first) = unsigned.iter().position(|byte| *byte != 0) else {
        return 0;
    };
    let leading = unsigned[first].leading_zeros() as usize;
    (unsigned.len() - first) * 8 - leading
}

fn ec_public_key(
    session: &Session,
    public: ObjectHandle,
    shown: &str,
) -> Result<(KeyAlgorithm, SubjectPublicKeyInfoDer), Pkcs11Error> {
    let params = required(
        session,
        public,
        AttributeType::EcParams,
        "CKA_EC_PARAMS",
        shown,
    )?;
    let invalid = |attribute: &'static str, reason: String| Pkcs11Error::InvalidAttribute {
        attribute,
        key: shown.to_owned(),
        reason,
    };
    let curve = ObjectIdentifier::from_der(&params).map_err(|e| {
        invalid(
            "CKA_EC_PARAMS",
            format!("not a named curve's object identifier ({e})"),
        )
    })?;
    let (algorithm, field_bytes) = if curve == SECP256R1 {
        (KeyAlgorithm::EcdsaP256, 32)
    } else if curve == SECP384R1 {
        (KeyAlgorithm::EcdsaP384, 48)
    } else {
        return Err(Pkcs11Error::KeyUnsupported {
            what: format!("EC key {shown} is on curve {curve}; certa uses P-256 and P-384"),
        });
    };

    let value = required(
        session,
        public,
        AttributeType::EcPoint,
        "CKA_EC_POINT",
        shown,
    )?;
    let uncompressed_len = 1 + 2 * field_bytes;
    let point = unwrap_point(&value, uncompressed_len)
        .filter(|point| point.first() == Some(&0x04))
        .ok_or_else(|| {
            invalid(
                "CKA_EC_POINT",
                format!("expected an uncompressed point of {uncompressed_len} bytes, raw or in a DER OCTET STRING"),
            )
        })?;

    let info = SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: ID_EC_PUBLIC_KEY,
            parameters: Some(Any::encode_from(&curve)?),
        },
        subject_public_key: BitString::from_bytes(point)?,
    };
    Ok((algorithm, SubjectPublicKeyInfoDer(info.to_der()?)))
}

/// Returns the point in `value`, which tokens give either raw or wrapped
/// in a DER OCTET STRING, when it has `len` bytes.
fn unwrap_point(value: &[u8], len: usize) -> Option<&[u8]> {
    // An uncompressed point starts with 0x04, the OCTET STRING tag, too; the
    // lengths tell them apart, because the wrapped form is longer.
    if value.len() == len {
        return Some(value);
    }
    let inner = OctetStringRef::from_der(value).ok()?;
    let bytes = inner.as_bytes();
    (bytes.len() == len).then_some(bytes)
}

fn edwards_public_key(
    session: &Session,
    public: ObjectHandle,
    shown: &str,
) -> Result<(KeyAlgorithm, SubjectPublicKeyInfoDer), Pkcs11Error> {
    let params = required(
        session,
        public,
        AttributeType::EcParams,
        "CKA_EC_PARAMS",
        shown,
    )?;
    if !is_ed25519_params(&params) {
        return Err(Pkcs11Error::KeyUnsupported {
            what: format!("Edwards key {shown} is not on edwards25519; certa uses Ed25519 only"),
        });
    }

    let value = required(
        session,
        public,
        AttributeType::EcPoint,
        "CKA_EC_POINT",
        shown,
    )?;
    let point = unwrap_point(&value, 32).ok_or_else(|| Pkcs11Error::InvalidAttribute {
        attribute: "CKA_EC_POINT",
        key: shown.to_owned(),
        reason: "expected a 32-byte Ed25519 public key, raw or in a DER OCTET STRING".to_owned(),
    })?;

    let info = SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: ID_ED25519,
            parameters: None,
        },
        subject_public_key: BitString::from_bytes(point)?,
    };
    Ok((
        KeyAlgorithm::Ed25519,
        SubjectPublicKeyInfoDer(info.to_der()?),
    ))
}

/// Returns whether `CKA_EC_PARAMS` names edwards25519. PKCS#11 3.0 allows the
/// object identifier id-Ed25519 or the PrintableString "edwards25519".
fn is_ed25519_params(params: &[u8]) -> bool {
    if let Ok(oid) = ObjectIdentifier::from_der(params) {
        return oid == ID_ED25519;
    }
    PrintableStringRef::from_der(params).is_ok_and(|name| name.as_str() == "edwards25519")
}

/// Describes a key object for logs and lists: its label, or its id in hexadecimal.
pub(crate) fn describe(object: &PrivateKeyObject) -> String {
    match (&object.label, &object.id) {
        (Some(label), _) => String::from_utf8_lossy(label).into_owned(),
        (None, Some(id)) => format!("id {}", HexId(id)),
        (None, None) => "an unnamed key".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_is_accepted_raw_and_wrapped() {
        let mut raw = vec![0x04];
        raw.extend([0x11; 64]);
        let mut wrapped = vec![0x04, 65];
        wrapped.extend(&raw);
        assert_eq!(unwrap_point(&raw, 65), Some(raw.as_slice()));
        assert_eq!(unwrap_point(&wrapped, 65), Some(raw.as_slice()));
        assert_eq!(unwrap_point(&raw[..64], 65), None);
    }

    #[test]
    fn bit_length_ignores_leading_zeros() {
        assert_eq!(bit_length(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(bit_length(&[0x01]), 1);
        assert_eq!(bit_length(&[0x00]), 0);
    }

    #[test]
    fn ed25519_params_in_both_forms() {
        let oid = [0x06, 0x03, 0x2b, 0x65, 0x70];
        let mut name = vec![0x13, 12];
        name.extend(b"edwards25519");
        assert!(is_ed25519_params(&oid));
        assert!(is_ed25519_params(&name));
        assert!(!is_ed25519_params(&[0x06, 0x03, 0x2b, 0x65, 0x71]));
    }
}
