//! Command-line definitions. Parsing only: settings are resolved in `settings.rs`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "panka",
    // clap prints `<name> <version>`: this makes `--version`/`-V` say exactly what
    // `panka version` says.
    version = concat!("version ", env!("CARGO_PKG_VERSION")),
    about = "Deploy your team's services to AWS from YAML in git"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Output format: text for people, json (one document on stdout) for scripts.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Configuration file [default: $PANKA_CONFIG, then ~/.panka/config.yaml].
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Send every AWS call to this endpoint (an emulator such as moto or LocalStack)
    /// [default: $AWS_ENDPOINT_URL].
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print panka's version.
    Version,
    /// Write the configuration file (state bucket, lock table, AWS profile and region).
    Init(InitArgs),
    /// Work with stacks.
    #[command(subcommand)]
    Stack(StackCommand),
    /// Check a stack without touching AWS: syntax, references, cycles, waves, policies.
    Validate(ValidateArgs),
    /// Inspect or take the lock of a stack and environment.
    #[command(subcommand)]
    Lock(LockCommand),
    /// Remove a stale lock (only when --lock-id matches the holder's).
    Unlock(UnlockArgs),
    /// Inspect the recorded state.
    #[command(subcommand)]
    State(StateCommand),
    /// Show what apply would change: per component create/update/replace/delete, field by
    /// field, in waves, with the estimated duration and monthly cost.
    Plan(PlanArgs),
    /// Apply the plan: lock, plan, approval, changes in waves with health checks, state
    /// saved after every change, release.
    Apply(ApplyArgs),
    /// Live state of every component: status, health, last deployment.
    Status(TargetArgs),
    /// Show (or follow) a component's CloudWatch Logs.
    Logs(LogsArgs),
    /// Past deployments: version, date, who, duration, result; totals.
    History(HistoryArgs),
    /// Re-apply the recorded spec of the last successful deployment (or the named one).
    Rollback(RollbackArgs),
    /// Compare live resources with what state says was applied; exit 2 on drift.
    Drift(DriftArgs),
    /// Delete every resource of a stack and environment, in reverse waves.
    Destroy(DestroyArgs),
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// The component, as `service/component`.
    #[arg(long, short = 'c', value_name = "SERVICE/COMPONENT")]
    pub component: String,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Keep printing new events until Ctrl-C (which exits 0).
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Only events newer than this: a duration ago (90s, 10m, 1h, 2d) or an RFC 3339
    /// time [default: 10m].
    #[arg(long, value_name = "DURATION|TIME")]
    pub since: Option<String>,
    /// Only events matching this CloudWatch Logs filter pattern, e.g. ERROR or
    /// '{ $.level = "error" }'.
    #[arg(long, value_name = "PATTERN")]
    pub filter: Option<String>,
    /// How often --follow asks CloudWatch Logs for new events.
    #[arg(long, default_value = "2s", value_parser = parse_duration, hide = true)]
    pub poll_interval: std::time::Duration,
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// How many deployments to show, newest first.
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
}

#[derive(Args, Debug)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The deployment to return to: its id (or a unique prefix) or its version
    /// [default: the last successful deployment before the current one].
    #[arg(long, value_name = "DEPLOYMENT_ID|VERSION")]
    pub to: Option<String>,
    #[command(flatten)]
    pub execution: ExecutionArgs,
}

#[derive(Args, Debug)]
pub struct DriftArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Check every stack and environment that has state.
    #[arg(long)]
    pub all: bool,
}

#[derive(Args, Debug)]
pub struct DestroyArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Delete RDS instances without taking a final snapshot.
    #[arg(long)]
    pub skip_final_snapshot: bool,
    #[command(flatten)]
    pub execution: ExecutionArgs,
}

/// What every command that changes AWS takes (apply, rollback, destroy).
#[derive(Args, Debug, Clone)]
pub struct ExecutionArgs {
    /// Do not ask for approval (CI).
    #[arg(long)]
    pub auto_approve: bool,
    /// How many changes may run at once.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub parallelism: u16,
    /// Wait this long for a held lock, e.g. 5m [default: do not wait].
    #[arg(long, value_parser = parse_duration)]
    pub lock_timeout: Option<std::time::Duration>,
    /// What to do when a change fails.
    #[arg(long, value_enum, default_value_t = OnFailureArg::Rollback)]
    pub on_failure: OnFailureArg,
    /// Allow replacing or deleting databases and caches (and, for destroy, turning
    /// deletion protection off).
    #[arg(long)]
    pub allow_dangerous: bool,
    /// How long one component may take to become ready, e.g. 30m.
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    pub ready_timeout: std::time::Duration,
}

