//! The one place that reads the process environment. Everything else receives values.

use crate::cli::VariableArgs;
use crate::error::UserError;
use panka_core::diag::{Diagnostic, Diagnostics};
use panka_core::interp::{Variables, is_variable_name};
use panka_core::source::Sources;
use panka_core::yaml::parse_document;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What panka takes from its environment, captured once at start-up.
#[derive(Debug, Clone, Default)]
pub struct ProcessEnv {
    pub cwd: PathBuf,
    pub home: Option<PathBuf>,
    pub panka_config: Option<PathBuf>,
    pub panka_environment: Option<String>,
    pub no_color: bool,
    pub aws_region: Option<String>,
    /// `PANKA_VAR_<NAME>` values by `<NAME>`.
    pub panka_vars: BTreeMap<String, String>,
    /// `AWS_ENDPOINT_URL`, the default of `--endpoint-url`.
    pub aws_endpoint_url: Option<String>,
    /// Who runs panka, recorded in locks and deployment records: `user@host` from
    /// `PANKA_USER` (else `USER`, `USERNAME`) until [`ProcessEnv::with_caller`] replaces it
    /// with the AWS identity.
    pub who: String,
    /// `PANKA_USER` is set: it names the person and wins over the AWS identity (a shared
    /// CI role would otherwise name every deployment the same).
    pub who_is_explicit: bool,
}

fn hostname() -> String {
    non_empty("HOSTNAME")
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

fn non_empty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl ProcessEnv {
    pub fn capture() -> Self {
        ProcessEnv {
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            home: non_empty("HOME")
                .or_else(|| non_empty("USERPROFILE"))
                .map(PathBuf::from),
            panka_config: non_empty("PANKA_CONFIG").map(PathBuf::from),
            panka_environment: non_empty("PANKA_ENVIRONMENT"),
            no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
            aws_region: non_empty("AWS_REGION").or_else(|| non_empty("AWS_DEFAULT_REGION")),
            panka_vars: std::env::vars()
                .filter_map(|(k, v)| Some((k.strip_prefix("PANKA_VAR_")?.to_string(), v)))
                .filter(|(k, _)| is_variable_name(k))
                .collect(),
            aws_endpoint_url: non_empty("AWS_ENDPOINT_URL"),
            who: format!(
                "{}@{}",
                non_empty("PANKA_USER")
                    .or_else(|| non_empty("USER"))
                    .or_else(|| non_empty("USERNAME"))
                    .unwrap_or_else(|| "unknown".into()),
                hostname()
            ),
            who_is_explicit: non_empty("PANKA_USER").is_some(),
        }
    }

    /// The same environment, with `who` the caller's AWS identity when there is one (and
    /// `PANKA_USER` does not name someone): `$USER@host` stays the fallback.
    pub fn with_caller(&self, caller: Option<String>) -> ProcessEnv {
        let mut env = self.clone();
        if let Some(caller) = caller.filter(|_| !self.who_is_explicit) {
            env.who = caller;
        }
        env
    }

    /// `--config`, else `PANKA_CONFIG`, else `~/.panka/config.yaml`.
    pub fn config_path(&self, flag: Option<&PathBuf>) -> Result<PathBuf, UserError> {
        if let Some(path) = flag.or(self.panka_config.as_ref()) {
            return Ok(self.cwd.join(path));
        }
        match &self.home {
            Some(home) => Ok(home.join(".panka").join("config.yaml")),
            None => Err(
                UserError::new("cannot find the home folder for ~/.panka/config.yaml")
                    .hint("pass --config FILE or set PANKA_CONFIG"),
            ),
        }
    }
}

/// The configuration: the file named by `--config` or `PANKA_CONFIG` (which must exist),
/// else `~/.panka/config.yaml` when it exists, else the embedded default (local state).
pub fn config(
    flag: Option<&PathBuf>,
    env: &ProcessEnv,
    sources: &mut Sources,
    diags: &mut Diagnostics,
) -> Result<crate::config::Config, UserError> {
    let explicit = flag.or(env.panka_config.as_ref()).is_some();
    let path = env.config_path(flag)?;
    if !path.exists() {
        if explicit {
            return Err(UserError::new(format!(
                "configuration file {} does not exist",
                path.display()
            ))
            .hint("create it with `panka init --config FILE`"));
        }
        return Ok(crate::config::Config::default());
    }
    Ok(crate::config::load(&path, sources, diags).unwrap_or_default())
}

/// `--endpoint-url`, else `AWS_ENDPOINT_URL`.
pub fn endpoint_url<'a>(flag: Option<&'a String>, env: &'a ProcessEnv) -> Option<&'a String> {
    flag.or(env.aws_endpoint_url.as_ref())
}

/// `--environment`, else `PANKA_ENVIRONMENT`, else `development`.
pub fn environment(flag: Option<&String>, env: &ProcessEnv) -> String {
    flag.or(env.panka_environment.as_ref())
        .cloned()
        .unwrap_or_else(|| "development".to_string())
}

/// Variables in precedence order: `--var`, then `--var-file` (later files win over
/// earlier ones), then `PANKA_VAR_*`. The environment file's `variables` come last and
/// are added by the loader.
pub fn variables(
    args: &VariableArgs,
    env: &ProcessEnv,
    sources: &mut Sources,
    diags: &mut Diagnostics,
) -> Result<Variables, UserError> {
    let mut cli = BTreeMap::new();
    for pair in &args.vars {
        let Some((name, value)) = pair.split_once('=') else {
            return Err(UserError::new(format!("`--var {pair}` is not NAME=VALUE"))
                .hint("e.g. --var VERSION=v1.0.0"));
        };
        if !is_variable_name(name) {
            return Err(
                UserError::new(format!("`{name}` is not a valid variable name"))
                    .hint("names use letters, digits and underscores, not starting with a digit"),
            );
        }
        cli.insert(name.to_string(), value.to_string());
    }
    let mut vars = Variables::new();
    vars.push_layer(cli);
    for file in args.var_files.iter().rev() {
        vars.push_layer(read_var_file(&env.cwd.join(file), sources, diags)?);
    }
    vars.push_layer(env.panka_vars.clone());
    Ok(vars)
}

fn read_var_file(
    path: &std::path::Path,
    sources: &mut Sources,
    diags: &mut Diagnostics,
) -> Result<BTreeMap<String, String>, UserError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        UserError::new(format!("cannot read variable file {}: {e}", path.display()))
    })?;
    let source = sources.add(path, text);
    let node = match parse_document(source, &sources.get(source).text) {
        Ok(node) => node,
        Err(errs) => {
            diags.extend(errs);
            return Ok(BTreeMap::new());
        }
    };
    let Some(entries) = node.as_map() else {
        diags.push(panka_core::read::wrong_type(
            &node,
            "variable file",
            "a mapping of NAME: value",
        ));
        return Ok(BTreeMap::new());
    };
    let mut out = BTreeMap::new();
    for e in entries {
        if !is_variable_name(&e.key) {
            diags.push(
                Diagnostic::at(
                    "E051",
                    e.key_span,
                    format!("`{}` is not a valid variable name", e.key),
                )
                .with_label("invalid name"),
            );
            continue;
        }
        match e.value.as_str() {
            Some(v) => {
                out.insert(e.key.clone(), v.to_string());
            }
            None => diags.push(panka_core::read::wrong_type(&e.value, &e.key, "text")),
        }
    }
    Ok(out)
}
