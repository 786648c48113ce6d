//! Extensions: registration per device, the PBX's own call status (30008),
//! presence, names, and the status shown, derived from all of them and the
//! extension's live legs.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::largest;
use crate::event::{AgentChange, Effect, ExtensionStatus, LegState};

/// One device of an extension (`extension_devices`): the last report by
/// sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRow {
    pub registered: bool,
    pub seq: i64,
    pub at: DateTime<Utc>,
}

/// An `extensions` row as the merge sees it (status is derived), with its
/// devices.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExtensionRow {
    pub name: Option<String>,
    /// Derived from `devices`: registered while any device is, `false` once
    /// every known device unregistered, `None` when none ever reported.
    pub registered: Option<bool>,
    /// The latest registration report's sequence.
    pub registered_seq: Option<i64>,
    /// The PBX's own call status (Yeastar 30008), as sent, with its
    /// sequence and time: last by sequence wins.
    pub reported_status: Option<String>,
    pub reported_seq: Option<i64>,
    pub reported_at: Option<DateTime<Utc>>,
    /// The presence a person set (Yeastar 30009); `None` = unknown.
    pub presence: Option<String>,
    pub presence_seq: Option<i64>,
    pub last_seen: Option<DateTime<Utc>>,
    /// The latest time of a call event naming one of the extension's legs.
    pub leg_seen_at: Option<DateTime<Utc>>,
    /// Registration per device kind (`sip`, `web`, ...). The projection
    /// loads them only for extensions a batch registers.
    pub devices: BTreeMap<String, DeviceRow>,
}

/// What a reported (30008) status word shows on its own: `Ringing` rings,
/// `Busy` is in call; `Idle` and any other word show nothing (the
/// registration decides).
pub fn reported_word(status: &str) -> Option<ExtensionStatus> {
    match status.trim().to_ascii_lowercase().as_str() {
        "ringing" => Some(ExtensionStatus::Ringing),
        "busy" => Some(ExtensionStatus::InCall),
        _ => None,
    }
}

/// An extension's status, in this order of precedence:
/// 1. its live legs: `incall` while any is in call (on hold included), else
///    `ringing` while any rings;
/// 2. with no live leg, the PBX's own call status (30008) when it is newer
///    than the latest call event naming a leg of the extension
///    (`reported_at > leg_seen_at`): `Busy` is `incall`, `Ringing` is
///    `ringing`; a stale report (an `Idle` before a new call's events, a
///    `Busy` before the BYE) shows nothing;
/// 3. `offline` when no device is registered;
/// 4. `online`.
///
/// Every input is a merge (last by sequence, latest time, any order), so
/// the status is too.
pub fn extension_status<'a>(
    live_legs: impl IntoIterator<Item = &'a LegState>,
    row: &ExtensionRow,
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
        return ExtensionStatus::Ringing;
    }
    if let (Some(word), Some(at)) = (row.reported_status.as_deref(), row.reported_at) {
        if row.leg_seen_at.is_none_or(|l| at > l) {
            if let Some(s) = reported_word(word) {
                return s;
            }
        }
    }
    if row.registered == Some(false) {
        ExtensionStatus::Offline
    } else {
        ExtensionStatus::Online
    }
}

/// Merges a registration report of one device (last by sequence per
/// device) and derives the extension's registration from all its devices.
pub fn merge_registration(
    row: &mut ExtensionRow,
    device: &str,
    registered: bool,
    seq: i64,
    at: DateTime<Utc>,
) {
    let new = DeviceRow {
        registered,
        seq,
        at,
    };
    let d = row.devices.entry(device.to_string()).or_insert(new);
    if (seq, registered) > (d.seq, d.registered) {
        *d = new;
    }
    row.registered = Some(row.devices.values().any(|d| d.registered));
    row.registered_seq = largest(row.registered_seq, Some(seq));
    row.last_seen = largest(row.last_seen, Some(at));
}

/// Merges a provider-reported call status (last one by sequence wins).
pub fn merge_reported(row: &mut ExtensionRow, status: &str, seq: i64, at: DateTime<Utc>) {
    let wins = match row.reported_seq {
        None => true,
        Some(s) => (seq, status) > (s, row.reported_status.as_deref().unwrap_or("")),
    };
    if wins {
        row.reported_status = Some(status.to_string());
        row.reported_seq = Some(seq);
        row.reported_at = Some(at);
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

/// Merges an extension fact (a registration, a reported status, a
/// presence, an agent's name) into the row of the extension it names.
/// Other effects change nothing.
pub fn merge_extension_fact(row: &mut ExtensionRow, effect: &Effect) {
    match effect {
        Effect::Registration {
            device,
            registered,
            seq,
            at,
            ..
        } => merge_registration(row, device, *registered, *seq, *at),
        Effect::Reported {
            name,
            status,
            seq,
            at,
            ..
        } => {
            merge_reported(row, status, *seq, *at);
            if let Some(n) = name {
                row.name = Some(n.clone());
            }
        }
        Effect::Presence {
            presence, seq, at, ..
        } => merge_presence(row, presence, *seq, *at),
        Effect::Agent(a) => {
            if let (Some(n), AgentChange::Status { .. }) = (&a.name, &a.change) {
                row.name = Some(n.clone());
            }
            row.last_seen = largest(row.last_seen, Some(a.at));
        }
        Effect::Call(_) | Effect::Csta(_) | Effect::Ignored => {}
    }
}
