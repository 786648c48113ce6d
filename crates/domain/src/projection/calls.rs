//! Calls with their legs and queues: lock, merge, write back; and which
//! missed call entries and queues the batch's calls touch.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::legs::{LegColumns, LegDb, LOAD_LEGS};
use super::queues::{QueueColumns, QueueDb, LOAD_QUEUES};
use super::zones::Zones;
use super::{csta, ensure_locked, unzip, Item, Key};
use crate::event::{CallStatus, Effect};
use crate::merge::{self, CallOutcome, CallRow, CstaRow, LegRow, QueueRow};
use crate::outbound::CallChange;
use crate::sql::Cached;

/// The legs of one call, by leg id.
pub(super) type Legs = BTreeMap<String, LegRow>;
/// The queues of one call, by queue.
pub(super) type Queues = BTreeMap<String, QueueRow>;

/// The calls of a batch, locked, with their legs and queues as loaded and
/// as merged.
pub(super) struct LockedCalls {
    calls: BTreeMap<Key, CallRow>,
    loaded_calls: BTreeMap<Key, CallRow>,
    legs: BTreeMap<Key, Legs>,
    loaded_legs: BTreeMap<Key, Legs>,
    queues: BTreeMap<Key, Queues>,
    loaded_queues: BTreeMap<Key, Queues>,
    /// Events applied per call, counted into `calls.events`.
    events: BTreeMap<Key, i32>,
    /// The uaCSTA reports of the batch, merged per uaCSTA call: written to
    /// `csta_calls` by a merging upsert, never to calls or legs.
    csta: BTreeMap<Key, Option<CstaRow>>,
}

impl LockedCalls {
    /// The keys of the locked calls, in order: the calls [`Self::write`]
    /// writes back.
    pub(super) fn keys(&self) -> impl Iterator<Item = &Key> {
        self.calls.keys()
    }

