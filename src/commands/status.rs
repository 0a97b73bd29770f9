//! `panka status`: the live state of every component recorded in state, read from AWS in
//! parallel, with when each service was last deployed, which version and by whom.
//!
//! Only components in state are shown: status answers "what is running", not "what do
//! the files say" (that is `plan`). Resources are found by the physical ids state
//! recorded. Exit 0 whatever the health (status reports; `drift` and CI gates judge),
//! 1 when AWS could not be read for some component (the others are still shown).
//!
//! JSON (`--output json`): `{"stack", "environment", "components": [{"component",
//! "kind", "status", "healthy", "detail", "state_status", "updated_at",
//! "deployment_id", "version", "by"}]}`; nothing deployed is an empty `components`.

use super::Exit;
use crate::cli::{GlobalArgs, TargetArgs};
use crate::contract::{StatusComponent, StatusDocument};
use crate::error::UserError;
use crate::ops::target;
use crate::output::Ui;
use crate::render::status_box::{self, Row, Service};
use crate::settings::ProcessEnv;
use panka_core::model::ComponentId;
use panka_core::reconcile::{ProviderError, ResourceContext};
use panka_core::state::{ComponentState, ComponentStatus, DeploymentRecord};
use panka_providers::live::{LiveReader, LiveStatus};
use std::collections::BTreeMap;

/// A context that names the component's resources (what the reconcilers derive names
/// from); nothing else in it matters for reading.
pub(super) fn naming_context(stack: &str, environment: &str, id: &ComponentId) -> ResourceContext {
    ResourceContext {
        stack: stack.to_string(),
        environment: environment.to_string(),
        id: id.clone(),
        region: String::new(),
        production: false,
        network: None,
        domain: None,
    }
}

struct Reading {
    id: String,
    recorded: ComponentState,
    live: Result<LiveStatus, ProviderError>,
}

pub async fn run(
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
    let components = state.map(|s| s.state.components).unwrap_or_default();
    if components.is_empty() {
        if ui.is_json() {
            ui.json(&StatusDocument {
                stack: &t.key.stack,
                environment: &t.key.environment,
                components: Vec::new(),
            });
        } else {
            ui.out(&format!(
                "Nothing deployed to {} ({}) yet: no component is recorded in {}.\n",
                t.key.stack,
                t.key.environment,
                t.backends.store.location(&t.key)
            ));
        }
        return Ok(Exit::Success);
    }

    let stack_dir = crate::stack_dir::find_stack(args.stack.stack.as_deref(), &env.cwd).ok();
    let reader = LiveReader::new(&t.stack_clients(stack_dir.as_deref()).await);
    let deployment_ids: std::collections::BTreeSet<String> = components
        .values()
        .map(|c| c.deployment_id.clone())
        .collect();
    let mut reads = tokio::task::JoinSet::new();
    for (id_text, recorded) in components {
        let Some(id) = ComponentId::parse(&id_text, "") else {
            continue;
        };
        let ctx = naming_context(&t.key.stack, &t.key.environment, &id);
        let reader = reader.clone();
        reads.spawn(async move {
            let live = reader
                .read(&ctx, recorded.kind, &recorded.physical_ids)
                .await;
            Reading {
                id: id_text,
                recorded,
                live,
            }
        });
    }
    // The records name the version and who deployed; read while AWS answers.
    let (readings, records) = tokio::join!(reads.join_all(), async {
        t.backends
            .store
            .deployments_by_id(&t.key, &deployment_ids)
            .await
    });
    let records: BTreeMap<String, DeploymentRecord> = records
        .map_err(UserError::from)?
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    let mut readings = readings;
    readings.sort_by(|a, b| a.id.cmp(&b.id));

    let failures: Vec<(&str, &ProviderError)> = readings
        .iter()
        .filter_map(|r| r.live.as_ref().err().map(|e| (r.id.as_str(), e)))
        .collect();
    if ui.is_json() {
        ui.json(&StatusDocument {
            stack: &t.key.stack,
            environment: &t.key.environment,
            components: readings
                .iter()
                .map(|r| component_json(r, &records))
                .collect(),
        });
    } else {
        ui.out(&status_box::render(
            &t.key.stack,
            &t.key.environment,
            &services(&readings, &records, jiff::Timestamp::now()),
            ui.palette(),
        ));
    }
    let Some((_, first)) = failures.first() else {
        return Ok(Exit::Success);
    };
    // Printed here rather than returned: the report above is still worth having, and in
    // JSON mode stdout must stay one document.
    let mut message = format!(
        "error: cannot read {} component{} from AWS\n",
        failures.len(),
        if failures.len() == 1 { "" } else { "s" }
    );
    for (id, e) in &failures {
        message.push_str(&format!("  {id}: {e}\n"));
    }
    if let Some(hint) = &first.hint {
        message.push_str(&format!("  hint: {hint}\n"));
    }
    ui.err(&message);
    Ok(Exit::Failure)
}

