//! The command line of `certa`.

use std::path::PathBuf;

use clap::{ArgAction, Parser, Subcommand};

/// certa: a certificate authority for an organization's own use.
///
/// Without a command, certa opens an interactive Rhai shell on the instance
/// directory. Type `help` there for the functions of both roles, the CA
/// server and the CA client.
#[derive(Debug, Parser)]
#[command(name = "certa", version, about, long_about)]
pub struct Cli {
    /// The instance directory: its settings, keys, requests and certificates.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "CERTA_INSTANCE",
        default_value = "./certa-instance"
    )]
    pub instance: PathBuf,

    /// Shows logs on standard error; repeat (-vv) for more detail. RUST_LOG, when set, takes precedence.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,

    /// The command to run; the interactive shell when left out.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The commands of `certa`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs a Rhai script unattended and exits non-zero when it fails.
    ///
    /// The arguments after the file reach the script as the ARGS array of
    /// strings. A function that needs a password reads it from the
    /// environment variable it names (CERTA_CA_PASSWORD, CERTA_KEY_PASSWORD,
    /// or the one given as password_env) and never prompts.
    Run {
        /// The script file.
        file: PathBuf,
        /// Arguments for the script, available as ARGS.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },

    /// Serves the instance's HTTP API until SIGINT or SIGTERM.
    ///
    /// The CA key's password or PIN is not needed: the server only receives
    /// requests and hands out certificates; issuing is done in the shell.
    /// An instance with an HTTPS certificate (configure_https) serves HTTPS;
    /// an encrypted HTTPS key's password, or its token's PIN, is read from
    /// CERTA_HTTPS_KEY_PASSWORD or, at a terminal, asked for.
    Serve {
        /// The address to listen on, such as 127.0.0.1:8443; default: the instance's settings.
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
}
