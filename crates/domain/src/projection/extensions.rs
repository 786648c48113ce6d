//! Extensions: which ones a batch touches, lock, merge, derive status,
//! write back.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::calls::LockedCalls;
use super::{ensure_locked, unzip, Item, Key};
use crate::event::{Effect, ExtensionStatus, LegState};
use crate::merge::{self, ExtensionRow};
use crate::sql::Cached;

/// The extensions of a batch, locked, with the status each will show.
pub(super) struct LockedExtensions {
    rows: BTreeMap<Key, (ExtensionRow, ExtensionStatus)>,
}

/// Every extension the batch names (in call legs, registrations, reported
/// statuses) or that a leg of one of its calls belongs to: a call that ends
/// ends every leg, and each leg's extension must be re-derived.
pub(super) fn keys(items: &[Item<'_>], calls: &LockedCalls) -> BTreeSet<Key> {
    let mut keys = BTreeSet::new();
    for i in items {
        match i.effect {
            Effect::Call(u) => {
                for e in u.legs.iter().filter_map(|l| l.extension.as_ref()) {
                    keys.insert((i.source.to_string(), e.clone()));
                }
            }
            Effect::Registration { extension, .. }
            | Effect::Reported { extension, .. }
            | Effect::Presence { extension, .. } => {
                keys.insert((i.source.to_string(), extension.clone()));
            }
            Effect::Csta(_) | Effect::Ignored => {}
        }
    }
    for (source, leg) in calls.legs() {
        if let Some(e) = &leg.extension {
            keys.insert((source.to_string(), e.clone()));
        }
    }
    keys
}

/// Locks the extensions `keys`, in key order (creating the missing ones).
/// Returns them.
pub(super) async fn lock(
    conn: &mut AsyncPgConnection,
    keys: &BTreeSet<Key>,
) -> Result<LockedExtensions, diesel::result::Error> {
    if keys.is_empty() {
        return Ok(LockedExtensions {
            rows: BTreeMap::new(),
        });
    }
    let (sources, numbers) = unzip(keys);
    let rows: Vec<ExtDb> = ensure_locked(
        conn,
        (&sources, &numbers),
        ENSURE_EXTENSIONS,
        LOCK_EXTENSIONS,
    )
    .await?;
    Ok(LockedExtensions {
        rows: rows
            .into_iter()
            .map(|r| {
                let key = (r.source.clone(), r.number.clone());
                (key, (r.into(), ExtensionStatus::Online))
            })
            .collect(),
    })
}

impl LockedExtensions {
    fn row(&mut self, source: &str, number: &str) -> &mut ExtensionRow {
        &mut self
            .rows
            .entry((source.to_string(), number.to_string()))
            .or_insert_with(|| (ExtensionRow::default(), ExtensionStatus::Online))
            .0
    }

    /// Merges the batch's extension facts: names and last seen from call
    /// legs, registration, provider-reported status.
    pub(super) fn merge(&mut self, items: &[Item<'_>]) {
        for i in items {
            match i.effect {
                Effect::Call(u) => {
                    for l in &u.legs {
                        if let Some(e) = &l.extension {
                            let ext = self.row(i.source, e);
                            if l.extension_name.is_some() {
                                ext.name.clone_from(&l.extension_name);
                            }
                            ext.last_seen = ext.last_seen.max(Some(i.received_at));
                        }
                    }
                }
                Effect::Registration { extension, .. }
                | Effect::Reported { extension, .. }
                | Effect::Presence { extension, .. } => {
                    merge::merge_extension_fact(self.row(i.source, extension), i.effect)
                }
                Effect::Csta(_) | Effect::Ignored => {}
            }
        }
    }

    /// Derives every locked extension's status ([`merge::extension_status`])
    /// from all of its live legs in any call, read now: under the
    /// extensions' locks and after this transaction's own leg writes.
    pub(super) async fn derive_status(
        &mut self,
        conn: &mut AsyncPgConnection,
    ) -> Result<(), diesel::result::Error> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let (sources, numbers) = unzip(self.rows.keys());
        let live: Vec<LiveLeg> = Cached(
            diesel::sql_query(LIVE_LEGS)
                .bind::<Array<Text>, _>(&sources)
                .bind::<Array<Text>, _>(&numbers),
        )
        .load(conn)
        .await?;
        let mut states: BTreeMap<Key, Vec<LegState>> = BTreeMap::new();
        for l in live {
            if let Some(s) = LegState::parse(&l.state) {
                states.entry((l.source, l.extension)).or_default().push(s);
            }
        }
        for (key, (row, status)) in &mut self.rows {
            let legs = states.get(key).map(Vec::as_slice).unwrap_or_default();
            *status = merge::extension_status(legs, row.registered);
        }
        Ok(())
    }

    /// Writes every locked extension back with its derived status.
    pub(super) async fn write(
        &self,
        conn: &mut AsyncPgConnection,
    ) -> Result<(), diesel::result::Error> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let n = self.rows.len();
        let mut source = Vec::with_capacity(n);
        let mut number = Vec::with_capacity(n);
        let mut name = Vec::with_capacity(n);
        let mut registered = Vec::with_capacity(n);
        let mut registered_seq = Vec::with_capacity(n);
        let mut reported = Vec::with_capacity(n);
        let mut reported_seq = Vec::with_capacity(n);
        let mut presence = Vec::with_capacity(n);
        let mut presence_seq = Vec::with_capacity(n);
        let mut last_seen = Vec::with_capacity(n);
        let mut status = Vec::with_capacity(n);
        for ((s, num), (r, st)) in &self.rows {
            source.push(s.as_str());
            number.push(num.as_str());
            name.push(r.name.as_deref());
            registered.push(r.registered);
            registered_seq.push(r.registered_seq);
            reported.push(r.reported_status.as_deref());
            reported_seq.push(r.reported_seq);
            presence.push(r.presence.as_deref());
            presence_seq.push(r.presence_seq);
            last_seen.push(r.last_seen);
            status.push(st.as_str());
        }
        Cached(
            diesel::sql_query(WRITE_EXTENSIONS)
                .bind::<Array<Text>, _>(source)
                .bind::<Array<Text>, _>(number)
                .bind::<Array<Nullable<Text>>, _>(name)
                .bind::<Array<Nullable<Bool>>, _>(registered)
                .bind::<Array<Nullable<BigInt>>, _>(registered_seq)
                .bind::<Array<Nullable<Text>>, _>(reported)
                .bind::<Array<Nullable<BigInt>>, _>(reported_seq)
                .bind::<Array<Nullable<Timestamptz>>, _>(last_seen)
                .bind::<Array<Text>, _>(status)
                .bind::<Array<Nullable<Text>>, _>(presence)
                .bind::<Array<Nullable<BigInt>>, _>(presence_seq),
        )
        .execute(conn)
        .await?;
        Ok(())
    }
}

