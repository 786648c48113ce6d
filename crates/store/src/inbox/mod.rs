//! The inbox: raw webhooks exactly as received (`events`, partitioned by
//! the UTC day of receipt), the queue of work on them (`event_queue`: one
//! narrow row per pending or dead event) and their outcomes
//! (`event_results`: one narrow row per processed event), and every
//! statement on them. Ingest inserts an event and its queue row in one
//! transaction (group commit); the worker claims queue rows, and completes
//! an event by deleting its queue row and inserting its result, never
//! rewriting the event; operators read stats, prune whole days and replay.
//!
//! An event is *pending* while its queue row is not dead; that rule is
//! the `pending!` macro below and is written nowhere else.
//!
//! One file per operation: [`insert()`] (ingest), [`claim()`] and
//! [`complete()`] (the worker), [`depth()`] and [`stats()`] (probes and
//! `worker stats`), [`prune()`] (retention), [`ensure_partitions`] and
//! [`vacuum_queue`] (upkeep), [`replay()`], and the console's [`search()`]
//! and [`event()`].

/// The pending predicate on `event_queue`: not dead (due now or later).
/// A processed event has no queue row.
macro_rules! pending {
    () => {
        "dead_at IS NULL"
    };
}

/// Today's UTC day, as stored in `events.day`.
macro_rules! today {
    () => {
        "(now() AT TIME ZONE 'UTC')::date"
    };
}

macro_rules! channel {
    () => {
        "switchboard_inbox"
    };
}

mod claim;
mod complete;
mod depth;
mod insert;
mod maintenance;
mod prune;
mod replay;
mod search;
mod stats;

pub use claim::{claim, claim_ids, Claimed};
pub use complete::{complete, Outcome};
pub use depth::{depth, is_drained, Depth};
pub use insert::{insert, EventIds, NewEvent};
pub use maintenance::{ensure_partitions, queue_dead_tuples, vacuum_queue};
pub use prune::{prune, Pruned};
pub use replay::{replay, ReplayFilter};
pub use search::{event, search, wake, EventDetail, EventFilter, EventRow, OUTCOMES};
pub use stats::{stats, FailingEvent, PendingGroup, Stats};

/// The channel ingest NOTIFYs after each insert transaction and workers
/// LISTEN on: a wake-up only, with no payload.
pub const CHANNEL: &str = channel!();
