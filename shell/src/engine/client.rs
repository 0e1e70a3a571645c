//! Functions of the CA client role: configure the server to use, submit a
//! CSR, and fetch the CA certificate and the client's own certificates.

use std::cell::RefCell;
use std::io::IsTerminal;
use std::sync::Arc;

use certa_core::client::{
    CaCheck, ClientInstance, FetchedCertificate, KeyChoice, NewRequest, OfferedCaCertificate,
};
use certa_core::key::{KeyAlgorithm, KeyStore, KeyUri, SecretString};
use rhai::{Array, Engine, Map};
use secrecy::ExposeSecret;

use super::errors::{core_error, invalid_argument, script_error, ScriptResult};
use super::instance::Instance;
use super::options::Options;
use super::values::{array_of, Fields};
use super::Shell;
use crate::progress::Spinner;
use crate::secrets::{
    read_secret, with_key_secret, Prompting, SecretOptionNames, SecretSpec,
    CLIENT_CERTIFICATE_SECRET_OPTIONS, CLIENT_KEY, KEY_PASSWORD_ENV, PLAIN_SECRET_OPTIONS,
    SECRET_OPTIONS,
};

/// Registers the CA client's functions.
pub fn register(engine: &mut Engine, shell: &Arc<Shell>) {
    register_on_instances!(engine, shell, "configure_client", configure_client, options: Map);
    register_on_instances!(engine, shell, "submit", submit, options: Map);
    register_on_instances!(
        engine,
        shell,
        "fetch_ca_certificate",
        fetch_ca_certificate_default
    );
    register_on_instances!(engine, shell, "fetch_ca_certificate", fetch_ca_certificate, options: Map);
    register_on_instances!(
        engine,
        shell,
        "list_certificates",
        list_certificates_default
    );
    register_on_instances!(engine, shell, "list_certificates", list_certificates, options: Map);
    register_on_instances!(engine, shell, "fetch_certificate", fetch_certificate_default, root: &str);
    register_on_instances!(engine, shell, "fetch_certificate", fetch_certificate, root: &str, options: Map);
}

fn client_of(instance: &Instance) -> ClientInstance {
    ClientInstance::new(instance.directory())
}

fn configure_client(_shell: &Shell, instance: &Instance, options: Map) -> ScriptResult<Map> {
    let mut options =
        Options::new("configure_client", options).allow(&["host", "port", "https", "contact"])?;
    let host = options.string("host")?;
    let port = read_port(&mut options)?;
    let https = options.flag("https")?;
    let contact = options.contact("contact")?;
    options.finish()?;

    let settings = client_of(instance)
        .configure_with(&host, port, contact, https)
        .map_err(core_error)?;
    let scheme = if settings.https { "https" } else { "http" };
    Ok(Fields::new()
        .text("host", settings.host.clone())
        .number("port", u64::from(settings.port))
        .text(
            "url",
            format!("{scheme}://{}:{}", settings.host, settings.port),
        )
        .contact("contact", &settings.contact)
        .path("directory", &instance.directory().join(&settings.directory))
        .build())
}

fn read_port(options: &mut Options) -> ScriptResult<u16> {
    let Some(port) = options.opt_int("port")? else {
        return Err(invalid_argument(
            "configure_client",
            "option port is missing; add port: 8443, or the port serve() returned",
        ));
    };
    u16::try_from(port)
        .ok()
        .filter(|port| *port > 0)
        .ok_or_else(|| {
            invalid_argument(
                "configure_client",
                format!("port {port} is not a TCP port; give 1 to 65535"),
            )
        })
}

