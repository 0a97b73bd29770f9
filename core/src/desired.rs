//! From the resolved stack to what the planner and the executor need: per component its
//! resource context, spec, dependencies, `valueFrom` references and config file contents.

use crate::engine::{EnvRef, Job};
use crate::graph::Graph;
use crate::loader::{ResolvedStack, StackFiles};
use crate::model::{ComponentId, ComponentKind, ComponentSpec, EnvValue};
use crate::plan::{Action, CurrentComponent, DesiredComponent, Plan};
use crate::policy::is_production;
use crate::reconcile::{Inputs, ResourceContext};
use crate::recorded::state_dependencies;
use crate::source::Span;
use crate::state::{ComponentState, DeploymentRecord, StateDocument};
use crate::yaml::{Node, Value, deep_merge};
use std::collections::{BTreeMap, BTreeSet};

/// One component as the stack files want it, ready to plan and apply.
#[derive(Clone, Debug)]
pub struct DesiredPiece {
    pub ctx: ResourceContext,
    pub spec: ComponentSpec,
    pub depends_on: Vec<ComponentId>,
    pub env_refs: Vec<EnvRef>,
    pub config_files: BTreeMap<String, String>,
}

impl DesiredPiece {
    pub fn id(&self) -> &ComponentId {
        &self.ctx.id
    }

    pub fn kind(&self) -> ComponentKind {
        self.spec.kind()
    }

    /// Inputs from outputs recorded in state; outputs of components not created yet are
    /// simply absent ("known after apply").
    pub fn inputs(&self, components: &BTreeMap<String, ComponentState>) -> Inputs {
        crate::engine::inputs_of(
            &self.env_refs,
            &self.depends_on,
            &self.config_files,
            components,
        )
    }

    fn job(&self, action: Action, wave: usize) -> Job {
        Job {
            ctx: self.ctx.clone(),
            kind: self.kind(),
            action,
            wave,
            depends_on: self.depends_on.clone(),
            desired: Some(self.spec.clone()),
            env_refs: self.env_refs.clone(),
            reads_outputs_of: self.depends_on.clone(),
            config_files: self.config_files.clone(),
        }
    }
}

/// The context of a component of `stack` in `environment`.
pub fn context(stack: &ResolvedStack, environment: &str, id: &ComponentId) -> ResourceContext {
    ResourceContext {
        stack: stack.name.clone(),
        environment: environment.to_string(),
        id: id.clone(),
        region: stack.spec.region.clone(),
        production: is_production(environment),
        network: stack
            .environment_spec
            .as_ref()
            .and_then(|e| e.network.clone()),
        domain: stack
            .environment_spec
            .as_ref()
            .and_then(|e| e.domain.clone()),
    }
}

/// Every component of a valid stack (no diagnostics left) as a [`DesiredPiece`].
///
/// Errors: a config file that cannot be read (it existed at validation), or that now
/// leads outside the boundary (a file swapped for a link since): checked again here,
/// since its contents go into the task definition and the deployment record.
pub fn pieces(
    stack: &ResolvedStack,
    graph: &Graph,
    environment: &str,
) -> Result<Vec<DesiredPiece>, String> {
    let mut out = Vec::new();
    for c in &stack.components {
        let mut env_refs = Vec::new();
        let mut config_files = BTreeMap::new();
        if let ComponentSpec::MicroService(ms) = &c.spec {
            for var in &ms.environment {
                if let EnvValue::From { component, output } = &var.value
                    && let Some(target) = ComponentId::parse(component, &c.id.service)
                {
                    env_refs.push(EnvRef {
                        name: var.name.clone(),
                        component: target,
                        output: output.clone(),
                    });
                }
            }
            for file in ms.configs.iter().flat_map(|c| &c.files) {
                let shown = file.path.display().to_string();
                let bytes = stack.boundary.read(&file.path).map_err(|problem| {
                    format!("config file: {}", problem.message(&shown, &stack.boundary))
                })?;
                let text = String::from_utf8(bytes)
                    .map_err(|_| format!("config file `{shown}` is not UTF-8 text"))?;
                config_files.insert(file.name.clone(), text);
            }
        }
        out.push(DesiredPiece {
            ctx: context(stack, environment, &c.id),
            spec: c.spec.clone(),
            depends_on: graph
                .dependencies
                .get(&c.id)
                .map(|d| d.iter().cloned().collect())
                .unwrap_or_default(),
            env_refs,
            config_files,
        });
    }
    Ok(out)
}

