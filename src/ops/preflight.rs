//! The read-only checks run after planning and before the first change: the secrets the
//! plan's creates and updates refer to, the environment's network and its domain.

use super::load::{Loaded, SecretRefs};
use crate::error::UserError;
use crate::output::Ui;
use panka_core::model::{ComponentId, ComponentSpec};
use panka_core::plan::{Action, Plan};
use panka_core::source::Sources;
use panka_providers::aws::AwsClients;
use panka_providers::microservice::https;
use panka_providers::secrets::{PreflightError, SecretCheck, preflight_checks};
use std::collections::BTreeSet;

/// Checks, before any change, that every secret the plan's creates and updates refer to
/// exists and can be used (see `secrets::preflight_checks`); nothing else is touched.
/// Prints a warning for each key-less reference to a JSON-object secret (the whole
/// document would be injected), with the `key:` to add; never a value.
///
/// Errors: one message naming every unusable reference at its `file:line:column`, with
/// the component and the secret; or the AWS error when the check itself failed.
pub async fn secrets(
    secrets: &SecretRefs,
    plan: &Plan,
    clients: &AwsClients,
    ui: &Ui,
) -> anyhow::Result<()> {
    let changing = changing(plan);
    let checks: Vec<SecretCheck> = secrets
        .0
        .iter()
        .filter(|c| changing.contains(&c.at.component))
        .cloned()
        .collect();
    if checks.is_empty() {
        return Ok(());
    }
    match preflight_checks(&clients.secretsmanager, &checks).await {
        Ok(warnings) => {
            for w in &warnings {
                ui.err(&format!("warning: {w}\n  hint: {}\n", w.hint()));
            }
            Ok(())
        }
        Err(PreflightError::Missing(missing)) => {
            let n = missing.len();
            let mut message = format!(
                "{n} secret reference{} cannot be used; nothing was changed",
                if n == 1 { "" } else { "s" }
            );
            for m in &missing {
                message.push_str(&format!("\n  {m}"));
            }
            let mut seen = BTreeSet::new();
            let hints: Vec<String> = missing
                .iter()
                .map(|m| m.hint())
                .filter(|h| seen.insert(h.clone()))
                .collect();
            Err(UserError::new(message)
                .hint(hints.join("\n        "))
                .into())
        }
        Err(PreflightError::Provider(e)) => Err(UserError::from(e)
            .doing("cannot check the stack's secrets")
            .into()),
    }
}

/// Checks, before any change, that the environment's network is usable when the plan
/// creates or changes something that lives in it (MicroService, RDS, Redis): the VPC and
/// every subnet exist, each subnet is in the VPC, each list spans two availability zones
/// (`network::preflight`, read-only calls). Without a `network`, the default VPC must
/// resolve.
///
/// Errors: one message naming every problem at the `file:line:column` of the id in the
/// environment file; or the AWS error when the check itself failed.
pub async fn network(
    loaded: &Loaded,
    plan: &Plan,
    clients: &AwsClients,
    cwd: &std::path::Path,
) -> anyhow::Result<()> {
    let changing = changing(plan);
    let placed = loaded
        .stack
        .components
        .iter()
        .any(|c| changing.contains(&c.id) && !matches!(c.spec, ComponentSpec::Sqs(_)));
    if !placed {
        return Ok(());
    }
    let network = loaded
        .stack
        .environment_spec
        .as_ref()
        .and_then(|e| e.network.as_ref());
    let problems = match panka_providers::network::preflight(&clients.ec2, network).await {
        Ok(problems) => problems,
        Err(e) => {
            return Err(UserError::from(e)
                .doing("cannot use the environment's network")
                .into());
        }
    };
    let Some(network) = network.filter(|_| !problems.is_empty()) else {
        return Ok(());
    };
    let file = environment_file(loaded, cwd);
    let n = problems.len();
    let mut message = format!(
        "the environment's network has {n} problem{}; nothing was changed",
        if n == 1 { "" } else { "s" }
    );
    for problem in &problems {
        let span = if problem.subject == network.vpc_id {
            network.at.vpc_id
        } else {
            network.at.subnets.get(&problem.subject).copied()
        }
        .or(network.at.network);
        match span {
            Some(span) => message.push_str(&format!(
                "\n  {file}:{}:{}: {}",
                span.line, span.column, problem.message
            )),
            None => message.push_str(&format!("\n  {}", problem.message)),
        }
    }
    Err(UserError::new(message)
        .hint(format!(
            "check `spec.network` of environment `{}` against `aws ec2 describe-subnets --filters Name=vpc-id,Values={}` in region {}",
            loaded.environment, network.vpc_id, loaded.stack.spec.region
        ))
        .into())
}

/// Checks, before any change, the environment's domain when the plan creates or changes
/// a service with hosts on it: the hosted zone resolves, and a `certificateArn` the team
/// names exists, is issued and covers every host (`https::preflight::check`).
///
/// Errors: one message naming every problem at the `file:line:column` of the value in the
/// environment file; or the AWS error when the check itself failed.
pub async fn domain(
    loaded: &Loaded,
    plan: &Plan,
    clients: &AwsClients,
    cwd: &std::path::Path,
) -> anyhow::Result<()> {
    let Some(domain) = loaded
        .stack
        .environment_spec
        .as_ref()
        .and_then(|e| e.domain.as_ref())
    else {
        return Ok(());
    };
    let changing = changing(plan);
    let mut hosts = Vec::new();
    for c in &loaded.stack.components {
        if let ComponentSpec::MicroService(ms) = &c.spec
            && changing.contains(&c.id)
        {
            let ctx = panka_core::desired::context(&loaded.stack, &loaded.environment, &c.id);
            hosts.extend(panka_core::model::service_hosts(&ctx, ms));
        }
    }
    if hosts.is_empty() {
        return Ok(());
    }
    let problems = https::preflight::check(&clients.route53, &clients.acm, domain, &hosts)
        .await
        .map_err(|e| UserError::from(e).doing("cannot check the environment's domain"))?;
    if problems.is_empty() {
        return Ok(());
    }
    let file = environment_file(loaded, cwd);
    let n = problems.len();
    let mut message = format!(
        "the environment's domain has {n} problem{}; nothing was changed",
        if n == 1 { "" } else { "s" }
    );
    let mut hints = Vec::new();
    for problem in &problems {
        let span = match problem.subject {
            https::preflight::Subject::Zone => domain.at.hosted_zone_id.or(domain.at.name),
            https::preflight::Subject::Certificate => domain.at.certificate_arn,
        }
        .or(domain.at.domain);
        match span {
            Some(span) => message.push_str(&format!(
                "\n  {file}:{}:{}: {}",
                span.line, span.column, problem.message
            )),
            None => message.push_str(&format!("\n  {}", problem.message)),
        }
        hints.extend(problem.hint.clone());
    }
    hints.dedup();
    Err(UserError::new(message)
        .hint(hints.join("\n        "))
        .into())
}

/// The components the plan creates, updates or replaces: what the checks are about.
fn changing(plan: &Plan) -> BTreeSet<&ComponentId> {
    plan.changes()
        .filter(|c| matches!(c.action, Action::Create | Action::Update | Action::Replace))
        .map(|c| &c.component)
        .collect()
}

/// The environment file's name as every diagnostic shows it (relative to the folder
/// panka runs in): problems found by the checks are reported at its spans.
fn environment_file(loaded: &Loaded, cwd: &std::path::Path) -> String {
    Sources::with_display_base(cwd).display_name(
        &loaded
            .stack_dir
            .join("environments")
            .join(&loaded.environment)
            .join("environment.yaml"),
    )
}
