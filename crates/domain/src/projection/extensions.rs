//! Extensions: which ones a batch touches, lock, load the devices of those
//! registering, merge, derive status, write back.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::calls::LockedCalls;
use super::{ensure_locked, unzip, Item, Key};
use crate::event::{Effect, ExtensionStatus, LegState};
use crate::merge::{self, DeviceRow, ExtensionRow};
use crate::sql::Cached;

/// The extensions of a batch, locked, with the status each will show, and
/// the devices of those the batch registers as loaded.
pub(super) struct LockedExtensions {
    rows: BTreeMap<Key, (ExtensionRow, ExtensionStatus)>,
    loaded_devices: BTreeMap<Key, BTreeMap<String, DeviceRow>>,
    /// The status and presence of each row as loaded (events out).
    loaded: BTreeMap<Key, (String, Option<String>)>,
}

/// Every extension the batch names (in call legs, registrations, reported
/// statuses, agent events) or that a leg of one of its calls belongs to: a call that ends
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
            Effect::Agent(a) => {
                keys.insert((i.source.to_string(), a.agent.clone()));
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
            loaded_devices: BTreeMap::new(),
            loaded: BTreeMap::new(),
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
    let loaded = rows
        .iter()
        .map(|r| {
            let key = (r.source.clone(), r.number.clone());
            (key, (r.status.clone(), r.presence.clone()))
        })
        .collect();
    Ok(LockedExtensions {
        rows: rows
            .into_iter()
            .map(|r| {
                let key = (r.source.clone(), r.number.clone());
                (key, (r.into(), ExtensionStatus::Online))
            })
            .collect(),
        loaded_devices: BTreeMap::new(),
        loaded,
    })
}

impl LockedExtensions {
    /// Each locked extension as loaded `(status, presence)` and as it will
    /// be written.
    pub(super) fn changes(
        &self,
    ) -> impl Iterator<
        Item = (
            &Key,
            &(String, Option<String>),
            &ExtensionRow,
            ExtensionStatus,
        ),
    > {
        self.rows
            .iter()
            .filter_map(|(key, (row, status))| Some((key, self.loaded.get(key)?, row, *status)))
    }

    fn row(&mut self, source: &str, number: &str) -> &mut ExtensionRow {
        &mut self
            .rows
            .entry((source.to_string(), number.to_string()))
            .or_insert_with(|| (ExtensionRow::default(), ExtensionStatus::Online))
            .0
    }

