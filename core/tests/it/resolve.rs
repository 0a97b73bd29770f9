//! Resolving the walkthrough's stack per environment: infra layering, overrides,
//! variables, references and waves.

use crate::support::files::walkthrough;
use panka_core::diag::{Diagnostics, Severity};
use panka_core::graph::Graph;
use panka_core::interp::Variables;
use panka_core::loader::{ResolveOptions, ResolvedStack, read_stack_files, resolve};
use panka_core::model::{ComponentId, ComponentSpec, EnvValue, StorageType};
use panka_core::source::Sources;
use std::collections::{BTreeMap, BTreeSet};

fn resolve_env(
    environment: Option<&str>,
    vars: &[(&str, &str)],
    undefined: Severity,
) -> (ResolvedStack, Diagnostics) {
    let mut sources = Sources::default();
    let mut diags = Diagnostics::default();
    let files = read_stack_files(&walkthrough(), &mut sources, &mut diags);
    let mut variables = Variables::new();
    variables.push_layer(
        vars.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    let stack = resolve(
        &files,
        &ResolveOptions {
            environment,
            variables: &variables,
            undefined_variables: undefined,
        },
        &mut diags,
    );
    (stack, diags)
}

fn component<'a>(stack: &'a ResolvedStack, id: &str) -> &'a ComponentSpec {
    &stack
        .components
        .iter()
        .find(|c| c.id.to_string() == id)
        .unwrap_or_else(|| panic!("{id} missing"))
        .spec
}

#[test]
fn development_uses_the_component_infra_and_the_variables() {
    let (stack, diags) = resolve_env(
        Some("development"),
        &[("VERSION", "v1.0.0")],
        Severity::Error,
    );
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(stack.spec.region, "us-east-1");
    let ComponentSpec::MicroService(api) = component(&stack, "email-service/api") else {
        panic!("api is a MicroService")
    };
    assert_eq!(
        api.image.reference(),
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/email-api:v1.0.0"
    );
    assert_eq!(api.image.short(), "email-api:v1.0.0");
    assert_eq!(
        (api.infra.cpu, api.infra.memory, api.infra.replicas),
        (256, 512, 2)
    );
    let auto = api.infra.autoscaling.as_ref().expect("autoscaling");
    assert_eq!(
        (
            auto.min_replicas,
            auto.max_replicas,
            auto.target_cpu_percent
        ),
        (2, 10, 70)
    );
    assert!(api.load_balancer.enabled);
    assert_eq!(
        api.readiness.as_ref().map(|r| (r.path.as_str(), r.port)),
        Some(("/health/ready", 8080))
    );
    assert_eq!(api.secrets[0].env_var, "DATABASE_PASSWORD");
    assert_eq!(
        api.environment[0].value,
        EnvValue::From {
            component: "email-service/database".into(),
            output: "endpoint".into()
        }
    );
    let configs = api.configs.as_ref().expect("configs");
    assert!(configs.files[0].path.ends_with("api/configs/app.yaml"));

    let ComponentSpec::Rds(db) = component(&stack, "email-service/database") else {
        panic!("database is RDS")
    };
    assert_eq!(
        (db.instance_class.as_str(), db.allocated_gb),
        ("db.t3.small", 20)
    );
    let ComponentSpec::Sqs(queue) = component(&stack, "email-service/queue") else {
        panic!("queue is SQS")
    };
    assert_eq!(queue.visibility_timeout_seconds, 300);
    assert_eq!(
        queue
            .dead_letter_queue
            .as_ref()
            .map(|d| d.max_receive_count),
        Some(3)
    );
}

#[test]
fn production_overrides_merge_into_spec_and_infra() {
    let (stack, diags) = resolve_env(
        Some("production"),
        &[("VERSION", "v1.0.0")],
        Severity::Error,
    );
    assert!(diags.is_empty(), "{diags:?}");
    let ComponentSpec::Rds(db) = component(&stack, "email-service/database") else {
        panic!("RDS")
    };
    // Maps merge: the class and size change, the storage type stays.
    assert_eq!(
        (db.instance_class.as_str(), db.allocated_gb, db.storage_type),
        ("db.t3.medium", 50, StorageType::Gp3)
    );
    let ComponentSpec::MicroService(api) = component(&stack, "email-service/api") else {
        panic!("MicroService")
    };
    assert_eq!(api.infra.replicas, 3);
    assert_eq!(
        api.infra.memory, 512,
        "untouched infra keeps the component's value"
    );
    assert_eq!(
        stack
            .environment_spec
            .as_ref()
            .and_then(|e| e.require_approval),
        Some(true)
    );
    assert_eq!(
        stack
            .environment_spec
            .as_ref()
            .and_then(|e| e.network.as_ref())
            .map(|n| (n.public_subnets.len(), n.private_subnets.len())),
        Some((2, 2)),
        "the single `subnets` list serves as both"
    );
}

