//! Subject distinguished names that certa makes (for CA certificates and
//! client CSRs). Names that arrive in a CSR are kept as they are encoded and
//! never pass through this type.

use std::fmt;

use const_oid::db::rfc4519;
use const_oid::ObjectIdentifier;
use der::asn1::{Ia5StringRef, PrintableStringRef, SetOfVec, Utf8StringRef};
use der::{Any, Encode};
use serde::{Deserialize, Serialize};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};

use crate::{Error, Result};

/// The upper bound of a common name, organization or unit (RFC 5280, appendix A.1: `ub-common-name` and friends).
const MAX_NAME_LENGTH: usize = 64;
/// The upper bound of an e-mail address in a name (`ub-emailaddress-length`).
const MAX_EMAIL_LENGTH: usize = 255;

/// A subject name as an operator types it: a common name and optional parts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectName {
    /// CN, required.
    pub common_name: String,
    /// O.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// OU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organizational_unit: Option<String>,
    /// L.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    /// ST.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// C, two uppercase letters (ISO 3166-1 alpha-2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// emailAddress (PKCS#9). New certificates should carry e-mail addresses
    /// in subjectAltName instead; this is for CAs whose policy wants it in the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// The PKCS#9 emailAddress attribute.
const EMAIL_ADDRESS: ObjectIdentifier = const_oid::db::rfc3280::EMAIL_ADDRESS;

impl SubjectName {
    /// A name with only a common name.
    pub fn common_name(common_name: impl Into<String>) -> Self {
        SubjectName {
            common_name: common_name.into(),
            ..SubjectName::default()
        }
    }

    /// Checks every part against RFC 5280's bounds.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] naming the part and the value.
    pub fn validate(&self) -> Result<()> {
        if self.common_name.trim().is_empty() {
            return Err(Error::invalid_input(
                "subject name",
                "the common name is empty; give one, as in CN=First Look CA",
            ));
        }
        let parts = [
            ("common name", Some(&self.common_name)),
            ("organization", self.organization.as_ref()),
            ("organizational unit", self.organizational_unit.as_ref()),
            ("locality", self.locality.as_ref()),
            ("state", self.state.as_ref()),
        ];
        for (what, value) in parts {
            let Some(value) = value else { continue };
            let length = value.chars().count();
            if length == 0 || length > MAX_NAME_LENGTH {
                return Err(Error::invalid_input(
                    what,
                    format!(
                        "{value:?} has {length} characters; it must have 1 to {MAX_NAME_LENGTH}"
                    ),
                ));
            }
        }
        if let Some(country) = &self.country {
            let valid = country.len() == 2 && country.bytes().all(|b| b.is_ascii_uppercase());
            if !valid {
                return Err(Error::invalid_input(
                    "country",
                    format!("{country:?} is not a two-letter ISO 3166 code such as DE or US"),
                ));
            }
        }
        if let Some(email) = &self.email {
            let valid = email.is_ascii()
                && email.len() <= MAX_EMAIL_LENGTH
                && email
                    .split_once('@')
                    .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty());
            if !valid {
                return Err(Error::invalid_input(
                    "e-mail address",
                    format!("{email:?} is not an ASCII address of the form name@domain"),
                ));
            }
        }
        Ok(())
    }

    /// Encodes the name, most general part first (C, ST, L, O, OU, CN,
    /// emailAddress), one attribute per RDN. C is a PrintableString,
    /// emailAddress an IA5String, and the rest UTF8String, as RFC 5280 asks of
    /// new certificates.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when [`SubjectName::validate`] fails.
    pub fn to_name(&self) -> Result<Name> {
        self.validate()?;

        let mut rdns = Vec::new();
        if let Some(country) = &self.country {
            let value = PrintableStringRef::new(country)
                .map_err(|e| Error::invalid_input("country", e.to_string()))?;
            rdns.push(rdn(rfc4519::C, Any::from(value))?);
        }
        let utf8_parts = [
            (rfc4519::ST, &self.state),
            (rfc4519::L, &self.locality),
            (rfc4519::O, &self.organization),
            (rfc4519::OU, &self.organizational_unit),
            (rfc4519::CN, &Some(self.common_name.clone())),
        ];
        for (oid, value) in utf8_parts {
            let Some(value) = value else { continue };
            let value = Utf8StringRef::new(value)
                .map_err(|e| Error::invalid_input("subject name", e.to_string()))?;
            rdns.push(rdn(oid, Any::from(value))?);
        }
        if let Some(email) = &self.email {
            let value = Ia5StringRef::new(email)
                .map_err(|e| Error::invalid_input("e-mail address", e.to_string()))?;
            rdns.push(rdn(EMAIL_ADDRESS, Any::from(value))?);
        }
        Ok(RdnSequence(rdns))
    }

    /// Builds the name as rcgen takes it, in the order and string types of
    /// [`SubjectName::to_name`], for the certificates and CSRs made with rcgen.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a country that is not a PrintableString
    /// or an e-mail address that is not an IA5String.
    pub(crate) fn to_rcgen_name(&self) -> Result<rcgen::DistinguishedName> {
        use rcgen::{DnType, DnValue};

        let mut name = rcgen::DistinguishedName::new();
        if let Some(country) = &self.country {
            let value = rcgen::string::PrintableString::try_from(country.as_str())
                .map_err(|e| Error::invalid_input("country", e.to_string()))?;
            name.push(DnType::CountryName, DnValue::PrintableString(value));
        }
        let utf8_parts = [
            (DnType::StateOrProvinceName, &self.state),
            (DnType::LocalityName, &self.locality),
            (DnType::OrganizationName, &self.organization),
            (DnType::OrganizationalUnitName, &self.organizational_unit),
            (DnType::CommonName, &Some(self.common_name.clone())),
        ];
        for (kind, value) in utf8_parts {
            let Some(value) = value else { continue };
            name.push(kind, DnValue::Utf8String(value.clone()));
        }
        if let Some(email) = &self.email {
            let value = rcgen::string::Ia5String::try_from(email.as_str())
                .map_err(|e| Error::invalid_input("e-mail address", e.to_string()))?;
            let arcs: Vec<u64> = EMAIL_ADDRESS.arcs().map(u64::from).collect();
            name.push(DnType::CustomDnType(arcs), DnValue::Ia5String(value));
        }
        Ok(name)
    }

    /// Encodes the name as DER.
    ///
    /// # Errors
    ///
    /// As [`SubjectName::to_name`].
    pub fn to_der(&self) -> Result<Vec<u8>> {
        self.to_name()?
            .to_der()
            .map_err(|e| Error::crypto("encoding a subject name", e))
    }
}

