//! Certificate profiles: the usages an operator picks when issuing, and the
//! extensions each one gives a certificate.
//!
//! The extensions depend on the usage and on the subject's key type: an RSA
//! key may encipher keys (TLS RSA key transport, XML encryption), an EC key
//! may agree on keys (ECDH), and an Ed25519 key only signs. Nothing here is
//! taken from the CSR except, in the builder, its subjectAltName.

use std::fmt;
use std::str::FromStr;

use const_oid::db::rfc5280;
use const_oid::ObjectIdentifier;
use serde::{Deserialize, Serialize};
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages};

use crate::csr::PublicKeyKind;
use crate::Error;

/// id-kp-documentSigning (RFC 9336): signing human-readable documents.
pub const ID_KP_DOCUMENT_SIGNING: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.36");

/// The purpose of an issued certificate, which decides its extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Usage {
    /// TLS client and server, XML encryption and signature verification.
    #[default]
    Tls,
    /// TLS server only.
    TlsServer,
    /// TLS client only.
    TlsClient,
    /// Document signatures.
    Signing,
    /// An intermediate CA that may issue end-entity certificates only.
    SubCa,
}

impl Usage {
    /// Every usage, in the order help texts list them.
    pub const ALL: [Usage; 5] = [
        Usage::Tls,
        Usage::TlsServer,
        Usage::TlsClient,
        Usage::Signing,
        Usage::SubCa,
    ];

    /// The name used in scripts, settings and the audit log (`"tls-server"`).
    pub fn name(self) -> &'static str {
        match self {
            Usage::Tls => "tls",
            Usage::TlsServer => "tls-server",
            Usage::TlsClient => "tls-client",
            Usage::Signing => "signing",
            Usage::SubCa => "sub-ca",
        }
    }

    /// One line for help texts.
    pub fn description(self) -> &'static str {
        match self {
            Usage::Tls => "TLS client and server, XML encryption and signature verification",
            Usage::TlsServer => "TLS server only",
            Usage::TlsClient => "TLS client only",
            Usage::Signing => "document signatures (id-kp-documentSigning, non-repudiation)",
            Usage::SubCa => "intermediate CA (basicConstraints CA:TRUE, path length 0)",
        }
    }

    /// Whether certificates of this usage are CA certificates.
    pub fn is_ca(self) -> bool {
        self == Usage::SubCa
    }
}

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Usage {
    type Err = Error;

    /// Parses a usage name such as `tls-server`, in any case, with `_` for `-` accepted.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let folded = s.trim().to_ascii_lowercase().replace('_', "-");
        Usage::ALL
            .into_iter()
            .find(|usage| usage.name() == folded)
            .ok_or_else(|| {
                let names: Vec<&str> = Usage::ALL.iter().map(|usage| usage.name()).collect();
                Error::invalid_input(
                    "usage",
                    format!("unknown usage {s:?}; use one of {}", names.join(", ")),
                )
            })
    }
}

/// The extensions a usage gives a certificate for a key of a given kind,
/// apart from the key identifiers and subjectAltName.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The usage the profile is for.
    pub usage: Usage,
    /// basicConstraints, always present and critical.
    pub basic_constraints: BasicConstraints,
    /// keyUsage, always present and critical.
    pub key_usage: KeyUsage,
    /// extendedKeyUsage, non-critical; `None` for a CA.
    pub extended_key_usage: Option<ExtendedKeyUsage>,
}

