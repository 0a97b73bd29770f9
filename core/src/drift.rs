//! Drift: live resources against what state says was applied, and resources carrying a
//! stack's tags that state does not know (orphans). Pure: the CLI reads AWS and state and
//! hands the values in.
//!
//! The expected side is the reconciler's `normalise` of the *recorded* spec (the spec in
//! state, with inputs rebuilt from the outputs state recorded), never the stack files on
//! disk: a change to the files that was not applied yet is a plan, not drift.

use crate::engine::{EnvRef, Job};
use crate::model::{ComponentId, ComponentKind, ComponentSpec, EnvValue};
use crate::plan::{Action, diff};
use crate::reconcile::{COMPONENT_TAG, ENVIRONMENT_TAG, Inputs, ResourceContext, STACK_TAG};
use crate::state::{ComponentState, StateDocument};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftStatus {
    InSync,
    Drifted,
    /// Recorded in state, gone from AWS.
    Missing,
}

/// One managed field whose live value differs from the applied one. `None` (JSON
/// `null`): the field is absent on that side.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldDrift {
    pub path: String,
    pub expected: Option<Value>,
    pub actual: Option<Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ComponentDrift {
    pub component: ComponentId,
    pub kind: ComponentKind,
    pub status: DriftStatus,
    pub fields: Vec<FieldDrift>,
}

/// A resource carrying this stack+environment's tags that state does not know.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Orphan {
    /// `sqs_queue`, `rds_instance`, `elasticache_replication_group`,
    /// `elasticache_cache_cluster`, `ecs_service`, `target_group`, `load_balancer`,
    /// `iam_role`.
    pub kind: String,
    /// The identifier AWS lists it by (queue URL, instance identifier, ARN).
    pub id: String,
    /// The `panka:component` tag, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
}

/// A resource found in AWS with the stack+environment's tags (providers list them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaggedResource {
    pub kind: String,
    pub id: String,
    /// Other names of the same resource (a queue's name, an ARN), any of which state may
    /// have recorded.
    pub aliases: Vec<String>,
    pub component: Option<String>,
}

/// Whose resources the orphan search looks for: one stack and environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub stack: String,
    pub environment: String,
}

impl Owner {
    /// Only the stack and environment tags decide: a resource of ours without its
    /// component tag is still ours (and worth reporting).
    pub fn owns(&self, tags: &BTreeMap<String, String>) -> bool {
        tags.get(STACK_TAG) == Some(&self.stack)
            && tags.get(ENVIRONMENT_TAG) == Some(&self.environment)
    }

    /// The listed resource as drift sees it, when `tags` make it ours.
    pub fn resource(
        &self,
        kind: &str,
        id: String,
        aliases: Vec<String>,
        tags: &BTreeMap<String, String>,
    ) -> Option<TaggedResource> {
        self.owns(tags).then(|| TaggedResource {
            kind: kind.to_string(),
            id,
            aliases,
            component: tags.get(COMPONENT_TAG).cloned(),
        })
    }
}

/// Drift of one stack and environment.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DriftReport {
    pub stack: String,
    pub environment: String,
    pub drifted: bool,
    /// Sorted by component id.
    pub components: Vec<ComponentDrift>,
    /// Sorted by kind, then id.
    pub orphans: Vec<Orphan>,
}

impl DriftReport {
    pub fn new(
        stack: &str,
        environment: &str,
        mut components: Vec<ComponentDrift>,
        mut orphans: Vec<Orphan>,
    ) -> Self {
        components.sort_by(|a, b| a.component.cmp(&b.component));
        orphans.sort();
        let drifted =
            !orphans.is_empty() || components.iter().any(|c| c.status != DriftStatus::InSync);
        DriftReport {
            stack: stack.to_string(),
            environment: environment.to_string(),
            drifted,
            components,
            orphans,
        }
    }

    pub fn count(&self, status: DriftStatus) -> usize {
        self.components
            .iter()
            .filter(|c| c.status == status)
            .count()
    }
}

