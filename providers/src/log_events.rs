//! Reading a CloudWatch Logs group for `panka logs`: FilterLogEvents page by page, and a
//! [`LogReader`] that can be polled again and again (`--follow`) without ever handing out
//! the same event twice.
//!
//! Follow mode asks each poll for events from a little before the newest timestamp seen
//! ([`LATE_ARRIVAL`]): CloudWatch interleaves streams, and an event stamped a moment ago
//! can be ingested after newer ones from another stream. Events in that overlap are
//! recognised by their event id and skipped.

use crate::sdk_error::provider_error;
use panka_core::reconcile::ProviderError;
use std::collections::{BTreeMap, BTreeSet};

/// How far back each follow-up poll looks for events ingested late (milliseconds).
pub const LATE_ARRIVAL: i64 = 30_000;

/// One log event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEvent {
    /// Milliseconds since the epoch, as the event carries it.
    pub timestamp_ms: i64,
    pub message: String,
    pub stream: String,
    /// CloudWatch's id of the event (unique within the group).
    pub event_id: String,
}

impl LogEvent {
    /// What identifies the event across polls: its id, or (for an answer without ids)
    /// its stream, time and text.
    fn identity(&self) -> String {
        if self.event_id.is_empty() {
            format!(
                "{}\u{0}{}\u{0}{}",
                self.stream, self.timestamp_ms, self.message
            )
        } else {
            self.event_id.clone()
        }
    }
}

/// What to read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogQuery {
    pub group: String,
    /// Only events at or after this time (milliseconds since the epoch).
    pub start_ms: Option<i64>,
    /// A CloudWatch Logs filter pattern.
    pub filter: Option<String>,
    /// Events per FilterLogEvents call; `None` lets CloudWatch choose (up to 10,000).
    pub page_size: Option<i32>,
}

/// Reads a group, page by page, remembering what it has handed out.
pub struct LogReader {
    client: aws_sdk_cloudwatchlogs::Client,
    query: LogQuery,
    /// The newest timestamp handed out so far.
    newest: Option<i64>,
    /// Identities of events handed out, by timestamp; only the overlap window is kept.
    seen: BTreeMap<i64, BTreeSet<String>>,
}

impl LogReader {
    pub fn new(client: aws_sdk_cloudwatchlogs::Client, query: LogQuery) -> Self {
        LogReader {
            client,
            query,
            newest: None,
            seen: BTreeMap::new(),
        }
    }

    /// The group this reader reads.
    pub fn group(&self) -> &str {
        &self.query.group
    }

    /// Reads every event not handed out before, following pagination tokens to the end,
    /// and gives each page's new events (oldest first) to `on_page` as soon as the page
    /// arrives. Returns how many events were handed out.
    ///
    /// Errors: the group does not exist ([`ErrorKind::NotFound`]), access denied, network.
    ///
    /// [`ErrorKind::NotFound`]: panka_core::reconcile::ErrorKind::NotFound
    pub async fn poll(
        &mut self,
        mut on_page: impl FnMut(Vec<LogEvent>),
    ) -> Result<usize, ProviderError> {
        let start = self.window_start();
        let mut handed_out = 0;
        // CloudWatch may answer a token with an empty page; the paginator still follows
        // it, and stops at an empty or repeated token.
        let mut pages = self
            .client
            .filter_log_events()
            .log_group_name(&self.query.group)
            .set_start_time(start)
            .set_filter_pattern(self.query.filter.clone())
            .set_limit(self.query.page_size)
            .into_paginator()
            .send();
        while let Some(out) = pages.next().await {
            let out = out.map_err(|e| {
                provider_error(&format!("cannot read log group {}", self.query.group), &e)
            })?;
            let mut events: Vec<LogEvent> = out
                .events()
                .iter()
                .map(|e| LogEvent {
                    timestamp_ms: e.timestamp().unwrap_or(0),
                    message: e.message().unwrap_or_default().trim_end().to_string(),
                    stream: e.log_stream_name().unwrap_or_default().to_string(),
                    event_id: e.event_id().unwrap_or_default().to_string(),
                })
                .collect();
            events.sort_by_key(|e| e.timestamp_ms);
            let fresh = self.remember(events);
            handed_out += fresh.len();
            if !fresh.is_empty() {
                on_page(fresh);
            }
        }
        self.forget_old();
        Ok(handed_out)
    }

    /// Where the next poll starts: the query's start, or a little before the newest
    /// event seen.
    fn window_start(&self) -> Option<i64> {
        let overlap = self.newest.map(|n| n.saturating_sub(LATE_ARRIVAL));
        match (self.query.start_ms, overlap) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// Keeps the events not handed out before and records them.
    fn remember(&mut self, events: Vec<LogEvent>) -> Vec<LogEvent> {
        let mut fresh = Vec::with_capacity(events.len());
        for event in events {
            let ids = self.seen.entry(event.timestamp_ms).or_default();
            if ids.insert(event.identity()) {
                self.newest = Some(
                    self.newest
                        .map_or(event.timestamp_ms, |n| n.max(event.timestamp_ms)),
                );
                fresh.push(event);
            }
        }
        fresh
    }

    /// Drops identities older than the next poll's window: no poll can return them again.
    fn forget_old(&mut self) {
        if let Some(start) = self.window_start() {
            self.seen = self.seen.split_off(&start);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(ts: i64, id: &str) -> LogEvent {
        LogEvent {
            timestamp_ms: ts,
            message: format!("message {id}"),
            stream: "s".into(),
            event_id: id.into(),
        }
    }

    fn reader(start: Option<i64>) -> LogReader {
        let config = aws_sdk_cloudwatchlogs::Config::builder()
            .behavior_version(aws_sdk_cloudwatchlogs::config::BehaviorVersion::latest())
            .build();
        LogReader::new(
            aws_sdk_cloudwatchlogs::Client::from_conf(config),
            LogQuery {
                group: "g".into(),
                start_ms: start,
                ..LogQuery::default()
            },
        )
    }

    #[test]
    fn events_are_handed_out_once_and_the_window_trails_the_newest() {
        let mut r = reader(Some(1_000));
        assert_eq!(r.window_start(), Some(1_000));
        let first = r.remember(vec![event(100_000, "a"), event(100_000, "b")]);
        assert_eq!(first.len(), 2);
        assert_eq!(r.window_start(), Some(100_000 - LATE_ARRIVAL));
        // The overlap returns a and b again, with a late c stamped before them.
        let second = r.remember(vec![
            event(90_000, "c"),
            event(100_000, "a"),
            event(100_000, "b"),
            event(100_500, "d"),
        ]);
        let ids: Vec<&str> = second.iter().map(|e| e.event_id.as_str()).collect();
        assert_eq!(ids, ["c", "d"]);
        r.forget_old();
        assert!(r.seen.keys().all(|ts| *ts >= 100_500 - LATE_ARRIVAL));
    }

    #[test]
    fn events_without_ids_are_told_apart_by_stream_time_and_text() {
        let mut r = reader(None);
        assert_eq!(r.window_start(), None);
        let mut a = event(5, "");
        let fresh = r.remember(vec![a.clone(), a.clone()]);
        assert_eq!(fresh.len(), 1);
        a.message = "other".into();
        assert_eq!(r.remember(vec![a]).len(), 1);
    }
}
