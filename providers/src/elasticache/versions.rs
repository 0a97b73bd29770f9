//! Redis engine versions: compared at `major.minor`, and their parameter group family.

/// `major.minor` of a Redis version, the precision at which AWS versions are compared.
pub fn normalise_engine_version(version: &str) -> String {
    let version = version.trim();
    // AWS resolves `6.x` to the last Redis 6 line and reports it as 6.2.*.
    if version.eq_ignore_ascii_case("6.x") {
        return "6.2".to_string();
    }
    let is_number = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let mut parts = version.split('.');
    match (parts.next(), parts.next()) {
        (Some(major), Some(minor)) if is_number(major) && is_number(minor) => {
            format!("{major}.{minor}")
        }
        _ => version.to_string(),
    }
}

/// The parameter group family of an engine version (`7.x` → `redis7`, `6.x` → `redis6.x`).
pub fn engine_family(version: &str) -> Option<&'static str> {
    let version = normalise_engine_version(version);
    match version.split('.').next().unwrap_or_default() {
        "7" => Some("redis7"),
        "6" => Some("redis6.x"),
        "5" => Some("redis5.0"),
        "4" => Some("redis4.0"),
        "3" if version == "3.2" => Some("redis3.2"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_versions_compare_at_minor_precision() {
        assert_eq!(normalise_engine_version("7.0"), "7.0");
        assert_eq!(normalise_engine_version("7.0.7"), "7.0");
        assert_eq!(normalise_engine_version("6.x"), "6.2");
        assert_eq!(normalise_engine_version("6.2.6"), "6.2");
        assert_eq!(normalise_engine_version("latest"), "latest");
        assert_eq!(engine_family("7.1"), Some("redis7"));
        assert_eq!(engine_family("6.x"), Some("redis6.x"));
        assert_eq!(engine_family("6.0"), Some("redis6.x"));
        assert_eq!(engine_family("5.0.6"), Some("redis5.0"));
        assert_eq!(engine_family("3.2.10"), Some("redis3.2"));
        assert_eq!(engine_family("2.8"), None);
    }
}
