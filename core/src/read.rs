//! Typed reading of [`Node`] trees with diagnostics: wrong types, missing fields, unknown
//! keys (with a did-you-mean), enum values and ranges. Readers return `None` after
//! reporting, so lowering goes on and every problem of a file is found in one run.

use crate::diag::{Diagnostic, Diagnostics};
use crate::model::ClosedSet;
use crate::source::Span;
use crate::yaml::{Entry, Node, PlainType, Value, plain_scalar_type};
use std::collections::BTreeMap;

/// Reads one mapping. Every key asked for through [`MapReader::get`] or
/// [`MapReader::required`] is remembered, so [`MapReader::finish`] knows which keys are
/// unknown and what they may have been meant to be.
pub struct MapReader<'n> {
    entries: &'n [Entry],
    /// Where a "missing field" error points: the key that holds this mapping.
    anchor: Span,
    /// Dotted path of this mapping in its document, e.g. `spec.image`.
    path: String,
    known: Vec<&'static str>,
}

impl<'n> MapReader<'n> {
    /// Starts reading `node` as a mapping; reports a wrong type and returns `None`.
    pub fn new(
        node: &'n Node,
        path: impl Into<String>,
        anchor: Span,
        diags: &mut Diagnostics,
    ) -> Option<Self> {
        let path = path.into();
        match &node.value {
            Value::Map(entries) => Some(MapReader {
                entries,
                anchor,
                path,
                known: Vec::new(),
            }),
            Value::Scalar(s) if s.unresolved => None,
            _ => {
                diags.push(wrong_type(node, &path, "a mapping"));
                None
            }
        }
    }

