//! The one rule for every file and folder panka reads, and every path written in a
//! document: it must lie inside the deployment repo once links are followed.
//!
//! The boundary is found from the stack folder's real path (links resolved): the nearest
//! folder `d` above it such that the stack folder is under `d/stacks/` (the same repo
//! `state::local::default_root` keeps `.panka/` in), else the stack folder itself (a stack
//! that is not in a deployment repo, such as `fixtures/invalid/<case>/`). A link is
//! followed when its real path is inside the boundary; one that leads outside, dangles or
//! loops is refused, as is a path written in a document that is absolute or climbs out
//! with `..`. A path that exists but cannot be read is an error, never "absent".
//!
//! Files outside the boundary are never opened, so no message can quote them: written
//! paths are first checked without touching the disk, and links before reading.
//!
//! Loading a large stack reads thousands of entries, so a folder is carried as a
//! [`Folder`] (its path as named and its real path): an entry that is not a link is
//! inside because its folder is, and costs no system call beyond the listing; only links
//! are resolved (`canonicalize`).

use std::ffi::OsStr;
use std::io;
use std::path::{Component, Path, PathBuf};

/// The folder panka may read below, as a real path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Boundary {
    root: PathBuf,
    /// Whether `root` is a deployment repo (it holds the stack under `stacks/`) rather
    /// than the stack folder itself; only changes how messages name it.
    is_repo: bool,
    stack: Folder,
}

/// A folder inside the boundary, checked: its path as named (messages show it, files
/// are read through it) and its real path (links resolved).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Folder {
    path: PathBuf,
    real: PathBuf,
}

impl Folder {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// What is at a path once links are followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    /// A socket, device or pipe: never read.
    Other,
}

/// Why a path cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathProblem {
    /// Nothing is there: no file, folder or link. Whether that is an error is the
    /// caller's business (an optional file, or a required one).
    Missing,
    /// An absolute path written in a document.
    Absolute,
    /// The path, or a link on the way, leads outside the boundary. `link` is what the
    /// path itself links to, when it is a link.
    Outside { link: Option<PathBuf> },
    /// A link whose target does not exist.
    Dangling { link: PathBuf },
    /// Links that lead back to themselves.
    Loop,
    /// A name that is not UTF-8 (panka names components and services after folders).
    NotUtf8Name,
    /// Expected a folder, found a file (or the reverse).
    WrongKind { expected: Kind },
    /// It exists but cannot be read: permission denied, an I/O error.
    Unreadable(String),
    /// A file over the size limit (`crate::source::MAX_FILE_BYTES`): its size, or how
    /// much was read before stopping.
    TooLarge { bytes: u64 },
}

