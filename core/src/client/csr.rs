//! Building the client's CSR with rcgen over a key store's signer.

use std::net::IpAddr;

use rcgen::string::Ia5String;
use rcgen::{CertificateParams, SanType};

use crate::fingerprint::Fingerprints;
use crate::key::rcgen_signer::RcgenSigner;
use crate::key::Signer;
use crate::name::SubjectName;
use crate::{Error, Result};

/// The longest DNS name (RFC 1035, section 2.3.4).
const MAX_DNS_NAME_LENGTH: usize = 253;

/// A subject alternative name the client asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectAltName {
    /// dNSName, such as `host.example.org` or `*.example.org`.
    Dns(String),
    /// iPAddress.
    Ip(IpAddr),
    /// rfc822Name: an e-mail address.
    Email(String),
    /// uniformResourceIdentifier.
    Uri(String),
}

/// Parses `DNS:name`, `IP:address`, `email:address`, `URI:uri` (prefixes in
/// any case), a bare IPv4 or IPv6 address (an iPAddress entry, as TLS peers
/// match an address against), or a bare DNS name.
///
/// # Errors
///
/// [`Error::InvalidInput`] naming the value and what a valid one looks like.
pub fn parse_subject_alt_name(text: &str) -> Result<SubjectAltName> {
    let text = text.trim();
    if let Ok(address) = text.parse::<IpAddr>() {
        return Ok(SubjectAltName::Ip(address));
    }
    let (kind, value) = match text.split_once(':') {
        Some((kind, value))
            if ["dns", "ip", "email", "uri"].contains(&kind.to_ascii_lowercase().as_str()) =>
        {
            (kind.to_ascii_lowercase(), value.trim())
        }
        _ => ("dns".to_owned(), text),
    };
    let invalid = |reason: &str| {
        Error::invalid_input("subject alternative name", format!("{text:?} {reason}"))
    };

    match kind.as_str() {
        "ip" => value
            .parse()
            .map(SubjectAltName::Ip)
            .map_err(|_| invalid("is not an IPv4 or IPv6 address; write it as IP:192.0.2.1")),
        "email" => {
            let valid = value.is_ascii()
                && value
                    .split_once('@')
                    .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty());
            if !valid {
                return Err(invalid(
                    "is not an ASCII e-mail address; write it as email:name@example.org",
                ));
            }
            Ok(SubjectAltName::Email(value.to_owned()))
        }
        "uri" => {
            let valid = value.is_ascii()
                && !value.contains(char::is_whitespace)
                && value
                    .split_once(':')
                    .is_some_and(|(scheme, _)| !scheme.is_empty());
            if !valid {
                return Err(invalid(
                    "is not an absolute URI; write it as URI:https://example.org/",
                ));
            }
            Ok(SubjectAltName::Uri(value.to_owned()))
        }
        _ => {
            let valid = !value.is_empty()
                && value.len() <= MAX_DNS_NAME_LENGTH
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'*' | b'_'));
            if !valid {
                return Err(invalid("is not a DNS name; use letters, digits, '-' and '.', as in DNS:host.example.org"));
            }
            Ok(SubjectAltName::Dns(value.to_owned()))
        }
    }
}

/// A CSR, PEM, with its fingerprints.
pub(super) struct BuiltCsr {
    pub(super) pem: String,
    pub(super) fingerprints: Fingerprints,
}

/// Builds a CSR for `subject` and `alt_names`, signed by `signer`.
pub(super) fn build(
    subject: &SubjectName,
    alt_names: &[SubjectAltName],
    signer: &dyn Signer,
) -> Result<BuiltCsr> {
    let mut params = CertificateParams::default();
    params.distinguished_name = subject.to_rcgen_name()?;
    params.subject_alt_names = alt_names.iter().map(san_type).collect::<Result<_>>()?;

    let signing_key = RcgenSigner::new(signer)?;
    let csr = params
        .serialize_request(&signing_key)
        .map_err(|e| Error::crypto(format!("signing the CSR for {subject}"), e))?;
    let pem = csr
        .pem()
        .map_err(|e| Error::crypto("encoding the CSR as PEM", e))?;
    Ok(BuiltCsr {
        fingerprints: Fingerprints::of(csr.der()),
        pem,
    })
}

fn san_type(name: &SubjectAltName) -> Result<SanType> {
    let ia5 = |value: &str| {
        Ia5String::try_from(value).map_err(|e| {
            Error::invalid_input("subject alternative name", format!("{value:?}: {e}"))
        })
    };
    Ok(match name {
        SubjectAltName::Dns(value) => SanType::DnsName(ia5(value)?),
        SubjectAltName::Ip(address) => SanType::IpAddress(*address),
        SubjectAltName::Email(value) => SanType::Rfc822Name(ia5(value)?),
        SubjectAltName::Uri(value) => SanType::URI(ia5(value)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::software::SoftwareKey;
    use crate::key::KeyAlgorithm;

    #[test]
    fn bare_address_is_ip() {
        assert_eq!(
            parse_subject_alt_name("127.0.0.1").ok(),
            Some(SubjectAltName::Ip(IpAddr::from([127, 0, 0, 1])))
        );
        assert_eq!(
            parse_subject_alt_name("::1").ok(),
            Some(SubjectAltName::Ip(std::net::Ipv6Addr::LOCALHOST.into()))
        );
    }

    #[test]
    fn bare_name_is_dns() {
        assert_eq!(
            parse_subject_alt_name("host.example.org").ok(),
            Some(SubjectAltName::Dns("host.example.org".to_owned()))
        );
    }

    #[test]
    fn prefixes_parse() {
        assert_eq!(
            parse_subject_alt_name("ip:192.0.2.1").ok(),
            Some(SubjectAltName::Ip("192.0.2.1".parse().expect("address")))
        );
        assert_eq!(
            parse_subject_alt_name("email:ops@example.org").ok(),
            Some(SubjectAltName::Email("ops@example.org".to_owned()))
        );
        assert_eq!(
            parse_subject_alt_name("URI:https://example.org/").ok(),
            Some(SubjectAltName::Uri("https://example.org/".to_owned()))
        );
    }

    #[test]
    fn invalid_ip_rejected() {
        let error = parse_subject_alt_name("IP:192.0.2").expect_err("an incomplete address");
        assert!(error.to_string().contains("\"IP:192.0.2\""), "{error}");
    }

    #[test]
    fn dns_name_with_space_rejected() {
        assert!(parse_subject_alt_name("DNS:bad name").is_err());
    }

    #[test]
    fn csr_subject_matches_name_encoding() {
        use der::{Decode, Encode};

        let mut subject = SubjectName::common_name("client.example.org");
        subject.organization = Some("Example".to_owned());
        subject.country = Some("DE".to_owned());
        subject.email = Some("ops@example.org".to_owned());
        let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).expect("key");

        let csr = build(&subject, &[], &key).expect("CSR");

        let (_, der) = der::Document::from_pem(&csr.pem).expect("PEM");
        let request = x509_cert::request::CertReq::from_der(der.as_bytes()).expect("CSR DER");
        let encoded = request.info.subject.to_der().expect("subject DER");
        assert_eq!(encoded, subject.to_der().expect("name DER"));
    }
}