/// One place where a component refers to a Secrets Manager secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretRefAt {
    pub component: ComponentId,
    /// The name or ARN, as resolved (variables substituted).
    pub secret_ref: String,
    /// The JSON key the reference names.
    pub key: Option<String>,
    /// An RDS master password, which panka reads at apply time (an ECS secret is read by
    /// the task, never by panka).
    pub password: bool,
    /// `key` was not written but filled by the secret key rule (`secret_keys`): it is the
    /// key a database this component depends on reads from the same secret.
    pub key_inferred: bool,
    /// Where the reference is written: the component's file, or the environment file
    /// whose override set it. `None` when it cannot be found (then the component's
    /// document is the best place to point at).
    pub span: Option<Span>,
}

/// Every secret reference of the resolved stack, with its position. The loader keeps
/// typed specs without positions for these, so the position is found again in the YAML:
/// the component's `spec` with its environment overrides merged the way `resolve` merges
/// them (a merged node keeps the span of the file it came from).
pub fn secret_refs(files: &StackFiles, stack: &ResolvedStack) -> Vec<SecretRefAt> {
    let overrides: Vec<(ComponentId, &Node)> = stack
        .environment_spec
        .iter()
        .flat_map(|e| &e.overrides)
        .filter_map(|o| Some((ComponentId::parse(&o.target.value, "")?, o.spec.as_ref()?)))
        .collect();
    let mut out = Vec::new();
    for c in &stack.components {
        let has_secrets = match &c.spec {
            ComponentSpec::MicroService(ms) => !ms.secrets.is_empty(),
            ComponentSpec::Rds(rds) => !rds.password_secret.is_empty(),
            _ => false,
        };
        // Only components with secrets need their merged YAML (a copy of the tree).
        let merged = has_secrets
            .then(|| spec_node(files, &c.id))
            .flatten()
            .map(|mut node| {
                for (_, o) in overrides.iter().filter(|(id, _)| id == &c.id) {
                    deep_merge(&mut node, o);
                }
                node
            });
        let fallback = Some(c.span);
        match &c.spec {
            ComponentSpec::MicroService(ms) => {
                let items = merged.as_ref().and_then(|n| n.get("secrets")).map(seq);
                for (i, secret) in ms.secrets.iter().enumerate() {
                    let item = items.as_ref().and_then(|items| items.get(i));
                    let span = item.and_then(|item| item.get("secretRef")).map(|n| n.span);
                    let written_key = item.is_some_and(|item| item.get("key").is_some());
                    out.push(SecretRefAt {
                        component: c.id.clone(),
                        secret_ref: secret.secret_ref.clone(),
                        key: secret.key.clone(),
                        password: false,
                        key_inferred: secret.key.is_some() && item.is_some() && !written_key,
                        span: span.or(fallback),
                    });
                }
            }
            ComponentSpec::Rds(rds) if !rds.password_secret.is_empty() => {
                let span = merged
                    .as_ref()
                    .and_then(|n| n.get("database"))
                    .and_then(|n| n.get("passwordSecret"))
                    .and_then(|n| n.get("ref"))
                    .map(|n| n.span);
                out.push(SecretRefAt {
                    component: c.id.clone(),
                    secret_ref: rds.password_secret.clone(),
                    key: rds.password_key.clone(),
                    password: true,
                    key_inferred: false,
                    span: span.or(fallback),
                });
            }
            _ => {}
        }
    }
    out
}

/// The `spec` node of a component's own document, as parsed.
fn spec_node(files: &StackFiles, id: &ComponentId) -> Option<Node> {
    files
        .services
        .iter()
        .filter(|s| s.folder == id.service)
        .flat_map(|s| &s.components)
        .filter_map(|cf| cf.doc.as_ref())
        .find(|doc| {
            doc.envelope
                .metadata
                .name
                .as_ref()
                .is_some_and(|n| n.value == id.component)
        })
        .and_then(|doc| doc.envelope.spec.clone())
}

