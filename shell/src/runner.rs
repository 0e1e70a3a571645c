//! `certa run FILE.rhai [ARGS...]`: runs a script unattended.

use std::path::Path;
use std::process::ExitCode;

use rhai::{Array, Dynamic, Scope};

use crate::engine::errors::ErrorReport;
use crate::engine::{build_engine, Shell};
use crate::secrets::Prompting;

/// Runs the script in `file` with `args` as its `ARGS` constant.
///
/// Prints one line on standard error and returns a failure exit code when the
/// script cannot be read, does not parse, or raises an error it does not
/// catch. Servers the script started are stopped before returning.
pub fn run(instance_dir: &Path, file: &Path, args: &[String]) -> ExitCode {
    let script = match std::fs::read_to_string(file) {
        Ok(script) => script,
        Err(e) => {
            eprintln!(
                "error: failed to read script {}: {e}; check the path",
                file.display()
            );
            return ExitCode::FAILURE;
        }
    };

    let shell = Shell::new(instance_dir, Prompting::Forbidden);
    let engine = build_engine(&shell);
    let mut scope = Scope::new();
    let arguments: Array = args.iter().cloned().map(Dynamic::from).collect();
    scope.push_constant("ARGS", arguments);

    tracing::info!(script = %file.display(), "running script");
    let result = engine
        .compile_with_scope(&scope, &script)
        .map_err(Into::into)
        .and_then(|mut ast| {
            ast.set_source(file.display().to_string());
            engine.run_ast_with_scope(&mut scope, &ast)
        });
    shell.shut_down();

    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let report = ErrorReport::from_eval(&error);
            tracing::info!(script = %file.display(), code = %report.code, "script failed");
            eprintln!("{}", report.to_line(file));
            ExitCode::FAILURE
        }
    }
}