/// Compares the applied fields (`expected`, the reconciler's normalised recorded spec)
/// with the live ones (`actual`, `None` when the resource is gone).
///
/// Only the fields `expected` has are compared: a reader may return more than the
/// reconciler manages, and read-only attributes are not drift. `unchecked` names
/// top-level fields whose applied value cannot be rebuilt from state (they are skipped).
pub fn compare(
    component: &ComponentId,
    kind: ComponentKind,
    expected: &Value,
    actual: Option<&Value>,
    unchecked: &BTreeSet<String>,
) -> ComponentDrift {
    let Some(actual) = actual else {
        return ComponentDrift {
            component: component.clone(),
            kind,
            status: DriftStatus::Missing,
            fields: Vec::new(),
        };
    };
    let managed = |path: &str| {
        let top = top_level(path);
        if unchecked.contains(top) {
            return false;
        }
        match expected {
            Value::Object(map) => map.contains_key(top),
            _ => true,
        }
    };
    let fields: Vec<FieldDrift> = diff(expected, actual)
        .into_iter()
        .filter(|d| managed(&d.path))
        .map(|d| FieldDrift {
            path: d.path,
            expected: d.before,
            actual: d.after,
        })
        .collect();
    ComponentDrift {
        component: component.clone(),
        kind,
        status: if fields.is_empty() {
            DriftStatus::InSync
        } else {
            DriftStatus::Drifted
        },
        fields,
    }
}

/// The first segment of a dotted path with optional indices (`ports[0].port` → `ports`).
fn top_level(path: &str) -> &str {
    let end = path.find(['.', '[']).unwrap_or(path.len());
    &path[..end]
}

/// The `valueFrom` references of a spec (MicroService environment variables), with
/// relative component names resolved in `id`'s service.
pub fn env_refs(id: &ComponentId, spec: &ComponentSpec) -> Vec<EnvRef> {
    let ComponentSpec::MicroService(ms) = spec else {
        return Vec::new();
    };
    ms.environment
        .iter()
        .filter_map(|var| match &var.value {
            EnvValue::From { component, output } => Some(EnvRef {
                name: var.name.clone(),
                component: ComponentId::parse(component, &id.service)?,
                output: output.clone(),
            }),
            EnvValue::Literal(_) => None,
        })
        .collect()
}

/// The inputs the recorded spec was applied with, rebuilt from state: `valueFrom`
/// values from the outputs state recorded, dependency outputs for `dependencies` and
/// every referenced component, and `config_files` (state does not keep file contents).
///
/// Built through the executor's own [`Job::inputs`], so drift and apply agree.
pub fn recorded_inputs(
    ctx: &ResourceContext,
    spec: &ComponentSpec,
    components: &BTreeMap<String, ComponentState>,
    dependencies: &[ComponentId],
    config_files: BTreeMap<String, String>,
) -> Inputs {
    let refs = env_refs(&ctx.id, spec);
    let mut reads: Vec<ComponentId> = dependencies.to_vec();
    reads.extend(refs.iter().map(|r| r.component.clone()));
    reads.sort();
    reads.dedup();
    Job {
        ctx: ctx.clone(),
        kind: spec.kind(),
        action: Action::Noop,
        wave: 0,
        depends_on: reads.clone(),
        desired: Some(spec.clone()),
        env_refs: refs,
        reads_outputs_of: reads,
        config_files,
    }
    .inputs(components)
}

/// The region state's ARNs name (`arn:aws:sqs:us-east-1:…`), for when the stack files
/// are not at hand. IAM ARNs carry no region and are skipped.
pub fn recorded_region(state: &StateDocument) -> Option<String> {
    state
        .components
        .values()
        .flat_map(|c| c.physical_ids.values().chain(c.outputs.values()))
        .filter(|v| v.starts_with("arn:"))
        .find_map(|arn| {
            let region = arn.split(':').nth(3)?;
            (!region.is_empty()).then(|| region.to_string())
        })
}

