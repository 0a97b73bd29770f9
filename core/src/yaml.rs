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
use std::hash::{BuildHasher, RandomState};

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

/// How deeply lists and mappings may nest: the document's top-level mapping is level 1,
/// `spec` level 2, and panka's deepest field (a MicroService's readiness check under
/// `spec.healthCheck.readiness.http`) is level 5. A hundred levels leave room for any
/// hand-written or generated configuration, and bound every recursive pass over the tree
/// (merging, interpolation, the readers, cloning and dropping it), which would otherwise
/// overflow the stack on a document nested a few hundred thousand levels deep.
pub const MAX_DEPTH: usize = 100;

/// Aliases may expand a document to at most this many nodes, plus
/// [`ALIAS_NODES_PER_WRITTEN_NODE`] for every node written in the file before the alias.
/// An alias copies its anchored value in full, so eleven lines of lists of ten aliases to
/// the previous list describe 10^11 nodes; the bound keeps the tree proportional to the
/// file (a file of n written nodes holds at most 10,000 + 11n) while a file that reuses a
/// block of settings a few dozen times stays far below it.
pub const ALIAS_NODES_BASE: usize = 10_000;
/// See [`ALIAS_NODES_BASE`].
pub const ALIAS_NODES_PER_WRITTEN_NODE: usize = 10;

/// From this many entries on, a mapping keeps a hash index of its keys for the duplicate
/// check: below it a scan is cheaper than hashing, above it a scan per key made a mapping
/// of 100,000 keys take 51 s.
const INDEXED_FROM: usize = 16;

/// An open list or mapping while its events arrive.
struct Frame {
    span: Span,
    anchor: usize,
    /// Nodes in this collection so far, itself included (keys count as nodes).
    nodes: usize,
    /// Levels of lists and mappings below this one so far.
    below: usize,
    kind: FrameKind,
}

enum FrameKind {
    Seq(Vec<Node>),
    Map {
        entries: Vec<Entry>,
        /// The key read, waiting for its value.
        pending_key: Option<(String, Span)>,
        /// Key hash → position in `entries`, once the mapping has [`INDEXED_FROM`] entries.
        index: Option<HashMap<u64, usize>>,
    },
}

impl Frame {
    fn new(span: Span, anchor: usize, kind: FrameKind) -> Frame {
        Frame {
            span,
            anchor,
            nodes: 1,
            below: 0,
            kind,
        }
    }
}

/// A finished node with what the limits need to know about it.
#[derive(Clone)]
struct Built {
    node: Node,
    /// Nodes in it, itself included.
    nodes: usize,
    /// Levels of lists and mappings it has (0 for a scalar).
    height: usize,
}

/// Key equality for the duplicate check and merging; tests count the comparisons to show
/// that wide mappings are handled in linear time without timing anything.
fn same_key(a: &str, b: &str) -> bool {
    #[cfg(test)]
    tests::KEY_COMPARISONS.with(|n| n.set(n.get() + 1));
    a == b
}

/// Whether `key` is already in the mapping. Keys are compared exactly; a hash collision in
/// the index falls back to a scan.
fn has_key(
    entries: &[Entry],
    index: &mut Option<HashMap<u64, usize>>,
    hasher: &RandomState,
    key: &str,
) -> bool {
    if entries.len() < INDEXED_FROM {
        return entries.iter().any(|e| same_key(&e.key, key));
    }
    let index = index.get_or_insert_with(|| {
        let mut index = HashMap::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            index.entry(hasher.hash_one(e.key.as_str())).or_insert(i);
        }
        index
    });
    match index.get(&hasher.hash_one(key)) {
        None => false,
        Some(&i) if same_key(&entries[i].key, key) => true,
        Some(_) => entries.iter().any(|e| same_key(&e.key, key)),
    }
}

