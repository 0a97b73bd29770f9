//! Files and folders for tests, with the standard library only: the workspace's fixtures,
//! copies of them, files written below a folder.
//!
//! Written once for both test binaries: panka-core's (`core/tests/it/main.rs`) and the
//! CLI's, which includes this file by its path (`tests/it/support/mod.rs`).

use std::path::{Path, PathBuf};

/// The workspace's `fixtures/` folder, found from either package's manifest folder (the
/// workspace root, or `core/` below it).
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("fixtures"))
        .find(|dir| dir.is_dir())
        .expect("the workspace's fixtures/ folder")
}

/// The walkthrough's stack: `fixtures/notification-platform`.
pub fn walkthrough() -> PathBuf {
    fixtures().join("notification-platform")
}

/// A deployment repo in a new temporary folder, holding a copy of the walkthrough's stack
/// at `stacks/notification-platform`.
pub fn walkthrough_repo() -> tempfile::TempDir {
    let repo = tempfile::tempdir().expect("tempdir");
    copy_dir(
        &walkthrough(),
        &repo.path().join("stacks/notification-platform"),
    );
    repo
}

/// Copies the folder `from` to `to` (created when missing), recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// Writes `text` to `root/rel`, creating the folders on the way.
pub fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

/// Appends every `.yaml` file below `dir` to `out`, recursively, in directory order.
pub fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(path);
        }
    }
}
