//! Source files and positions: every diagnostic points into one of these.

use std::path::{Path, PathBuf};

/// Index of a file in [`Sources`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourceId(pub u32);

/// A position in a source file: 1-based line and column (columns count characters, as
/// editors and Terraform do), and the length of the marked text on that line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    pub source: SourceId,
    pub line: u32,
    pub column: u32,
    pub len: u32,
}

impl Span {
    /// A span of `len` characters starting `offset` characters to the right of this one.
    pub fn shifted(self, offset: u32, len: u32) -> Span {
        Span {
            column: self.column + offset,
            len,
            ..self
        }
    }
}

/// One loaded file.
#[derive(Debug)]
pub struct SourceFile {
    /// Where the file is on disk.
    pub path: PathBuf,
    /// How the file is named in messages: relative to the directory panka was started in
    /// when the file is below it.
    pub display: String,
    pub text: String,
}

impl SourceFile {
    /// The text of a 1-based line, without its line break.
    pub fn line_text(&self, line: u32) -> Option<&str> {
        self.text
            .split('\n')
            .nth(line.checked_sub(1)? as usize)
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
    }
}

/// Every file read during one command, so diagnostics can quote them.
#[derive(Debug, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
    display_base: Option<PathBuf>,
}

impl Sources {
    /// File names in messages are shown relative to `base` when they are below it.
    pub fn with_display_base(base: impl Into<PathBuf>) -> Self {
        Sources {
            files: Vec::new(),
            display_base: Some(base.into()),
        }
    }

    pub fn add(&mut self, path: &Path, text: String) -> SourceId {
        let display = self.display_name(path);
        let id = SourceId(self.files.len() as u32);
        self.files.push(SourceFile {
            path: path.to_path_buf(),
            display,
            text,
        });
        id
    }

    pub fn get(&self, id: SourceId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    pub fn display_name(&self, path: &Path) -> String {
        let shown = self
            .display_base
            .as_deref()
            .and_then(|base| path.strip_prefix(base).ok())
            .filter(|rel| !rel.as_os_str().is_empty())
            .unwrap_or(path);
        shown.to_string_lossy().replace('\\', "/")
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}
