//! The four component kinds: their specs and how each is read from YAML.

use super::{ComponentKind, ComponentSpec, InfraSpec, Located};
use crate::diag::{Diagnostic, Diagnostics};
use crate::read::{self, MapReader};
use crate::repo_path::Boundary;
use crate::source::Span;
use crate::yaml::{Node, Value};
use serde::{Deserialize, Deserializer};
use std::path::Path;

/// An edge to another component, as written: through `valueFrom` (which also names an
/// output) or `dependsOn`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    pub target: Located<String>,
    pub output: Option<Located<String>>,
}

/// A value from a closed set (`postgres`, `fifo`, …). An alias, because serde would
/// otherwise try to borrow a `&'static str` field from the input.
pub type Choice = &'static str;

/// Every closed-set value the specs hold as `&'static str`, so a spec recorded in state
/// (or a saved plan) reads back into the same type.
const KNOWN_VALUES: &[&str] = &[
    "fargate",
    "x86_64",
    "arm64",
    "http",
    "tcp",
    "postgres",
    "mysql",
    "mariadb",
    "gp2",
    "gp3",
    "io1",
    "io2",
    "replication-group",
    "cache-cluster",
    "aws",
];

pub(crate) fn known_str<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<&'static str, D::Error> {
    let text = String::deserialize(deserializer)?;
    KNOWN_VALUES
        .iter()
        .find(|k| **k == text)
        .copied()
        .ok_or_else(|| serde::de::Error::custom(format!("unknown value `{text}`")))
}

// ---------------------------------------------------------------- lowering

/// What a component reader needs besides the spec tree.
pub struct LowerContext<'a> {
    /// Folder of the component, for `configs` files.
    pub component_dir: &'a Path,
    /// What may be read: config files are checked against it.
    pub boundary: &'a Boundary,
    /// The component's service, for bare component names in references.
    pub service: &'a str,
    pub references: Vec<Reference>,
}

/// Reads `dependsOn`, which every kind accepts.
fn read_depends_on(spec: &mut MapReader, ctx: &mut LowerContext, diags: &mut Diagnostics) {
    if let Some(items) = spec.string_list("dependsOn", diags) {
        for (target, span) in items {
            ctx.references.push(Reference {
                target: Located {
                    value: target,
                    span,
                },
                output: None,
            });
        }
    }
}

pub fn lower_component(
    kind: ComponentKind,
    spec: &mut MapReader,
    infra: InfraSpec,
    ctx: &mut LowerContext,
    diags: &mut Diagnostics,
) -> ComponentSpec {
    let lowered = ComponentSpec::lower(kind, spec, infra, ctx, diags);
    read_depends_on(spec, ctx, diags);
    lowered
}

/// A Secrets Manager secret as a reference names it: its name (1–512 of letters, digits
/// and `/_+=.@-`, as Secrets Manager allows) or its ARN. Anything else fails only when ECS
/// or RDS resolves it during apply, after other changes were made.
pub(crate) fn check_secret_ref(node: Option<&Node>, path: &str, diags: &mut Diagnostics) {
    let Some(node) = node else { return };
    let Value::Scalar(scalar) = &node.value else {
        return;
    };
    if scalar.unresolved {
        return;
    }
    let text = scalar.text.as_str();
    let problem = if text.trim().is_empty() {
        Some("is empty")
    } else if text.starts_with("arn:") {
        (text.split(':').nth(2) != Some("secretsmanager"))
            .then_some("is an ARN, but not of a Secrets Manager secret")
    } else if text.chars().count() > 512 {
        Some("is longer than the 512 characters of a secret name")
    } else if !text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c))
    {
        Some("is not a secret name (letters, digits and `/_+=.@-`) or ARN")
    } else {
        None
    };
    if let Some(problem) = problem {
        diags.push(
            Diagnostic::at(
                "E025",
                Span {
                    len: text.chars().count().max(1) as u32,
                    ..node.span
                },
                format!("`{path}` {problem}"),
            )
            .with_label("not a secret")
            .with_hint("name the Secrets Manager secret by its name or ARN"),
        );
    }
}

/// The JSON key read inside a secret. ECS joins it into `<arn>:<key>::`, so a key with
/// `:` would name a different part; an empty key would inject the whole document.
pub(crate) fn check_secret_key(node: Option<&Node>, path: &str, diags: &mut Diagnostics) {
    let Some(node) = node else { return };
    let Value::Scalar(scalar) = &node.value else {
        return;
    };
    if scalar.unresolved {
        return;
    }
    let text = scalar.text.as_str();
    let problem = if text.trim().is_empty() {
        "is empty"
    } else if text.contains(':') {
        "contains `:`, which ECS reads as the end of the key"
    } else {
        return;
    };
    diags.push(
        Diagnostic::at(
            "E025",
            Span {
                len: text.chars().count().max(1) as u32,
                ..node.span
            },
            format!("`{path}` {problem}"),
        )
        .with_label("not a JSON key")
        .with_hint(
            "name a key of the secret's JSON object, or remove `key` to use the whole secret",
        ),
    );
}

pub(crate) fn port_value(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<u16> {
    read::int(node, path, 1..=65535, diags).map(|p| p as u16)
}