fn rdn(oid: ObjectIdentifier, value: Any) -> Result<RelativeDistinguishedName> {
    let attribute = AttributeTypeAndValue { oid, value };
    let set = SetOfVec::try_from(vec![attribute])
        .map_err(|e| Error::crypto("encoding a subject name", e))?;
    Ok(RelativeDistinguishedName(set))
}

impl fmt::Display for SubjectName {
    /// Writes the name in OpenSSL's one-line order and style (`C=DE, O=Example, CN=First Look CA`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts = [
            ("C", self.country.as_ref()),
            ("ST", self.state.as_ref()),
            ("L", self.locality.as_ref()),
            ("O", self.organization.as_ref()),
            ("OU", self.organizational_unit.as_ref()),
            ("CN", Some(&self.common_name)),
            ("emailAddress", self.email.as_ref()),
        ];
        let shown: Vec<String> = parts
            .iter()
            .filter_map(|(label, value)| value.map(|value| format!("{label}={value}")))
            .collect();
        f.write_str(&shown.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_common_name_rejected() {
        let error = SubjectName::common_name(" ").validate().unwrap_err();
        assert!(
            error.to_string().contains("common name is empty"),
            "{error}"
        );
    }

    #[test]
    fn lowercase_country_rejected() {
        let mut name = SubjectName::common_name("CA");
        name.country = Some("de".to_owned());
        let error = name.validate().unwrap_err();
        assert!(error.to_string().contains("\"de\""), "{error}");
    }

    #[test]
    fn name_encodes_in_order() {
        let mut name = SubjectName::common_name("First Look CA");
        name.organization = Some("Example".to_owned());
        name.country = Some("DE".to_owned());
        let encoded = name.to_name().expect("valid name");
        assert_eq!(encoded.0.len(), 3);
        assert_eq!(name.to_string(), "C=DE, O=Example, CN=First Look CA");
    }
}
