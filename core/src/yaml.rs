//! A YAML tree that remembers where every key and value came from.
//!
//! We build our own small tree from `saphyr-parser` events instead of deserialising with
//! serde: serde stops at the first error of a document and loses positions inside
//! flattened and tagged types, while validation must report *every* problem with its
//! exact `file:line:column`.

use crate::diag::{Diagnostic, Location};
use crate::source::{SourceId, Span};
use saphyr_parser::{Event, Parser, ScalarStyle};
use std::collections::HashMap;

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub span: Span,
    pub value: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Scalar {
    pub text: String,
    /// Quoted and block scalars are always strings; plain ones may be numbers or booleans.
    pub quoted: bool,
    /// The scalar still contains a `${VAR}` that no source defined; typed checks on it
    /// are skipped (the undefined variable itself was already reported).
    pub unresolved: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_span: Span,
    pub value: Node,
}

impl Node {
    pub fn type_name(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Scalar(s) if s.quoted => "a string",
            Value::Scalar(s) => match plain_scalar_type(&s.text) {
                PlainType::Int => "an integer",
                PlainType::Float => "a number",
                PlainType::Bool => "a boolean",
                PlainType::Str => "a string",
            },
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|e| e.key == key)
            .map(|e| &e.value)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        match &mut self.value {
            Value::Map(entries) => entries
                .iter_mut()
                .find(|e| e.key == key)
                .map(|e| &mut e.value),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(s) => Some(&s.text),
            _ => None,
        }
    }

    /// Visits every scalar, depth first, in document order.
    /// Whether any scalar of the tree satisfies `f`.
    pub fn any_scalar(&self, f: &impl Fn(&Scalar) -> bool) -> bool {
        match &self.value {
            Value::Scalar(s) => f(s),
            Value::Seq(items) => items.iter().any(|n| n.any_scalar(f)),
            Value::Map(entries) => entries.iter().any(|e| e.value.any_scalar(f)),
            Value::Null => false,
        }
    }

    pub fn for_each_scalar_mut(&mut self, f: &mut impl FnMut(Span, &mut Scalar)) {
        match &mut self.value {
            Value::Scalar(s) => f(self.span, s),
            Value::Seq(items) => items.iter_mut().for_each(|n| n.for_each_scalar_mut(f)),
            Value::Map(entries) => entries
                .iter_mut()
                .for_each(|e| e.value.for_each_scalar_mut(f)),
            Value::Null => {}
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlainType {
    Int,
    Float,
    Bool,
    Str,
}

/// The YAML 1.2 core schema's reading of a plain scalar.
pub fn plain_scalar_type(text: &str) -> PlainType {
    match text {
        "true" | "True" | "TRUE" | "false" | "False" | "FALSE" => return PlainType::Bool,
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return PlainType::Int;
    }
    if text.parse::<f64>().is_ok() && text.chars().any(|c| c.is_ascii_digit()) {
        return PlainType::Float;
    }
    PlainType::Str
}

fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// `end` is the position just after the text: the parser places empty values at the end
/// of input on the line after the last one, where no diagnostic may point.
fn span_of(source: SourceId, sp: &saphyr_parser::Span, end: (u32, u32)) -> Span {
    if sp.start.line() as u32 > end.0 {
        return Span {
            source,
            line: end.0,
            column: end.1,
            len: 0,
        };
    }
    let len = if sp.end.line() == sp.start.line() {
        sp.end.col().saturating_sub(sp.start.col()) as u32
    } else {
        1
    };
    Span {
        source,
        line: sp.start.line() as u32,
        column: sp.start.col() as u32 + 1,
        len,
    }
}

/// The last line of `text` (1-based, as `split('\n')` counts) and the column after it.
fn end_of(text: &str) -> (u32, u32) {
    // Bytes, not chars: every file is scanned once, and a line break is one byte.
    let lines = text.bytes().filter(|b| *b == b'\n').count() + 1;
    let last = &text[text.rfind('\n').map_or(0, |i| i + 1)..];
    (lines as u32, last.chars().count() as u32 + 1)
}

/// A syntax error's position, kept inside `text`: at the end of input the parser may report
/// the line after the last one (text without a final line break), and a diagnostic must
/// point at a line that exists (found by fuzzing, `core/tests/it/fuzz_loader.rs`).
fn error_span(source: SourceId, text: &str, line: usize, column: usize) -> Span {
    let end = end_of(text);
    let (line, column) = if line as u32 > end.0 {
        end
    } else {
        let width = text
            .split('\n')
            .nth(line - 1)
            .map_or(0, |l| l.chars().count());
        (line as u32, column.min(width + 1) as u32)
    };
    Span {
        source,
        line,
        column,
        len: 1,
    }
}

enum Frame {
    Seq(Span, Vec<Node>, usize),
    Map(Span, Vec<Entry>, Option<(String, Span)>, usize),
}

/// Parses one file that must hold exactly one YAML document.
///
/// Errors: a syntax error (`E001`), a duplicate key (`E002`, reported and the later
/// value kept out), a non-scalar key, or a file with no or several documents (`E003`).
pub fn parse_document(source: SourceId, text: &str) -> Result<Node, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut documents: Vec<Node> = Vec::new();
    let mut extra_doc_span: Option<Span> = None;
    let mut doc_count = 0usize;
    let end = end_of(text);

    for event in Parser::new_from_str(text) {
        let (event, raw_span) = match event {
            Ok(ev) => ev,
            Err(err) => {
                let m = err.marker();
                let span = error_span(source, text, m.line().max(1), m.col() + 1);
                diags.push(
                    Diagnostic::at("E001", span, format!("invalid YAML: {}", err.info()))
                        .with_label("here"),
                );
                return Err(diags);
            }
        };
        let span = span_of(source, &raw_span, end);
        let finished: Option<(Node, usize)> = match event {
            Event::DocumentStart(_) => {
                doc_count += 1;
                if doc_count == 2 {
                    extra_doc_span = Some(span);
                }
                None
            }
            Event::Scalar(text, style, anchor, _tag) => {
                let quoted = !matches!(style, ScalarStyle::Plain);
                let value = if !quoted && is_null(&text) {
                    Value::Null
                } else {
                    Value::Scalar(Scalar {
                        text: text.into_owned(),
                        quoted,
                        unresolved: false,
                    })
                };
                Some((Node { span, value }, anchor))
            }
            Event::Alias(id) => anchors.get(&id).cloned().map(|n| {
                (
                    Node {
                        span,
                        value: n.value,
                    },
                    0,
                )
            }),
            Event::SequenceStart(anchor, _) => {
                stack.push(Frame::Seq(span, Vec::new(), anchor));
                None
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Frame::Map(span, Vec::new(), None, anchor));
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(start, items, anchor)) => Some((
                    Node {
                        span: start,
                        value: Value::Seq(items),
                    },
                    anchor,
                )),
                _ => None,
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(start, entries, _, anchor)) => Some((
                    Node {
                        span: start,
                        value: Value::Map(entries),
                    },
                    anchor,
                )),
                _ => None,
            },
            _ => None,
        };
        let Some((node, anchor)) = finished else {
            continue;
        };
        if anchor != 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            Some(Frame::Seq(_, items, _)) => items.push(node),
            Some(Frame::Map(_, entries, pending_key, _)) => match pending_key.take() {
                // The key's node is not kept: its text moves into the entry.
                None => match node.value {
                    Value::Scalar(s) => *pending_key = Some((s.text, node.span)),
                    Value::Null => *pending_key = Some((String::new(), node.span)),
                    _ => {
                        diags.push(
                            Diagnostic::at("E001", node.span, "mapping keys must be plain text")
                                .with_label("complex key"),
                        );
                        *pending_key = Some((String::new(), node.span));
                    }
                },
                Some((key, key_span)) => {
                    if entries.iter().any(|e| e.key == key) {
                        diags.push(
                            Diagnostic::at("E002", key_span, format!("duplicate key `{key}`"))
                                .with_label("defined again here")
                                .with_hint("remove one of them"),
                        );
                    } else {
                        entries.push(Entry {
                            key,
                            key_span,
                            value: node,
                        });
                    }
                }
            },
            None => documents.push(node),
        }
    }

    if let Some(span) = extra_doc_span {
        diags.push(
            Diagnostic::at("E003", span, "a file may hold only one YAML document")
                .with_label("second document starts here")
                .with_hint("put each document in its own file"),
        );
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    match documents.into_iter().next() {
        Some(node) if node.value != Value::Null => Ok(node),
        _ => Err(vec![
            Diagnostic::error(
                "E003",
                Location::At(Span {
                    source,
                    line: 1,
                    column: 1,
                    len: 0,
                }),
                "the file is empty",
            )
            .with_hint(
                "every file holds one document with `apiVersion`, `kind`, `metadata` and `spec`",
            ),
        ]),
    }
}

