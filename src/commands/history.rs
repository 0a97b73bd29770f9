//! `panka history` (being built: see issue 6).

use super::Exit;
use crate::cli::{GlobalArgs, HistoryArgs};
use crate::error::UserError;
use crate::output::Ui;
use crate::settings::ProcessEnv;

pub async fn run(
    _args: &HistoryArgs,
    _global: &GlobalArgs,
    _env: &ProcessEnv,
    _ui: &Ui,
) -> anyhow::Result<Exit> {
    Err(UserError::new("`panka history` is not available yet").into())
}
