//! Resolving `--stack`/`--environment`, the configured backends and the run's AWS clients
//! for commands that work on one stack and environment.

use super::aws::Aws;
use super::backend::{self, Backends};
use super::load::Loaded;
use crate::cli::{GlobalArgs, TargetArgs};
use crate::error::UserError;
use crate::output::Ui;
use crate::settings::{self, ProcessEnv};
use crate::stack_dir::find_stack;
use panka_core::diag::Diagnostics;
use panka_core::source::Sources;
use panka_core::state::StateKey;
use panka_providers::aws::AwsClients;
use std::path::Path;
use std::sync::Arc;

pub struct Target {
    pub key: StateKey,
    pub backends: Backends,
    /// The run's AWS clients: whatever else the command calls in AWS takes them here.
    pub aws: Arc<Aws>,
}

/// The target of a loaded stack: its configuration and folder are already known.
pub async fn for_loaded(
    loaded: &Loaded,
    global: &GlobalArgs,
    env: &ProcessEnv,
) -> anyhow::Result<Target> {
    let aws = Arc::new(Aws::new(
        &loaded.config,
        settings::endpoint_url(global.endpoint_url.as_ref(), env),
    ));
    let backends = backend::open(&loaded.config, &aws, Some(&loaded.stack_dir)).await?;
    let key = StateKey::new(&loaded.stack.name, &loaded.environment);
    // Read once before anything else: a state this binary cannot read (corrupt, or of
    // a newer format) is refused before a lock is taken, AWS is called or a file is
    // written, so nothing the newer panka keeps in it is lost.
    backends.store.read(&key).await.map_err(UserError::from)?;
    Ok(Target { key, backends, aws })
}

/// Finds the stack (by folder when there is one; a bare name is enough for a remote
/// backend, so operators can inspect locks from anywhere) and opens the backends.
pub async fn open(
    args: &TargetArgs,
    global: &GlobalArgs,
    env: &ProcessEnv,
    ui: &Ui,
) -> anyhow::Result<Target> {
    let config = read_config(global.config.as_ref(), env, ui)?;
    open_with(args, global, env, &config).await
}

/// The configuration file (`flag`, else `PANKA_CONFIG`, else `~/.panka/config.yaml`);
/// its problems are printed with their positions and stop the command.
pub fn read_config(
    flag: Option<&std::path::PathBuf>,
    env: &ProcessEnv,
    ui: &Ui,
) -> anyhow::Result<crate::config::Config> {
    let mut sources = Sources::with_display_base(&env.cwd);
    let mut diags = Diagnostics::default();
    let config = settings::config(flag, env, &mut sources, &mut diags)?;
    if diags.has_errors() {
        ui.diagnostics(&sources, &diags.into_sorted());
        return Err(UserError::new("the configuration file is invalid").into());
    }
    Ok(config)
}

/// [`open`] for a local backend only, without printing anything: `None` for a remote
/// backend (nothing in AWS may be touched before the stack is known to be valid) and on
/// any problem (the caller reports it when it opens the target its usual way).
pub async fn open_local_silently(
    args: &TargetArgs,
    global: &GlobalArgs,
    env: &ProcessEnv,
) -> Option<Target> {
    let mut diags = Diagnostics::default();
    let mut sources = Sources::with_display_base(&env.cwd);
    let config = settings::config(global.config.as_ref(), env, &mut sources, &mut diags).ok()?;
    if diags.has_errors() || !matches!(config.backend, crate::config::BackendConfig::Local) {
        return None;
    }
    open_with(args, global, env, &config).await.ok()
}

impl Target {
    /// The run's clients for the stack's region (its `stack.yaml`, when there is a
    /// folder that names one), else the configured region.
    pub async fn stack_clients(&self, stack_dir: Option<&Path>) -> AwsClients {
        let region = super::load::region(stack_dir);
        self.aws.clients(region.as_ref()).await
    }
}

async fn open_with(
    args: &TargetArgs,
    global: &GlobalArgs,
    env: &ProcessEnv,
    config: &crate::config::Config,
) -> anyhow::Result<Target> {
    let found = find_stack(args.stack.stack.as_deref(), &env.cwd);
    let (name, stack_dir) = match (found, args.stack.stack.as_deref()) {
        (Ok(dir), _) => {
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, Some(dir))
        }
        (Err(_), Some(name))
            if !matches!(config.backend, crate::config::BackendConfig::Local)
                && panka_core::names::dns_name_problem(name).is_none() =>
        {
            (name.to_string(), None)
        }
        (Err(e), _) => return Err(e.into()),
    };
    let environment = settings::environment(args.environment.as_ref(), env);
    if let Some(problem) = panka_core::names::dns_name_problem(&environment) {
        return Err(UserError::new(format!(
            "environment name `{environment}` is not valid: {problem}"
        ))
        .into());
    }
    let aws = Arc::new(Aws::new(
        config,
        settings::endpoint_url(global.endpoint_url.as_ref(), env),
    ));
    let backends = backend::open(config, &aws, stack_dir.as_deref()).await?;
    Ok(Target {
        key: StateKey::new(name, environment),
        backends,
        aws,
    })
}