fn submit(shell: &Shell, instance: &Instance, options: Map) -> ScriptResult<Map> {
    let mut options = Options::new("submit", options).allow(&[
        "root",
        "subject",
        "sans",
        "algorithm",
        "reuse_key",
        "key",
        "unencrypted",
        "password",
        "password_env",
        "pin",
        "pin_env",
    ])?;
    let root = options.string("root")?;
    let subject = options.subject("subject")?;
    let subject_alt_names = options.opt_strings("sans")?;
    let algorithm = match options.opt_string("algorithm")? {
        Some(name) => name.parse::<KeyAlgorithm>().map_err(core_error)?,
        None => KeyAlgorithm::default(),
    };
    let key = if options.flag("reuse_key")? {
        KeyChoice::Reuse
    } else {
        KeyChoice::Create
    };
    let key_location = match options.opt_string("key")? {
        Some(uri) => Some(parse_key_location(&uri)?),
        None => None,
    };
    let secret = new_key_secret(shell, key_location.as_ref(), key, &mut options)?;
    options.finish()?;

    let client = client_of(instance);
    let store = match &key_location {
        Some(location) => {
            certa_backends::open_key_store(location, instance.directory()).map_err(core_error)?
        }
        None => open_client_store(&client, instance, &root)?,
    };
    let request = NewRequest {
        root,
        subject,
        subject_alt_names,
        algorithm,
        key,
        key_location,
    };
    let spinner = (key == KeyChoice::Create && algorithm.rsa_bits().is_some())
        .then(|| Spinner::start(format!("generating an {algorithm} key")));
    let submitted = shell
        .runtime()?
        .block_on(client.submit(store.as_ref(), &request, secret.as_ref()))
        .map_err(|error| submit_error(error, key));
    drop(spinner);
    let submitted = submitted?;

    Ok(Fields::new()
        .text("id", submitted.id)
        .text("root", request.root.clone())
        .text("state", "pending")
        .text("sha1", submitted.sha1_fingerprint)
        .path("csr", &submitted.csr_path)
        .text("key", submitted.key.to_string())
        .build())
}

/// Converts an error of `submit`. A key that already exists may be one that
/// an earlier submit made before it failed to reach the server, so the
/// message names the option that sends a CSR for that key.
fn submit_error(error: certa_core::Error, key: KeyChoice) -> Box<rhai::EvalAltResult> {
    match error {
        // The key stores name the kind "key file" or "key".
        certa_core::Error::AlreadyExists { kind, name, .. }
            if key == KeyChoice::Create && kind.contains("key") =>
        {
            script_error(
                "already_exists",
                format!(
                    "submit: {kind} already exists: {name}; an earlier submit for this root may have made it and then failed, so pass reuse_key: true to submit a new CSR for that key, or choose another root (and another key location, if you gave key)"
                ),
            )
        }
        other => core_error(other),
    }
}

/// Parses the `key` option of `submit`: where the key pair is made or found.
fn parse_key_location(uri: &str) -> ScriptResult<KeyUri> {
    uri.parse::<KeyUri>()
        .map_err(|e| core_error(certa_core::Error::InvalidKeyUri(e)))
}

/// Reads the secret that protects the key of a new request: none for an
/// `unencrypted` key file or a token URI that names its PIN source, else the
/// password or PIN from the options, the environment or a prompt.
fn new_key_secret(
    shell: &Shell,
    location: Option<&KeyUri>,
    key: KeyChoice,
    options: &mut Options,
) -> ScriptResult<Option<SecretString>> {
    let unencrypted = options.flag("unencrypted")?;
    let on_token = matches!(location, Some(KeyUri::Pkcs11(_)));
    if unencrypted && on_token {
        return Err(invalid_argument(
            "submit",
            "unencrypted applies to key files; a key on a token is protected by the token's PIN, so leave unencrypted out",
        ));
    }
    if unencrypted {
        return Ok(None);
    }
    let secret_given = SECRET_OPTIONS.iter().any(|name| options.has(name));
    if let Some(KeyUri::Pkcs11(uri)) = location {
        if uri.pin.is_some() && !secret_given {
            return Ok(None);
        }
    }
    let spec = SecretSpec {
        what: if on_token {
            "token PIN"
        } else {
            "key password"
        }
        .to_owned(),
        default_env: KEY_PASSWORD_ENV,
        new_key: !on_token && key == KeyChoice::Create,
        options: Some(PLAIN_SECRET_OPTIONS),
    };
    read_secret(options, &spec, shell.prompting()).map(Some)
}

/// Runs `operation` with the secret of the existing client key `key` of
/// `root`, as [`with_key_secret`] reads it from the options `names` lists,
/// with `CERTA_KEY_PASSWORD` as the default variable. Prompts and errors
/// name the key by its root.
///
/// # Errors
///
/// The errors of [`with_key_secret`].
pub(super) fn with_client_key<T>(
    shell: &Shell,
    root: &str,
    key: &KeyUri,
    options: Options,
    names: SecretOptionNames,
    operation: impl Fn(Option<&SecretString>) -> certa_core::Result<T>,
) -> ScriptResult<T> {
    let spec = CLIENT_KEY.spec(key, Some(root), Some(names));
    with_key_secret(key, options, &spec, shell.prompting(), operation)
}