    /// Loads every device of the extensions the batch registers (under
    /// their locks), so that their registration derives from all of them.
    pub(super) async fn load_devices(
        &mut self,
        conn: &mut AsyncPgConnection,
        items: &[Item<'_>],
    ) -> Result<(), diesel::result::Error> {
        let keys: BTreeSet<Key> = items
            .iter()
            .filter_map(|i| match i.effect {
                Effect::Registration { extension, .. } => {
                    Some((i.source.to_string(), extension.clone()))
                }
                _ => None,
            })
            .collect();
        if keys.is_empty() {
            return Ok(());
        }
        let (sources, numbers) = unzip(&keys);
        let rows: Vec<DeviceDb> = Cached(
            diesel::sql_query(LOAD_DEVICES)
                .bind::<Array<Text>, _>(&sources)
                .bind::<Array<Text>, _>(&numbers),
        )
        .load(conn)
        .await?;
        for k in keys {
            self.loaded_devices.entry(k).or_default();
        }
        for d in rows {
            let key = (d.source, d.number);
            let row = DeviceRow {
                registered: d.registered,
                seq: d.seq,
                at: d.at,
            };
            self.loaded_devices
                .entry(key)
                .or_default()
                .insert(d.kind, row);
        }
        for (key, devices) in &self.loaded_devices {
            if let Some((row, _)) = self.rows.get_mut(key) {
                row.devices.clone_from(devices);
            }
        }
        Ok(())
    }

    /// Merges the batch's extension facts: names, last seen and the legs'
    /// latest event time from call legs; registrations, reported statuses,
    /// presence, agents' names.
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
                            ext.leg_seen_at = ext.leg_seen_at.max(u.at);
                        }
                    }
                }
                Effect::Registration { extension, .. }
                | Effect::Reported { extension, .. }
                | Effect::Presence { extension, .. } => {
                    merge::merge_extension_fact(self.row(i.source, extension), i.effect)
                }
                Effect::Agent(a) => {
                    merge::merge_extension_fact(self.row(i.source, &a.agent), i.effect)
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
            *status = merge::extension_status(legs, row);
        }
        Ok(())
    }

    /// Writes every locked extension back with its derived status, and the
    /// devices that changed.
    pub(super) async fn write(
        &self,
        conn: &mut AsyncPgConnection,
    ) -> Result<(), diesel::result::Error> {
        if self.rows.is_empty() {
            return Ok(());
        }
        self.write_devices(conn).await?;
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
        let mut reported_at = Vec::with_capacity(n);
        let mut leg_seen_at = Vec::with_capacity(n);
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
            reported_at.push(r.reported_at);
            leg_seen_at.push(r.leg_seen_at);
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
                .bind::<Array<Nullable<BigInt>>, _>(presence_seq)
                .bind::<Array<Nullable<Timestamptz>>, _>(reported_at)
                .bind::<Array<Nullable<Timestamptz>>, _>(leg_seen_at),
        )
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Upserts the devices that are new or changed since loaded.
    async fn write_devices(
        &self,
        conn: &mut AsyncPgConnection,
    ) -> Result<(), diesel::result::Error> {
        let mut source = Vec::new();
        let mut number = Vec::new();
        let mut kind = Vec::new();
        let mut registered = Vec::new();
        let mut seq = Vec::new();
        let mut at = Vec::new();
        for (key, before) in &self.loaded_devices {
            let Some((row, _)) = self.rows.get(key) else {
                continue;
            };
            for (k, d) in &row.devices {
                if before.get(k) != Some(d) {
                    source.push(key.0.as_str());
                    number.push(key.1.as_str());
                    kind.push(k.as_str());
                    registered.push(d.registered);
                    seq.push(d.seq);
                    at.push(d.at);
                }
            }
        }
        if source.is_empty() {
            return Ok(());
        }
        Cached(
            diesel::sql_query(WRITE_DEVICES)
                .bind::<Array<Text>, _>(source)
                .bind::<Array<Text>, _>(number)
                .bind::<Array<Text>, _>(kind)
                .bind::<Array<Bool>, _>(registered)
                .bind::<Array<BigInt>, _>(seq)
                .bind::<Array<Timestamptz>, _>(at),
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
        reported_status, reported_seq, presence, presence_seq, last_seen, reported_at,
        leg_seen_at, status
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
        presence = u.presence, presence_seq = u.presence_seq, reported_at = u.reported_at,
        leg_seen_at = u.leg_seen_at, updated_at = now()
     FROM unnest($1::text[], $2::text[], $3::text[], $4::bool[], $5::int8[], $6::text[],
                 $7::int8[], $8::timestamptz[], $9::text[], $10::text[], $11::int8[],
                 $12::timestamptz[], $13::timestamptz[])
          AS u(source, number, name, registered, registered_seq, reported_status,
               reported_seq, last_seen, status, presence, presence_seq, reported_at,
               leg_seen_at)
     WHERE e.source = u.source AND e.number = u.number";

const LOAD_DEVICES: &str = "SELECT d.source, d.number, kind, registered, seq, at
     FROM extension_devices d JOIN unnest($1::text[], $2::text[]) AS k(s, n)
       ON d.source = k.s AND d.number = k.n";

// Only under the extensions' locks; rows sorted by key.
const WRITE_DEVICES: &str = "INSERT INTO extension_devices (source, number, kind, registered,
        seq, at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bool[], $5::int8[],
                          $6::timestamptz[])
     ON CONFLICT (source, number, kind) DO UPDATE SET
         registered = EXCLUDED.registered, seq = EXCLUDED.seq, at = EXCLUDED.at,
         updated_at = now()";

/// An `extension_devices` row as loaded.
#[derive(QueryableByName)]
struct DeviceDb {
    #[diesel(sql_type = Text)]
    source: String,
    #[diesel(sql_type = Text)]
    number: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Bool)]
    registered: bool,
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(sql_type = Timestamptz)]
    at: DateTime<Utc>,
}

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
    #[diesel(sql_type = Nullable<Timestamptz>)]
    reported_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    leg_seen_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Text)]
    status: String,
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
            reported_at: r.reported_at,
            leg_seen_at: r.leg_seen_at,
            devices: BTreeMap::new(),
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
