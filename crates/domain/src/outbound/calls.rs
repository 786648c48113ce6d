//! Call and queue events: from a call, its legs and its queues as loaded
//! and as written.
//!
//! - `call.ringing`: the call row leaves its empty state (first known);
//! - `queue.caller_waiting`: a queue row appears; `queue.caller_left`: a
//!   queue row stops waiting (answered, abandoned, moved on);
//! - `call.answered`: the call has an answer (time or active status) it did
//!   not have, and had not ended;
//! - `call.transferred`: a further extension answers an answered call;
//! - `call.held` / `call.resumed`: a live leg's hold flips, the call live;
//! - `call.ended`, then `call.missed` for an unanswered inbound call;
//! - `call.updated`: an ended call's details change (recording, CDR).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::{time, Fields, Millis, OutEvent};
use crate::event::{CallStatus, LegState};
use crate::merge::{shows_on_hold, CallRow, LegRow, QueueOutcome, QueueRow};

/// One call of a batch, as loaded and as written.
#[derive(Debug, Clone, Copy)]
pub struct CallChange<'a> {
    pub source: &'a str,
    pub call_id: &'a str,
    pub before: &'a CallRow,
    pub after: &'a CallRow,
    pub legs_before: Option<&'a BTreeMap<String, LegRow>>,
    pub legs_after: Option<&'a BTreeMap<String, LegRow>>,
    pub queues_before: Option<&'a BTreeMap<String, QueueRow>>,
    pub queues_after: Option<&'a BTreeMap<String, QueueRow>>,
    /// When the batch applies (the time of changes the provider gave none).
    pub now: DateTime<Utc>,
}

/// The events of one call's change, in the order they happened.
pub fn call_events(c: &CallChange<'_>) -> Vec<OutEvent> {
    let (before, after) = (c.before, c.after);
    let mut out = Vec::new();
    let event = |t: &'static str, at: Option<DateTime<Utc>>, fields: Fields| {
        let fields = fields.with("call", &CallJson::of(c.call_id, after));
        OutEvent {
            event_type: t,
            source: c.source.to_string(),
            subject: format!("call:{}:{}", c.source, c.call_id),
            occurred_at: at.unwrap_or(c.now),
            fields,
        }
    };
    let empty = CallRow::new();
    let no_legs = BTreeMap::new();
    let no_queues = BTreeMap::new();
    let legs_before = c.legs_before.unwrap_or(&no_legs);
    let legs_after = c.legs_after.unwrap_or(&no_legs);
    let queues_before = c.queues_before.unwrap_or(&no_queues);
    let queues_after = c.queues_after.unwrap_or(&no_queues);

    if *before == empty && *after != empty {
        out.push(event("call.ringing", after.started_at, Fields::default()));
    }
    for (q, row) in queues_after {
        if !queues_before.contains_key(q) {
            out.push(event(
                "queue.caller_waiting",
                Some(row.entered_at),
                Fields::default().with("queue", &QueueJson::of(q, row)),
            ));
        }
    }
    let was_ended = before.status == CallStatus::Ended;
    if !was_ended && !answered(before) && answered(after) {
        out.push(event("call.answered", after.answered_at, Fields::default()));
    }
    for (q, row) in queues_after {
        let waited = queues_before
            .get(q)
            .is_none_or(|b| b.outcome == QueueOutcome::Waiting);
        if waited && row.outcome != QueueOutcome::Waiting {
            let at = row.answered_at.or(row.ended_at);
            out.push(event(
                "queue.caller_left",
                at,
                Fields::default().with("queue", &QueueJson::of(q, row)),
            ));
        }
    }
    if !was_ended && after.status != CallStatus::Ended {
        out.extend(
            transfers(legs_before, legs_after)
                .into_iter()
                .map(|(from, to, leg)| {
                    event(
                        "call.transferred",
                        legs_after[leg].answered_at,
                        Fields::default()
                            .with("from_extension", from)
                            .with("to_extension", to)
                            .with("leg", &LegJson::of(leg, &legs_after[leg])),
                    )
                }),
        );
        for (id, leg) in legs_after {
            let held_before = legs_before.get(id).is_some_and(shows_on_hold);
            let held_after = shows_on_hold(leg);
            if held_before != held_after {
                let t = if held_after {
                    "call.held"
                } else {
                    "call.resumed"
                };
                out.push(event(
                    t,
                    None,
                    Fields::default().with("leg", &LegJson::of(id, leg)),
                ));
            }
        }
    }
    if !was_ended && after.status == CallStatus::Ended {
        out.push(event("call.ended", after.ended_at, Fields::default()));
        let missed = after.outcome.is_some_and(|o| o.is_missed());
        if missed && after.direction.as_deref() == Some("inbound") {
            out.push(event("call.missed", after.ended_at, Fields::default()));
        }
    } else if was_ended {
        // Rare (a recording or a CDR after the end): compared as JSON.
        let as_value = |row| serde_json::to_value(CallJson::of(c.call_id, row));
        let changed: Vec<String> = match (as_value(before), as_value(after)) {
            (Ok(Value::Object(b)), Ok(Value::Object(a))) => a
                .into_iter()
                .filter(|(k, v)| b.get(k) != Some(v))
                .map(|(k, _)| k)
                .collect(),
            _ => Vec::new(),
        };
        if !changed.is_empty() {
            out.push(event(
                "call.updated",
                None,
                Fields::default().with("changed", &changed),
            ));
        }
    }
    out
}

