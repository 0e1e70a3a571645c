//! The CA server's own HTTPS certificate: `configure_https` issues it, so
//! that `serve` offers the API over TLS.

use std::sync::Arc;

use certa_core::ca::https::HttpsCertificateRequest;
use certa_core::key::{KeyAlgorithm, KeyUri, SecretString};
use rhai::{Engine, Map};

use super::errors::{core_error, invalid_argument, ScriptResult};
use super::instance::Instance;
use super::options::Options;
use super::server::{
    key_secret, open_server, parse_key_uri, secret_for_key, KeySecretNames, ISSUE_OPTIONS,
};
use super::values::Fields;
use super::Shell;
use crate::progress::Spinner;
use crate::secrets::{SecretOptionNames, HTTPS_KEY_PASSWORD_ENV};

/// Registers `configure_https`.
pub fn register(engine: &mut Engine, shell: &Arc<Shell>) {
    register_on_instances!(engine, shell, "configure_https", configure_https, options: Map);
}

/// The options of `configure_https` that give the HTTPS key's own secret.
const HTTPS_KEY_SECRET_OPTIONS: SecretOptionNames = SecretOptionNames {
    password: "key_password",
    password_env: "key_password_env",
    pin: "key_pin",
    pin_env: "key_pin_env",
};

/// The option of `configure_https` that stores the HTTPS key without a password.
const UNENCRYPTED_HTTPS_KEY: &str = "unencrypted_key";

/// The option of `configure_https`, `serve` and `tls_listen` that sets
/// whether clients must present a certificate.
pub(super) const REQUIRE_CLIENT_CERTIFICATES: &str = "require_client_certificates";

/// Another accepted spelling of [`REQUIRE_CLIENT_CERTIFICATES`].
pub(super) const REQUIRE_CLIENT_CERTIFICATE: &str = "require_client_certificate";

fn configure_https(shell: &Shell, instance: &Instance, options: Map) -> ScriptResult<Map> {
    let mut allowed = vec![
        "names",
        "algorithm",
        "key",
        "reuse_key",
        "validity_days",
        REQUIRE_CLIENT_CERTIFICATES,
        REQUIRE_CLIENT_CERTIFICATE,
        UNENCRYPTED_HTTPS_KEY,
    ];
    allowed.extend(
        ISSUE_OPTIONS
            .iter()
            .filter(|name| **name != "usage" && **name != "validity_days"),
    );
    allowed.extend(HTTPS_KEY_SECRET_OPTIONS.all());
    let mut options = Options::new("configure_https", options).allow(&allowed)?;
    let names = options.opt_strings("names")?;
    if names.is_empty() {
        return Err(invalid_argument(
            "configure_https",
            "option names is missing; add the names clients connect to, such as names: [\"ca.example.org\", \"192.0.2.7\"]",
        ));
    }
    let algorithm = match options.opt_string("algorithm")? {
        Some(name) => name.parse::<KeyAlgorithm>().map_err(core_error)?,
        None => KeyAlgorithm::default(),
    };
    let key = match options.opt_string("key")? {
        Some(uri) => Some(parse_key_uri(&uri)?),
        None => None,
    };
    let request = HttpsCertificateRequest {
        names,
        algorithm,
        key,
        reuse_key: options.flag("reuse_key")?,
        validity_days: options.opt_positive_u32("validity_days")?,
        require_client_certificates: options
            .opt_flag_or_alias(REQUIRE_CLIENT_CERTIFICATES, REQUIRE_CLIENT_CERTIFICATE)?
            .unwrap_or(false),
    };

    let server = open_server(instance)?;
    let tls_key = request
        .key
        .clone()
        .unwrap_or_else(|| server.default_https_key());
    let tls_secret = https_key_secret(shell, &tls_key, &mut options, !request.reuse_key)?;
    let ca_key: KeyUri = parse_key_uri(&server.settings().key)?;
    let ca_secret = key_secret(shell, &ca_key, &mut options, false)?;
    options.finish()?;

    let ca_store =
        certa_backends::open_key_store(&ca_key, instance.directory()).map_err(core_error)?;
    let tls_store =
        certa_backends::open_key_store(&tls_key, instance.directory()).map_err(core_error)?;
    let spinner = request
        .algorithm
        .rsa_bits()
        .map(|_| Spinner::start(format!("generating an {} key", request.algorithm)));
    let issued = server
        .issue_https_certificate(
            &request,
            ca_store.as_ref(),
            ca_secret.as_ref(),
            tls_store.as_ref(),
            tls_secret.as_ref(),
        )
        .map_err(core_error);
    drop(spinner);
    let issued = issued?;

    let mut fields = Fields::new()
        .number("number", issued.certificate.number)
        .text("subject", issued.certificate.subject.clone())
        .texts("names", &issued.settings.names)
        .text("not_after", issued.certificate.not_after.clone())
        .path("certificate", &issued.certificate_path)
        .text("key", issued.key.to_string())
        .text(
            "client_certificates",
            if issued.settings.require_client_certificates {
                "required for listing and downloading certificates"
            } else {
                "not required"
            },
        )
        .fingerprints(&issued.certificate.fingerprints);
    if let Some(replaced) = &issued.replaced {
        fields = fields.path("replaced", replaced);
    }
    if let Some(replaced_key) = &issued.replaced_key {
        fields = fields.path("replaced_key", replaced_key);
    }
    if instance.server_slot().is_some() {
        // A running server keeps the configuration it started with.
        fields = fields.text(
            "restart",
            "the running server still uses its old set-up; call stop_serving() and serve() to use this certificate",
        );
    }
    Ok(fields.build())
}

/// Reads the secret of the HTTPS key: none for an unencrypted key file or a
/// token URI that names its PIN source, else the password or PIN from the
/// `key_...` options, `CERTA_HTTPS_KEY_PASSWORD` or a prompt.
fn https_key_secret(
    shell: &Shell,
    key: &KeyUri,
    options: &mut Options,
    new_key: bool,
) -> ScriptResult<Option<SecretString>> {
    let names = KeySecretNames {
        password: "HTTPS key password",
        pin: "HTTPS key's token PIN",
        env: HTTPS_KEY_PASSWORD_ENV,
        options: HTTPS_KEY_SECRET_OPTIONS,
        unencrypted: UNENCRYPTED_HTTPS_KEY,
    };
    secret_for_key(shell, key, options, new_key, &names)
}