/// Parses one file that must hold exactly one YAML document.
///
/// Errors: a syntax error (`E001`), lists and mappings nested deeper than [`MAX_DEPTH`]
/// or aliases expanding beyond [`ALIAS_NODES_BASE`] (`E001`, the file is not read
/// further), a duplicate key (`E002`, reported and the later value kept out), a non-scalar
/// key, or a file with no or several documents (`E003`).
pub fn parse_document(source: SourceId, text: &str) -> Result<Node, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Built> = HashMap::new();
    let mut documents: Vec<Node> = Vec::new();
    let mut extra_doc_span: Option<Span> = None;
    let mut doc_count = 0usize;
    let end = end_of(text);
    let hasher = RandomState::new();
    // Nodes that events created, and nodes the tree holds (those plus alias copies).
    let mut written = 0usize;
    let mut total = 0usize;

    for event in Parser::new_from_str(text) {
        let (event, raw_span) = match event {
            Ok(ev) => ev,
            Err(err) => {
                let m = err.marker();
                let span = error_span(source, text, m.line().max(1), m.col() + 1);
                // Inside flow collections the scanner reads ahead of its events (a `[`
                // may still turn out to start a key) and stops at 255 levels itself:
                // `[[[…` reaches that before our count sees level 101. It is the same
                // limit to the reader.
                let d = if err.info() == "recursion limit exceeded" {
                    too_deep(span, "too deep here".to_string())
                } else {
                    Diagnostic::at("E001", span, format!("invalid YAML: {}", err.info()))
                        .with_label("here")
                };
                diags.push(d);
                return Err(diags);
            }
        };
        let span = span_of(source, &raw_span, end);
        let finished: Option<(Built, usize)> = match event {
            Event::DocumentStart(_) => {
                doc_count += 1;
                if doc_count == 2 {
                    extra_doc_span = Some(span);
                }
                None
            }
            Event::Scalar(text, style, anchor, _tag) => {
                written += 1;
                total += 1;
                let quoted = !matches!(style, ScalarStyle::Plain);
                let value = if !quoted && is_null(&text) {
                    Value::Null
                } else {
                    Value::Scalar(Scalar {
                        // A copy of exactly its length: the parser's own string has room
                        // for 160 bytes or more (it reserves a read buffer's worth), and
                        // keeping it made a tree of short values 5 to 10 times its text.
                        text: String::from(&*text),
                        quoted,
                        unresolved: false,
                    })
                };
                let node = Node { span, value };
                Some((
                    Built {
                        node,
                        nodes: 1,
                        height: 0,
                    },
                    anchor,
                ))
            }
            Event::Alias(id) => match anchors.get(&id) {
                None => None,
                Some(anchored) => {
                    let limit = ALIAS_NODES_BASE
                        .saturating_add(written.saturating_mul(ALIAS_NODES_PER_WRITTEN_NODE));
                    let deepest = stack.len() + anchored.height;
                    if deepest > MAX_DEPTH {
                        let label = format!("this alias's value reaches level {deepest}");
                        diags.push(too_deep(span, label));
                        return Err(diags);
                    }
                    if total.saturating_add(anchored.nodes) > limit {
                        diags.push(
                            Diagnostic::at(
                                "E001",
                                Span { len: 1, ..span },
                                format!(
                                    "aliases expand this document to more than {limit} nodes \
                                     ({ALIAS_NODES_BASE} plus {ALIAS_NODES_PER_WRITTEN_NODE} \
                                     per node written before this alias)"
                                ),
                            )
                            .with_label("this alias goes over the limit")
                            .with_hint(
                                "each use of an alias copies its anchored value in full; \
                                 write the repeated values out, or anchor smaller ones",
                            ),
                        );
                        return Err(diags);
                    }
                    total += anchored.nodes;
                    let mut copy = anchored.clone();
                    copy.node.span = span;
                    Some((copy, 0))
                }
            },
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    let label = format!("level {} starts here", MAX_DEPTH + 1);
                    diags.push(too_deep(span, label));
                    return Err(diags);
                }
                written += 1;
                total += 1;
                let kind = if matches!(event, Event::SequenceStart(..)) {
                    FrameKind::Seq(Vec::new())
                } else {
                    FrameKind::Map {
                        entries: Vec::new(),
                        pending_key: None,
                        index: None,
                    }
                };
                stack.push(Frame::new(span, anchor, kind));
                None
            }
            Event::SequenceEnd | Event::MappingEnd => stack.pop().map(|frame| {
                // Lists are kept at their length: growth leaves up to half of a list's
                // room unused, for the life of the tree.
                let value = match frame.kind {
                    FrameKind::Seq(mut items) => {
                        items.shrink_to_fit();
                        Value::Seq(items)
                    }
                    FrameKind::Map { mut entries, .. } => {
                        entries.shrink_to_fit();
                        Value::Map(entries)
                    }
                };
                (
                    Built {
                        node: Node {
                            span: frame.span,
                            value,
                        },
                        nodes: frame.nodes,
                        height: frame.below + 1,
                    },
                    frame.anchor,
                )
            }),
            _ => None,
        };
        let Some((built, anchor)) = finished else {
            continue;
        };
        if anchor != 0 {
            anchors.insert(anchor, built.clone());
        }
        let Some(parent) = stack.last_mut() else {
            documents.push(built.node);
            continue;
        };
        parent.nodes += built.nodes;
        parent.below = parent.below.max(built.height);
        let node = built.node;
        match &mut parent.kind {
            FrameKind::Seq(items) => items.push(node),
            FrameKind::Map {
                entries,
                pending_key,
                index,
            } => match pending_key.take() {
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
                    if has_key(entries, index, &hasher, &key) {
                        diags.push(
                            Diagnostic::at("E002", key_span, format!("duplicate key `{key}`"))
                                .with_label("defined again here")
                                .with_hint("remove one of them"),
                        );
                    } else {
                        if let Some(index) = index {
                            index
                                .entry(hasher.hash_one(key.as_str()))
                                .or_insert(entries.len());
                        }
                        entries.push(Entry {
                            key,
                            key_span,
                            value: node,
                        });
                    }
                }
            },
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

