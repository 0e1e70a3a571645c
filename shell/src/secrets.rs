//! Passwords and PINs for shell functions.
//!
//! A function that needs a secret looks, in this order, at the `password` (or
//! `pin`) option, at the environment variable named by `password_env` (or
//! `pin_env`), at its default environment variable (such as
//! `CERTA_CA_PASSWORD`), and, in the REPL only, asks without echo. A script
//! run with `certa run` never waits for a prompt: it fails with a message that
//! names the variable to set. Ctrl-C at a prompt cancels the call with a
//! `cancelled` error, and the REPL goes on. Secrets are kept in
//! [`SecretString`] and never shown or logged.

use std::io::IsTerminal;

use certa_core::key::KeyUri;
use rhai::Map;
use secrecy::{ExposeSecret, SecretString};

use crate::engine::errors::{
    core_error, script_error, ScriptResult, CANCELLED_CODE, PASSWORD_REQUIRED_CODE,
};
use crate::engine::options::Options;
use crate::hidden_input::{read_hidden_line, HiddenInputError};

/// The environment variable read for the CA's password or PIN when a call names none.
pub const CA_PASSWORD_ENV: &str = "CERTA_CA_PASSWORD";
/// The environment variable read for a client key's password when a call names none.
pub const KEY_PASSWORD_ENV: &str = "CERTA_KEY_PASSWORD";
/// The environment variable read for the password or PIN of the CA server's
/// HTTPS key when a call names none.
pub const HTTPS_KEY_PASSWORD_ENV: &str = "CERTA_HTTPS_KEY_PASSWORD";

/// The options through which a call is given a password or PIN.
pub const SECRET_OPTIONS: [&str; 4] = PLAIN_SECRET_OPTIONS.all();

/// The names of the four options that give one key's secret.
#[derive(Debug, Clone, Copy)]
pub struct SecretOptionNames {
    /// The password itself.
    pub password: &'static str,
    /// The environment variable that contains the password.
    pub password_env: &'static str,
    /// A token's PIN itself.
    pub pin: &'static str,
    /// The environment variable that contains the PIN.
    pub pin_env: &'static str,
}

impl SecretOptionNames {
    /// Returns the four names.
    pub const fn all(&self) -> [&'static str; 4] {
        [self.password, self.password_env, self.pin, self.pin_env]
    }
}

/// `password`, `password_env`, `pin` and `pin_env`: the secret of the one key
/// a call unlocks, or of the key the call is about.
pub const PLAIN_SECRET_OPTIONS: SecretOptionNames = SecretOptionNames {
    password: "password",
    password_env: "password_env",
    pin: "pin",
    pin_env: "pin_env",
};

/// The secret of the key of the certificate that `client_certificate`
/// names, when a call unlocks another key as well.
pub const CLIENT_CERTIFICATE_SECRET_OPTIONS: SecretOptionNames = SecretOptionNames {
    password: "client_certificate_password",
    password_env: "client_certificate_password_env",
    pin: "client_certificate_pin",
    pin_env: "client_certificate_pin_env",
};

/// Whether a missing secret may be asked for at the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompting {
    /// The REPL: ask without echo.
    Allowed,
    /// A script: fail and name the variable to set.
    Forbidden,
}

/// A secret that a function needs.
#[derive(Debug, Clone)]
pub struct SecretSpec {
    /// The secret's name in prompts and errors ("CA key password", "key
    /// password of web").
    pub what: String,
    /// The environment variable read when no option names one.
    pub default_env: &'static str,
    /// Whether the secret protects a new key, so a prompt asks twice.
    pub new_key: bool,
    /// The options that give the secret; `None` for a caller that takes no
    /// options (`certa serve`), whose errors then name only the variable.
    pub options: Option<SecretOptionNames>,
}

