//! Key and signature algorithms.

use std::fmt;
use std::str::FromStr;

use const_oid::ObjectIdentifier;
use der::asn1::Null;
use der::Any;
use pkcs1::RsaPssParams;
use sha2::Sha256;
use spki::AlgorithmIdentifierOwned;

use crate::Error;

/// The algorithm and size of a key pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256 (secp256r1), signing with SHA-256.
    #[default]
    EcdsaP256,
    /// ECDSA on NIST P-384 (secp384r1), signing with SHA-384.
    EcdsaP384,
    /// RSA with a 2048-bit modulus, PKCS#1 v1.5 signatures with SHA-256.
    Rsa2048,
    /// RSA with a 3072-bit modulus, PKCS#1 v1.5 signatures with SHA-256.
    Rsa3072,
    /// RSA with a 4096-bit modulus, PKCS#1 v1.5 signatures with SHA-256.
    Rsa4096,
    /// Ed25519 (RFC 8032).
    Ed25519,
}

impl KeyAlgorithm {
    /// Every algorithm, in the order help texts list them.
    pub const ALL: [KeyAlgorithm; 6] = [
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::Rsa3072,
        KeyAlgorithm::Rsa4096,
        KeyAlgorithm::Ed25519,
    ];

    /// The name used in settings, scripts and messages (`"ecdsa-p256"`).
    pub fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::EcdsaP256 => "ecdsa-p256",
            KeyAlgorithm::EcdsaP384 => "ecdsa-p384",
            KeyAlgorithm::Rsa2048 => "rsa-2048",
            KeyAlgorithm::Rsa3072 => "rsa-3072",
            KeyAlgorithm::Rsa4096 => "rsa-4096",
            KeyAlgorithm::Ed25519 => "ed25519",
        }
    }

    /// The RSA modulus size in bits, or `None` for other algorithms.
    pub fn rsa_bits(self) -> Option<usize> {
        match self {
            KeyAlgorithm::Rsa2048 => Some(2048),
            KeyAlgorithm::Rsa3072 => Some(3072),
            KeyAlgorithm::Rsa4096 => Some(4096),
            _ => None,
        }
    }

    /// The algorithm of the signatures a key of this algorithm makes.
    pub fn signature_algorithm(self) -> SignatureAlgorithm {
        match self {
            KeyAlgorithm::EcdsaP256 => SignatureAlgorithm::EcdsaSha256,
            KeyAlgorithm::EcdsaP384 => SignatureAlgorithm::EcdsaSha384,
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
                SignatureAlgorithm::RsaPkcs1Sha256
            }
            KeyAlgorithm::Ed25519 => SignatureAlgorithm::Ed25519,
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KeyAlgorithm {
    type Err = Error;

    /// Parses a name such as `ecdsa-p256`; `p256`, `p384`, `rsa2048` and the
    /// like are accepted too, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let folded = s.trim().to_ascii_lowercase().replace(['_', ' '], "-");
        let algorithm = match folded.as_str() {
            "ecdsa-p256" | "p256" | "p-256" | "ec-p256" | "secp256r1" | "prime256v1" => {
                KeyAlgorithm::EcdsaP256
            }
            "ecdsa-p384" | "p384" | "p-384" | "ec-p384" | "secp384r1" => KeyAlgorithm::EcdsaP384,
            "rsa-2048" | "rsa2048" => KeyAlgorithm::Rsa2048,
            "rsa-3072" | "rsa3072" => KeyAlgorithm::Rsa3072,
            "rsa-4096" | "rsa4096" => KeyAlgorithm::Rsa4096,
            "ed25519" => KeyAlgorithm::Ed25519,
            _ => {
                let names: Vec<&str> = KeyAlgorithm::ALL.iter().map(|a| a.name()).collect();
                return Err(Error::invalid_input(
                    "key algorithm",
                    format!("unknown algorithm {s:?}; use one of {}", names.join(", ")),
                ));
            }
        };
        Ok(algorithm)
    }
}

/// A signature algorithm as it appears in certificates and CSRs that certa makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureAlgorithm {
    /// ecdsa-with-SHA256 (RFC 5758).
    EcdsaSha256,
    /// ecdsa-with-SHA384 (RFC 5758).
    EcdsaSha384,
    /// sha256WithRSAEncryption (RFC 4055).
    RsaPkcs1Sha256,
    /// RSASSA-PSS with SHA-256, MGF1 with SHA-256 and a 32-byte salt (RFC 4055,
    /// section 3.1). TLS 1.3 requires it of RSA keys (`rsa_pss_rsae_sha256`);
    /// certa signs no certificate with it.
    RsaPssSha256,
    /// Ed25519 (RFC 8410).
    Ed25519,
}

impl SignatureAlgorithm {
    /// The salt length in bytes of [`SignatureAlgorithm::RsaPssSha256`]
    /// signatures: the SHA-256 output length, which TLS 1.3 requires for
    /// `rsa_pss_rsae_sha256` (RFC 8446, section 4.2.3).
    pub const RSA_PSS_SALT_LENGTH: usize = 32;

