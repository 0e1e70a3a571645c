//! Reading the option maps that shell functions take (`#{root: "FLCA", ...}`).
//!
//! Every function checks its map against the keys it accepts, so a misspelt
//! option fails with the list of valid ones instead of being ignored.

use certa_core::name::SubjectName;
use certa_core::settings::Contact;
use rhai::{Array, Dynamic, Map, INT};

use super::errors::{invalid_argument, ScriptResult};

/// An option map being read by one function.
pub struct Options {
    function: &'static str,
    map: Map,
    known: Vec<&'static str>,
}

impl Options {
    /// Starts reading `map` for `function` (the name shown in errors).
    pub fn new(function: &'static str, map: Map) -> Self {
        Options {
            function,
            map,
            known: Vec::new(),
        }
    }

    /// Checks up front that every key is one of `allowed`, so that a misspelt
    /// option is reported before a required one is missed.
    ///
    /// # Errors
    ///
    /// Names the unknown options and lists the allowed ones.
    pub fn allow(self, allowed: &[&str]) -> ScriptResult<Self> {
        let unknown: Vec<&str> = self
            .map
            .keys()
            .map(|key| key.as_str())
            .filter(|key| !allowed.contains(key))
            .collect();
        if unknown.is_empty() {
            return Ok(self);
        }
        Err(invalid_argument(
            self.function,
            format!(
                "unknown options {}; known ones are {}",
                unknown.join(", "),
                allowed.join(", ")
            ),
        ))
    }

