//! Source files and positions: every diagnostic points into one of these.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

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
    /// The file's text; never changed after [`Sources::add`] (the line index is built
    /// from it once).
    pub text: String,
    /// Byte offset where each line starts, built the first time a line is looked up:
    /// finding line n by splitting the text made printing one diagnostic per line of a
    /// file quadratic (40,000 diagnostics took 16 s).
    line_starts: OnceLock<Vec<usize>>,
}

impl SourceFile {
    /// The text of a 1-based line, without its line break.
    pub fn line_text(&self, line: u32) -> Option<&str> {
        let starts = self.line_starts();
        let i = line.checked_sub(1)? as usize;
        let start = *starts.get(i)?;
        // The next line starts after this one's `\n`.
        let end = starts.get(i + 1).map_or(self.text.len(), |next| next - 1);
        let l = &self.text[start..end];
        Some(l.strip_suffix('\r').unwrap_or(l))
    }

    /// Lines as `split('\n')` counts them: a final line break starts an empty last line.
    pub fn line_count(&self) -> usize {
        self.line_starts().len()
    }

    fn line_starts(&self) -> &[usize] {
        self.line_starts.get_or_init(|| {
            std::iter::once(0)
                .chain(self.text.match_indices('\n').map(|(at, _)| at + 1))
                .collect()
        })
    }
}

/// The largest YAML file panka reads: 2 MiB. A stack's documents are a few kilobytes
/// each (the walkthrough's largest is 2 KB); a file a thousand times that is a mistake (a
/// wrong path, generated data), and parsing costs memory in proportion to it: 4 to 5
/// times the text for ordinary block YAML, and up to about 150 times while a flow
/// collection that opens a document or a list item (`- [...]`) is being read (the parser
/// keeps its tokens until it closes): 2 MiB keeps that worst case near 300 MB. Such a
/// file is refused before it is read.
pub const MAX_FILE_BYTES: u64 = 2 << 20;

/// Why [`read_limited`] failed.
#[derive(Debug)]
pub enum ReadError {
    /// The file is larger than [`MAX_FILE_BYTES`]: `bytes` is its size, or at least how
    /// much was read before stopping.
    TooLarge {
        bytes: u64,
    },
    Io(std::io::Error),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::TooLarge { bytes } => write!(
                f,
                "it is {}, and panka reads YAML files of at most {}",
                mebibytes(*bytes),
                mebibytes(MAX_FILE_BYTES)
            ),
            ReadError::Io(err) => err.fmt(f),
        }
    }
}

fn mebibytes(bytes: u64) -> String {
    let mib = bytes as f64 / (1u64 << 20) as f64;
    if mib.fract() == 0.0 {
        format!("{mib:.0} MiB")
    } else {
        format!("{mib:.1} MiB")
    }
}

/// Reads a YAML file's bytes, refusing one larger than [`MAX_FILE_BYTES`] from its size
/// before reading it, and stopping at the limit when the size is unknown or wrong (a
/// pipe, a file still growing).
pub fn read_limited(path: &Path) -> Result<Vec<u8>, ReadError> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(ReadError::Io)?;
    let size = file.metadata().map_err(ReadError::Io)?.len();
    if size > MAX_FILE_BYTES {
        return Err(ReadError::TooLarge { bytes: size });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ReadError::TooLarge {
            bytes: bytes.len() as u64,
        });
    }
    Ok(bytes)
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
            line_starts: OnceLock::new(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> SourceFile {
        let mut sources = Sources::default();
        let id = sources.add(Path::new("f.yaml"), text.to_string());
        let mut files = std::mem::take(&mut sources.files);
        files.swap_remove(id.0 as usize)
    }

    #[test]
    fn lines_are_found_as_split_finds_them() {
        for text in [
            "",
            "a",
            "a\n",
            "a\nb",
            "a\r\nb\r\n",
            "\n\n",
            "é\nx💥\n\nlast",
        ] {
            let f = file(text);
            let expected: Vec<&str> = text
                .split('\n')
                .map(|l| l.strip_suffix('\r').unwrap_or(l))
                .collect();
            assert_eq!(f.line_count(), expected.len(), "{text:?}");
            for (i, want) in expected.iter().enumerate() {
                assert_eq!(
                    f.line_text(i as u32 + 1),
                    Some(*want),
                    "{text:?} line {}",
                    i + 1
                );
            }
            assert_eq!(f.line_text(0), None);
            assert_eq!(f.line_text(expected.len() as u32 + 1), None);
        }
    }

    #[test]
    fn files_over_the_size_limit_are_refused_before_they_are_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("big.yaml");
        let file = std::fs::File::create(&path).expect("create");
        // A sparse file: its size says 20 MiB without writing them.
        file.set_len(20 << 20).expect("set_len");
        match read_limited(&path) {
            Err(e @ ReadError::TooLarge { bytes }) => {
                assert_eq!(bytes, 20 << 20);
                assert_eq!(
                    e.to_string(),
                    "it is 20 MiB, and panka reads YAML files of at most 2 MiB"
                );
            }
            other => panic!("{other:?}"),
        }
        std::fs::write(&path, "a: 1\n").expect("write");
        assert_eq!(read_limited(&path).expect("small"), b"a: 1\n");
        #[cfg(unix)]
        {
            // No size to go by: reading stops just past the limit.
            let err = read_limited(Path::new("/dev/zero")).expect_err("endless");
            assert!(
                matches!(err, ReadError::TooLarge { bytes } if bytes == MAX_FILE_BYTES + 1),
                "{err:?}"
            );
        }
    }

    #[test]
    fn the_line_index_is_built_once_per_file() {
        // 40,000 look-ups on a 40,000-line file: with a scan per look-up this was 16 s;
        // here the index is built once and each look-up is two slice reads.
        let text: String = (0..40_000).map(|i| format!("key{i}: {i}\n")).collect();
        let f = file(&text);
        for line in 1..=40_000u32 {
            let got = f.line_text(line).expect("line");
            assert!(got.starts_with("key"), "{line}: {got}");
        }
        assert_eq!(f.line_starts().len(), 40_001);
        assert!(f.line_starts.get().is_some());
    }
}
