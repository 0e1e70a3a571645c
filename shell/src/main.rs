//! The certa command: an interactive Rhai shell (REPL), a script runner and
//! an HTTP server for the certa certificate authority.

mod cli;
mod engine;
mod help;
mod hidden_input;
mod output;
mod progress;
mod repl;
mod runner;
mod secrets;
mod serve;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let serving = matches!(cli.command, Some(Command::Serve { .. }));
    init_logging(cli.verbose, serving);

    match &cli.command {
        None => repl::run(&cli.instance),
        Some(Command::Run { file, args }) => runner::run(&cli.instance, file, args),
        Some(Command::Serve { listen }) => serve::run(&cli.instance, listen.as_deref()),
    }
}

/// Sends logs to standard error. The shell and scripts print results for
/// people and log nothing unless asked with -v; a server logs its start, stop
/// and errors by default. RUST_LOG, when set, overrides both.
fn init_logging(verbose: u8, serving: bool) {
    let default = match (verbose, serving) {
        (0, false) => "off",
        (0, true) | (1, _) => "info",
        (2, _) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let colors = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colors)
        .init();
}
