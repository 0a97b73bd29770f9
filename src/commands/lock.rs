//! `panka lock status`, `panka lock acquire` and `panka unlock`.

use super::Exit;
use crate::cli::{GlobalArgs, LockAcquireArgs, TargetArgs, UnlockArgs};
use crate::contract::{
    LockAcquiredDocument, LockHeldDocument, LockHeldError, LockHolder, LockReleasedDocument,
    LockStatusDocument,
};
use crate::error::UserError;
use crate::ops::target;
use crate::output::Ui;
use crate::settings::ProcessEnv;
use panka_core::state::{LockError, LockInfo, LockRequest};

pub fn holder_json(info: &LockInfo) -> LockHolder<'_> {
    LockHolder {
        id: &info.id,
        who: &info.who,
        operation: &info.operation,
        created: &info.created,
        expires_at: info.expires_at_rfc3339(),
        expired: info.expires_at <= jiff::Timestamp::now().as_second(),
    }
}

pub fn holder_text(info: &LockInfo) -> String {
    format!(
        "├── Held by: {}\n├── Operation: {}\n├── Since: {}\n├── Until: {}{}\n└── Lock ID: {}\n",
        info.who,
        info.operation,
        info.created,
        info.expires_at_rfc3339(),
        if info.expires_at <= jiff::Timestamp::now().as_second() {
            " (expired: the next run takes it over)"
        } else {
            ""
        },
        info.id
    )
}

/// Prints a lost lock race and returns exit code 3.
pub fn report_held(ui: &Ui, key_label: &str, holder: &LockInfo) -> Exit {
    if ui.is_json() {
        ui.json(&LockHeldDocument {
            error: LockHeldError {
                message: format!("{key_label} is locked"),
                lock: holder_json(holder),
            },
        });
    }
    ui.err(&format!(
        "error: {key_label} is locked\n{}",
        holder_text(holder)
    ));
    ui.err(&format!(
        "  hint: wait with --lock-timeout, or if that run is dead: panka unlock --lock-id {}\n",
        holder.id
    ));
    Exit::LockHeld
}

pub async fn status(
    args: &TargetArgs,
    global: &GlobalArgs,
    env: &ProcessEnv,
    ui: &Ui,
) -> anyhow::Result<Exit> {
    let t = target::open(args, global, env, ui).await?;
    let holder = t
        .backends
        .lock
        .status(&t.key)
        .await
        .map_err(UserError::from)?;
    if ui.is_json() {
        ui.json(&LockStatusDocument {
            stack: &t.key.stack,
            environment: &t.key.environment,
            lock_key: t.key.lock_id(),
            locked: holder.is_some(),
            holder: holder.as_ref().map(holder_json),
        });
        return Ok(Exit::Success);
    }
    let mut text = format!("Lock: {}\n", t.key.lock_id());
    match &holder {
        Some(info) => text.push_str(&holder_text(info)),
        None => text.push_str("└── Not locked\n"),
    }
    ui.out(&text);
    Ok(Exit::Success)
}

pub async fn acquire(
    args: &LockAcquireArgs,
    global: &GlobalArgs,
    env: &ProcessEnv,
    ui: &Ui,
) -> anyhow::Result<Exit> {
    let t = target::open(&args.target, global, env, ui).await?;
    if t.backends.is_local_lock {
        return Err(UserError::new(
            "a local lock lasts only as long as the panka process that holds it",
        )
        .hint("`panka lock acquire` needs the DynamoDB lock (configure it with `panka init`)")
        .into());
    }
    let request = LockRequest {
        who: env.who.clone(),
        operation: args.operation.clone(),
        lease: args.lease,
    };
    let label = t.key.lock_id();
    let result = crate::ops::lock::acquire(
        t.backends.lock.as_ref(),
        &t.key,
        &request,
        args.lock_timeout,
        |holder| {
            ui.err(&format!(
                "Waiting for the lock held by {}\n",
                holder.describe()
            ));
        },
    )
    .await;
    match result {
        Ok(info) => {
            if ui.is_json() {
                ui.json(&LockAcquiredDocument {
                    lock_key: &label,
                    holder: holder_json(&info),
                });
            } else {
                ui.out(&format!("✓ Lock acquired: {label}\n{}", holder_text(&info)));
                ui.err(&format!(
                    "Release it with: panka unlock --stack {} --environment {} --lock-id {}\n",
                    t.key.stack, t.key.environment, info.id
                ));
            }
            Ok(Exit::Success)
        }
        Err(LockError::Held { holder, .. }) => Ok(report_held(ui, &label, &holder)),
        Err(e) => Err(UserError::from(e).into()),
    }
}

pub async fn unlock(
    args: &UnlockArgs,
    global: &GlobalArgs,
    env: &ProcessEnv,
    ui: &Ui,
) -> anyhow::Result<Exit> {
    let t = target::open(&args.target, global, env, ui).await?;
    let label = t.key.lock_id();
    let Some(holder) = t
        .backends
        .lock
        .status(&t.key)
        .await
        .map_err(UserError::from)?
    else {
        return Err(UserError::new(format!("{label} is not locked")).into());
    };
    if holder.id != args.lock_id {
        return Err(UserError::new(format!(
            "{label} is held under lock id {}, not {}",
            holder.id, args.lock_id
        ))
        .hint(format!(
            "held by {}; check `panka lock status` and pass its lock id",
            holder.describe()
        ))
        .into());
    }
    t.backends
        .lock
        .release(&t.key, &args.lock_id)
        .await
        .map_err(UserError::from)?;
    if ui.is_json() {
        ui.json(&LockReleasedDocument {
            lock_key: &label,
            released: holder_json(&holder),
        });
    } else {
        ui.out(&format!(
            "✓ Lock {} released ({label}, held by {})\n",
            holder.id, holder.who
        ));
    }
    Ok(Exit::Success)
}