/// Opens the key store of the key remembered for `root`.
///
/// # Errors
///
/// When the remembered key URI is invalid or its store cannot be opened.
pub(super) fn open_client_store(
    client: &ClientInstance,
    instance: &Instance,
    root: &str,
) -> ScriptResult<Box<dyn KeyStore>> {
    let key = client.key_uri(root).map_err(core_error)?;
    certa_backends::open_key_store(&key, instance.directory()).map_err(core_error)
}

fn fetch_ca_certificate_default(shell: &Shell, instance: &Instance) -> ScriptResult<Map> {
    fetch_ca_certificate(shell, instance, Map::new())
}

/// Downloads the CA certificate. Over HTTPS, the first download checks the
/// certificate the server presents against the `fingerprint` option, or
/// asks the operator to compare the fingerprints when the shell may prompt.
fn fetch_ca_certificate(shell: &Shell, instance: &Instance, options: Map) -> ScriptResult<Map> {
    let mut options = Options::new("fetch_ca_certificate", options).allow(&["fingerprint"])?;
    let fingerprint = options.opt_string("fingerprint")?;
    options.finish()?;

    let settings = instance.client_settings("fetch_ca_certificate")?;
    let client = client_of(instance);
    let runtime = shell.runtime()?;
    let first_over_https = settings.https && settings.ca_root.is_none();
    let may_ask = shell.prompting() == Prompting::Allowed && std::io::stdin().is_terminal();
    let fetched = match fingerprint {
        Some(expected) => {
            runtime.block_on(client.fetch_ca_certificate_checked(CaCheck::Expected(&expected)))
        }
        None if first_over_https && may_ask => {
            let confirm = |offered: &OfferedCaCertificate| confirm_ca_certificate(offered);
            runtime.block_on(client.fetch_ca_certificate_checked(CaCheck::Confirm(&confirm)))
        }
        None if first_over_https => {
            return Err(script_error(
                "fingerprint_required",
                format!(
                "fetch_ca_certificate: the client trusts no CA certificate for https://{}:{} yet; \
                     pass the SHA-256 fingerprint the CA operator reads out: \
                     fetch_ca_certificate(#{{fingerprint: \"AB:CD:...\"}})",
                settings.host, settings.port
            ),
            ))
        }
        None => runtime.block_on(client.fetch_ca_certificate()),
    };
    let fetched = fetched.map_err(core_error)?;

    let mut fields = Fields::new()
        .text("root", fetched.root)
        .text("subject", fetched.subject)
        .path("path", &fetched.path)
        .fingerprints(&fetched.fingerprints);
    if let Some(chain) = &fetched.chain_path {
        fields = fields.path("chain_path", chain);
    }
    Ok(fields.build())
}

/// Shows the CA certificate a server presents on the first HTTPS download and
/// asks the operator whether its fingerprint is the one the CA operator reads
/// out. Anything but `y` or `yes` is a no.
fn confirm_ca_certificate(offered: &OfferedCaCertificate) -> bool {
    println!(
        "The server at {} presents this CA certificate:",
        offered.address
    );
    println!("  subject:     {}", offered.subject);
    println!("  server:      {}", offered.server_subject);
    println!("  valid until: {}", offered.not_after);
    println!("  SHA-256:     {}", offered.fingerprints.sha256);
    println!("  SHA-1:       {}", offered.fingerprints.sha1);
    let Ok(mut editor) = rustyline::DefaultEditor::new() else {
        return false;
    };
    match editor
        .readline("Does the SHA-256 fingerprint match the one the CA operator reads out? [y/N] ")
    {
        Ok(answer) => matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"),
        Err(_) => false,
    }
}

fn list_certificates_default(shell: &Shell, instance: &Instance) -> ScriptResult<Array> {
    list_certificates(shell, instance, Map::new())
}

