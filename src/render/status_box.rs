//! The walkthrough's `panka status` box: per service, one line per component (kind, live
//! state, health), then when it was last deployed, which version, by whom.

use panka_core::diag::Palette;
use std::fmt::Write as _;

/// One component's line.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub name: String,
    pub kind: &'static str,
    pub status: String,
    /// `None`: the live state could not be read.
    pub healthy: Option<bool>,
    /// Shown under the line when the component is not healthy.
    pub detail: String,
}

/// One service's block.
#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    pub name: String,
    pub rows: Vec<Row>,
    /// `15 minutes ago`.
    pub last_deployed: Option<String>,
    pub version: Option<String>,
    pub by: Option<String>,
}

/// `just now`, `1 minute ago`, `15 minutes ago`, `2 hours ago`, `3 days ago`.
pub fn relative(seconds_ago: i64) -> String {
    let unit = |n: i64, one: &str| {
        if n == 1 {
            format!("1 {one} ago")
        } else {
            format!("{n} {one}s ago")
        }
    };
    match seconds_ago {
        i64::MIN..10 => "just now".to_string(),
        10..60 => unit(seconds_ago, "second"),
        60..3600 => unit(seconds_ago / 60, "minute"),
        3600..86_400 => unit(seconds_ago / 3600, "hour"),
        _ => unit(seconds_ago / 86_400, "day"),
    }
}