    /// The object identifier of the algorithm.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            SignatureAlgorithm::EcdsaSha256 => const_oid::db::rfc5912::ECDSA_WITH_SHA_256,
            SignatureAlgorithm::EcdsaSha384 => const_oid::db::rfc5912::ECDSA_WITH_SHA_384,
            SignatureAlgorithm::RsaPkcs1Sha256 => {
                const_oid::db::rfc5912::SHA_256_WITH_RSA_ENCRYPTION
            }
            SignatureAlgorithm::RsaPssSha256 => const_oid::db::rfc5912::ID_RSASSA_PSS,
            SignatureAlgorithm::Ed25519 => const_oid::db::rfc8410::ID_ED_25519,
        }
    }

    /// The AlgorithmIdentifier for the `signatureAlgorithm` field: no
    /// parameters for ECDSA and Ed25519, NULL for RSA PKCS#1 v1.5 (RFC 4055,
    /// section 5), and the RSASSA-PSS-params of SHA-256 for RSASSA-PSS.
    pub fn algorithm_identifier(self) -> AlgorithmIdentifierOwned {
        let parameters = match self {
            SignatureAlgorithm::RsaPkcs1Sha256 => Some(Any::from(Null)),
            SignatureAlgorithm::RsaPssSha256 => Some(rsa_pss_sha256_parameters()),
            _ => None,
        };
        AlgorithmIdentifierOwned {
            oid: self.oid(),
            parameters,
        }
    }
}

/// Encodes the RSASSA-PSS-params of [`SignatureAlgorithm::RsaPssSha256`]
/// (RFC 4055, section 3.1): hashAlgorithm sha256 and maskGenAlgorithm MGF1
/// with sha256, both with NULL parameters as RFC 4055 writes them, and
/// saltLength 32. trailerField is left out because DER omits a DEFAULT value
/// (trailerFieldBC, 1).
fn rsa_pss_sha256_parameters() -> Any {
    let salt_length = SignatureAlgorithm::RSA_PSS_SALT_LENGTH as u8;
    let parameters = RsaPssParams::new::<Sha256>(salt_length);
    // Encoding fixed OIDs, NULLs and a small integer cannot fail, and the
    // unit test `pss_parameters_name_sha256_salt_32` runs this encoding.
    Any::encode_from(&parameters).expect("the RSASSA-PSS-params of SHA-256 encode")
}

impl fmt::Display for SignatureAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SignatureAlgorithm::EcdsaSha256 => "ecdsa-with-SHA256",
            SignatureAlgorithm::EcdsaSha384 => "ecdsa-with-SHA384",
            SignatureAlgorithm::RsaPkcs1Sha256 => "sha256WithRSAEncryption",
            SignatureAlgorithm::RsaPssSha256 => "RSASSA-PSS with SHA-256",
            SignatureAlgorithm::Ed25519 => "Ed25519",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names_round_trip() {
        for algorithm in KeyAlgorithm::ALL {
            let parsed: KeyAlgorithm = algorithm.name().parse().expect("own name parses");
            assert_eq!(parsed, algorithm);
        }
    }

    #[test]
    fn algorithm_aliases_parse() {
        assert_eq!(
            "P256".parse::<KeyAlgorithm>().ok(),
            Some(KeyAlgorithm::EcdsaP256)
        );
        assert_eq!(
            "rsa4096".parse::<KeyAlgorithm>().ok(),
            Some(KeyAlgorithm::Rsa4096)
        );
    }

    #[test]
    fn pss_parameters_name_sha256_salt_32() {
        let identifier = SignatureAlgorithm::RsaPssSha256.algorithm_identifier();
        let parameters = identifier.parameters.expect("RSASSA-PSS has parameters");
        let decoded: RsaPssParams<'_> = parameters.decode_as().expect("RSASSA-PSS-params decode");
        let mgf_hash = decoded.mask_gen.parameters.expect("MGF1 names its hash");

        assert_eq!(identifier.oid, const_oid::db::rfc5912::ID_RSASSA_PSS);
        assert_eq!(decoded.hash.oid, const_oid::db::rfc5912::ID_SHA_256);
        assert_eq!(decoded.mask_gen.oid, const_oid::db::rfc5912::ID_MGF_1);
        assert_eq!(mgf_hash.oid, const_oid::db::rfc5912::ID_SHA_256);
        assert_eq!(decoded.salt_len, 32);
        assert_eq!(decoded.trailer_field, pkcs1::TrailerField::BC);
    }

    #[test]
    fn pkcs1_parameters_are_null() {
        let identifier = SignatureAlgorithm::RsaPkcs1Sha256.algorithm_identifier();
        assert_eq!(identifier.parameters, Some(Any::from(Null)));
    }

    #[test]
    fn unknown_algorithm_lists_choices() {
        let message = "dsa-1024".parse::<KeyAlgorithm>().unwrap_err().to_string();
        assert!(message.contains("\"dsa-1024\""), "{message}");
        assert!(message.contains("ecdsa-p256"), "{message}");
    }
}
