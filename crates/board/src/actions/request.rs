//! What an action is asked for and what its provider request needs.

use super::action::Action;

/// What an action is on.
#[derive(Debug, Clone)]
pub enum Target {
    /// A call's leg (as the card shows it).
    Leg { call_id: String, leg_id: String },
    /// An extension (presence, agents).
    Extension(String),
}

/// An action asked for by `user` on `target` of `source` (the role is
/// checked before: `routes.rs`).
pub struct Request {
    pub user: String,
    pub source: String,
    pub target: Target,
    pub action: Action,
}

impl Request {
    pub(super) fn call_id(&self) -> Option<&str> {
        match &self.target {
            Target::Leg { call_id, .. } => Some(call_id),
            Target::Extension(_) => None,
        }
    }

    pub(super) fn leg_id(&self) -> Option<&str> {
        match &self.target {
            Target::Leg { leg_id, .. } => Some(leg_id),
            Target::Extension(_) => None,
        }
    }

    pub(super) fn extension(&self) -> Option<&str> {
        match &self.target {
            Target::Extension(e) => Some(e),
            Target::Leg { .. } => None,
        }
    }

    /// The key of the one-action-at-a-time lock: the call, or the
    /// extension (`ext:` never starts a call id of ours... and could not
    /// collide anyway: both providers' call ids are digits and dots).
    pub(super) fn lock_key(&self) -> String {
        match &self.target {
            Target::Leg { call_id, .. } => call_id.clone(),
            Target::Extension(e) => format!("ext:{e}"),
        }
    }
}

/// What a provider request needs to know of the action's target.
pub(super) struct Ctx<'a> {
    pub action: &'a Action,
    /// The leg (a Dialpad leg id is its call id).
    pub leg_id: Option<&'a str>,
    /// The leg's own channel (Yeastar).
    pub channel: Option<String>,
    /// The channel of the other party of the call, the one a transfer or
    /// a park moves (Yeastar; the leg's own when there is none).
    pub other_channel: Option<String>,
    /// The extension acted on (presence, agents), or the leg's extension.
    pub extension: Option<&'a str>,
    /// The asking user's own extension (listen, whisper, barge).
    pub monitor: Option<String>,
}

/// What a provider accepted: its answer (audited), and what the page
/// shows beyond "requested" (a park's slot).
pub(super) struct Accepted {
    pub answer: String,
    pub shown: Option<String>,
}

impl Accepted {
    pub fn plain(answer: String) -> Accepted {
        Accepted {
            answer,
            shown: None,
        }
    }
}