impl PathProblem {
    /// The diagnostic code: `E036` for where a path leads, `E034` for what cannot be read.
    pub fn code(&self) -> &'static str {
        match self {
            PathProblem::Absolute
            | PathProblem::Outside { .. }
            | PathProblem::Dangling { .. }
            | PathProblem::Loop => "E036",
            PathProblem::Missing
            | PathProblem::NotUtf8Name
            | PathProblem::WrongKind { .. }
            | PathProblem::Unreadable(_)
            | PathProblem::TooLarge { .. } => "E034",
        }
    }

    /// One sentence about `shown` (the path as the user knows it).
    pub fn message(&self, shown: &str, boundary: &Boundary) -> String {
        match self {
            PathProblem::Missing => format!("`{shown}` does not exist"),
            PathProblem::Absolute => format!("`{shown}` is an absolute path"),
            PathProblem::Outside { link: Some(link) } => format!(
                "`{shown}` is a link to `{}`, outside {}",
                link.display(),
                boundary.name()
            ),
            PathProblem::Outside { link: None } => {
                format!("`{shown}` leads outside {}", boundary.name())
            }
            PathProblem::Dangling { link } => format!(
                "`{shown}` is a link to `{}`, which does not exist",
                link.display()
            ),
            PathProblem::Loop => format!("`{shown}` is a link loop: it leads back to itself"),
            PathProblem::NotUtf8Name => format!("the name of `{shown}` is not UTF-8"),
            PathProblem::WrongKind {
                expected: Kind::Dir,
            } => format!("`{shown}` is not a folder"),
            PathProblem::WrongKind { .. } => format!("`{shown}` is not a file"),
            PathProblem::Unreadable(err) => format!("cannot read `{shown}`: {err}"),
            PathProblem::TooLarge { bytes } => format!(
                "`{shown}` is too large: {}",
                crate::source::ReadError::TooLarge { bytes: *bytes }
            ),
        }
    }

    pub fn hint(&self, boundary: &Boundary) -> String {
        match self {
            PathProblem::Missing => "check the path".to_string(),
            PathProblem::Absolute => format!(
                "write the path relative to its folder; panka reads only files inside {}",
                boundary.name()
            ),
            PathProblem::Outside { link: Some(_) } => format!(
                "panka reads only files inside {} ({}); copy the file in, or point the link inside it",
                boundary.name(),
                boundary.explained()
            ),
            PathProblem::Outside { link: None } => format!(
                "panka reads only files inside {} ({}); copy the file in, and keep the path and any link on it inside",
                boundary.name(),
                boundary.explained()
            ),
            PathProblem::Dangling { .. } => {
                "point the link at an existing file or folder, or remove it".to_string()
            }
            PathProblem::Loop => "point the link at a file or folder, or remove it".to_string(),
            PathProblem::NotUtf8Name => {
                "rename it using UTF-8 characters (names become AWS resource names)".to_string()
            }
            PathProblem::WrongKind { .. } => "rename or remove it".to_string(),
            PathProblem::Unreadable(_) => {
                "check its permissions: panka must be able to read every file and folder of the stack"
                    .to_string()
            }
            PathProblem::TooLarge { .. } => {
                "stack documents are a few kilobytes; check that this is the file you meant, or split it"
                    .to_string()
            }
        }
    }
}

/// One entry of a listed folder, kept by the caller's name filter and kind.
#[derive(Debug)]
pub struct Listed {
    /// The entry's path below the listed folder (not resolved).
    pub path: PathBuf,
    /// Its name (lossy when it is not UTF-8, which `problem` then reports).
    pub name: String,
    /// Why it cannot be used; `None`: it is of the kind asked for, inside the boundary.
    pub problem: Option<PathProblem>,
    real: PathBuf,
}

impl Listed {
    /// The entry as a folder, when it is a usable one.
    pub fn folder(&self) -> Option<Folder> {
        self.problem.is_none().then(|| Folder {
            path: self.path.clone(),
            real: self.real.clone(),
        })
    }
}

impl Boundary {
    /// The boundary of the stack at `stack_dir`. Errors: the stack folder itself cannot
    /// be resolved (it does not exist, or a link on its path is broken).
    pub fn of_stack(stack_dir: &Path) -> io::Result<Boundary> {
        let real = std::fs::canonicalize(stack_dir)?;
        let repo = real
            .ancestors()
            .skip(1)
            .find(|d| {
                real.strip_prefix(d.join("stacks"))
                    .is_ok_and(|below| !below.as_os_str().is_empty())
            })
            .map(Path::to_path_buf);
        let stack = Folder {
            path: stack_dir.to_path_buf(),
            real: real.clone(),
        };
        Ok(match repo {
            Some(root) => Boundary {
                root,
                is_repo: true,
                stack,
            },
            None => Boundary {
                root: real,
                is_repo: false,
                stack,
            },
        })
    }

    /// A boundary at `root` as given, for tests and for stacks that could not be
    /// resolved (then nothing inside is found either).
    pub fn at(root: impl Into<PathBuf>) -> Boundary {
        let root = root.into();
        Boundary {
            stack: Folder {
                path: root.clone(),
                real: root.clone(),
            },
            root,
            is_repo: false,
        }
    }

