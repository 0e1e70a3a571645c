//! Functions of the CA client role: configure the server to use, submit a
//! CSR, and fetch the CA certificate and the client's own certificates.

use std::sync::Arc;

use certa_core::client::{ClientInstance, KeyChoice, NewRequest};
use certa_core::key::{KeyAlgorithm, KeyStore, SecretString};
use rhai::{Array, Engine, Map};

use super::errors::{core_error, invalid_argument, ScriptResult};
use super::instance::Instance;
use super::options::Options;
use super::values::{array_of, Fields};
use super::Shell;
use crate::progress::Spinner;
use crate::secrets::{read_secret, SecretSpec, KEY_PASSWORD_ENV, SECRET_OPTIONS};

/// Registers the CA client's functions.
pub fn register(engine: &mut Engine, shell: &Arc<Shell>) {
    register_on_instances!(engine, shell, "configure_client", configure_client, options: Map);
    register_on_instances!(engine, shell, "submit", submit, options: Map);
    register_on_instances!(engine, shell, "fetch_ca_certificate", fetch_ca_certificate);
    register_on_instances!(engine, shell, "list_certificates", list_certificates);
    register_on_instances!(engine, shell, "fetch_certificate", fetch_certificate_default, root: &str);
    register_on_instances!(engine, shell, "fetch_certificate", fetch_certificate, root: &str, options: Map);
}

fn client_of(instance: &Instance) -> ClientInstance {
    ClientInstance::new(instance.directory())
}

fn configure_client(_shell: &Shell, instance: &Instance, options: Map) -> ScriptResult<Map> {
    let mut options =
        Options::new("configure_client", options).allow(&["host", "port", "contact"])?;
    let host = options.string("host")?;
    let port = read_port(&mut options)?;
    let contact = options.contact("contact")?;
    options.finish()?;

    let settings = client_of(instance)
        .configure(&host, port, contact)
        .map_err(core_error)?;
    Ok(Fields::new()
        .text("host", settings.host.clone())
        .number("port", u64::from(settings.port))
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
        "unencrypted",
        "password",
        "password_env",
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
    let unencrypted = options.flag("unencrypted")?;
    let secret = if unencrypted {
        None
    } else {
        let spec = SecretSpec {
            what: "key password",
            default_env: KEY_PASSWORD_ENV,
            new_key: key == KeyChoice::Create,
        };
        Some(read_secret(&mut options, spec, shell.prompting())?)
    };
    options.finish()?;

    let client = client_of(instance);
    let store = open_client_store(&client, instance, &root)?;
    let request = NewRequest {
        root,
        subject,
        subject_alt_names,
        algorithm,
        key,
    };
    let spinner = (key == KeyChoice::Create && algorithm.rsa_bits().is_some())
        .then(|| Spinner::start(format!("generating an {algorithm} key")));
    let submitted = shell
        .runtime()?
        .block_on(client.submit(store.as_ref(), &request, secret.as_ref()))
        .map_err(core_error);
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

fn open_client_store(
    client: &ClientInstance,
    instance: &Instance,
    root: &str,
) -> ScriptResult<Box<dyn KeyStore>> {
    let key = client.key_uri(root).map_err(core_error)?;
    certa_backends::open_key_store(&key, instance.directory()).map_err(core_error)
}

fn fetch_ca_certificate(shell: &Shell, instance: &Instance) -> ScriptResult<Map> {
    let fetched = shell
        .runtime()?
        .block_on(client_of(instance).fetch_ca_certificate())
        .map_err(core_error)?;
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

fn list_certificates(shell: &Shell, instance: &Instance) -> ScriptResult<Array> {
    let listed = shell
        .runtime()?
        .block_on(client_of(instance).list_certificates())
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

fn fetch_certificate_default(shell: &Shell, instance: &Instance, which: &str) -> ScriptResult<Map> {
    fetch_certificate(shell, instance, which, Map::new())
}

/// Fetches the certificate for `which` (a root or a request id). The key's
/// password is only needed to read the public key of an encrypted key, so an
/// unencrypted key is tried first without one.
fn fetch_certificate(
    shell: &Shell,
    instance: &Instance,
    which: &str,
    options: Map,
) -> ScriptResult<Map> {
    let mut options = Options::new("fetch_certificate", options).allow(&SECRET_OPTIONS)?;
    let client = client_of(instance);
    let root = root_of_request(instance, which)?;
    let store = open_client_store(&client, instance, &root)?;
    let runtime = shell.runtime()?;

    let secret_given = SECRET_OPTIONS.iter().any(|key| options.has(key));
    let spec = SecretSpec {
        what: "key password",
        default_env: KEY_PASSWORD_ENV,
        new_key: false,
    };
    let mut secret: Option<SecretString> = if secret_given {
        Some(read_secret(&mut options, spec, shell.prompting())?)
    } else {
        None
    };
    options.finish()?;

    let mut fetched =
        runtime.block_on(client.fetch_certificate(store.as_ref(), which, secret.as_ref()));
    if let Err(error) = &fetched {
        if secret.is_none() && error.code() == "wrong_password" {
            let mut empty = Options::new("fetch_certificate", Map::new());
            secret = Some(read_secret(&mut empty, spec, shell.prompting())?);
            fetched =
                runtime.block_on(client.fetch_certificate(store.as_ref(), which, secret.as_ref()));
        }
    }
    let fetched = fetched.map_err(core_error)?;

    Ok(Fields::new()
        .number("number", fetched.number)
        .text("request_id", fetched.request_id)
        .text("subject", fetched.subject)
        .text("not_after", fetched.not_after)
        .path("path", &fetched.path)
        .fingerprints(&fetched.fingerprints)
        .build())
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
