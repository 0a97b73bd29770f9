//! The executor's events as people and machines read them while an apply runs.

use panka_core::engine::{Event, EventSink};
use panka_core::plan::Action;
use serde_json::json;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Prints engine events as they come: plain lines for people, JSON lines for machines
/// (on stderr, so stdout keeps the one result document).
pub struct Progress {
    json: bool,
    start: Instant,
    out: Mutex<()>,
}

impl Progress {
    pub fn new(json: bool) -> Self {
        Self {
            json,
            start: Instant::now(),
            out: Mutex::new(()),
        }
    }
}

pub fn took(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

pub fn verb(action: Action) -> (&'static str, &'static str) {
    match action {
        Action::Create => ("Creating", "created"),
        Action::Update => ("Updating", "updated"),
        Action::Replace => ("Replacing", "replaced"),
        Action::Delete => ("Deleting", "deleted"),
        Action::Noop => ("Checking", "unchanged"),
    }
}

impl EventSink for Progress {
    fn emit(&self, event: Event) {
        let _guard = self.out.lock();
        if self.json {
            let line = match &event {
                Event::ChangeStarted {
                    component,
                    action,
                    wave,
                } => {
                    json!({"event": "started", "component": component.to_string(), "action": action, "wave": wave})
                }
                Event::Waiting {
                    component,
                    detail,
                    progress,
                } => {
                    json!({"event": "waiting", "component": component.to_string(), "detail": detail, "progress": progress})
                }
                Event::ChangeFinished {
                    component,
                    action,
                    elapsed,
                    ..
                } => {
                    json!({"event": "finished", "component": component.to_string(), "action": action, "elapsed_s": elapsed.as_secs_f64()})
                }
                Event::ChangeFailed {
                    component,
                    action,
                    error,
                } => {
                    json!({"event": "failed", "component": component.to_string(), "action": action, "error": error})
                }
                Event::StateSaved { serial } => json!({"event": "state_saved", "serial": serial}),
                Event::RollbackStarted { changes } => {
                    json!({"event": "rollback_started", "changes": changes})
                }
                Event::RollbackStep { component, action } => {
                    json!({"event": "rollback_step", "component": component.to_string(), "action": action})
                }
                Event::RollbackFailed { component, error } => {
                    json!({"event": "rollback_failed", "component": component.to_string(), "error": error})
                }
            };
            eprintln!("{line}");
            return;
        }
        let at = took(self.start.elapsed());
        let line = match event {
            Event::ChangeStarted {
                component,
                action,
                wave,
            } => format!("[{at}] Wave {wave}: {} {component}...", verb(action).0),
            Event::Waiting {
                component,
                detail,
                progress,
            } => match progress {
                Some(p) => format!("[{at}]   {component}: {detail} ({p}%)"),
                None => format!("[{at}]   {component}: {detail}"),
            },
            Event::ChangeFinished {
                component,
                action,
                elapsed,
                outputs,
            } => {
                let mut line = format!(
                    "[{at}] ✓ {component} {} ({})",
                    verb(action).1,
                    took(elapsed)
                );
                for key in ["url", "endpoint"] {
                    if let Some(v) = outputs.get(key) {
                        line.push_str(&format!(
                            "\n        {}: {v}",
                            if key == "url" { "URL" } else { "Endpoint" }
                        ));
                    }
                }
                line
            }
            Event::ChangeFailed {
                component,
                action,
                error,
            } => format!("[{at}] ✗ {} {component} failed: {error}", verb(action).0),
            Event::StateSaved { .. } => return,
            Event::RollbackStarted { changes } => format!(
                "[{at}] Rolling back {changes} change{}...",
                if changes == 1 { "" } else { "s" }
            ),
            Event::RollbackStep { component, action } => format!(
                "[{at}]   reverting {component} ({})",
                verb(action).0.to_lowercase()
            ),
            Event::RollbackFailed { component, error } => {
                format!("[{at}] ✗ could not revert {component}: {error}")
            }
        };
        eprintln!("{line}");
    }
}