#[derive(Args, Debug)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub plan: PlanInputs,
    /// Apply a plan saved with `panka plan --out FILE`: refused when the state changed
    /// since, or when the stack files no longer give the same plan.
    #[arg(value_name = "PLAN_FILE")]
    pub plan_file: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub execution: ExecutionArgs,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnFailureArg {
    Rollback,
    Stop,
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    #[command(flatten)]
    pub inputs: PlanInputs,
    /// Exit 2 when there are changes (0 when none).
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Save the plan, bound to the state's lineage and serial.
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
}

/// What a plan is computed from: shared by `plan` and `apply` (the flags only `plan`
/// honours are in [`PlanArgs`], so `apply --help` offers none it would ignore).
#[derive(Args, Debug)]
pub struct PlanInputs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub vars: VariableArgs,
    /// Read the live resources of every recorded component before planning.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub refresh: bool,
    /// Limit the plan to this component and what it depends on (repeatable). Deletes
    /// only what is named. A partial plan: run without it to converge everything.
    #[arg(long = "target", value_name = "SERVICE/COMPONENT")]
    pub targets: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct TargetArgs {
    #[command(flatten)]
    pub stack: StackSelection,
    /// Environment [default: $PANKA_ENVIRONMENT, else development].
    #[arg(long, short = 'e')]
    pub environment: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum LockCommand {
    /// Who holds the lock, since and until when.
    Status(TargetArgs),
    /// Take the lock and keep it until `panka unlock` or its lease ends (maintenance by
    /// hand; needs the DynamoDB lock).
    Acquire(LockAcquireArgs),
}

#[derive(Args, Debug)]
pub struct LockAcquireArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Recorded as the lock's `Operation`.
    #[arg(long, default_value = "maintenance")]
    pub operation: String,
    /// How long the lock lasts without renewal, e.g. 30m, 2h.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub lease: std::time::Duration,
    /// Wait this long for a held lock, e.g. 5m [default: do not wait].
    #[arg(long, value_parser = parse_duration)]
    pub lock_timeout: Option<std::time::Duration>,
}

#[derive(Args, Debug)]
pub struct UnlockArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The holder's lock id, as `panka lock status` shows it.
    #[arg(long)]
    pub lock_id: String,
}

#[derive(Subcommand, Debug)]
pub enum StateCommand {
    /// The current state: serial, lineage, components.
    Show(TargetArgs),
}

/// Durations such as `90s`, `10m`, `1h30m`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let parsed: jiff::SignedDuration = text
        .parse()
        .map_err(|e| format!("`{text}` is not a duration like 30s, 10m or 1h: {e}"))?;
    std::time::Duration::try_from(parsed).map_err(|_| format!("`{text}` must not be negative"))
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// AWS region of the state bucket and lock table.
    #[arg(long)]
    pub region: Option<String>,
    /// S3 bucket holding state (omit with --yes for local state under .panka/).
    #[arg(long)]
    pub bucket: Option<String>,
    /// DynamoDB table holding locks.
    #[arg(long)]
    pub table: Option<String>,
    /// AWS profile to use.
    #[arg(long)]
    pub profile: Option<String>,
    /// Key prefix inside the bucket, e.g. `team-a/`.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Do not ask; use defaults for everything not given.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Replace an existing configuration file.
    #[arg(long)]
    pub force: bool,
    /// Also create the state bucket (versioned, encrypted, private) and the lock table
    /// (TTL on ExpiresAt) when they are missing. With an existing configuration file and
    /// no other flags, bootstraps what that file names.
    #[arg(long)]
    pub bootstrap: bool,
}

#[derive(Subcommand, Debug)]
pub enum StackCommand {
    /// Scaffold a stack in the current folder.
    Init(StackInitArgs),
}

#[derive(Args, Debug)]
pub struct StackInitArgs {
    /// Stack name (default: asked; must match the folder's name).
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    /// Owning team, written as the `team` label.
    #[arg(long)]
    pub team: Option<String>,
    /// AWS region of the stack.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
}

#[derive(Args, Debug, Clone)]
pub struct StackSelection {
    /// Stack name (found as `stacks/<name>/` from here or any parent folder) or a path
    /// to a stack folder [default: the stack folder you are in].
    #[arg(long, short = 's')]
    pub stack: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct VariableArgs {
    /// Set a variable used as `${NAME}` in the stack's files (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Read variables from a YAML file of `NAME: value` pairs (repeatable; `--var` wins).
    #[arg(long = "var-file", value_name = "FILE")]
    pub var_files: Vec<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub stack: StackSelection,
    /// Validate one environment [default: $PANKA_ENVIRONMENT, else every environment
    /// under environments/ and the stack without overrides].
    #[arg(long, short = 'e')]
    pub environment: Option<String>,
    #[command(flatten)]
    pub vars: VariableArgs,
}
