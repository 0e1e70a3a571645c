//! Functions of the CA server role: set-up, serving, and the operator's
//! review of pending requests.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use certa_core::ca::profile::Usage;
use certa_core::ca::requests::RequestState;
use certa_core::ca::server::{CaServer, IssuedCertificate, RequestDetails, RequestRecord};
use certa_core::ca::setup::{
    set_up_intermediate, set_up_self_signed, IntermediateSetup, SelfSignedSetup, SetupReport,
};
use certa_core::http::HttpsConfig;
use certa_core::key::{KeyAlgorithm, KeyUri, SecretString, Signer};
use certa_core::settings::HttpsSettings;
use rhai::{Array, Engine, Map};

use super::errors::{
    core_error, invalid_argument, script_error, ScriptResult, NOT_CONFIGURED_CODE,
};
use super::https::{REQUIRE_CLIENT_CERTIFICATE, REQUIRE_CLIENT_CERTIFICATES};
use super::instance::Instance;
use super::options::Options;
use super::values::{array_of, Fields};
use super::Shell;
use crate::progress::Spinner;
use crate::secrets::{
    read_secret, with_key_secret, SecretOptionNames, SecretSpec, CA_PASSWORD_ENV, HTTPS_KEY,
    PLAIN_SECRET_OPTIONS, SECRET_OPTIONS,
};

/// The options of `issue` and `issue_all`.
pub(super) const ISSUE_OPTIONS: [&str; 7] = [
    "usage",
    "validity_days",
    "password",
    "password_env",
    "pin",
    "pin_env",
    "unencrypted",
];

/// Registers the CA server's functions.
pub fn register(engine: &mut Engine, shell: &Arc<Shell>) {
    register_on_instances!(engine, shell, "configure_server", configure_server, options: Map);
    register_on_instances!(engine, shell, "configure_intermediate", configure_intermediate, options: Map);
    register_on_instances!(engine, shell, "serve", serve_default);
    register_on_instances!(engine, shell, "serve", serve, options: Map);
    register_on_instances!(engine, shell, "stop_serving", stop_serving);
    register_on_instances!(engine, shell, "pending", pending);
    register_on_instances!(engine, shell, "show_request", show_request, id: &str);
    register_on_instances!(engine, shell, "issue", issue_default, id: &str);
    register_on_instances!(engine, shell, "issue", issue, id: &str, options: Map);
    register_on_instances!(engine, shell, "issue_all", issue_all_default);
    register_on_instances!(engine, shell, "issue_all", issue_all, options: Map);
    register_on_instances!(engine, shell, "reject", reject, id: &str, reason: &str);
    register_on_instances!(engine, shell, "issued", issued);
}

fn configure_server(shell: &Shell, instance: &Instance, options: Map) -> ScriptResult<Map> {
    let mut options = Options::new("configure_server", options).allow(&[
        "root",
        "directory",
        "subject",
        "algorithm",
        "validity_days",
        "key",
        "replace",
        "password",
        "password_env",
        "pin",
        "pin_env",
    ])?;
    let root = options.string("root")?;
    let directory = options.string("directory")?;
    let subject = options.subject("subject")?;
    let mut setup = SelfSignedSetup::new(root, directory, subject);
    if let Some(name) = options.opt_string("algorithm")? {
        setup.algorithm = name.parse::<KeyAlgorithm>().map_err(core_error)?;
    }
    if let Some(days) = options.opt_positive_u32("validity_days")? {
        setup.validity_days = days;
    }
    if let Some(uri) = options.opt_string("key")? {
        setup.key = Some(parse_key_uri(&uri)?);
    }
    setup.replace = options.flag("replace")?;
    let key = setup
        .key
        .clone()
        .unwrap_or_else(|| KeyUri::file(setup.directory.join(format!("{}.key", setup.root))));
    let secret = key_secret(shell, &key, &mut options, true)?;
    options.finish()?;

    let store = certa_backends::open_key_store(&key, instance.directory()).map_err(core_error)?;
    let spinner = setup
        .algorithm
        .rsa_bits()
        .map(|_| Spinner::start(format!("generating an {} key", setup.algorithm)));
    let report = set_up_self_signed(
        instance.directory(),
        &setup,
        store.as_ref(),
        secret.as_ref(),
    )
    .map_err(core_error);
    drop(spinner);
    Ok(setup_fields(&setup.root, &report?))
}