fn state_status(status: ComponentStatus) -> &'static str {
    match status {
        ComponentStatus::Ready => "ready",
        ComponentStatus::Pending => "pending",
        ComponentStatus::Failed => "failed",
    }
}

/// The live status with what state adds: a component whose last operation did not
/// finish is said so. A read error is the whole message in JSON, and a pointer to the
/// error printed under the box in text.
fn shown(reading: &Reading, full_errors: bool) -> (String, Option<bool>, String) {
    let (status, healthy, mut detail) = match &reading.live {
        Ok(live) => (live.status.clone(), Some(live.healthy), live.detail.clone()),
        Err(e) if full_errors => ("unknown".to_string(), None, e.message.clone()),
        Err(_) => (
            "unknown".to_string(),
            None,
            "cannot be read from AWS (see the error below)".to_string(),
        ),
    };
    let note = match reading.recorded.status {
        ComponentStatus::Ready => None,
        ComponentStatus::Pending => Some("the last apply did not finish it"),
        ComponentStatus::Failed => Some("its last change failed"),
    };
    if let Some(note) = note {
        detail = if detail.is_empty() {
            note.to_string()
        } else {
            format!("{detail}; {note}")
        };
    }
    (status, healthy, detail)
}

fn component_json<'a>(
    r: &'a Reading,
    records: &'a BTreeMap<String, DeploymentRecord>,
) -> StatusComponent<'a> {
    let (status, healthy, detail) = shown(r, true);
    let record = records.get(&r.recorded.deployment_id);
    StatusComponent {
        component: &r.id,
        kind: r.recorded.kind.name(),
        status,
        healthy: healthy.unwrap_or(false),
        detail,
        state_status: state_status(r.recorded.status),
        updated_at: &r.recorded.updated_at,
        deployment_id: &r.recorded.deployment_id,
        version: record.map(|d| d.version.as_str()),
        by: record.map(|d| d.by.as_str()),
    }
}

/// Blocks per service, in name order; each service's last deployment is that of its
/// most recently changed component.
fn services(
    readings: &[Reading],
    records: &BTreeMap<String, DeploymentRecord>,
    now: jiff::Timestamp,
) -> Vec<Service> {
    let mut by_service: BTreeMap<&str, Vec<&Reading>> = BTreeMap::new();
    for r in readings {
        let service = r.id.split_once('/').map_or(r.id.as_str(), |(s, _)| s);
        by_service.entry(service).or_default().push(r);
    }
    by_service
        .into_iter()
        .map(|(name, members)| {
            let latest = members
                .iter()
                .max_by(|a, b| a.recorded.updated_at.cmp(&b.recorded.updated_at));
            let record = latest.and_then(|r| records.get(&r.recorded.deployment_id));
            let last_deployed = latest
                .and_then(|r| r.recorded.updated_at.parse::<jiff::Timestamp>().ok())
                .map(|t| status_box::relative(now.as_second() - t.as_second()));
            Service {
                name: name.to_string(),
                rows: members
                    .iter()
                    .map(|r| {
                        let (status, healthy, detail) = shown(r, false);
                        Row {
                            name: r
                                .id
                                .split_once('/')
                                .map_or(r.id.clone(), |(_, c)| c.to_string()),
                            kind: r.recorded.kind.name(),
                            status,
                            healthy,
                            detail,
                        }
                    })
                    .collect(),
                last_deployed,
                version: record.map(|d| d.version.clone()),
                by: record.map(|d| d.by.clone()),
            }
        })
        .collect()
}
