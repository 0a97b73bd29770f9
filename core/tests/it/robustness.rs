//! No input makes validation panic: the walkthrough's files, mutated many ways, always
//! give diagnostics with a location instead.

use crate::support::files::{copy_dir, walkthrough, yaml_files};
use panka_core::diag::{Location, Severity};
use panka_core::interp::Variables;
use panka_core::source::Sources;
use panka_core::validate::{ValidateOptions, validate};
use std::path::Path;

/// `panka validate` of the base stack and every environment, undefined variables allowed.
fn validate_base(root: &Path) -> (panka_core::validate::ValidationReport, Sources) {
    let options = ValidateOptions {
        environment: None,
        variables: Variables::new(),
        undefined_variables: Severity::Note,
    };
    let mut sources = Sources::default();
    let report = validate(root, &options, &mut sources);
    (report, sources)
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
    copy_dir(&walkthrough(), &root);
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
        let (report, sources) = validate_base(&root);
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

/// A stack large enough that its files are parsed on several threads reports each
/// problem in its own file, at its own position, in the order the files are read.
#[test]
fn a_large_stack_reports_problems_in_the_right_files() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let root = scratch.path().join("notification-platform");
    copy_dir(&walkthrough(), &root);
    let services = root.join("services");
    let template = services.join("email-service");
    let mut template_files = Vec::new();
    yaml_files(&template, &mut template_files);
    for n in 0..60 {
        let name = format!("svc-{n:02}");
        for file in &template_files {
            let relative = file.strip_prefix(&template).expect("below the template");
            let target = services.join(&name).join(relative);
            std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
            let text = std::fs::read_to_string(file).expect("read");
            std::fs::write(&target, text.replace("email-service", &name)).expect("write");
        }
    }
    let queue = |n: u32| services.join(format!("svc-{n:02}/components/queue/sqs.yaml"));
    let text = std::fs::read_to_string(queue(7)).expect("read");
    std::fs::write(
        queue(7),
        text.replace("visibilityTimeout", "visibilityTimout"),
    )
    .expect("write");
    let text = std::fs::read_to_string(queue(52)).expect("read");
    std::fs::write(queue(52), text.replace("type: standard", "type: [standard")).expect("write");

    let (report, sources) = validate_base(&root);
    let errors: Vec<(String, u32, u32)> = report
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| match d.location {
            Location::At(span) => {
                let path = sources.get(span.source).path.clone();
                let path = path.strip_prefix(&services).unwrap_or(&path).to_owned();
                (path.display().to_string(), span.line, span.column)
            }
            _ => panic!("an error without a position: {d:?}"),
        })
        .collect();
    assert_eq!(
        errors,
        [
            ("svc-07/components/queue/sqs.yaml".to_string(), 12, 3),
            // The unclosed `[` runs into the next line's `:`.
            ("svc-52/components/queue/sqs.yaml".to_string(), 11, 25),
        ]
    );
}

/// A component file whose whole content is a list or a word names the document, not an
/// empty path ("`` must be a mapping").
#[test]
fn a_document_that_is_not_a_mapping_is_named_as_the_document() {
    for (content, found) in [("- a\n", "a list"), ("hello\n", "a string")] {
        let scratch = tempfile::tempdir().expect("tempdir");
        let root = scratch.path().join("notification-platform");
        copy_dir(&walkthrough(), &root);
        let file = root.join("services/email-service/components/queue/sqs.yaml");
        std::fs::write(&file, content).expect("write");
        let (report, sources) = validate_base(&root);
        let d = report
            .diagnostics
            .iter()
            .find(|d| d.code == "E021")
            .unwrap_or_else(|| panic!("no E021 in {:?}", report.diagnostics));
        assert_eq!(
            d.message,
            format!("the document must be a mapping, found {found}")
        );
        let span = d.span().expect("a position");
        assert!(sources.get(span.source).path.ends_with("queue/sqs.yaml"));
        assert_eq!((span.line, span.column), (1, 1));
    }
}

/// A YAML file over the size limit is refused by its size, before it is read: `E034`
/// with its path and both sizes.
#[test]
fn a_file_over_the_size_limit_is_refused_with_its_path() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let root = scratch.path().join("notification-platform");
    copy_dir(&walkthrough(), &root);
    let file = root.join("services/email-service/components/queue/sqs.yaml");
    // Sparse: the size says 20 MiB without writing them.
    std::fs::File::create(&file)
        .and_then(|f| f.set_len(20 << 20))
        .expect("a sparse file");
    let (report, _) = validate_base(&root);
    let d = report
        .diagnostics
        .iter()
        .find(|d| d.code == "E034")
        .unwrap_or_else(|| panic!("no E034 in {:?}", report.diagnostics));
    match &d.location {
        Location::Path(path) => assert!(path.ends_with("queue/sqs.yaml"), "{path}"),
        other => panic!("{other:?}"),
    }
    assert!(
        d.message.ends_with(
            "sqs.yaml` is too large: it is 20 MiB, and panka reads YAML files of at most 2 MiB"
        ),
        "{}",
        d.message
    );
    assert!(!report.valid());
}
