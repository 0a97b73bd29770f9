//! The part every document shares: `apiVersion`, `kind`, `metadata`, `spec`.

use super::ComponentKind;
use crate::diag::{Diagnostic, Diagnostics};
use crate::read::{MapReader, did_you_mean, quoted_list};
use crate::source::Span;
use crate::yaml::{Node, Value};
use std::collections::BTreeMap;

pub const CORE_API: &str = "core.panka.io/v1";
pub const INFRA_API: &str = "infra.panka.io/v1";
pub const COMPONENTS_API: &str = "components.panka.io/v1";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocKind {
    Stack,
    Service,
    InfraDefaults,
    ComponentInfra,
    Environment,
    Component(ComponentKind),
}

impl DocKind {
    /// Every document kind: the stack's own, then one per component kind.
    pub fn all() -> impl Iterator<Item = DocKind> {
        [
            DocKind::Stack,
            DocKind::Service,
            DocKind::InfraDefaults,
            DocKind::ComponentInfra,
            DocKind::Environment,
        ]
        .into_iter()
        .chain(ComponentKind::ALL.map(DocKind::Component))
    }

    pub fn name(self) -> &'static str {
        match self {
            DocKind::Stack => "Stack",
            DocKind::Service => "Service",
            DocKind::InfraDefaults => "InfraDefaults",
            DocKind::ComponentInfra => "ComponentInfra",
            DocKind::Environment => "Environment",
            DocKind::Component(kind) => kind.name(),
        }
    }

    pub fn api_version(self) -> &'static str {
        match self {
            DocKind::Stack | DocKind::Service | DocKind::Environment => CORE_API,
            DocKind::InfraDefaults | DocKind::ComponentInfra => INFRA_API,
            DocKind::Component(_) => COMPONENTS_API,
        }
    }

    fn from_name(name: &str) -> Option<DocKind> {
        DocKind::all().find(|k| k.name() == name)
    }

    /// Which `metadata` keys besides `name`, `description`, `labels`, `annotations` the
    /// kind carries.
    fn owner_keys(self) -> (bool, bool) {
        match self {
            DocKind::Service => (false, true),
            DocKind::Component(_) | DocKind::ComponentInfra => (true, true),
            _ => (false, false),
        }
    }
}

/// A value and where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located<T> {
    pub value: T,
    pub span: Span,
}

#[derive(Clone, Debug, Default)]
pub struct Metadata {
    pub name: Option<Located<String>>,
    pub service: Option<Located<String>>,
    pub stack: Option<Located<String>>,
    pub description: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// Where the `metadata` key is, for "missing field" messages.
    pub span: Option<Span>,
}

/// A document whose envelope was read; `spec` is still a raw tree, lowered later by the
/// kind's own reader (after overrides and variables are applied).
#[derive(Clone, Debug)]
pub struct Envelope {
    pub kind: DocKind,
    pub kind_span: Span,
    pub metadata: Metadata,
    pub spec: Option<Node>,
    pub spec_span: Span,
}

/// Reads the envelope of `root`. `allowed` lists the kinds that may stand in this place
/// of the folder layout; another known kind is reported as misplaced (`E012`). The
/// document is taken so its `spec` moves into the envelope instead of being copied.
pub fn read_envelope(
    root: Node,
    allowed: &[DocKind],
    place: &str,
    diags: &mut Diagnostics,
) -> Option<Envelope> {
    let mut envelope = read_envelope_in(&root, allowed, place, diags)?;
    if envelope.spec.is_some()
        && let Value::Map(entries) = root.value
    {
        // The first `spec` entry is the one read above (a duplicate key is left out).
        envelope.spec = entries
            .into_iter()
            .find(|e| e.key == "spec")
            .map(|e| e.value);
    }
    Some(envelope)
}