/// Whether the call has been answered as far as the row tells.
fn answered(c: &CallRow) -> bool {
    c.answered_at.is_some() || c.status == CallStatus::Active
}

/// The extensions that answered since loaded while another extension had
/// answered before: `(from, to, leg id)`, `from` the extension answered
/// latest before.
fn transfers<'a>(
    before: &'a BTreeMap<String, LegRow>,
    after: &'a BTreeMap<String, LegRow>,
) -> Vec<(&'a str, &'a str, &'a str)> {
    let took = |l: &LegRow| l.answered_at.is_some() || l.state == LegState::InCall;
    let previous = before
        .values()
        .filter(|l| took(l))
        .filter_map(|l| Some((l.answered_at, l.extension.as_deref()?)))
        .max()
        .map(|(_, e)| e);
    let Some(from) = previous else {
        return Vec::new();
    };
    after
        .iter()
        .filter(|(id, l)| took(l) && !before.get(*id).is_some_and(took))
        .filter_map(|(id, l)| Some((from, l.extension.as_deref()?, id.as_str())))
        .filter(|(from, to, _)| from != to)
        .collect()
}

/// The call as events show it.
#[derive(Serialize)]
struct CallJson<'a> {
    call_id: &'a str,
    status: &'a str,
    direction: Option<&'a str>,
    from: Option<&'a str>,
    to: Option<&'a str>,
    started_at: Option<Millis>,
    answered_at: Option<Millis>,
    ended_at: Option<Millis>,
    talk_seconds: Option<i32>,
    duration_seconds: Option<i32>,
    disposition: Option<&'a str>,
    outcome: Option<&'a str>,
    recording_url: Option<&'a str>,
    failure_reason: Option<&'a str>,
}

impl<'a> CallJson<'a> {
    fn of(call_id: &'a str, c: &'a CallRow) -> Self {
        CallJson {
            call_id,
            status: c.status.as_str(),
            direction: c.direction.as_deref(),
            from: c.from_number.as_deref(),
            to: c.to_number.as_deref(),
            started_at: time(c.started_at),
            answered_at: time(c.answered_at),
            ended_at: time(c.ended_at),
            talk_seconds: c.talk_seconds,
            duration_seconds: c.duration_seconds,
            disposition: c.disposition.as_deref(),
            outcome: c.outcome.map(|o| o.as_str()),
            recording_url: c.recording_url.as_deref(),
            failure_reason: c.failure_reason.as_deref(),
        }
    }
}

/// A leg as events show it.
#[derive(Serialize)]
struct LegJson<'a> {
    leg_id: &'a str,
    kind: &'a str,
    extension: Option<&'a str>,
    party: Option<&'a str>,
    state: &'a str,
    on_hold: bool,
    started_at: Option<Millis>,
    answered_at: Option<Millis>,
    ended_at: Option<Millis>,
}

impl<'a> LegJson<'a> {
    fn of(leg_id: &'a str, l: &'a LegRow) -> Self {
        LegJson {
            leg_id,
            kind: &l.kind,
            extension: l.extension.as_deref(),
            party: l.party.as_deref(),
            state: l.state.as_str(),
            on_hold: shows_on_hold(l),
            started_at: time(l.started_at),
            answered_at: time(l.answered_at),
            ended_at: time(l.ended_at),
        }
    }
}

/// A queue of a call as events show it.
#[derive(Serialize)]
struct QueueJson<'a> {
    queue: &'a str,
    entered_at: Millis,
    answered_at: Option<Millis>,
    agent: Option<&'a str>,
    ended_at: Option<Millis>,
    outcome: &'a str,
}

impl<'a> QueueJson<'a> {
    fn of(queue: &'a str, q: &'a QueueRow) -> Self {
        QueueJson {
            queue,
            entered_at: Millis(q.entered_at),
            answered_at: time(q.answered_at),
            agent: q.agent.as_deref(),
            ended_at: time(q.ended_at),
            outcome: q.outcome.as_str(),
        }
    }
}