/// `text` in lines of at most `width` characters, broken between words (a word longer
/// than `width` gets a line of its own).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        let needed =
            current.chars().count() + usize::from(!current.is_empty()) + word.chars().count();
        if !current.is_empty() && needed > width {
            lines.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

/// The box. Colour (from `palette`) marks only the health symbols, so widths are
/// computed on the plain text.
pub fn render(stack: &str, environment: &str, services: &[Service], palette: Palette) -> String {
    let rows = services.iter().flat_map(|s| &s.rows);
    let name_width = rows
        .clone()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(0)
        .max(10);
    let kind_width = rows
        .clone()
        .map(|r| r.kind.len())
        .max()
        .unwrap_or(0)
        .max(15);
    let status_width = rows
        .map(|r| r.status.chars().count())
        .max()
        .unwrap_or(0)
        .max(14);
    // Details wrap inside the width the component lines need, so that one long message
    // does not stretch the box.
    let row_width = 4 + name_width + 1 + kind_width + 1 + status_width + 1 + "Unhealthy".len();
    let detail_width = row_width.max(56) - 6;
    // (plain text, the same text with colour)
    let mut body: Vec<(String, String)> = Vec::new();
    let plain = |text: String| (text.clone(), text);
    for (i, service) in services.iter().enumerate() {
        if i > 0 {
            body.push(plain(String::new()));
        }
        body.push(plain(format!("Service: {}", service.name)));
        for row in &service.rows {
            let (mark, colour, health) = match row.healthy {
                Some(true) => ("✓", palette.ok, "Healthy"),
                Some(false) => ("✗", palette.error, "Unhealthy"),
                None => ("?", palette.warning, "Unknown"),
            };
            let rest = format!(
                "{:<name_width$} {:<kind_width$} {:<status_width$} {health}",
                row.name, row.kind, row.status
            );
            body.push((
                format!("  {mark} {rest}"),
                format!("  {colour}{mark}{} {rest}", palette.reset),
            ));
            if row.healthy != Some(true) {
                for part in wrap(&row.detail, detail_width) {
                    body.push(plain(format!("      {part}")));
                }
            }
        }
        body.push(plain(String::new()));
        body.push(plain(format!(
            "Last deployed: {}",
            service.last_deployed.as_deref().unwrap_or("-")
        )));
        body.push(plain(format!(
            "Version: {}",
            service
                .version
                .as_deref()
                .filter(|v| !v.is_empty())
                .unwrap_or("-")
        )));
        body.push(plain(format!(
            "Deployed by: {}",
            service.by.as_deref().unwrap_or("-")
        )));
    }
    let title = format!("Stack: {stack} ({environment})");
    let width = std::iter::once(&title)
        .chain(body.iter().map(|(p, _)| p))
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0)
        .max(56)
        + 2;
    let line = |(plain, coloured): &(String, String)| {
        format!(
            "│ {coloured}{} │\n",
            " ".repeat(width - 2 - plain.chars().count())
        )
    };
    let rule = "─".repeat(width);
    let mut out = String::new();
    let _ = writeln!(out, "┌{rule}┐");
    out.push_str(&line(&(title.clone(), title)));
    let _ = writeln!(out, "├{rule}┤");
    body.iter().for_each(|l| out.push_str(&line(l)));
    let _ = writeln!(out, "└{rule}┘");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, kind: &'static str, status: &str, healthy: Option<bool>) -> Row {
        Row {
            name: name.into(),
            kind,
            status: status.into(),
            healthy,
            detail: String::new(),
        }
    }

    #[test]
    fn the_walkthrough_box() {
        let services = [Service {
            name: "email-service".into(),
            rows: vec![
                row("api", "MicroService", "2/2 running", Some(true)),
                row("database", "RDS", "available", Some(true)),
                row("queue", "SQS", "active", Some(true)),
            ],
            last_deployed: Some(relative(15 * 60 + 5)),
            version: Some("v1.0.0".into()),
            by: Some("alice@company.com".into()),
        }];
        let text = render(
            "notification-platform",
            "development",
            &services,
            Palette::PLAIN,
        );
        let expected = "\
┌──────────────────────────────────────────────────────────┐
│ Stack: notification-platform (development)               │
├──────────────────────────────────────────────────────────┤
│ Service: email-service                                   │
│   ✓ api        MicroService    2/2 running    Healthy    │
│   ✓ database   RDS             available      Healthy    │
│   ✓ queue      SQS             active         Healthy    │
│                                                          │
│ Last deployed: 15 minutes ago                            │
│ Version: v1.0.0                                          │
│ Deployed by: alice@company.com                           │
└──────────────────────────────────────────────────────────┘
";
        assert_eq!(text, expected);
    }

    #[test]
    fn problems_show_their_detail_and_colour_keeps_the_borders_straight() {
        let mut bad = row("api", "MicroService", "1/2 running", Some(false));
        bad.detail = "1 of 2 tasks running".into();
        let services = [Service {
            name: "web".into(),
            rows: vec![bad, row("cache", "ElastiCacheRedis", "unknown", None)],
            last_deployed: None,
            version: None,
            by: None,
        }];
        let plain = render("s", "e", &services, Palette::PLAIN);
        assert!(plain.contains("  ✗ api        MicroService     1/2 running    Unhealthy"));
        assert!(plain.contains("│       1 of 2 tasks running"));
        assert!(plain.contains("  ? cache"));
        let coloured = render("s", "e", &services, Palette::ANSI);
        let strip = coloured
            .replace(Palette::ANSI.error, "")
            .replace(Palette::ANSI.warning, "")
            .replace(Palette::ANSI.reset, "");
        assert_eq!(strip, plain);
    }

    #[test]
    fn long_details_wrap_inside_the_box() {
        let mut bad = row("api", "MicroService", "0/2 running", Some(false));
        bad.detail = "word ".repeat(40).trim_end().to_string();
        let services = [Service {
            name: "web".into(),
            rows: vec![bad],
            last_deployed: None,
            version: None,
            by: None,
        }];
        let text = render("s", "e", &services, Palette::PLAIN);
        let widths: Vec<usize> = text.lines().map(|l| l.chars().count()).collect();
        assert!(widths.iter().all(|w| *w == 60), "{text}");
        assert_eq!(text.matches("word").count(), 40);
        assert_eq!(wrap("a bb ccc", 4), ["a bb", "ccc"]);
        assert_eq!(
            wrap("averyveryverylongword x", 4),
            ["averyveryverylongword", "x"]
        );
    }

    #[test]
    fn relative_times() {
        assert_eq!(relative(3), "just now");
        assert_eq!(relative(-5), "just now");
        assert_eq!(relative(42), "42 seconds ago");
        assert_eq!(relative(61), "1 minute ago");
        assert_eq!(relative(2 * 3600 + 10), "2 hours ago");
        assert_eq!(relative(86_400 * 3), "3 days ago");
    }
}