/// `E001` for nesting deeper than [`MAX_DEPTH`], at `span`.
fn too_deep(span: Span, label: String) -> Diagnostic {
    Diagnostic::at(
        "E001",
        Span { len: 1, ..span },
        format!("lists and mappings nest more than {MAX_DEPTH} levels deep"),
    )
    .with_label(label)
    .with_hint("panka's documents nest a few levels deep: check the indentation and brackets here")
}

/// Deep merge used by environment overrides and infra layering: maps merge key by key,
/// lists and scalars replace. Merged-in values keep their own spans, so a problem in an
/// override is reported in the environment file.
pub fn deep_merge(base: &mut Node, overlay: &Node) {
    match (&mut base.value, &overlay.value) {
        (Value::Map(base_entries), Value::Map(overlay_entries)) => {
            // Where each overlay key is in `base`, found before anything is added (keys are
            // unique in both). Wide mappings are looked up through an index: a scan per key
            // is quadratic when both are wide.
            let positions: Vec<Option<usize>> = if base_entries.len() * overlay_entries.len()
                <= INDEXED_FROM * INDEXED_FROM
            {
                overlay_entries
                    .iter()
                    .map(|o| base_entries.iter().position(|e| same_key(&e.key, &o.key)))
                    .collect()
            } else {
                let mut index: HashMap<&str, usize> = HashMap::with_capacity(base_entries.len());
                for (i, e) in base_entries.iter().enumerate() {
                    index.entry(e.key.as_str()).or_insert(i);
                }
                overlay_entries
                    .iter()
                    .map(|o| index.get(o.key.as_str()).copied())
                    .collect()
            };
            for (entry, at) in overlay_entries.iter().zip(positions) {
                match at {
                    Some(i) => deep_merge(&mut base_entries[i].value, &entry.value),
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

    thread_local! {
        pub(super) static KEY_COMPARISONS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// Key comparisons made by `f` on this thread.
    fn comparisons(f: impl FnOnce()) -> usize {
        KEY_COMPARISONS.with(|n| n.set(0));
        f();
        KEY_COMPARISONS.with(|n| n.get())
    }

    /// Runs `f` on a thread with a stack of `bytes`: cargo's test threads have 2 MiB, a
    /// program's main thread 8 MiB; the limits must hold on both.
    fn on_stack<T: Send + 'static>(bytes: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new()
            .stack_size(bytes)
            .spawn(f)
            .expect("thread")
            .join()
            .expect("no stack overflow")
    }

    fn only_error(result: Result<Node, Vec<Diagnostic>>) -> Diagnostic {
        let mut errs = result.expect_err("an error");
        assert_eq!(errs.len(), 1, "{errs:?}");
        errs.remove(0)
    }

    fn place(d: &Diagnostic) -> (&'static str, u32, u32) {
        let span = d.span().expect("a position");
        (d.code, span.line, span.column)
    }

    /// The `validate` report's eleven-line alias bomb: 10^11 nodes described in 700 bytes.
    fn alias_bomb() -> String {
        let mut text = String::from("x0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for n in 1..=10 {
            let p = n - 1;
            let refs = vec![format!("*x{p}"); 10].join(", ");
            text.push_str(&format!("x{n}: &x{n} [{refs}]\n"));
        }
        text
    }

    #[test]
    fn an_alias_bomb_stops_at_the_alias_that_goes_over_the_limit() {
        let text = alias_bomb();
        assert!(text.len() < 1024);
        let d = only_error(parse(&text));
        // Line 4 starts with 1,239 nodes in the tree, 19 of them written: the limit is
        // 10,000 + 10 × 19, and each `*x2` copies 1,111 nodes, so the ninth goes over.
        assert_eq!(place(&d), ("E001", 4, 50), "{d:?}");
        assert!(
            d.message
                .starts_with("aliases expand this document to more than 10190 nodes"),
            "{}",
            d.message
        );
        assert!(d.hint.is_some());
    }

    #[test]
    fn a_file_that_reuses_a_block_a_few_times_still_loads() {
        // A block of 40 settings used by 25 entries: 1,000+ nodes copied in.
        let mut text = String::from("defaults: &defaults\n");
        for i in 0..20 {
            text.push_str(&format!("  setting{i}: value{i}\n"));
        }
        text.push_str("entries:\n");
        for i in 0..25 {
            text.push_str(&format!("  entry{i}: *defaults\n"));
        }
        let node = parse(&text).expect("loads");
        let entries = node.get("entries").and_then(Node::as_map).expect("entries");
        assert_eq!(entries.len(), 25);
        assert_eq!(
            entries[24].value.get("setting19").and_then(Node::as_str),
            Some("value19")
        );
    }

    #[test]
    fn the_alias_limit_grows_with_the_file() {
        // 100 aliases of a 201-node list: 20,100 copied nodes are over the base of 10,000
        // in a small file, and within the limit once the file writes 2,000 nodes itself.
        let list = (0..200)
            .map(|i| format!("v{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let uses = (0..100).map(|i| format!("u{i}: *l\n")).collect::<String>();
        let small = format!("l: &l [{list}]\n{uses}");
        assert_eq!(only_error(parse(&small)).code, "E001");
        let padding: String = (0..1_000).map(|i| format!("p{i}: {i}\n")).collect();
        let large = format!("{padding}l: &l [{list}]\n{uses}");
        assert!(parse(&large).is_ok());
    }

    fn deep_list(levels: usize) -> String {
        format!("{}1\n", "- ".repeat(levels))
    }

    #[test]
    fn deep_block_lists_stop_at_the_depth_limit_without_overflowing() {
        // 300,000 levels: the parser keeps its own stack, ours stops at level 101. Both
        // on a 2 MiB test thread and an 8 MiB main-thread-sized one.
        for stack in [2 << 20, 8 << 20] {
            let d = on_stack(stack, || only_error(parse(&deep_list(300_000))));
            assert_eq!(place(&d), ("E001", 1, 2 * MAX_DEPTH as u32 + 1), "{d:?}");
            assert_eq!(
                d.message,
                "lists and mappings nest more than 100 levels deep"
            );
        }
        // At the limit itself the tree is built, and every recursive pass runs on it.
        let node = on_stack(2 << 20, || {
            let mut node = parse(&deep_list(MAX_DEPTH)).expect("100 levels load");
            node.for_each_scalar_mut(&mut |_, _| {});
            let copy = node.clone();
            deep_merge(&mut node, &copy);
            node
        });
        assert!(node.any_scalar(&|s| s.text == "1"));
    }

    #[test]
    fn deep_block_mappings_and_flow_collections_stop_at_the_same_limit() {
        let mut maps = String::new();
        for level in 0..150 {
            maps.push_str(&format!("{}k{level}:\n", "  ".repeat(level)));
        }
        let d = on_stack(2 << 20, move || only_error(parse(&maps)));
        // Level n is the mapping that starts on line n, column 2n - 1.
        assert_eq!(place(&d), ("E001", 101, 201), "{d:?}");

        // Inside flow collections the scanner reads ahead of its events (a `[` may still
        // turn out to start a key) and stops at level 256 itself, on one line or many;
        // the message is the same.
        let flow = format!("{}1{}\n", "[\n".repeat(300_000), "]".repeat(300_000));
        let d = on_stack(2 << 20, move || only_error(parse(&flow)));
        assert_eq!(place(&d), ("E001", 256, 1), "{d:?}");
        assert_eq!(
            d.message,
            "lists and mappings nest more than 100 levels deep"
        );
        let flow = format!("{}1{}\n", "[".repeat(300_000), "]".repeat(300_000));
        let d = on_stack(2 << 20, move || only_error(parse(&flow)));
        assert_eq!(place(&d), ("E001", 1, 256), "{d:?}");
        assert_eq!(
            d.message,
            "lists and mappings nest more than 100 levels deep"
        );

        let mixed = format!("a: {}x{}\n", "{b: [".repeat(60), "]}".repeat(60));
        let d = on_stack(2 << 20, move || only_error(parse(&mixed)));
        assert_eq!(d.code, "E001");
        assert_eq!(d.span().map(|s| s.line), Some(1));
    }

    #[test]
    fn an_alias_cannot_carry_a_value_past_the_depth_limit() {
        let inner = format!("{}1{}", "[".repeat(60), "]".repeat(60));
        let outer_open = "[".repeat(50);
        let outer_close = "]".repeat(50);
        let text = format!("a: &a {inner}\nb: {outer_open}*a{outer_close}\n");
        let d = only_error(parse(&text));
        // Level 1 is the document, 50 lists of `b`, then the alias's 60: level 111.
        assert_eq!(place(&d), ("E001", 2, 54), "{d:?}");
        assert!(
            d.label.as_deref().is_some_and(|l| l.contains("111")),
            "{d:?}"
        );
    }

    #[test]
    fn duplicate_keys_are_found_in_linear_time() {
        let wide = |n: usize| (0..n).map(|i| format!("key{i}: {i}\n")).collect::<String>();
        let small = comparisons(|| assert!(parse(&wide(10_000)).is_ok()));
        let large = comparisons(|| assert!(parse(&wide(40_000)).is_ok()));
        // A scan per key would be n²/2: 50 million and 800 million comparisons.
        assert!(small < 3 * 10_000, "{small} comparisons for 10,000 keys");
        assert!(large < 3 * 40_000, "{large} comparisons for 40,000 keys");
        // Duplicates are still every one found, with their positions.
        let text = format!("{}{}", wide(1_000), "key500: again\nkey999: again\n");
        let errs = parse(&text).expect_err("duplicates");
        let places: Vec<_> = errs.iter().map(place).collect();
        assert_eq!(places, [("E002", 1001, 1), ("E002", 1002, 1)]);
    }

    #[test]
    fn merging_wide_mappings_is_linear() {
        let map = |from: usize, n: usize| {
            parse(
                &(from..from + n)
                    .map(|i| format!("k{i}: {i}\n"))
                    .collect::<String>(),
            )
            .expect("valid")
        };
        let mut base = map(0, 20_000);
        let overlay = map(10_000, 20_000);
        let n = comparisons(|| deep_merge(&mut base, &overlay));
        assert!(n < 20_000, "{n} comparisons");
        let entries = base.as_map().expect("map");
        assert_eq!(entries.len(), 30_000);
        assert_eq!(entries[29_999].key, "k29999");
        // Small mappings are merged by scanning, with the same result.
        let mut small = map(0, 3);
        deep_merge(&mut small, &map(2, 3));
        let keys: Vec<&str> = small
            .as_map()
            .expect("map")
            .iter()
            .map(|e| e.key.as_str())
            .collect();
        assert_eq!(keys, ["k0", "k1", "k2", "k3", "k4"]);
    }

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
