//! `panka logs --component service/component`: the CloudWatch Logs of a MicroService.
//!
//! The log group is the one recorded in state for the component (`physical_ids.log_group`),
//! else the name the MicroService reconciler gives it. Lines print as
//! `YYYY-MM-DD HH:MM:SS LEVEL message` (UTC) when the line carries a level (a JSON line
//! with a `level`/`severity` field, or a line starting with a level word), else as
//! `YYYY-MM-DD HH:MM:SS message`.
//!
//! `--stack` may be left out inside a stack folder, or when exactly one stack under
//! `stacks/` has the service.
//!
//! `--follow` polls FilterLogEvents (following its pagination tokens) every
//! `--poll-interval`, never prints an event twice, and stops on Ctrl-C with exit 0: for a
//! command that only reads, Ctrl-C is the normal way to end it, not an interruption
//! (exit 130 is for commands that stop work half-way).
//!
//! JSON (`--output json`): without `--follow`, one document
//! `{"log_group", "events": [{"timestamp", "level", "message", "stream"}]}` (timestamp
//! in RFC 3339, level `null` when the line has none); with `--follow`, one such event
//! object per line (JSON Lines), printed as it arrives.

use super::Exit;
use super::status::naming_context;
use crate::cli::{GlobalArgs, LogsArgs, StackSelection, TargetArgs};
use crate::contract::{LogLine, LogsDocument};
use crate::error::UserError;
use crate::ops::{load, target};
use crate::output::Ui;
use crate::settings::ProcessEnv;
use panka_core::diag::Palette;
use panka_core::model::{ComponentId, ComponentKind};
use panka_core::reconcile::{ErrorKind, ProviderError};
use panka_providers::log_events::{LogEvent, LogQuery, LogReader};
use panka_providers::microservice::names::{Names, ids};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How far back logs start without `--since`.
const DEFAULT_SINCE: Duration = Duration::from_secs(10 * 60);
/// Failed polls in a row after which `--follow` gives up.
const FOLLOW_ATTEMPTS: u32 = 5;

pub async fn run(
    args: &LogsArgs,
    global: &GlobalArgs,
    env: &ProcessEnv,
    ui: &Ui,
) -> anyhow::Result<Exit> {
    let id = ComponentId::parse(&args.component, "")
        .filter(|id| !id.service.is_empty() && !id.component.is_empty())
        .ok_or_else(|| {
            UserError::new(format!(
                "`--component {}` is not `service/component`",
                args.component
            ))
            .hint("e.g. --component email-service/api")
        })?;
    let now = jiff::Timestamp::now();
    let since = parse_since(args.since.as_deref(), now)?;
    let stack_dir = stack_for(args.target.stack.stack.as_deref(), &id.service, &env.cwd)?;
    let target_args = TargetArgs {
        stack: StackSelection {
            stack: match &stack_dir {
                Some(dir) => Some(dir.display().to_string()),
                None => args.target.stack.stack.clone(),
            },
        },
        environment: args.target.environment.clone(),
    };
    let t = target::open(&target_args, global, env, ui).await?;
    let state = t
        .backends
        .store
        .read(&t.key)
        .await
        .map_err(UserError::from)?
        .map(|s| s.state);
    let recorded = state
        .as_ref()
        .and_then(|s| s.components.get(&id.to_string()));
    let in_files = stack_dir
        .as_deref()
        .map(components_in_files)
        .unwrap_or_default();
    let kind = recorded
        .map(|c| c.kind)
        .or_else(|| in_files.iter().find(|(c, _)| *c == id).map(|(_, k)| *k));
    let with_logs = || {
        let mut names: Vec<String> = state
            .iter()
            .flat_map(|s| &s.components)
            .filter(|(_, c)| c.kind == ComponentKind::MicroService)
            .map(|(n, _)| n.clone())
            .chain(
                in_files
                    .iter()
                    .filter(|(_, k)| *k == ComponentKind::MicroService)
                    .map(|(c, _)| c.to_string()),
            )
            .collect();
        names.sort();
        names.dedup();
        names
    };
    match kind {
        Some(ComponentKind::MicroService) => {}
        Some(other) => {
            let err = UserError::new(format!(
                "{id} is of kind {other}: only MicroService components have logs"
            ));
            let names = with_logs();
            return Err(if names.is_empty() {
                err
            } else {
                err.hint(format!("components with logs: {}", names.join(", ")))
            }
            .into());
        }
        None => {
            let names = with_logs();
            let err = UserError::new(format!(
                "component {id} not found in stack {} ({})",
                t.key.stack, t.key.environment
            ));
            let hint = match panka_core::read::did_you_mean(
                &id.to_string(),
                names.iter().map(String::as_str),
            ) {
                Some(s) => format!("did you mean `{s}`?"),
                None if names.is_empty() => "pass the stack with --stack".to_string(),
                None => format!("components with logs: {}", names.join(", ")),
            };
            return Err(err.hint(hint).into());
        }
    }
    let ctx = naming_context(&t.key.stack, &t.key.environment, &id);
    let group = recorded
        .and_then(|c| c.physical_ids.get(ids::LOG_GROUP))
        .filter(|g| !g.is_empty())
        .cloned()
        .unwrap_or_else(|| Names::new(&ctx).log_group);

    let clients = t.stack_clients(stack_dir.as_deref()).await;
    let mut reader = LogReader::new(
        clients.cloudwatchlogs.clone(),
        LogQuery {
            group: group.clone(),
            start_ms: Some(since.as_millisecond()),
            filter: args.filter.clone().filter(|f| !f.is_empty()),
            page_size: None,
        },
    );
    let not_deployed = |e: ProviderError| -> anyhow::Error {
        if e.kind == ErrorKind::NotFound {
            UserError::new(format!("log group {group} does not exist"))
                .hint(format!(
                    "it is created when `panka apply` deploys {id} to {}",
                    t.key.environment
                ))
                .into()
        } else {
            UserError::from(e).into()
        }
    };

    if !args.follow {
        if ui.is_json() {
            let mut events = Vec::new();
            reader
                .poll(|page| events.extend(page.iter().map(log_line)))
                .await
                .map_err(not_deployed)?;
            ui.json(&LogsDocument {
                log_group: &group,
                events,
            });
        } else {
            let palette = ui.palette();
            let printed = reader
                .poll(|page| {
                    emit(
                        &page
                            .iter()
                            .map(|e| text_line(e, palette))
                            .collect::<String>(),
                    );
                })
                .await
                .map_err(not_deployed)?;
            if printed == 0 {
                ui.err(&format!(
                    "No events in {group} since {}{}.\n",
                    panka_core::state::rfc3339(since),
                    match &args.filter {
                        Some(f) => format!(" matching `{f}`"),
                        None => String::new(),
                    }
                ));
            }
        }
        return Ok(Exit::Success);
    }

    follow(&mut reader, args.poll_interval, ui)
        .await
        .map_err(not_deployed)
}

