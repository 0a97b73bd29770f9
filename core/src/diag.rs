//! Diagnostics: every problem found in the input, with a stable code, a location and,
//! where it helps, a hint. Validation collects all of them instead of stopping at the
//! first.

use crate::source::{Sources, Span};
use serde::Serialize;
use std::fmt::Write as _;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Note,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

/// Where a diagnostic points.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Location {
    /// A position inside a loaded file.
    At(Span),
    /// A path that could not be read or is missing (shown as given).
    Path(String),
    /// The problem is not tied to a file (e.g. a command-line value).
    Nowhere,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Diagnostic {
    pub location: Location,
    pub severity: Severity,
    /// Stable identifier (`E020`, `P001`, …) that scripts and docs may rely on.
    pub code: &'static str,
    pub message: String,
    /// Short text printed under the caret.
    pub label: Option<String>,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, location: Location, message: impl Into<String>) -> Self {
        Diagnostic {
            location,
            severity: Severity::Error,
            code,
            message: message.into(),
            label: None,
            hint: None,
        }
    }

    pub fn at(code: &'static str, span: Span, message: impl Into<String>) -> Self {
        Self::error(code, Location::At(span), message)
    }

    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn span(&self) -> Option<Span> {
        match self.location {
            Location::At(span) => Some(span),
            _ => None,
        }
    }
}

/// An ordered, de-duplicated collection of diagnostics.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.items.extend(other);
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn error_count(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Sorts by file, line and column, and drops exact repeats (the same file is lowered
    /// once per environment when every environment is validated).
    pub fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.items.sort();
        self.items.dedup();
        self.items
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

/// Colours used by [`render`]; all empty when colour is off.
#[derive(Clone, Copy, Debug, Default)]
pub struct Palette {
    pub error: &'static str,
    pub warning: &'static str,
    pub note: &'static str,
    pub accent: &'static str,
    pub ok: &'static str,
    pub bold: &'static str,
    pub reset: &'static str,
}

impl Palette {
    pub const PLAIN: Palette = Palette {
        error: "",
        warning: "",
        note: "",
        accent: "",
        ok: "",
        bold: "",
        reset: "",
    };
    pub const ANSI: Palette = Palette {
        error: "\x1b[1;31m",
        warning: "\x1b[1;33m",
        note: "\x1b[1;36m",
        accent: "\x1b[1;34m",
        ok: "\x1b[32m",
        bold: "\x1b[1m",
        reset: "\x1b[0m",
    };
}

/// `file:line:column` of a diagnostic, as printed and as in JSON.
pub fn position(
    sources: &Sources,
    location: &Location,
) -> Option<(String, Option<u32>, Option<u32>)> {
    match location {
        Location::At(span) => Some((
            sources.get(span.source).display.clone(),
            Some(span.line),
            Some(span.column),
        )),
        Location::Path(path) => Some((path.clone(), None, None)),
        Location::Nowhere => None,
    }
}

/// Renders one diagnostic the way compilers do:
///
/// ```text
/// error[E020]: unknown key `replica` in spec.scaling
///   --> services/api/components/api/infra.yaml:14:5
///    |
/// 14 |     replica: 2
///    |     ^^^^^^^ unknown key
///    = hint: did you mean `replicas`?
/// ```
/// The part of a source line a diagnostic shows: the whole line when it is short, else a
/// window around the marked text (a generated file can hold a line of megabytes, which
/// would otherwise be printed whole, once per diagnostic).
struct Excerpt {
    text: String,
    /// Characters before the first caret.
    caret: usize,
    /// How many carets.
    marked: usize,
}

impl Excerpt {
    const WIDTH: usize = 120;
    /// Characters kept before the marked text when the line is cut.
    const BEFORE: usize = 40;

    fn of(line: &str, start: usize, len: usize) -> Excerpt {
        let chars = line.chars().count();
        if chars <= Self::WIDTH {
            return Excerpt {
                text: line.replace('\t', " "),
                caret: start,
                marked: len,
            };
        }
        let from = start.saturating_sub(Self::BEFORE).min(chars);
        let to = (from + Self::WIDTH).min(chars);
        let mut text = String::new();
        if from > 0 {
            text.push('…');
        }
        text.extend(
            line.chars()
                .skip(from)
                .take(to - from)
                .map(|c| if c == '\t' { ' ' } else { c }),
        );
        if to < chars {
            text.push('…');
        }
        let caret = start - from + usize::from(from > 0);
        Excerpt {
            text,
            caret,
            marked: len.min(to.saturating_sub(start)).max(1),
        }
    }
}

pub fn render(sources: &Sources, d: &Diagnostic, colors: Palette) -> String {
    let mut out = String::new();
    let sev_color = match d.severity {
        Severity::Error => colors.error,
        Severity::Warning => colors.warning,
        Severity::Note => colors.note,
    };
    let _ = writeln!(
        out,
        "{sev_color}{}[{}]{}: {}{}{}",
        d.severity.label(),
        d.code,
        colors.reset,
        colors.bold,
        d.message,
        colors.reset
    );
    let mut gutter = 1;
    match &d.location {
        Location::At(span) => {
            let file = sources.get(span.source);
            let line_no = span.line.to_string();
            gutter = line_no.len() + 1;
            let pad = " ".repeat(gutter);
            let _ = writeln!(
                out,
                "{}{}-->{} {}:{}:{}",
                " ".repeat(gutter - 1),
                colors.accent,
                colors.reset,
                file.display,
                span.line,
                span.column
            );
            if let Some(text) = file.line_text(span.line) {
                let excerpt = Excerpt::of(
                    text,
                    span.column.saturating_sub(1) as usize,
                    span.len.max(1) as usize,
                );
                let _ = writeln!(out, "{pad}{}|{}", colors.accent, colors.reset);
                let _ = writeln!(
                    out,
                    "{}{line_no} |{} {}",
                    colors.accent,
                    colors.reset,
                    excerpt.text.trim_end()
                );
                let carets = "^".repeat(excerpt.marked);
                let label = d
                    .label
                    .as_deref()
                    .map(|l| format!(" {l}"))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "{pad}{}|{} {}{sev_color}{carets}{label}{}",
                    colors.accent,
                    colors.reset,
                    " ".repeat(excerpt.caret),
                    colors.reset
                );
            }
        }
        Location::Path(path) => {
            let _ = writeln!(out, "  {}-->{} {path}", colors.accent, colors.reset);
        }
        Location::Nowhere => {}
    }
    if let Some(hint) = &d.hint {
        let _ = writeln!(
            out,
            "{}{}={} {}hint{}: {hint}",
            " ".repeat(gutter),
            colors.accent,
            colors.reset,
            colors.bold,
            colors.reset
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_shown_as_a_window_around_the_mark() {
        let line = format!("{}KEY{}", "a".repeat(1_000), "b".repeat(1_000));
        let excerpt = Excerpt::of(&line, 1_000, 3);
        assert_eq!(excerpt.text.chars().count(), Excerpt::WIDTH + 2, "…window…");
        let marked: String = excerpt
            .text
            .chars()
            .skip(excerpt.caret)
            .take(excerpt.marked)
            .collect();
        assert_eq!(marked, "KEY");
        let short = Excerpt::of("a:\tb", 3, 1);
        assert_eq!((short.text.as_str(), short.caret), ("a: b", 3));
        // A mark near the start keeps the line's beginning, without a leading `…`.
        let start = Excerpt::of(&line, 2, 1);
        assert!(start.text.starts_with("aaa") && start.caret == 2);
    }
}