    /// The function these options belong to.
    pub fn function(&self) -> &'static str {
        self.function
    }

    /// Tells whether the map has `key` with a value other than `()`.
    pub fn has(&self, key: &str) -> bool {
        self.map.get(key).is_some_and(|value| !value.is_unit())
    }

    fn take(&mut self, key: &'static str) -> Option<Dynamic> {
        self.known.push(key);
        self.map.remove(key).filter(|value| !value.is_unit())
    }

    fn wrong_type(&self, key: &str, expected: &str, value: &Dynamic) -> Box<rhai::EvalAltResult> {
        invalid_argument(
            self.function,
            format!("option {key} must be {expected}, not {}", value.type_name()),
        )
    }

    /// Reads a required string option.
    ///
    /// # Errors
    ///
    /// When the option is missing or not a string.
    pub fn string(&mut self, key: &'static str) -> ScriptResult<String> {
        match self.opt_string(key)? {
            Some(value) => Ok(value),
            None => Err(invalid_argument(
                self.function,
                format!("option {key} is missing; add {key}: \"...\" to the map"),
            )),
        }
    }

    /// Reads an optional string option.
    ///
    /// # Errors
    ///
    /// When the option is there but not a string.
    pub fn opt_string(&mut self, key: &'static str) -> ScriptResult<Option<String>> {
        let Some(value) = self.take(key) else {
            return Ok(None);
        };
        match value.clone().into_string() {
            Ok(text) => Ok(Some(text)),
            Err(_) => Err(self.wrong_type(key, "a string", &value)),
        }
    }

    /// Reads an optional integer option.
    ///
    /// # Errors
    ///
    /// When the option is there but not an integer.
    pub fn opt_int(&mut self, key: &'static str) -> ScriptResult<Option<INT>> {
        let Some(value) = self.take(key) else {
            return Ok(None);
        };
        match value.as_int() {
            Ok(number) => Ok(Some(number)),
            Err(_) => Err(self.wrong_type(key, "an integer", &value)),
        }
    }

    /// Reads an optional integer option that must fit in `u32` and be positive.
    ///
    /// # Errors
    ///
    /// When the option is there but not a positive integer.
    pub fn opt_positive_u32(&mut self, key: &'static str) -> ScriptResult<Option<u32>> {
        let Some(number) = self.opt_int(key)? else {
            return Ok(None);
        };
        match u32::try_from(number) {
            Ok(value) if value > 0 => Ok(Some(value)),
            _ => Err(invalid_argument(
                self.function,
                format!("option {key} must be a positive number, not {number}"),
            )),
        }
    }

    /// Reads an optional boolean option; missing is `false`.
    ///
    /// # Errors
    ///
    /// When the option is there but not a boolean.
    pub fn flag(&mut self, key: &'static str) -> ScriptResult<bool> {
        let Some(value) = self.take(key) else {
            return Ok(false);
        };
        match value.as_bool() {
            Ok(flag) => Ok(flag),
            Err(_) => Err(self.wrong_type(key, "true or false", &value)),
        }
    }

    /// Reads an optional boolean option; missing is `None`, for options whose default is `true`.
    ///
    /// # Errors
    ///
    /// When the option is there but not a boolean.
    pub fn opt_flag(&mut self, key: &'static str) -> ScriptResult<Option<bool>> {
        let Some(value) = self.take(key) else {
            return Ok(None);
        };
        match value.as_bool() {
            Ok(flag) => Ok(Some(flag)),
            Err(_) => Err(self.wrong_type(key, "true or false", &value)),
        }
    }

    /// Reads an optional boolean option that `alias` spells another way;
    /// missing under both names is `None`.
    ///
    /// # Errors
    ///
    /// When the option is there but not a boolean, or given under both names.
    pub fn opt_flag_or_alias(
        &mut self,
        key: &'static str,
        alias: &'static str,
    ) -> ScriptResult<Option<bool>> {
        let canonical = self.opt_flag(key)?;
        let aliased = self.opt_flag(alias)?;
        if canonical.is_some() && aliased.is_some() {
            return Err(invalid_argument(
                self.function,
                format!("{alias} is another spelling of {key}; give only {key}"),
            ));
        }
        Ok(canonical.or(aliased))
    }

    /// Reads an optional map option.
    ///
    /// # Errors
    ///
    /// When the option is there but not a map.
    pub fn opt_map(&mut self, key: &'static str) -> ScriptResult<Option<Map>> {
        let Some(value) = self.take(key) else {
            return Ok(None);
        };
        match value.clone().try_cast::<Map>() {
            Some(map) => Ok(Some(map)),
            None => Err(self.wrong_type(key, "a map such as #{cn: \"...\"}", &value)),
        }
    }

    /// Reads an optional array of strings.
    ///
    /// # Errors
    ///
    /// When the option is there but not an array of strings.
    pub fn opt_strings(&mut self, key: &'static str) -> ScriptResult<Vec<String>> {
        let Some(value) = self.take(key) else {
            return Ok(Vec::new());
        };
        let Some(array) = value.clone().try_cast::<Array>() else {
            return Err(self.wrong_type(key, "an array of strings", &value));
        };
        let mut strings = Vec::with_capacity(array.len());
        for item in array {
            match item.clone().into_string() {
                Ok(text) => strings.push(text),
                Err(_) => return Err(self.wrong_type(key, "an array of strings", &item)),
            }
        }
        Ok(strings)
    }

    /// Reads an optional option that is one string or an array of strings.
    ///
    /// # Errors
    ///
    /// When the option is there but neither a string nor an array of strings.
    pub fn opt_string_or_strings(&mut self, key: &'static str) -> ScriptResult<Vec<String>> {
        if let Some(value) = self.map.get(key) {
            if let Ok(text) = value.clone().into_string() {
                self.take(key);
                return Ok(vec![text]);
            }
        }
        self.opt_strings(key).map_err(|_| {
            invalid_argument(
                self.function,
                format!("option {key} must be a string or an array of strings"),
            )
        })
    }

    /// Reads the required subject option, a map of distinguished name parts.
    ///
    /// # Errors
    ///
    /// When the subject is missing or has an unknown part.
    pub fn subject(&mut self, key: &'static str) -> ScriptResult<SubjectName> {
        let Some(map) = self.opt_map(key)? else {
            return Err(invalid_argument(
                self.function,
                format!("option {key} is missing; add {key}: #{{cn: \"...\"}}"),
            ));
        };
        let mut parts =
            Options::new(self.function, map).allow(&["cn", "o", "ou", "l", "st", "c", "email"])?;
        let subject = SubjectName {
            common_name: parts.string("cn")?,
            organization: parts.opt_string("o")?,
            organizational_unit: parts.opt_string("ou")?,
            locality: parts.opt_string("l")?,
            state: parts.opt_string("st")?,
            country: parts.opt_string("c")?,
            email: parts.opt_string("email")?,
        };
        parts.finish_as(key)?;
        Ok(subject)
    }

    /// Reads the required contact option: `#{name, phone, email}`.
    ///
    /// # Errors
    ///
    /// When the contact is missing, has no name, or has an unknown field.
    pub fn contact(&mut self, key: &'static str) -> ScriptResult<Contact> {
        let Some(map) = self.opt_map(key)? else {
            return Err(invalid_argument(
                self.function,
                format!("option {key} is missing; add {key}: #{{name: \"...\", phone: \"...\", email: \"...\"}}"),
            ));
        };
        let mut fields = Options::new(self.function, map).allow(&["name", "phone", "email"])?;
        let contact = Contact {
            name: fields.string("name")?,
            phone: fields.opt_string("phone")?,
            email: fields.opt_string("email")?,
        };
        fields.finish_as(key)?;
        Ok(contact)
    }

    /// Checks that no option is left that the function does not know.
    ///
    /// # Errors
    ///
    /// Names the unknown options and lists the known ones.
    pub fn finish(self) -> ScriptResult<()> {
        self.finish_as("")
    }

    fn finish_as(self, parent: &str) -> ScriptResult<()> {
        if self.map.is_empty() {
            return Ok(());
        }
        let unknown: Vec<&str> = self.map.keys().map(|key| key.as_str()).collect();
        let place = if parent.is_empty() {
            "options".to_owned()
        } else {
            format!("fields in {parent}")
        };
        Err(invalid_argument(
            self.function,
            format!(
                "unknown {place} {}; known ones are {}",
                unknown.join(", "),
                self.known.join(", ")
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, Dynamic)]) -> Map {
        entries
            .iter()
            .map(|(key, value)| ((*key).into(), value.clone()))
            .collect()
    }

    #[test]
    fn unknown_option_lists_known_ones() {
        let mut options = Options::new("submit", map(&[("rot", Dynamic::from("X"))]));
        assert!(options.opt_string("root").is_ok());
        let error = options.finish().expect_err("unknown option").to_string();
        assert!(error.contains("rot"), "{error}");
        assert!(error.contains("root"), "{error}");
    }

    #[test]
    fn subject_reads_short_names() {
        let subject = map(&[
            ("cn", Dynamic::from("First Look CA")),
            ("o", Dynamic::from("Example")),
        ]);
        let mut options = Options::new("configure_server", map(&[("subject", subject.into())]));
        let name = options.subject("subject").expect("valid subject");
        assert_eq!(name.common_name, "First Look CA");
        assert_eq!(name.organization.as_deref(), Some("Example"));
    }

    #[test]
    fn missing_required_option_names_it() {
        let mut options = Options::new("submit", Map::new());
        let error = options
            .string("root")
            .expect_err("missing option")
            .to_string();
        assert!(error.contains("option root is missing"), "{error}");
    }
}
