//! The projections as merges: how a call, a leg and an extension change when
//! an event is applied. Every rule is commutative and idempotent (maximum of
//! an ordered state, earliest timestamp, last writer by event sequence), so
//! any order, duplication or interleaving of a call's events converges on the
//! state of processing them once, in order.
//!
//! The projection writer ([`crate::projection`]) loads rows, merges with
//! these functions and writes the result back; the test kit's reference
//! model applies the same rules in memory.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::event::{
    csta_rank, CallStatus, CallUpdate, CstaReport, Effect, ExtensionStatus, LegState, LegUpdate,
};

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
    pub talk_seconds: Option<i32>,
    pub duration_seconds: Option<i32>,
    pub disposition: Option<String>,
    pub recording_url: Option<String>,
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
            talk_seconds: None,
            duration_seconds: None,
            disposition: None,
            recording_url: None,
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

/// Earliest of two optional times.
fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn largest<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
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

/// Merges one update into a call row.
pub fn merge_call(row: &mut CallRow, u: &CallUpdate) {
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
    row.started_at = earliest(row.started_at, u.started_at);
    row.answered_at = earliest(row.answered_at, u.answered_at);
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

/// An extension's status from all of its live legs and its registration:
/// `incall` while any leg is in call (on hold included), else `ringing`
/// while any rings, else `offline` when unregistered, else `online`.
pub fn extension_status<'a>(
    live_legs: impl IntoIterator<Item = &'a LegState>,
    registered: Option<bool>,
) -> ExtensionStatus {
    let mut ringing = false;
    for s in live_legs {
        match s {
            LegState::InCall => return ExtensionStatus::InCall,
            LegState::Ringing => ringing = true,
            LegState::Ended => {}
        }
    }
    if ringing {
        ExtensionStatus::Ringing
    } else if registered == Some(false) {
        ExtensionStatus::Offline
    } else {
        ExtensionStatus::Online
    }
}

/// An `extensions` row as the merge sees it (status is derived).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExtensionRow {
    pub name: Option<String>,
    pub registered: Option<bool>,
    pub registered_seq: Option<i64>,
    pub reported_status: Option<String>,
    pub reported_seq: Option<i64>,
    /// The presence a person set (Yeastar 30009); `None` = unknown.
    pub presence: Option<String>,
    pub presence_seq: Option<i64>,
    pub last_seen: Option<DateTime<Utc>>,
}

/// Merges a registration change (last one by sequence wins).
pub fn merge_registration(row: &mut ExtensionRow, registered: bool, seq: i64, at: DateTime<Utc>) {
    if row.registered_seq.is_none_or(|s| seq > s) {
        row.registered = Some(registered);
        row.registered_seq = Some(seq);
    }
    row.last_seen = largest(row.last_seen, Some(at));
}

/// Merges a provider-reported status (last one by sequence wins).
pub fn merge_reported(
    row: &mut ExtensionRow,
    name: Option<&str>,
    status: &str,
    seq: i64,
    at: DateTime<Utc>,
) {
    if row.reported_seq.is_none_or(|s| seq > s) {
        row.reported_status = Some(status.to_string());
        row.reported_seq = Some(seq);
    }
    if let Some(n) = name {
        row.name = Some(n.to_string());
    }
    row.last_seen = largest(row.last_seen, Some(at));
}

/// Merges a presence change (last one by sequence wins).
pub fn merge_presence(row: &mut ExtensionRow, presence: &str, seq: i64, at: DateTime<Utc>) {
    if row.presence_seq.is_none_or(|s| seq > s) {
        row.presence = Some(presence.to_string());
        row.presence_seq = Some(seq);
    }
    row.last_seen = largest(row.last_seen, Some(at));
}

/// Merges an extension fact (a registration change, a provider-reported
/// status or a presence) into the row of the extension it names. Other
/// effects change nothing.
pub fn merge_extension_fact(row: &mut ExtensionRow, effect: &Effect) {
    match effect {
        Effect::Registration {
            registered,
            seq,
            at,
            ..
        } => merge_registration(row, *registered, *seq, *at),
        Effect::Reported {
            name,
            status,
            seq,
            at,
            ..
        } => merge_reported(row, name.as_deref(), status, *seq, *at),
        Effect::Presence {
            presence, seq, at, ..
        } => merge_presence(row, presence, *seq, *at),
        Effect::Call(_) | Effect::Csta(_) | Effect::Ignored => {}
    }
}

/// Applies a call update to a call and its legs (keyed by leg id).
pub fn apply_call(call: &mut CallRow, legs: &mut BTreeMap<String, LegRow>, u: &CallUpdate) {
    merge_call(call, u);
    for lu in &u.legs {
        let leg = legs.entry(lu.leg_id.clone()).or_insert_with(|| new_leg(lu));
        merge_leg(leg, lu, u.seq);
    }
    if call.status == CallStatus::Ended {
        for leg in legs.values_mut() {
            end_leg(leg, call.ended_at);
        }
    }
}

/// A `csta_calls` row as the merge sees it: the uaCSTA report that ranks
/// highest ([`CstaReport::rank`]: `call_over` final, else the latest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CstaRow {
    pub csta_event: String,
    pub csta_seq: i64,
    pub extension: Option<String>,
    pub ip_address: Option<String>,
}

impl CstaRow {
    /// The row of a single report.
    pub fn of(r: &CstaReport) -> Self {
        CstaRow {
            csta_event: r.operation.clone(),
            csta_seq: r.seq,
            extension: r.extension.clone(),
            ip_address: r.ip_address.clone(),
        }
    }
}

/// Merges a uaCSTA report into its row (or makes the row): the whole row
/// is the highest-ranked report's. It never touches calls, legs or
/// extensions.
pub fn merge_csta(row: &mut Option<CstaRow>, r: &CstaReport) {
    let wins = row
        .as_ref()
        .is_none_or(|have| r.rank() > csta_rank(&have.csta_event, have.csta_seq));
    if wins {
        *row = Some(CstaRow::of(r));
    }
}