fn seq(node: &Node) -> Vec<&Node> {
    match &node.value {
        Value::Seq(items) => items.iter().collect(),
        _ => Vec::new(),
    }
}

/// The planner's view of the desired components, normalised by `normalise(piece, inputs)`
/// (the reconciler of each kind).
pub fn planned_components(
    pieces: &[DesiredPiece],
    state: Option<&StateDocument>,
    normalise: &dyn Fn(&DesiredPiece, &Inputs) -> serde_json::Value,
) -> Vec<DesiredComponent> {
    let empty = BTreeMap::new();
    let recorded = state.map(|s| &s.components).unwrap_or(&empty);
    pieces
        .iter()
        .map(|p| DesiredComponent {
            id: p.id().clone(),
            kind: p.kind(),
            fields: normalise(p, &p.inputs(recorded)),
            depends_on: p.depends_on.clone(),
        })
        .collect()
}

/// The deployment records [`current_components`] needs: those that applied a component
/// which is no longer wanted (it will be deleted, in dependency order) and whose state was
/// written before dependencies were kept in it. Usually none.
pub fn records_for_deletes(
    state: Option<&StateDocument>,
    pieces: &[DesiredPiece],
) -> BTreeSet<String> {
    let wanted: BTreeSet<String> = pieces.iter().map(|p| p.id().to_string()).collect();
    state
        .map(|s| s.components.iter())
        .into_iter()
        .flatten()
        .filter(|(id, c)| c.depends_on.is_none() && !wanted.contains(*id))
        .map(|(_, c)| c.deployment_id.clone())
        .collect()
}

/// What is known now: state's components, their fields from a live read when one was made
/// (`observed`: `None` = missing in AWS), else normalised from the recorded spec, and
/// what each depended on when applied (`deployments`, by id: the records named by
/// [`records_for_deletes`], for states that did not keep dependencies).
pub fn current_components(
    state: Option<&StateDocument>,
    observed: &BTreeMap<ComponentId, Option<serde_json::Value>>,
    recorded_fields: &dyn Fn(&ComponentId, &ComponentState) -> Option<serde_json::Value>,
    deployments: &BTreeMap<String, DeploymentRecord>,
) -> BTreeMap<ComponentId, CurrentComponent> {
    let mut out = BTreeMap::new();
    for (key, c) in state.map(|s| s.components.iter()).into_iter().flatten() {
        let Some(id) = ComponentId::parse(key, "") else {
            continue;
        };
        let fields = match observed.get(&id) {
            Some(live) => live.clone(),
            None => recorded_fields(&id, c),
        };
        let depends_on = state_dependencies(&id, c, deployments.get(&c.deployment_id));
        out.insert(
            id,
            CurrentComponent {
                kind: c.kind,
                fields,
                depends_on,
            },
        );
    }
    out
}