/// Polls until Ctrl-C (exit 0) or until stdout goes away (a closed pipe: exit 0).
async fn follow(
    reader: &mut LogReader,
    interval: Duration,
    ui: &Ui,
) -> Result<Exit, ProviderError> {
    let json = ui.is_json();
    let palette = ui.palette();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut failures = 0;
    let mut open = true;
    loop {
        let mut print = |page: Vec<LogEvent>| {
            let text: String = page
                .iter()
                .map(|e| {
                    if json {
                        format!("{}\n", event_json(e))
                    } else {
                        text_line(e, palette)
                    }
                })
                .collect();
            open &= emit(&text);
        };
        // Biased: the Ctrl-C handler is installed before the first event prints.
        tokio::select! {
            biased;
            _ = &mut ctrl_c => return Ok(Exit::Success),
            polled = reader.poll(&mut print) => match polled {
                Ok(_) => failures = 0,
                // A group that does not exist will not appear by waiting.
                Err(e) if e.kind == ErrorKind::NotFound => return Err(e),
                Err(e) => {
                    failures += 1;
                    if failures >= FOLLOW_ATTEMPTS {
                        return Err(e);
                    }
                    ui.err(&format!("warning: {e}; trying again\n"));
                }
            },
        }
        if !open {
            return Ok(Exit::Success);
        }
        // Failed polls back off: 2, 4, 8… intervals.
        let pause = interval.saturating_mul(1 << failures);
        tokio::select! {
            biased;
            _ = &mut ctrl_c => return Ok(Exit::Success),
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

/// Writes to stdout; `false` when stdout is gone (`panka logs -f | head`).
fn emit(text: &str) -> bool {
    if text.is_empty() {
        return true;
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes()).is_ok() && stdout.flush().is_ok()
}

/// `--since`: a duration ago (`90s`, `10m`, `1h30m`, `2d`) or an RFC 3339 time.
fn parse_since(text: Option<&str>, now: jiff::Timestamp) -> Result<jiff::Timestamp, UserError> {
    let Some(text) = text.map(str::trim) else {
        return Ok(now - jiff::SignedDuration::try_from(DEFAULT_SINCE).unwrap_or_default());
    };
    if let Ok(at) = text.parse::<jiff::Timestamp>() {
        return Ok(at);
    }
    let ago = match text.strip_suffix('d').and_then(|d| d.parse::<u64>().ok()) {
        Some(days) => Some(Duration::from_secs(days.saturating_mul(86_400))),
        None => crate::cli::parse_duration(text).ok(),
    };
    ago.and_then(|d| jiff::SignedDuration::try_from(d).ok())
        .and_then(|d| now.checked_sub(d).ok())
        .ok_or_else(|| {
            UserError::new(format!(
                "`--since {text}` is neither a duration nor an RFC 3339 time"
            ))
            .hint("e.g. --since 10m, --since 2h, --since 2d or --since 2024-01-15T17:00:00Z")
        })
}

/// The stack folder: the one `--stack` names; else the stack folder we are in; else the
/// only stack under `stacks/` that has `service`. `None` when `--stack` names a stack
/// with no folder here (a remote backend needs only the name).
fn stack_for(stack: Option<&str>, service: &str, cwd: &Path) -> Result<Option<PathBuf>, UserError> {
    if let Some(name) = stack {
        return Ok(crate::stack_dir::find_stack(Some(name), cwd).ok());
    }
    if let Ok(dir) = crate::stack_dir::find_stack(None, cwd) {
        return Ok(Some(dir));
    }
    let Some(stacks) = cwd
        .ancestors()
        .map(|d| d.join("stacks"))
        .find(|d| d.is_dir())
    else {
        return Err(UserError::new("no stack selected").hint(
            "pass --stack NAME, or run panka inside your deployment repo (which holds stacks/)",
        ));
    };
    let mut having: Vec<PathBuf> = std::fs::read_dir(&stacks)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("stack.yaml").is_file() && p.join("services").join(service).is_dir())
        .collect();
    having.sort();
    let name = |p: &PathBuf| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    match having.len() {
        1 => Ok(having.pop()),
        0 => Err(UserError::new(format!(
            "no stack under {} has a service `{service}`",
            stacks.display()
        ))
        .hint("pass --stack NAME")),
        _ => Err(UserError::new(format!(
            "several stacks have a service `{service}`: {}",
            having.iter().map(name).collect::<Vec<_>>().join(", ")
        ))
        .hint("pass --stack with one of them")),
    }
}

/// Components defined in the stack's files, with their kinds (for components not yet in
/// state, and for suggestions).
fn components_in_files(dir: &Path) -> Vec<(ComponentId, ComponentKind)> {
    load::files(dir)
        .services
        .iter()
        .flat_map(|s| {
            s.components
                .iter()
                .filter_map(move |c| Some((ComponentId::new(&s.folder, &c.folder), c.kind()?)))
        })
        .collect()
}

/// Level words a line may start with.
const LEVELS: &[&str] = &[
    "TRACE", "DEBUG", "INFO", "NOTICE", "WARN", "WARNING", "ERROR", "CRITICAL", "FATAL", "PANIC",
];

/// The level a line carries and the message without it.
fn level_and_message(line: &str) -> (Option<String>, String) {
    let trimmed = line.trim_start();
    if trimmed.starts_with('{')
        && let Ok(serde_json::Value::Object(fields)) = serde_json::from_str(trimmed)
    {
        let level = ["level", "severity", "lvl", "log.level", "loglevel"]
            .iter()
            .find_map(|k| fields.get(*k))
            .and_then(|v| match v {
                serde_json::Value::String(s) if !s.is_empty() => Some(s.to_ascii_uppercase()),
                // pino and bunyan number their levels.
                serde_json::Value::Number(n) => n.as_u64().and_then(numeric_level),
                _ => None,
            });
        let message = ["message", "msg"]
            .iter()
            .find_map(|k| fields.get(*k).and_then(|v| v.as_str()))
            .map(str::to_string);
        if let (Some(level), Some(message)) = (&level, message) {
            return (Some(level.clone()), message);
        }
        return (level, line.to_string());
    }
    let word_end = trimmed.find(char::is_whitespace).unwrap_or(trimmed.len());
    let word = trimmed[..word_end]
        .trim_start_matches('[')
        .trim_end_matches(':')
        .trim_end_matches(']');
    let upper = word.to_ascii_uppercase();
    if LEVELS.contains(&upper.as_str()) {
        return (Some(upper), trimmed[word_end..].trim_start().to_string());
    }
    (None, line.to_string())
}

fn numeric_level(n: u64) -> Option<String> {
    let name = match n {
        10 => "TRACE",
        20 => "DEBUG",
        30 => "INFO",
        40 => "WARN",
        50 => "ERROR",
        60 => "FATAL",
        _ => return None,
    };
    Some(name.to_string())
}

fn timestamp(ms: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// `2024-01-15 17:05:23 INFO Starting email-api v1.0.0` (UTC), the level coloured on a
/// terminal.
fn text_line(event: &LogEvent, palette: Palette) -> String {
    let when = timestamp(event.timestamp_ms).strftime("%Y-%m-%d %H:%M:%S");
    match level_and_message(&event.message) {
        (Some(level), message) => {
            let colour = match level.as_str() {
                "ERROR" | "CRITICAL" | "FATAL" | "PANIC" => palette.error,
                "WARN" | "WARNING" => palette.warning,
                _ => "",
            };
            let reset = if colour.is_empty() { "" } else { palette.reset };
            format!("{when} {colour}{level}{reset} {message}\n")
        }
        (None, message) => format!("{when} {message}\n"),
    }
}

fn log_line(event: &LogEvent) -> LogLine {
    let (level, message) = level_and_message(&event.message);
    LogLine {
        timestamp: timestamp(event.timestamp_ms).to_string(),
        level,
        message,
        stream: event.stream.clone(),
    }
}

/// One `--follow` line: through a `Value`, like every document (`Ui::json`), so its keys
/// print in the same order.
fn event_json(event: &LogEvent) -> serde_json::Value {
    serde_json::to_value(log_line(event)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(ms: i64, message: &str) -> LogEvent {
        LogEvent {
            timestamp_ms: ms,
            message: message.into(),
            stream: "api/api/abc".into(),
            event_id: "1".into(),
        }
    }

    #[test]
    fn lines_with_and_without_levels() {
        // 2024-01-15 17:05:23 UTC
        let ms = 1_705_338_323_000;
        assert_eq!(
            text_line(&event(ms, "INFO Starting email-api v1.0.0"), Palette::PLAIN),
            "2024-01-15 17:05:23 INFO Starting email-api v1.0.0\n"
        );
        assert_eq!(
            text_line(
                &event(ms, r#"{"level":"warn","msg":"slow query","ms":812}"#),
                Palette::PLAIN
            ),
            "2024-01-15 17:05:23 WARN slow query\n"
        );
        assert_eq!(
            text_line(&event(ms, "[error]: queue unreachable"), Palette::PLAIN),
            "2024-01-15 17:05:23 ERROR queue unreachable\n"
        );
        assert_eq!(
            text_line(&event(ms, "GET /health 200"), Palette::PLAIN),
            "2024-01-15 17:05:23 GET /health 200\n"
        );
        assert_eq!(
            level_and_message(r#"{"level":30,"msg":"pino says hi"}"#),
            (Some("INFO".into()), "pino says hi".into())
        );
        assert_eq!(
            level_and_message(r#"{"event":"no level"}"#),
            (None, r#"{"event":"no level"}"#.into())
        );
        assert_eq!(
            level_and_message("Information wants"),
            (None, "Information wants".into())
        );
    }

    #[test]
    fn json_events() {
        let e = event(1_705_338_323_250, "ERROR boom");
        assert_eq!(
            event_json(&e),
            serde_json::json!({
                "timestamp": "2024-01-15T17:05:23.25Z",
                "level": "ERROR",
                "message": "boom",
                "stream": "api/api/abc",
            })
        );
    }

    #[test]
    fn since_takes_durations_and_times() {
        let now: jiff::Timestamp = "2024-01-15T17:00:00Z".parse().expect("time");
        let at = |text: &str| parse_since(Some(text), now).map(|t| t.to_string());
        assert_eq!(at("10m").ok().as_deref(), Some("2024-01-15T16:50:00Z"));
        assert_eq!(at("1h").ok().as_deref(), Some("2024-01-15T16:00:00Z"));
        assert_eq!(at("2d").ok().as_deref(), Some("2024-01-13T17:00:00Z"));
        assert_eq!(
            at("2024-01-15T12:00:00Z").ok().as_deref(),
            Some("2024-01-15T12:00:00Z")
        );
        assert_eq!(
            parse_since(None, now)
                .map(|t| t.to_string())
                .ok()
                .as_deref(),
            Some("2024-01-15T16:50:00Z")
        );
        let err = at("yesterday").expect_err("not a time");
        assert!(
            err.message
                .contains("neither a duration nor an RFC 3339 time")
        );
    }

    #[test]
    fn the_stack_with_the_service() {
        let repo = tempfile::tempdir().expect("tempdir");
        for (stack, service) in [("alpha", "web"), ("beta", "web"), ("gamma", "billing")] {
            let dir = repo.path().join("stacks").join(stack);
            std::fs::create_dir_all(dir.join("services").join(service)).expect("mkdir");
            std::fs::write(dir.join("stack.yaml"), "kind: Stack\n").expect("write");
        }
        let found = stack_for(None, "billing", repo.path()).expect("one stack");
        assert_eq!(found, Some(repo.path().join("stacks/gamma")));
        let several = stack_for(None, "web", repo.path()).expect_err("two stacks");
        assert!(
            several.message.contains("alpha, beta"),
            "{}",
            several.message
        );
        let none = stack_for(None, "search", repo.path()).expect_err("none");
        assert!(none.message.contains("no stack under"));
        let inside = stack_for(None, "web", &repo.path().join("stacks/alpha/services"))
            .expect("inside a stack");
        assert_eq!(inside, Some(repo.path().join("stacks/alpha")));
    }
}
