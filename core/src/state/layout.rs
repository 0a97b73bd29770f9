//! Where things live, the same for every backend: `<prefix>stacks/<stack>/<env>/state.json`
//! and `.../<env>/deployments/<start-time>-<id>.json`.

use super::StateKey;

/// Normalises a configured prefix: empty, or ending with exactly one `/`.
pub fn normalise_prefix(prefix: &str) -> String {
    let trimmed = prefix.trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("{trimmed}/")
    }
}

pub fn environment_dir(prefix: &str, key: &StateKey) -> String {
    format!(
        "{}stacks/{}/{}/",
        normalise_prefix(prefix),
        key.stack,
        key.environment
    )
}

pub fn state_path(prefix: &str, key: &StateKey) -> String {
    format!("{}state.json", environment_dir(prefix, key))
}

pub fn deployments_dir(prefix: &str, key: &StateKey) -> String {
    format!("{}deployments/", environment_dir(prefix, key))
}

/// The deployment id in a record's file name (`<start>Z-<id>.json`,
/// `DeploymentRecord::file_name`).
pub fn record_id_of(file_name: &str) -> Option<&str> {
    let (_, id) = file_name.strip_suffix(".json")?.split_once("Z-")?;
    (!id.is_empty()).then_some(id)
}

/// The folder holding every stack's states: `<prefix>stacks/`.
pub fn stacks_dir(prefix: &str) -> String {
    format!("{}stacks/", normalise_prefix(prefix))
}

/// The key whose state is at `path` (`<prefix>stacks/<stack>/<env>/state.json`), if it is
/// one; records and other files are not.
pub fn key_of_state_path(prefix: &str, path: &str) -> Option<StateKey> {
    let rest = path.strip_prefix(&stacks_dir(prefix))?;
    let mut parts = rest.split('/');
    let (stack, environment, file) = (parts.next()?, parts.next()?, parts.next()?);
    let simple = |s: &str| !s.is_empty() && !s.starts_with('.');
    (parts.next().is_none() && file == "state.json" && simple(stack) && simple(environment))
        .then(|| StateKey::new(stack, environment))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_product_md() {
        let key = StateKey::new("notification-platform", "development");
        assert_eq!(
            state_path("", &key),
            "stacks/notification-platform/development/state.json"
        );
        assert_eq!(
            state_path("team-a", &key),
            "team-a/stacks/notification-platform/development/state.json"
        );
        assert_eq!(
            deployments_dir("/team-a/", &key),
            "team-a/stacks/notification-platform/development/deployments/"
        );
        assert_eq!(key.lock_id(), "stack:notification-platform:env:development");
    }

    #[test]
    fn record_names_give_their_deployment_id() {
        let record = crate::state::DeploymentRecord {
            id: "8d1c0a2e-1f2b-4c3d-9e8f-0a1b2c3d4e5f".into(),
            started_at: "2026-01-15T17:05:23Z".into(),
            ..Default::default()
        };
        assert_eq!(record_id_of(&record.file_name()), Some(record.id.as_str()));
        for other in [
            "state.json",
            "20260115T170523Z-.json",
            "notes.txt",
            "x.json",
        ] {
            assert_eq!(record_id_of(other), None, "{other}");
        }
    }

    #[test]
    fn state_paths_name_their_key_and_nothing_else_does() {
        let key = StateKey::new("shop", "prod");
        for prefix in ["", "team-a/"] {
            assert_eq!(
                key_of_state_path(prefix, &state_path(prefix, &key)),
                Some(key.clone())
            );
            for other in [
                format!("{}2026-x.json", deployments_dir(prefix, &key)),
                format!("{}state.json.lock", environment_dir(prefix, &key)),
                format!("{}stacks/shop/state.json", normalise_prefix(prefix)),
                format!("{}stacks/.tmp/prod/state.json", normalise_prefix(prefix)),
                "elsewhere/stacks/shop/prod/state.json".to_string(),
            ] {
                assert_eq!(key_of_state_path(prefix, &other), None, "{other}");
            }
        }
    }
}
