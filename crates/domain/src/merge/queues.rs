//! Queue membership of calls: when a call entered each queue (or ring
//! group) it went through, and, derived from the call and its legs, who
//! answered it there and how its stay ended.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{earliest, CallRow, LegRow};
use crate::event::{CallStatus, QueueUpdate};

/// How a call's stay in a queue ended (`call_queues.outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QueueOutcome {
    /// The call's latest queue; nobody answered yet and the call goes on.
    Waiting,
    /// A person answered while the call was in this queue.
    Answered,
    /// The call ended while waiting here.
    Abandoned,
    /// The call moved on to another queue unanswered (as from an IVR).
    Left,
}

impl QueueOutcome {
    /// The word stored in `call_queues.outcome`.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueOutcome::Waiting => "waiting",
            QueueOutcome::Answered => "answered",
            QueueOutcome::Abandoned => "abandoned",
            QueueOutcome::Left => "left",
        }
    }

    /// Parses `call_queues.outcome`; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "waiting" => Some(QueueOutcome::Waiting),
            "answered" => Some(QueueOutcome::Answered),
            "abandoned" => Some(QueueOutcome::Abandoned),
            "left" => Some(QueueOutcome::Left),
            _ => None,
        }
    }
}

/// A `call_queues` row as the merge sees it: two merged facts, the rest
/// derived by [`derive_queues`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRow {
    /// When the call was first seen in the queue (earliest).
    pub entered_at: DateTime<Utc>,
    /// The provider's own answer of the queue's leg (earliest).
    pub connected_at: Option<DateTime<Utc>>,
    /// Derived: when a person answered while the call was in this queue.
    pub answered_at: Option<DateTime<Utc>>,
    /// Derived: the extension (agent) whose answer that was, where known.
    pub agent: Option<String>,
    /// Derived: the call's end, once it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// Derived.
    pub outcome: QueueOutcome,
}

impl QueueRow {
    /// The row of a first fact about a queue.
    pub fn of(u: &QueueUpdate) -> Self {
        QueueRow {
            entered_at: u.entered_at,
            connected_at: u.connected_at,
            answered_at: None,
            agent: None,
            ended_at: None,
            outcome: QueueOutcome::Waiting,
        }
    }
}

/// Merges one queue fact into a call's queues: earliest entry, earliest
/// provider answer.
pub fn merge_queue(queues: &mut BTreeMap<String, QueueRow>, u: &QueueUpdate) {
    match queues.get_mut(&u.queue) {
        None => {
            queues.insert(u.queue.clone(), QueueRow::of(u));
        }
        Some(q) => {
            q.entered_at = q.entered_at.min(u.entered_at);
            q.connected_at = earliest(q.connected_at, u.connected_at);
        }
    }
}

/// Derives each queue's answer, agent, end and outcome from the call, its
/// legs and the queues' merged facts alone (so in any order of events the
/// same): the queues in order of entry (then name) each hold the call until
/// the next one's entry; a queue is answered by its own provider answer
/// (`connected_at`), or by the first answer of a leg of an extension other
/// than the caller's while it held the call. An unanswered queue is
/// `Waiting` while it is the call's latest and the call goes on,
/// `Abandoned` when the call ended there, `Left` when the call moved on.
pub fn derive_queues(
    call: &CallRow,
    legs: &BTreeMap<String, LegRow>,
    queues: &mut BTreeMap<String, QueueRow>,
) {
    let mut order: Vec<(DateTime<Utc>, String)> = queues
        .iter()
        .map(|(q, r)| (r.entered_at, q.clone()))
        .collect();
    order.sort();
    let ended = call.status == CallStatus::Ended;
    // Answers by people: (answered at, extension) of every leg of an
    // extension that is not the caller's.
    let mut answers: Vec<(DateTime<Utc>, &str)> = legs
        .values()
        .filter_map(|l| {
            let ext = l.extension.as_deref()?;
            (call.from_number.as_deref() != Some(ext)).then_some((l.answered_at?, ext))
        })
        .collect();
    answers.sort();
    for (i, (entered, name)) in order.iter().enumerate() {
        let until = order.get(i + 1).map(|(t, _)| *t);
        let by_leg = answers
            .iter()
            .find(|(at, _)| at >= entered && until.is_none_or(|u| *at < u));
        let Some(row) = queues.get_mut(name) else {
            continue;
        };
        row.answered_at = earliest(row.connected_at, by_leg.map(|(at, _)| *at));
        row.agent = by_leg.map(|(_, ext)| ext.to_string());
        row.ended_at = if ended { call.ended_at } else { None };
        row.outcome = match (row.answered_at, until, ended) {
            (Some(_), _, _) => QueueOutcome::Answered,
            (None, Some(_), _) => QueueOutcome::Left,
            (None, None, true) => QueueOutcome::Abandoned,
            (None, None, false) => QueueOutcome::Waiting,
        };
    }
}
