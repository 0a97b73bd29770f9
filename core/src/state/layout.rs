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
}
