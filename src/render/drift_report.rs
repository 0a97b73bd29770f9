//! `panka drift` for people: per component ✓ in sync / ✗ drifted (with each field's
//! `path: expected → actual`) / ✗ missing, the orphans, and a summary line with the hint.

use panka_core::diag::Palette;
use panka_core::drift::{DriftReport, DriftStatus, Orphan};
use serde_json::Value;
use std::fmt::Write as _;

pub const HINT: &str = "run `panka apply` to restore the recorded configuration";
const ORPHAN_HINT: &str =
    "`panka apply` does not delete orphans: remove them by hand once you know who made them";

/// A value as JSON (strings quoted, so `"80"` and `80` differ), or `(absent)`.
fn value(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "(absent)".to_string(),
        Some(v) => serde_json::to_string(v).unwrap_or_else(|_| v.to_string()),
    }
}

fn orphan_kind(kind: &str) -> &str {
    match kind {
        "sqs_queue" => "SQS queue",
        "rds_instance" => "RDS instance",
        "elasticache_replication_group" => "ElastiCache replication group",
        "ecs_service" => "ECS service",
        "target_group" => "target group",
        "load_balancer" => "load balancer",
        other => other,
    }
}

/// One stack and environment: the tree, then the orphans.
pub fn render(report: &DriftReport, palette: Palette) -> String {
    let p = palette;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}Drift: {} ({}){}",
        p.bold, report.stack, report.environment, p.reset
    );
    if report.components.is_empty() {
        let _ = writeln!(out, "└── nothing recorded in state");
    }
    let id_width = report
        .components
        .iter()
        .map(|c| c.component.to_string().chars().count())
        .max()
        .unwrap_or(0);
    let kind_width = report
        .components
        .iter()
        .map(|c| c.kind.name().len())
        .max()
        .unwrap_or(0);
    for (i, c) in report.components.iter().enumerate() {
        let last = i + 1 == report.components.len();
        let (branch, under) = if last {
            ("└──", "    ")
        } else {
            ("├──", "│   ")
        };
        let (mark, colour, status) = match c.status {
            DriftStatus::InSync => ("✓", p.ok, "in sync"),
            DriftStatus::Drifted => ("✗", p.error, "drifted"),
            DriftStatus::Missing => (
                "✗",
                p.error,
                "missing (recorded in state, not found in AWS)",
            ),
        };
        let _ = writeln!(
            out,
            "{branch} {colour}{mark}{} {:<id_width$}  {:<kind_width$}  {status}",
            p.reset,
            c.component.to_string(),
            c.kind.name(),
        );
        for f in &c.fields {
            let _ = writeln!(
                out,
                "{under}    {}: {} → {}",
                f.path,
                value(f.expected.as_ref()),
                value(f.actual.as_ref())
            );
        }
    }
    if !report.orphans.is_empty() {
        let _ = writeln!(
            out,
            "\nOrphans: tagged {}/{} in AWS, unknown to state",
            report.stack, report.environment
        );
        for o in &report.orphans {
            let _ = writeln!(out, "  {}✗{} {}", p.error, p.reset, orphan_line(o));
        }
    }
    out
}

fn orphan_line(o: &Orphan) -> String {
    match &o.component {
        Some(component) => format!("{}  {}  ({component})", orphan_kind(&o.kind), o.id),
        None => format!("{}  {}", orphan_kind(&o.kind), o.id),
    }
}

/// The summary of one stack and environment, with the hints when there is drift.
pub fn summary(report: &DriftReport, palette: Palette) -> String {
    let p = palette;
    let total = report.components.len();
    let in_sync = report.count(DriftStatus::InSync);
    if !report.drifted {
        return format!(
            "\n{}✓{} No drift: {total} component{} in sync with the recorded state.\n",
            p.ok,
            p.reset,
            plural(total)
        );
    }
    let mut out = format!(
        "\n{}✗{} Drift found: {} drifted, {} missing, {} orphan{}; {in_sync} of {total} component{} in sync.\n",
        p.error,
        p.reset,
        report.count(DriftStatus::Drifted),
        report.count(DriftStatus::Missing),
        report.orphans.len(),
        plural(report.orphans.len()),
        plural(total),
    );
    out.push_str(&hints(
        report.count(DriftStatus::InSync) < total,
        !report.orphans.is_empty(),
        p,
    ));
    out
}

