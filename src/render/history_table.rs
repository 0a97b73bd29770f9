//! The walkthrough's "Deployment History" table and the totals under it.

use panka_core::state::{DeploymentRecord, DeploymentResult};
use std::fmt::Write as _;

/// Totals over every record read (not only the rows shown).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Totals {
    pub total: usize,
    pub success: usize,
    pub rolled_back: usize,
    pub failed: usize,
    pub in_progress: usize,
    pub no_changes: usize,
    /// Successes among finished deployments that changed something (success, rolled
    /// back, failed), from 0 to 1; `None` when there are none.
    pub success_rate: Option<f64>,
    /// Mean of the recorded durations of finished deployments, in seconds.
    pub average_duration_s: Option<f64>,
}

impl Totals {
    pub fn of(records: &[DeploymentRecord]) -> Totals {
        let mut t = Totals {
            total: records.len(),
            ..Totals::default()
        };
        let mut durations = Vec::new();
        for r in records {
            match r.result {
                DeploymentResult::Success => t.success += 1,
                DeploymentResult::RolledBack => t.rolled_back += 1,
                DeploymentResult::Failed => t.failed += 1,
                DeploymentResult::InProgress => t.in_progress += 1,
                DeploymentResult::NoChanges => t.no_changes += 1,
            }
            if r.result != DeploymentResult::InProgress
                && let Some(d) = r.duration_s.filter(|d| d.is_finite() && *d >= 0.0)
            {
                durations.push(d);
            }
        }
        let decided = t.success + t.rolled_back + t.failed;
        if decided > 0 {
            t.success_rate = Some(t.success as f64 / decided as f64);
        }
        if !durations.is_empty() {
            t.average_duration_s = Some(durations.iter().sum::<f64>() / durations.len() as f64);
        }
        t
    }

    /// `96%`; never rounds up to 100% while something failed.
    pub fn success_percent(&self) -> Option<String> {
        let rate = self.success_rate?;
        let mut percent = (rate * 100.0).round() as u32;
        if percent == 100 && rate < 1.0 {
            percent = 99;
        }
        Some(format!("{percent}%"))
    }
}

/// `45s`, `4m 32s`, `10m 05s`, `1h 02m`.
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// `✓ Success`, `⚠ Rolled back`, …; other operations than `apply` are named.
pub fn status(record: &DeploymentRecord) -> String {
    let text = match record.result {
        DeploymentResult::Success => "✓ Success",
        DeploymentResult::RolledBack => "⚠ Rolled back",
        DeploymentResult::Failed => "✗ Failed",
        DeploymentResult::InProgress => "… In progress",
        DeploymentResult::NoChanges => "= No changes",
    };
    if record.operation.is_empty() || record.operation == "apply" {
        text.to_string()
    } else {
        format!("{text} ({})", record.operation)
    }
}

/// The user part of `user@host` (a user may itself be an e-mail address).
pub fn who(by: &str) -> &str {
    match by.rsplit_once('@') {
        Some((user, _host)) if !user.is_empty() => user,
        _ => by,
    }
}

/// `Feb 15` in UTC, with the year when it is not `this_year`; the raw text when the
/// time cannot be read.
pub fn date(started_at: &str, this_year: i16) -> String {
    match started_at.parse::<jiff::Timestamp>() {
        Ok(t) => {
            let utc = jiff::tz::Offset::UTC.to_datetime(t);
            if utc.year() == this_year {
                utc.strftime("%b %d").to_string()
            } else {
                utc.strftime("%b %d %Y").to_string()
            }
        }
        Err(_) => started_at.to_string(),
    }
}