#[test]
fn undefined_variables_are_errors_for_plan_and_notes_for_validate() {
    let (_, diags) = resolve_env(Some("development"), &[], Severity::Error);
    let found: Vec<_> = diags.iter().map(|d| (d.code, d.severity)).collect();
    assert_eq!(found, [("E050", Severity::Error)]);
    let (_, diags) = resolve_env(None, &[], Severity::Note);
    assert!(!diags.has_errors());
}

#[test]
fn waves_follow_value_from_and_depends_on() {
    let (stack, mut diags) = resolve_env(None, &[("VERSION", "v1")], Severity::Error);
    let graph = Graph::build(&stack.components, &BTreeSet::new(), &mut diags);
    assert!(diags.is_empty());
    assert!(graph.cycles().is_empty());
    let waves: Vec<Vec<String>> = graph
        .waves()
        .iter()
        .map(|w| w.iter().map(ComponentId::to_string).collect())
        .collect();
    assert_eq!(
        waves,
        vec![
            vec![
                "email-service/database".to_string(),
                "email-service/queue".to_string()
            ],
            vec!["email-service/api".to_string()]
        ]
    );
}

#[test]
fn applied_specs_read_back_from_state_unchanged() {
    let (stack, diags) = resolve_env(
        Some("production"),
        &[("VERSION", "v1.0.0")],
        Severity::Error,
    );
    assert!(diags.is_empty());
    for c in &stack.components {
        let recorded = serde_json::to_value(&c.spec).expect("serialise");
        let back: ComponentSpec = serde_json::from_value(recorded.clone()).expect("deserialise");
        assert_eq!(
            serde_json::to_value(&back).expect("serialise"),
            recorded,
            "{}",
            c.id
        );
    }
    let bad = serde_json::json!({"kind": "SQS", "fifo": "maybe"});
    assert!(serde_json::from_value::<ComponentSpec>(bad).is_err());
}

#[test]
fn the_walkthrough_stack_becomes_jobs_with_inputs_and_configs() {
    use panka_core::desired::{jobs, pieces, planned_components};
    use panka_core::plan::{Action, plan};
    use panka_core::reconcile::FieldChange;
    let (stack, mut diags) = resolve_env(
        Some("development"),
        &[("VERSION", "v1.0.0")],
        Severity::Error,
    );
    let graph = Graph::build(&stack.components, &BTreeSet::new(), &mut diags);
    assert!(diags.is_empty());
    let pieces = pieces(&stack, &graph, "development").expect("pieces");
    let api = pieces
        .iter()
        .find(|p| p.id().component == "api")
        .expect("api");
    assert!(!api.ctx.production);
    assert_eq!(api.ctx.region, "us-east-1");
    assert!(
        api.config_files
            .get("app.yaml")
            .is_some_and(|t| t.contains("email-api"))
    );
    let refs: Vec<(String, String, String)> = api
        .env_refs
        .iter()
        .map(|r| (r.name.clone(), r.component.to_string(), r.output.clone()))
        .collect();
    assert_eq!(
        refs,
        [
            (
                "DATABASE_HOST".to_string(),
                "email-service/database".to_string(),
                "endpoint".to_string()
            ),
            (
                "QUEUE_URL".to_string(),
                "email-service/queue".to_string(),
                "url".to_string()
            )
        ]
    );
    let desired = planned_components(
        &pieces,
        None,
        &|p, inputs| serde_json::json!({"kind": p.kind().name(), "env": inputs.resolved_env}),
    );
    let p = plan(
        &stack.name,
        "development",
        None,
        &desired,
        &BTreeMap::new(),
        &|_, _| FieldChange::InPlace,
    );
    assert_eq!(p.summary.create, 3);
    let jobs = jobs(&p, &pieces, &stack, "development");
    let api_job = jobs
        .iter()
        .find(|j| j.ctx.id.component == "api")
        .expect("api job");
    assert_eq!(api_job.action, Action::Create);
    assert_eq!(api_job.wave, 2);
    assert_eq!(api_job.depends_on.len(), 2);
}
