//! The projection writer: applies parsed events to the `calls`, `call_legs`
//! and `extensions` tables, inside the worker's claiming transaction.
//!
//! Row locks are taken in one global order (calls by key, then extensions by
//! key), so any number of workers can apply events of the same calls and
//! extensions at once without lost updates or deadlocks. Events are merged
//! into the locked rows with [`crate::merge`] and written back with a few
//! set-based statements. Each touched extension's status is derived from all
//! of its live legs, under the extension's lock, after its own leg writes:
//! the last transaction to lock an extension sees every leg.

mod calls;
mod extensions;
pub mod read;

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;

use crate::event::Effect;

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
}

impl Changed {
    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.extensions.is_empty() && self.calls.is_empty()
    }
}

/// `(source, call id)` or `(source, extension number)`.
type Key = (String, String);

/// Applies `items` to calls, legs and extensions. Must run inside a
/// transaction. Returns the keys of the calls and extensions written.
pub async fn apply(
    conn: &mut AsyncPgConnection,
    items: &[Item<'_>],
) -> Result<Changed, diesel::result::Error> {
    // Calls first: lock every call of the batch (with its legs), merge the
    // events in, write back the calls and the legs that changed.
    let mut calls = calls::lock(conn, items).await?;
    calls.merge(items);
    calls.write(conn).await?;
    calls.write_changed_legs(conn).await?;

    // Then extensions, as late as possible so that concurrent batches
    // sharing them overlap as much as they can: lock every extension the
    // batch or its calls' legs name, merge names, registration and reported
    // status, derive each one's status from its live legs, write them back.
    let keys = extensions::keys(items, &calls);
    let mut exts = extensions::lock(conn, &keys).await?;
    exts.merge(items);
    exts.derive_status(conn).await?;
    exts.write(conn).await?;

    Ok(Changed {
        extensions: keys.into_iter().collect(),
        calls: calls.keys().cloned().collect(),
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