    /// The stack folder.
    pub fn stack(&self) -> &Folder {
        &self.stack
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// How messages name the boundary.
    pub fn name(&self) -> &'static str {
        if self.is_repo {
            "the deployment repo"
        } else {
            "the stack folder"
        }
    }

    fn explained(&self) -> &'static str {
        if self.is_repo {
            "the folder that holds `stacks/`"
        } else {
            "the stack is not in a repo's `stacks/` folder"
        }
    }

    /// What `path` is once links are followed, if it is inside the boundary. Resolves
    /// the whole path: for paths not reached through a [`Folder`].
    pub fn probe(&self, path: &Path) -> Result<Kind, PathProblem> {
        let meta = std::fs::symlink_metadata(path).map_err(missing_or)?;
        if meta.is_symlink() {
            return self.follow(path).map(|(_, kind)| kind);
        }
        match std::fs::canonicalize(path) {
            Ok(real) if real.starts_with(&self.root) => Ok(kind_of(&meta)),
            // A link on the way.
            Ok(_) => Err(PathProblem::Outside { link: None }),
            Err(e) => Err(missing_or(e)),
        }
    }

    /// What `relative` (names separated by `/`, no `..`) is below `parent`: one `lstat`
    /// per name, and a `canonicalize` only for a link. A file on the way counts as
    /// missing, as the operating system has it.
    pub fn find(&self, parent: &Folder, relative: &str) -> Result<(Folder, Kind), PathProblem> {
        let mut at = parent.clone();
        let mut kind = Kind::Dir;
        for name in relative.split('/').filter(|n| !n.is_empty() && *n != ".") {
            if kind != Kind::Dir {
                return Err(PathProblem::Missing);
            }
            let path = at.path.join(name);
            let meta = std::fs::symlink_metadata(&path).map_err(missing_or)?;
            let (real, found) = if meta.is_symlink() {
                self.follow(&path)?
            } else {
                (at.real.join(name), kind_of(&meta))
            };
            at = Folder { path, real };
            kind = found;
        }
        Ok((at, kind))
    }

    /// The folder `relative` below `parent`; `None` when nothing is there.
    pub fn folder(&self, parent: &Folder, relative: &str) -> Result<Option<Folder>, PathProblem> {
        match self.find(parent, relative) {
            Ok((folder, Kind::Dir)) => Ok(Some(folder)),
            Ok(_) => Err(PathProblem::WrongKind {
                expected: Kind::Dir,
            }),
            Err(PathProblem::Missing) => Ok(None),
            Err(problem) => Err(problem),
        }
    }

    /// Where the link at `path` leads and what is there, if that is inside.
    fn follow(&self, path: &Path) -> Result<(PathBuf, Kind), PathProblem> {
        let link = std::fs::read_link(path).ok();
        let real = match std::fs::canonicalize(path) {
            Ok(real) => real,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(PathProblem::Dangling {
                    link: link.unwrap_or_default(),
                });
            }
            Err(e) => return Err(problem(e)),
        };
        if !real.starts_with(&self.root) {
            return Err(PathProblem::Outside { link });
        }
        let meta = std::fs::metadata(&real).map_err(problem)?;
        Ok((real, kind_of(&meta)))
    }

    /// Like [`probe`](Self::probe), requiring `expected`.
    pub fn probe_kind(&self, path: &Path, expected: Kind) -> Result<(), PathProblem> {
        match self.probe(path)? {
            kind if kind == expected => Ok(()),
            _ => Err(PathProblem::WrongKind { expected }),
        }
    }

    /// The path a document means by `written`, relative to the folder `relative_to`
    /// (inside the boundary): `./` and empty segments dropped, `..` applied. It must
    /// exist and lie inside the boundary; a path that would leave it is refused before
    /// anything on the disk is looked at.
    pub fn resolve(&self, relative_to: &Path, written: &str) -> Result<PathBuf, PathProblem> {
        if written.is_empty() {
            return Err(PathProblem::Missing);
        }
        if Path::new(written).is_absolute() || written.starts_with('/') {
            return Err(PathProblem::Absolute);
        }
        // Checked on the real folder, so `..` counts from where it really is.
        let real_base = if relative_to == self.stack.path {
            // Known: every service's defaults path is relative to it.
            self.stack.real.clone()
        } else {
            std::fs::canonicalize(relative_to).map_err(missing_or)?
        };
        let real_path = lexical_join(&real_base, written);
        if !real_path.starts_with(&self.root) {
            return Err(PathProblem::Outside { link: None });
        }
        // Read through the folder as named, so messages show the path the user knows;
        // but `..` means the real parent, as the operating system has it. Checked again
        // once links further on are followed.
        let path = if written.split('/').any(|part| part == "..") {
            real_path
        } else {
            lexical_join(relative_to, written)
        };
        self.probe(&path)?;
        Ok(path)
    }

    /// The entries of the folder `dir` that are a `kind` once links are followed and
    /// whose names `wanted` keeps (names starting with `.` are skipped), sorted, plus
    /// those that might be one but cannot be used (a link that leads outside, dangles or
    /// loops; a name that is not UTF-8). Entries of another kind are left out: a
    /// `README.md` among service folders is not a service. Errors: `dir` cannot be
    /// listed.
    pub fn list(
        &self,
        dir: &Folder,
        kind: Kind,
        wanted: impl Fn(&Path) -> bool,
    ) -> Result<Vec<Listed>, PathProblem> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir.path).map_err(problem)? {
            let entry = entry.map_err(problem)?;
            let file_name = entry.file_name();
            if file_name.as_encoded_bytes().starts_with(b".") {
                continue;
            }
            let path = dir.path.join(&file_name);
            if !wanted(&path) {
                continue;
            }
            // Most file systems give the type with the listing: no system call.
            let file_type = entry.file_type().map_err(problem)?;
            let found = if file_type.is_symlink() {
                self.follow(&path)
            } else {
                let found = if file_type.is_dir() {
                    Kind::Dir
                } else if file_type.is_file() {
                    Kind::File
                } else {
                    Kind::Other
                };
                Ok((dir.real.join(&file_name), found))
            };
            let (real, problem) = match found {
                Ok((_, found)) if found != kind => continue,
                Ok((real, _)) if file_name.to_str().is_none() => {
                    (real, Some(PathProblem::NotUtf8Name))
                }
                Ok((real, _)) => (real, None),
                Err(problem) => (PathBuf::new(), Some(problem)),
            };
            out.push(Listed {
                name: file_name.to_string_lossy().into_owned(),
                path,
                problem,
                real,
            });
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// The bytes of the file at `path`, checked first (the whole path is resolved: for
    /// a file read again later, which may have been swapped for a link since).
    pub fn read(&self, path: &Path) -> Result<Vec<u8>, PathProblem> {
        self.probe_kind(path, Kind::File)?;
        read_checked(path)
    }
}

