//! `panka state show`.

use super::Exit;
use crate::cli::{GlobalArgs, TargetArgs};
use crate::error::UserError;
use crate::ops::target;
use crate::output::Ui;
use crate::settings::ProcessEnv;
use std::fmt::Write as _;

pub async fn show(
    args: &TargetArgs,
    global: &GlobalArgs,
    env: &ProcessEnv,
    ui: &Ui,
) -> anyhow::Result<Exit> {
    let t = target::open(args, global, env, ui).await?;
    let state = t
        .backends
        .store
        .read(&t.key)
        .await
        .map_err(UserError::from)?;
    if ui.is_json() {
        ui.json(&crate::contract::StateShowDocument {
            stack: &t.key.stack,
            environment: &t.key.environment,
            location: t.backends.store.location(&t.key),
            state: state.as_ref().map(|s| &s.state),
        });
        return Ok(Exit::Success);
    }
    let Some(state) = state else {
        ui.out(&format!(
            "No state for {} ({}) in {} yet: nothing has been deployed there.\n",
            t.key.stack,
            t.key.environment,
            t.backends.store.location(&t.key)
        ));
        return Ok(Exit::Success);
    };
    let s = &state.state;
    let mut text = String::new();
    let _ = writeln!(text, "State: {} ({})", s.stack, s.environment);
    let _ = writeln!(text, "├── Location: {}", t.backends.store.location(&t.key));
    let _ = writeln!(text, "├── Serial: {}", s.serial);
    let _ = writeln!(text, "├── Lineage: {}", s.lineage);
    let _ = writeln!(text, "├── Updated: {}", s.updated_at);
    let _ = writeln!(text, "└── Components: {}", s.components.len());
    let width = s
        .components
        .keys()
        .map(|k| k.chars().count())
        .max()
        .unwrap_or(0);
    for (i, (id, c)) in s.components.iter().enumerate() {
        let branch = if i + 1 == s.components.len() {
            "└──"
        } else {
            "├──"
        };
        let status = serde_json::to_value(c.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let _ = writeln!(
            text,
            "    {branch} {id:<width$}  {:<16} {:<8} {}  ({})",
            c.kind.name(),
            status,
            c.updated_at,
            c.deployment_id
        );
    }
    ui.out(&text);
    Ok(Exit::Success)
}
