//! The `panka` binary: parses the command line, resolves settings once, runs one
//! command and maps its outcome to an exit code.

mod cli;
mod commands;
mod config;
mod contract;
mod error;
mod ops;
mod output;
mod render;
mod saved_plan;
mod settings;
mod stack_dir;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let env = settings::ProcessEnv::capture();
    let ui = output::Ui::new(cli.global.output, &env);
    match commands::run(cli, &env, &ui) {
        Ok(code) => code.into(),
        Err(err) => {
            ui.error(&err);
            ExitCode::from(1)
        }
    }
}
