//! How long a plan will take: per kind and action, the median of what such changes took
//! recently in this stack and environment, else a typical AWS time. The sum over waves of
//! each wave's slowest change (changes of a wave run in parallel).
//!
//! The measurements live in the state document (`durations_s`, a few per kind and
//! action), not only in the deployment records: a plan reads the state anyway, and
//! reading whole records (each holds every component's spec) would cost a plan of a large
//! stack more than everything else it does.

use super::{Action, Plan};
use crate::model::{ComponentId, ComponentKind};
use crate::state::StateDocument;
use std::collections::BTreeMap;
use std::time::Duration;

/// How many recent measurements per kind and action the state keeps.
pub const SAMPLES_KEPT: usize = 10;

/// Typical AWS time per change, when history has none (the floor is AWS's own
/// provisioning).
pub fn default_duration(kind: ComponentKind, action: Action) -> Duration {
    kind.info().typical.of(action)
}

/// The key of one change in a record's `durations_s`: `service/component:action`
/// (component ids hold no `:`).
pub fn duration_key(component: &ComponentId, action: Action) -> String {
    format!("{component}:{}", action_name(action))
}

fn action_name(action: Action) -> &'static str {
    match action {
        Action::Noop => "noop",
        Action::Create => "create",
        Action::Update => "update",
        Action::Replace => "replace",
        Action::Delete => "delete",
    }
}

fn parse_action(text: &str) -> Option<Action> {
    [
        Action::Noop,
        Action::Create,
        Action::Update,
        Action::Replace,
        Action::Delete,
    ]
    .into_iter()
    .find(|a| action_name(*a) == text)
}

/// Measured change durations by kind and action.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DurationHistory {
    samples: BTreeMap<(ComponentKind, Action), Vec<f64>>,
}

/// The key of a kind and action in the state's `durations_s`: `Kind:action`.
pub fn samples_key(kind: ComponentKind, action: Action) -> String {
    format!("{}:{}", kind.name(), action_name(action))
}

/// Adds one measurement to the state's `durations_s`, dropping the oldest beyond
/// [`SAMPLES_KEPT`]. No-ops take no time and are not measured.
pub fn remember(
    samples: &mut BTreeMap<String, Vec<f64>>,
    kind: ComponentKind,
    action: Action,
    took: Duration,
) {
    if action == Action::Noop {
        return;
    }
    let kept = samples.entry(samples_key(kind, action)).or_default();
    kept.push((took.as_secs_f64() * 1000.0).round() / 1000.0);
    let excess = kept.len().saturating_sub(SAMPLES_KEPT);
    kept.drain(..excess);
}

impl DurationHistory {
    /// Learns from the measurements kept in state. Keys and values that do not parse
    /// (hand-edited or written by a newer panka) are skipped.
    pub fn from_state(doc: &StateDocument) -> Self {
        let mut samples: BTreeMap<(ComponentKind, Action), Vec<f64>> = BTreeMap::new();
        for (key, values) in &doc.durations_s {
            let Some((kind, action)) = key.split_once(':') else {
                continue;
            };
            let kind = ComponentKind::ALL.into_iter().find(|k| k.name() == kind);
            let (Some(kind), Some(action)) = (kind, parse_action(action)) else {
                continue;
            };
            let valid: Vec<f64> = values
                .iter()
                .copied()
                .filter(|s| s.is_finite() && *s >= 0.0)
                .collect();
            if !valid.is_empty() && action != Action::Noop {
                samples.entry((kind, action)).or_default().extend(valid);
            }
        }
        DurationHistory { samples }
    }

    /// The median of the measured durations of this kind and action, else the default.
    pub fn typical(&self, kind: ComponentKind, action: Action) -> Duration {
        if action == Action::Noop {
            return Duration::ZERO;
        }
        match self.samples.get(&(kind, action)) {
            Some(values) if !values.is_empty() => Duration::from_secs_f64(median(values)),
            _ => default_duration(kind, action),
        }
    }

    /// Whether any measurement is known (the estimate is then "from history").
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }
}

