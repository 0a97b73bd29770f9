//! The walkthrough's "Deployment Plan" box.

use panka_core::cost::Estimate;
use panka_core::desired::DesiredPiece;
use panka_core::plan::{Action, DurationHistory, Plan, PlannedChange};
use std::fmt::Write as _;
use std::time::Duration;

/// Sum over waves of the slowest change of each wave, each change taking what such
/// changes took in recent deployments (`history`), else a typical AWS time.
pub fn estimated_duration(plan: &Plan, history: &DurationHistory) -> Duration {
    panka_core::plan::estimated_duration(plan, history)
}

pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("~{s} seconds")
    } else {
        format!("~{} minutes", s.div_ceil(60))
    }
}

fn value(v: &Option<serde_json::Value>) -> String {
    match v {
        None => "(none)".into(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// `old → new`, with a long prefix both share (a registry path, an ARN) shown as `…`
/// so the change itself stays readable: `…/email-api:v1.0.0 → …/email-api:v1.0.1`.
fn before_after(before: &str, after: &str) -> String {
    let shared: usize = before
        .char_indices()
        .zip(after.chars())
        .take_while(|((_, a), b)| a == b)
        .filter(|((_, a), _)| *a == '/')
        .map(|((i, _), _)| i)
        .last()
        .unwrap_or(0);
    if shared >= 12 && before.len().max(after.len()) > 40 {
        format!("…{} → …{}", &before[shared..], &after[shared..])
    } else {
        format!("{before} → {after}")
    }
}

fn change_lines(change: &PlannedChange, piece: Option<&DesiredPiece>) -> Vec<String> {
    let (sign, word) = match change.action {
        Action::Create => ("+", "CREATE"),
        Action::Update => ("~", "UPDATE"),
        Action::Replace => ("±", "REPLACE"),
        Action::Delete => ("-", "DELETE"),
        Action::Noop => ("=", "NO CHANGE"),
    };
    let head = format!("{sign} {} ({})", change.component, change.kind);
    let mut lines = vec![format!("  {head:<38} {word}")];
    match change.action {
        Action::Create => {
            if let Some(p) = piece {
                lines.extend(
                    p.spec
                        .key_attributes()
                        .into_iter()
                        .map(|a| format!("    - {a}")),
                );
            }
        }
        Action::Update | Action::Replace => {
            for f in &change.fields {
                let marker = if f.forces_replace {
                    " (forces replacement)"
                } else {
                    ""
                };
                lines.push(format!(
                    "    - {}: {}{marker}",
                    f.diff.path,
                    before_after(&value(&f.diff.before), &value(&f.diff.after))
                ));
            }
        }
        Action::Delete | Action::Noop => {}
    }
    lines
}

/// The box, `width` characters inside the borders at least.
pub fn render(
    plan: &Plan,
    pieces: &[DesiredPiece],
    estimate: &Estimate,
    durations: &DurationHistory,
) -> String {
    let mut body: Vec<String> = vec![String::new()];
    if !plan.targets.is_empty() {
        body.push(format!(
            "Targeted plan (--target): {}",
            plan.targets.join(", ")
        ));
        body.push("  and what it depends on; other changes are left for later".into());
        body.push(String::new());
    }
    let by_id: std::collections::BTreeMap<_, &DesiredPiece> =
        pieces.iter().map(|p| (p.id(), p)).collect();
    let piece = |c: &PlannedChange| by_id.get(&c.component).copied();
    let visible: Vec<&Vec<PlannedChange>> = plan
        .waves
        .iter()
        .filter(|w| w.iter().any(|c| c.action != Action::Noop))
        .collect();
    for (i, wave) in visible.iter().enumerate() {
        let changes: Vec<&PlannedChange> =
            wave.iter().filter(|c| c.action != Action::Noop).collect();
        let title = if i == 0 {
            let n = changes.len();
            format!(
                "Wave {} ({n} resource{}{}):",
                i + 1,
                if n == 1 { "" } else { "s" },
                if n > 1 { ", parallel" } else { "" }
            )
        } else {
            format!("Wave {} (after wave {} completes):", i + 1, i)
        };
        body.push(title);
        for (j, c) in changes.iter().enumerate() {
            if j > 0 {
                body.push(String::new());
            }
            body.extend(change_lines(c, piece(c)));
        }
        body.push(String::new());
    }
    if visible.is_empty() {
        body.push("No changes: the infrastructure matches the stack files.".into());
        body.push(String::new());
    }
    let s = &plan.summary;
    let mut summary = vec![
        "Summary:".to_string(),
        format!("  + {} to create", s.create),
        format!("  ✓ {} to update", s.update),
    ];
    if s.replace > 0 {
        summary.push(format!("  ± {} to replace", s.replace));
    }
    summary.push(format!("  - {} to delete", s.delete));
    summary.push(String::new());
    summary.push(format!(
        "Estimated duration: {}",
        human_duration(estimated_duration(plan, durations))
    ));
    summary.push(format!("Estimated cost: {}", estimate.summary()));
    summary.push(String::new());
    let dangerous = plan.dangerous();
    if dangerous.is_empty() {
        summary.push("✓ No dangerous operations".into());
    } else {
        summary.push(format!(
            "⚠ {} dangerous operation{}:",
            dangerous.len(),
            if dangerous.len() == 1 { "" } else { "s" }
        ));
        for c in dangerous {
            let what = if c.action == Action::Delete {
                "deletes"
            } else {
                "replaces"
            };
            summary.push(format!(
                "  {what} {} ({}): its data is lost",
                c.component, c.kind
            ));
        }
    }
    if !plan.targets.is_empty() {
        summary.push(String::new());
        summary.push("⚠ Partial plan: run without --target to converge everything".into());
    }
    let title = format!("Deployment Plan: {} ({})", plan.stack, plan.environment);
    let width = std::iter::once(&title)
        .chain(body.iter())
        .chain(summary.iter())
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0)
        .max(55)
        + 2;
    let line = |text: &str| {
        format!(
            "│ {text}{} │\n",
            " ".repeat(width - 2 - text.chars().count())
        )
    };
    let rule = "─".repeat(width);
    let mut out = String::new();
    let _ = writeln!(out, "┌{rule}┐");
    out.push_str(&line(&title));
    let _ = writeln!(out, "├{rule}┤");
    body.iter().for_each(|l| out.push_str(&line(l)));
    let _ = writeln!(out, "├{rule}┤");
    summary.iter().for_each(|l| out.push_str(&line(l)));
    let _ = writeln!(out, "└{rule}┘");
    out
}

#[cfg(test)]
mod tests {
    use super::before_after;

    #[test]
    fn long_shared_prefixes_are_elided() {
        assert_eq!(
            before_after(
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/email-api:v1.0.0",
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/email-api:v1.0.1"
            ),
            "…/email-api:v1.0.0 → …/email-api:v1.0.1"
        );
        assert_eq!(before_after("300", "120"), "300 → 120");
        assert_eq!(
            before_after("db.t3.small", "db.t3.medium"),
            "db.t3.small → db.t3.medium"
        );
    }
}
