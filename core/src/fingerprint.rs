//! Certificate and CSR fingerprints, as operators compare them.

use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// The SHA-1 and SHA-256 fingerprints of a DER encoding, in OpenSSL's
/// `-fingerprint` form: uppercase hexadecimal bytes joined by colons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprints {
    /// SHA-1 over the DER encoding.
    pub sha1: String,
    /// SHA-256 over the DER encoding.
    pub sha256: String,
}

impl Fingerprints {
    /// Computes both fingerprints of `der`.
    pub fn of(der: &[u8]) -> Self {
        Fingerprints {
            sha1: colon_hex(&Sha1::digest(der)),
            sha256: colon_hex(&Sha256::digest(der)),
        }
    }
}

/// Formats bytes as `AB:CD:EF`.
pub fn colon_hex(bytes: &[u8]) -> String {
    let pairs: Vec<String> = bytes.iter().map(|byte| format!("{byte:02X}")).collect();
    pairs.join(":")
}

/// Normalizes a fingerprint typed by a person (any case, with or without
/// colons or spaces) to the form [`Fingerprints`] uses.
pub fn normalize(fingerprint: &str) -> String {
    let digits: String = fingerprint
        .chars()
        .filter(char::is_ascii_hexdigit)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let pairs: Vec<&str> = digits
        .as_bytes()
        .chunks(2)
        .map(|pair| std::str::from_utf8(pair).unwrap_or(""))
        .collect();
    pairs.join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_of_empty_input() {
        let fingerprints = Fingerprints::of(b"");
        assert_eq!(
            fingerprints.sha1,
            "DA:39:A3:EE:5E:6B:4B:0D:32:55:BF:EF:95:60:18:90:AF:D8:07:09"
        );
        assert!(fingerprints.sha256.starts_with("E3:B0:C4:42"));
    }

    #[test]
    fn normalize_accepts_lowercase_without_colons() {
        assert_eq!(normalize("da39 a3ee"), "DA:39:A3:EE");
    }
}