    /// Each call of the batch as loaded and as written, with its legs and
    /// queues (events out).
    pub(super) fn changes(&self, now: DateTime<Utc>) -> Vec<CallChange<'_>> {
        self.calls
            .iter()
            .filter_map(|(key, after)| {
                Some(CallChange {
                    source: &key.0,
                    call_id: &key.1,
                    before: self.loaded_calls.get(key)?,
                    after,
                    legs_before: self.loaded_legs.get(key),
                    legs_after: self.legs.get(key),
                    queues_before: self.loaded_queues.get(key),
                    queues_after: self.queues.get(key),
                    now,
                })
            })
            .collect()
    }

    /// Every leg of every call of the batch, after merging.
    pub(super) fn legs(&self) -> impl Iterator<Item = (&str, &LegRow)> {
        self.legs
            .iter()
            .flat_map(|((source, _), legs)| legs.values().map(move |l| (source.as_str(), l)))
    }

    /// `(source, queue)` of every queue of the batch's calls, before or
    /// after merging: the queues whose figures may have changed.
    pub(super) fn queue_keys(&self) -> BTreeSet<Key> {
        self.queues
            .iter()
            .chain(&self.loaded_queues)
            .flat_map(|((source, _), qs)| qs.keys().map(move |q| (source.clone(), q.clone())))
            .collect()
    }

    /// `(source, number)` of every missed call entry a call of the batch
    /// counts for differently after merging than before: its outside
    /// number, direction, start or outcome changed, and it had or has an
    /// outcome (a call that goes on unanswered counts for nothing).
    pub(super) fn missed_keys(&self) -> BTreeSet<Key> {
        let mut keys = BTreeSet::new();
        for (key, after) in &self.calls {
            let before = self.loaded_calls.get(key);
            let counts = |c: &CallRow| {
                (
                    merge::outside_number(c).map(str::to_string),
                    c.direction.clone(),
                    c.started_at,
                    c.outcome,
                )
            };
            let (b, a) = (before.map(counts), counts(after));
            if b.as_ref() == Some(&a) {
                continue;
            }
            for (number, _, _, outcome) in b.into_iter().chain([a]) {
                if let (Some(n), Some(_)) = (number, outcome) {
                    keys.insert((key.0.clone(), n));
                }
            }
        }
        keys
    }

    /// Merges the batch's call events into the locked calls, legs and
    /// queues, reading CDR times with `zones`.
    pub(super) fn merge(&mut self, items: &[Item<'_>], zones: &Zones) {
        for i in items {
            if let Effect::Call(u) = i.effect {
                let key = (i.source.to_string(), u.call_id.clone());
                *self.events.entry(key.clone()).or_default() += 1;
                let call = self.calls.entry(key.clone()).or_default();
                let legs = self.legs.entry(key.clone()).or_default();
                let queues = self.queues.entry(key).or_default();
                merge::apply_call(call, legs, queues, u, &zones.of(i.source));
            } else if let Effect::Csta(r) = i.effect {
                let key = (i.source.to_string(), r.call_id.clone());
                merge::merge_csta(self.csta.entry(key).or_default(), r);
            }
        }
    }

    /// Writes every call back, and the batch's uaCSTA reports.
    pub(super) async fn write(
        &self,
        conn: &mut AsyncPgConnection,
    ) -> Result<(), diesel::result::Error> {
        csta::write(conn, &self.csta).await?;
        if self.calls.is_empty() {
            return Ok(());
        }
        let mut w = CallColumns::default();
        for (key, row) in &self.calls {
            w.push(key, row, self.events.get(key).copied().unwrap_or(0));
        }
        w.write(conn).await?;
        Ok(())
    }

    /// Writes the new and changed legs (a Dialpad event touches one leg of
    /// a conversation that may have several), and every leg of a call whose
    /// start or outcome changed.
    pub(super) async fn write_changed_legs(
        &self,
        conn: &mut AsyncPgConnection,
    ) -> Result<(), diesel::result::Error> {
        let mut w = LegColumns::default();
        let copied = |c: &CallRow| (c.started_at, c.outcome);
        for (key, legs) in &self.legs {
            let Some(call) = self.calls.get(key) else {
                continue;
            };
            // Every leg when the call's start or outcome (copied beside
            // each leg) changed; else the new and changed ones.
            let all = self.loaded_calls.get(key).map(copied) != Some(copied(call));
            let before = self.loaded_legs.get(key);
            for (leg_id, row) in legs {
                if all || before.and_then(|b| b.get(leg_id)) != Some(row) {
                    w.push((&key.0, &key.1, leg_id), row, call);
                }
            }
        }
        if w.is_empty() {
            return Ok(());
        }
        w.write(conn).await
    }

    /// Writes the new and changed queue rows (facts or what is derived).
    pub(super) async fn write_changed_queues(
        &self,
        conn: &mut AsyncPgConnection,
    ) -> Result<(), diesel::result::Error> {
        let mut w = QueueColumns::default();
        for ((source, call_id), queues) in changed(&self.queues, &self.loaded_queues) {
            for (queue, row) in queues {
                w.push(source, call_id, queue, row);
            }
        }
        if w.is_empty() {
            return Ok(());
        }
        w.write(conn).await
    }
}

/// The rows of `now` (per call, by id) that are new or differ from
/// `loaded`, per call; calls without any left out.
fn changed<'a, R: PartialEq>(
    now: &'a BTreeMap<Key, BTreeMap<String, R>>,
    loaded: &'a BTreeMap<Key, BTreeMap<String, R>>,
) -> BTreeMap<&'a Key, Vec<(&'a String, &'a R)>> {
    now.iter()
        .map(|(call, rows)| {
            let before = loaded.get(call);
            let changed: Vec<_> = rows
                .iter()
                .filter(|(id, row)| before.and_then(|b| b.get(*id)) != Some(*row))
                .collect();
            (call, changed)
        })
        .filter(|(_, c)| !c.is_empty())
        .collect()
}