impl Profile {
    /// The profile of `usage` for a subject key of kind `key`.
    pub fn new(usage: Usage, key: PublicKeyKind) -> Self {
        let mut key_usage = match usage {
            Usage::Tls | Usage::TlsServer | Usage::TlsClient => KeyUsages::DigitalSignature.into(),
            Usage::Signing => KeyUsages::DigitalSignature | KeyUsages::NonRepudiation,
            Usage::SubCa => KeyUsages::KeyCertSign | KeyUsages::CRLSign,
        };
        // keyEncipherment is for RSA key transport only: RFC 8813 forbids it
        // for EC keys and RFC 8410 for Ed25519. TLS with an EC key uses ECDH
        // (keyAgreement) for XML encryption; TLS 1.2 and 1.3 ECDHE needs neither.
        match usage {
            Usage::Tls | Usage::TlsServer if key.is_rsa() => {
                key_usage |= KeyUsages::KeyEncipherment;
            }
            Usage::Tls if key.is_ec() => key_usage |= KeyUsages::KeyAgreement,
            _ => {}
        }

        let extended_key_usage = match usage {
            Usage::Tls => Some(vec![rfc5280::ID_KP_SERVER_AUTH, rfc5280::ID_KP_CLIENT_AUTH]),
            Usage::TlsServer => Some(vec![rfc5280::ID_KP_SERVER_AUTH]),
            Usage::TlsClient => Some(vec![rfc5280::ID_KP_CLIENT_AUTH]),
            Usage::Signing => Some(vec![ID_KP_DOCUMENT_SIGNING]),
            Usage::SubCa => None,
        };

        let basic_constraints = BasicConstraints {
            ca: usage.is_ca(),
            path_len_constraint: usage.is_ca().then_some(0),
        };

        Profile {
            usage,
            basic_constraints,
            key_usage: KeyUsage(key_usage),
            extended_key_usage: extended_key_usage.map(ExtendedKeyUsage),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    const KEYS: [PublicKeyKind; 4] = [
        PublicKeyKind::EcdsaP256,
        PublicKeyKind::EcdsaP384,
        PublicKeyKind::Rsa { bits: 2048 },
        PublicKeyKind::Ed25519,
    ];

    #[test]
    fn usage_names_round_trip() {
        for usage in Usage::ALL {
            assert_eq!(usage.name().parse::<Usage>().unwrap(), usage);
            assert_eq!(usage.to_string(), usage.name());
        }
    }

    #[test]
    fn usage_parse_folds_case() {
        assert_eq!("TLS_Server".parse::<Usage>().unwrap(), Usage::TlsServer);
    }

    #[test]
    fn unknown_usage_lists_choices() {
        let error = "code-signing".parse::<Usage>().unwrap_err().to_string();
        assert!(error.contains("\"code-signing\""), "{error}");
        assert!(error.contains("sub-ca"), "{error}");
    }

    #[test]
    fn usage_default_is_tls() {
        assert_eq!(Usage::default(), Usage::Tls);
    }

    #[test]
    fn usage_serializes_kebab_case() {
        assert_eq!(
            serde_json::to_string(&Usage::TlsClient).unwrap(),
            "\"tls-client\""
        );
    }

    #[test]
    fn key_encipherment_only_for_rsa() {
        for usage in Usage::ALL {
            for key in KEYS {
                let profile = Profile::new(usage, key);
                let enciphers = profile.key_usage.0.contains(KeyUsages::KeyEncipherment);
                let expected = key.is_rsa() && matches!(usage, Usage::Tls | Usage::TlsServer);
                assert_eq!(enciphers, expected, "{usage} with {key}");
            }
        }
    }

    #[test]
    fn key_agreement_only_for_ec_tls() {
        for usage in Usage::ALL {
            for key in KEYS {
                let profile = Profile::new(usage, key);
                let agrees = profile.key_usage.0.contains(KeyUsages::KeyAgreement);
                assert_eq!(
                    agrees,
                    key.is_ec() && usage == Usage::Tls,
                    "{usage} with {key}"
                );
            }
        }
    }

    #[test]
    fn sub_ca_path_length_zero() {
        let profile = Profile::new(Usage::SubCa, PublicKeyKind::EcdsaP256);
        assert!(profile.basic_constraints.ca);
        assert_eq!(profile.basic_constraints.path_len_constraint, Some(0));
        assert!(profile.extended_key_usage.is_none());
    }

    #[test]
    fn signing_document_signing() {
        let profile = Profile::new(Usage::Signing, PublicKeyKind::Ed25519);
        let extended = profile.extended_key_usage.unwrap();
        assert_eq!(extended.0, [ID_KP_DOCUMENT_SIGNING]);
    }
}
