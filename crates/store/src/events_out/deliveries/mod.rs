//! Deliveries: claimed when due with `FOR UPDATE SKIP LOCKED` (any number
//! of delivery workers), leased while in flight, completed with what the
//! attempt got. Order per subject: a delivery is claimable only when no
//! earlier delivery of the same subject to the same endpoint is pending
//! (delivered or given up lets the next one go), and a rescheduled one
//! pushes its successors' due times behind it, so that blocked deliveries
//! are not due and claims never wade through them.
//!
//! Here: the types; `claim.rs` the claim (a subject's due run at once),
//! `complete.rs` the completions (many per statement, each tied to its
//! lease), `upkeep.rs` pruning, disabling and the gauges' counts,
//! `admin.rs` resend and recover.

mod admin;
mod claim;
mod complete;
mod upkeep;

use chrono::{DateTime, Utc};

pub use admin::{recover, resend, Resent};
pub use claim::{claim, Claimed, Pushed, Room, CLAIM_LEASE};
pub use complete::{complete, Completion};
pub use upkeep::{disable_failing, prune, DeliveryStats};

/// Claims and completions commit without waiting for the WAL flush: a lost
/// one only sends a delivery again once its lease runs out (at least once),
/// and one flush per statement would cap deliveries at the disk's syncs.
const ASYNC_COMMIT: &str = "SET LOCAL synchronous_commit = off";

/// What one attempt got.
#[derive(Debug, Clone, Default)]
pub struct Attempt {
    /// The HTTP status, when an answer came.
    pub status: Option<i32>,
    /// Why it failed without an answer (timeout, refused, SSRF).
    pub error: Option<String>,
    pub latency_ms: i32,
    /// The start of the answer's body (capped, UTF-8, no NUL).
    pub excerpt: Option<String>,
}

/// What becomes of a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// A 2xx: done; the endpoint's failure streak ends.
    Delivered,
    /// Try again at this time (its successors wait behind it).
    Retry(DateTime<Utc>),
    /// Retried for long enough: given up (its successors go on).
    GiveUp,
    /// 410 Gone: the endpoint is disabled; the delivery waits, pending, for
    /// it to be enabled again.
    Gone,
}

impl Next {
    /// The outcome as the completion statement names it.
    fn outcome(self) -> &'static str {
        match self {
            Next::Delivered => "delivered",
            Next::Retry(_) => "retry",
            Next::GiveUp => "failed",
            Next::Gone => "gone",
        }
    }
}
