//! `${NAME}` interpolation in every string of a spec, with `$${` as an escape.

use crate::diag::{Diagnostic, Diagnostics, Severity};
use crate::read::did_you_mean;
use crate::yaml::Node;
use std::collections::BTreeMap;

/// Variables in precedence order: the first layer that defines a name wins. The CLI
/// passes `--var`, then `--var-file`, then `PANKA_VAR_*`; the loader appends the
/// environment file's `variables`.
#[derive(Clone, Debug, Default)]
pub struct Variables {
    layers: Vec<BTreeMap<String, String>>,
}

impl Variables {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a layer below all existing ones.
    pub fn push_layer(&mut self, layer: BTreeMap<String, String>) {
        self.layers.push(layer);
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.layers
            .iter()
            .find_map(|l| l.get(name))
            .map(String::as_str)
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.layers
            .iter()
            .flat_map(|l| l.keys())
            .map(String::as_str)
    }
}

/// Is `name` a valid variable name?
pub fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Replaces `${NAME}` in every scalar of `node`. An undefined name is reported with
/// `undefined` severity (`E050`; a note when validating without variables) and leaves
/// the scalar marked unresolved so typed checks skip it. Malformed references are
/// always errors (`E051`).
pub fn interpolate(
    node: &mut Node,
    vars: &Variables,
    undefined: Severity,
    diags: &mut Diagnostics,
) {
    node.for_each_scalar_mut(&mut |span, scalar| {
        if !scalar.text.contains('$') {
            return;
        }
        // Position of the scalar's first character: quoted scalars start after the quote.
        // Escapes before a reference shift it further; the line is still right.
        let base = if scalar.quoted { 1 } else { 0 };
        let single_line = !scalar.text.contains('\n');
        let mut out = String::with_capacity(scalar.text.len());
        let mut rest = scalar.text.as_str();
        let mut consumed_chars = 0u32;
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            consumed_chars += rest[..pos].chars().count() as u32;
            let after = &rest[pos..];
            if let Some(tail) = after.strip_prefix("$${") {
                out.push_str("${");
                rest = tail;
                consumed_chars += 3;
                continue;
            }
            let Some(body) = after.strip_prefix("${") else {
                out.push('$');
                rest = &after[1..];
                consumed_chars += 1;
                continue;
            };
            let ref_span = if single_line {
                span.shifted(base + consumed_chars, 2)
            } else {
                span
            };
            let Some(end) = body.find('}') else {
                diags.push(
                    Diagnostic::at("E051", ref_span, "unterminated `${` in a variable reference")
                        .with_label("no closing `}`")
                        .with_hint("write `$${` for a literal `${`"),
                );
                out.push_str(after);
                rest = "";
                break;
            };
            let name = &body[..end];
            let whole_len = name.chars().count() as u32 + 3;
            let ref_span = if single_line {
                ref_span.shifted(0, whole_len)
            } else {
                span
            };
            if !is_variable_name(name) {
                diags.push(
                    Diagnostic::at("E051", ref_span, format!("`${{{name}}}` is not a valid variable reference"))
                        .with_label("invalid name")
                        .with_hint("names use letters, digits and underscores, not starting with a digit"),
                );
                out.push_str(&after[..end + 3]);
            } else if let Some(value) = vars.get(name) {
                out.push_str(value);
            } else {
                let mut d = Diagnostic::at("E050", ref_span, format!("variable `{name}` is not defined"))
                    .with_severity(undefined)
                    .with_label("undefined variable");
                d = match did_you_mean(name, vars.names()) {
                    Some(s) => d.with_hint(format!("did you mean `{s}`? Or pass `--var {name}=…`")),
                    None => d.with_hint(format!(
                        "pass `--var {name}=…`, set `PANKA_VAR_{name}`, or add it to the environment's `variables`"
                    )),
                };
                diags.push(d);
                scalar.unresolved = true;
                out.push_str(&after[..end + 3]);
            }
            consumed_chars += whole_len;
            rest = &body[end + 1..];
        }
        out.push_str(rest);
        scalar.text = out;
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceId;
    use crate::yaml::parse_document;

    fn vars(pairs: &[(&str, &str)]) -> Variables {
        let mut v = Variables::new();
        v.push_layer(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        v
    }

    #[test]
    fn substitutes_and_escapes() {
        let mut node = parse_document(SourceId(0), "a: \"x-${V}-$${V}\"\nb: ${N}\n").expect("yaml");
        let mut diags = Diagnostics::default();
        interpolate(
            &mut node,
            &vars(&[("V", "1.0"), ("N", "3")]),
            Severity::Error,
            &mut diags,
        );
        assert!(diags.is_empty());
        assert_eq!(node.get("a").and_then(Node::as_str), Some("x-1.0-${V}"));
        assert_eq!(node.get("b").map(Node::type_name), Some("an integer"));
    }

    #[test]
    fn reports_undefined_with_column() {
        let mut node = parse_document(SourceId(0), "tag: \"${VERSION}\"\n").expect("yaml");
        let mut diags = Diagnostics::default();
        interpolate(
            &mut node,
            &vars(&[("VERSIN", "1")]),
            Severity::Error,
            &mut diags,
        );
        let d = diags.iter().next().expect("one diagnostic");
        assert_eq!(d.code, "E050");
        let span = d.span().expect("span");
        assert_eq!((span.line, span.column, span.len), (1, 7, 10));
        assert!(d.hint.as_deref().is_some_and(|h| h.contains("VERSIN")));
    }

    #[test]
    fn earlier_layers_win() {
        let mut v = vars(&[("A", "cli")]);
        v.push_layer(
            [
                ("A".to_string(), "env".to_string()),
                ("B".to_string(), "env".to_string()),
            ]
            .into(),
        );
        assert_eq!(v.get("A"), Some("cli"));
        assert_eq!(v.get("B"), Some("env"));
    }

    #[test]
    fn reports_malformed_references() {
        let mut node = parse_document(SourceId(0), "a: ${1X}\nb: x${\n").expect("yaml");
        let mut diags = Diagnostics::default();
        interpolate(&mut node, &Variables::new(), Severity::Error, &mut diags);
        let codes: Vec<_> = diags.iter().map(|d| d.code).collect();
        assert_eq!(codes, ["E051", "E051"]);
    }
}