/// Deep merge used by environment overrides and infra layering: maps merge key by key,
/// lists and scalars replace. Merged-in values keep their own spans, so a problem in an
/// override is reported in the environment file.
pub fn deep_merge(base: &mut Node, overlay: &Node) {
    match (&mut base.value, &overlay.value) {
        (Value::Map(base_entries), Value::Map(overlay_entries)) => {
            for entry in overlay_entries {
                match base_entries.iter_mut().find(|e| e.key == entry.key) {
                    Some(existing) => deep_merge(&mut existing.value, &entry.value),
                    None => base_entries.push(entry.clone()),
                }
            }
        }
        _ => *base = overlay.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Node, Vec<Diagnostic>> {
        parse_document(SourceId(0), text)
    }

    #[test]
    fn keeps_positions_of_keys_and_values() {
        let node = parse("a: 1\nb:\n  c: \"x\"\n").expect("valid yaml");
        let b = node.get("b").expect("b");
        let c = b.get("c").expect("c");
        assert_eq!((c.span.line, c.span.column), (3, 6));
        let entry = &b.as_map().expect("map")[0];
        assert_eq!((entry.key_span.line, entry.key_span.column), (3, 3));
        assert_eq!(c.type_name(), "a string");
        assert_eq!(node.get("a").map(Node::type_name), Some("an integer"));
    }

    #[test]
    fn reports_duplicate_keys_and_syntax_errors() {
        let errs = parse("a: 1\na: 2\n").expect_err("duplicate");
        assert_eq!(errs[0].code, "E002");
        assert_eq!(errs[0].span().map(|s| s.line), Some(2));
        let errs = parse("a: [1, 2\nb: 3\n").expect_err("syntax");
        assert_eq!(errs[0].code, "E001");
    }

    #[test]
    fn syntax_errors_at_the_end_point_inside_the_text() {
        // No final line break: the parser reports the (missing) line after the last one.
        let errs = parse("a:\n  b: 1\n  m").expect_err("syntax");
        assert_eq!(errs[0].code, "E001");
        let span = errs[0].span().expect("span");
        assert_eq!((span.line, span.column), (3, 4), "{errs:?}");
    }

    #[test]
    fn values_at_the_end_of_input_stay_on_the_last_line() {
        // Found by fuzzing: an empty key at the end of a file without a final line break
        // was placed on the line after the last one.
        let node = parse("? ").expect("a map with an empty key");
        let entry = &node.as_map().expect("map")[0];
        assert_eq!(entry.key_span.line, 1, "{entry:?}");
        assert!(entry.value.span.line <= 1, "{entry:?}");
    }

    #[test]
    fn rejects_empty_and_multi_document_files() {
        assert_eq!(parse("").expect_err("empty")[0].code, "E003");
        assert_eq!(
            parse("# only a comment\n").expect_err("empty")[0].code,
            "E003"
        );
        let errs = parse("a: 1\n---\nb: 2\n").expect_err("two docs");
        assert_eq!(errs[0].code, "E003");
    }

    #[test]
    fn resolves_aliases() {
        let node = parse("x: &a {k: v}\ny: *a\n").expect("valid");
        assert_eq!(
            node.get("y")
                .and_then(|y| y.get("k"))
                .and_then(Node::as_str),
            Some("v")
        );
    }

    #[test]
    fn merges_maps_and_replaces_lists() {
        let mut base = parse("a: {b: 1, c: [1, 2]}\n").expect("valid");
        let overlay = parse("a: {c: [3], d: 4}\n").expect("valid");
        deep_merge(&mut base, &overlay);
        let a = base.get("a").expect("a");
        assert_eq!(a.get("b").and_then(Node::as_str), Some("1"));
        assert!(matches!(&a.get("c").expect("c").value, Value::Seq(items) if items.len() == 1));
        assert_eq!(a.get("d").and_then(Node::as_str), Some("4"));
    }
}