/// Sum over waves of the slowest change of each wave.
pub fn estimated_duration(plan: &Plan, history: &DurationHistory) -> Duration {
    plan.waves
        .iter()
        .map(|w| {
            w.iter()
                .map(|c| history.typical(c.kind, c.action))
                .max()
                .unwrap_or_default()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{PlannedChange, Summary};

    fn state(durations: &[(&str, &[f64])]) -> StateDocument {
        let mut doc = StateDocument::new("s", "e", jiff::Timestamp::UNIX_EPOCH);
        doc.durations_s = durations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_vec()))
            .collect();
        doc
    }

    fn change(name: &str, kind: ComponentKind, action: Action, wave: usize) -> PlannedChange {
        PlannedChange {
            component: ComponentId::new("svc", name),
            kind,
            action,
            wave,
            reason: String::new(),
            fields: Vec::new(),
            dangerous: false,
        }
    }

    fn plan(waves: Vec<Vec<PlannedChange>>) -> Plan {
        Plan {
            stack: "s".into(),
            environment: "e".into(),
            based_on: None,
            waves,
            summary: Summary::default(),
            targets: Vec::new(),
        }
    }

    #[test]
    fn without_history_the_defaults_apply() {
        let h = DurationHistory::default();
        assert!(h.is_empty());
        assert_eq!(
            h.typical(ComponentKind::Rds, Action::Create),
            Duration::from_secs(360)
        );
        assert_eq!(h.typical(ComponentKind::Sqs, Action::Noop), Duration::ZERO);
    }

    #[test]
    fn the_median_of_recorded_durations_wins_per_kind_and_action() {
        let h = DurationHistory::from_state(&state(&[
            ("SQS:create", &[4.0, 2.0, 30.0]),
            ("RDS:create", &[300.0]),
            ("MicroService:update", &[50.0, 70.0]),
        ]));
        // Odd count: the middle value, not the mean (30 s is an outlier).
        assert_eq!(
            h.typical(ComponentKind::Sqs, Action::Create),
            Duration::from_secs(4)
        );
        // Even count: the mean of the two middle values.
        assert_eq!(
            h.typical(ComponentKind::MicroService, Action::Update),
            Duration::from_secs(60)
        );
        assert_eq!(
            h.typical(ComponentKind::Rds, Action::Create),
            Duration::from_secs(300)
        );
        // Nothing measured for these: defaults.
        assert_eq!(
            h.typical(ComponentKind::Rds, Action::Update),
            Duration::from_secs(120)
        );
        assert_eq!(
            h.typical(ComponentKind::MicroService, Action::Create),
            Duration::from_secs(180)
        );
    }

    #[test]
    fn unreadable_entries_are_skipped() {
        let h = DurationHistory::from_state(&state(&[
            ("SQS", &[1.0]),
            ("SQS:explode", &[1.0]),
            ("Lambda:create", &[1.0]),
            ("SQS:noop", &[1.0]),
            ("SQS:create", &[f64::NAN, -1.0]),
            ("RDS:create", &[]),
        ]));
        assert!(h.is_empty(), "{h:?}");
    }

    #[test]
    fn the_estimate_sums_the_slowest_change_of_each_wave() {
        let h = DurationHistory::from_state(&state(&[
            ("SQS:create", &[5.0]),
            ("RDS:create", &[200.0]),
            ("MicroService:create", &[90.0]),
        ]));
        let p = plan(vec![
            vec![
                change("db", ComponentKind::Rds, Action::Create, 1),
                change("queue", ComponentKind::Sqs, Action::Create, 1),
            ],
            vec![change(
                "api",
                ComponentKind::MicroService,
                Action::Create,
                2,
            )],
        ]);
        assert_eq!(estimated_duration(&p, &h), Duration::from_secs(290));
        assert_eq!(
            estimated_duration(&p, &DurationHistory::default()),
            Duration::from_secs(360 + 180)
        );
    }

    #[test]
    fn state_keeps_the_newest_measurements_per_kind_and_action() {
        let mut kept = BTreeMap::new();
        for seconds in 1..=(SAMPLES_KEPT as u64 + 3) {
            remember(
                &mut kept,
                ComponentKind::Rds,
                Action::Update,
                Duration::from_secs(seconds),
            );
        }
        remember(
            &mut kept,
            ComponentKind::Sqs,
            Action::Noop,
            Duration::from_secs(1),
        );
        remember(
            &mut kept,
            ComponentKind::Sqs,
            Action::Delete,
            Duration::from_millis(1234),
        );
        assert_eq!(kept.len(), 2, "{kept:?}");
        let rds = &kept["RDS:update"];
        assert_eq!(rds.len(), SAMPLES_KEPT);
        assert_eq!(rds.first(), Some(&4.0));
        assert_eq!(rds.last(), Some(&(SAMPLES_KEPT as f64 + 3.0)));
        assert_eq!(kept["SQS:delete"], [1.234]);

        let mut doc = StateDocument::new("s", "e", jiff::Timestamp::UNIX_EPOCH);
        doc.durations_s = kept;
        let h = DurationHistory::from_state(&doc);
        assert_eq!(
            h.typical(ComponentKind::Rds, Action::Update),
            Duration::from_millis(8500)
        );
    }

    #[test]
    fn keys_name_the_component_and_action() {
        assert_eq!(
            duration_key(&ComponentId::new("svc", "queue"), Action::Replace),
            "svc/queue:replace"
        );
    }
}
