//! Finding the stack folder from `--stack` and the current folder.

use crate::error::UserError;
use std::path::{Path, PathBuf};

fn is_stack_dir(dir: &Path) -> bool {
    dir.join("stack.yaml").is_file()
}

fn stacks_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("stacks"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| is_stack_dir(&e.path()))
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

/// Finds the stack folder.
///
/// - `--stack` naming a folder that holds `stack.yaml`: that folder.
/// - `--stack NAME`: `stacks/NAME/` in the current folder or any parent, or the current
///   folder or a parent when it is itself the stack `NAME`.
/// - no `--stack`: the stack folder the current folder is in.
pub fn find_stack(stack: Option<&str>, cwd: &Path) -> Result<PathBuf, UserError> {
    if let Some(name) = stack {
        let as_path = cwd.join(name);
        if is_stack_dir(&as_path) {
            return Ok(as_path);
        }
        for dir in cwd.ancestors() {
            let candidate = dir.join("stacks").join(name);
            if is_stack_dir(&candidate) {
                return Ok(candidate);
            }
            if dir.file_name().is_some_and(|n| n == name) && is_stack_dir(dir) {
                return Ok(dir.to_path_buf());
            }
        }
        let known = cwd
            .ancestors()
            .map(stacks_in)
            .find(|s| !s.is_empty())
            .unwrap_or_default();
        let err = UserError::new(format!("stack `{name}` not found"));
        return Err(if known.is_empty() {
            err.hint("run panka from your deployment repo, which holds stacks/<name>/stack.yaml, or pass the stack folder's path")
        } else {
            let suggestion = panka_core::read::did_you_mean(name, known.iter().map(String::as_str));
            match suggestion {
                Some(s) => err.hint(format!(
                    "did you mean `{s}`? Stacks here: {}",
                    known.join(", ")
                )),
                None => err.hint(format!("stacks here: {}", known.join(", "))),
            }
        });
    }
    if let Some(dir) = cwd.ancestors().find(|d| is_stack_dir(d)) {
        return Ok(dir.to_path_buf());
    }
    let known = cwd
        .ancestors()
        .map(stacks_in)
        .find(|s| !s.is_empty())
        .unwrap_or_default();
    Err(
        UserError::new("no stack selected").hint(if known.is_empty() {
            "pass --stack NAME, or run panka inside a stack folder (one with stack.yaml)"
                .to_string()
        } else {
            format!("pass --stack with one of: {}", known.join(", "))
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        for stack in ["alpha", "beta"] {
            let root = dir.path().join("stacks").join(stack);
            std::fs::create_dir_all(root.join("services/svc")).expect("mkdir");
            std::fs::write(root.join("stack.yaml"), "kind: Stack\n").expect("write");
        }
        dir
    }

    #[test]
    fn finds_stacks_from_the_root_below_it_and_inside() {
        let repo = repo();
        let root = repo.path();
        let alpha = root.join("stacks/alpha");
        assert_eq!(find_stack(Some("alpha"), root).ok(), Some(alpha.clone()));
        assert_eq!(
            find_stack(Some("alpha"), &root.join("stacks/beta/services")).ok(),
            Some(alpha.clone())
        );
        assert_eq!(
            find_stack(None, &alpha.join("services/svc")).ok(),
            Some(alpha.clone())
        );
        assert_eq!(find_stack(Some("stacks/alpha"), root).ok(), Some(alpha));
    }

    #[test]
    fn explains_what_is_missing() {
        let repo = repo();
        let err = find_stack(Some("alpah"), repo.path()).expect_err("unknown");
        assert!(
            err.hint
                .as_deref()
                .is_some_and(|h| h.contains("did you mean `alpha`"))
        );
        let err = find_stack(None, repo.path()).expect_err("none");
        assert!(
            err.hint
                .as_deref()
                .is_some_and(|h| h.contains("alpha, beta"))
        );
    }
}