fn configure_intermediate(shell: &Shell, instance: &Instance, options: Map) -> ScriptResult<Map> {
    let mut options = Options::new("configure_intermediate", options).allow(&[
        "root",
        "directory",
        "key_file",
        "key",
        "certificate",
        "chain",
        "replace",
        "unencrypted",
        "password",
        "password_env",
        "pin",
        "pin_env",
    ])?;
    let root = options.string("root")?;
    let directory = options.string("directory")?;
    let key = match (options.opt_string("key_file")?, options.opt_string("key")?) {
        (Some(path), None) => KeyUri::file(absolute(&path)?),
        (None, Some(uri)) => parse_key_uri(&uri)?,
        _ => {
            return Err(invalid_argument(
                "configure_intermediate",
                "give exactly one of key_file (a PKCS#8 PEM file) and key (a pkcs11: URI)",
            ))
        }
    };
    let certificate_pem = read_file(&options.string("certificate")?)?;
    let chain_pem = match options.opt_string("chain")? {
        Some(path) => read_file(&path)?,
        None => Vec::new(),
    };
    let replace = options.flag("replace")?;
    let secret = key_secret(shell, &key, &mut options, false)?;
    options.finish()?;

    let setup = IntermediateSetup {
        root,
        directory: directory.into(),
        key: key.clone(),
        certificate_pem,
        chain_pem,
        replace,
    };
    let store = certa_backends::open_key_store(&key, instance.directory()).map_err(core_error)?;
    let report = set_up_intermediate(
        instance.directory(),
        &setup,
        store.as_ref(),
        secret.as_ref(),
    )
    .map_err(core_error)?;
    Ok(setup_fields(&setup.root, &report))
}

pub(super) fn parse_key_uri(uri: &str) -> ScriptResult<KeyUri> {
    uri.parse::<KeyUri>()
        .map_err(|e| core_error(certa_core::Error::InvalidKeyUri(e)))
}

/// Resolves a path a script gave against the current directory, as a shell user expects.
fn absolute(path: &str) -> ScriptResult<PathBuf> {
    std::path::absolute(path).map_err(|e| core_error(certa_core::Error::io("resolve", path, e)))
}

fn read_file(path: &str) -> ScriptResult<Vec<u8>> {
    std::fs::read(path).map_err(|e| core_error(certa_core::Error::io("read", path, e)))
}

fn setup_fields(root: &str, report: &SetupReport) -> Map {
    let files: Vec<String> = report
        .files
        .iter()
        .map(|file| file.display().to_string())
        .collect();
    Fields::new()
        .text("root", root)
        .text("subject", report.subject.clone())
        .text("not_after", report.not_after.clone())
        .path("certificate", &report.certificate)
        .text("key", report.key.clone())
        .texts("files", &files)
        .fingerprints(&report.fingerprints)
        .build()
}

pub(super) fn open_server(instance: &Instance) -> ScriptResult<CaServer> {
    CaServer::open(instance.directory()).map_err(core_error)
}

fn serve_default(shell: &Shell, instance: &Instance) -> ScriptResult<Map> {
    serve(shell, instance, Map::new())
}

