//! Property-based fuzzing of the loader: the walkthrough's files, mutated by byte, line,
//! token and structure (type swaps, deletions, duplications, lines moved between files,
//! invalid UTF-8), go through everything `validate`, `plan` and `apply` run on input. No
//! mutation may panic; every failure must be an error diagnostic placed inside its file,
//! and every diagnostic must render.
//!
//! The run is deterministic (a fixed seed) so CI failures reproduce. Longer or different
//! runs: `PANKA_FUZZ_CASES=20000 PANKA_FUZZ_SEED=7 cargo test -p panka-core --test it
//! fuzz_loader --release`.

use crate::support::files::{copy_dir, walkthrough, yaml_files};
use panka_core::desired::pieces;
use panka_core::diag::{Diagnostic, Diagnostics, Location, Palette, Severity, render};
use panka_core::graph::{Graph, report_cycles};
use panka_core::interp::Variables;
use panka_core::loader::{ResolveOptions, read_stack_files, resolve};
use panka_core::source::Sources;
use panka_core::validate::{ValidateOptions, validate};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use std::collections::BTreeMap;
use std::path::Path;

/// Text that YAML, our readers or interpolation treat specially.
const TOKENS: &[&str] = &[
    ":",
    ": ",
    "-",
    "- ",
    "[",
    "]",
    "{",
    "}",
    "\"",
    "'",
    "&a ",
    "*a",
    "!!str ",
    "!tag ",
    "|",
    ">-",
    "%YAML 1.2\n",
    "@",
    "`",
    "\t",
    "\n",
    "\r\n",
    "  ",
    "#",
    "${",
    "${X}",
    "${VERSION",
    "$${",
    "}",
    "~",
    "null",
    "é",
    "💥",
    "\u{0}",
    "\u{feff}",
    "\u{200b}",
    "---\n",
    "...\n",
    "? ",
    ",",
    "<<: *a\n",
    "99999999999999999999",
    "-1",
    "0x1F",
    "1e400",
    ".nan",
    "true",
];

/// Replacement values for the value of a `key: value` or `- value` line: every type the
/// readers must reject or accept with a position.
const VALUES: &[&str] = &[
    "",
    "~",
    "null",
    "true",
    "no",
    "0",
    "-1",
    "3.5",
    "1e9",
    "18446744073709551616",
    "\"\"",
    "\"text\"",
    "'single'",
    "[]",
    "[a, 1, {b: c}]",
    "{}",
    "{a: 1}",
    "|\n  block",
    "${VERSION}",
    "${UNDEFINED_VAR}",
    "${",
    "&anchor x",
    "*missing",
    "!!binary aGk=",
    "éé💥",
    "a-very-long-name-that-is-more-than-thirty-two-characters",
    "Upper_Case",
    "../../etc/passwd",
    "/stacks/notification-platform/other",
];

/// Key misspellings and renames, so unknown-key suggestions and missing fields are hit.
fn rename_key(key: &str, how: usize) -> String {
    match how % 6 {
        0 => format!("{key}s"),
        1 => key.chars().skip(1).collect(),
        2 => key.to_uppercase(),
        3 => format!("x-{key}"),
        4 => "kind".to_string(),
        _ => "metadata".to_string(),
    }
}

