//! The four component kinds: their specs and how each is read from YAML.

use super::{ComponentKind, ComponentSpec, InfraSpec, Located};
use crate::diag::{Diagnostic, Diagnostics};
use crate::read::{self, MapReader};
use crate::repo_path::Boundary;
use crate::source::Span;
use crate::yaml::{Node, Value};
use std::path::Path;

/// An edge to another component, as written: through `valueFrom` (which also names an
/// output) or `dependsOn`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    pub target: Located<String>,
    pub output: Option<Located<String>>,
}

/// A closed set of words a spec field takes (`postgres`, `cache-cluster`, …), as an enum.
/// Declared with `closed_set!`, so the reader's "must be one of" list, the words in
/// state and saved plans, and what AWS is sent all come from the enum's one list.
pub trait ClosedSet: Copy + Eq + std::fmt::Display + 'static {
    /// Every value, in the order the "must be one of" message lists them.
    const ALL: &'static [Self];

    /// The word as written in YAML, recorded in state and sent to AWS.
    fn as_str(&self) -> &'static str;

    /// The value `word` names, if any.
    fn from_word(word: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|value| value.as_str() == word)
    }
}

/// Declares a [`ClosedSet`] enum from one list of `Variant => "word"`: the enum, `ALL`,
/// `as_str`, `Display` and serde under the same words. One list, because the serde names
/// and the words lowering accepts must never differ: a spec recorded in state by an
/// earlier version has to read back.
macro_rules! closed_set {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$variant_meta:meta])* $variant:ident => $word:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $( $(#[$variant_meta])* #[serde(rename = $word)] $variant, )+
        }

        impl $crate::model::ClosedSet for $name {
            const ALL: &'static [Self] = &[$(Self::$variant),+];

            fn as_str(&self) -> &'static str {
                match self {
                    $(Self::$variant => $word,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                // `pad`, so widths and alignment work as they do for the word itself.
                f.pad($crate::model::ClosedSet::as_str(self))
            }
        }
    };
}
pub(crate) use closed_set;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CpuArchitecture, Engine, Platform, Protocol, RedisMode, StorageType};
    use serde::{Serialize, de::DeserializeOwned};

    /// State and saved plans hold the words: each value writes its word and reads back.
    fn words_round_trip<T: ClosedSet + Serialize + DeserializeOwned + std::fmt::Debug>(
        words: &[&str],
    ) {
        let listed: Vec<&str> = T::ALL.iter().map(ClosedSet::as_str).collect();
        assert_eq!(listed, words);
        for value in T::ALL {
            let json = serde_json::to_string(value).expect("serialises");
            assert_eq!(json, format!("\"{}\"", value.as_str()));
            assert_eq!(serde_json::from_str::<T>(&json).ok(), Some(*value));
            assert_eq!(value.to_string(), value.as_str());
            assert_eq!(T::from_word(value.as_str()), Some(*value));
        }
        assert!(serde_json::from_str::<T>("\"unknown\"").is_err());
    }

    #[test]
    fn closed_sets_keep_the_words_state_holds() {
        words_round_trip::<Platform>(&["fargate"]);
        words_round_trip::<CpuArchitecture>(&["x86_64", "arm64"]);
        words_round_trip::<Protocol>(&["http", "tcp"]);
        words_round_trip::<Engine>(&["postgres", "mysql", "mariadb"]);
        words_round_trip::<StorageType>(&["gp2", "gp3", "io1", "io2"]);
        words_round_trip::<RedisMode>(&["replication-group", "cache-cluster"]);
    }
}