fn serve(shell: &Shell, instance: &Instance, options: Map) -> ScriptResult<Map> {
    let mut allowed = vec![
        "listen",
        "https",
        REQUIRE_CLIENT_CERTIFICATES,
        REQUIRE_CLIENT_CERTIFICATE,
    ];
    allowed.extend(SECRET_OPTIONS);
    let mut options = Options::new("serve", options).allow(&allowed)?;
    let listen = options.opt_string("listen")?;
    let https = options.opt_flag("https")?;
    let require_client_certificates =
        options.opt_flag_or_alias(REQUIRE_CLIENT_CERTIFICATES, REQUIRE_CLIENT_CERTIFICATE)?;

    let server = open_server(instance)?;
    let listen = listen.unwrap_or_else(|| server.settings().listen.clone());
    let address: SocketAddr = listen.parse().map_err(|e| {
        invalid_argument(
            "serve",
            format!(
                "listen address {listen:?} is not an IP address and port such as 127.0.0.1:0 ({e})"
            ),
        )
    })?;
    let https_settings = HttpsSettings::load(instance.directory()).map_err(core_error)?;
    let https_settings = match (https, https_settings) {
        (Some(false), _) | (None, None) => None,
        (_, Some(settings)) => Some(settings),
        (Some(true), None) => {
            return Err(script_error(
                NOT_CONFIGURED_CODE,
                format!(
                    "serve: instance {} has no HTTPS certificate; run configure_https first",
                    instance.directory().display()
                ),
            ))
        }
    };
    if https_settings.is_none() && require_client_certificates.is_some() {
        return Err(invalid_argument(
            "serve",
            "require_client_certificates applies to HTTPS; add https: true after configure_https",
        ));
    }

    let mut slot = instance.server_slot();
    if let Some(running) = slot.as_ref() {
        return Err(script_error(
            "already_exists",
            format!(
                "serve: instance {} already serves on {}; call stop_serving() first",
                instance.directory().display(),
                running.address()
            ),
        ));
    }
    let runtime = shell.runtime()?;
    let handle = match &https_settings {
        Some(settings) => {
            let key: KeyUri = parse_key_uri(&settings.key)?;
            let store =
                certa_backends::open_key_store(&key, instance.directory()).map_err(core_error)?;
            let spec = HTTPS_KEY.spec(&key, None, Some(PLAIN_SECRET_OPTIONS));
            let signer = with_key_secret(&key, options, &spec, shell.prompting(), |secret| {
                store.unlock(&key, secret)
            })?;
            let mut config =
                HttpsConfig::from_settings(&server, settings, signer).map_err(core_error)?;
            if let Some(required) = require_client_certificates {
                config.require_client_certificates = required;
            }
            certa_core::http::start_https(runtime.handle(), Arc::new(server), address, config)
        }
        None => {
            options.finish()?;
            certa_core::http::start(runtime.handle(), Arc::new(server), address)
        }
    }
    .map_err(core_error)?;
    let bound = handle.address();
    *slot = Some(handle);

    let scheme = if https_settings.is_some() {
        "https"
    } else {
        "http"
    };
    Ok(Fields::new()
        .text("address", bound.to_string())
        .text("host", bound.ip().to_string())
        .number("port", u64::from(bound.port()))
        .text("url", format!("{scheme}://{bound}"))
        .build())
}

fn stop_serving(_shell: &Shell, instance: &Instance) -> ScriptResult<bool> {
    Ok(instance.stop_server())
}

fn pending(_shell: &Shell, instance: &Instance) -> ScriptResult<Array> {
    let requests = open_server(instance)?.pending().map_err(core_error)?;
    Ok(array_of(requests.iter().map(record_fields)))
}

fn show_request(_shell: &Shell, instance: &Instance, id: &str) -> ScriptResult<Map> {
    let details = open_server(instance)?.show(id).map_err(core_error)?;
    Ok(details_fields(&details))
}

fn issue_default(shell: &Shell, instance: &Instance, id: &str) -> ScriptResult<Map> {
    issue(shell, instance, id, Map::new())
}