    /// The key that holds this mapping.
    pub fn anchor(&self) -> Span {
        self.anchor
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn child_path(&self, key: &str) -> String {
        // Built for every value read (messages need it when one is wrong): no `format!`.
        let mut path = String::with_capacity(self.path.len() + 1 + key.len());
        if !self.path.is_empty() {
            path.push_str(&self.path);
            path.push('.');
        }
        path.push_str(key);
        path
    }

    /// The entry for `key`, if present and not null.
    pub fn entry(&mut self, key: &'static str) -> Option<&'n Entry> {
        self.known.push(key);
        self.entries
            .iter()
            .find(|e| e.key == key)
            .filter(|e| e.value.value != Value::Null)
    }

    pub fn get(&mut self, key: &'static str) -> Option<&'n Node> {
        self.entry(key).map(|e| &e.value)
    }

    /// Like [`MapReader::get`], but a missing key is reported (`E022`).
    pub fn required(&mut self, key: &'static str, diags: &mut Diagnostics) -> Option<&'n Node> {
        let found = self.get(key);
        if found.is_none() {
            let where_ = if self.path.is_empty() {
                String::new()
            } else {
                format!(" in `{}`", self.path)
            };
            diags.push(
                Diagnostic::at(
                    "E022",
                    self.anchor,
                    format!("missing required field `{key}`{where_}"),
                )
                .with_label(format!("`{key}` is missing here")),
            );
        }
        found
    }

    /// A nested mapping under `key`.
    pub fn map(&mut self, key: &'static str, diags: &mut Diagnostics) -> Option<MapReader<'n>> {
        let entry = self.entry(key)?;
        MapReader::new(&entry.value, self.child_path(key), entry.key_span, diags)
    }

    pub fn required_map(
        &mut self,
        key: &'static str,
        diags: &mut Diagnostics,
    ) -> Option<MapReader<'n>> {
        let node = self.required(key, diags)?;
        let span = self.entry(key).map(|e| e.key_span).unwrap_or(node.span);
        MapReader::new(node, self.child_path(key), span, diags)
    }

    pub fn string(&mut self, key: &'static str, diags: &mut Diagnostics) -> Option<String> {
        let node = self.get(key)?;
        string(node, &self.child_path(key), diags)
    }

    pub fn required_string(
        &mut self,
        key: &'static str,
        diags: &mut Diagnostics,
    ) -> Option<String> {
        let node = self.required(key, diags)?;
        string(node, &self.child_path(key), diags)
    }

    pub fn bool(&mut self, key: &'static str, diags: &mut Diagnostics) -> Option<bool> {
        let node = self.get(key)?;
        boolean(node, &self.child_path(key), diags)
    }

    pub fn int(
        &mut self,
        key: &'static str,
        range: std::ops::RangeInclusive<i64>,
        diags: &mut Diagnostics,
    ) -> Option<i64> {
        let node = self.get(key)?;
        int(node, &self.child_path(key), range, diags)
    }

    pub fn one_of(
        &mut self,
        key: &'static str,
        allowed: &[&'static str],
        diags: &mut Diagnostics,
    ) -> Option<&'static str> {
        let node = self.get(key)?;
        one_of(node, &self.child_path(key), allowed, diags)
    }

    /// A value of the closed set `T` under `key`: [`one_of`] over `T`'s words.
    pub fn choice<T: ClosedSet>(
        &mut self,
        key: &'static str,
        diags: &mut Diagnostics,
    ) -> Option<T> {
        let node = self.get(key)?;
        choice(node, &self.child_path(key), diags)
    }

    pub fn string_list(
        &mut self,
        key: &'static str,
        diags: &mut Diagnostics,
    ) -> Option<Vec<(String, Span)>> {
        let node = self.get(key)?;
        let path = self.child_path(key);
        let items = seq(node, &path, diags)?;
        Some(
            items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    string(item, &format!("{path}[{i}]"), diags).map(|s| (s, item.span))
                })
                .collect(),
        )
    }

    pub fn string_map(
        &mut self,
        key: &'static str,
        diags: &mut Diagnostics,
    ) -> Option<BTreeMap<String, String>> {
        let entry = self.entry(key)?;
        let path = self.child_path(key);
        let Value::Map(entries) = &entry.value.value else {
            diags.push(wrong_type(
                &entry.value,
                &path,
                "a mapping of names to text",
            ));
            return None;
        };
        let mut out = BTreeMap::new();
        for e in entries {
            let item_path = format!("{path}.{}", e.key);
            let text = match &e.value.value {
                Value::Scalar(s) => Some(s.text.clone()),
                _ => {
                    diags.push(wrong_type(&e.value, &item_path, "text"));
                    None
                }
            };
            if let Some(text) = text {
                out.insert(e.key.clone(), text);
            }
        }
        Some(out)
    }

    /// Reports every key that no reader asked for (`E020`), with the nearest known key
    /// as a suggestion.
    pub fn finish(self, diags: &mut Diagnostics) {
        for entry in self.entries {
            if self.known.contains(&entry.key.as_str()) {
                continue;
            }
            let where_ = if self.path.is_empty() {
                "at the top level".to_string()
            } else {
                format!("in `{}`", self.path)
            };
            let mut d = Diagnostic::at(
                "E020",
                Span {
                    len: entry.key.chars().count() as u32,
                    ..entry.key_span
                },
                format!("unknown key `{}` {where_}", entry.key),
            )
            .with_label("unknown key");
            d = match did_you_mean(&entry.key, self.known.iter().copied()) {
                Some(s) => d.with_hint(format!("did you mean `{s}`?")),
                None => {
                    let mut keys: Vec<&str> = self.known.clone();
                    keys.sort_unstable();
                    keys.dedup();
                    d.with_hint(format!("known keys here: {}", keys.join(", ")))
                }
            };
            diags.push(d);
        }
    }
}

/// The candidate closest to `input`, if it is close enough to be a likely typo: similar
/// by Jaro–Winkler (good for long words) or within a small edit distance (short ones,
/// where `s4` → `s3` scores low on similarity).
pub fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lowered = input.to_ascii_lowercase();
    let max_edits = (lowered.chars().count() / 4).max(1);
    candidates
        .into_iter()
        .filter_map(|c| {
            let other = c.to_ascii_lowercase();
            let similarity = strsim::jaro_winkler(&lowered, &other);
            let edits = strsim::levenshtein(&lowered, &other);
            (similarity >= 0.8 || edits <= max_edits).then_some((edits, similarity, c))
        })
        .min_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)))
        .map(|(_, _, c)| c)
}