/// The table of `rows` (newest first) and the totals of every record.
pub fn render(
    stack: &str,
    environment: &str,
    rows: &[DeploymentRecord],
    totals: &Totals,
    this_year: i16,
) -> String {
    let header = ["Version", "Date", "By", "Duration", "Status"];
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            [
                if r.version.is_empty() {
                    "-".to_string()
                } else {
                    r.version.clone()
                },
                date(&r.started_at, this_year),
                who(&r.by).to_string(),
                match (r.result, r.duration_s) {
                    (DeploymentResult::InProgress, _) | (_, None) => "…".to_string(),
                    (_, Some(d)) => duration(d),
                },
                status(r),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |row: [&str; 5]| {
        let mut text = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            let pad = " ".repeat(w - cell.chars().count());
            // Durations line up on the right, like numbers.
            if i == 3 {
                text.push_str(&pad);
                text.push_str(cell);
            } else {
                text.push_str(cell);
                if i < 4 {
                    text.push_str(&pad);
                }
            }
            if i < 4 {
                text.push_str("   ");
            }
        }
        text
    };
    let title = format!("Deployment History: {stack} ({environment})");
    let head = line(header);
    let body: Vec<String> = if cells.is_empty() {
        vec!["No deployments yet.".to_string()]
    } else {
        cells
            .iter()
            .map(|r| line([&r[0], &r[1], &r[2], &r[3], &r[4]]))
            .collect()
    };
    let width = std::iter::once(&title)
        .chain(std::iter::once(&head))
        .chain(body.iter())
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0)
        .max(56)
        + 2;
    let boxed = |text: &str| {
        format!(
            "│ {text}{} │\n",
            " ".repeat(width - 2 - text.chars().count())
        )
    };
    let rule = "─".repeat(width);
    let mut out = String::new();
    let _ = writeln!(out, "┌{rule}┐");
    out.push_str(&boxed(&title));
    let _ = writeln!(out, "├{rule}┤");
    out.push_str(&boxed(&head));
    let _ = writeln!(out, "├{rule}┤");
    body.iter().for_each(|l| out.push_str(&boxed(l)));
    let _ = writeln!(out, "└{rule}┘");
    out.push('\n');
    let _ = write!(out, "Total deployments: {}", totals.total);
    if rows.len() < totals.total {
        let _ = write!(
            out,
            " (the table shows the newest {}; the totals cover all {})",
            rows.len(),
            totals.total
        );
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "Success rate: {}",
        totals.success_percent().unwrap_or_else(|| "-".into())
    );
    let _ = writeln!(
        out,
        "Average duration: {}",
        totals
            .average_duration_s
            .map(duration)
            .unwrap_or_else(|| "-".into())
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(version: &str, day: u8, result: DeploymentResult, secs: f64) -> DeploymentRecord {
        DeploymentRecord {
            id: format!("id-{version}"),
            version: version.into(),
            by: "carol@laptop".into(),
            operation: "apply".into(),
            started_at: format!("2024-02-{day:02}T10:00:00Z"),
            duration_s: Some(secs),
            result,
            ..DeploymentRecord::default()
        }
    }

    #[test]
    fn the_walkthrough_table() {
        let rows = vec![
            record("v1.3.0", 15, DeploymentResult::Success, 272.0),
            record("v1.2.2", 7, DeploymentResult::RolledBack, 192.0),
            record("v1.0.0", 1, DeploymentResult::Success, 605.0),
        ];
        let totals = Totals::of(&rows);
        let text = render("notification-platform", "production", &rows, &totals, 2024);
        let expected = "\
┌──────────────────────────────────────────────────────────┐
│ Deployment History: notification-platform (production)   │
├──────────────────────────────────────────────────────────┤
│ Version   Date     By      Duration   Status             │
├──────────────────────────────────────────────────────────┤
│ v1.3.0    Feb 15   carol     4m 32s   ✓ Success          │
│ v1.2.2    Feb 07   carol     3m 12s   ⚠ Rolled back      │
│ v1.0.0    Feb 01   carol    10m 05s   ✓ Success          │
└──────────────────────────────────────────────────────────┘

Total deployments: 3
Success rate: 67%
Average duration: 5m 56s
";
        assert_eq!(text, expected);
    }

    #[test]
    fn totals_cover_every_record_and_skip_unfinished_ones() {
        let mut records: Vec<DeploymentRecord> = (0..24)
            .map(|i| record("v1", 1 + (i % 28) as u8, DeploymentResult::Success, 60.0))
            .collect();
        records.push(record("v2", 2, DeploymentResult::Failed, 120.0));
        let mut running = record("v3", 3, DeploymentResult::InProgress, 0.0);
        running.duration_s = None;
        records.push(running);
        let t = Totals::of(&records);
        assert_eq!(t.total, 26);
        assert_eq!(t.success_percent().as_deref(), Some("96%"));
        assert_eq!(t.in_progress, 1);
        let average = t.average_duration_s.expect("average");
        assert!((average - (24.0 * 60.0 + 120.0) / 25.0).abs() < 1e-9);

        let text = render("s", "e", &records[..2], &t, 2024);
        assert!(text.contains(
            "Total deployments: 26 (the table shows the newest 2; the totals cover all 26)"
        ));
        assert_eq!(Totals::of(&[]).success_percent(), None);
    }

    #[test]
    fn pieces() {
        assert_eq!(duration(45.2), "45s");
        assert_eq!(duration(3725.0), "1h 02m");
        assert_eq!(who("alice@company.com@laptop"), "alice@company.com");
        assert_eq!(who("bob"), "bob");
        assert_eq!(date("2023-12-31T23:00:00Z", 2024), "Dec 31 2023");
        let mut rollback = record("v1", 1, DeploymentResult::Success, 1.0);
        rollback.operation = "rollback".into();
        assert_eq!(status(&rollback), "✓ Success (rollback)");
        let all_but_one = Totals {
            success_rate: Some(999.0 / 1000.0),
            ..Totals::default()
        };
        assert_eq!(all_but_one.success_percent().as_deref(), Some("99%"));
    }
}
