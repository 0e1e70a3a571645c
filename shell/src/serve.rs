//! `certa serve`: serves an instance's HTTP API until SIGINT or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

/// Serves the instance in `instance_dir` on `listen` (or the address in its
/// settings) until the process receives SIGINT or SIGTERM.
///
/// Prints `listening on ADDRESS` on standard output once the server accepts
/// connections, so a caller that asked for port 0 can read the port.
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

    let served = runtime.block_on(certa_core::http::serve_until_signal(
        instance_dir,
        listen,
        |address| {
            println!(
                "listening on {address}: serving instance {}; stop with Ctrl-C or SIGTERM",
                instance_dir.display()
            );
            let _ = std::io::stdout().flush();
        },
    ));

    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error} (code {})", error.code());
            ExitCode::FAILURE
        }
    }
}
