//! One module per command; each is a thin layer over `panka-core`/`panka-providers`.

mod apply;
mod deploy;
mod destroy;
mod drift;
mod history;
mod init;
mod lock;
mod logs;
mod plan;
mod rollback;
mod stack_init;
mod state;
mod status;
mod validate;

use crate::cli::{Cli, Command, LockCommand, StackCommand, StateCommand};
use crate::output::Ui;
use crate::settings::ProcessEnv;

/// Exit codes of product.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    /// Invalid input, AWS error, refused.
    Failure = 1,
    /// Changes present (`plan --detailed-exitcode`) or drift found.
    Changes = 2,
    /// The lock is held by someone else.
    LockHeld = 3,
    /// A change failed and the apply was rolled back.
    RolledBack = 4,
    /// Interrupted (Ctrl-C) after saving state and releasing the lock.
    Interrupted = 130,
}

/// Runs one async command on a runtime made for it.
fn block_on<F: std::future::Future<Output = anyhow::Result<Exit>>>(
    future: F,
) -> anyhow::Result<Exit> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(future)
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit as u8)
    }
}

pub fn run(cli: Cli, env: &ProcessEnv, ui: &Ui) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Version => {
            if ui.is_json() {
                ui.json(&crate::contract::VersionDocument {
                    version: env!("CARGO_PKG_VERSION"),
                });
            } else {
                ui.out(&format!("panka version {}\n", env!("CARGO_PKG_VERSION")));
            }
            Ok(Exit::Success)
        }
        Command::Init(args) => block_on(init::run(&args, &cli.global, env, ui)),
        Command::Stack(StackCommand::Init(args)) => stack_init::run(&args, env, ui),
        Command::Validate(args) => validate::run(&args, env, ui),
        Command::Lock(LockCommand::Status(args)) => {
            block_on(lock::status(&args, &cli.global, env, ui))
        }
        Command::Lock(LockCommand::Acquire(args)) => {
            block_on(lock::acquire(&args, &cli.global, env, ui))
        }
        Command::Unlock(args) => block_on(lock::unlock(&args, &cli.global, env, ui)),
        Command::State(StateCommand::Show(args)) => {
            block_on(state::show(&args, &cli.global, env, ui))
        }
        Command::Plan(args) => block_on(plan::run(&args, &cli.global, env, ui)),
        Command::Apply(args) => block_on(apply::run(&args, &cli.global, env, ui)),
        Command::Status(args) => block_on(status::run(&args, &cli.global, env, ui)),
        Command::Logs(args) => block_on(logs::run(&args, &cli.global, env, ui)),
        Command::History(args) => block_on(history::run(&args, &cli.global, env, ui)),
        Command::Rollback(args) => block_on(rollback::run(&args, &cli.global, env, ui)),
        Command::Drift(args) => block_on(drift::run(&args, &cli.global, env, ui)),
        Command::Destroy(args) => block_on(destroy::run(&args, &cli.global, env, ui)),
    }
}

/// Asks one question on the terminal; an empty answer takes `default`.
pub fn prompt(question: &str, default: Option<&str>) -> anyhow::Result<String> {
    use std::io::{BufRead, Write};
    let mut stderr = std::io::stderr().lock();
    match default {
        Some(d) if !d.is_empty() => write!(stderr, "? {question} [{d}]: ")?,
        _ => write!(stderr, "? {question}: ")?,
    }
    stderr.flush()?;
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line)?;
    if read == 0 {
        anyhow::bail!(crate::error::UserError::new(
            "no answer: standard input was closed"
        ));
    }
    let answer = line.trim();
    Ok(if answer.is_empty() {
        default.unwrap_or("").to_string()
    } else {
        answer.to_string()
    })
}

/// Whether questions can be asked: both standard input and error are terminals.
pub fn interactive() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}