/// The bytes of a file already found inside the boundary (by [`Boundary::find`] or
/// [`Boundary::list`]).
pub fn read_checked(path: &Path) -> Result<Vec<u8>, PathProblem> {
    crate::source::read_limited(path).map_err(|err| match err {
        crate::source::ReadError::TooLarge { bytes } => PathProblem::TooLarge { bytes },
        crate::source::ReadError::Io(err) => problem(err),
    })
}

fn kind_of(meta: &std::fs::Metadata) -> Kind {
    if meta.is_dir() {
        Kind::Dir
    } else if meta.is_file() {
        Kind::File
    } else {
        Kind::Other
    }
}

/// Whether `path` names a YAML file (`*.yaml`, `*.yml`).
pub fn is_yaml(path: &Path) -> bool {
    path.extension()
        .is_some_and(|x| x == OsStr::new("yaml") || x == OsStr::new("yml"))
}

/// `base` joined with `written` (split on `/`), `.` and empty segments dropped and `..`
/// applied by removing the last segment: the file is looked up by this path, with no
/// `..` left for the operating system to interpret through links.
pub fn lexical_join(base: &Path, written: &str) -> PathBuf {
    let mut out = base.to_path_buf();
    for part in written.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                // `/..` is `/`.
                if out
                    .components()
                    .next_back()
                    .is_some_and(|c| matches!(c, Component::Normal(_)))
                {
                    out.pop();
                }
            }
            other => out.push(other),
        }
    }
    out
}

