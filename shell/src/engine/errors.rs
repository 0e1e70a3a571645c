//! Errors as scripts see them: a map `#{code, message}` thrown from Rust, and
//! one line for people when a script does not catch it.

use std::path::Path;

use rhai::{Dynamic, EvalAltResult, Map, Position};

/// The result type of every function the shell registers.
pub type ScriptResult<T> = Result<T, Box<EvalAltResult>>;

/// The code of errors that Rhai itself raises (syntax errors, unknown functions, type mismatches).
pub const SCRIPT_CODE: &str = "script";

/// The code of a call that needs a password or PIN and got none.
pub const PASSWORD_REQUIRED_CODE: &str = "password_required";

/// The code of a call whose password or PIN prompt the user left with Ctrl-C.
pub const CANCELLED_CODE: &str = "cancelled";

/// The code of a call to a role (server or client) the instance does not have yet.
pub const NOT_CONFIGURED_CODE: &str = "not_configured";

/// The code of a CA server's refusal to list or serve certificates to a
/// client that presented no client certificate, as the HTTP API names it.
pub const CLIENT_CERTIFICATE_REQUIRED_CODE: &str = "client_certificate_required";

/// Builds the error a script can catch: `catch (err) { err.code; err.message }`.
pub fn script_error(code: &str, message: impl Into<String>) -> Box<EvalAltResult> {
    let mut map = Map::new();
    map.insert("code".into(), Dynamic::from(code.to_owned()));
    map.insert("message".into(), Dynamic::from(message.into()));
    Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from_map(map),
        Position::NONE,
    ))
}

/// Converts an error of `certa-core` into a catchable script error.
pub fn core_error(error: certa_core::Error) -> Box<EvalAltResult> {
    tracing::debug!(code = error.code(), "operation failed: {error}");
    if is_client_certificate_required(&error) {
        return script_error(
            CLIENT_CERTIFICATE_REQUIRED_CODE,
            format!(
                "{error}; present a certificate this client holds with the option client_certificate: \"ROOT\", such as list_certificates(#{{ client_certificate: \"web\" }})"
            ),
        );
    }
    script_error(error.code(), error.to_string())
}

/// Tells whether `error` is a CA server's refusal to serve a client without a
/// client certificate. The core's HTTP client puts the server's error code
/// in brackets into the reason ("... (client_certificate_required)").
fn is_client_certificate_required(error: &certa_core::Error) -> bool {
    let certa_core::Error::Server { reason, .. } = error else {
        return false;
    };
    reason.contains(&format!("({CLIENT_CERTIFICATE_REQUIRED_CODE})"))
}

/// Builds an `invalid_input` error for a function argument.
pub fn invalid_argument(function: &str, reason: impl std::fmt::Display) -> Box<EvalAltResult> {
    script_error(
        "invalid_input",
        format!("invalid argument to {function}: {reason}"),
    )
}

/// An error as printed for a person: its code, message and position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReport {
    /// The stable code (`"not_found"`, `"wrong_password"`, `"script"`, ...).
    pub code: String,
    /// The message, without the position.
    pub message: String,
    /// The line, counting from 1, if known.
    pub line: Option<usize>,
    /// The column, counting from 1, if known.
    pub column: Option<usize>,
}

impl ErrorReport {
    /// Takes apart a Rhai error, following calls of script functions down to
    /// the statement that failed.
    pub fn from_eval(error: &EvalAltResult) -> Self {
        let mut innermost = error;
        let mut position = error.position();
        while let EvalAltResult::ErrorInFunctionCall(_, _, inner, _) = innermost {
            innermost = inner;
            if !inner.position().is_none() {
                position = inner.position();
            }
        }

        let (code, message) = match innermost {
            EvalAltResult::ErrorRuntime(value, _) => code_and_message(value),
            other => (SCRIPT_CODE.to_owned(), without_position(other)),
        };

        ErrorReport {
            code,
            message,
            line: position.line(),
            column: position.position(),
        }
    }

    /// Formats the report as one line: `error: MESSAGE (code CODE) at FILE:LINE:COL`.
    pub fn to_line(&self, file: &Path) -> String {
        let mut line = format!("error: {} (code {})", self.message, self.code);
        match (self.line, self.column) {
            (Some(row), Some(column)) => {
                line += &format!(" at {}:{row}:{column}", file.display());
            }
            (Some(row), None) => line += &format!(" at {}:{row}", file.display()),
            _ => line += &format!(" in {}", file.display()),
        }
        line
    }
}

/// Formats a Rhai error without the `(line L, position C)` that its `Display` appends.
fn without_position(error: &EvalAltResult) -> String {
    let text = error.to_string();
    let position = error.position();
    if position.is_none() {
        return text;
    }
    let suffix = format!(" ({position})");
    match text.strip_suffix(&suffix) {
        Some(message) => message.to_owned(),
        None => text,
    }
}

/// Reads the code and message of a thrown value: a map from [`script_error`],
/// or anything a script threw itself (`throw "text"`).
fn code_and_message(value: &Dynamic) -> (String, String) {
    if let Some(map) = value.read_lock::<Map>() {
        let code = map
            .get("code")
            .map(|code| code.to_string())
            .unwrap_or_else(|| SCRIPT_CODE.to_owned());
        let message = map
            .get("message")
            .map(|message| message.to_string())
            .unwrap_or_else(|| value.to_string());
        return (code, message);
    }
    (SCRIPT_CODE.to_owned(), value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_reads_thrown_map() {
        let error = script_error("not_found", "request not found: 42");
        let report = ErrorReport::from_eval(&error);
        assert_eq!(report.code, "not_found");
        assert_eq!(report.message, "request not found: 42");
    }

    #[test]
    fn report_line_names_file_and_position() {
        let report = ErrorReport {
            code: "server".to_owned(),
            message: "request to CA server failed".to_owned(),
            line: Some(3),
            column: Some(7),
        };
        assert_eq!(
            report.to_line(Path::new("a.rhai")),
            "error: request to CA server failed (code server) at a.rhai:3:7"
        );
    }
}
