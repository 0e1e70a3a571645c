//! The interactive shell: rustyline line editing, history, completion and
//! multi-line input around the Rhai engine.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rhai::{Array, Dynamic, Engine, ParseErrorType, Scope, AST};
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Config, Context, Editor, Helper, Highlighter, Hinter};

use crate::engine::errors::ErrorReport;
use crate::engine::{build_engine, registered_function_names, Shell};
use crate::help;
use crate::output::format_value;
use crate::secrets::{may_hold_secret, Prompting};

/// The history file's name, in the home directory.
const HISTORY_FILE: &str = ".certa_history";
/// The number of lines the history keeps.
const HISTORY_SIZE: usize = 1000;
/// Rhai keywords offered by completion beside the functions.
const KEYWORDS: &[&str] = &[
    "let", "const", "fn", "if", "else", "for", "in", "while", "loop", "break", "continue",
    "return", "throw", "try", "catch", "print", "true", "false",
];

/// Runs the REPL on the instance in `instance_dir` until Ctrl-D or `exit`.
pub fn run(instance_dir: &Path) -> ExitCode {
    let shell = Shell::new(instance_dir, Prompting::Allowed);
    let engine = build_engine(&shell);
    let helper = ShellHelper::new(&engine);

    let config = Config::builder()
        .auto_add_history(false)
        .max_history_size(HISTORY_SIZE)
        .and_then(|builder| Ok(builder.history_ignore_dups(true)?.build()));
    let config = match config {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: failed to configure the line editor: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut editor: Editor<ShellHelper, DefaultHistory> = match Editor::with_config(config) {
        Ok(editor) => editor,
        Err(e) => {
            eprintln!("error: failed to start the line editor: {e}");
            return ExitCode::FAILURE;
        }
    };
    editor.set_helper(Some(helper));

    let history = history_path(instance_dir);
    if let Err(e) = editor.load_history(&history) {
        tracing::debug!(path = %history.display(), "no history loaded: {e}");
    }

    println!(
        "certa {} on instance {}. Type help for the functions, Ctrl-D to leave.",
        env!("CARGO_PKG_VERSION"),
        instance_dir.display()
    );

    let mut session = Session {
        engine: &engine,
        scope: Scope::new(),
        functions: AST::empty(),
    };
    session.scope.push_constant("ARGS", Array::new());
    let mut history_warned = false;

    loop {
        let line = match editor.readline("certa> ") {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("error: failed to read input: {e}");
                break;
            }
        };
        let input = line.trim();
        if input.is_empty() {
            continue;
        }
        if may_hold_secret(input) {
            tracing::debug!("line kept out of the history: it may hold a password or PIN");
        } else {
            // Written at once, so a session that is killed keeps its history.
            match editor.add_history_entry(input) {
                Ok(_) => save_history(&mut editor, &history, &mut history_warned),
                Err(e) => tracing::debug!("failed to add a history entry: {e}"),
            }
        }

        match input {
            "exit" | "quit" => break,
            "help" => println!("{}", help::overview()),
            _ => session.evaluate(input),
        }
    }

    shell.shut_down();
    ExitCode::SUCCESS
}

/// The variables and functions defined so far in the REPL.
struct Session<'a> {
    engine: &'a Engine,
    scope: Scope<'static>,
    functions: AST,
}

impl Session<'_> {
    /// Evaluates one input and prints its result or error.
    fn evaluate(&mut self, input: &str) {
        let ast = match self.engine.compile_with_scope(&self.scope, input) {
            Ok(ast) => ast,
            Err(error) => {
                print_error(&error.into());
                return;
            }
        };

        // Keep the functions defined so far, so later lines can call them.
        self.functions += ast;
        let result = self
            .engine
            .eval_ast_with_scope::<Dynamic>(&mut self.scope, &self.functions);
        self.functions.clear_statements();

        match result {
            Ok(value) => {
                let text = format_value(&value);
                if !text.is_empty() {
                    println!("{text}");
                }
            }
            Err(error) => print_error(&error),
        }
    }
}

fn print_error(error: &rhai::EvalAltResult) {
    let report = ErrorReport::from_eval(error);
    eprintln!("{}", report.to_line(Path::new("input")));
}

