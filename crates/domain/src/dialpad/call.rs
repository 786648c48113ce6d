//! Call events: one per state change per leg, the legs of one
//! conversation linked through `entry_point_call_id`/`master_call_id`; a
//! call centre's leg (`target.type` `callcenter`) places the call in that
//! call centre, its queue.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::{millis, read, seq_of, time_of, Target};
use crate::event::{
    CallUpdate, Effect, Envelope, LegState, LegUpdate, ParseError, Parsed, QueueUpdate,
};
use crate::status::{dialpad_event_type, dialpad_state, Mapped};
use crate::wire::{opt_id, owned, Scalar, Text};

#[derive(Deserialize)]
struct RecordingDetail<'a> {
    #[serde(default, borrow)]
    url: Option<Text<'a>>,
}

#[derive(Deserialize)]
pub(super) struct CallEvent<'a> {
    #[serde(borrow)]
    call_id: Scalar<'a>,
    #[serde(default, borrow)]
    master_call_id: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    entry_point_call_id: Option<Scalar<'a>>,
    #[serde(borrow)]
    state: Text<'a>,
    #[serde(default, borrow)]
    direction: Option<Text<'a>>,
    #[serde(default, borrow)]
    date_started: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    date_queued: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    date_connected: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    date_ended: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    event_timestamp: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    duration: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    total_duration: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    external_number: Option<Text<'a>>,
    #[serde(default, borrow)]
    internal_number: Option<Text<'a>>,
    #[serde(default, borrow)]
    target: Option<Target<'a>>,
    #[serde(default, borrow)]
    call_center_ids: Option<Vec<Scalar<'a>>>,
    #[serde(default, borrow)]
    recording_details: Option<Vec<RecordingDetail<'a>>>,
    /// A string, or an array of them.
    #[serde(default, borrow)]
    recording_url: Option<Scalar<'a>>,
}

/// Whether a Dialpad target type names a call centre.
fn is_call_centre(kind: &str) -> bool {
    matches!(
        kind.trim().to_ascii_lowercase().as_str(),
        "callcenter" | "call_center" | "call center" | "callcentre"
    )
}

/// The call centres this leg places the call in: the target when it is a
/// call centre (its answer is the leg's `date_connected`); else, for a leg
/// that is or was queued (`queued`, `date_queued`), each of its
/// `call_center_ids`. Entered at `date_queued`, else `date_started`, else
/// `at` (the event's time). A queued leg naming no call centre is noted.
fn queues_of(ev: &CallEvent<'_>, at: DateTime<Utc>, notes: &mut Vec<String>) -> Vec<QueueUpdate> {
    let entered_at = time_of(&ev.date_queued)
        .or_else(|| time_of(&ev.date_started))
        .unwrap_or(at);
    let target = ev.target.as_ref();
    if let Some(t) = target.filter(|t| t.kind.as_deref().is_some_and(is_call_centre)) {
        return opt_id(&t.id)
            .map(|queue| QueueUpdate {
                queue,
                entered_at,
                connected_at: time_of(&ev.date_connected),
            })
            .into_iter()
            .collect();
    }
    if &*ev.state != "queued"
        && ev
            .date_queued
            .as_ref()
            .is_none_or(|q| matches!(q, Scalar::Null))
    {
        return Vec::new();
    }
    let mut ids: Vec<String> = ev
        .call_center_ids
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(Scalar::id)
        .filter(|q| !q.is_empty())
        .collect();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        notes.push("queued leg naming no call centre: no queue recorded".into());
    }
    ids.into_iter()
        .map(|queue| QueueUpdate {
            queue,
            entered_at,
            connected_at: None,
        })
        .collect()
}

fn recording_of(ev: &CallEvent<'_>) -> Option<String> {
    let from_details = ev
        .recording_details
        .as_ref()
        .and_then(|d| d.iter().find_map(|r| owned(&r.url)))
        .filter(|u| !u.is_empty());
    let from_field = match &ev.recording_url {
        Some(Scalar::Str(s)) if !s.is_empty() => Some(s.to_string()),
        Some(Scalar::Other(Value::Array(a))) => a
            .iter()
            .find_map(|v| v.as_str().map(str::to_string))
            .filter(|u| !u.is_empty()),
        _ => None,
    };
    from_details.or(from_field)
}

/// The parsed call event: a call update carrying this leg's state (unless
/// the state is a post-call or unknown one, which changes no leg), the
/// call's end when this is its master leg ending, and the call centre it
/// queues in when it is a call centre's leg. Errors on an empty `call_id`.
pub(super) fn call_event(claims: &[u8], env: Envelope) -> Result<Parsed, ParseError> {
    call_event_of(read(claims, "call event")?, env)
}

/// The claims read as a well-formed call event (`call_id` and `state`
/// there, every field of the right type), in one pass; `None` otherwise
/// (the caller then sorts them by their keys).
pub(super) fn as_call_event(claims: &[u8]) -> Option<CallEvent<'_>> {
    serde_json::from_slice(claims).ok()
}

