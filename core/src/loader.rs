//! Reading a stack folder: discovery and parsing (once), then resolving the typed model
//! for one environment (overrides, infra layering, variables).

use crate::diag::{Diagnostic, Diagnostics, Location, Severity};
use crate::interp::{Variables, interpolate};
use crate::model::*;
use crate::names::check_name;
use crate::read::{MapReader, did_you_mean};
use crate::repo_path::{
    Boundary, Folder, Kind, Listed, PathProblem, is_yaml, lexical_join, read_checked,
};
use crate::source::{SourceId, Sources, Span};
use crate::yaml::{Node, deep_merge, parse_document};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A parsed document and the file it came from.
#[derive(Clone, Debug)]
pub struct ParsedDoc {
    pub source: SourceId,
    pub envelope: Envelope,
}

impl ParsedDoc {
    fn name(&self) -> Option<&Located<String>> {
        self.envelope.metadata.name.as_ref()
    }
}

#[derive(Debug)]
pub struct ComponentFiles {
    pub folder: String,
    pub dir: PathBuf,
    pub doc: Option<ParsedDoc>,
    pub infra: Option<ParsedDoc>,
}

impl ComponentFiles {
    pub fn kind(&self) -> Option<ComponentKind> {
        match self.doc.as_ref()?.envelope.kind {
            DocKind::Component(kind) => Some(kind),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub struct ServiceFiles {
    pub folder: String,
    pub doc: Option<ParsedDoc>,
    pub components: Vec<ComponentFiles>,
    /// Its infra defaults file: a key of `StackFiles::infra_defaults`, absent from it
    /// when the file is missing or refused (already reported).
    pub defaults: PathBuf,
    /// `false`: the service folder itself is refused or cannot be read (reported), so
    /// which components it has is unknown.
    pub listed: bool,
}

#[derive(Debug)]
pub struct EnvironmentFile {
    pub folder: String,
    pub doc: ParsedDoc,
}

/// Everything read from a stack folder, before any environment is applied.
#[derive(Debug)]
pub struct StackFiles {
    pub root: PathBuf,
    /// What may be read: every file above was checked against it.
    pub boundary: Boundary,
    pub folder: String,
    pub stack: Option<ParsedDoc>,
    pub services: Vec<ServiceFiles>,
    pub environments: Vec<EnvironmentFile>,
    /// Infra defaults files by their path under the stack root; `None` when a service
    /// names one that does not exist (already reported).
    pub infra_defaults: BTreeMap<PathBuf, ParsedDoc>,
}

impl StackFiles {
    /// The stack's name: `metadata.name` of `stack.yaml`, else the folder name.
    pub fn name(&self) -> &str {
        self.stack
            .as_ref()
            .and_then(ParsedDoc::name)
            .map(|n| n.value.as_str())
            .unwrap_or(&self.folder)
    }

    pub fn environment(&self, name: &str) -> Option<&EnvironmentFile> {
        self.environments.iter().find(|e| e.folder == name)
    }

    /// Components whose folder exists but whose document could not be read, and
    /// [`ComponentId::whole_service`] for each service whose folder could not be read.
    pub fn unreadable_components(&self) -> BTreeSet<ComponentId> {
        self.services
            .iter()
            .flat_map(|s| {
                let whole = (!s.listed).then(|| ComponentId::whole_service(&s.folder));
                s.components
                    .iter()
                    .filter(|c| c.kind().is_none())
                    .map(move |c| ComponentId::new(&s.folder, &c.folder))
                    .chain(whole)
            })
            .collect()
    }

    /// Every component id defined by a readable document, in folder order.
    pub fn component_ids(&self) -> Vec<ComponentId> {
        self.services
            .iter()
            .flat_map(|s| {
                s.components
                    .iter()
                    .filter(|c| c.kind().is_some())
                    .map(move |c| ComponentId::new(&s.folder, &c.folder))
            })
            .collect()
    }
}

/// A diagnostic about the file or folder at `path`.
fn path_diagnostic(
    problem: &PathProblem,
    path: &Path,
    boundary: &Boundary,
    sources: &Sources,
) -> Diagnostic {
    let shown = sources.display_name(path);
    Diagnostic::error(
        problem.code(),
        Location::Path(shown.clone()),
        problem.message(&shown, boundary),
    )
    .with_hint(problem.hint(boundary))
}

/// Whether an optional or required file is there to read.
#[derive(PartialEq)]
enum Found {
    Yes,
    No,
    /// There, but refused or unreadable (reported).
    Refused,
}

/// Whether the file `relative` below `parent` is there to read (problems reported).
fn find_file(
    parent: &Folder,
    relative: &str,
    boundary: &Boundary,
    sources: &Sources,
    diags: &mut Diagnostics,
) -> Found {
    let problem = match boundary.find(parent, relative) {
        Ok((_, Kind::File)) => return Found::Yes,
        Ok(_) => PathProblem::WrongKind {
            expected: Kind::File,
        },
        Err(PathProblem::Missing) => return Found::No,
        Err(problem) => problem,
    };
    let path = parent.path().join(relative);
    diags.push(path_diagnostic(&problem, &path, boundary, sources));
    Found::Refused
}

/// Reads a file into `sources`: one the caller found inside the boundary. A file that
/// is not UTF-8 is kept as a lossy copy, so the error at its first invalid byte can be
/// shown, and is not parsed (`None`).
fn read_file(
    path: &Path,
    boundary: &Boundary,
    sources: &mut Sources,
    diags: &mut Diagnostics,
) -> Option<SourceId> {
    let bytes = match read_checked(path) {
        Ok(bytes) => bytes,
        Err(problem) => {
            diags.push(path_diagnostic(&problem, path, boundary, sources));
            return None;
        }
    };
    match String::from_utf8(bytes) {
        Ok(text) => Some(sources.add(path, text)),
        Err(err) => {
            let valid = err.utf8_error().valid_up_to();
            let bytes = err.into_bytes();
            let prefix = String::from_utf8_lossy(&bytes[..valid]);
            let line = prefix.matches('\n').count() + 1;
            let column = prefix.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            let source = sources.add(path, String::from_utf8_lossy(&bytes).into_owned());
            diags.push(
                Diagnostic::at(
                    "E001",
                    Span {
                        source,
                        line: line as u32,
                        column: column as u32,
                        len: 1,
                    },
                    "this file is not UTF-8 text",
                )
                .with_label("not UTF-8")
                .with_hint("save the file as UTF-8 (a Latin-1 `é`, for example, is not)"),
            );
            None
        }
    }
}

fn parse_file(
    path: &Path,
    allowed: &[DocKind],
    place: &str,
    boundary: &Boundary,
    sources: &mut Sources,
    diags: &mut Diagnostics,
) -> Option<ParsedDoc> {
    let source = read_file(path, boundary, sources, diags)?;
    let parsed = parse_document(source, &sources.get(source).text);
    typed_doc(source, parsed, allowed, place, diags)
}

/// The envelope of a parsed document (parse errors are reported here).
fn typed_doc(
    source: SourceId,
    parsed: Result<Node, Vec<Diagnostic>>,
    allowed: &[DocKind],
    place: &str,
    diags: &mut Diagnostics,
) -> Option<ParsedDoc> {
    let node = match parsed {
        Ok(node) => node,
        Err(errs) => {
            diags.extend(errs);
            return None;
        }
    };
    let envelope = read_envelope(node, allowed, place, diags)?;
    Some(ParsedDoc { source, envelope })
}

/// Parses `ids`, on several threads when there are many: parsing YAML is most of the
/// time it takes to load a large stack, and files parse independently. Results come back
/// in the order of `ids`.
fn parse_all(sources: &Sources, ids: &[SourceId]) -> Vec<Result<Node, Vec<Diagnostic>>> {
    // Below this many files per thread, starting threads costs more than it saves.
    const FILES_PER_THREAD: usize = 64;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(ids.len() / FILES_PER_THREAD)
        .max(1);
    let parse = |id: &SourceId| parse_document(*id, &sources.get(*id).text);
    if threads == 1 {
        return ids.iter().map(parse).collect();
    }
    std::thread::scope(|scope| {
        let parts: Vec<_> = ids
            .chunks(ids.len().div_ceil(threads))
            .map(|part| scope.spawn(move || part.iter().map(parse).collect::<Vec<_>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|part| {
                part.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// The folder `name` in `parent`: `Some(None)` when nothing is there, `None` when it is
/// refused or not a folder (reported).
fn open_folder(
    parent: &Folder,
    name: &str,
    boundary: &Boundary,
    sources: &Sources,
    diags: &mut Diagnostics,
) -> Option<Option<Folder>> {
    match boundary.folder(parent, name) {
        Ok(folder) => Some(folder),
        Err(problem) => {
            let path = parent.path().join(name);
            diags.push(path_diagnostic(&problem, &path, boundary, sources));
            None
        }
    }
}

/// The entries of `dir` that are a `kind` (and pass `wanted`), sorted; an entry that
/// cannot be used is reported here and kept (its `problem` is set). `None`: `dir` cannot
/// be listed (reported).
fn listed(
    dir: &Folder,
    kind: Kind,
    wanted: impl Fn(&Path) -> bool,
    boundary: &Boundary,
    sources: &Sources,
    diags: &mut Diagnostics,
) -> Option<Vec<Listed>> {
    match boundary.list(dir, kind, wanted) {
        Ok(entries) => {
            for e in &entries {
                if let Some(problem) = &e.problem {
                    diags.push(path_diagnostic(problem, &e.path, boundary, sources));
                }
            }
            Some(entries)
        }
        Err(problem) => {
            diags.push(path_diagnostic(&problem, dir.path(), boundary, sources));
            None
        }
    }
}

/// The sub-folders of the folder `name` in `parent` (see [`listed`]); none when it is
/// missing, refused or cannot be listed (reported). `None`: refused or unlistable.
fn sub_folders(
    parent: &Folder,
    name: &str,
    boundary: &Boundary,
    sources: &Sources,
    diags: &mut Diagnostics,
) -> Option<Vec<Listed>> {
    match open_folder(parent, name, boundary, sources, diags)? {
        Some(dir) => listed(&dir, Kind::Dir, |_| true, boundary, sources, diags),
        None => Some(Vec::new()),
    }
}

/// Checks that `meta` (e.g. `metadata.service`) names `expected` (the folder it is in).
fn check_matches(
    meta: Option<&Located<String>>,
    field: &str,
    expected: &str,
    why: &str,
    diags: &mut Diagnostics,
) {
    if let Some(found) = meta
        && found.value != expected
    {
        diags.push(
            Diagnostic::at(
                "E032",
                Span {
                    len: found.value.chars().count().max(1) as u32,
                    ..found.span
                },
                format!("`{field}` is `{}` but {why} `{expected}`", found.value),
            )
            .with_label(format!("expected `{expected}`"))
            .with_hint(format!("write `{expected}` here, or move the file")),
        );
    }
}

fn check_doc_name(doc: &ParsedDoc, what: &str, diags: &mut Diagnostics) {
    if let Some(name) = doc.name() {
        diags.extend(check_name(what, &name.value, name.span));
    }
}

/// Reads and parses every file of the stack at `root`. Problems are collected in
/// `diags`; what could be read is returned either way. Every file and folder is checked
/// against the stack's [`Boundary`] before it is read (`crate::repo_path`).
pub fn read_stack_files(root: &Path, sources: &mut Sources, diags: &mut Diagnostics) -> StackFiles {
    let folder = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let boundary = match Boundary::of_stack(root) {
        Ok(boundary) => boundary,
        Err(err) => {
            // Nothing below it can be found either; what follows reports no more.
            diags.push(
                Diagnostic::error(
                    "E034",
                    Location::Path(sources.display_name(root)),
                    format!(
                        "cannot read the stack folder {}: {err}",
                        sources.display_name(root)
                    ),
                )
                .with_hint("check that the folder exists and that panka may read it"),
            );
            return StackFiles {
                root: root.to_path_buf(),
                boundary: Boundary::at(root),
                folder,
                stack: None,
                services: Vec::new(),
                environments: Vec::new(),
                infra_defaults: BTreeMap::new(),
            };
        }
    };
    let stack_dir = boundary.stack().clone();
    let stack_path = root.join("stack.yaml");
    let stack = match find_file(&stack_dir, "stack.yaml", &boundary, sources, diags) {
        Found::Yes => parse_file(
            &stack_path,
            &[DocKind::Stack],
            "stack.yaml",
            &boundary,
            sources,
            diags,
        ),
        Found::No => {
            diags.push(
                Diagnostic::error(
                    "E034",
                    Location::Path(sources.display_name(&stack_path)),
                    format!("no stack.yaml in {}", sources.display_name(root)),
                )
                .with_hint("run `panka stack init` in the stack folder"),
            );
            None
        }
        Found::Refused => None,
    };
    let mut files = StackFiles {
        root: root.to_path_buf(),
        boundary,
        folder,
        stack,
        services: Vec::new(),
        environments: Vec::new(),
        infra_defaults: BTreeMap::new(),
    };
    // A copy: `files` is filled in below while the boundary is in use.
    let boundary = &files.boundary.clone();
    if let Some(doc) = &files.stack {
        check_doc_name(doc, "stack", diags);
        check_matches(
            doc.name(),
            "metadata.name",
            &files.folder,
            "the stack's folder is",
            diags,
        );
    }
    let stack_name = files.name().to_string();

    let default_infra = root.join(DEFAULT_INFRA);
    let default_infra_found = find_file(&stack_dir, DEFAULT_INFRA, boundary, sources, diags);
    if default_infra_found == Found::Yes
        && let Some(doc) = parse_file(
            &default_infra,
            &[DocKind::InfraDefaults],
            "infra/",
            boundary,
            sources,
            diags,
        )
    {
        files
            .infra_defaults
            .insert(PathBuf::from(DEFAULT_INFRA), doc);
    }

    let mut unparsed: Vec<UnparsedComponent> = Vec::new();
    let services = sub_folders(&stack_dir, "services", boundary, sources, diags);
    for entry in services.into_iter().flatten() {
        let service_folder = entry.name.clone();
        let Some(service_dir) = entry.folder() else {
            // Kept, so the service shows as failed; its problem is reported.
            files.services.push(ServiceFiles {
                folder: service_folder,
                doc: None,
                components: Vec::new(),
                defaults: PathBuf::from(DEFAULT_INFRA),
                listed: false,
            });
            continue;
        };
        let service_path = service_dir.path().join("service.yaml");
        let doc = match find_file(&service_dir, "service.yaml", boundary, sources, diags) {
            Found::Yes => parse_file(
                &service_path,
                &[DocKind::Service],
                "service.yaml",
                boundary,
                sources,
                diags,
            ),
            Found::No => {
                diags.push(
                    Diagnostic::error(
                        "E034",
                        Location::Path(sources.display_name(&service_path)),
                        format!("service folder `{service_folder}` has no service.yaml"),
                    )
                    .with_hint(
                        "every folder under services/ is a service described by its service.yaml",
                    ),
                );
                None
            }
            Found::Refused => None,
        };
        let mut defaults = PathBuf::from(DEFAULT_INFRA);
        if let Some(doc) = &doc {
            check_doc_name(doc, "service", diags);
            check_matches(
                doc.name(),
                "metadata.name",
                &service_folder,
                "its folder is",
                diags,
            );
            check_matches(
                doc.envelope.metadata.stack.as_ref(),
                "metadata.stack",
                &stack_name,
                "the stack is",
                diags,
            );
            if let Some(spec) = &doc.envelope.spec
                && let Some(mut m) = MapReader::new(spec, "spec", doc.envelope.spec_span, diags)
            {
                let service_spec = lower_service_spec(&mut m, diags);
                m.finish(diags);
                if let Some(path) = service_spec.defaults {
                    let key = defaults_key(root, &path.value);
                    // A refused `infra/defaults.yaml` is reported once, where it is.
                    defaults = if default_infra_found == Found::Refused
                        && key == Path::new(DEFAULT_INFRA)
                    {
                        key
                    } else {
                        read_infra_defaults(&path, root, boundary, &mut files, sources, diags)
                    };
                }
            }
        }
        let Some(component_dirs) =
            sub_folders(&service_dir, "components", boundary, sources, diags)
        else {
            files.services.push(ServiceFiles {
                folder: service_folder,
                doc,
                components: Vec::new(),
                defaults,
                listed: false,
            });
            continue;
        };
        for entry in component_dirs {
            // `None`: the folder is refused or cannot be listed (reported).
            let yaml = entry.folder().and_then(|dir| {
                let files = listed(&dir, Kind::File, is_yaml, boundary, sources, diags)?;
                Some(
                    files
                        .into_iter()
                        .map(|file| {
                            let source = match file.problem {
                                None => read_file(&file.path, boundary, sources, diags),
                                Some(_) => None,
                            };
                            (file.path, source)
                        })
                        .collect(),
                )
            });
            unparsed.push(UnparsedComponent {
                service: files.services.len(),
                folder: entry.name,
                dir: entry.path,
                yaml,
            });
        }
        files.services.push(ServiceFiles {
            folder: service_folder,
            doc,
            components: Vec::new(),
            defaults,
            listed: true,
        });
    }
    let ids: Vec<SourceId> = unparsed
        .iter()
        .flat_map(|c| c.yaml.iter().flatten().filter_map(|(_, source)| *source))
        .collect();
    let mut parsed = parse_all(sources, &ids).into_iter();
    for component in unparsed {
        let service = component.service;
        let service_folder = files.services[service].folder.clone();
        let component = read_component(
            &stack_name,
            &service_folder,
            component,
            &mut parsed,
            sources,
            diags,
        );
        files.services[service].components.push(component);
    }

    let environments = sub_folders(&stack_dir, "environments", boundary, sources, diags);
    for entry in environments.into_iter().flatten() {
        let Some(env_dir) = entry.folder() else {
            continue;
        };
        let env_folder = entry.name;
        let path = env_dir.path().join("environment.yaml");
        if find_file(&env_dir, "environment.yaml", boundary, sources, diags) != Found::Yes {
            continue;
        }
        if let Some(doc) = parse_file(
            &path,
            &[DocKind::Environment],
            "environment.yaml",
            boundary,
            sources,
            diags,
        ) {
            check_doc_name(&doc, "environment", diags);
            check_matches(
                doc.name(),
                "metadata.name",
                &env_folder,
                "its folder is",
                diags,
            );
            files.environments.push(EnvironmentFile {
                folder: env_folder,
                doc,
            });
        }
    }

    let mut seen: BTreeMap<ComponentId, Span> = BTreeMap::new();
    for service in &files.services {
        for component in &service.components {
            let Some(doc) = &component.doc else { continue };
            let Some(name) = doc.name() else { continue };
            let id = ComponentId::new(&service.folder, &name.value);
            if let Some(first) = seen.get(&id) {
                diags.push(
                    Diagnostic::at(
                        "E033",
                        name.span,
                        format!("component `{id}` is defined twice"),
                    )
                    .with_label("second definition")
                    .with_hint(format!(
                        "the first is at {}:{}",
                        sources.get(first.source).display,
                        first.line
                    )),
                );
            } else {
                seen.insert(id, name.span);
            }
        }
    }
    files
}

/// The infra defaults file a service uses when it names none.
const DEFAULT_INFRA: &str = "infra/defaults.yaml";

/// Reads the file a service names in `spec.infrastructure.defaults` (once per file) and
/// returns its key in `files.infra_defaults`. A path that leaves the boundary, or a link
/// that does, is refused at the value that names it, and the file is never opened.
fn read_infra_defaults(
    written: &Located<String>,
    root: &Path,
    boundary: &Boundary,
    files: &mut StackFiles,
    sources: &mut Sources,
    diags: &mut Diagnostics,
) -> PathBuf {
    let full = match boundary.resolve(root, &written.value) {
        Ok(full) => full,
        Err(problem) => {
            let (code, message, label, hint) = match &problem {
                PathProblem::Missing => (
                    "E081",
                    format!("infra defaults file `{}` does not exist", written.value),
                    "not found",
                    "paths in `infrastructure.defaults` are relative to the stack folder"
                        .to_string(),
                ),
                other => (
                    other.code(),
                    format!(
                        "infra defaults file: {}",
                        other.message(&written.value, boundary)
                    ),
                    "not read",
                    other.hint(boundary),
                ),
            };
            diags.push(
                Diagnostic::at(code, written.span, message)
                    .with_label(label)
                    .with_hint(hint),
            );
            // A key no file has: the service's MicroServices get the built-in defaults,
            // and the error above stops any plan.
            return PathBuf::from(&written.value);
        }
    };
    let key = defaults_key(root, &written.value);
    if let std::collections::btree_map::Entry::Vacant(e) = files.infra_defaults.entry(key.clone())
        && let Some(d) = parse_file(
            &full,
            &[DocKind::InfraDefaults],
            "an infra defaults file",
            boundary,
            sources,
            diags,
        )
    {
        e.insert(d);
    }
    key
}

/// The key in `StackFiles::infra_defaults` of the defaults file `written` in a service:
/// its path below the stack folder (`./infra/defaults.yaml` → `infra/defaults.yaml`), or
/// the whole path when it is elsewhere in the repo.
fn defaults_key(root: &Path, written: &str) -> PathBuf {
    let full = lexical_join(root, written);
    full.strip_prefix(root)
        .map(Path::to_path_buf)
        .unwrap_or(full)
}

/// A component folder whose YAML files are read (in `sources`; `None`: unreadable or
/// refused, already reported) but not parsed yet.
struct UnparsedComponent {
    /// Index of its service in `StackFiles::services`.
    service: usize,
    folder: String,
    dir: PathBuf,
    /// `None`: the folder itself is refused or cannot be listed (reported).
    yaml: Option<Vec<(PathBuf, Option<SourceId>)>>,
}

/// The component's documents; `parsed` yields the parse result of each readable file of
/// `unparsed`, in order.
fn read_component(
    stack_name: &str,
    service_folder: &str,
    unparsed: UnparsedComponent,
    parsed: &mut impl Iterator<Item = Result<Node, Vec<Diagnostic>>>,
    sources: &Sources,
    diags: &mut Diagnostics,
) -> ComponentFiles {
    let UnparsedComponent {
        folder, dir, yaml, ..
    } = unparsed;
    let Some(yaml) = yaml else {
        return ComponentFiles {
            folder,
            dir,
            doc: None,
            infra: None,
        };
    };
    let mut doc: Option<ParsedDoc> = None;
    let mut infra = None;
    let mut had_component_file = false;
    let place = format!("component folder `{service_folder}/{folder}`");
    for (path, source) in yaml {
        let is_infra = path.file_stem().is_some_and(|s| s == "infra");
        if !is_infra {
            had_component_file = true;
        }
        let Some(source) = source else { continue };
        let Some(node) = parsed.next() else { continue };
        if is_infra {
            infra = typed_doc(
                source,
                node,
                &[DocKind::ComponentInfra],
                "infra.yaml",
                diags,
            );
            continue;
        }
        let Some(parsed) = typed_doc(
            source,
            node,
            &ComponentKind::ALL.map(DocKind::Component),
            &place,
            diags,
        ) else {
            continue;
        };
        if let Some(first) = &doc {
            diags.push(
                Diagnostic::at(
                    "E033",
                    parsed.envelope.kind_span,
                    format!(
                        "component folder `{service_folder}/{folder}` holds a second component"
                    ),
                )
                .with_label("second component document")
                .with_hint(format!(
                    "the first is {}; give each component its own folder",
                    sources.get(first.source).display
                )),
            );
            continue;
        }
        doc = Some(parsed);
    }
    if !had_component_file {
        diags.push(
            Diagnostic::error(
                "E034",
                Location::Path(sources.display_name(&dir)),
                format!("component folder `{service_folder}/{folder}` has no component document"),
            )
            .with_hint(
                "add a YAML file with `kind: MicroService`, `RDS`, `SQS` or `ElastiCacheRedis`",
            ),
        );
    }
    for d in doc.iter().chain(infra.iter()) {
        let meta = &d.envelope.metadata;
        check_matches(
            meta.name.as_ref(),
            "metadata.name",
            &folder,
            "its folder is",
            diags,
        );
        check_matches(
            meta.service.as_ref(),
            "metadata.service",
            service_folder,
            "the service folder is",
            diags,
        );
        check_matches(
            meta.stack.as_ref(),
            "metadata.stack",
            stack_name,
            "the stack is",
            diags,
        );
    }
    if let Some(d) = &doc {
        check_doc_name(d, "component", diags);
    }
    if let (Some(d), Some(i)) = (&doc, &infra)
        && d.envelope.kind != DocKind::Component(ComponentKind::MicroService)
    {
        diags.push(
            Diagnostic::at(
                "E012",
                i.envelope.kind_span,
                format!(
                    "`ComponentInfra` applies only to MicroService components, not {}",
                    d.envelope.kind.name()
                ),
            )
            .with_label("no infra for this kind")
            .with_hint("size databases, queues and caches in their own `spec`"),
        );
    }
    ComponentFiles {
        folder,
        dir,
        doc,
        infra,
    }
}

/// A component with its typed spec for one environment.
#[derive(Clone, Debug)]
pub struct Component {
    pub id: ComponentId,
    pub spec: ComponentSpec,
    pub source: SourceId,
    /// `kind:` of its document, where kind-level messages point.
    pub span: Span,
    pub references: Vec<Reference>,
}

impl Component {
    pub fn kind(&self) -> ComponentKind {
        self.spec.kind()
    }
}

/// The stack as it applies to one environment (or to none, when validating the base).
#[derive(Clone, Debug)]
pub struct ResolvedStack {
    pub name: String,
    /// What may be read; plan and apply read config files again through it.
    pub boundary: Boundary,
    pub description: Option<String>,
    pub spec: StackSpec,
    pub environment: Option<String>,
    pub environment_spec: Option<EnvironmentSpec>,
    pub services: Vec<String>,
    pub components: Vec<Component>,
}

/// How undefined variables are treated and which environment is applied.
pub struct ResolveOptions<'a> {
    pub environment: Option<&'a str>,
    pub variables: &'a Variables,
    pub undefined_variables: Severity,
}

/// Applies an environment to the parsed files: merges infra defaults, component infra
/// and overrides, substitutes variables and reads every spec.
pub fn resolve(
    files: &StackFiles,
    options: &ResolveOptions,
    diags: &mut Diagnostics,
) -> ResolvedStack {
    let env_file = options.environment.and_then(|e| files.environment(e));
    let environment_spec = env_file.and_then(|e| {
        let spec = e.doc.envelope.spec.as_ref()?;
        let mut m = MapReader::new(spec, "spec", e.doc.envelope.spec_span, diags)?;
        let lowered = lower_environment_spec(&mut m, diags);
        m.finish(diags);
        Some(lowered)
    });
    let mut variables = options.variables.clone();
    if let Some(spec) = &environment_spec {
        variables.push_layer(spec.variables.clone());
    }
    let undefined = options.undefined_variables;

    let mut stack_spec = StackSpec {
        provider: "aws",
        region: String::new(),
        tags: BTreeMap::new(),
    };
    let mut description = None;
    if let Some(doc) = &files.stack {
        description = doc.envelope.metadata.description.clone();
        match &doc.envelope.spec {
            Some(spec) => {
                let mut spec = spec.clone();
                interpolate(&mut spec, &variables, undefined, diags);
                if let Some(mut m) = MapReader::new(&spec, "spec", doc.envelope.spec_span, diags) {
                    stack_spec = lower_stack_spec(&mut m, diags);
                    m.finish(diags);
                }
            }
            None => diags.push(missing_spec(doc)),
        }
    }

    // Overrides by target; unknown targets are reported once here.
    // A set, and the names for suggestions built once: a scan of every component per
    // override is quadratic when both lists are long.
    let in_order = files.component_ids();
    let names: Vec<String> = in_order.iter().map(ToString::to_string).collect();
    let ids: BTreeSet<ComponentId> = in_order.into_iter().collect();
    let unreadable = files.unreadable_components();
    let mut overrides: BTreeMap<ComponentId, Vec<&Override>> = BTreeMap::new();
    for o in environment_spec.iter().flat_map(|e| &e.overrides) {
        match ComponentId::parse(&o.target.value, "")
            .filter(|id| !id.service.is_empty() && ids.contains(id))
        {
            Some(id) => overrides.entry(id).or_default().push(o),
            // Its folder could not be read (reported): not a second error.
            None if ComponentId::parse(&o.target.value, "")
                .is_some_and(|id| id.is_in(&unreadable)) => {}
            None => {
                let mut d = Diagnostic::at(
                    "E070",
                    o.target.span,
                    format!("override names unknown component `{}`", o.target.value),
                )
                .with_label("no such component");
                d = match did_you_mean(&o.target.value, names.iter().map(String::as_str)) {
                    Some(s) => d.with_hint(format!("did you mean `{s}`?")),
                    None if !o.target.value.contains('/') => {
                        d.with_hint("override keys are `service/component`")
                    }
                    None => d.with_hint(format!("components: {}", names.join(", "))),
                };
                diags.push(d);
            }
        }
    }

    let mut components = Vec::new();
    for service in &files.services {
        let defaults_doc = files.infra_defaults.get(&service.defaults);
        for cf in &service.components {
            let (Some(doc), Some(kind)) = (&cf.doc, cf.kind()) else {
                continue;
            };
            let Some(name) = doc.name() else { continue };
            let id = ComponentId::new(&service.folder, &name.value);
            let own_overrides = overrides.get(&id).map(Vec::as_slice).unwrap_or(&[]);

            let Some(spec_node) = &doc.envelope.spec else {
                diags.push(missing_spec(doc));
                continue;
            };
            // The parsed tree is shared by every environment: copy it only when an
            // override or a `${VAR}` is about to change it (most components of large
            // stacks have neither).
            let changes = own_overrides.iter().any(|o| o.spec.is_some())
                || spec_node.any_scalar(&|s| s.text.contains('$'));
            let spec_node = if changes {
                let mut spec_node = spec_node.clone();
                for o in own_overrides {
                    if let Some(s) = &o.spec {
                        deep_merge(&mut spec_node, s);
                    }
                }
                interpolate(&mut spec_node, &variables, undefined, diags);
                std::borrow::Cow::Owned(spec_node)
            } else {
                std::borrow::Cow::Borrowed(spec_node)
            };

            let infra = if kind == ComponentKind::MicroService {
                let mut layers: Vec<&Node> = Vec::new();
                layers.extend(defaults_doc.and_then(|d| d.envelope.spec.as_ref()));
                layers.extend(cf.infra.as_ref().and_then(|d| d.envelope.spec.as_ref()));
                layers.extend(own_overrides.iter().filter_map(|o| o.infra.as_ref()));
                merged_infra(&layers, &variables, undefined, diags)
            } else {
                for o in own_overrides {
                    if let Some(infra) = &o.infra {
                        diags.push(
                            Diagnostic::at(
                                "E071",
                                infra.span,
                                format!("{kind} components have no infra settings to override"),
                            )
                            .with_label("not a MicroService")
                            .with_hint(format!("override `spec` of `{id}` instead")),
                        );
                    }
                }
                InfraSpec::default()
            };

            let mut ctx = LowerContext {
                component_dir: &cf.dir,
                boundary: &files.boundary,
                service: &service.folder,
                references: Vec::new(),
            };
            let Some(mut m) = MapReader::new(&spec_node, "spec", doc.envelope.spec_span, diags)
            else {
                continue;
            };
            let spec = lower_component(kind, &mut m, infra, &mut ctx, diags);
            m.finish(diags);
            components.push(Component {
                id,
                spec,
                source: doc.source,
                span: doc.envelope.kind_span,
                references: ctx.references,
            });
        }
    }
    // Defaults files are also read on their own, so a problem in one that no
    // MicroService uses is still found.
    for doc in files.infra_defaults.values() {
        if let Some(spec) = &doc.envelope.spec {
            merged_infra(&[spec], &variables, undefined, diags);
        }
    }
    if let Some(network) = environment_spec.as_ref().and_then(|e| e.network.as_ref()) {
        check_placement(network, components.iter().map(|c| (&c.id, &c.spec)), diags);
    }
    if let Some(environment) = options.environment {
        crate::model::check_hosts(
            environment_spec.as_ref().and_then(|e| e.domain.as_ref()),
            files.name(),
            environment,
            components.iter().map(|c| (&c.id, &c.spec)),
            diags,
        );
    }
    crate::secret_keys::fill(&mut components);
    ResolvedStack {
        name: files.name().to_string(),
        boundary: files.boundary.clone(),
        description,
        spec: stack_spec,
        environment: options.environment.map(str::to_string),
        environment_spec,
        services: files.services.iter().map(|s| s.folder.clone()).collect(),
        components,
    }
}

fn merged_infra(
    layers: &[&Node],
    variables: &Variables,
    undefined: Severity,
    diags: &mut Diagnostics,
) -> InfraSpec {
    let Some((first, rest)) = layers.split_first() else {
        return InfraSpec::default();
    };
    let mut merged = (*first).clone();
    for layer in rest {
        deep_merge(&mut merged, layer);
    }
    interpolate(&mut merged, variables, undefined, diags);
    let anchor = merged.span;
    match MapReader::new(&merged, "spec", anchor, diags) {
        Some(mut m) => {
            let infra = lower_infra(&mut m, diags);
            m.finish(diags);
            infra
        }
        None => InfraSpec::default(),
    }
}

fn missing_spec(doc: &ParsedDoc) -> Diagnostic {
    Diagnostic::at(
        "E022",
        doc.envelope.kind_span,
        format!(
            "missing required field `spec` in this {} document",
            doc.envelope.kind.name()
        ),
    )
    .with_label("document without `spec`")
}