/// The executor's jobs for `plan`: changes of desired components carry their piece;
/// deletes carry the context rebuilt from the stack and the state's kind.
pub fn jobs(
    plan: &Plan,
    pieces: &[DesiredPiece],
    stack: &ResolvedStack,
    environment: &str,
) -> Vec<Job> {
    let by_id: BTreeMap<&ComponentId, &DesiredPiece> = pieces.iter().map(|p| (p.id(), p)).collect();
    let in_plan: BTreeSet<&ComponentId> = plan.changes().map(|c| &c.component).collect();
    // A delete waits for every other change (a dependent updated to stop using what is
    // deleted goes first) and for the deletes in earlier delete waves (its dependents).
    let others: Vec<ComponentId> = plan
        .changes()
        .filter(|c| !matches!(c.action, Action::Delete | Action::Noop))
        .map(|c| c.component.clone())
        .collect();
    let deleted_before: Vec<(usize, ComponentId)> = plan
        .changes()
        .filter(|c| c.action == Action::Delete)
        .map(|c| (c.wave, c.component.clone()))
        .collect();
    plan.changes()
        .map(|change| match by_id.get(&change.component) {
            Some(piece) if change.action != Action::Delete => {
                let mut job = piece.job(change.action, change.wave);
                // Only dependencies that are part of this plan gate the start: a targeted
                // plan holds the targets' dependencies, never what lies outside it.
                job.depends_on.retain(|d| in_plan.contains(d));
                job
            }
            _ => Job {
                ctx: context(stack, environment, &change.component),
                kind: change.kind,
                action: change.action,
                wave: change.wave,
                depends_on: others
                    .iter()
                    .cloned()
                    .chain(
                        deleted_before
                            .iter()
                            .filter(|(w, _)| *w < change.wave)
                            .map(|(_, id)| id.clone()),
                    )
                    .collect(),
                desired: None,
                env_refs: Vec::new(),
                reads_outputs_of: Vec::new(),
                config_files: BTreeMap::new(),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::{Diagnostics, Severity};
    use crate::interp::Variables;
    use crate::loader::{ResolveOptions, read_stack_files, resolve};
    use crate::source::Sources;
    use std::path::Path;

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("mkdir");
        for entry in std::fs::read_dir(from).expect("read_dir").flatten() {
            let target = to.join(entry.file_name());
            if entry.file_type().expect("type").is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).expect("copy");
            }
        }
    }

    /// (component, ref, key, password, file, line, column) of one reference.
    type Seen = (String, String, Option<String>, bool, String, u32, u32);

    fn refs_of(root: &Path, environment: &str) -> Vec<Seen> {
        let mut sources = Sources::with_display_base(root);
        let mut diags = Diagnostics::default();
        let files = read_stack_files(root, &mut sources, &mut diags);
        let mut variables = Variables::new();
        variables.push_layer([("VERSION".to_string(), "v1".to_string())].into());
        let stack = resolve(
            &files,
            &ResolveOptions {
                environment: Some(environment),
                variables: &variables,
                undefined_variables: Severity::Error,
            },
            &mut diags,
        );
        assert!(diags.is_empty(), "{diags:?}");
        secret_refs(&files, &stack)
            .into_iter()
            .map(|r| {
                let span = r.span.expect("span");
                (
                    r.component.to_string(),
                    r.secret_ref,
                    r.key,
                    r.password,
                    sources.get(span.source).display.clone(),
                    span.line,
                    span.column,
                )
            })
            .collect()
    }

    #[test]
    fn secret_references_point_where_they_are_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("notification-platform");
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/notification-platform"),
            &root,
        );
        let secret = "/stacks/notification-platform/email-service/db-password";
        let refs = refs_of(&root, "development");
        assert_eq!(
            refs,
            [
                (
                    "email-service/api".to_string(),
                    secret.to_string(),
                    // The key the database reads (the secret key rule).
                    Some("password".to_string()),
                    false,
                    "services/email-service/components/api/microservice.yaml".to_string(),
                    34,
                    18
                ),
                (
                    "email-service/database".to_string(),
                    secret.to_string(),
                    None,
                    true,
                    "services/email-service/components/database/rds.yaml".to_string(),
                    24,
                    12
                ),
            ]
        );

        // An environment override that changes the reference points into its own file.
        let env_file = root.join("environments/staging/environment.yaml");
        let text = std::fs::read_to_string(&env_file).expect("read");
        let overridden = format!(
            "{}\n  overrides:\n    email-service/database:\n      spec:\n        database:\n          passwordSecret:\n            ref: /staging/db\n            key: pw\n",
            text.trim_end()
        );
        assert!(!text.contains("overrides"), "the fixture changed: {text}");
        std::fs::write(&env_file, &overridden).expect("write");
        let line = overridden
            .lines()
            .position(|l| l.contains("ref: /staging/db"))
            .expect("line") as u32
            + 1;
        let refs = refs_of(&root, "staging");
        let db = refs
            .iter()
            .find(|r| r.0 == "email-service/database")
            .expect("db");
        assert_eq!(
            (db.1.as_str(), db.2.as_deref(), db.4.as_str(), db.5, db.6),
            (
                "/staging/db",
                Some("pw"),
                "environments/staging/environment.yaml",
                line,
                18
            )
        );
    }

    fn resolved(root: &Path) -> ResolvedStack {
        let mut sources = Sources::with_display_base(root);
        let mut diags = Diagnostics::default();
        let files = read_stack_files(root, &mut sources, &mut diags);
        let mut variables = Variables::new();
        variables.push_layer([("VERSION".to_string(), "v1".to_string())].into());
        let stack = resolve(
            &files,
            &ResolveOptions {
                environment: Some("development"),
                variables: &variables,
                undefined_variables: Severity::Error,
            },
            &mut diags,
        );
        assert!(diags.is_empty(), "{diags:?}");
        stack
    }

    #[test]
    fn recorded_components_keep_their_dependencies_and_specs_compare_as_read() {
        use crate::model::ComponentKind;
        use crate::recorded::deploys_what_is_deployed;
        use crate::state::{ComponentStatus, DeploymentRecord, RecordedPiece};

        let stack = resolved(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/notification-platform"),
        );
        let api = stack
            .components
            .iter()
            .find(|c| c.id.component == "api")
            .expect("api");
        let applied = serde_json::to_value(&api.spec).expect("json");
        let mut state = StateDocument::new("np", "development", jiff::Timestamp::UNIX_EPOCH);
        state.components.insert(
            "email-service/api".into(),
            ComponentState {
                kind: ComponentKind::MicroService,
                physical_ids: BTreeMap::new(),
                applied_spec: applied.clone(),
                outputs: BTreeMap::new(),
                status: ComponentStatus::Ready,
                updated_at: String::new(),
                deployment_id: "d-0".into(),
                depends_on: None,
            },
        );
        let id = |c: &str| ComponentId::new("email-service", c);
        let deps_with = |state: &StateDocument, records: &BTreeMap<String, DeploymentRecord>| {
            current_components(Some(state), &BTreeMap::new(), &|_, _| None, records)
                .remove(&id("api"))
                .map(|c| c.depends_on)
                .unwrap_or_default()
        };
        // Neither the state nor a record keeps them: the spec's valueFrom references.
        assert_eq!(
            deps_with(&state, &BTreeMap::new()),
            [id("database"), id("queue")]
        );
        // The record of the deployment that applied it.
        let record = DeploymentRecord {
            id: "d-0".into(),
            spec: serde_json::json!({"email-service/api": applied}),
            pieces: [(
                "email-service/api".to_string(),
                RecordedPiece {
                    depends_on: vec!["email-service/queue".into()],
                    config_files: BTreeMap::new(),
                },
            )]
            .into(),
            ..DeploymentRecord::default()
        };
        let records: BTreeMap<String, DeploymentRecord> =
            [("d-0".to_string(), record.clone())].into();
        assert_eq!(deps_with(&state, &records), [id("queue")]);
        // The state's own list wins.
        if let Some(c) = state.components.get_mut("email-service/api") {
            c.depends_on = Some(vec!["database".into()]);
        }
        assert_eq!(deps_with(&state, &records), [id("database")]);

        // The record deployed what state holds, also when written before a field existed
        // (an absent optional field reads as its default).
        assert!(deploys_what_is_deployed(&record, &state));
        let mut older = record.clone();
        let spec = older
            .spec
            .get_mut("email-service/api")
            .and_then(|s| s.as_object_mut())
            .expect("object");
        let nulls: Vec<String> = spec
            .iter()
            .filter(|(_, v)| v.is_null())
            .map(|(k, _)| k.clone())
            .collect();
        assert!(
            !nulls.is_empty(),
            "the api spec has optional fields: {spec:?}"
        );
        for k in nulls {
            spec.remove(&k);
        }
        assert_ne!(older.spec, record.spec);
        assert!(deploys_what_is_deployed(&older, &state));
        // Another image is another deployment, and so is another set of components.
        let mut other = record.clone();
        other.spec["email-service/api"]["image"]["tag"] = serde_json::json!("v2");
        assert!(!deploys_what_is_deployed(&other, &state));
        let mut more = record;
        more.spec["email-service/queue"] = serde_json::json!({"kind": "SQS"});
        assert!(!deploys_what_is_deployed(&more, &state));
    }
}
