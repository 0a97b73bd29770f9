//! What apply, rollback and destroy print after the Finalizing block: the result, how
//! long it took, version and who; then the resources changed, the main outputs and the
//! next steps.

use super::progress::took;
use panka_core::engine::Outcome;
use panka_core::model::{ComponentId, ComponentKind};
use panka_core::plan::{Action, Plan};
use panka_core::state::ComponentState;
use std::collections::BTreeMap;
use std::time::Duration;

/// The run the summary is about.
pub struct Summary<'a> {
    /// `apply`, `rollback` or `destroy`.
    pub operation: &'a str,
    pub stack: &'a str,
    pub environment: &'a str,
    pub version: &'a str,
    pub who: &'a str,
    /// How long the command took.
    pub took: Duration,
}

impl Summary<'_> {
    /// Everything after the Finalizing block: the result, duration, version and who; on
    /// success the resources changed, the outputs and the next steps.
    pub fn render(
        &self,
        outcome: &Outcome,
        plan: &Plan,
        finished: &[(ComponentId, Action)],
        components: &BTreeMap<String, ComponentState>,
    ) -> String {
        let what = capitalise(noun(self.operation));
        let mut text = format!("\n{}\n", "─".repeat(48));
        match outcome {
            Outcome::Success => text.push_str(&format!("✓ {what} successful!\n")),
            Outcome::RolledBack { failed } => {
                text.push_str(&format!("⚠ {what} failed and was rolled back\n"));
                for (id, e) in failed {
                    text.push_str(&format!("  ✗ {id}: {e}\n"));
                }
            }
            Outcome::Failed {
                failed,
                rollback_errors,
            } => {
                text.push_str(&format!("✗ {what} failed\n"));
                text.push_str(&failure_lines(failed, rollback_errors));
            }
            Outcome::Interrupted => {
                text.push_str("Interrupted: finished work is saved; run apply again to continue.\n")
            }
        }
        text.push_str(&format!("\nDuration: {}\n", took(self.took)));
        if !self.version.is_empty() {
            text.push_str(&format!("Version: {}\n", self.version));
        }
        text.push_str(&format!("Deployed by: {}\n", self.who));
        // A rolled-back run changed nothing that stayed.
        if !matches!(outcome, Outcome::RolledBack { .. }) {
            text.push_str(&resources_changed(plan, finished));
        }
        let main = main_outputs(components);
        if !main.is_empty() {
            text.push_str("\nOutputs:\n");
            for (name, value) in &main {
                text.push_str(&format!("  {name}: {value}\n"));
            }
        }
        if *outcome == Outcome::Success && self.operation != "destroy" {
            let (stack, environment) = (self.stack, self.environment);
            text.push_str("\nNext steps:\n");
            let services = components
                .iter()
                .filter(|(_, c)| c.kind == ComponentKind::MicroService);
            for (id, c) in services {
                if let Some(url) = c.outputs.get("url") {
                    text.push_str(&format!(
                        "  • Test: curl {}/health\n",
                        url.trim_end_matches('/')
                    ));
                }
                text.push_str(&format!(
                "  • Logs: panka logs --component {id} --stack {stack} --environment {environment} --follow\n"
            ));
            }
            text.push_str(&format!(
                "  • Status: panka status --stack {stack} --environment {environment}\n"
            ));
        }
        text.push_str(&format!("{}\n", "─".repeat(48)));
        text
    }
}

/// What the operation is called in its result line.
pub fn noun(operation: &str) -> &'static str {
    match operation {
        "rollback" => "rollback",
        "destroy" => "destroy",
        _ => "deployment",
    }
}

/// `Resources created:` and the like, each with the changes of this run that finished, in
/// plan order.
fn resources_changed(plan: &Plan, finished: &[(ComponentId, Action)]) -> String {
    let mut text = String::new();
    for (action, title) in [
        (Action::Create, "created"),
        (Action::Update, "updated"),
        (Action::Replace, "replaced"),
        (Action::Delete, "deleted"),
    ] {
        let lines: Vec<String> = plan
            .waves
            .iter()
            .flatten()
            .filter(|c| c.action == action && finished.contains(&(c.component.clone(), action)))
            .map(|c| format!("  • {} ({})\n", c.component, c.kind))
            .collect();
        if !lines.is_empty() {
            text.push_str(&format!("\nResources {title}:\n{}", lines.concat()));
        }
    }
    text
}

/// The outputs people use first (a service's or queue's `url`, a database's or cache's
/// `endpoint`), named `<component>_<output>` with hyphens as underscores (`api_url`,
/// `database_endpoint`); a component name used by several services is prefixed with its
/// service (`email_service_api_url`), so a name never stands for two components.
pub fn main_outputs(components: &BTreeMap<String, ComponentState>) -> BTreeMap<String, String> {
    let ids: Vec<ComponentId> = components
        .keys()
        .filter_map(|k| ComponentId::parse(k, ""))
        .collect();
    let mut named = BTreeMap::new();
    for id in &ids {
        let Some(c) = components.get(&id.to_string()) else {
            continue;
        };
        let shared = ids.iter().filter(|o| o.component == id.component).count() > 1;
        let base = if shared {
            format!("{}_{}", id.service, id.component)
        } else {
            id.component.clone()
        };
        for key in ["url", "endpoint"] {
            if let Some(value) = c.outputs.get(key) {
                named.insert(format!("{base}_{key}").replace('-', "_"), value.clone());
            }
        }
    }
    named
}

pub fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// One line per failed change, then one per change that could not be reverted. Reverting
/// a failed change often fails for the same reason (a create refused by AWS cannot be
/// deleted either); that repeats nothing the reader needs, so it is not said twice.
fn failure_lines(
    failed: &[(ComponentId, String)],
    rollback_errors: &[(ComponentId, String)],
) -> String {
    let mut text = String::new();
    for (id, e) in failed {
        text.push_str(&format!("  ✗ {id}: {e}\n"));
    }
    for (id, e) in rollback_errors {
        if failed.iter().any(|(f, fe)| f == id && fe == e) {
            continue;
        }
        text.push_str(&format!("  ✗ {id} (not reverted): {e}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_that_also_stopped_its_revert_is_said_once() {
        let id = ComponentId::new("orders", "reports");
        let other = ComponentId::new("orders", "audit");
        let refused = "SQS queue q exists and was not created by panka".to_string();
        let lines = failure_lines(
            &[(id.clone(), refused.clone())],
            &[(id, refused.clone()), (other, "throttled".into())],
        );
        assert_eq!(
            lines,
            format!("  ✗ orders/reports: {refused}\n  ✗ orders/audit (not reverted): throttled\n")
        );
    }
}
