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
use serde_json::{json, Map, Value};

use super::{time, OutEvent};
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
    let event = |t: &'static str, at: Option<DateTime<Utc>>, mut fields: Map<String, Value>| {
        fields.insert("call".into(), call_json(c.call_id, after));
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
        out.push(event("call.ringing", after.started_at, Map::new()));
    }
    for (q, row) in queues_after {
        if !queues_before.contains_key(q) {
            out.push(event(
                "queue.caller_waiting",
                Some(row.entered_at),
                fields([("queue", queue_json(q, row))]),
            ));
        }
    }
    let was_ended = before.status == CallStatus::Ended;
    if !was_ended && !answered(before) && answered(after) {
        out.push(event("call.answered", after.answered_at, Map::new()));
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
                fields([("queue", queue_json(q, row))]),
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
                        fields([
                            ("from_extension", json!(from)),
                            ("to_extension", json!(to)),
                            ("leg", leg_json(leg, &legs_after[leg])),
                        ]),
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
                out.push(event(t, None, fields([("leg", leg_json(id, leg))])));
            }
        }
    }
    if !was_ended && after.status == CallStatus::Ended {
        out.push(event("call.ended", after.ended_at, Map::new()));
        let missed = after.outcome.is_some_and(|o| o.is_missed());
        if missed && after.direction.as_deref() == Some("inbound") {
            out.push(event("call.missed", after.ended_at, Map::new()));
        }
    } else if was_ended {
        let (b, a) = (call_json(c.call_id, before), call_json(c.call_id, after));
        let changed: Vec<Value> = match (&b, &a) {
            (Value::Object(b), Value::Object(a)) => a
                .iter()
                .filter(|(k, v)| b.get(*k) != Some(*v))
                .map(|(k, _)| json!(k))
                .collect(),
            _ => Vec::new(),
        };
        if !changed.is_empty() {
            out.push(event(
                "call.updated",
                None,
                fields([("changed", Value::Array(changed))]),
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

fn fields<const N: usize>(kv: [(&str, Value); N]) -> Map<String, Value> {
    kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// The call as events show it.
pub(crate) fn call_json(call_id: &str, c: &CallRow) -> Value {
    json!({
        "call_id": call_id,
        "status": c.status.as_str(),
        "direction": c.direction,
        "from": c.from_number,
        "to": c.to_number,
        "started_at": time(c.started_at),
        "answered_at": time(c.answered_at),
        "ended_at": time(c.ended_at),
        "talk_seconds": c.talk_seconds,
        "duration_seconds": c.duration_seconds,
        "disposition": c.disposition,
        "outcome": c.outcome.map(|o| o.as_str()),
        "recording_url": c.recording_url,
        "failure_reason": c.failure_reason,
    })
}

fn leg_json(leg_id: &str, l: &LegRow) -> Value {
    json!({
        "leg_id": leg_id,
        "kind": l.kind,
        "extension": l.extension,
        "party": l.party,
        "state": l.state.as_str(),
        "on_hold": shows_on_hold(l),
        "started_at": time(l.started_at),
        "answered_at": time(l.answered_at),
        "ended_at": time(l.ended_at),
    })
}

fn queue_json(queue: &str, q: &QueueRow) -> Value {
    json!({
        "queue": queue,
        "entered_at": time(Some(q.entered_at)),
        "answered_at": time(q.answered_at),
        "agent": q.agent,
        "ended_at": time(q.ended_at),
        "outcome": q.outcome.as_str(),
    })
}
