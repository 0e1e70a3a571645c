//! `certa serve`: serves an instance's HTTP API, over HTTPS once
//! `configure_https` has run, until SIGINT or SIGTERM.

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use certa_core::key::{KeyUri, Signer};
use rhai::Map;

use crate::engine::errors::ErrorReport;
use crate::engine::options::Options;
use crate::secrets::{with_key_secret, Prompting, HTTPS_KEY};

/// Serves the instance in `instance_dir` on `listen` (or the address in its
/// settings) until the process receives SIGINT or SIGTERM.
///
/// Prints `listening on URL` (`http://ADDRESS` or `https://ADDRESS`) on
/// standard output once the server accepts connections, so a caller that
/// asked for port 0 can read the port.
pub fn run(instance_dir: &Path, listen: Option<&str>) -> ExitCode {
    let listen = match listen.map(str::parse::<SocketAddr>).transpose() {
        Ok(listen) => listen,
        Err(e) => {
            eprintln!(
                "error: invalid --listen address {:?}: {e}; give an IP address and port such as 127.0.0.1:8443",
                listen.unwrap_or_default()
            );
            return ExitCode::FAILURE;
        }
    };

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .thread_name("certa-http")
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: failed to start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };

    // A failure to read the HTTPS key's secret is a shell error with its own
    // code, so it is kept here and printed in place of the core's error.
    let unlock_failure: RefCell<Option<ErrorReport>> = RefCell::new(None);
    // The core unlocks the TLS key only for an instance that serves HTTPS.
    let https = Cell::new(false);
    let served = runtime.block_on(certa_core::http::serve_until_signal(
        instance_dir,
        listen,
        |key| {
            https.set(true);
            unlock_https_key(instance_dir, key, &unlock_failure)
        },
        |address| {
            let scheme = if https.get() { "https" } else { "http" };
            println!(
                "listening on {scheme}://{address}: serving instance {}; stop with Ctrl-C or SIGTERM",
                instance_dir.display()
            );
            let _ = std::io::stdout().flush();
        },
    ));

    match (served, unlock_failure.take()) {
        (Ok(()), _) => ExitCode::SUCCESS,
        (Err(_), Some(report)) => {
            eprintln!("error: {} (code {})", report.message, report.code);
            ExitCode::FAILURE
        }
        (Err(error), None) => {
            eprintln!("error: {error} (code {})", error.code());
            ExitCode::FAILURE
        }
    }
}

/// Unlocks the HTTPS key `key` of an instance that serves HTTPS. A key file
/// is tried without a password first; its password, or a token's PIN when
/// the URI names no pin-source, comes from `CERTA_HTTPS_KEY_PASSWORD` or, at
/// a terminal, a prompt.
fn unlock_https_key(
    instance_dir: &Path,
    key: &KeyUri,
    failure: &RefCell<Option<ErrorReport>>,
) -> certa_core::Result<Arc<dyn Signer>> {
    let store = certa_backends::open_key_store(key, instance_dir)?;
    // `certa serve` takes no options, so an error names only the variable
    // and the prompt.
    let options = Options::new("certa serve", Map::new());
    let spec = HTTPS_KEY.spec(key, None, None);
    let unlocked = with_key_secret(key, options, &spec, Prompting::Allowed, |secret| {
        store.unlock(key, secret)
    });
    unlocked.map_err(|error| {
        let report = ErrorReport::from_eval(&error);
        let placeholder =
            certa_core::Error::invalid_input(format!("HTTPS key {key}"), report.message.clone());
        *failure.borrow_mut() = Some(report);
        placeholder
    })
}