/// Lists the certificates issued for the client's requests. With
/// `client_certificate`, the client presents that certificate, which a
/// server that requires client certificates expects. Its key is the only one
/// the call unlocks, so either the `client_certificate_...` secret options or
/// the plain ones give its secret.
fn list_certificates(shell: &Shell, instance: &Instance, options: Map) -> ScriptResult<Array> {
    let mut allowed = vec!["client_certificate"];
    allowed.extend(SECRET_OPTIONS);
    allowed.extend(CLIENT_CERTIFICATE_SECRET_OPTIONS.all());
    let mut options = Options::new("list_certificates", options).allow(&allowed)?;
    let presented = options.opt_string("client_certificate")?;
    let client = match presented {
        Some(root) => {
            let names = identity_secret_options(&options, "list_certificates")?;
            with_identity(shell, instance, &root, options, names)?.0
        }
        None => {
            reject_secret_without_identity(&options, "list_certificates")?;
            options.finish()?;
            client_of(instance)
        }
    };

    let listed = shell
        .runtime()?
        .block_on(client.list_certificates())
        .map_err(core_error)?;
    Ok(array_of(listed.iter().map(|entry| {
        let certificate = &entry.certificate;
        Fields::new()
            .number("number", certificate.number)
            .text("root", entry.root.clone())
            .text("request_id", certificate.request_id.clone())
            .text("subject", certificate.subject.clone())
            .text("usage", certificate.usage.clone())
            .text("not_after", certificate.not_after.clone())
            .fingerprints(&certificate.fingerprints)
            .build()
    })))
}

/// Chooses the options that give the secret of the presented certificate's
/// key when it is the only key a call unlocks: the `client_certificate_...`
/// ones when any is given, else the plain ones.
///
/// # Errors
///
/// `invalid_input` when both kinds are given.
fn identity_secret_options(options: &Options, function: &str) -> ScriptResult<SecretOptionNames> {
    let given = |names: SecretOptionNames| names.all().iter().any(|name| options.has(name));
    match (
        given(CLIENT_CERTIFICATE_SECRET_OPTIONS),
        given(PLAIN_SECRET_OPTIONS),
    ) {
        (true, true) => Err(invalid_argument(
            function,
            "the client certificate's key is the only key this call unlocks; give its secret once, with client_certificate_password (or _password_env, _pin, _pin_env) or with password (or password_env, pin, pin_env)",
        )),
        (true, false) => Ok(CLIENT_CERTIFICATE_SECRET_OPTIONS),
        (false, _) => Ok(PLAIN_SECRET_OPTIONS),
    }
}

/// Rejects `client_certificate_...` secret options in a call that presents
/// no client certificate.
fn reject_secret_without_identity(options: &Options, function: &str) -> ScriptResult<()> {
    let given: Vec<&str> = CLIENT_CERTIFICATE_SECRET_OPTIONS
        .all()
        .into_iter()
        .filter(|name| options.has(name))
        .collect();
    if given.is_empty() {
        return Ok(());
    }
    Err(invalid_argument(
        function,
        format!(
            "{} unlocks the key of the certificate that client_certificate names; add client_certificate: \"ROOT\" or leave it out",
            given.join(", ")
        ),
    ))
}

/// Returns the client role that presents the certificate of `root` to the
/// server, its key unlocked with the secret from the options `names` lists.
/// Also returns that secret, so that a call can use it again for the same key.
fn with_identity(
    shell: &Shell,
    instance: &Instance,
    root: &str,
    options: Options,
    names: SecretOptionNames,
) -> ScriptResult<(ClientInstance, Option<SecretString>)> {
    let client = client_of(instance);
    let key = client.key_uri(root).map_err(core_error)?;
    let store = open_client_store(&client, instance, root)?;
    let used: RefCell<Option<SecretString>> = RefCell::new(None);
    let identity = with_client_key(shell, root, &key, options, names, |secret| {
        let identity = client.tls_identity(store.as_ref(), root, secret)?;
        *used.borrow_mut() = secret.map(|secret| SecretString::from(secret.expose_secret()));
        Ok(identity)
    })?;
    Ok((client.with_tls_identity(identity), used.into_inner()))
}

fn fetch_certificate_default(shell: &Shell, instance: &Instance, which: &str) -> ScriptResult<Map> {
    fetch_certificate(shell, instance, which, Map::new())
}

