//! The executor's events as people and machines read them while an apply runs: on a
//! terminal, the walkthrough's nested progress (a line per wave, a spinner per change with
//! its elapsed time, a bar when AWS reports a percentage, ✓/✗ lines kept when done);
//! elsewhere plain lines; JSON lines with `--output json`.
//!
//! Whatever the output, it measures what each finished change took, for the deployment
//! record (the plan's duration estimate learns from it).

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use panka_core::diag::Palette;
use panka_core::engine::{Event, EventSink};
use panka_core::model::{ComponentId, ComponentKind};
use panka_core::plan::estimate::duration_key;
use panka_core::plan::{Action, Plan};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a spinner turns and its elapsed time moves.
const TICK: Duration = Duration::from_millis(120);

/// Prints engine events as they come (on stderr, so stdout keeps the one result
/// document) and keeps the duration of every finished change.
pub struct Progress {
    json: bool,
    start: Instant,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// By `service/component:action` (see `duration_key`).
    durations: BTreeMap<String, f64>,
    terminal: Option<Terminal>,
}

impl Progress {
    /// Plain lines, or JSON lines with `json`.
    pub fn new(json: bool) -> Self {
        Self {
            json,
            start: Instant::now(),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// [`Progress::new`], drawing the nested progress of `plan` when the output is text
    /// and stderr is a terminal; colour unless `no_color` (`NO_COLOR`).
    pub fn for_plan(plan: &Plan, json: bool, no_color: bool) -> Self {
        let progress = Self::new(json);
        if !json && std::io::stderr().is_terminal() {
            let palette = if no_color {
                Palette::PLAIN
            } else {
                Palette::ANSI
            };
            if let Ok(mut inner) = progress.inner.lock() {
                inner.terminal = Some(Terminal::new(plan, palette));
            }
        }
        progress
    }

    /// Seconds each finished change took, by `service/component:action`.
    pub fn durations(&self) -> BTreeMap<String, f64> {
        self.inner
            .lock()
            .map(|i| i.durations.clone())
            .unwrap_or_default()
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
        // A poisoned lock only means another event's printing panicked; keep going.
        let mut inner = match self.inner.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Event::ChangeFinished {
            component,
            action,
            elapsed,
            ..
        } = &event
        {
            inner
                .durations
                .insert(duration_key(component, *action), elapsed.as_secs_f64());
        }
        if self.json {
            eprintln!("{}", json_line(&event));
        } else if let Some(terminal) = inner.terminal.as_mut() {
            terminal.show(event);
        } else if let Some(line) = plain_line(event, self.start.elapsed()) {
            eprintln!("{line}");
        }
    }
}

fn json_line(event: &Event) -> serde_json::Value {
    match event {
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
    }
}

/// The outputs people look for first, under a finished change.
fn output_lines(outputs: &BTreeMap<String, String>, indent: &str) -> String {
    let mut text = String::new();
    for key in ["url", "endpoint"] {
        if let Some(v) = outputs.get(key) {
            text.push_str(&format!(
                "\n{indent}{}: {v}",
                if key == "url" { "URL" } else { "Endpoint" }
            ));
        }
    }
    text
}

fn plain_line(event: Event, since_start: Duration) -> Option<String> {
    let at = took(since_start);
    Some(match event {
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
        } => format!(
            "[{at}] ✓ {component} {} ({}){}",
            verb(action).1,
            took(elapsed),
            output_lines(&outputs, "        ")
        ),
        Event::ChangeFailed {
            component,
            action,
            error,
        } => format!("[{at}] ✗ {} {component} failed: {error}", verb(action).0),
        Event::StateSaved { .. } => return None,
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
    })
}

/// Where a change sits in the tree: its wave as the plan box numbers them (waves with
/// changes only) and its place among that wave's changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot {
    wave: usize,
    index: usize,
    count: usize,
    kind: Option<ComponentKind>,
}

/// `├── ` or `└── `, and what continues below it: `│   ` or four spaces. Changes of a
/// wave finish in any order, so the last one *to finish* closes the wave's tree.
fn branches(last: bool) -> (&'static str, &'static str) {
    if last {
        ("└── ", "    ")
    } else {
        ("├── ", "│   ")
    }
}