/// Reads the secret `spec` describes from its options (the password or PIN,
/// or the variable that contains it), the environment or a prompt.
///
/// # Errors
///
/// A `password_required` error naming the environment variable to set, when
/// there is no secret and no prompt is allowed; an `invalid_input` error for
/// an empty secret or a named variable that is not set.
pub fn read_secret(
    options: &mut Options,
    spec: &SecretSpec,
    prompting: Prompting,
) -> ScriptResult<SecretString> {
    let function = options.function();
    let (literal, named_env) = match spec.options {
        Some(names) => read_secret_options(options, names)?,
        None => (None, None),
    };

    if let Some(literal) = literal {
        return non_empty(SecretString::from(literal), function, spec);
    }

    if let Some((option, name)) = named_env {
        return match std::env::var(&name) {
            Ok(value) => non_empty(SecretString::from(value), function, spec),
            Err(_) => Err(script_error(
                PASSWORD_REQUIRED_CODE,
                format!(
                    "{function} needs the {}: the environment variable {name} named by {option} is not set; set it and run again",
                    spec.what
                ),
            )),
        };
    }

    if let Ok(value) = std::env::var(spec.default_env) {
        tracing::debug!(
            variable = spec.default_env,
            "{function}: read the {} from the environment",
            spec.what
        );
        return non_empty(SecretString::from(value), function, spec);
    }

    if prompting == Prompting::Allowed && std::io::stdin().is_terminal() {
        return prompt(function, spec);
    }

    let advice = match spec.options {
        Some(names) => format!("or name another one with {}: \"NAME\"", names.password_env),
        None => format!("or start {function} at a terminal to type it"),
    };
    Err(script_error(
        PASSWORD_REQUIRED_CODE,
        format!(
            "{function} needs the {}: set the environment variable {}, {advice}",
            spec.what, spec.default_env
        ),
    ))
}

