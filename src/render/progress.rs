//! The executor's events as people and machines read them while an apply runs.
//!
//! - On a terminal: the walkthrough's tree, live: a wave title when its first change
//!   starts, a spinner per running change showing its current step (a bar when AWS gives a
//!   percentage), and each change's whole block (its steps, ✓/✗, main output) printed above
//!   the spinners when it ends.
//! - Elsewhere (CI logs, pipes, the snapshot tests): the same blocks, printed
//!   deterministically: in plan order, each once it and every block before it ended, each
//!   wave's title before its first block. A long change therefore holds back the blocks
//!   after it, and the log reads like the walkthrough whatever order things finished in.
//! - `--output json`: one JSON object per event on stderr, each with `"v": 1` (the format
//!   version, docs/commands.md).
//!
//! It displays the durations the engine reports and keeps none: what a deployment records
//! comes from the engine's `Report`.

use crate::contract::{ProgressEvent, ProgressLine, StepLine};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use panka_core::diag::Palette;
use panka_core::engine::{Event, EventSink, StepState};
use panka_core::model::{ComponentId, ComponentKind};
use panka_core::plan::{Action, Plan};
#[cfg(test)]
use serde_json::json; // the unit tests below compare lines with literal JSON
use std::collections::{BTreeMap, BTreeSet};
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

/// How often a spinner turns and its elapsed time moves.
const TICK: Duration = Duration::from_millis(120);

/// Prints engine events as they come (on stderr, so stdout keeps the one result
/// document).
pub struct Progress {
    json: bool,
    inner: Mutex<Inner>,
}

struct Inner {
    tree: Tree,
    terminal: Option<Terminal>,
}

impl Progress {
    /// The progress of `plan`: JSON lines with `json`; otherwise the tree, live when
    /// stderr is a terminal; colour unless `no_color` (`NO_COLOR`).
    pub fn for_plan(plan: &Plan, json: bool, no_color: bool) -> Self {
        let live = !json && std::io::stderr().is_terminal();
        let palette = if no_color || !live {
            Palette::PLAIN
        } else {
            Palette::ANSI
        };
        Self::with(json, Some(plan), palette, live)
    }