fn layout(plan: &Plan) -> BTreeMap<ComponentId, Slot> {
    let mut slots = BTreeMap::new();
    let visible = plan
        .waves
        .iter()
        .map(|w| {
            w.iter()
                .filter(|c| c.action != Action::Noop)
                .collect::<Vec<_>>()
        })
        .filter(|w| !w.is_empty());
    for (w, changes) in visible.enumerate() {
        for (i, c) in changes.iter().enumerate() {
            slots.insert(
                c.component.clone(),
                Slot {
                    wave: w + 1,
                    index: i + 1,
                    count: changes.len(),
                    kind: Some(c.kind),
                },
            );
        }
    }
    slots
}

fn wave_title(slot: &Slot) -> String {
    let n = slot.count;
    format!(
        "Wave {} ({n} resource{}{})",
        slot.wave,
        if n == 1 { "" } else { "s" },
        if n > 1 { ", parallel" } else { "" }
    )
}

/// `├── [1/2] Creating email-service/database (RDS)`
fn head(slot: &Slot, component: &ComponentId, action: Action, last: bool) -> String {
    let kind = slot.kind.map(|k| format!(" ({k})")).unwrap_or_default();
    format!(
        "{}[{}/{}] {} {component}{kind}",
        branches(last).0,
        slot.index,
        slot.count,
        verb(action).0,
    )
}

/// The lines kept for a finished change: its head, then `✓ created (8s)` and the
/// outputs people look for first, nested under it.
fn finished_lines(
    slot: &Slot,
    component: &ComponentId,
    action: Action,
    last: bool,
    elapsed: Duration,
    outputs: &BTreeMap<String, String>,
    p: Palette,
) -> String {
    let under = branches(last).1;
    format!(
        "{}\n{under}└── {}✓{} {} ({}){}",
        head(slot, component, action, last),
        p.ok,
        p.reset,
        capitalise(verb(action).1),
        took(elapsed),
        output_lines(outputs, &format!("{under}    "))
    )
}

