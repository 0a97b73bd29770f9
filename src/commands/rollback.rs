//! `panka rollback` (being built: see issue 6).

use super::Exit;
use crate::cli::{GlobalArgs, RollbackArgs};
use crate::error::UserError;
use crate::output::Ui;
use crate::settings::ProcessEnv;

pub async fn run(
    _args: &RollbackArgs,
    _global: &GlobalArgs,
    _env: &ProcessEnv,
    _ui: &Ui,
) -> anyhow::Result<Exit> {
    Err(UserError::new("`panka rollback` is not available yet").into())
}