/// Fetches the certificate for `which` (a root or a request id). The key is
/// only read for its public key, so an unencrypted key file needs no
/// password. With `client_certificate`, the client presents that
/// certificate, and the `client_certificate_...` options give its key's
/// secret. When that is the key of `which` as well, one secret serves both.
fn fetch_certificate(
    shell: &Shell,
    instance: &Instance,
    which: &str,
    options: Map,
) -> ScriptResult<Map> {
    let mut allowed = vec!["client_certificate"];
    allowed.extend(SECRET_OPTIONS);
    allowed.extend(CLIENT_CERTIFICATE_SECRET_OPTIONS.all());
    let (options, identity_options) = split_identity_options(options);
    let mut options = Options::new("fetch_certificate", options).allow(&allowed)?;
    let identity_options = Options::new("fetch_certificate", identity_options);
    let presented = options.opt_string("client_certificate")?;
    let root = root_of_request(instance, which)?;
    let client = client_of(instance);
    let key = client.key_uri(&root).map_err(core_error)?;
    let store = open_client_store(&client, instance, &root)?;
    let runtime = shell.runtime()?;
    let fetch = |client: &ClientInstance, secret: Option<&SecretString>| {
        runtime.block_on(client.fetch_certificate(store.as_ref(), which, secret))
    };

    let Some(presented) = presented else {
        reject_secret_without_identity(&identity_options, "fetch_certificate")?;
        let fetched = with_client_key(
            shell,
            &root,
            &key,
            options,
            PLAIN_SECRET_OPTIONS,
            |secret| fetch(&client, secret),
        )?;
        return Ok(fetched_fields(fetched));
    };

    let presented_key = client.key_uri(&presented).map_err(core_error)?;
    let identity_given = CLIENT_CERTIFICATE_SECRET_OPTIONS
        .all()
        .iter()
        .any(|name| identity_options.has(name));
    let plain_given = SECRET_OPTIONS.iter().any(|name| options.has(name));
    if presented_key == key && !(identity_given && plain_given) {
        // One key: unlock it once, from whichever options give its secret,
        // so the REPL prompts for it at most once.
        let (client, secret) = if identity_given {
            options.finish()?;
            with_identity(
                shell,
                instance,
                &presented,
                identity_options,
                CLIENT_CERTIFICATE_SECRET_OPTIONS,
            )?
        } else {
            with_identity(shell, instance, &presented, options, PLAIN_SECRET_OPTIONS)?
        };
        let fetched = fetch(&client, secret.as_ref()).map_err(core_error)?;
        return Ok(fetched_fields(fetched));
    }

    let (client, _) = with_identity(
        shell,
        instance,
        &presented,
        identity_options,
        CLIENT_CERTIFICATE_SECRET_OPTIONS,
    )?;
    let fetched = with_client_key(
        shell,
        &root,
        &key,
        options,
        PLAIN_SECRET_OPTIONS,
        |secret| fetch(&client, secret),
    )?;
    Ok(fetched_fields(fetched))
}

/// Takes the `client_certificate_...` secret options out of `options`.
fn split_identity_options(mut options: Map) -> (Map, Map) {
    let mut identity = Map::new();
    for name in CLIENT_CERTIFICATE_SECRET_OPTIONS.all() {
        if let Some(value) = options.remove(name) {
            identity.insert(name.into(), value);
        }
    }
    (options, identity)
}

fn fetched_fields(fetched: FetchedCertificate) -> Map {
    Fields::new()
        .number("number", fetched.number)
        .text("request_id", fetched.request_id)
        .text("subject", fetched.subject)
        .text("not_after", fetched.not_after)
        .path("path", &fetched.path)
        .fingerprints(&fetched.fingerprints)
        .build()
}

/// Finds the file name root of a remembered request, named by root or id.
fn root_of_request(instance: &Instance, which: &str) -> ScriptResult<String> {
    let client = instance.client_settings("fetch_certificate")?;
    let found = client
        .requests
        .iter()
        .rev()
        .find(|request| request.root == which || request.id == which);
    match found {
        Some(request) => Ok(request.root.clone()),
        // An unknown name is reported by the client with its own message.
        None => Ok(which.to_owned()),
    }
}