/// `E021`. `path` is empty for the document itself (a file whose whole content is `- a`).
pub fn wrong_type(node: &Node, path: &str, expected: &str) -> Diagnostic {
    let what = if path.is_empty() {
        "the document".to_string()
    } else {
        format!("`{path}`")
    };
    Diagnostic::at(
        "E021",
        node.span,
        format!("{what} must be {expected}, found {}", node.type_name()),
    )
    .with_label(format!("expected {expected}"))
}

fn scalar_span(node: &Node) -> Span {
    match &node.value {
        Value::Scalar(s) if !s.quoted => Span {
            len: s.text.chars().count().max(1) as u32,
            ..node.span
        },
        _ => node.span,
    }
}

pub fn string(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<String> {
    match &node.value {
        Value::Scalar(s) => Some(s.text.clone()),
        _ => {
            diags.push(wrong_type(node, path, "text"));
            None
        }
    }
}

pub fn boolean(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<bool> {
    match &node.value {
        Value::Scalar(s) if s.unresolved => None,
        Value::Scalar(s) if !s.quoted && plain_scalar_type(&s.text) == PlainType::Bool => {
            Some(s.text.eq_ignore_ascii_case("true"))
        }
        _ => {
            diags.push(wrong_type(node, path, "true or false"));
            None
        }
    }
}

pub fn int(
    node: &Node,
    path: &str,
    range: std::ops::RangeInclusive<i64>,
    diags: &mut Diagnostics,
) -> Option<i64> {
    let text = match &node.value {
        Value::Scalar(s) if s.unresolved => return None,
        Value::Scalar(s) if !s.quoted && plain_scalar_type(&s.text) == PlainType::Int => &s.text,
        _ => {
            diags.push(wrong_type(node, path, "a whole number"));
            return None;
        }
    };
    // A whole number too long for 64 bits is out of every range, not of another type.
    match text.parse::<i64>() {
        Ok(value) if range.contains(&value) => Some(value),
        _ => {
            let shown = text.strip_prefix('+').unwrap_or(text);
            diags.push(
                Diagnostic::at(
                    "E024",
                    scalar_span(node),
                    format!(
                        "`{path}` is {shown}, outside the allowed range {}..={}",
                        range.start(),
                        range.end()
                    ),
                )
                .with_label("out of range"),
            );
            None
        }
    }
}

pub fn one_of(
    node: &Node,
    path: &str,
    allowed: &[&'static str],
    diags: &mut Diagnostics,
) -> Option<&'static str> {
    let text = match &node.value {
        Value::Scalar(s) if s.unresolved => return None,
        Value::Scalar(s) => s.text.as_str(),
        _ => {
            diags.push(wrong_type(node, path, "text"));
            return None;
        }
    };
    if let Some(found) = allowed.iter().find(|a| **a == text) {
        return Some(found);
    }
    let mut d = Diagnostic::at(
        "E023",
        scalar_span(node),
        format!(
            "`{path}` must be one of {}, found `{text}`",
            quoted_list(allowed)
        ),
    )
    .with_label("invalid value");
    if let Some(s) = did_you_mean(text, allowed.iter().copied()) {
        d = d.with_hint(format!("did you mean `{s}`?"));
    }
    diags.push(d);
    None
}

/// A value of the closed set `T`: reported as [`one_of`] reports, with `T`'s words as
/// the accepted list.
pub fn choice<T: ClosedSet>(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<T> {
    let words: Vec<&'static str> = T::ALL.iter().map(ClosedSet::as_str).collect();
    one_of(node, path, &words, diags).and_then(T::from_word)
}

pub fn seq<'n>(node: &'n Node, path: &str, diags: &mut Diagnostics) -> Option<&'n [Node]> {
    match &node.value {
        Value::Seq(items) => Some(items),
        Value::Scalar(s) if s.unresolved => None,
        _ => {
            diags.push(wrong_type(node, path, "a list"));
            None
        }
    }
}

pub fn quoted_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceId;
    use crate::yaml::parse_document;

    fn node(text: &str) -> Node {
        parse_document(SourceId(0), text).expect("valid yaml")
    }

    #[test]
    fn suggests_the_nearest_key() {
        assert_eq!(
            did_you_mean("replica", ["replicas", "autoscaling"]),
            Some("replicas")
        );
        assert_eq!(did_you_mean("zzz", ["replicas", "autoscaling"]), None);
        assert_eq!(did_you_mean("s4", ["s3", "local"]), Some("s3"));
        assert_eq!(did_you_mean("ab", ["xy"]), None);
    }

    #[test]
    fn reports_every_problem_of_a_mapping() {
        let doc = node("port: http\nenabled: 3\nmode: fast\nextra: 1\n");
        let mut diags = Diagnostics::default();
        let anchor = doc.span;
        let mut m = MapReader::new(&doc, "spec", anchor, &mut diags).expect("map");
        assert_eq!(m.int("port", 1..=65535, &mut diags), None);
        assert_eq!(m.bool("enabled", &mut diags), None);
        assert_eq!(
            m.one_of("mode", &["slow", "fast"], &mut diags),
            Some("fast")
        );
        assert!(m.required("name", &mut diags).is_none());
        m.finish(&mut diags);
        let codes: Vec<&str> = diags.iter().map(|d| d.code).collect();
        assert_eq!(codes, ["E021", "E021", "E022", "E020"]);
    }

    #[test]
    fn checks_ranges_and_enums() {
        let doc = node("port: 70000\nmode: fsat\n");
        let mut diags = Diagnostics::default();
        let mut m = MapReader::new(&doc, "", doc.span, &mut diags).expect("map");
        assert_eq!(m.int("port", 1..=65535, &mut diags), None);
        assert_eq!(m.one_of("mode", &["slow", "fast"], &mut diags), None);
        m.finish(&mut diags);
        let all: Vec<_> = diags.iter().collect();
        assert_eq!(all[0].code, "E024");
        assert_eq!(all[1].code, "E023");
        assert_eq!(all[1].hint.as_deref(), Some("did you mean `fast`?"));
    }

    crate::model::components::closed_set! {
        pub enum Speed {
            Slow => "slow",
            Fast => "fast",
        }
    }

    #[test]
    fn closed_sets_are_read_as_one_of_their_words() {
        let doc = node("mode: fast\nother: fsat\n");
        let mut diags = Diagnostics::default();
        let mut m = MapReader::new(&doc, "spec", doc.span, &mut diags).expect("map");
        assert_eq!(m.choice("mode", &mut diags), Some(Speed::Fast));
        assert_eq!(m.choice::<Speed>("other", &mut diags), None);
        assert_eq!(m.choice::<Speed>("missing", &mut diags), None);
        let all: Vec<_> = diags.iter().collect();
        assert_eq!(all.len(), 1, "{all:?}");
        assert_eq!(all[0].code, "E023");
        assert_eq!(
            all[0].message,
            "`spec.other` must be one of `slow`, `fast`, found `fsat`"
        );
        assert_eq!(all[0].hint.as_deref(), Some("did you mean `fast`?"));
    }

    #[test]
    fn whole_numbers_beyond_64_bits_are_out_of_range() {
        let doc = node("port: 12345678901234567890123456\nlow: -99999999999999999999\n");
        let mut diags = Diagnostics::default();
        let mut m = MapReader::new(&doc, "spec", doc.span, &mut diags).expect("map");
        assert_eq!(m.int("port", 1..=65535, &mut diags), None);
        assert_eq!(m.int("low", 0..=10, &mut diags), None);
        let all: Vec<_> = diags.iter().collect();
        assert_eq!(all.len(), 2, "{all:?}");
        assert_eq!(all[0].code, "E024");
        assert_eq!(
            all[0].message,
            "`spec.port` is 12345678901234567890123456, outside the allowed range 1..=65535"
        );
        assert_eq!(
            all[0].span().map(|s| (s.line, s.column, s.len)),
            Some((1, 7, 26))
        );
        assert_eq!(all[1].code, "E024");
        assert!(all[1].message.contains("is -99999999999999999999, outside"));
    }

    #[test]
    fn a_document_of_the_wrong_type_is_named_as_the_document() {
        for (text, found) in [("- a\n", "a list"), ("hello\n", "a string")] {
            let doc = node(text);
            let mut diags = Diagnostics::default();
            assert!(MapReader::new(&doc, "", doc.span, &mut diags).is_none());
            let all: Vec<_> = diags.iter().collect();
            assert_eq!(all[0].code, "E021");
            assert_eq!(
                all[0].message,
                format!("the document must be a mapping, found {found}")
            );
        }
    }
}