fn issue(shell: &Shell, instance: &Instance, id: &str, options: Map) -> ScriptResult<Map> {
    let mut options = Options::new("issue", options).allow(&ISSUE_OPTIONS)?;
    let server = open_server(instance)?;
    let (usage, validity_days) = issue_options(&mut options)?;
    // Check the request before the CA key is unlocked: each password or PIN
    // prompt can cost an attempt on a token that locks after a few.
    check_pending(&server, id)?;
    let signer = unlock_ca_key(shell, instance, &server, &mut options)?;
    options.finish()?;

    let issued = server
        .issue(id, usage, validity_days, signer.as_ref())
        .map_err(core_error)?;
    Ok(issued_fields(&issued))
}

fn issue_all_default(shell: &Shell, instance: &Instance) -> ScriptResult<Array> {
    issue_all(shell, instance, Map::new())
}

fn issue_all(shell: &Shell, instance: &Instance, options: Map) -> ScriptResult<Array> {
    let mut options = Options::new("issue_all", options).allow(&ISSUE_OPTIONS)?;
    let server = open_server(instance)?;
    let (usage, validity_days) = issue_options(&mut options)?;
    let requests = server.pending().map_err(core_error)?;
    // With nothing to issue the CA key stays locked, so no password is asked for.
    if requests.is_empty() {
        return Ok(Array::new());
    }
    let signer = unlock_ca_key(shell, instance, &server, &mut options)?;
    options.finish()?;

    let spinner = Spinner::start("issuing");
    let mut issued = Vec::with_capacity(requests.len());
    for (index, request) in requests.iter().enumerate() {
        spinner.set_message(format!(
            "issuing request {} of {}: {}",
            index + 1,
            requests.len(),
            request.subject
        ));
        let certificate = server
            .issue(&request.id, usage, validity_days, signer.as_ref())
            .map_err(core_error)?;
        issued.push(issued_fields(&certificate));
    }
    Ok(array_of(issued))
}

fn reject(_shell: &Shell, instance: &Instance, id: &str, reason: &str) -> ScriptResult<Map> {
    let record = open_server(instance)?
        .reject(id, reason)
        .map_err(core_error)?;
    Ok(record_fields(&record))
}

fn issued(_shell: &Shell, instance: &Instance) -> ScriptResult<Array> {
    let certificates = open_server(instance)?.issued().map_err(core_error)?;
    Ok(array_of(certificates.iter().map(issued_fields)))
}

/// Reads `usage` and `validity_days`.
fn issue_options(options: &mut Options) -> ScriptResult<(Usage, Option<u32>)> {
    let usage = match options.opt_string("usage")? {
        Some(name) => name.parse::<Usage>().map_err(core_error)?,
        None => Usage::default(),
    };
    let validity_days = options.opt_positive_u32("validity_days")?;
    Ok((usage, validity_days))
}

/// Checks that request `id` exists and is pending.
///
/// # Errors
///
/// `not_found` for an unknown id, and `invalid_input` for a malformed id or
/// a request that is already issued or rejected.
fn check_pending(server: &CaServer, id: &str) -> ScriptResult<()> {
    let record = server.request(id).map_err(core_error)?;
    if record.state == RequestState::Pending {
        return Ok(());
    }
    let detail = match (record.state, record.certificate_number) {
        (RequestState::Issued, Some(number)) => {
            format!("it was already issued as certificate number {number}")
        }
        (RequestState::Rejected, _) => format!(
            "it was rejected ({}); the requester must submit a new request",
            record.reason.as_deref().unwrap_or("no reason given")
        ),
        (state, _) => format!("it is {state}"),
    };
    Err(core_error(certa_core::Error::invalid_input(
        format!("state of request {id}"),
        format!("the request is {}, not pending: {detail}", record.state),
    )))
}

/// Unlocks the CA key named in the server settings, with the password or PIN
/// from the options, the environment or a prompt.
fn unlock_ca_key(
    shell: &Shell,
    instance: &Instance,
    server: &CaServer,
    options: &mut Options,
) -> ScriptResult<Arc<dyn Signer>> {
    let key: KeyUri = server
        .settings()
        .key
        .parse()
        .map_err(|e| core_error(certa_core::Error::InvalidKeyUri(e)))?;
    let secret = key_secret(shell, &key, options, false)?;
    let store = certa_backends::open_key_store(&key, instance.directory()).map_err(core_error)?;
    store.unlock(&key, secret.as_ref()).map_err(core_error)
}