fn missing_or(err: io::Error) -> PathProblem {
    match err.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => PathProblem::Missing,
        _ => problem(err),
    }
}

fn problem(err: io::Error) -> PathProblem {
    if is_loop(&err) {
        PathProblem::Loop
    } else {
        PathProblem::Unreadable(err.to_string())
    }
}

/// `ELOOP`: std names this error kind only on nightly (`io_error_more`).
fn is_loop(err: &io::Error) -> bool {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    const ELOOP: Option<i32> = Some(40);
    #[cfg(any(
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "openbsd",
        target_os = "netbsd",
        target_os = "dragonfly"
    ))]
    const ELOOP: Option<i32> = Some(62);
    #[cfg(not(any(
        target_os = "linux",
        target_os = "android",
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "openbsd",
        target_os = "netbsd",
        target_os = "dragonfly"
    )))]
    const ELOOP: Option<i32> = None;
    ELOOP.is_some() && err.raw_os_error() == ELOOP
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_join_drops_dots_and_applies_parents() {
        let base = Path::new("/r/stacks/s");
        assert_eq!(
            lexical_join(base, "./infra//defaults.yaml"),
            Path::new("/r/stacks/s/infra/defaults.yaml")
        );
        assert_eq!(
            lexical_join(base, "../../infra/d.yaml"),
            Path::new("/r/infra/d.yaml")
        );
        assert_eq!(lexical_join(base, "../../../../../x"), Path::new("/x"));
    }

    #[test]
    fn the_boundary_is_the_repo_holding_stacks_else_the_stack_folder() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let real = tmp.path().canonicalize().expect("canonical");
        let stack = tmp.path().join("repo/stacks/shop");
        std::fs::create_dir_all(&stack).expect("mkdir");
        let b = Boundary::of_stack(&stack).expect("boundary");
        assert_eq!(b.root(), real.join("repo"));
        assert_eq!(b.name(), "the deployment repo");
        let alone = tmp.path().join("alone");
        std::fs::create_dir_all(&alone).expect("mkdir");
        let b = Boundary::of_stack(&alone).expect("boundary");
        assert_eq!(b.root(), real.join("alone"));
        assert_eq!(b.name(), "the stack folder");
    }

    #[test]
    fn written_paths_outside_are_refused_before_looking() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let stack = tmp.path().join("repo/stacks/shop");
        std::fs::create_dir_all(&stack).expect("mkdir");
        let b = Boundary::of_stack(&stack).expect("boundary");
        assert_eq!(b.resolve(&stack, "/etc/passwd"), Err(PathProblem::Absolute));
        assert_eq!(
            b.resolve(&stack, "../../../etc/passwd"),
            Err(PathProblem::Outside { link: None })
        );
        assert_eq!(b.resolve(&stack, "../../x.yaml"), Err(PathProblem::Missing));
        std::fs::write(tmp.path().join("repo/x.yaml"), "").expect("write");
        assert_eq!(
            b.resolve(&stack, "../../x.yaml"),
            Ok(tmp.path().join("repo/x.yaml"))
        );
    }
}
