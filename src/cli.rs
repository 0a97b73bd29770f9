//! Command-line definitions. Parsing only: settings are resolved in `settings.rs`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "panka",
    version,
    about = "Deploy your team's services to AWS from YAML in git",
    disable_version_flag = true
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
