//! What a whole webhook does: its [`Effect`], and the uaCSTA report.

use chrono::{DateTime, Utc};

use super::{AgentUpdate, CallUpdate};

/// What a parsed webhook does.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// A call state change, an end record or a post-call event.
    Call(CallUpdate),
    /// One device of an extension registered or unregistered (Yeastar
    /// 30007). The extension is offline only when none of its devices is
    /// registered.
    Registration {
        extension: String,
        /// The device: Yeastar `kind` lower-cased (`sip`, `mobile`,
        /// `desktop`, `web`, `pad`, any other word as sent), `unspecified`
        /// when absent.
        device: String,
        registered: bool,
        seq: i64,
        at: DateTime<Utc>,
    },
    /// The extension's call status as the PBX reports it (Yeastar 30008
    /// `Ringing`, `Busy`, `Idle`, kept as sent): shown only while no leg of
    /// the extension is live and when newer than its legs' last event
    /// ([`crate::merge::extension_status`]).
    Reported {
        extension: String,
        name: Option<String>,
        status: String,
        seq: i64,
        at: DateTime<Utc>,
    },
    /// The presence a person set on their extension (Yeastar 30009): one of
    /// `available`, `away`, `dnd`, `lunch`, `business_trip`, `off_work`, or
    /// `unknown:<word>` for any other word (kept, never guessed). Shown
    /// beside the status, never mixed into it. Last one by sequence wins.
    Presence {
        extension: String,
        presence: String,
        seq: i64,
        at: DateTime<Utc>,
    },
    /// What the PBX says about a call-centre agent (Yeastar 30025, 30026,
    /// 30029; Dialpad agent status).
    Agent(AgentUpdate),
    /// A uaCSTA call report (Yeastar 30020). Its `call_id` is a different id
    /// space from the call events': it is recorded on its own (the last
    /// operation by sequence, `call_over` final) and changes no call, leg or
    /// extension.
    Csta(CstaReport),
    /// Understood and deliberately not applied (an event type this system
    /// does not use).
    Ignored,
}

/// What one uaCSTA call report (Yeastar 30020) says.
#[derive(Debug, Clone, PartialEq)]
pub struct CstaReport {
    /// The uaCSTA call id (not a 30011 call id).
    pub call_id: String,
    /// `call_start`, `call_answer`, `call_over`, or any other word as sent
    /// (trimmed, lower-case).
    pub operation: String,
    pub extension: Option<String>,
    pub ip_address: Option<String>,
    /// Inbox id: arrival order.
    pub seq: i64,
    pub at: DateTime<Utc>,
}

impl CstaReport {
    /// The order of reports of one call: `call_over` is final, else the
    /// later by sequence wins. A total order, so keeping the greatest is
    /// order-independent.
    pub fn rank(&self) -> (bool, i64) {
        csta_rank(&self.operation, self.seq)
    }
}

/// The rank of a uaCSTA operation at sequence `seq` ([`CstaReport::rank`]).
pub fn csta_rank(operation: &str, seq: i64) -> (bool, i64) {
    (operation == "call_over", seq)
}