/// An environment variable that an option names: the option, and the
/// variable's name.
type NamedVariable = (&'static str, String);

/// Reads the password or PIN, and the environment variable that contains
/// it, from the options `names` lists.
fn read_secret_options(
    options: &mut Options,
    names: SecretOptionNames,
) -> ScriptResult<(Option<String>, Option<NamedVariable>)> {
    let literal = match options.opt_string(names.password)? {
        Some(password) => Some(password),
        None => options.opt_string(names.pin)?,
    };
    let named_env = match options.opt_string(names.password_env)? {
        Some(name) => Some((names.password_env, name)),
        None => options
            .opt_string(names.pin_env)?
            .map(|name| (names.pin_env, name)),
    };
    Ok((literal, named_env))
}

/// How prompts and errors name the secret of one kind of key, and the
/// environment variable read when a call names none.
#[derive(Debug, Clone, Copy)]
pub struct KeySecretNames {
    /// The password of a key file ("key password").
    pub password: &'static str,
    /// The PIN of the token that stores the key ("token PIN").
    pub pin: &'static str,
    /// The environment variable read when no option names one.
    pub default_env: &'static str,
}

impl KeySecretNames {
    /// Describes the secret of the existing key `key`: its password or its
    /// token's PIN, named after the file name root `root` when one is given,
    /// read from the options `options` lists.
    pub fn spec(
        &self,
        key: &KeyUri,
        root: Option<&str>,
        options: Option<SecretOptionNames>,
    ) -> SecretSpec {
        let kind = match key {
            KeyUri::Pkcs11(_) => self.pin,
            KeyUri::File(_) => self.password,
        };
        let what = match root {
            Some(root) => format!("{kind} of {root}"),
            None => kind.to_owned(),
        };
        SecretSpec {
            what,
            default_env: self.default_env,
            new_key: false,
            options,
        }
    }
}

/// A client's own key.
pub const CLIENT_KEY: KeySecretNames = KeySecretNames {
    password: "key password",
    pin: "token PIN",
    default_env: KEY_PASSWORD_ENV,
};

/// The key of the CA server's HTTPS certificate.
pub const HTTPS_KEY: KeySecretNames = KeySecretNames {
    password: "HTTPS key password",
    pin: "HTTPS key's token PIN",
    default_env: HTTPS_KEY_PASSWORD_ENV,
};

/// Runs `operation` with the secret of the existing key `key`, which `spec`
/// describes. The secret comes from the options when they name one. A key
/// on a token takes its PIN from the URI's pin-source, else from the
/// options, the default variable or a prompt. A key file is tried first
/// without a password, because an unencrypted key needs none, and on
/// `wrong_password` again with the password from the default variable or a
/// prompt. Checks that no unknown option is left.
///
/// # Errors
///
/// The errors of [`read_secret`], unknown options, and the error of `operation`.
pub fn with_key_secret<T>(
    key: &KeyUri,
    mut options: Options,
    spec: &SecretSpec,
    prompting: Prompting,
    operation: impl Fn(Option<&SecretString>) -> certa_core::Result<T>,
) -> ScriptResult<T> {
    let function = options.function();
    let secret_given = spec
        .options
        .is_some_and(|names| names.all().iter().any(|name| options.has(name)));
    let needs_secret = matches!(key, KeyUri::Pkcs11(uri) if uri.pin.is_none());
    let secret = if secret_given || needs_secret {
        Some(read_secret(&mut options, spec, prompting)?)
    } else {
        None
    };
    options.finish()?;

    let first = operation(secret.as_ref());
    let retry = secret.is_none()
        && matches!(key, KeyUri::File(_))
        && matches!(&first, Err(error) if error.code() == "wrong_password");
    if !retry {
        return first.map_err(core_error);
    }
    let mut empty = Options::new(function, Map::new());
    let secret = read_secret(&mut empty, spec, prompting)?;
    operation(Some(&secret)).map_err(core_error)
}

fn non_empty(
    secret: SecretString,
    function: &str,
    spec: &SecretSpec,
) -> ScriptResult<SecretString> {
    if secret.expose_secret().is_empty() {
        return Err(script_error(
            "invalid_input",
            format!(
                "{function}: the {} is empty; give a non-empty one",
                spec.what
            ),
        ));
    }
    Ok(secret)
}

/// Asks for the secret without echo; a new key's secret is asked twice.
fn prompt(function: &str, spec: &SecretSpec) -> ScriptResult<SecretString> {
    let first = ask(&format!("{} for {function}: ", spec.what), function, spec)?;
    if spec.new_key {
        let second = ask(&format!("{} again: ", spec.what), function, spec)?;
        if first.expose_secret() != second.expose_secret() {
            return Err(script_error(
                "invalid_input",
                format!("{function}: the two {}s differ; try again", spec.what),
            ));
        }
    }
    non_empty(first, function, spec)
}

/// Shows `prompt` and reads the secret. Ctrl-C cancels the call, not the shell.
fn ask(prompt: &str, function: &str, spec: &SecretSpec) -> ScriptResult<SecretString> {
    match read_hidden_line(prompt) {
        Ok(entry) => Ok(SecretString::from(entry.as_str())),
        Err(HiddenInputError::Cancelled) => Err(script_error(
            CANCELLED_CODE,
            format!("{function}: {} entry cancelled", spec.what),
        )),
        Err(HiddenInputError::Io(e)) => Err(script_error(
            PASSWORD_REQUIRED_CODE,
            format!(
                "{function}: failed to read the {} from the terminal: {e}",
                spec.what
            ),
        )),
    }
}

/// Tells whether a line of REPL input may hold a password or PIN, so that it
/// is kept out of the history: `password:`, `pin =`, `pin-value=` and the
/// like, in any case. `password_env:` names a variable and is no secret.
pub fn may_hold_secret(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    if lower.contains("pin-value") {
        return true;
    }
    for word in ["password", "passphrase", "pin"] {
        let mut rest = lower.as_str();
        while let Some(index) = rest.find(word) {
            let before = &rest[..index];
            let after = &rest[index + word.len()..];
            rest = after;
            let starts_word = before
                .chars()
                .last()
                .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
            let assigned = after
                .trim_start_matches(['"', '\''])
                .trim_start()
                .starts_with([':', '=']);
            if starts_word && assigned {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_option_is_secret() {
        assert!(may_hold_secret(
            r#"configure_server(#{root: "FLCA", password: "x"})"#
        ));
        assert!(may_hold_secret(r#"issue(id, #{ "pin" : "1234" })"#));
        assert!(may_hold_secret("let m = #{}; m.password = \"x\""));
        assert!(may_hold_secret(
            "configure_server(#{key: \"pkcs11:token=a;object=b?pin-value=1\"})"
        ));
    }

    #[test]
    fn password_env_is_no_secret() {
        assert!(!may_hold_secret(
            r#"issue(id, #{password_env: "CERTA_CA_PASSWORD"})"#
        ));
        assert!(!may_hold_secret("pending()"));
        assert!(!may_hold_secret("let spinner = 1"));
    }
}
