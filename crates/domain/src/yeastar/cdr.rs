//! The CDR (30012): the authoritative end of a call, its details, and its
//! start and answer in the PBX's wall clock.

use chrono::NaiveDateTime;
use serde::Deserialize;

use super::Msg;
use crate::event::{CallUpdate, CdrTimes, Envelope, ParseError};
use crate::wire::{opt_text, Scalar, Text};

#[derive(Deserialize)]
struct Cdr<'a> {
    #[serde(borrow)]
    call_id: Scalar<'a>,
    #[serde(default, borrow)]
    time_start: Option<Text<'a>>,
    #[serde(default, borrow)]
    call_from: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    call_to: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    call_duration: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    talk_duration: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    status: Option<Text<'a>>,
    #[serde(default, rename = "type", borrow)]
    kind: Option<Text<'a>>,
    #[serde(default, borrow)]
    recording: Option<Text<'a>>,
}

/// The format of `time_start`: the PBX's local time, no zone.
const TIME_START: &str = "%Y-%m-%d %H:%M:%S";

/// The call update of a CDR: authoritative details, the end, and the CDR's
/// own start and answer (`time_start`, and the ring time `call_duration -
/// talk_duration` when it was answered), applied only where no live event
/// gave them. An unreadable `time_start` is left out with a note.
pub(super) fn cdr(
    msg: &Msg<'_>,
    env: Envelope,
    notes: &mut Vec<String>,
) -> Result<CallUpdate, ParseError> {
    let c: Cdr<'_> = msg.read()?;
    let call_id = c.call_id.text();
    if call_id.is_empty() {
        return Err(ParseError::Shape("CDR has an empty call_id".into()));
    }
    let secs = |v: &Option<Scalar<'_>>| {
        v.as_ref()
            .and_then(Scalar::int)
            .and_then(|n| i32::try_from(n).ok())
    };
    let talk = secs(&c.talk_duration);
    let duration = secs(&c.call_duration);
    let disposition = c.status.as_deref().map(|s| s.trim().to_ascii_lowercase());
    let answered = disposition.as_deref() == Some("answered") || talk.is_some_and(|t| t > 0);
    let cdr_times = match c.time_start.as_deref().map(str::trim) {
        Some(t) if !t.is_empty() => match NaiveDateTime::parse_from_str(t, TIME_START) {
            Ok(start_local) => Some(CdrTimes {
                start_local,
                answered_after: answered.then(|| {
                    duration
                        .unwrap_or(0)
                        .saturating_sub(talk.unwrap_or(0))
                        .max(0)
                }),
            }),
            Err(_) => {
                notes.push(format!("unreadable CDR time_start {t:?}: left out"));
                None
            }
        },
        _ => None,
    };
    Ok(CallUpdate {
        call_id,
        seq: env.id,
        at: Some(env.received_at),
        authoritative: true,
        ends_call: true,
        direction: c.kind.as_deref().map(|k| k.trim().to_ascii_lowercase()),
        from_number: opt_text(&c.call_from),
        to_number: opt_text(&c.call_to),
        ended_at: Some(env.received_at),
        talk_seconds: talk,
        duration_seconds: duration,
        disposition,
        recording_url: c
            .recording
            .filter(|r| !r.trim().is_empty())
            .map(Text::into_string),
        cdr_times,
        ..Default::default()
    })
}