/// Locks every call the batch names, in key order (creating the missing
/// ones), and loads their legs and queues. Returns them.
pub(super) async fn lock(
    conn: &mut AsyncPgConnection,
    items: &[Item<'_>],
) -> Result<LockedCalls, diesel::result::Error> {
    let keys: BTreeSet<Key> = items
        .iter()
        .filter_map(|i| match i.effect {
            Effect::Call(u) => Some((i.source.to_string(), u.call_id.clone())),
            _ => None,
        })
        .collect();
    let mut locked = LockedCalls {
        calls: BTreeMap::new(),
        loaded_calls: BTreeMap::new(),
        legs: BTreeMap::new(),
        loaded_legs: BTreeMap::new(),
        queues: BTreeMap::new(),
        loaded_queues: BTreeMap::new(),
        events: BTreeMap::new(),
        csta: BTreeMap::new(),
    };
    if keys.is_empty() {
        return Ok(locked);
    }
    let (sources, ids) = unzip(&keys);
    let rows: Vec<CallDb> = ensure_locked(conn, (&sources, &ids), ENSURE_CALLS, LOCK_CALLS).await?;
    locked.calls = rows
        .into_iter()
        .map(|r| ((r.source.clone(), r.call_id.clone()), r.into()))
        .collect();
    locked.loaded_calls = locked.calls.clone();
    let legs: Vec<LegDb> = Cached(
        diesel::sql_query(LOAD_LEGS)
            .bind::<Array<Text>, _>(&sources)
            .bind::<Array<Text>, _>(&ids),
    )
    .load(conn)
    .await?;
    for r in legs {
        let key = (r.source.clone(), r.call_id.clone());
        let leg_id = r.leg_id.clone();
        locked.legs.entry(key).or_default().insert(leg_id, r.into());
    }
    locked.loaded_legs = locked.legs.clone();
    let queues: Vec<QueueDb> = Cached(
        diesel::sql_query(LOAD_QUEUES)
            .bind::<Array<Text>, _>(&sources)
            .bind::<Array<Text>, _>(&ids),
    )
    .load(conn)
    .await?;
    for r in queues {
        let key = (r.source.clone(), r.call_id.clone());
        let queue = r.queue.clone();
        locked
            .queues
            .entry(key)
            .or_default()
            .insert(queue, r.into());
    }
    locked.loaded_queues = locked.queues.clone();
    Ok(locked)
}

const ENSURE_CALLS: &str = "INSERT INTO calls (source, call_id, status)
     SELECT s, c, 'ringing' FROM unnest($1::text[], $2::text[]) AS k(s, c) ORDER BY s, c
     ON CONFLICT (source, call_id) DO NOTHING";

const LOCK_CALLS: &str = "SELECT c.source, c.call_id, status, direction, from_number, to_number,
        info_seq, started_at, answered_at, ended_at, talk_seconds, duration_seconds,
        disposition, recording_url, started_from_cdr, answered_from_cdr, failure_reason,
        failure_seq, outcome
     FROM calls c JOIN unnest($1::text[], $2::text[]) AS k(s, i)
       ON c.source = k.s AND c.call_id = k.i
     ORDER BY c.source, c.call_id
     FOR UPDATE OF c";

const WRITE_CALLS: &str = "UPDATE calls c SET status = u.status, direction = u.direction,
        from_number = u.from_number, to_number = u.to_number, info_seq = u.info_seq,
        started_at = u.started_at, answered_at = u.answered_at, ended_at = u.ended_at,
        talk_seconds = u.talk_seconds, duration_seconds = u.duration_seconds,
        disposition = u.disposition, recording_url = u.recording_url,
        events = c.events + u.events, started_from_cdr = u.started_from_cdr,
        answered_from_cdr = u.answered_from_cdr, failure_reason = u.failure_reason,
        failure_seq = u.failure_seq, outcome = u.outcome, updated_at = now()
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                 $7::int8[], $8::timestamptz[], $9::timestamptz[], $10::timestamptz[],
                 $11::int4[], $12::int4[], $13::text[], $14::text[], $15::int4[],
                 $16::bool[], $17::bool[], $18::text[], $19::int8[], $20::text[])
          AS u(source, call_id, status, direction, from_number, to_number, info_seq,
               started_at, answered_at, ended_at, talk_seconds, duration_seconds,
               disposition, recording_url, events, started_from_cdr, answered_from_cdr,
               failure_reason, failure_seq, outcome)
     WHERE c.source = u.source AND c.call_id = u.call_id";

/// A `calls` row as loaded.
#[derive(QueryableByName)]
struct CallDb {
    #[diesel(sql_type = Text)]
    source: String,
    #[diesel(sql_type = Text)]
    call_id: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Nullable<Text>)]
    direction: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    from_number: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    to_number: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    info_seq: Option<i64>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    started_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    answered_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    ended_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Integer>)]
    talk_seconds: Option<i32>,
    #[diesel(sql_type = Nullable<Integer>)]
    duration_seconds: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    disposition: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    recording_url: Option<String>,
    #[diesel(sql_type = Bool)]
    started_from_cdr: bool,
    #[diesel(sql_type = Bool)]
    answered_from_cdr: bool,
    #[diesel(sql_type = Nullable<Text>)]
    failure_reason: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    failure_seq: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    outcome: Option<String>,
}

