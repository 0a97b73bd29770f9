//! Engine versions: the major version RDS groups parameter families by, and the family.

use panka_core::reconcile::{ErrorKind, ProviderError};

/// The major version RDS groups parameter families by: `15` for postgres 15.4 (`9.6` for
/// PostgreSQL before 10), `8.0` for mysql 8.0.35, `10.11` for mariadb 10.11.6.
pub fn major_version(engine: &str, version: &str) -> String {
    let mut parts = version.split('.');
    let first = parts.next().unwrap_or_default();
    let two_parts = engine != "postgres" || first.parse::<u32>().is_ok_and(|major| major < 10);
    match parts.next() {
        Some(second) if two_parts => format!("{first}.{second}"),
        _ => first.to_string(),
    }
}

/// The parameter group family: `postgres15`, `mysql8.0`, `mariadb10.11`.
pub fn parameter_group_family(engine: &str, version: &str) -> Result<String, ProviderError> {
    let major = major_version(engine, version);
    if !major.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(ProviderError::new(
            ErrorKind::Invalid,
            format!("`{version}` is not a {engine} version"),
        )
        .with_hint("write the full version, such as `15.4` for postgres or `8.0.35` for mysql"));
    }
    Ok(format!("{engine}{major}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_major_versions() {
        assert_eq!(
            parameter_group_family("postgres", "15.4").unwrap(),
            "postgres15"
        );
        assert_eq!(
            parameter_group_family("postgres", "9.6.22").unwrap(),
            "postgres9.6"
        );
        assert_eq!(
            parameter_group_family("mysql", "8.0.35").unwrap(),
            "mysql8.0"
        );
        assert_eq!(
            parameter_group_family("mariadb", "10.11.6").unwrap(),
            "mariadb10.11"
        );
        assert_eq!(
            parameter_group_family("postgres", "latest")
                .unwrap_err()
                .kind,
            ErrorKind::Invalid
        );
        assert_eq!(major_version("postgres", "16"), "16");
    }
}