/// Returns the history file: `$HOME/.certa_history`, or the instance directory's when there is no home.
fn history_path(instance_dir: &Path) -> PathBuf {
    match std::env::var_os("HOME") {
        Some(home) if !home.is_empty() => PathBuf::from(home).join(HISTORY_FILE),
        _ => instance_dir.join(HISTORY_FILE),
    }
}

/// Appends the entries added since the last call to the history file, mode
/// 0600. The first failure prints a warning; later ones are only logged.
fn save_history(editor: &mut Editor<ShellHelper, DefaultHistory>, path: &Path, warned: &mut bool) {
    if let Err(e) = editor.append_history(path) {
        if !*warned {
            eprintln!(
                "warning: failed to save the history to {}: {e}",
                path.display()
            );
            *warned = true;
        }
        tracing::debug!(path = %path.display(), "failed to save the history: {e}");
        return;
    }
    // The history shows which CAs and keys an operator works with; keep it to them.
    use std::os::unix::fs::PermissionsExt;
    if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
        tracing::debug!(path = %path.display(), "failed to restrict the history file: {e}");
    }
}

/// Completion and multi-line input for the editor.
#[derive(Helper, Hinter, Highlighter)]
struct ShellHelper {
    functions: Vec<String>,
    methods: Vec<String>,
    parser: Engine,
}

impl ShellHelper {
    fn new(engine: &Engine) -> Self {
        let mut functions = registered_function_names(engine);
        functions.extend(KEYWORDS.iter().map(|keyword| (*keyword).to_owned()));
        functions.extend(["exit".to_owned()]);
        functions.sort();
        functions.dedup();
        let methods = help::method_names().map(str::to_owned).collect();
        ShellHelper {
            functions,
            methods,
            parser: Engine::new_raw(),
        }
    }

    /// Returns the completions of the word ending at `pos`: instance methods after a dot, else functions and keywords.
    fn candidates(&self, line: &str, pos: usize) -> (usize, Vec<Pair>) {
        let before = &line[..pos];
        let start = before
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_ascii_alphanumeric() || *c == '_')
            .last()
            .map_or(pos, |(index, _)| index);
        let word = &before[start..];
        let after_dot = before[..start].ends_with('.');
        let names = if after_dot {
            &self.methods
        } else {
            &self.functions
        };

        let pairs = names
            .iter()
            .filter(|name| name.starts_with(word))
            .map(|name| Pair {
                display: name.clone(),
                replacement: name.clone(),
            })
            .collect();
        (start, pairs)
    }
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        Ok(self.candidates(line, pos))
    }
}

impl Validator for ShellHelper {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        let input = ctx.input();
        if is_incomplete(&self.parser, input) {
            return Ok(ValidationResult::Incomplete);
        }
        Ok(ValidationResult::Valid(None))
    }
}

/// Tells whether `input` is an unfinished statement that the next line may complete.
fn is_incomplete(parser: &Engine, input: &str) -> bool {
    let Err(error) = parser.compile(input) else {
        return false;
    };
    match error.err_type() {
        ParseErrorType::UnexpectedEOF => true,
        // An unclosed bracket is reported as a missing token at the end of the input.
        ParseErrorType::MissingToken(..) => error.position().is_none() || open_brackets(input) > 0,
        _ => open_brackets(input) > 0,
    }
}

/// Counts the brackets left open, outside string literals.
fn open_brackets(input: &str) -> i64 {
    let mut depth = 0_i64;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in input.chars() {
        if let Some(open) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == open {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '`' | '\'' => quote = Some(c),
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            _ => {}
        }
    }
    depth
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unclosed_block_is_incomplete() {
        let parser = Engine::new_raw();
        assert!(is_incomplete(&parser, "fn f() {"));
        assert!(is_incomplete(&parser, "submit(#{root: \"a\","));
        assert!(!is_incomplete(&parser, "let x = 1;"));
        assert!(!is_incomplete(&parser, "let x = ;"));
    }

    #[test]
    fn brackets_in_strings_ignored() {
        assert_eq!(open_brackets("print(\"(\")"), 0);
    }
}