impl From<CallDb> for CallRow {
    fn from(r: CallDb) -> Self {
        CallRow {
            status: CallStatus::parse(&r.status).unwrap_or(CallStatus::Ringing),
            direction: r.direction,
            from_number: r.from_number,
            to_number: r.to_number,
            info_seq: r.info_seq,
            started_at: r.started_at,
            answered_at: r.answered_at,
            ended_at: r.ended_at,
            started_from_cdr: r.started_from_cdr,
            answered_from_cdr: r.answered_from_cdr,
            talk_seconds: r.talk_seconds,
            duration_seconds: r.duration_seconds,
            disposition: r.disposition,
            recording_url: r.recording_url,
            failure_reason: r.failure_reason,
            failure_seq: r.failure_seq,
            outcome: r.outcome.as_deref().and_then(CallOutcome::parse),
        }
    }
}

/// Calls as column arrays, for one set-based UPDATE.
#[derive(Default)]
struct CallColumns {
    source: Vec<String>,
    call_id: Vec<String>,
    status: Vec<&'static str>,
    direction: Vec<Option<String>>,
    from: Vec<Option<String>>,
    to: Vec<Option<String>>,
    info_seq: Vec<Option<i64>>,
    started: Vec<Option<DateTime<Utc>>>,
    answered: Vec<Option<DateTime<Utc>>>,
    ended: Vec<Option<DateTime<Utc>>>,
    talk: Vec<Option<i32>>,
    duration: Vec<Option<i32>>,
    disposition: Vec<Option<String>>,
    recording: Vec<Option<String>>,
    events: Vec<i32>,
    started_from_cdr: Vec<bool>,
    answered_from_cdr: Vec<bool>,
    failure_reason: Vec<Option<String>>,
    failure_seq: Vec<Option<i64>>,
    outcome: Vec<Option<&'static str>>,
}

impl CallColumns {
    fn push(&mut self, (source, call_id): &Key, r: &CallRow, events: i32) {
        self.source.push(source.clone());
        self.call_id.push(call_id.clone());
        self.status.push(r.status.as_str());
        self.direction.push(r.direction.clone());
        self.from.push(r.from_number.clone());
        self.to.push(r.to_number.clone());
        self.info_seq.push(r.info_seq);
        self.started.push(r.started_at);
        self.answered.push(r.answered_at);
        self.ended.push(r.ended_at);
        self.talk.push(r.talk_seconds);
        self.duration.push(r.duration_seconds);
        self.disposition.push(r.disposition.clone());
        self.recording.push(r.recording_url.clone());
        self.events.push(events);
        self.started_from_cdr.push(r.started_from_cdr);
        self.answered_from_cdr.push(r.answered_from_cdr);
        self.failure_reason.push(r.failure_reason.clone());
        self.failure_seq.push(r.failure_seq);
        self.outcome.push(r.outcome.map(CallOutcome::as_str));
    }

    async fn write(self, conn: &mut AsyncPgConnection) -> Result<(), diesel::result::Error> {
        Cached(
            diesel::sql_query(WRITE_CALLS)
                .bind::<Array<Text>, _>(self.source)
                .bind::<Array<Text>, _>(self.call_id)
                .bind::<Array<Text>, _>(self.status)
                .bind::<Array<Nullable<Text>>, _>(self.direction)
                .bind::<Array<Nullable<Text>>, _>(self.from)
                .bind::<Array<Nullable<Text>>, _>(self.to)
                .bind::<Array<Nullable<BigInt>>, _>(self.info_seq)
                .bind::<Array<Nullable<Timestamptz>>, _>(self.started)
                .bind::<Array<Nullable<Timestamptz>>, _>(self.answered)
                .bind::<Array<Nullable<Timestamptz>>, _>(self.ended)
                .bind::<Array<Nullable<Integer>>, _>(self.talk)
                .bind::<Array<Nullable<Integer>>, _>(self.duration)
                .bind::<Array<Nullable<Text>>, _>(self.disposition)
                .bind::<Array<Nullable<Text>>, _>(self.recording)
                .bind::<Array<Integer>, _>(self.events)
                .bind::<Array<Bool>, _>(self.started_from_cdr)
                .bind::<Array<Bool>, _>(self.answered_from_cdr)
                .bind::<Array<Nullable<Text>>, _>(self.failure_reason)
                .bind::<Array<Nullable<BigInt>>, _>(self.failure_seq)
                .bind::<Array<Nullable<Text>>, _>(self.outcome),
        )
        .execute(conn)
        .await?;
        Ok(())
    }
}