/// The envelope with a placeholder `spec` (`Some(Null)` when the document has one).
fn read_envelope_in(
    root: &Node,
    allowed: &[DocKind],
    place: &str,
    diags: &mut Diagnostics,
) -> Option<Envelope> {
    let mut top = MapReader::new(root, "", root.span, diags)?;
    let api = top.required("apiVersion", diags);
    let kind_entry = top.entry("kind");
    let metadata_entry = top.entry("metadata");
    let spec_entry = top.entry("spec");
    top.finish(diags);

    let Some(kind_entry) = kind_entry else {
        diags.push(
            Diagnostic::at("E022", root.span, "missing required field `kind`")
                .with_label("`kind` is missing here")
                .with_hint(format!(
                    "{place} holds one of: {}",
                    quoted_list(&allowed.iter().map(|k| k.name()).collect::<Vec<_>>())
                )),
        );
        return None;
    };
    let kind_node = &kind_entry.value;
    let kind_text = crate::read::string(kind_node, "kind", diags)?;
    let kind_span = Span {
        len: kind_text.chars().count().max(1) as u32,
        ..kind_node.span
    };
    let Some(kind) = DocKind::from_name(&kind_text) else {
        let names: Vec<&str> = DocKind::all().map(|k| k.name()).collect();
        let mut d = Diagnostic::at("E011", kind_span, format!("unknown kind `{kind_text}`"))
            .with_label("unknown kind");
        d = match did_you_mean(&kind_text, names.iter().copied()) {
            Some(s) => d.with_hint(format!("did you mean `{s}`?")),
            None => d.with_hint(format!("known kinds: {}", names.join(", "))),
        };
        diags.push(d);
        return None;
    };

    if let Some(api) = api {
        match api.as_str() {
            Some(text) if text == kind.api_version() => {}
            Some(text) => {
                let known = [CORE_API, INFRA_API, COMPONENTS_API];
                let message = if known.contains(&text) {
                    format!(
                        "`{}` documents use `{}`, not `{text}`",
                        kind.name(),
                        kind.api_version()
                    )
                } else {
                    format!("unknown apiVersion `{text}`")
                };
                diags.push(
                    Diagnostic::at(
                        "E010",
                        Span {
                            len: text.chars().count().max(1) as u32,
                            ..api.span
                        },
                        message,
                    )
                    .with_label("unsupported apiVersion")
                    .with_hint(format!("use `apiVersion: {}`", kind.api_version())),
                );
            }
            None => diags.push(crate::read::wrong_type(api, "apiVersion", "text")),
        }
    }

    if !allowed.contains(&kind) {
        diags.push(
            Diagnostic::at(
                "E012",
                kind_span,
                format!("a `{}` document does not belong in {place}", kind.name()),
            )
            .with_label("misplaced document")
            .with_hint(format!(
                "{place} holds one of: {}",
                quoted_list(&allowed.iter().map(|k| k.name()).collect::<Vec<_>>())
            )),
        );
        return None;
    }

    let metadata = match metadata_entry {
        Some(entry) => read_metadata(kind, &entry.value, entry.key_span, diags),
        None => {
            diags.push(
                Diagnostic::at("E022", root.span, "missing required field `metadata`")
                    .with_label("`metadata` is missing here"),
            );
            Metadata::default()
        }
    };
    let (spec, spec_span) = match spec_entry {
        Some(entry) => (
            Some(Node {
                span: entry.value.span,
                value: Value::Null,
            }),
            entry.key_span,
        ),
        None => (None, root.span),
    };
    Some(Envelope {
        kind,
        kind_span,
        metadata,
        spec,
        spec_span,
    })
}

fn read_metadata(kind: DocKind, node: &Node, anchor: Span, diags: &mut Diagnostics) -> Metadata {
    let Some(mut m) = MapReader::new(node, "metadata", anchor, diags) else {
        return Metadata::default();
    };
    let located =
        |m: &mut MapReader, key: &'static str, required: bool, diags: &mut Diagnostics| {
            let node = if required {
                m.required(key, diags)?
            } else {
                m.get(key)?
            };
            let value = crate::read::string(node, &m.child_path(key), diags)?;
            Some(Located {
                value,
                span: node.span,
            })
        };
    let (has_service, has_stack) = kind.owner_keys();
    let name = located(&mut m, "name", true, diags);
    let service = if has_service {
        located(&mut m, "service", true, diags)
    } else {
        None
    };
    let stack = if has_stack {
        located(&mut m, "stack", false, diags)
    } else {
        None
    };
    let description = m.string("description", diags);
    let labels = m.string_map("labels", diags).unwrap_or_default();
    let annotations = m.string_map("annotations", diags).unwrap_or_default();
    m.finish(diags);
    Metadata {
        name,
        service,
        stack,
        description,
        labels,
        annotations,
        span: Some(anchor),
    }
}
