//! Generating key pairs on the token (the spec's key management functions).
//!
//! The private key is made on the token with `CKA_TOKEN`, `CKA_PRIVATE`,
//! `CKA_SENSITIVE` and `CKA_SIGN` true and `CKA_EXTRACTABLE` false, so the
//! token never lets its value out.

use certa_core::key::{KeyAlgorithm, Pkcs11Uri};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use cryptoki::session::Session;
use cryptoki::types::Ulong;
use der::Encode;
use rand_core::{OsRng, RngCore};

use super::error::{HexId, Pkcs11Error};
use super::object_management::{object_exists, ID_ED25519, SECP256R1, SECP384R1};
use super::slot_token_management::Token;

/// The RSA public exponent, 65537, as a big-endian integer.
const RSA_PUBLIC_EXPONENT: [u8; 3] = [0x01, 0x00, 0x01];
/// The length of a generated `CKA_ID`, in bytes.
const GENERATED_ID_LEN: usize = 16;

/// Options for a key made on a token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pkcs11KeyOptions {
    /// Sets `CKA_ALWAYS_AUTHENTICATE`: the token requires the PIN again
    /// (a context-specific login) before each signature.
    pub always_authenticate: bool,
}

impl Pkcs11KeyOptions {
    /// Returns the options with `CKA_ALWAYS_AUTHENTICATE` set to `always_authenticate`.
    pub fn with_always_authenticate(mut self, always_authenticate: bool) -> Self {
        self.always_authenticate = always_authenticate;
        self
    }
}

/// The label and id a new key gets.
#[derive(Debug, Clone)]
pub(crate) struct NewKeyName {
    pub label: Vec<u8>,
    pub id: Vec<u8>,
}

/// Chooses the new key's label and id: the URI's, a random id when the URI
/// gives only a label, and the id in hexadecimal as label when it gives only an id.
pub(crate) fn new_key_name(uri: &Pkcs11Uri) -> NewKeyName {
    let id = uri.id.clone().unwrap_or_else(|| {
        let mut id = vec![0; GENERATED_ID_LEN];
        OsRng.fill_bytes(&mut id);
        id
    });
    let label = match &uri.object {
        Some(label) => label.as_bytes().to_vec(),
        None => HexId(&id).to_string().into_bytes(),
    };
    NewKeyName { label, id }
}

/// Checks that no object on the token has the new key's label or id.
pub(crate) fn check_free(
    session: &Session,
    name: &NewKeyName,
    shown: &str,
) -> Result<(), Pkcs11Error> {
    if object_exists(session, Attribute::Label(name.label.clone()))? {
        return Err(Pkcs11Error::KeyExists {
            key: shown.to_owned(),
            attribute: "label",
            value: String::from_utf8_lossy(&name.label).into_owned(),
        });
    }
    if object_exists(session, Attribute::Id(name.id.clone()))? {
        return Err(Pkcs11Error::KeyExists {
            key: shown.to_owned(),
            attribute: "id",
            value: HexId(&name.id).to_string(),
        });
    }
    Ok(())
}

/// Generates a key pair of `algorithm` named `name` on the token.
pub(crate) fn generate_key_pair(
    session: &Session,
    token: &Token,
    algorithm: KeyAlgorithm,
    name: &NewKeyName,
    options: Pkcs11KeyOptions,
) -> Result<(), Pkcs11Error> {
    let (mechanism, key_type, mut public_template) = public_template(algorithm)?;
    let mechanism_type = mechanism.mechanism_type();
    if !token.offers(mechanism_type) {
        return Err(Pkcs11Error::MechanismUnsupported {
            token: token.label.clone(),
            mechanism: mechanism_type,
            purpose: format!("generating an {algorithm} key"),
        });
    }
    if algorithm == KeyAlgorithm::Ed25519 && !token.offers(MechanismType::EDDSA) {
        return Err(Pkcs11Error::MechanismUnsupported {
            token: token.label.clone(),
            mechanism: MechanismType::EDDSA,
            purpose: "signing with an ed25519 key".to_owned(),
        });
    }

    public_template.extend([
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(key_type),
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Verify(true),
        Attribute::Label(name.label.clone()),
        Attribute::Id(name.id.clone()),
    ]);
    let mut private_template = vec![
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(key_type),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Label(name.label.clone()),
        Attribute::Id(name.id.clone()),
    ];
    if options.always_authenticate {
        private_template.push(Attribute::AlwaysAuthenticate(true));
    }

    session.generate_key_pair(&mechanism, &public_template, &private_template)?;
    Ok(())
}

/// Returns the mechanism, key type and algorithm-specific public key attributes for `algorithm`.
fn public_template(
    algorithm: KeyAlgorithm,
) -> Result<(Mechanism<'static>, KeyType, Vec<Attribute>), Pkcs11Error> {
    let result = match algorithm {
        KeyAlgorithm::EcdsaP256 => (
            Mechanism::EccKeyPairGen,
            KeyType::EC,
            vec![Attribute::EcParams(SECP256R1.to_der()?)],
        ),
        KeyAlgorithm::EcdsaP384 => (
            Mechanism::EccKeyPairGen,
            KeyType::EC,
            vec![Attribute::EcParams(SECP384R1.to_der()?)],
        ),
        KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
            let bits = algorithm.rsa_bits().unwrap_or(2048) as u64;
            (
                Mechanism::RsaPkcsKeyPairGen,
                KeyType::RSA,
                vec![
                    Attribute::ModulusBits(Ulong::from(bits)),
                    Attribute::PublicExponent(RSA_PUBLIC_EXPONENT.to_vec()),
                ],
            )
        }
        KeyAlgorithm::Ed25519 => (
            Mechanism::EccEdwardsKeyPairGen,
            KeyType::EC_EDWARDS,
            vec![Attribute::EcParams(ID_ED25519.to_der()?)],
        ),
        other => {
            return Err(Pkcs11Error::KeyUnsupported {
                what: format!("key algorithm {other} on a PKCS#11 token"),
            })
        }
    };
    Ok(result)
}
