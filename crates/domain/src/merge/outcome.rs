//! What became of a call (`calls.outcome`), derived from the merged call and
//! its queues, and the outside number a call is with.

use std::collections::BTreeMap;

use super::{CallRow, QueueOutcome, QueueRow};
use crate::event::CallStatus;

/// What became of a call: answered by a person, or why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CallOutcome {
    Answered,
    /// The caller hung up waiting in a queue.
    Abandoned,
    /// It rang out (or was missed) with nobody answering.
    NoAnswer,
    Busy,
    Failed,
    Voicemail,
}

/// The outcomes that put an inbound call on the missed calls list, as
/// stored in `calls.outcome`.
pub const MISSED_OUTCOMES: [&str; 5] = ["abandoned", "no_answer", "busy", "failed", "voicemail"];

impl CallOutcome {
    /// The word stored in `calls.outcome`.
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Answered => "answered",
            CallOutcome::Abandoned => "abandoned",
            CallOutcome::NoAnswer => "no_answer",
            CallOutcome::Busy => "busy",
            CallOutcome::Failed => "failed",
            CallOutcome::Voicemail => "voicemail",
        }
    }

    /// Parses `calls.outcome`; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "answered" => Some(CallOutcome::Answered),
            "abandoned" => Some(CallOutcome::Abandoned),
            "no_answer" => Some(CallOutcome::NoAnswer),
            "busy" => Some(CallOutcome::Busy),
            "failed" => Some(CallOutcome::Failed),
            "voicemail" => Some(CallOutcome::Voicemail),
            _ => None,
        }
    }

    /// Whether nobody answered (the call is ended).
    pub fn is_missed(self) -> bool {
        self != CallOutcome::Answered
    }
}

/// What became of the call so far, from its merged facts and its queues'
/// derived outcomes, in this order:
/// 1. the disposition says `answered` (the CDR, Dialpad's end): answered;
/// 2. it says `voicemail`, `busy` or `failed`: that;
/// 3. a person answered: in a queue call, one of its queues was answered
///    (the caller's own leg is answered by the queue's music, so it does not
///    count); otherwise the call has an answer time;
/// 4. the call goes on: `None`;
/// 5. it ended waiting in a queue: abandoned;
/// 6. else: no answer (`no answer`, `missed`, any other word, none).
pub fn call_outcome(call: &CallRow, queues: &BTreeMap<String, QueueRow>) -> Option<CallOutcome> {
    match call.disposition.as_deref() {
        Some("answered") => return Some(CallOutcome::Answered),
        Some("voicemail") => return Some(CallOutcome::Voicemail),
        Some("busy") => return Some(CallOutcome::Busy),
        Some("failed") => return Some(CallOutcome::Failed),
        _ => {}
    }
    let answered = if queues.is_empty() {
        call.answered_at.is_some()
    } else {
        queues.values().any(|q| q.outcome == QueueOutcome::Answered)
    };
    if answered {
        return Some(CallOutcome::Answered);
    }
    if call.status != CallStatus::Ended {
        return None;
    }
    if queues
        .values()
        .any(|q| q.outcome == QueueOutcome::Abandoned)
    {
        return Some(CallOutcome::Abandoned);
    }
    Some(CallOutcome::NoAnswer)
}

/// The number outside the phone system a call is with: the caller of an
/// inbound call, the called number of an outbound one; `None` for internal
/// calls and calls whose direction is unknown.
pub fn outside_number(call: &CallRow) -> Option<&str> {
    let n = match call.direction.as_deref() {
        Some("inbound") => call.from_number.as_deref(),
        Some("outbound") => call.to_number.as_deref(),
        _ => None,
    }?;
    (!n.trim().is_empty()).then_some(n)
}
