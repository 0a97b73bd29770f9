//! No input makes validation panic: the walkthrough's files, mutated many ways, always
//! give diagnostics with a location instead.

use panka_core::diag::{Location, Severity};
use panka_core::interp::Variables;
use panka_core::source::Sources;
use panka_core::validate::{ValidateOptions, validate};
use std::path::{Path, PathBuf};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/notification-platform")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(path);
        }
    }
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound.max(1) as u64) as usize
    }
}

const INSERTS: &[&str] = &[
    ":",
    "-",
    "[",
    "]",
    "{",
    "}",
    "\"",
    "'",
    "&a",
    "*a",
    "!",
    "|",
    ">",
    "%",
    "@",
    "`",
    "\t",
    "\n",
    "  ",
    "#",
    "${",
    "${X}",
    "$${",
    "~",
    "null",
    "é",
    "💥",
    "---\n",
    "? ",
    ",",
    "\u{feff}",
    "99999999999999999999",
];

fn mutate(text: &str, rng: &mut Rng) -> String {
    let chars: Vec<char> = text.chars().collect();
    let at = rng.next(chars.len() + 1);
    let mut out: String;
    match rng.next(5) {
        0 => out = chars[..at].iter().collect(),
        1 => {
            out = chars[..at].iter().collect();
            out.extend(chars.get(at + 1..).unwrap_or(&[]).iter());
        }
        2 => {
            out = chars[..at].iter().collect();
            out.push_str(INSERTS[rng.next(INSERTS.len())]);
            out.extend(chars[at..].iter());
        }
        3 => {
            let lines: Vec<&str> = text.lines().collect();
            let i = rng.next(lines.len());
            let mut l = lines.clone();
            if let Some(line) = lines.get(i) {
                l.insert(i, line);
            }
            out = l.join("\n");
        }
        _ => {
            let lines: Vec<&str> = text.lines().collect();
            let i = rng.next(lines.len());
            out = lines
                .iter()
                .enumerate()
                .map(|(j, l)| if j == i { l.trim_start() } else { l })
                .collect::<Vec<_>>()
                .join("\n");
        }
    }
    out
}

#[test]
fn mutated_fixtures_never_panic_and_every_error_has_a_place() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let root = scratch.path().join("notification-platform");
    copy_dir(&fixture(), &root);
    let mut files = Vec::new();
    yaml_files(&root, &mut files);
    files.sort();
    let originals: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(f).expect("read"))
        .collect();
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut invalid = 0;
    for round in 0..600 {
        let which = rng.next(files.len());
        let mutated = mutate(&originals[which], &mut rng);
        std::fs::write(&files[which], &mutated).expect("write");
        let options = ValidateOptions {
            environment: None,
            variables: Variables::new(),
            undefined_variables: Severity::Note,
        };
        let mut sources = Sources::default();
        let report = validate(&root, &options, &mut sources);
        for d in report
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
        {
            if let Location::At(span) = d.location {
                assert!(span.line >= 1 && span.column >= 1, "round {round}: {d:?}");
                let lines = sources.get(span.source).text.split('\n').count() as u32;
                assert!(
                    span.line <= lines + 1,
                    "round {round}: {d:?} beyond the file"
                );
            }
            assert!(
                !matches!(d.location, Location::Nowhere) || d.code == "E063",
                "round {round}: {d:?}"
            );
        }
        if !report.valid() {
            invalid += 1;
        }
        std::fs::write(&files[which], &originals[which]).expect("restore");
    }
    assert!(
        invalid > 100,
        "mutations should mostly break the stack, got {invalid}"
    );
}
