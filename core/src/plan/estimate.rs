//! How long a plan will take: per kind and action, the median of what such changes took
//! in recent deployments of this stack and environment, else a typical AWS time. The sum
//! over waves of each wave's slowest change (changes of a wave run in parallel).

use super::{Action, Plan};
use crate::model::{ComponentId, ComponentKind};
use crate::state::DeploymentRecord;
use std::collections::BTreeMap;
use std::time::Duration;

/// How many recent deployment records the estimate learns from.
pub const HISTORY_RECORDS: usize = 10;

/// Typical AWS time per change, when history has none (the floor is AWS's own
/// provisioning).
pub fn default_duration(kind: ComponentKind, action: Action) -> Duration {
    let minutes = |m: u64| Duration::from_secs(m * 60);
    match (kind, action) {
        (_, Action::Noop) => Duration::ZERO,
        (ComponentKind::Sqs, _) => Duration::from_secs(10),
        (ComponentKind::Rds, Action::Update) => minutes(2),
        (ComponentKind::Rds, _) => minutes(6),
        (ComponentKind::ElastiCacheRedis, Action::Update) => minutes(5),
        (ComponentKind::ElastiCacheRedis, _) => minutes(8),
        (ComponentKind::MicroService, _) => minutes(3),
    }
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

impl DurationHistory {
    /// Learns from `records`' measured durations. A change's kind is read from the
    /// record's spec, so changes of components the spec does not hold (deletes) are
    /// skipped, as are keys and values that do not parse (hand-edited records).
    pub fn from_records(records: &[DeploymentRecord]) -> Self {
        let mut samples: BTreeMap<(ComponentKind, Action), Vec<f64>> = BTreeMap::new();
        for record in records {
            for (key, seconds) in &record.durations_s {
                let Some((component, action)) = key.rsplit_once(':') else {
                    continue;
                };
                let (Some(action), Some(kind)) = (parse_action(action), kind_in(record, component))
                else {
                    continue;
                };
                if seconds.is_finite() && *seconds >= 0.0 {
                    samples.entry((kind, action)).or_default().push(*seconds);
                }
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

fn kind_in(record: &DeploymentRecord, component: &str) -> Option<ComponentKind> {
    let kind = record.spec.get(component)?.get("kind")?.clone();
    serde_json::from_value(kind).ok()
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
    use serde_json::json;

    fn record(durations: &[(&str, f64)]) -> DeploymentRecord {
        DeploymentRecord {
            spec: json!({
                "svc/queue": {"kind": "SQS"},
                "svc/db": {"kind": "RDS"},
                "svc/api": {"kind": "MicroService"},
            }),
            durations_s: durations.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            ..DeploymentRecord::default()
        }
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
        let h = DurationHistory::from_records(&[
            record(&[("svc/queue:create", 4.0), ("svc/db:create", 300.0)]),
            record(&[("svc/queue:create", 2.0), ("svc/api:update", 50.0)]),
            record(&[("svc/queue:create", 30.0), ("svc/api:update", 70.0)]),
        ]);
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
        let h = DurationHistory::from_records(&[record(&[
            ("svc/queue", 1.0),
            ("svc/queue:explode", 1.0),
            ("svc/gone:delete", 1.0),
            ("svc/queue:create", f64::NAN),
            ("svc/queue:create", -1.0),
        ])]);
        assert!(h.is_empty(), "{h:?}");
    }

    #[test]
    fn the_estimate_sums_the_slowest_change_of_each_wave() {
        let h = DurationHistory::from_records(&[record(&[
            ("svc/queue:create", 5.0),
            ("svc/db:create", 200.0),
            ("svc/api:create", 90.0),
        ])]);
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
    fn keys_name_the_component_and_action() {
        assert_eq!(
            duration_key(&ComponentId::new("svc", "queue"), Action::Replace),
            "svc/queue:replace"
        );
    }
}