/// Every identifier state recorded (physical ids and outputs), with the last path
/// segment of those that are URLs or ARNs (a queue URL also names the queue).
fn recorded_identifiers(state: Option<&StateDocument>) -> BTreeSet<String> {
    let mut known = BTreeSet::new();
    for c in state.map(|s| s.components.values()).into_iter().flatten() {
        for value in c.physical_ids.values().chain(c.outputs.values()) {
            known.insert(value.clone());
            if let Some((_, last)) = value.rsplit_once('/')
                && !last.is_empty()
            {
                known.insert(last.to_string());
            }
        }
    }
    known
}

/// The tagged resources none of whose identifiers state recorded.
pub fn orphans(state: Option<&StateDocument>, found: &[TaggedResource]) -> Vec<Orphan> {
    let known = recorded_identifiers(state);
    let mut out: Vec<Orphan> = found
        .iter()
        .filter(|r| {
            !std::iter::once(&r.id)
                .chain(&r.aliases)
                .any(|name| known.contains(name))
        })
        .map(|r| Orphan {
            kind: r.kind.clone(),
            id: r.id.clone(),
            component: r.component.clone(),
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::ComponentStatus;
    use serde_json::json;

    fn id(text: &str) -> ComponentId {
        ComponentId::parse(text, "").expect("id")
    }

    fn recorded(
        kind: ComponentKind,
        ids: &[(&str, &str)],
        outputs: &[(&str, &str)],
    ) -> ComponentState {
        let map = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        ComponentState {
            kind,
            physical_ids: map(ids),
            applied_spec: json!({}),
            outputs: map(outputs),
            status: ComponentStatus::Ready,
            updated_at: "2026-01-01T00:00:00Z".into(),
            deployment_id: "d1".into(),
            depends_on: None,
        }
    }

    fn state(components: Vec<(&str, ComponentState)>) -> StateDocument {
        let mut doc = StateDocument::new("shop", "dev", jiff::Timestamp::UNIX_EPOCH);
        doc.components = components
            .into_iter()
            .map(|(k, c)| (k.to_string(), c))
            .collect();
        doc
    }

    #[test]
    fn equal_fields_are_in_sync_and_changed_ones_drift_leaf_by_leaf() {
        let expected = json!({"visibility": 300, "dlq": {"max": 3, "retention": 60}});
        let same = compare(
            &id("s/q"),
            ComponentKind::Sqs,
            &expected,
            Some(&expected.clone()),
            &BTreeSet::new(),
        );
        assert_eq!(same.status, DriftStatus::InSync);
        assert!(same.fields.is_empty());

        let live = json!({"visibility": 45, "dlq": {"max": 3, "retention": 61}});
        let drift = compare(
            &id("s/q"),
            ComponentKind::Sqs,
            &expected,
            Some(&live),
            &BTreeSet::new(),
        );
        assert_eq!(drift.status, DriftStatus::Drifted);
        assert_eq!(
            drift.fields,
            [
                FieldDrift {
                    path: "dlq.retention".into(),
                    expected: Some(json!(60)),
                    actual: Some(json!(61)),
                },
                FieldDrift {
                    path: "visibility".into(),
                    expected: Some(json!(300)),
                    actual: Some(json!(45)),
                },
            ]
        );
    }

    #[test]
    fn a_missing_resource_is_missing_without_fields() {
        let c = compare(
            &id("s/q"),
            ComponentKind::Sqs,
            &json!({"a": 1}),
            None,
            &BTreeSet::new(),
        );
        assert_eq!(c.status, DriftStatus::Missing);
        assert!(c.fields.is_empty());
    }

    #[test]
    fn fields_the_reconciler_does_not_manage_and_unchecked_ones_are_not_drift() {
        let expected = json!({"image": "api:v1", "config_hash": "abc", "env": {"A": "1"}});
        let live = json!({
            "image": "api:v1",
            "config_hash": "def",
            "env": {"A": "1", "B": "added by hand"},
            "created_at": "2026-01-01",
            "ports": [{"port": 1}]
        });
        let unchecked = BTreeSet::from(["config_hash".to_string()]);
        let c = compare(
            &id("s/api"),
            ComponentKind::MicroService,
            &expected,
            Some(&live),
            &unchecked,
        );
        let paths: Vec<&str> = c.fields.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["env.B"], "a new key under a managed field is drift");
        assert_eq!(c.fields[0].expected, None);
        assert_eq!(top_level("ports[0].port"), "ports");
        assert_eq!(top_level("a.b"), "a");
    }

    #[test]
    fn the_report_is_drifted_when_anything_is_out_of_sync_or_orphaned() {
        let in_sync = ComponentDrift {
            component: id("s/b"),
            kind: ComponentKind::Sqs,
            status: DriftStatus::InSync,
            fields: Vec::new(),
        };
        let clean = DriftReport::new("shop", "dev", vec![in_sync.clone()], Vec::new());
        assert!(!clean.drifted);
        let orphaned = DriftReport::new(
            "shop",
            "dev",
            vec![in_sync.clone()],
            vec![Orphan {
                kind: "sqs_queue".into(),
                id: "u".into(),
                component: None,
            }],
        );
        assert!(orphaned.drifted, "an orphan alone is drift");
        let missing = ComponentDrift {
            component: id("s/a"),
            status: DriftStatus::Missing,
            ..in_sync.clone()
        };
        let report = DriftReport::new("shop", "dev", vec![in_sync, missing], Vec::new());
        assert!(report.drifted);
        assert_eq!(report.components[0].component, id("s/a"), "sorted by id");
        assert_eq!(report.count(DriftStatus::Missing), 1);
        assert_eq!(
            serde_json::to_value(&report.components[0]).expect("json"),
            json!({"component": "s/a", "kind": "SQS", "status": "missing", "fields": []})
        );
    }

    #[test]
    fn inputs_come_from_the_outputs_state_recorded() {
        let spec: ComponentSpec = serde_json::from_value(json!({
            "kind": "MicroService",
            "image": {"repository": "api", "tag": "v1"},
            "platform": "fargate", "cpu_architecture": "x86_64", "command": null,
            "ports": [], "load_balancer": {"enabled": false, "internal": false, "listener_port": 80},
            "environment": [
                {"name": "QUEUE_URL", "value": {"from": {"component": "queue", "output": "url"}}},
                {"name": "LEVEL", "value": {"literal": "info"}}
            ],
            "secrets": [], "configs": null, "readiness": null,
            "infra": {"cpu": 256, "memory": 512, "replicas": 1, "autoscaling": null, "log_retention_days": 7}
        }))
        .expect("spec");
        let components = BTreeMap::from([
            (
                "s/queue".to_string(),
                recorded(ComponentKind::Sqs, &[], &[("url", "https://q")]),
            ),
            (
                "s/db".to_string(),
                recorded(
                    ComponentKind::Rds,
                    &[],
                    &[("client_security_group_id", "sg-1")],
                ),
            ),
        ]);
        let ctx = ResourceContext {
            stack: "shop".into(),
            environment: "dev".into(),
            id: id("s/api"),
            region: "us-east-1".into(),
            production: false,
            network: None,
            domain: None,
        };
        let inputs = recorded_inputs(
            &ctx,
            &spec,
            &components,
            &[id("s/db")],
            BTreeMap::from([("app.yaml".to_string(), "x: 1".to_string())]),
        );
        assert_eq!(
            inputs.resolved_env,
            BTreeMap::from([("QUEUE_URL".to_string(), "https://q".to_string())])
        );
        assert_eq!(
            inputs.dependencies.keys().cloned().collect::<Vec<_>>(),
            [id("s/db"), id("s/queue")]
        );
        assert_eq!(
            inputs.dependencies[&id("s/db")]["client_security_group_id"],
            "sg-1"
        );
        assert_eq!(inputs.config_files["app.yaml"], "x: 1");
        let sqs: ComponentSpec = serde_json::from_value(json!({
            "kind": "SQS", "fifo": false, "message_retention_seconds": 60,
            "visibility_timeout_seconds": 30, "delay_seconds": 0,
            "max_message_size_bytes": 1024, "receive_wait_time_seconds": 0,
            "content_based_deduplication": false, "dead_letter_queue": null
        }))
        .expect("sqs spec");
        assert!(env_refs(&id("s/q"), &sqs).is_empty());
    }

    #[test]
    fn the_region_is_read_from_recorded_arns() {
        let doc = state(vec![(
            "s/api",
            recorded(
                ComponentKind::MicroService,
                &[("role", "arn:aws:iam::1:role/x"), ("name", "plain")],
                &[("arn", "arn:aws:ecs:eu-west-1:1:service/c/s")],
            ),
        )]);
        assert_eq!(recorded_region(&doc).as_deref(), Some("eu-west-1"));
        assert_eq!(recorded_region(&state(Vec::new())), None);
    }

    #[test]
    fn orphans_are_tagged_resources_state_does_not_name() {
        let doc = state(vec![(
            "s/q",
            recorded(
                ComponentKind::Sqs,
                &[(
                    "queue_url",
                    "https://sqs.us-east-1.amazonaws.com/1/shop-dev-s-q",
                )],
                &[(
                    "arn",
                    "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/tg/9",
                )],
            ),
        )]);
        let tagged = |kind: &str, id: &str, aliases: &[&str]| TaggedResource {
            kind: kind.into(),
            id: id.into(),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            component: Some("s/x".into()),
        };
        let found = [
            // Known by its URL as listed under another endpoint form: the name matches.
            tagged(
                "sqs_queue",
                "https://queue.amazonaws.com/1/shop-dev-s-q",
                &["shop-dev-s-q"],
            ),
            tagged(
                "target_group",
                "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/tg/9",
                &[],
            ),
            tagged(
                "sqs_queue",
                "https://sqs.us-east-1.amazonaws.com/1/shop-dev-s-old",
                &["shop-dev-s-old"],
            ),
        ];
        let orphans = orphans(Some(&doc), &found);
        assert_eq!(
            orphans,
            [Orphan {
                kind: "sqs_queue".into(),
                id: "https://sqs.us-east-1.amazonaws.com/1/shop-dev-s-old".into(),
                component: Some("s/x".into()),
            }]
        );
        assert_eq!(
            super::orphans(None, &found[..1]).len(),
            1,
            "without state everything tagged is an orphan"
        );
    }

    #[test]
    fn only_the_stack_and_environment_tags_decide_ownership() {
        let owner = Owner {
            stack: "shop".into(),
            environment: "dev".into(),
        };
        let tags = |stack: &str, env: &str| {
            BTreeMap::from([
                (STACK_TAG.to_string(), stack.to_string()),
                (ENVIRONMENT_TAG.to_string(), env.to_string()),
                (COMPONENT_TAG.to_string(), "s/q".to_string()),
            ])
        };
        let ours = owner
            .resource(
                "sqs_queue",
                "u".into(),
                vec!["q".into()],
                &tags("shop", "dev"),
            )
            .expect("ours");
        assert_eq!(ours.component.as_deref(), Some("s/q"));
        assert_eq!(ours.aliases, ["q"]);
        assert!(
            owner
                .resource("sqs_queue", "u".into(), Vec::new(), &tags("shop", "prod"))
                .is_none()
        );
        assert!(
            owner
                .resource("sqs_queue", "u".into(), Vec::new(), &tags("other", "dev"))
                .is_none()
        );
        assert!(
            owner
                .resource("sqs_queue", "u".into(), Vec::new(), &BTreeMap::new())
                .is_none()
        );
    }
}
