//! Calls and their legs: status, details, times, failure, and the derived
//! queue outcomes and call outcome after every update.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::{
    call_outcome, derive_queues, earliest, largest, merge_queue, CallOutcome, QueueRow, Zone,
};
use crate::event::{CallStatus, CallUpdate, LegState, LegUpdate};

/// A `calls` row as the merge sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRow {
    pub status: CallStatus,
    pub direction: Option<String>,
    pub from_number: Option<String>,
    pub to_number: Option<String>,
    /// Sequence of the event the call details were taken from.
    pub info_seq: Option<i64>,
    pub started_at: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    /// `started_at` / `answered_at` come from the CDR's clock, no live
    /// event having given them: the first live time replaces them.
    pub started_from_cdr: bool,
    pub answered_from_cdr: bool,
    pub talk_seconds: Option<i32>,
    pub duration_seconds: Option<i32>,
    pub disposition: Option<String>,
    pub recording_url: Option<String>,
    /// Why the call failed (Yeastar 30015), and the sequence of the event
    /// that said so: the earliest wins.
    pub failure_reason: Option<String>,
    pub failure_seq: Option<i64>,
    /// Derived ([`call_outcome`]): what became of the call so far.
    pub outcome: Option<CallOutcome>,
}

impl CallRow {
    /// A call nobody has said anything about yet.
    pub fn new() -> Self {
        CallRow {
            status: CallStatus::Ringing,
            direction: None,
            from_number: None,
            to_number: None,
            info_seq: None,
            started_at: None,
            answered_at: None,
            ended_at: None,
            started_from_cdr: false,
            answered_from_cdr: false,
            talk_seconds: None,
            duration_seconds: None,
            disposition: None,
            recording_url: None,
            failure_reason: None,
            failure_seq: None,
            outcome: None,
        }
    }
}

impl Default for CallRow {
    fn default() -> Self {
        Self::new()
    }
}

/// A `call_legs` row as the merge sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegRow {
    pub kind: String,
    pub extension: Option<String>,
    pub party: Option<String>,
    /// The provider's channel (Yeastar `channel_id`): first non-empty wins.
    pub channel_id: Option<String>,
    pub state: LegState,
    pub on_hold: bool,
    pub hold_seq: Option<i64>,
    pub started_at: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// The call status an update implies on its own.
pub fn implied_status(u: &CallUpdate) -> CallStatus {
    if u.ends_call {
        CallStatus::Ended
    } else if u.legs.iter().any(|l| l.state == LegState::InCall) {
        CallStatus::Active
    } else {
        CallStatus::Ringing
    }
}

/// The sequence that orders call details: the authoritative record (CDR)
/// wins over everything, else the earliest event that has them.
fn info_rank(u: &CallUpdate) -> i64 {
    if u.authoritative {
        i64::MIN
    } else {
        u.seq
    }
}

/// Merges a time given by a live event (`live`) and one derived from the
/// CDR's clock (`cdr`) into `have` (with `from_cdr` saying where it came
/// from): any live time beats every CDR time, and within each kind the
/// earliest wins. Order-independent: the result is the earliest live time
/// when there is one, else the earliest CDR time.
fn merge_time(
    have: &mut Option<DateTime<Utc>>,
    from_cdr: &mut bool,
    live: Option<DateTime<Utc>>,
    cdr: Option<DateTime<Utc>>,
) {
    if let Some(t) = live {
        if *from_cdr {
            *have = Some(t);
            *from_cdr = false;
        } else {
            *have = earliest(*have, Some(t));
        }
    }
    if let Some(t) = cdr {
        if have.is_none() {
            *have = Some(t);
            *from_cdr = true;
        } else if *from_cdr {
            *have = earliest(*have, Some(t));
        }
    }
}