const ENSURE_EXTENSIONS: &str = "INSERT INTO extensions (source, number)
     SELECT s, n FROM unnest($1::text[], $2::text[]) AS k(s, n) ORDER BY s, n
     ON CONFLICT (source, number) DO NOTHING";

const LOCK_EXTENSIONS: &str = "SELECT e.source, e.number, name, registered, registered_seq,
        reported_status, reported_seq, presence, presence_seq, last_seen
     FROM extensions e JOIN unnest($1::text[], $2::text[]) AS k(s, n)
       ON e.source = k.s AND e.number = k.n
     ORDER BY e.source, e.number
     FOR UPDATE OF e";

// Served by the partial index call_legs_live_by_extension.
const LIVE_LEGS: &str = "SELECT l.source, l.extension, l.state
     FROM call_legs l JOIN unnest($1::text[], $2::text[]) AS k(s, n)
       ON l.source = k.s AND l.extension = k.n
     WHERE l.state <> 'ended' AND l.extension IS NOT NULL";

const WRITE_EXTENSIONS: &str = "UPDATE extensions e SET name = u.name, registered = u.registered,
        registered_seq = u.registered_seq, reported_status = u.reported_status,
        reported_seq = u.reported_seq, last_seen = u.last_seen, status = u.status,
        presence = u.presence, presence_seq = u.presence_seq, updated_at = now()
     FROM unnest($1::text[], $2::text[], $3::text[], $4::bool[], $5::int8[], $6::text[],
                 $7::int8[], $8::timestamptz[], $9::text[], $10::text[], $11::int8[])
          AS u(source, number, name, registered, registered_seq, reported_status,
               reported_seq, last_seen, status, presence, presence_seq)
     WHERE e.source = u.source AND e.number = u.number";

/// An `extensions` row as loaded.
#[derive(QueryableByName)]
struct ExtDb {
    #[diesel(sql_type = Text)]
    source: String,
    #[diesel(sql_type = Text)]
    number: String,
    #[diesel(sql_type = Nullable<Text>)]
    name: Option<String>,
    #[diesel(sql_type = Nullable<Bool>)]
    registered: Option<bool>,
    #[diesel(sql_type = Nullable<BigInt>)]
    registered_seq: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    reported_status: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    reported_seq: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    presence: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    presence_seq: Option<i64>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    last_seen: Option<DateTime<Utc>>,
}

impl From<ExtDb> for ExtensionRow {
    fn from(r: ExtDb) -> Self {
        ExtensionRow {
            name: r.name,
            registered: r.registered,
            registered_seq: r.registered_seq,
            reported_status: r.reported_status,
            reported_seq: r.reported_seq,
            presence: r.presence,
            presence_seq: r.presence_seq,
            last_seen: r.last_seen,
        }
    }
}

/// A live leg of an extension.
#[derive(QueryableByName)]
struct LiveLeg {
    #[diesel(sql_type = Text)]
    source: String,
    #[diesel(sql_type = Text)]
    extension: String,
    #[diesel(sql_type = Text)]
    state: String,
}
