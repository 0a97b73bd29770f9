//! Names users give to stacks, services, components and environments become parts of
//! AWS resource names (`<stack>-<env>-<service>-<component>`), so they must be safe for
//! the strictest of them: RDS identifiers allow only lowercase letters, digits and
//! single hyphens, starting with a letter.

use crate::diag::Diagnostic;
use crate::source::Span;

/// Longest name accepted for a stack, service, component or environment. The joined
/// physical name is shortened with a stable hash where an AWS limit requires it; this
/// limit keeps each part readable inside those shortened names (ALB names hold 32).
pub const MAX_NAME_LEN: usize = 32;

/// Why a name is not DNS-safe, or `None` when it is.
pub fn dns_name_problem(name: &str) -> Option<&'static str> {
    let first = name.chars().next()?;
    if !first.is_ascii_lowercase() {
        return Some("it must start with a lowercase letter");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Some("it may contain only lowercase letters, digits and hyphens");
    }
    if name.ends_with('-') {
        return Some("it must not end with a hyphen");
    }
    if name.contains("--") {
        return Some("it must not contain two hyphens in a row");
    }
    None
}

/// Checks a name and returns the diagnostics for it (`E030` not DNS-safe, `E031` too
/// long).
pub fn check_name(what: &str, name: &str, span: Span) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let span = Span {
        len: name.chars().count().max(1) as u32,
        ..span
    };
    if name.is_empty() {
        out.push(Diagnostic::at(
            "E030",
            span,
            format!("the {what} name is empty"),
        ));
        return out;
    }
    if let Some(problem) = dns_name_problem(name) {
        out.push(
            Diagnostic::at(
                "E030",
                span,
                format!("{what} name `{name}` is not DNS-safe: {problem}"),
            )
            .with_label("invalid name")
            .with_hint(format!("try `{}`", suggest_dns_name(name))),
        );
    }
    let len = name.chars().count();
    if len > MAX_NAME_LEN {
        out.push(
            Diagnostic::at(
                "E031",
                span,
                format!("{what} name `{name}` is {len} characters long; at most {MAX_NAME_LEN} are allowed"),
            )
            .with_label("too long")
            .with_hint("AWS names are built from `<stack>-<env>-<service>-<component>`; shorter names keep them readable"),
        );
    }
    out
}

/// A DNS-safe spelling of `name`, for hints.
pub fn suggest_dns_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let trimmed = out.trim_end_matches('-');
    let mut out = trimmed.to_string();
    if !out.starts_with(|c: char| c.is_ascii_lowercase()) {
        out.insert_str(0, "x-");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dns_safe_names() {
        for ok in ["api", "email-service", "a1", "notification-platform"] {
            assert_eq!(dns_name_problem(ok), None, "{ok}");
        }
    }

    #[test]
    fn rejects_unsafe_names() {
        for bad in ["Api", "1api", "api_v2", "api-", "a--b", "api.v2"] {
            assert!(dns_name_problem(bad).is_some(), "{bad}");
        }
        assert_eq!(suggest_dns_name("Email_Service"), "email-service");
        assert_eq!(suggest_dns_name("2fast"), "x-2fast");
    }
}
