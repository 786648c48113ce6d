//! The projections as merges: how a call, its legs and queues, an
//! extension, an agent and the missed calls change when an event is applied.
//! Every rule is commutative and idempotent (maximum of an ordered state,
//! earliest timestamp, last writer by event sequence), and what is derived
//! (a call's outcome, its queues' outcomes, an extension's status, a missed
//! call entry) is a function of the merged facts alone, so any order,
//! duplication or interleaving of the events converges on the state of
//! processing them once, in order.
//!
//! One file per projection: calls and legs (`calls.rs`), queue membership
//! (`queues.rs`), what became of a call (`outcome.rs`), extensions and their
//! devices (`extensions.rs`), agents (`agents.rs`), the missed calls
//! (`missed.rs`), uaCSTA reports (`csta.rs`).
//!
//! The projection writer ([`crate::projection`]) loads rows, merges with
//! these functions and writes the result back; the test kit's reference
//! model applies the same rules in memory.

mod agents;
mod calls;
mod csta;
mod extensions;
mod missed;
mod outcome;
mod queues;

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};

pub use agents::{merge_agent, AgentRow};
pub use calls::{
    apply_call, end_leg, implied_status, merge_call, merge_leg, new_leg, shows_on_hold, CallRow,
    LegRow,
};
pub use csta::{merge_csta, CstaRow};
pub use extensions::{
    extension_status, merge_extension_fact, merge_presence, merge_registration, merge_reported,
    reported_word, DeviceRow, ExtensionRow,
};
pub use missed::{missed_entries, MissedEntry};
pub use outcome::{call_outcome, outside_number, CallOutcome, MISSED_OUTCOMES};
pub use queues::{derive_queues, merge_queue, QueueOutcome, QueueRow};

/// The wall clock of a source: turns a local time without a zone (the
/// Yeastar CDR's `time_start`) into an instant. The projection resolves
/// them in the source's IANA zone (`sources.timezone`) with PostgreSQL; the
/// reference model uses a fixed offset.
pub trait Zone {
    /// The instant of `local` on this clock; `None` when it cannot be told.
    fn instant(&self, local: NaiveDateTime) -> Option<DateTime<Utc>>;
}

impl Zone for Utc {
    fn instant(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        Some(local.and_utc())
    }
}

impl Zone for FixedOffset {
    fn instant(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        self.from_local_datetime(&local)
            .single()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// Earliest of two optional times.
fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Largest of two optional values.
fn largest<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}
