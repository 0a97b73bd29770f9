//! `panka drift` (being built: see issue 6).

use super::Exit;
use crate::cli::{DriftArgs, GlobalArgs};
use crate::error::UserError;
use crate::output::Ui;
use crate::settings::ProcessEnv;

pub async fn run(
    _args: &DriftArgs,
    _global: &GlobalArgs,
    _env: &ProcessEnv,
    _ui: &Ui,
) -> anyhow::Result<Exit> {
    Err(UserError::new("`panka drift` is not available yet").into())
}
