//! What can be asked of a phone system from the board: each action, what
//! it acts on (a call's leg, or an extension), who may ask for it, and how
//! it is named in answers, logs and the audit.

use store::users::Role;

/// How a transfer is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferMode {
    /// At once: the caller rings the new number.
    Blind,
    /// First a consult call to the new number (the caller waits on hold)...
    Attended,
    /// ...then the caller joined to it...
    Complete,
    /// ...or the consult call dropped and the caller back.
    Cancel,
}

/// How a supervisor joins an agent's call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenMode {
    /// Hears both sides; nobody hears them.
    Listen,
    /// Heard by the agent only.
    Whisper,
    /// Heard by both.
    Barge,
}

impl ListenMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ListenMode::Listen => "listen",
            ListenMode::Whisper => "whisper",
            ListenMode::Barge => "barge",
        }
    }
}

/// The presences a person can be given (the words of `extensions.presence`).
pub const PRESENCES: [&str; 6] = [
    "available",
    "away",
    "dnd",
    "lunch",
    "business_trip",
    "off_work",
];

/// One action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Hangup,
    Transfer {
        mode: TransferMode,
        /// The number to transfer to (none to complete or cancel).
        to: Option<String>,
    },
    Park,
    Hold,
    Unhold,
    Listen(ListenMode),
    /// One of [`PRESENCES`].
    Presence(&'static str),
    Pause {
        queue: String,
        reason: Option<String>,
    },
    Resume {
        queue: String,
    },
}

/// The actions as capabilities: what one table in `capabilities.rs` says a
/// provider can or cannot do, and what the page asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Hangup,
    Transfer,
    AttendedTransfer,
    Park,
    Hold,
    Unhold,
    Listen,
    Whisper,
    Barge,
    Presence,
    Pause,
}

impl Kind {
    pub const ALL: [Kind; 11] = [
        Kind::Hangup,
        Kind::Transfer,
        Kind::AttendedTransfer,
        Kind::Park,
        Kind::Hold,
        Kind::Unhold,
        Kind::Listen,
        Kind::Whisper,
        Kind::Barge,
        Kind::Presence,
        Kind::Pause,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Hangup => "hangup",
            Kind::Transfer => "transfer",
            Kind::AttendedTransfer => "attended_transfer",
            Kind::Park => "park",
            Kind::Hold => "hold",
            Kind::Unhold => "unhold",
            Kind::Listen => "listen",
            Kind::Whisper => "whisper",
            Kind::Barge => "barge",
            Kind::Presence => "presence",
            Kind::Pause => "pause",
        }
    }

    /// The least role that may ask for it.
    pub fn role(self) -> Role {
        match self {
            Kind::Listen | Kind::Whisper | Kind::Barge | Kind::Pause => Role::Supervisor,
            _ => Role::Operator,
        }
    }

    /// Why `role` may not (the refusal shown and audited).
    pub fn forbidden(self) -> &'static str {
        match self {
            Kind::Hangup => "only operators may hang up calls",
            Kind::Transfer | Kind::AttendedTransfer => "only operators may transfer calls",
            Kind::Park => "only operators may park calls",
            Kind::Hold | Kind::Unhold => "only operators may hold calls",
            Kind::Presence => "only operators may set presence",
            Kind::Listen | Kind::Whisper | Kind::Barge => {
                "only supervisors may listen, whisper or barge in"
            }
            Kind::Pause => "only supervisors may pause or resume agents",
        }
    }
}

impl Action {
    /// Its capability.
    pub fn kind(&self) -> Kind {
        match self {
            Action::Hangup => Kind::Hangup,
            Action::Transfer {
                mode: TransferMode::Blind,
                ..
            } => Kind::Transfer,
            Action::Transfer { .. } => Kind::AttendedTransfer,
            Action::Park => Kind::Park,
            Action::Hold => Kind::Hold,
            Action::Unhold => Kind::Unhold,
            Action::Listen(ListenMode::Listen) => Kind::Listen,
            Action::Listen(ListenMode::Whisper) => Kind::Whisper,
            Action::Listen(ListenMode::Barge) => Kind::Barge,
            Action::Presence(_) => Kind::Presence,
            Action::Pause { .. } | Action::Resume { .. } => Kind::Pause,
        }
    }

    /// The name in the audit (`call_actions.action`).
    pub fn audit_name(&self) -> &'static str {
        match self {
            Action::Transfer { mode, .. } => match mode {
                TransferMode::Blind => "transfer",
                TransferMode::Attended => "attended_transfer",
                TransferMode::Complete => "transfer_complete",
                TransferMode::Cancel => "transfer_cancel",
            },
            Action::Resume { .. } => "resume",
            other => other.kind().as_str(),
        }
    }

    /// What people call it ("the PBX refused the {what}").
    pub fn what(&self) -> &'static str {
        match self {
            Action::Hangup => "hang-up",
            Action::Transfer { mode, .. } => match mode {
                TransferMode::Blind => "transfer",
                TransferMode::Attended => "attended transfer",
                TransferMode::Complete => "transfer's completion",
                TransferMode::Cancel => "transfer's cancellation",
            },
            Action::Park => "park",
            Action::Hold => "hold",
            Action::Unhold => "resume from hold",
            Action::Listen(m) => m.as_str(),
            Action::Presence(_) => "presence change",
            Action::Pause { .. } => "agent pause",
            Action::Resume { .. } => "agent resume",
        }
    }

    /// What was asked beyond the action, for the audit.
    pub fn detail(&self) -> Option<String> {
        match self {
            Action::Transfer { to: Some(to), .. } => Some(format!("to {to}")),
            Action::Presence(p) => Some((*p).to_string()),
            Action::Pause { queue, reason } => Some(match reason {
                Some(r) => format!("queue {queue}: {r}"),
                None => format!("queue {queue}"),
            }),
            Action::Resume { queue } => Some(format!("queue {queue}")),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_roles() {
        let t = Action::Transfer {
            mode: TransferMode::Complete,
            to: None,
        };
        assert_eq!(t.kind(), Kind::AttendedTransfer);
        assert_eq!(t.audit_name(), "transfer_complete");
        assert_eq!(Action::Hangup.what(), "hang-up");
        assert_eq!(Kind::Listen.role(), Role::Supervisor);
        assert_eq!(Kind::Park.role(), Role::Operator);
        assert_eq!(
            Action::Resume {
                queue: "6400".into()
            }
            .audit_name(),
            "resume"
        );
    }
}