#[derive(Clone, Debug)]
enum Mutation {
    Truncate(usize),
    DeleteChar(usize),
    InsertToken(usize, usize),
    ReplaceChar(usize, char),
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    MoveLine(usize, usize),
    Reindent(usize, usize),
    SwapValue(usize, usize),
    RenameKey(usize, usize),
    /// A line from another file (by index among the fixture files) inserted here.
    ForeignLine(usize, usize, usize),
    DuplicateBlock(usize, usize),
    Empty,
    /// Raw bytes that are not UTF-8, at a position.
    InvalidUtf8(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let i = any::<usize>;
    prop_oneof![
        i().prop_map(Mutation::Truncate),
        i().prop_map(Mutation::DeleteChar),
        (i(), 0..TOKENS.len()).prop_map(|(a, t)| Mutation::InsertToken(a, t)),
        (i(), any::<char>()).prop_map(|(a, c)| Mutation::ReplaceChar(a, c)),
        i().prop_map(Mutation::DeleteLine),
        i().prop_map(Mutation::DuplicateLine),
        (i(), i()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (i(), i()).prop_map(|(a, b)| Mutation::MoveLine(a, b)),
        (i(), 0usize..9).prop_map(|(a, n)| Mutation::Reindent(a, n)),
        (i(), 0..VALUES.len()).prop_map(|(a, v)| Mutation::SwapValue(a, v)),
        (i(), i()).prop_map(|(a, h)| Mutation::RenameKey(a, h)),
        (i(), i(), i()).prop_map(|(f, l, a)| Mutation::ForeignLine(f, l, a)),
        (i(), 1usize..6).prop_map(|(a, n)| Mutation::DuplicateBlock(a, n)),
        Just(Mutation::Empty),
        i().prop_map(Mutation::InvalidUtf8),
    ]
}

fn lines(text: &str) -> Vec<String> {
    text.split('\n').map(str::to_string).collect()
}

/// The value part of a YAML line: after `key:` or a list dash, if there is one.
fn value_start(line: &str) -> Option<usize> {
    if let Some(at) = line.find(": ") {
        return Some(at + 2);
    }
    if line.trim_end().ends_with(':') {
        return Some(line.trim_end().len());
    }
    let trimmed = line.trim_start();
    trimmed
        .starts_with("- ")
        .then(|| line.len() - trimmed.len() + 2)
}

/// Applies `m` to `text`; bytes rather than a string because some mutations make the file
/// invalid UTF-8.
fn apply(m: &Mutation, text: &[u8], others: &[String]) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(text) else {
        return text.to_vec();
    };
    let chars: Vec<char> = text.chars().collect();
    let at = |i: usize| i % (chars.len() + 1);
    let mut ls = lines(text);
    let line = |i: usize| i % ls.len().max(1);
    let joined = |ls: &[String]| ls.join("\n").into_bytes();
    match *m {
        Mutation::Truncate(i) => chars[..at(i)].iter().collect::<String>().into_bytes(),
        Mutation::DeleteChar(i) => {
            let mut c = chars.clone();
            if !c.is_empty() {
                c.remove(i % c.len());
            }
            c.into_iter().collect::<String>().into_bytes()
        }
        Mutation::InsertToken(i, t) => {
            let mut s: String = chars[..at(i)].iter().collect();
            s.push_str(TOKENS[t]);
            s.extend(&chars[at(i)..]);
            s.into_bytes()
        }
        Mutation::ReplaceChar(i, ch) => {
            let mut c = chars.clone();
            if !c.is_empty() {
                let n = c.len();
                c[i % n] = ch;
            }
            c.into_iter().collect::<String>().into_bytes()
        }
        Mutation::DeleteLine(i) => {
            ls.remove(line(i));
            joined(&ls)
        }
        Mutation::DuplicateLine(i) => {
            let l = ls[line(i)].clone();
            ls.insert(line(i), l);
            joined(&ls)
        }
        Mutation::SwapLines(a, b) => {
            let (a, b) = (line(a), line(b));
            ls.swap(a, b);
            joined(&ls)
        }
        Mutation::MoveLine(a, b) => {
            let l = ls.remove(line(a));
            let b = b % (ls.len() + 1);
            ls.insert(b, l);
            joined(&ls)
        }
        Mutation::Reindent(i, n) => {
            let i = line(i);
            ls[i] = format!("{}{}", " ".repeat(n), ls[i].trim_start());
            joined(&ls)
        }
        Mutation::SwapValue(i, v) => {
            // Prefer a line that has a value, searching forward from the chosen one.
            let n = ls.len();
            let start = line(i);
            if let Some((j, cut)) = (0..n)
                .map(|k| (start + k) % n)
                .find_map(|j| value_start(&ls[j]).map(|cut| (j, cut)))
            {
                let indent = ls[j].len() - ls[j].trim_start().len();
                let value = VALUES[v].replace('\n', &format!("\n{}", " ".repeat(indent + 2)));
                ls[j] = format!("{}{}", &ls[j][..cut], value);
            }
            joined(&ls)
        }
        Mutation::RenameKey(i, how) => {
            let i = line(i);
            let trimmed = ls[i].trim_start().trim_start_matches("- ");
            if let Some(colon) = trimmed.find(':') {
                let key = &trimmed[..colon];
                let offset = ls[i].len() - trimmed.len();
                let renamed = rename_key(key, how);
                ls[i] = format!("{}{}{}", &ls[i][..offset], renamed, &trimmed[colon..]);
            }
            joined(&ls)
        }
        Mutation::ForeignLine(f, l, a) => {
            let other = lines(&others[f % others.len()]);
            let taken = other[l % other.len().max(1)].clone();
            let a = a % (ls.len() + 1);
            ls.insert(a, taken);
            joined(&ls)
        }
        Mutation::DuplicateBlock(i, n) => {
            let i = line(i);
            let end = (i + n).min(ls.len());
            let block: Vec<String> = ls[i..end].to_vec();
            for (k, l) in block.into_iter().enumerate() {
                ls.insert(end + k, l);
            }
            joined(&ls)
        }
        Mutation::Empty => Vec::new(),
        Mutation::InvalidUtf8(i) => {
            let cut = text
                .char_indices()
                .map(|(b, _)| b)
                .chain(std::iter::once(text.len()))
                .nth(at(i))
                .unwrap_or(text.len());
            let mut bytes = text.as_bytes()[..cut].to_vec();
            bytes.extend_from_slice(&[0xff, 0xfe, 0xc3]);
            bytes.extend_from_slice(&text.as_bytes()[cut..]);
            bytes
        }
    }
}

/// Every error is placed inside the file it concerns (or names the path it could not
/// read), and every diagnostic renders.
fn check_diagnostics(
    sources: &Sources,
    diagnostics: &[Diagnostic],
    what: &str,
) -> Result<(), TestCaseError> {
    for d in diagnostics {
        let rendered = render(sources, d, Palette::PLAIN);
        prop_assert!(rendered.contains(d.code), "{what}: {rendered}");
        if d.severity != Severity::Error {
            continue;
        }
        match &d.location {
            Location::At(span) => {
                let text = &sources.get(span.source).text;
                let count = text.split('\n').count() as u32;
                prop_assert!(span.line >= 1 && span.column >= 1, "{what}: {d:?}");
                prop_assert!(
                    span.line <= count,
                    "{what}: {d:?} beyond the file's {count} lines"
                );
                let width = text
                    .split('\n')
                    .nth(span.line as usize - 1)
                    .map_or(0, |l| l.chars().count()) as u32;
                prop_assert!(
                    span.column <= width + 1,
                    "{what}: {d:?} beyond the line's {width} characters"
                );
            }
            Location::Path(path) => prop_assert!(!path.is_empty(), "{what}: {d:?}"),
            // A cycle made only of `dependsOn` entries whose position was lost is the one
            // error allowed to have no place.
            Location::Nowhere => prop_assert_eq!(d.code, "E063", "{}: {:?}", what, d),
        }
    }
    Ok(())
}

/// What `plan` and `apply` run on input before touching AWS (src/commands/planning.rs).
fn load_for_plan(root: &Path, environment: &str) -> Result<(), TestCaseError> {
    let mut sources = Sources::default();
    let mut diags = Diagnostics::default();
    let mut variables = Variables::new();
    variables.push_layer(BTreeMap::from([(
        "VERSION".to_string(),
        "v1.0.0".to_string(),
    )]));
    let files = read_stack_files(root, &mut sources, &mut diags);
    let stack = resolve(
        &files,
        &ResolveOptions {
            environment: Some(environment),
            variables: &variables,
            undefined_variables: Severity::Error,
        },
        &mut diags,
    );
    let graph = Graph::build(
        &stack.components,
        &files.unreadable_components(),
        &mut diags,
    );
    report_cycles(&graph.cycles(), &stack.components, &mut diags);
    panka_core::policy::check(&stack, &mut diags);
    let sorted = diags.into_sorted();
    check_diagnostics(&sources, &sorted, environment)?;
    if !sorted.iter().any(|d| d.severity == Severity::Error) {
        // A stack that loads must give its pieces (config files were read at validation).
        prop_assert!(
            pieces(&stack, &graph, environment).is_ok(),
            "{environment}: pieces failed on a valid stack"
        );
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PANKA_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

fn seed() -> [u8; 32] {
    let n: u64 = std::env::var("PANKA_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_f022);
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&n.to_le_bytes());
    seed
}

#[test]
fn mutated_fixtures_give_placed_diagnostics_and_never_panic() {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path().join("notification-platform");
    copy_dir(&walkthrough(), &root);
    let mut files = Vec::new();
    yaml_files(&root, &mut files);
    files.sort();
    let originals: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();

    let config = Config {
        cases: cases(),
        failure_persistence: None,
        // Shrinking re-runs validation many times; the first failing input is readable
        // enough with the mutation list printed.
        max_shrink_iters: 200,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed()));
    let strategy = (
        0..files.len(),
        prop::collection::vec(mutation(), 1..5),
        prop::option::of((0..files.len(), mutation())),
    );
    let invalid = std::cell::Cell::new(0u32);
    let result = runner.run(&strategy, |(which, mutations, second)| {
        // Every case starts from the fixture, even after a case that panicked mid-way.
        for (file, original) in files.iter().zip(&originals) {
            std::fs::write(file, original).unwrap();
        }
        let mut text = originals[which].clone().into_bytes();
        for m in &mutations {
            text = apply(m, &text, &originals);
        }
        std::fs::write(&files[which], &text).unwrap();
        if let Some((other, m)) = &second {
            let mutated = apply(m, originals[*other].as_bytes(), &originals);
            std::fs::write(&files[*other], mutated).unwrap();
        }

        let options = ValidateOptions {
            environment: None,
            variables: Variables::new(),
            undefined_variables: Severity::Note,
        };
        let mut sources = Sources::default();
        let report = validate(&root, &options, &mut sources);
        let checked = check_diagnostics(&sources, &report.diagnostics, "validate")
            .and_then(|()| load_for_plan(&root, "development"))
            .and_then(|()| load_for_plan(&root, "production"));
        if !report.valid() {
            invalid.set(invalid.get() + 1);
        }
        checked
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let invalid = invalid.get();
    assert!(
        invalid * 3 > cases(),
        "mutations should often break the stack, only {invalid} of {} did",
        cases()
    );
}

/// The fuzzer's find: a config file that is not UTF-8 passed `validate`, then plan failed
/// reading it. It is now `E080` at the `files` entry.
#[test]
fn a_config_file_that_is_not_text_is_reported_where_it_is_listed() {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path().join("notification-platform");
    copy_dir(&walkthrough(), &root);
    let config = root.join("services/email-service/components/api/configs/app.yaml");
    std::fs::write(&config, [b'a', b':', b' ', 0xff, 0xfe, b'\n']).unwrap();
    let options = ValidateOptions {
        environment: Some("development".to_string()),
        variables: Variables::new(),
        undefined_variables: Severity::Note,
    };
    let mut sources = Sources::default();
    let report = validate(&root, &options, &mut sources);
    let errors: Vec<&Diagnostic> = report
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].code, "E080");
    assert!(errors[0].message.contains("UTF-8"), "{}", errors[0].message);
    let Location::At(span) = errors[0].location else {
        panic!("no position: {:?}", errors[0]);
    };
    assert!(sources.get(span.source).path.ends_with("microservice.yaml"));
    assert_eq!((span.line, span.column), (40, 9));
}
