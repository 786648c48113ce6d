//! The status mapping of `providers.md`: provider words to leg states.

use crate::event::LegState;

/// What a provider's status word means for a leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mapped {
    /// A leg state, with the hold flag where the word speaks of it.
    Leg(LegState, Option<bool>),
    /// A post-call event (Dialpad recording, transcription, ...): it carries
    /// call details but never changes a leg or reopens a call.
    PostCall,
    /// A word not in the mapping: kept and logged, never guessed.
    Unknown,
}

/// Maps a Yeastar 30011 `member_status`.
pub fn yeastar_member_status(s: &str) -> Mapped {
    match s.trim().to_ascii_uppercase().as_str() {
        "ALERT" | "RING" | "EARLYMEDIA" => Mapped::Leg(LegState::Ringing, None),
        "ANSWER" | "ANSWERED" | "CONNECTED" => Mapped::Leg(LegState::InCall, Some(false)),
        "HOLD" => Mapped::Leg(LegState::InCall, Some(true)),
        "BYE" | "RELEASE" | "DISCONNECT" => Mapped::Leg(LegState::Ended, None),
        _ => Mapped::Unknown,
    }
}

/// Maps a Dialpad call event `state`.
pub fn dialpad_state(s: &str) -> Mapped {
    match s {
        "ringing" | "calling" | "preanswer" | "queued" => Mapped::Leg(LegState::Ringing, None),
        "connected" | "takeover" | "barge" => Mapped::Leg(LegState::InCall, Some(false)),
        "hold" | "parked" => Mapped::Leg(LegState::InCall, Some(true)),
        "hangup" | "missed" | "voicemail" | "merged" => Mapped::Leg(LegState::Ended, None),
        "recording" | "admin_recording" | "voicemail_uploaded" | "transcription"
        | "call_transcription" | "recap_summary" | "recap_outcome" | "recap_purposes"
        | "recap_action_items" | "ai_playbook" | "csat" | "pcsat" | "dispositions" | "postcall" => {
            Mapped::PostCall
        }
        _ => Mapped::Unknown,
    }
}

/// The event type label of a Dialpad call event, in the words operators
/// already use (`call.ring`, `call.started`, `call.ended`,
/// `call.recording.completed`), else `call.<state>`.
pub fn dialpad_event_type(state: &str) -> String {
    match state {
        "ringing" | "calling" | "preanswer" | "queued" => "call.ring".into(),
        "connected" => "call.started".into(),
        "hangup" | "missed" | "voicemail" => "call.ended".into(),
        "recording" | "admin_recording" => "call.recording.completed".into(),
        other => format!("call.{other}"),
    }
}

/// The event type label of a Yeastar event id.
pub fn yeastar_event_type(id: i64) -> String {
    match id {
        30007 => "extension.registration".into(),
        30008 => "extension.call_status".into(),
        30009 => "extension.presence".into(),
        30011 => "call.status".into(),
        30012 => "call.cdr".into(),
        30013 => "call.transfer".into(),
        30014 => "call.forward".into(),
        30015 => "call.failed".into(),
        30016 => "call.invitation".into(),
        30025 => "agent.auto_pause".into(),
        30026 => "agent.ring_timeout".into(),
        30029 => "agent.status".into(),
        other => format!("yeastar.{other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_table() {
        use LegState::*;
        for (w, want) in [
            ("ALERT", Mapped::Leg(Ringing, None)),
            ("RING", Mapped::Leg(Ringing, None)),
            ("EARLYMEDIA", Mapped::Leg(Ringing, None)),
            ("ANSWER", Mapped::Leg(InCall, Some(false))),
            ("ANSWERED", Mapped::Leg(InCall, Some(false))),
            ("CONNECTED", Mapped::Leg(InCall, Some(false))),
            ("HOLD", Mapped::Leg(InCall, Some(true))),
            ("BYE", Mapped::Leg(Ended, None)),
            ("RELEASE", Mapped::Leg(Ended, None)),
            ("DISCONNECT", Mapped::Leg(Ended, None)),
            ("SPARKLING", Mapped::Unknown),
        ] {
            assert_eq!(yeastar_member_status(w), want, "{w}");
        }
        for (w, want) in [
            ("ringing", Mapped::Leg(Ringing, None)),
            ("calling", Mapped::Leg(Ringing, None)),
            ("preanswer", Mapped::Leg(Ringing, None)),
            ("queued", Mapped::Leg(Ringing, None)),
            ("connected", Mapped::Leg(InCall, Some(false))),
            ("takeover", Mapped::Leg(InCall, Some(false))),
            ("barge", Mapped::Leg(InCall, Some(false))),
            ("hold", Mapped::Leg(InCall, Some(true))),
            ("parked", Mapped::Leg(InCall, Some(true))),
            ("hangup", Mapped::Leg(Ended, None)),
            ("missed", Mapped::Leg(Ended, None)),
            ("voicemail", Mapped::Leg(Ended, None)),
            ("merged", Mapped::Leg(Ended, None)),
            ("recording", Mapped::PostCall),
            ("transcription", Mapped::PostCall),
            ("eavesdrop", Mapped::Unknown),
        ] {
            assert_eq!(dialpad_state(w), want, "{w}");
        }
    }
}