/// How prompts and errors name one key's secret, the options that give it,
/// and the environment variable it is read from when no option gives it.
pub struct KeySecretNames {
    /// The name of a key file's password ("CA key password").
    pub password: &'static str,
    /// The name of a token's PIN ("token PIN").
    pub pin: &'static str,
    /// The environment variable read when no option gives the secret.
    pub env: &'static str,
    /// The options that give the password or PIN.
    pub options: SecretOptionNames,
    /// The option that marks a key file as stored without a password.
    pub unencrypted: &'static str,
}

/// The names of the CA key's secret.
const CA_KEY_SECRET: KeySecretNames = KeySecretNames {
    password: "CA key password",
    pin: "token PIN",
    env: CA_PASSWORD_ENV,
    options: PLAIN_SECRET_OPTIONS,
    unencrypted: "unencrypted",
};

/// Reads the CA key's secret: none for a token URI that names its PIN source
/// or for a key file the options call `unencrypted`, else the password or PIN
/// from the options, the environment or a prompt.
pub fn key_secret(
    shell: &Shell,
    key: &KeyUri,
    options: &mut Options,
    new_key: bool,
) -> ScriptResult<Option<SecretString>> {
    secret_for_key(shell, key, options, new_key, &CA_KEY_SECRET)
}

/// Reads the secret of `key` as [`key_secret`] does, naming it and reading
/// the environment as `names` says.
pub fn secret_for_key(
    shell: &Shell,
    key: &KeyUri,
    options: &mut Options,
    new_key: bool,
    names: &KeySecretNames,
) -> ScriptResult<Option<SecretString>> {
    if options.flag(names.unencrypted)? {
        return Ok(None);
    }
    let what = match key {
        KeyUri::Pkcs11(uri) if uri.pin.is_some() => return Ok(None),
        KeyUri::Pkcs11(_) => names.pin,
        KeyUri::File(_) => names.password,
    };
    let spec = SecretSpec {
        what: what.to_owned(),
        default_env: names.env,
        new_key,
        options: Some(names.options),
    };
    read_secret(options, &spec, shell.prompting()).map(Some)
}

/// Converts a request's metadata to a result map.
pub fn record_fields(record: &RequestRecord) -> Map {
    let mut fields = Fields::new()
        .text("id", record.id.clone())
        .text("name", record.name.clone())
        .text("subject", record.subject.clone())
        .text("state", state_name(record))
        .text("received", record.received.clone())
        .text("source", record.source.clone())
        .text("sha1", record.sha1_fingerprint.clone())
        .contact("contact", &record.contact)
        .opt_text("reason", record.reason.clone());
    if let Some(number) = record.certificate_number {
        fields = fields.number("certificate_number", number);
    }
    fields.build()
}

fn state_name(record: &RequestRecord) -> String {
    // The serde name is the one the HTTP API and the request files use.
    serde_json::to_value(record.state)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{:?}", record.state).to_lowercase())
}

fn details_fields(details: &RequestDetails) -> Map {
    let mut fields = record_fields(&details.record);
    let extra = Fields::new()
        .text("key", details.key.clone())
        .texts("subject_alt_names", &details.subject_alt_names)
        .fingerprints(&details.fingerprints)
        .build();
    fields.extend(extra);
    fields
}

/// Converts an issued certificate to a result map.
pub fn issued_fields(certificate: &IssuedCertificate) -> Map {
    Fields::new()
        .number("number", certificate.number)
        .text("request_id", certificate.request_id.clone())
        .text("subject", certificate.subject.clone())
        .text("usage", certificate.usage.name())
        .text("not_before", certificate.not_before.clone())
        .text("not_after", certificate.not_after.clone())
        .path("path", &certificate.path)
        .fingerprints(&certificate.fingerprints)
        .build()
}