fn failed_lines(
    slot: &Slot,
    component: &ComponentId,
    action: Action,
    last: bool,
    error: &str,
    p: Palette,
) -> String {
    format!(
        "{}\n{}└── {}✗{} Failed: {error}",
        head(slot, component, action, last),
        branches(last).1,
        p.error,
        p.reset
    )
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// The live view: one spinner (or bar) per running change, finished lines printed above.
struct Terminal {
    multi: MultiProgress,
    palette: Palette,
    slots: BTreeMap<ComponentId, Slot>,
    waves_shown: BTreeSet<usize>,
    /// How many changes of each wave have finished (or failed).
    ended: BTreeMap<usize, usize>,
    running: BTreeMap<ComponentId, (ProgressBar, Action)>,
}

impl Terminal {
    fn new(plan: &Plan, palette: Palette) -> Self {
        Terminal {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            palette,
            slots: layout(plan),
            waves_shown: BTreeSet::new(),
            ended: BTreeMap::new(),
            running: BTreeMap::new(),
        }
    }

    fn slot(&self, component: &ComponentId) -> Slot {
        // A change the plan does not list (none today) still renders, under no wave.
        self.slots.get(component).copied().unwrap_or(Slot {
            wave: 0,
            index: 1,
            count: 1,
            kind: None,
        })
    }

    /// Counts one more ended change of the slot's wave; whether it is the wave's last.
    fn end(&mut self, slot: &Slot) -> bool {
        let ended = self.ended.entry(slot.wave).or_default();
        *ended += 1;
        *ended >= slot.count
    }

    fn print(&self, text: &str) {
        // Printed above the live bars; when the terminal is gone there is nothing to do.
        let _ = self.multi.println(text);
    }

    fn elapsed_key(state: &ProgressState, w: &mut dyn std::fmt::Write) {
        let _ = write!(w, "{}", took(state.elapsed()));
    }

    /// `{prefix} ⠋ 12s  detail` — a spinner with the change's elapsed time.
    fn spinner_style(&self) -> ProgressStyle {
        let template = if self.palette.ok.is_empty() {
            "{prefix} {spinner} {took}  {wide_msg}"
        } else {
            "{prefix} {spinner:.cyan} {took}  {wide_msg}"
        };
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
            .with_key("took", Self::elapsed_key)
            .tick_strings(&["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏", "⟳"])
    }

    /// The head line, and under it `└──  30% [=====>     ] 5m 12s  detail`.
    fn bar_style(&self, under: &str) -> ProgressStyle {
        let bar = if self.palette.ok.is_empty() {
            "{bar:30}"
        } else {
            "{bar:30.cyan/blue}"
        };
        let template = format!("{{prefix}}\n{under}└── {{pos:>3}}% [{bar}] {{took}}  {{wide_msg}}");
        ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .with_key("took", Self::elapsed_key)
            .progress_chars("=> ")
    }

    fn show(&mut self, event: Event) {
        let p = self.palette;
        match event {
            Event::ChangeStarted {
                component, action, ..
            } => {
                let slot = self.slot(&component);
                if slot.wave > 0 && self.waves_shown.insert(slot.wave) {
                    self.print(&format!("\n{}{}{}", p.bold, wave_title(&slot), p.reset));
                }
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(self.spinner_style());
                bar.set_prefix(head(&slot, &component, action, slot.count == 1));
                bar.enable_steady_tick(TICK);
                self.running.insert(component, (bar, action));
            }
            Event::Waiting {
                component,
                detail,
                progress,
            } => {
                let slot = self.slot(&component);
                if let Some((bar, _)) = self.running.get(&component) {
                    if let Some(percent) = progress {
                        if bar.length().is_none() {
                            bar.set_length(100);
                            bar.set_style(self.bar_style(branches(slot.count == 1).1));
                        }
                        bar.set_position(u64::from(percent.min(100)));
                    }
                    bar.set_message(detail);
                }
            }
            Event::ChangeFinished {
                component,
                action,
                elapsed,
                outputs,
            } => {
                if let Some((bar, _)) = self.running.remove(&component) {
                    bar.finish_and_clear();
                }
                let slot = self.slot(&component);
                let last = self.end(&slot);
                self.print(&finished_lines(
                    &slot, &component, action, last, elapsed, &outputs, p,
                ));
            }
            Event::ChangeFailed {
                component,
                action,
                error,
            } => {
                if let Some((bar, _)) = self.running.remove(&component) {
                    bar.finish_and_clear();
                }
                let slot = self.slot(&component);
                let last = self.end(&slot);
                self.print(&failed_lines(&slot, &component, action, last, &error, p));
            }
            Event::StateSaved { .. } => {}
            Event::RollbackStarted { changes } => {
                self.clear();
                self.print(&format!(
                    "\n{}Rolling back {changes} change{}...{}",
                    p.warning,
                    if changes == 1 { "" } else { "s" },
                    p.reset
                ));
            }
            Event::RollbackStep { component, action } => {
                self.print(&format!(
                    "├── reverting {component} ({})",
                    verb(action).0.to_lowercase()
                ));
            }
            Event::RollbackFailed { component, error } => {
                self.print(&format!(
                    "├── {}✗{} could not revert {component}: {error}",
                    p.error, p.reset
                ));
            }
        }
    }

    fn clear(&mut self) {
        for (_, (bar, _)) in std::mem::take(&mut self.running) {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use panka_core::plan::{PlannedChange, Summary};

    fn change(name: &str, kind: ComponentKind, action: Action, wave: usize) -> PlannedChange {
        PlannedChange {
            component: ComponentId::new("email-service", name),
            kind,
            action,
            wave,
            reason: String::new(),
            fields: Vec::new(),
            dangerous: false,
        }
    }

    fn plan() -> Plan {
        Plan {
            stack: "np".into(),
            environment: "development".into(),
            based_on: None,
            waves: vec![
                vec![change(
                    "cache",
                    ComponentKind::ElastiCacheRedis,
                    Action::Noop,
                    1,
                )],
                vec![
                    change("database", ComponentKind::Rds, Action::Create, 2),
                    change("queue", ComponentKind::Sqs, Action::Create, 2),
                ],
                vec![change(
                    "api",
                    ComponentKind::MicroService,
                    Action::Update,
                    3,
                )],
            ],
            summary: Summary::default(),
            targets: Vec::new(),
        }
    }

    fn id(name: &str) -> ComponentId {
        ComponentId::new("email-service", name)
    }

    #[test]
    fn waves_are_numbered_like_the_plan_box() {
        let slots = layout(&plan());
        assert_eq!(slots.get(&id("cache")), None, "no-op changes are not shown");
        let db = slots[&id("database")];
        assert_eq!((db.wave, db.index, db.count), (1, 1, 2));
        assert_eq!(wave_title(&db), "Wave 1 (2 resources, parallel)");
        let api = slots[&id("api")];
        assert_eq!((api.wave, api.index, api.count), (2, 1, 1));
        assert_eq!(wave_title(&api), "Wave 2 (1 resource)");
    }

    #[test]
    fn finished_and_failed_changes_keep_the_walkthrough_tree() {
        let slots = layout(&plan());
        let outputs = BTreeMap::from([(
            "endpoint".to_string(),
            "db.abc.us-east-1.rds.amazonaws.com".to_string(),
        )]);
        assert_eq!(
            finished_lines(
                &slots[&id("database")],
                &id("database"),
                Action::Create,
                false,
                Duration::from_secs(346),
                &outputs,
                Palette::PLAIN
            ),
            "├── [1/2] Creating email-service/database (RDS)\n\
             │   └── ✓ Created (5m 46s)\n\
             │       Endpoint: db.abc.us-east-1.rds.amazonaws.com"
        );
        assert_eq!(
            failed_lines(
                &slots[&id("queue")],
                &id("queue"),
                Action::Create,
                true,
                "AccessDenied",
                Palette::PLAIN
            ),
            "└── [2/2] Creating email-service/queue (SQS)\n    └── ✗ Failed: AccessDenied"
        );
        let coloured = finished_lines(
            &slots[&id("api")],
            &id("api"),
            Action::Update,
            true,
            Duration::from_secs(8),
            &BTreeMap::new(),
            Palette::ANSI,
        );
        assert!(coloured.contains(&format!("{}✓{}", Palette::ANSI.ok, Palette::ANSI.reset)));
    }

    #[test]
    fn finished_changes_are_measured_whatever_the_output() {
        for json in [false, true] {
            let progress = Progress::new(json);
            progress.emit(Event::ChangeStarted {
                component: id("queue"),
                action: Action::Create,
                wave: 1,
            });
            progress.emit(Event::ChangeFinished {
                component: id("queue"),
                action: Action::Create,
                elapsed: Duration::from_millis(2500),
                outputs: BTreeMap::new(),
            });
            progress.emit(Event::ChangeFailed {
                component: id("api"),
                action: Action::Update,
                error: "boom".into(),
            });
            assert_eq!(
                progress.durations(),
                BTreeMap::from([("email-service/queue:create".to_string(), 2.5)])
            );
        }
    }

    #[test]
    fn plain_lines_are_unchanged() {
        let line = plain_line(
            Event::ChangeFinished {
                component: id("queue"),
                action: Action::Create,
                elapsed: Duration::from_secs(3),
                outputs: BTreeMap::from([("url".to_string(), "https://q".to_string())]),
            },
            Duration::from_secs(12),
        );
        assert_eq!(
            line.as_deref(),
            Some("[12s] ✓ email-service/queue created (3s)\n        URL: https://q")
        );
        assert_eq!(
            plain_line(Event::StateSaved { serial: 3 }, Duration::ZERO),
            None
        );
    }

    #[test]
    fn the_live_view_tracks_bars_and_closes_each_wave_with_its_last_change() {
        // Not a terminal here: indicatif draws nothing, the bookkeeping is the same.
        let mut t = Terminal::new(&plan(), Palette::PLAIN);
        for name in ["database", "queue"] {
            t.show(Event::ChangeStarted {
                component: id(name),
                action: Action::Create,
                wave: 2,
            });
        }
        assert_eq!(t.waves_shown, BTreeSet::from([1]));
        t.show(Event::Waiting {
            component: id("database"),
            detail: "creating".into(),
            progress: None,
        });
        assert_eq!(t.running[&id("database")].0.length(), None, "a spinner");
        t.show(Event::Waiting {
            component: id("database"),
            detail: "backing-up".into(),
            progress: Some(60),
        });
        let (bar, _) = &t.running[&id("database")];
        assert_eq!((bar.length(), bar.position()), (Some(100), 60), "a bar");
        let wave = t.slot(&id("queue"));
        assert!(!t.end(&wave), "one of two ended");
        assert!(t.end(&wave), "the second closes the wave");
        t.show(Event::ChangeFinished {
            component: id("database"),
            action: Action::Create,
            elapsed: Duration::from_secs(5),
            outputs: BTreeMap::new(),
        });
        assert!(!t.running.contains_key(&id("database")));
        t.show(Event::RollbackStarted { changes: 1 });
        assert!(t.running.is_empty(), "rollback clears what was still drawn");
    }
}
