//! `panka destroy` (being built: see issue 6).

use super::Exit;
use crate::cli::{DestroyArgs, GlobalArgs};
use crate::error::UserError;
use crate::output::Ui;
use crate::settings::ProcessEnv;

pub async fn run(
    _args: &DestroyArgs,
    _global: &GlobalArgs,
    _env: &ProcessEnv,
    _ui: &Ui,
) -> anyhow::Result<Exit> {
    Err(UserError::new("`panka destroy` is not available yet").into())
}
