//! The missed calls to return: per outside number, the inbound calls nobody
//! answered since the latest answered call with that number (in either
//! direction) and since what an operator marked done. A function of the
//! calls alone, so the list is the same whatever order the events came in;
//! the projection keeps it in `missed_calls`, recomputed from `calls` with
//! the same rule (`crate::projection`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{outside_number, CallOutcome, CallRow};

/// One open entry of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissedEntry {
    /// Missed calls counted.
    pub count: i32,
    /// The first and latest start among them.
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
    /// The latest of them (by start, then call id) and why it was missed.
    pub last_call_id: String,
    pub last_reason: CallOutcome,
}

/// The open entries (count > 0) of one source's list, by number, from its
/// calls (`(call id, row)`) and the operators' marks (`done_through`: per
/// number, missed calls that started at or before it are done). A call
/// counts when it is inbound from an outside number, nobody answered it,
/// and it started after the latest answered call with that number and
/// after the mark. Calls without a start time count for nothing.
pub fn missed_entries<'a>(
    calls: impl IntoIterator<Item = (&'a str, &'a CallRow)>,
    done_through: &BTreeMap<String, DateTime<Utc>>,
) -> BTreeMap<String, MissedEntry> {
    let calls: Vec<(&str, &CallRow)> = calls.into_iter().collect();
    let mut answered: BTreeMap<&str, DateTime<Utc>> = BTreeMap::new();
    for (_, c) in &calls {
        if let (Some(n), Some(start), Some(CallOutcome::Answered)) =
            (outside_number(c), c.started_at, c.outcome)
        {
            let a = answered.entry(n).or_insert(start);
            *a = (*a).max(start);
        }
    }
    let mut out: BTreeMap<String, MissedEntry> = BTreeMap::new();
    for (id, c) in &calls {
        let (Some(n), Some(start), Some(reason)) = (outside_number(c), c.started_at, c.outcome)
        else {
            continue;
        };
        if c.direction.as_deref() != Some("inbound") || !reason.is_missed() {
            continue;
        }
        let cleared = [answered.get(n), done_through.get(n)]
            .into_iter()
            .flatten()
            .any(|t| start <= *t);
        if cleared {
            continue;
        }
        match out.get_mut(n) {
            None => {
                out.insert(
                    n.to_string(),
                    MissedEntry {
                        count: 1,
                        first_at: start,
                        last_at: start,
                        last_call_id: id.to_string(),
                        last_reason: reason,
                    },
                );
            }
            Some(e) => {
                e.count += 1;
                e.first_at = e.first_at.min(start);
                if (start, *id) > (e.last_at, e.last_call_id.as_str()) {
                    e.last_at = start;
                    e.last_call_id = id.to_string();
                    e.last_reason = reason;
                }
            }
        }
    }
    out
}
