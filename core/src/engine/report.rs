//! What a run measured: each finished change's duration (for the deployment record and
//! the plan's estimates), the changes that finished before any rollback, and the last
//! state serial saved. Kept by the engine, so whoever renders its events only displays
//! them and no renderer's bookkeeping ends up in a record.

use super::{Event, EventSink, Outcome};
use crate::model::ComponentId;
use crate::plan::Action;
use crate::plan::estimate::duration_key;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The outcome of [`super::execute_measured`] and what the engine measured on the way.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub outcome: Outcome,
    /// Seconds each finished change took, by `service/component:action`
    /// (`plan::estimate::duration_key`).
    pub durations_s: BTreeMap<String, f64>,
    /// The changes that finished (and were not being reverted), in the order they did.
    pub finished: Vec<(ComponentId, Action)>,
    /// The serial of the last state saved, if one was.
    pub last_serial: Option<u64>,
}

#[derive(Default)]
struct Seen {
    durations_s: BTreeMap<String, f64>,
    finished: Vec<(ComponentId, Action)>,
    last_serial: Option<u64>,
    rolling_back: bool,
}

/// Notes what the engine reports as it passes the events on: the durations it measured
/// travel in its events already, so they are taken from there rather than measured twice.
pub(super) struct Tally {
    next: Arc<dyn EventSink>,
    seen: Mutex<Seen>,
}

impl Tally {
    pub(super) fn new(next: Arc<dyn EventSink>) -> Self {
        Tally {
            next,
            seen: Mutex::new(Seen::default()),
        }
    }

    pub(super) fn report(&self, outcome: Outcome) -> Report {
        let seen = std::mem::take(&mut *self.lock());
        Report {
            outcome,
            durations_s: seen.durations_s,
            finished: seen.finished,
            last_serial: seen.last_serial,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        // Poisoned only if a sink panicked mid-event; what was noted so far still holds.
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl EventSink for Tally {
    fn emit(&self, event: Event) {
        {
            let mut seen = self.lock();
            match &event {
                Event::ChangeFinished {
                    component,
                    action,
                    elapsed,
                    ..
                } => {
                    seen.durations_s
                        .insert(duration_key(component, *action), elapsed.as_secs_f64());
                    if !seen.rolling_back {
                        seen.finished.push((component.clone(), *action));
                    }
                }
                Event::StateSaved { serial } => seen.last_serial = Some(*serial),
                Event::RollbackStarted { .. } => seen.rolling_back = true,
                _ => {}
            }
        }
        self.next.emit(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    struct Nothing;
    impl EventSink for Nothing {
        fn emit(&self, _: Event) {}
    }

    #[test]
    fn finished_changes_are_measured_and_the_last_save_kept() {
        let id = |c: &str| ComponentId::new("email-service", c);
        let tally = Tally::new(Arc::new(Nothing));
        tally.emit(Event::ChangeFinished {
            component: id("queue"),
            action: Action::Create,
            elapsed: Duration::from_millis(2500),
            outputs: BTreeMap::new(),
        });
        tally.emit(Event::ChangeFailed {
            component: id("api"),
            action: Action::Update,
            error: "boom".into(),
        });
        tally.emit(Event::StateSaved { serial: 7 });
        tally.emit(Event::RollbackStarted { changes: 1 });
        let report = tally.report(Outcome::Success);
        assert_eq!(
            report.durations_s,
            BTreeMap::from([("email-service/queue:create".to_string(), 2.5)])
        );
        assert_eq!(report.finished, vec![(id("queue"), Action::Create)]);
        assert_eq!(report.last_serial, Some(7));
    }
}