    fn with(json: bool, plan: Option<&Plan>, palette: Palette, live: bool) -> Self {
        let tree = Tree::new(plan, palette, !live);
        Self {
            json,
            inner: Mutex::new(Inner {
                tree,
                terminal: live.then(|| Terminal::new(palette)),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means another event's printing panicked; keep going.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The run is over: blocks still held back (a failure stopped the ones before them)
    /// are printed, and live spinners cleared.
    pub fn finish(&self) {
        let mut inner = self.lock();
        let text = inner.tree.flush();
        if let Some(t) = inner.terminal.as_mut() {
            t.clear();
        }
        print_err(&text);
    }
}

fn print_err(text: &str) {
    if text.is_empty() {
        return;
    }
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(text.as_bytes());
    let _ = stderr.flush();
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

/// What a component of a kind is called in its done line (`✓ Database created`).
fn noun(kind: Option<ComponentKind>) -> &'static str {
    kind.map_or("Component", |kind| kind.info().noun)
}

impl EventSink for Progress {
    fn emit(&self, event: Event) {
        let mut inner = self.lock();
        if self.json {
            print_err(&format!("{}\n", json_line(&event)));
            return;
        }
        let text = inner.tree.show(&event);
        let current = inner_view(&inner.tree, &event);
        match inner.terminal.as_mut() {
            Some(t) => t.show(&event, &text, &current),
            None => print_err(&text),
        }
    }
}

/// What a live spinner says for the change an event is about.
fn inner_view(tree: &Tree, event: &Event) -> Option<(ComponentId, String)> {
    let component = match event {
        Event::ChangeStarted { component, .. }
        | Event::Waiting { component, .. }
        | Event::Step { component, .. } => component,
        _ => return None,
    };
    let block = tree.blocks.get(component)?;
    Some((component.clone(), block.current()))
}

/// One line of the JSON-lines stream, with the format version (`crate::contract`): a
/// `Value`, like every document (`Ui::json`), so keys print in serde_json's map order.
pub fn json_event(event: ProgressEvent<'_>) -> serde_json::Value {
    serde_json::to_value(ProgressLine::new(event)).unwrap_or_default()
}

fn json_line(event: &Event) -> serde_json::Value {
    json_event(match event {
        Event::ChangeStarted {
            component,
            action,
            wave,
        } => ProgressEvent::Started {
            component: component.to_string(),
            action: *action,
            wave: *wave,
        },
        Event::Waiting {
            component,
            detail,
            progress,
        } => ProgressEvent::Waiting {
            component: component.to_string(),
            detail,
            progress: *progress,
        },
        Event::ChangeFinished {
            component,
            action,
            elapsed,
            ..
        } => ProgressEvent::Finished {
            component: component.to_string(),
            action: *action,
            elapsed_s: elapsed.as_secs_f64(),
        },
        Event::ChangeFailed {
            component,
            action,
            error,
        } => ProgressEvent::Failed {
            component: component.to_string(),
            action: *action,
            error,
        },
        Event::StateSaved { serial } => ProgressEvent::StateSaved { serial: *serial },
        Event::RollbackStarted { changes } => ProgressEvent::RollbackStarted { changes: *changes },
        Event::RollbackStep { component, action } => ProgressEvent::RollbackStep {
            component: component.to_string(),
            action: *action,
        },
        Event::RollbackFinished { component, elapsed } => ProgressEvent::RollbackFinished {
            component: component.to_string(),
            elapsed_s: elapsed.as_secs_f64(),
        },
        Event::RollbackFailed { component, error } => ProgressEvent::RollbackFailed {
            component: component.to_string(),
            error,
        },
        Event::Step {
            component,
            step,
            state,
        } => ProgressEvent::Step {
            component: component.to_string(),
            step,
            state: match state {
                StepState::Started => StepLine::Started,
                StepState::Progress { detail, percent } => StepLine::Progress {
                    detail,
                    percent: *percent,
                },
                StepState::Item { key, status } => StepLine::Item { key, status },
                StepState::Done { elapsed } => StepLine::Done {
                    elapsed_s: elapsed.as_secs_f64(),
                },
                StepState::Failed { elapsed } => StepLine::Failed {
                    elapsed_s: elapsed.as_secs_f64(),
                },
            },
        },
    })
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

/// Where a change sits in the tree: its wave as the plan box numbers them (waves with
/// changes only), its place among that wave's changes, and its place in the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot {
    wave: usize,
    index: usize,
    count: usize,
    order: usize,
    kind: Option<ComponentKind>,
}

/// `├── ` or `└── `, and what continues below it: `│   ` or four spaces.
fn branches(last: bool) -> (&'static str, &'static str) {
    if last {
        ("└── ", "    ")
    } else {
        ("├── ", "│   ")
    }
}

/// The slots of the plan's changes, and each visible wave's title.
fn layout(plan: &Plan) -> (BTreeMap<ComponentId, Slot>, BTreeMap<usize, String>) {
    let mut slots = BTreeMap::new();
    let mut titles = BTreeMap::new();
    let visible = plan
        .waves
        .iter()
        .map(|w| {
            w.iter()
                .filter(|c| c.action != Action::Noop)
                .collect::<Vec<_>>()
        })
        .filter(|w| !w.is_empty());
    let mut order = 0;
    for (w, changes) in visible.enumerate() {
        let n = changes.len();
        // Named after what the wave holds: removals, the data stores and queues others
        // use, or the services.
        let name = if changes.iter().all(|c| c.action == Action::Delete) {
            "Removals"
        } else if changes
            .iter()
            .all(|c| c.kind != ComponentKind::MicroService)
        {
            "Dependencies"
        } else {
            "Application"
        };
        titles.insert(
            w + 1,
            format!(
                "Wave {}: {name} ({n} resource{}{})",
                w + 1,
                if n == 1 { "" } else { "s" },
                if n > 1 { ", parallel" } else { "" }
            ),
        );
        for (i, c) in changes.iter().enumerate() {
            slots.insert(
                c.component.clone(),
                Slot {
                    wave: w + 1,
                    index: i + 1,
                    count: n,
                    order,
                    kind: Some(c.kind),
                },
            );
            order += 1;
        }
    }
    (slots, titles)
}

/// One line under a step: a status AWS reported, or the successive states of one thing.
#[derive(Clone, Debug, PartialEq)]
enum Child {
    Progress(String),
    Item { key: String, statuses: Vec<String> },
}

#[derive(Clone, Debug, PartialEq)]
enum StepEnd {
    Open,
    Done(Duration),
    Failed(Duration),
}

#[derive(Clone, Debug, PartialEq)]
struct StepView {
    name: String,
    end: StepEnd,
    children: Vec<Child>,
}

#[derive(Clone, Debug, PartialEq)]
enum Entry {
    Step(StepView),
    /// What the executor said while no step was reporting (a retry, a generic wait).
    Note(String),
}

#[derive(Clone, Debug, PartialEq)]
enum BlockEnd {
    Finished {
        elapsed: Duration,
        outputs: BTreeMap<String, String>,
    },
    Failed(String),
}

/// Everything known about one change of this run.
#[derive(Clone, Debug)]
struct Block {
    action: Action,
    entries: Vec<Entry>,
    end: Option<BlockEnd>,
    printed: bool,
}

impl Block {
    fn step_mut(&mut self, name: &str) -> &mut StepView {
        let at = self
            .entries
            .iter()
            .position(|e| matches!(e, Entry::Step(s) if s.name == name));
        let at = match at {
            Some(at) => at,
            None => {
                self.entries.push(Entry::Step(StepView {
                    name: name.to_string(),
                    end: StepEnd::Open,
                    children: Vec::new(),
                }));
                self.entries.len() - 1
            }
        };
        match &mut self.entries[at] {
            Entry::Step(s) => s,
            // `at` was found or pushed as a step just above.
            Entry::Note(_) => unreachable!("a step entry"),
        }
    }

    fn any_open(&self) -> bool {
        self.entries
            .iter()
            .any(|e| matches!(e, Entry::Step(s) if s.end == StepEnd::Open))
    }

    fn apply(&mut self, state: &StepState, name: &str) {
        let step = self.step_mut(name);
        match state {
            // A step tried again (the executor retries whole changes) is open again.
            StepState::Started => step.end = StepEnd::Open,
            StepState::Progress { detail, percent } => {
                let line = match percent {
                    Some(p) => format!("{detail} {p}%"),
                    None => detail.clone(),
                };
                if step.children.last() != Some(&Child::Progress(line.clone())) {
                    step.children.push(Child::Progress(line));
                }
            }
            StepState::Item { key, status } => {
                let existing = step.children.iter_mut().find_map(|c| match c {
                    Child::Item { key: k, statuses } if k == key => Some(statuses),
                    _ => None,
                });
                match existing {
                    Some(statuses) => {
                        if statuses.last() != Some(status) {
                            statuses.push(status.clone());
                        }
                    }
                    None => step.children.push(Child::Item {
                        key: key.clone(),
                        statuses: vec![status.clone()],
                    }),
                }
            }
            StepState::Done { elapsed } => step.end = StepEnd::Done(*elapsed),
            StepState::Failed { elapsed } => step.end = StepEnd::Failed(*elapsed),
        }
    }

    /// What a live spinner shows: the newest open step, else the last note.
    fn current(&self) -> String {
        self.entries
            .iter()
            .rev()
            .find_map(|e| match e {
                Entry::Step(s) if s.end == StepEnd::Open => Some(match s.children.last() {
                    Some(Child::Progress(p)) => format!("{}... {p}", s.name),
                    Some(Child::Item { key, statuses }) => {
                        format!("{}... {key}: {}", s.name, statuses.join(" → "))
                    }
                    None => format!("{}...", s.name),
                }),
                _ => None,
            })
            .or_else(|| {
                self.entries.iter().rev().find_map(|e| match e {
                    Entry::Note(n) => Some(n.clone()),
                    Entry::Step(_) => None,
                })
            })
            .unwrap_or_default()
    }
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

/// A change's whole block: head, steps with what happened under them, the ✓/✗ line and
/// the outputs people look for first; a `│` spacer when more of the wave follows.
fn block_lines(
    slot: &Slot,
    component: &ComponentId,
    block: &Block,
    last: bool,
    p: Palette,
) -> String {
    let under = branches(last).1;
    let mut text = head(slot, component, block.action, last);
    for entry in &block.entries {
        match entry {
            Entry::Step(step) => {
                let end = match step.end {
                    StepEnd::Open => String::new(),
                    StepEnd::Done(d) => format!(" {}✓{} ({})", p.ok, p.reset, took(d)),
                    StepEnd::Failed(d) => format!(" {}✗{} ({})", p.error, p.reset, took(d)),
                };
                text.push_str(&format!("\n{under}├── {}...{end}", step.name));
                for (i, child) in step.children.iter().enumerate() {
                    let (branch, _) = branches(i + 1 == step.children.len());
                    let line = match child {
                        Child::Progress(line) => line.clone(),
                        Child::Item { key, statuses } => {
                            format!("{key}: {}", statuses.join(" → "))
                        }
                    };
                    text.push_str(&format!("\n{under}│   {branch}{line}"));
                }
            }
            Entry::Note(note) => text.push_str(&format!("\n{under}├── {note}")),
        }
    }
    match &block.end {
        Some(BlockEnd::Finished { elapsed, outputs }) => text.push_str(&format!(
            "\n{under}└── {}✓{} {} {} ({}){}",
            p.ok,
            p.reset,
            noun(slot.kind),
            verb(block.action).1,
            took(*elapsed),
            output_lines(outputs, &format!("{under}    "))
        )),
        Some(BlockEnd::Failed(error)) => text.push_str(&format!(
            "\n{under}└── {}✗{} Failed: {error}",
            p.error, p.reset
        )),
        None => {}
    }
    if !last {
        text.push_str("\n│");
    }
    text.push('\n');
    text
}

/// The tree of this run's changes, as text: built from events, printed block by block.
struct Tree {
    palette: Palette,
    slots: BTreeMap<ComponentId, Slot>,
    titles: BTreeMap<usize, String>,
    /// Plan order: blocks print in this order (when `ordered`), else as they end.
    order: Vec<ComponentId>,
    ordered: bool,
    blocks: BTreeMap<ComponentId, Block>,
    /// How far plan order has been printed.
    cursor: usize,
    waves_shown: BTreeSet<usize>,
    /// Changes of each wave printed so far (when printing as they end).
    ended: BTreeMap<usize, usize>,
    rolling_back: bool,
}

impl Tree {
    fn new(plan: Option<&Plan>, palette: Palette, ordered: bool) -> Self {
        let (slots, titles) = plan.map(layout).unwrap_or_default();
        let mut order: Vec<(usize, ComponentId)> =
            slots.iter().map(|(id, s)| (s.order, id.clone())).collect();
        order.sort();
        Tree {
            palette,
            slots,
            titles,
            order: order.into_iter().map(|(_, id)| id).collect(),
            ordered: ordered && plan.is_some(),
            blocks: BTreeMap::new(),
            cursor: 0,
            waves_shown: BTreeSet::new(),
            ended: BTreeMap::new(),
            rolling_back: false,
        }
    }

    fn slot(&self, component: &ComponentId) -> Slot {
        // A change the plan does not list (none today) still renders, under no wave.
        self.slots.get(component).copied().unwrap_or(Slot {
            wave: 0,
            index: 1,
            count: 1,
            order: usize::MAX,
            kind: None,
        })
    }

    /// The wave's title, the first time it is wanted.
    fn title(&mut self, wave: usize) -> String {
        match self.titles.get(&wave) {
            Some(title) if self.waves_shown.insert(wave) => {
                format!("\n{}{title}{}\n", self.palette.bold, self.palette.reset)
            }
            _ => String::new(),
        }
    }

    /// The text this event adds to the log (often none: blocks print when they end).
    fn show(&mut self, event: &Event) -> String {
        let p = self.palette;
        match event {
            Event::ChangeStarted {
                component, action, ..
            } => {
                self.blocks.insert(
                    component.clone(),
                    Block {
                        action: *action,
                        entries: Vec::new(),
                        end: None,
                        printed: false,
                    },
                );
                if self.ordered {
                    String::new()
                } else {
                    // Live: the wave's title as soon as it begins.
                    let wave = self.slot(component).wave;
                    self.title(wave)
                }
            }
            Event::Step {
                component,
                step,
                state,
            } => {
                if self.rolling_back {
                    return match state {
                        StepState::Done { elapsed } => {
                            format!(
                                "│   ├── {step}... {}✓{} ({})\n",
                                p.ok,
                                p.reset,
                                took(*elapsed)
                            )
                        }
                        StepState::Failed { elapsed } => format!(
                            "│   ├── {step}... {}✗{} ({})\n",
                            p.error,
                            p.reset,
                            took(*elapsed)
                        ),
                        _ => String::new(),
                    };
                }
                if let Some(block) = self.blocks.get_mut(component) {
                    block.apply(state, step);
                }
                String::new()
            }
            Event::Waiting {
                component, detail, ..
            } => {
                if let Some(block) = self.blocks.get_mut(component)
                    && !self.rolling_back
                    && !block.any_open()
                    && block.entries.last() != Some(&Entry::Note(detail.clone()))
                {
                    block.entries.push(Entry::Note(detail.clone()));
                }
                String::new()
            }
            Event::ChangeFinished {
                component,
                elapsed,
                outputs,
                ..
            } => self.end(
                component,
                BlockEnd::Finished {
                    elapsed: *elapsed,
                    outputs: outputs.clone(),
                },
            ),
            Event::ChangeFailed {
                component, error, ..
            } => self.end(component, BlockEnd::Failed(error.clone())),
            Event::StateSaved { .. } => String::new(),
            Event::RollbackStarted { changes } => {
                let mut text = self.flush();
                self.rolling_back = true;
                text.push_str(&format!(
                    "\n{}Rolling back {changes} change{}...{}\n",
                    p.warning,
                    if *changes == 1 { "" } else { "s" },
                    p.reset
                ));
                text
            }
            Event::RollbackStep { component, action } => format!(
                "├── Reverting {component} ({})\n",
                verb(*action).0.to_lowercase()
            ),
            Event::RollbackFinished { elapsed, .. } => format!(
                "│   └── {}✓{} Reverted ({})\n",
                p.ok,
                p.reset,
                took(*elapsed)
            ),
            Event::RollbackFailed { component, error } => format!(
                "│   └── {}✗{} could not revert {component}: {error}\n",
                p.error, p.reset
            ),
        }
    }

    fn end(&mut self, component: &ComponentId, end: BlockEnd) -> String {
        if self.rolling_back {
            return match end {
                BlockEnd::Failed(error) => format!("│   └── ✗ {error}\n"),
                BlockEnd::Finished { .. } => String::new(),
            };
        }
        let Some(block) = self.blocks.get_mut(component) else {
            return String::new();
        };
        block.end = Some(end);
        if self.ordered {
            self.advance()
        } else {
            let slot = self.slot(component);
            let ended = self.ended.entry(slot.wave).or_default();
            *ended += 1;
            let last = *ended >= slot.count;
            self.print_block(component, last)
        }
    }

    fn print_block(&mut self, component: &ComponentId, last: bool) -> String {
        let slot = self.slot(component);
        let mut text = self.title(slot.wave);
        if let Some(block) = self.blocks.get_mut(component) {
            block.printed = true;
            text.push_str(&block_lines(&slot, component, block, last, self.palette));
        }
        text
    }

    /// Prints the ended blocks at the cursor, in plan order, up to the first one still
    /// running or not started.
    fn advance(&mut self) -> String {
        let mut text = String::new();
        while let Some(id) = self.order.get(self.cursor).cloned() {
            if self.blocks.get(&id).is_none_or(|b| b.end.is_none()) {
                break;
            }
            let slot = self.slot(&id);
            text.push_str(&self.print_block(&id, slot.index == slot.count));
            self.cursor += 1;
        }
        text
    }

    /// Prints every ended block not printed yet, in plan order, skipping changes that
    /// never started; each wave's last printed block closes its tree.
    fn flush(&mut self) -> String {
        let mut text = self.advance();
        let pending: Vec<ComponentId> = self
            .order
            .iter()
            .skip(self.cursor)
            .filter(|id| {
                self.blocks
                    .get(*id)
                    .is_some_and(|b| b.end.is_some() && !b.printed)
            })
            .cloned()
            .collect();
        for (i, id) in pending.iter().enumerate() {
            let wave = self.slot(id).wave;
            let last = pending[i + 1..].iter().all(|n| self.slot(n).wave != wave);
            text.push_str(&self.print_block(id, last));
        }
        self.cursor = self.order.len();
        // Changes the plan did not list are printed too.
        let unlisted: Vec<ComponentId> = self
            .blocks
            .iter()
            .filter(|(id, b)| b.end.is_some() && !b.printed && !self.slots.contains_key(*id))
            .map(|(id, _)| id.clone())
            .collect();
        for id in unlisted {
            text.push_str(&self.print_block(&id, true));
        }
        text
    }
}

/// The live view: one spinner (or bar) per running change, the tree's text printed above.
struct Terminal {
    multi: MultiProgress,
    palette: Palette,
    running: BTreeMap<ComponentId, ProgressBar>,
}

impl Terminal {
    fn new(palette: Palette) -> Self {
        Terminal {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            palette,
            running: BTreeMap::new(),
        }
    }

    fn print(&self, text: &str) {
        let text = text.strip_suffix('\n').unwrap_or(text);
        if !text.is_empty() {
            // Printed above the live bars; when the terminal is gone there is nothing to do.
            let _ = self.multi.println(text);
        }
    }

    fn elapsed_key(state: &ProgressState, w: &mut dyn std::fmt::Write) {
        let _ = write!(w, "{}", took(state.elapsed()));
    }

    /// `{prefix} ⠋ 12s  step` — a spinner with the change's elapsed time.
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

    /// The head line, and under it `└──  30% [=====>     ] 5m 12s  step`.
    fn bar_style(&self) -> ProgressStyle {
        let bar = if self.palette.ok.is_empty() {
            "{bar:30}"
        } else {
            "{bar:30.cyan/blue}"
        };
        let template = format!("{{prefix}}\n    └── {{pos:>3}}% [{bar}] {{took}}  {{wide_msg}}");
        ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .with_key("took", Self::elapsed_key)
            .progress_chars("=> ")
    }

    /// Prints `text` (what the tree added) and updates the spinner of the change the
    /// event is about with `current` (its newest step).
    fn show(&mut self, event: &Event, text: &str, current: &Option<(ComponentId, String)>) {
        self.print(text);
        match event {
            Event::ChangeStarted {
                component, action, ..
            } => {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(self.spinner_style());
                bar.set_prefix(format!("{} {component}", verb(*action).0));
                bar.enable_steady_tick(TICK);
                self.running.insert(component.clone(), bar);
            }
            Event::Waiting {
                component,
                progress: Some(percent),
                ..
            }
            | Event::Step {
                component,
                state:
                    StepState::Progress {
                        percent: Some(percent),
                        ..
                    },
                ..
            } => {
                if let Some(bar) = self.running.get(component) {
                    if bar.length().is_none() {
                        bar.set_length(100);
                        bar.set_style(self.bar_style());
                    }
                    bar.set_position(u64::from((*percent).min(100)));
                }
            }
            Event::ChangeFinished { component, .. } | Event::ChangeFailed { component, .. } => {
                if let Some(bar) = self.running.remove(component) {
                    bar.finish_and_clear();
                }
            }
            Event::RollbackStarted { .. } => self.clear(),
            _ => {}
        }
        if let Some((component, message)) = current
            && let Some(bar) = self.running.get(component)
        {
            bar.set_message(message.clone());
        }
    }

    fn clear(&mut self) {
        for (_, bar) in std::mem::take(&mut self.running) {
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
                    Action::Create,
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

    fn started(name: &str) -> Event {
        Event::ChangeStarted {
            component: id(name),
            action: Action::Create,
            wave: 1,
        }
    }

    fn step(name: &str, step: &str, state: StepState) -> Event {
        Event::Step {
            component: id(name),
            step: step.into(),
            state,
        }
    }

    fn done(name: &str, step_name: &str, secs: u64) -> [Event; 2] {
        [
            step(name, step_name, StepState::Started),
            step(
                name,
                step_name,
                StepState::Done {
                    elapsed: Duration::from_secs(secs),
                },
            ),
        ]
    }

    fn finished(name: &str, secs: u64, outputs: &[(&str, &str)]) -> Event {
        Event::ChangeFinished {
            component: id(name),
            action: Action::Create,
            elapsed: Duration::from_secs(secs),
            outputs: outputs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// Everything the plain (not a terminal) tree prints for `events`, then the flush.
    fn plain(events: Vec<Event>) -> String {
        let mut tree = Tree::new(Some(&plan()), Palette::PLAIN, true);
        let mut text: String = events.iter().map(|e| tree.show(e)).collect();
        text.push_str(&tree.flush());
        text
    }

    #[test]
    fn waves_are_numbered_like_the_plan_box_and_named_by_what_they_hold() {
        let (slots, titles) = layout(&plan());
        assert_eq!(slots.get(&id("cache")), None, "no-op changes are not shown");
        let db = slots[&id("database")];
        assert_eq!((db.wave, db.index, db.count, db.order), (1, 1, 2, 0));
        assert_eq!(titles[&1], "Wave 1: Dependencies (2 resources, parallel)");
        let api = slots[&id("api")];
        assert_eq!((api.wave, api.index, api.count, api.order), (2, 1, 1, 2));
        assert_eq!(titles[&2], "Wave 2: Application (1 resource)");
    }

    #[test]
    fn interleaved_parallel_changes_print_as_the_walkthrough_in_plan_order() {
        // The queue ends first and the database's steps interleave with it: the log
        // still shows the database's block first, each block whole.
        let mut events = vec![started("database"), started("queue")];
        events.extend(done("queue", "Creating DLQ", 2));
        events.extend(done("database", "Creating DB subnet group", 15));
        events.extend(done("queue", "Creating queue", 3));
        events.push(finished("queue", 8, &[("url", "https://sqs/q")]));
        events.extend(done("database", "Creating RDS instance", 1));
        for (status, percent) in [("creating", 30), ("creating", 30), ("backing-up", 90)] {
            events.push(step(
                "database",
                "Waiting for the DB instance to be available",
                StepState::Progress {
                    detail: status.into(),
                    percent: Some(percent),
                },
            ));
        }
        events.push(step(
            "database",
            "Waiting for the DB instance to be available",
            StepState::Done {
                elapsed: Duration::from_secs(323),
            },
        ));
        events.push(Event::StateSaved { serial: 2 });
        events.push(finished("database", 346, &[("endpoint", "db.host")]));
        events.push(started("api"));
        events.extend(done("api", "Creating ECS service", 30));
        for (task, status) in [
            ("Task 1", "PROVISIONING"),
            ("Task 2", "PROVISIONING"),
            ("Task 1", "PENDING"),
            ("Task 1", "RUNNING"),
            ("Task 2", "RUNNING"),
        ] {
            events.push(step(
                "api",
                "Waiting for tasks to start",
                StepState::Item {
                    key: task.into(),
                    status: status.into(),
                },
            ));
        }
        events.push(step(
            "api",
            "Waiting for tasks to start",
            StepState::Done {
                elapsed: Duration::from_secs(40),
            },
        ));
        events.push(finished("api", 170, &[("url", "http://lb:8080")]));
        assert_eq!(
            plain(events),
            "
Wave 1: Dependencies (2 resources, parallel)
├── [1/2] Creating email-service/database (RDS)
│   ├── Creating DB subnet group... ✓ (15s)
│   ├── Creating RDS instance... ✓ (1s)
│   ├── Waiting for the DB instance to be available... ✓ (5m 23s)
│   │   ├── creating 30%
│   │   └── backing-up 90%
│   └── ✓ Database created (5m 46s)
│       Endpoint: db.host
│
└── [2/2] Creating email-service/queue (SQS)
    ├── Creating DLQ... ✓ (2s)
    ├── Creating queue... ✓ (3s)
    └── ✓ Queue created (8s)
        URL: https://sqs/q

Wave 2: Application (1 resource)
└── [1/1] Creating email-service/api (MicroService)
    ├── Creating ECS service... ✓ (30s)
    ├── Waiting for tasks to start... ✓ (40s)
    │   ├── Task 1: PROVISIONING → PENDING → RUNNING
    │   └── Task 2: PROVISIONING → RUNNING
    └── ✓ Service created (2m 50s)
        URL: http://lb:8080
"
        );
    }

    #[test]
    fn a_failure_with_rollback_prints_what_ended_then_the_rollback() {
        let mut events = vec![started("database"), started("queue")];
        events.extend(done("queue", "Creating DLQ", 1));
        events.push(step("queue", "Creating queue", StepState::Started));
        events.push(Event::Waiting {
            component: id("queue"),
            detail: "retrying in 1s (attempt 2 of 6) after: throttled".into(),
            progress: None,
        });
        events.push(step(
            "queue",
            "Creating queue",
            StepState::Failed {
                elapsed: Duration::from_secs(2),
            },
        ));
        events.push(Event::ChangeFailed {
            component: id("queue"),
            action: Action::Create,
            error: "AccessDenied".into(),
        });
        events.extend(done("database", "Creating DB subnet group", 4));
        events.push(finished("database", 9, &[]));
        events.push(Event::RollbackStarted { changes: 2 });
        events.push(Event::RollbackStep {
            component: id("database"),
            action: Action::Delete,
        });
        events.extend(done("database", "Deleting DB instance", 3));
        events.push(Event::RollbackFinished {
            component: id("database"),
            elapsed: Duration::from_secs(4),
        });
        events.push(Event::RollbackStep {
            component: id("queue"),
            action: Action::Delete,
        });
        events.push(Event::RollbackFailed {
            component: id("queue"),
            error: "still there".into(),
        });
        assert_eq!(
            plain(events),
            "
Wave 1: Dependencies (2 resources, parallel)
├── [1/2] Creating email-service/database (RDS)
│   ├── Creating DB subnet group... ✓ (4s)
│   └── ✓ Database created (9s)
│
└── [2/2] Creating email-service/queue (SQS)
    ├── Creating DLQ... ✓ (1s)
    ├── Creating queue... ✗ (2s)
    └── ✗ Failed: AccessDenied

Rolling back 2 changes...
├── Reverting email-service/database (deleting)
│   ├── Deleting DB instance... ✓ (3s)
│   └── ✓ Reverted (4s)
├── Reverting email-service/queue (deleting)
│   └── ✗ could not revert email-service/queue: still there
"
        );
    }

    #[test]
    fn a_change_that_never_started_does_not_hold_the_others_back() {
        // The database failed; the queue (later in plan order) ended and is printed at
        // the flush, closing the wave; the api never started.
        let events = vec![
            started("database"),
            started("queue"),
            finished("queue", 3, &[]),
            Event::ChangeFailed {
                component: id("database"),
                action: Action::Create,
                error: "boom".into(),
            },
        ];
        let text = plain(events);
        assert!(
            text.contains("├── [1/2] Creating email-service/database"),
            "{text}"
        );
        assert!(
            text.contains("└── [2/2] Creating email-service/queue"),
            "{text}"
        );
        assert!(!text.contains("api"), "{text}");
    }

    #[test]
    fn the_spinner_shows_the_newest_open_step() {
        let mut block = Block {
            action: Action::Update,
            entries: Vec::new(),
            end: None,
            printed: false,
        };
        block.apply(&StepState::Started, "Updating queue");
        assert_eq!(block.current(), "Updating queue...");
        block.apply(
            &StepState::Item {
                key: "GET /health".into(),
                status: "503".into(),
            },
            "Running health checks",
        );
        assert_eq!(block.current(), "Running health checks... GET /health: 503");
    }

    #[test]
    fn json_lines_carry_the_format_version_and_steps() {
        let line = json_line(&step(
            "database",
            "Waiting for the DB instance to be available",
            StepState::Progress {
                detail: "creating".into(),
                percent: Some(30),
            },
        ));
        assert_eq!(
            line,
            json!({"v": 1, "event": "step", "component": "email-service/database",
                   "step": "Waiting for the DB instance to be available",
                   "state": "progress", "detail": "creating", "percent": 30})
        );
        assert_eq!(
            json_line(&Event::StateSaved { serial: 3 }),
            json!({"v": 1, "event": "state_saved", "serial": 3})
        );
    }

    #[test]
    fn the_live_view_tracks_bars_and_steps() {
        // Not a terminal here: indicatif draws nothing, the bookkeeping is the same.
        let mut tree = Tree::new(Some(&plan()), Palette::PLAIN, false);
        let mut t = Terminal::new(Palette::PLAIN);
        let feed = |tree: &mut Tree, t: &mut Terminal, e: Event| {
            let text = tree.show(&e);
            let current = inner_view(tree, &e);
            t.show(&e, &text, &current);
            text
        };
        let title = feed(&mut tree, &mut t, started("database"));
        assert!(
            title.contains("Wave 1: Dependencies"),
            "live: the title at once"
        );
        feed(
            &mut tree,
            &mut t,
            step(
                "database",
                "Waiting for the DB instance to be available",
                StepState::Progress {
                    detail: "backing-up".into(),
                    percent: Some(60),
                },
            ),
        );
        let bar = &t.running[&id("database")];
        assert_eq!((bar.length(), bar.position()), (Some(100), 60), "a bar");
        assert_eq!(
            bar.message(),
            "Waiting for the DB instance to be available... backing-up 60%"
        );
        let block = feed(&mut tree, &mut t, finished("database", 5, &[]));
        assert!(block.starts_with("├── [1/2] Creating email-service/database"));
        assert!(!t.running.contains_key(&id("database")));
        feed(&mut tree, &mut t, started("queue"));
        feed(&mut tree, &mut t, Event::RollbackStarted { changes: 1 });
        assert!(t.running.is_empty(), "rollback clears what was still drawn");
    }
}