/// Merges one update into a call row; `zone` reads the CDR's local times.
pub fn merge_call(row: &mut CallRow, u: &CallUpdate, zone: &dyn Zone) {
    row.status = row.status.max(implied_status(u));
    let rank = info_rank(u);
    let wins = row.info_seq.is_none_or(|s| rank < s);
    let fields = [
        (&mut row.direction, &u.direction),
        (&mut row.from_number, &u.from_number),
        (&mut row.to_number, &u.to_number),
    ];
    for (have, new) in fields {
        if new.is_some() && (wins || have.is_none()) {
            have.clone_from(new);
        }
    }
    if wins && (u.direction.is_some() || u.from_number.is_some() || u.to_number.is_some()) {
        row.info_seq = Some(rank);
    }
    let cdr_start = u.cdr_times.and_then(|t| zone.instant(t.start_local));
    let cdr_answer = u.cdr_times.and_then(|t| {
        let after = Duration::seconds(i64::from(t.answered_after?));
        cdr_start.map(|s| s + after)
    });
    merge_time(
        &mut row.started_at,
        &mut row.started_from_cdr,
        u.started_at,
        cdr_start,
    );
    merge_time(
        &mut row.answered_at,
        &mut row.answered_from_cdr,
        u.answered_at,
        cdr_answer,
    );
    if u.ends_call {
        row.ended_at = earliest(row.ended_at, u.ended_at);
    }
    row.talk_seconds = largest(row.talk_seconds, u.talk_seconds);
    row.duration_seconds = largest(row.duration_seconds, u.duration_seconds);
    if let Some(d) = &u.disposition {
        if u.authoritative || row.disposition.is_none() {
            row.disposition = Some(d.clone());
        }
    }
    if row.recording_url.is_none() {
        row.recording_url.clone_from(&u.recording_url);
    }
    if let Some(reason) = &u.failure_reason {
        let wins = match row.failure_seq {
            None => true,
            Some(s) => (u.seq, reason.as_str()) < (s, row.failure_reason.as_deref().unwrap_or("")),
        };
        if wins {
            row.failure_reason = Some(reason.clone());
            row.failure_seq = Some(u.seq);
        }
    }
}

/// A leg row made from the first update about it.
pub fn new_leg(u: &LegUpdate) -> LegRow {
    LegRow {
        kind: u.kind.clone(),
        extension: u.extension.clone(),
        party: u.party.clone(),
        channel_id: u.channel_id.clone(),
        state: LegState::Ringing,
        on_hold: false,
        hold_seq: None,
        started_at: None,
        answered_at: None,
        ended_at: None,
    }
}

/// Merges one update (of an event with sequence `seq`) into a leg row.
pub fn merge_leg(row: &mut LegRow, u: &LegUpdate, seq: i64) {
    row.state = row.state.max(u.state);
    if row.extension.is_none() {
        row.extension.clone_from(&u.extension);
    }
    if row.party.is_none() {
        row.party.clone_from(&u.party);
    }
    // A leg's channel never changes (Yeastar leg ids are their channel), so
    // keeping the first one is order-independent.
    if row.channel_id.is_none() {
        row.channel_id.clone_from(&u.channel_id);
    }
    if let Some(hold) = u.on_hold {
        if row.hold_seq.is_none_or(|s| seq > s) {
            row.hold_seq = Some(seq);
            row.on_hold = hold;
        }
    }
    row.started_at = earliest(row.started_at, u.started_at);
    row.answered_at = earliest(row.answered_at, u.answered_at);
    row.ended_at = earliest(row.ended_at, u.ended_at);
}

/// Ends a leg because its call ended: ended is final for every party.
pub fn end_leg(row: &mut LegRow, at: Option<DateTime<Utc>>) {
    if row.state != LegState::Ended {
        row.state = LegState::Ended;
    }
    row.ended_at = earliest(row.ended_at, at);
}

/// Whether a leg shows as on hold: only a live leg in call can be.
pub fn shows_on_hold(row: &LegRow) -> bool {
    row.on_hold && row.state == LegState::InCall
}

/// Applies a call update to a call, its legs (keyed by leg id) and its
/// queues (keyed by queue), then derives what depends on all of them: the
/// legs' end, the queues' outcomes, the call's outcome. `zone` reads the
/// CDR's local times.
pub fn apply_call(
    call: &mut CallRow,
    legs: &mut BTreeMap<String, LegRow>,
    queues: &mut BTreeMap<String, QueueRow>,
    u: &CallUpdate,
    zone: &dyn Zone,
) {
    merge_call(call, u, zone);
    for lu in &u.legs {
        let leg = legs.entry(lu.leg_id.clone()).or_insert_with(|| new_leg(lu));
        merge_leg(leg, lu, u.seq);
    }
    for qu in &u.queues {
        merge_queue(queues, qu);
    }
    if call.status == CallStatus::Ended {
        for leg in legs.values_mut() {
            end_leg(leg, call.ended_at);
        }
    }
    derive_queues(call, legs, queues);
    call.outcome = call_outcome(call, queues);
}
