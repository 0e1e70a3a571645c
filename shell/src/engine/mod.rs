//! The Rhai engine of the shell and the functions it registers.
//!
//! [`Shell`] is the state every function shares: the instances opened so far,
//! whether a missing password may be asked for, and the Tokio runtime that the
//! HTTP server and client run on. [`build_engine`] registers the functions of
//! both roles; each function of a role exists twice, as a plain function on
//! the shell's instance (`pending()`) and as a method of instance values
//! (`ca.pending()`).

/// Registers a role function twice: as a plain function acting on the shell's
/// instance, and as a method of instance values. `$function` takes the shell,
/// the instance and the listed arguments.
macro_rules! register_on_instances {
    ($engine:expr, $shell:expr, $name:literal, $function:path $(, $arg:ident : $type:ty)*) => {{
        let shell = ::std::sync::Arc::clone($shell);
        $engine.register_fn($name, move |$($arg: $type),*| {
            let instance = shell.default_instance()?;
            $function(&shell, &instance $(, $arg)*)
        });
        let shell = ::std::sync::Arc::clone($shell);
        $engine.register_fn(
            $name,
            move |instance: &mut $crate::engine::instance::Instance $(, $arg: $type)*| {
                $function(&shell, instance $(, $arg)*)
            },
        );
    }};
}

pub mod client;
pub mod errors;
pub mod https;
pub mod instance;
pub mod options;
pub mod server;
pub mod tls;
pub mod tools;
pub mod values;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rhai::Engine;

use crate::secrets::Prompting;
use errors::{script_error, ScriptResult};
use instance::{Instance, Instances};

/// The state shared by every function of one shell.
pub struct Shell {
    instances: Instances,
    default_dir: PathBuf,
    prompting: Prompting,
    runtime: OnceLock<tokio::runtime::Runtime>,
}

impl Shell {
    /// Starts a shell on the instance in `instance_dir`. The directory is
    /// created when a function first uses it, so a script that only opens
    /// instances of its own leaves no empty default directory behind.
    pub fn new(instance_dir: &Path, prompting: Prompting) -> Arc<Shell> {
        Arc::new(Shell {
            instances: Instances::default(),
            default_dir: instance_dir.to_path_buf(),
            prompting,
            runtime: OnceLock::new(),
        })
    }

    /// Returns the instance the shell was started on, opening it on first use.
    ///
    /// # Errors
    ///
    /// When the instance directory cannot be created.
    pub fn default_instance(&self) -> ScriptResult<Instance> {
        self.instances.open(&self.default_dir)
    }

    /// Returns the instances opened so far.
    pub fn instances(&self) -> &Instances {
        &self.instances
    }

    /// Returns whether a missing password may be asked for.
    pub fn prompting(&self) -> Prompting {
        self.prompting
    }

    /// Returns the Tokio runtime for the HTTP server and client, starting it on first use.
    ///
    /// # Errors
    ///
    /// When the runtime cannot be started.
    pub fn runtime(&self) -> ScriptResult<&tokio::runtime::Runtime> {
        if let Some(runtime) = self.runtime.get() {
            return Ok(runtime);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("certa-http")
            .enable_all()
            .build()
            .map_err(|e| script_error("io", format!("failed to start the async runtime: {e}")))?;
        Ok(self.runtime.get_or_init(|| runtime))
    }

    /// Stops every server the shell started; called as the shell exits.
    pub fn shut_down(&self) {
        self.instances.stop_all();
    }
}

/// Builds the engine with every shell function registered.
pub fn build_engine(shell: &Arc<Shell>) -> Engine {
    let mut engine = Engine::new();
    engine.on_print(|text| println!("{text}"));
    engine.on_debug(|text, source, position| match source {
        Some(source) => eprintln!("{source}:{position}: {text}"),
        None => eprintln!("{position}: {text}"),
    });

    engine
        .register_type_with_name::<Instance>("Instance")
        .register_fn("to_string", |instance: &mut Instance| instance.to_string())
        .register_fn("to_debug", |instance: &mut Instance| instance.to_string());

    tools::register(&mut engine, shell);
    server::register(&mut engine, shell);
    https::register(&mut engine, shell);
    client::register(&mut engine, shell);
    tls::register(&mut engine, shell);
    engine
}

/// Lists the names of the functions registered in `engine`, without Rhai's own.
pub fn registered_function_names(engine: &Engine) -> Vec<String> {
    let mut names: Vec<String> = engine
        .gen_fn_signatures(false)
        .into_iter()
        .filter_map(|signature| {
            signature
                .split_once('(')
                .map(|(name, _)| name.trim().to_owned())
        })
        // Conversions for printing values are not functions people call, and
        // properties (`get$port`) are described in the help of the function
        // whose value has them.
        .filter(|name| name != "to_string" && name != "to_debug")
        .filter(|name| !name.starts_with("get$"))
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::help;

    fn engine() -> Engine {
        let shell = Shell::new(Path::new("unused-instance"), Prompting::Forbidden);
        build_engine(&shell)
    }

    #[test]
    fn every_registered_function_has_help() {
        let registered = registered_function_names(&engine());
        for name in &registered {
            assert!(
                help::find(name).is_some(),
                "function {name} is registered without a help entry in help::FUNCTIONS"
            );
        }
    }

    #[test]
    fn every_help_entry_is_registered() {
        let registered = registered_function_names(&engine());
        for entry in help::FUNCTIONS {
            assert!(
                registered.iter().any(|name| name == entry.name),
                "help::FUNCTIONS describes {}, which is not registered",
                entry.name
            );
        }
    }

    #[test]
    fn methods_in_help_exist_on_instances() {
        let signatures = engine().gen_fn_signatures(false);
        for name in help::method_names() {
            let prefix = format!("{name}(");
            let is_method = signatures
                .iter()
                .any(|signature| signature.starts_with(&prefix) && signature.contains("Instance"));
            assert!(
                is_method,
                "help says {name} is a method of instances, but no method is registered"
            );
        }
    }
}
