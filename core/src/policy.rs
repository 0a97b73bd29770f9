//! Built-in policy checks: what a platform team would refuse in production.
//!
//! Codes are stable: `P001` unpinned image, `P002` single replica, `P003` public
//! database, `P004` database without deletion protection, `P005` database without
//! backups, `P006` a `"*"` resource in a MicroService's `permissions` unless the
//! environment sets `policy.allowWildcardResources` (errors, production only); `P101` plain-text secret-looking variable
//! (warning, every environment).

use crate::diag::{Diagnostic, Diagnostics, Location, Severity};
use crate::loader::{Component, ResolvedStack};
use crate::model::{ComponentSpec, EnvValue};
use crate::source::Span;

/// Environments held to production rules.
pub fn is_production(environment: &str) -> bool {
    matches!(environment, "production" | "prod")
}

fn at(component: &Component, span: Option<Span>) -> Location {
    Location::At(span.unwrap_or(component.span))
}

pub fn check(stack: &ResolvedStack, diags: &mut Diagnostics) {
    let production = stack.environment.as_deref().is_some_and(is_production);
    let env = stack.environment.as_deref().unwrap_or("");
    for c in &stack.components {
        match &c.spec {
            ComponentSpec::MicroService(ms) => {
                for var in &ms.environment {
                    if let EnvValue::Literal(value) = &var.value {
                        let upper = var.name.to_ascii_uppercase();
                        let secret_like = ["PASSWORD", "SECRET", "TOKEN", "API_KEY", "PRIVATE_KEY"]
                            .iter()
                            .any(|w| upper.contains(w));
                        if secret_like && !value.is_empty() {
                            diags.push(
                                Diagnostic::error("P101", Location::At(c.span), format!(
                                    "`{}` sets `{}` as plain text; it will be visible in the task definition",
                                    c.id, var.name
                                ))
                                .with_severity(Severity::Warning)
                                .with_hint("move it to Secrets Manager and list it under `secrets`"),
                            );
                        }
                    }
                }
                if !production {
                    continue;
                }
                let allowed = stack
                    .environment_spec
                    .as_ref()
                    .is_some_and(|e| e.allow_wildcard_resources);
                let wildcards = ms.permissions.iter().filter_map(|p| p.wildcard_resource);
                for span in wildcards.filter(|_| !allowed) {
                    diags.push(
                        Diagnostic::at(
                            "P006",
                            span,
                            format!("`{}` grants its task role actions on every resource in {env}", c.id),
                        )
                        .with_label("wildcard resource")
                        .with_hint(format!(
                            "name the resources' ARNs, or set `spec.policy.allowWildcardResources: true` in the {env} environment.yaml"
                        )),
                    );
                }
                if ms.image.tag == "latest" || ms.image.tag.is_empty() {
                    diags.push(
                        Diagnostic::error(
                            "P001",
                            at(c, ms.image.tag_span),
                            format!("`{}` deploys image tag `latest` to {env}", c.id),
                        )
                        .with_label("unpinned image")
                        .with_hint(
                            "pin a version, e.g. `tag: \"${VERSION}\"` with `--var VERSION=v1.2.3`",
                        ),
                    );
                }
                let min = ms
                    .infra
                    .autoscaling
                    .as_ref()
                    .map(|a| a.min_replicas)
                    .unwrap_or(ms.infra.replicas);
                if min < 2 {
                    let span = match &ms.infra.autoscaling {
                        Some(a) => a.min_span.or(ms.infra.replicas_span),
                        None => ms.infra.replicas_span,
                    };
                    diags.push(
                        Diagnostic::error(
                            "P002",
                            at(c, span),
                            format!("`{}` runs {min} replica in {env}; at least 2 are required", c.id),
                        )
                        .with_label("single replica")
                        .with_hint(format!(
                            "set `scaling.replicas: 2` in its infra.yaml or in the {env} environment's overrides"
                        )),
                    );
                }
            }
            ComponentSpec::Rds(rds) if production => {
                if rds.publicly_accessible {
                    diags.push(
                        Diagnostic::error(
                            "P003",
                            at(c, rds.spans.publicly_accessible),
                            format!("database `{}` is publicly accessible in {env}", c.id),
                        )
                        .with_label("public database")
                        .with_hint(
                            "remove `publiclyAccessible: true`; services reach it inside the VPC",
                        ),
                    );
                }
                if rds.deletion_protection == Some(false) {
                    diags.push(
                        Diagnostic::error(
                            "P004",
                            at(c, rds.spans.deletion_protection),
                            format!("database `{}` turns deletion protection off in {env}", c.id),
                        )
                        .with_label("deletion protection off")
                        .with_hint(
                            "remove `deletionProtection: false`; production databases keep it on",
                        ),
                    );
                }
                if rds.backup_retention_days == 0 {
                    diags.push(
                        Diagnostic::error(
                            "P005",
                            at(c, rds.spans.backup_retention),
                            format!(
                                "database `{}` has automated backups disabled in {env}",
                                c.id
                            ),
                        )
                        .with_label("no backups")
                        .with_hint("keep `backup.retentionDays` at 1 or more"),
                    );
                }
            }
            _ => {}
        }
    }
}
