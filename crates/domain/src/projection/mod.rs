//! The projection writer: applies parsed events to the `calls`,
//! `call_legs`, `call_queues`, `extensions` (and `extension_devices`),
//! `queue_agents` and `missed_calls` tables, inside the worker's claiming
//! transaction.
//!
//! Row locks are taken in one global order (calls by key, then extensions
//! by key, then agents by key, then missed call entries by key), so any
//! number of workers can apply events of the same calls and extensions at
//! once without lost updates or deadlocks. Events are merged into the
//! locked rows with [`crate::merge`] and written back with a few set-based
//! statements. Each touched extension's status is derived from all of its
//! live legs, under the extension's lock, after its own leg writes: the last
//! transaction to lock an extension sees every leg. Missed call entries are
//! recomputed from `calls` under their own lock, after the calls are
//! written, by the same rule.
//!
//! One file per table: calls (`calls.rs`), legs (`legs.rs`), queue
//! membership (`queues.rs`), uaCSTA reports (`csta.rs`), extensions and
//! devices (`extensions.rs`), agents (`agents.rs`), missed calls
//! (`missed.rs`); the CDR's local times (`zones.rs`); what the board reads
//! (`read/`).

mod agents;
mod calls;
mod csta;
mod extensions;
mod legs;
pub mod missed;
mod outbound;
mod queues;
pub mod read;
mod zones;

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;

use crate::event::Effect;
use crate::outbound::OutEvent;

/// One parsed event to apply.
#[derive(Debug, Clone, Copy)]
pub struct Item<'a> {
    pub source: &'a str,
    pub received_at: DateTime<Utc>,
    pub effect: &'a Effect,
}

/// The keys of the rows [`apply`] wrote, each list sorted and without
/// duplicates: what a change feed announces.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changed {
    /// `(source, extension number)` of every extension written.
    pub extensions: Vec<(String, String)>,
    /// `(source, call id)` of every call written (with its legs).
    pub calls: Vec<(String, String)>,
    /// `(source, queue)` of every queue whose calls or agents were written.
    pub queues: Vec<(String, String)>,
    /// `(source, agent)` of every agent whose status was written.
    pub agents: Vec<(String, String)>,
    /// `(source, number)` of every missed call entry recomputed.
    pub missed: Vec<(String, String)>,
    /// The normalized events of what changed (events out), in order per
    /// subject; the caller writes them to the outbox in the same
    /// transaction.
    pub events: Vec<OutEvent>,
}

impl Changed {
    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.extensions.is_empty()
            && self.calls.is_empty()
            && self.queues.is_empty()
            && self.agents.is_empty()
            && self.missed.is_empty()
    }
}

/// `(source, call id)` or `(source, extension number)`.
type Key = (String, String);

/// Applies `items` to calls, legs, queues, extensions, agents and missed
/// calls. Must run inside a transaction. Returns the keys written.
pub async fn apply(
    conn: &mut AsyncPgConnection,
    items: &[Item<'_>],
) -> Result<Changed, diesel::result::Error> {
    // The CDRs' local times, in their sources' zones.
    let zones = zones::resolve(conn, items).await?;

    // Calls first: lock every call of the batch (with its legs and queues),
    // merge the events in, write back the calls and what changed of their
    // legs and queues.
    let mut calls = calls::lock(conn, items).await?;
    calls.merge(items, &zones);
    calls.write(conn).await?;
    calls.write_changed_legs(conn).await?;
    calls.write_changed_queues(conn).await?;

    // Then extensions, as late as possible so that concurrent batches
    // sharing them overlap as much as they can: lock every extension the
    // batch or its calls' legs name, merge names, registrations (with the
    // devices of the extensions registering) and reported status, derive
    // each one's status from its live legs, write them back.
    let keys = extensions::keys(items, &calls);
    let mut exts = extensions::lock(conn, &keys).await?;
    exts.load_devices(conn, items).await?;
    exts.merge(items);
    exts.derive_status(conn).await?;
    exts.write(conn).await?;

    // Agents: a merging upsert per (source, queue, agent), in key order.
    let agents = agents::write(conn, items).await?;

    // Missed calls: the entries of every number whose calls changed in a
    // way that counts, recomputed from `calls` under their locks.
    let numbers = calls.missed_keys();
    missed::refresh(conn, &numbers).await?;

    let events = outbound::events(&calls, &exts, &agents, Utc::now());
    let mut queues = calls.queue_keys();
    queues.extend(agents.queues);
    Ok(Changed {
        events,
        extensions: keys.into_iter().collect(),
        calls: calls.keys().cloned().collect(),
        queues: queues.into_iter().collect(),
        agents: agents.agents.into_iter().collect(),
        missed: numbers.into_iter().collect(),
    })
}

/// Makes sure a row exists for every key (`insert`, which creates missing
/// ones in key order) and locks them all in key order (`select ... FOR
/// UPDATE`). Returns the locked rows. Both statements take the keys as two
/// text arrays, `$1` and `$2`.
async fn ensure_locked<T>(
    conn: &mut AsyncPgConnection,
    (first, second): (&[String], &[String]),
    insert: &'static str,
    select: &'static str,
) -> Result<Vec<T>, diesel::result::Error>
where
    T: diesel::QueryableByName<diesel::pg::Pg> + Send + 'static,
{
    use crate::sql::Cached;
    use diesel::sql_types::{Array, Text};
    use diesel_async::RunQueryDsl;
    Cached(
        diesel::sql_query(insert)
            .bind::<Array<Text>, _>(first)
            .bind::<Array<Text>, _>(second),
    )
    .execute(conn)
    .await?;
    Cached(
        diesel::sql_query(select)
            .bind::<Array<Text>, _>(first)
            .bind::<Array<Text>, _>(second),
    )
    .load(conn)
    .await
}

/// Splits keys into the two arrays the statements bind.
fn unzip<'a>(keys: impl IntoIterator<Item = &'a Key>) -> (Vec<String>, Vec<String>) {
    keys.into_iter().cloned().unzip()
}