/// [`call_event`] of claims already read.
pub(super) fn call_event_of(ev: CallEvent<'_>, env: Envelope) -> Result<Parsed, ParseError> {
    let (leg_id, call_id) = ids_of(&ev)?;
    let mut u = call_details(&ev, call_id, env);
    let mut notes = Vec::new();
    u.queues = queues_of(&ev, u.at.unwrap_or(env.received_at), &mut notes);
    match dialpad_state(&ev.state) {
        Mapped::Leg(state, hold) => {
            let leg = leg_of(&ev, leg_id, state, hold, env);
            if state == LegState::Ended && leg.leg_id == u.call_id {
                end_call(&mut u, &ev, leg.ended_at);
            }
            u.legs.push(leg);
        }
        Mapped::PostCall => {}
        Mapped::Unknown => {
            notes.push(format!(
                "unknown Dialpad call state {:?}: leg unchanged",
                ev.state
            ));
        }
    }
    Ok(Parsed {
        event_type: dialpad_event_type(&ev.state),
        effect: Effect::Call(u),
        notes,
    })
}

/// The event's leg id (its own `call_id`) and the id of the call it belongs
/// to: the entry point's, else the master's, else the leg's own. Errors on
/// an empty `call_id`.
fn ids_of(ev: &CallEvent<'_>) -> Result<(String, String), ParseError> {
    let leg_id = ev.call_id.id();
    if leg_id.is_empty() {
        return Err(ParseError::Shape("call event with an empty call_id".into()));
    }
    let call_id = opt_id(&ev.entry_point_call_id)
        .or_else(|| opt_id(&ev.master_call_id))
        .unwrap_or_else(|| leg_id.clone());
    Ok((leg_id, call_id))
}

/// The call update of call `call_id` with what every call event says about
/// the call: its position (the event timestamp, else the arrival time),
/// direction, numbers, start and answer times and recording. No legs yet.
fn call_details(ev: &CallEvent<'_>, call_id: String, env: Envelope) -> CallUpdate {
    let seq = seq_of(&ev.event_timestamp, &None, env);
    let (from_number, to_number) = numbers_of(ev);
    CallUpdate {
        call_id,
        seq,
        at: Some(millis(seq).unwrap_or(env.received_at)),
        direction: owned(&ev.direction),
        from_number,
        to_number,
        started_at: time_of(&ev.date_started),
        answered_at: time_of(&ev.date_connected),
        recording_url: recording_of(ev),
        ..Default::default()
    }
}

/// The call's (from, to) numbers, each `None` when empty: internal to
/// external for an outbound call, else external to internal.
fn numbers_of(ev: &CallEvent<'_>) -> (Option<String>, Option<String>) {
    let (from, to) = match ev.direction.as_deref() {
        Some("outbound") => (&ev.internal_number, &ev.external_number),
        _ => (&ev.external_number, &ev.internal_number),
    };
    let number = |n: &Option<Text<'_>>| owned(n).filter(|s| !s.is_empty());
    (number(from), number(to))
}

/// The leg `leg_id` in `state`: its party is the event's target (an
/// extension when the target is a user), and an ended leg ends at
/// `date_ended`, else on arrival.
fn leg_of(
    ev: &CallEvent<'_>,
    leg_id: String,
    state: LegState,
    hold: Option<bool>,
    env: Envelope,
) -> LegUpdate {
    let no_target = Target::default();
    let target = ev.target.as_ref().unwrap_or(&no_target);
    let kind = owned(&target.kind).unwrap_or_else(|| "unknown".into());
    let is_user = kind == "user";
    let ended_at = if state == LegState::Ended {
        time_of(&ev.date_ended).or(Some(env.received_at))
    } else {
        None
    };
    LegUpdate {
        leg_id,
        extension: if is_user { opt_id(&target.id) } else { None },
        extension_name: if is_user { owned(&target.name) } else { None },
        party: owned(&target.name).or_else(|| owned(&target.phone)),
        // The leg id is the Dialpad call id its hang-up API takes.
        channel_id: None,
        kind,
        state,
        on_hold: hold,
        started_at: time_of(&ev.date_started),
        answered_at: time_of(&ev.date_connected),
        ended_at,
    }
}

/// Marks the call ended at `ended_at` (its master leg has ended), with its
/// talk and total durations and its disposition.
fn end_call(u: &mut CallUpdate, ev: &CallEvent<'_>, ended_at: Option<DateTime<Utc>>) {
    u.ends_call = true;
    u.ended_at = ended_at;
    u.talk_seconds = seconds_of(&ev.duration);
    u.duration_seconds = seconds_of(&ev.total_duration);
    u.disposition = Some(disposition_of(&ev.state, u.answered_at));
}

/// A duration in milliseconds as whole seconds, rounded; `None` when absent,
/// not positive or out of range.
fn seconds_of(v: &Option<Scalar<'_>>) -> Option<i32> {
    v.as_ref()
        .and_then(Scalar::ms)
        .and_then(|ms| i32::try_from(ms.saturating_add(500) / 1000).ok())
        .filter(|s| *s > 0)
}

/// The disposition of an ended call: `voicemail` for a voicemail state, else
/// `answered` once connected, else `missed`.
fn disposition_of(state: &str, answered_at: Option<DateTime<Utc>>) -> String {
    match (state, answered_at) {
        ("voicemail", _) => "voicemail",
        (_, Some(_)) => "answered",
        _ => "missed",
    }
    .to_string()
}