fn hints(changed: bool, orphans: bool, p: Palette) -> String {
    let mut out = String::new();
    if changed {
        let _ = writeln!(out, "  {}hint{}: {HINT}", p.bold, p.reset);
    }
    if orphans {
        let _ = writeln!(out, "  {}hint{}: {ORPHAN_HINT}", p.bold, p.reset);
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// One stack and environment of `--all` that could not be checked.
pub fn failed(stack: &str, environment: &str, error: &str, palette: Palette) -> String {
    format!(
        "{}Drift: {stack} ({environment}){}\n└── {}✗{} not checked: {error}\n",
        palette.bold, palette.reset, palette.error, palette.reset
    )
}

/// The one summary of `--all`.
pub fn summary_all(reports: &[&DriftReport], failed: usize, palette: Palette) -> String {
    let p = palette;
    let drifted = reports.iter().filter(|r| r.drifted).count();
    let checked = reports.len() + failed;
    let mut out = format!(
        "\nChecked {checked} stack environment{}: {drifted} drifted, {} in sync, {failed} not checked.\n",
        plural(checked),
        reports.len() - drifted,
    );
    let changed = reports
        .iter()
        .any(|r| r.count(DriftStatus::InSync) < r.components.len());
    let orphans = reports.iter().any(|r| !r.orphans.is_empty());
    out.push_str(&hints(changed, orphans, p));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use panka_core::drift::{ComponentDrift, FieldDrift};
    use panka_core::model::{ComponentId, ComponentKind};
    use serde_json::json;

    fn report() -> DriftReport {
        DriftReport::new(
            "shop",
            "dev",
            vec![
                ComponentDrift {
                    component: ComponentId::new("mail", "queue"),
                    kind: ComponentKind::Sqs,
                    status: DriftStatus::Drifted,
                    fields: vec![FieldDrift {
                        path: "visibility_timeout_seconds".into(),
                        expected: Some(json!(300)),
                        actual: Some(json!(45)),
                    }],
                },
                ComponentDrift {
                    component: ComponentId::new("mail", "api"),
                    kind: ComponentKind::MicroService,
                    status: DriftStatus::InSync,
                    fields: Vec::new(),
                },
                ComponentDrift {
                    component: ComponentId::new("mail", "spare"),
                    kind: ComponentKind::Sqs,
                    status: DriftStatus::Missing,
                    fields: Vec::new(),
                },
            ],
            vec![Orphan {
                kind: "sqs_queue".into(),
                id: "https://q/old".into(),
                component: Some("mail/old".into()),
            }],
        )
    }

    #[test]
    fn renders_each_component_field_and_orphan() {
        let text = render(&report(), Palette::PLAIN) + &summary(&report(), Palette::PLAIN);
        assert_eq!(
            text,
            "Drift: shop (dev)\n\
             ├── ✓ mail/api    MicroService  in sync\n\
             ├── ✗ mail/queue  SQS           drifted\n\
             │       visibility_timeout_seconds: 300 → 45\n\
             └── ✗ mail/spare  SQS           missing (recorded in state, not found in AWS)\n\
             \n\
             Orphans: tagged shop/dev in AWS, unknown to state\n  \
             ✗ SQS queue  https://q/old  (mail/old)\n\
             \n\
             ✗ Drift found: 1 drifted, 1 missing, 1 orphan; 1 of 3 components in sync.\n  \
             hint: run `panka apply` to restore the recorded configuration\n  \
             hint: `panka apply` does not delete orphans: remove them by hand once you know who made them\n"
        );
    }

    #[test]
    fn in_sync_says_so_without_hints_and_values_keep_their_type() {
        let clean = DriftReport::new("shop", "dev", Vec::new(), Vec::new());
        assert_eq!(
            summary(&clean, Palette::PLAIN),
            "\n✓ No drift: 0 components in sync with the recorded state.\n"
        );
        assert_eq!(value(Some(&json!("80"))), "\"80\"");
        assert_eq!(value(Some(&json!(80))), "80");
        assert_eq!(value(None), "(absent)");
        let all = summary_all(&[&clean, &report()], 1, Palette::PLAIN);
        assert!(
            all.starts_with(
                "\nChecked 3 stack environments: 1 drifted, 1 in sync, 1 not checked.\n"
            ),
            "{all}"
        );
        assert!(all.contains(HINT));
    }
}
