//! Calls and their legs: lock, merge, write back.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::{ensure_locked, unzip, Item, Key};
use crate::event::{CallStatus, Effect, LegState};
use crate::merge::{self, CallRow, CstaRow, LegRow};
use crate::sql::Cached;

/// The legs of one call, by leg id.
pub(super) type Legs = BTreeMap<String, LegRow>;

/// The calls of a batch, locked, with their legs as loaded and as merged.
pub(super) struct LockedCalls {
    calls: BTreeMap<Key, CallRow>,
    legs: BTreeMap<Key, Legs>,
    loaded_legs: BTreeMap<Key, Legs>,
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

    /// Every leg of every call of the batch, after merging.
    pub(super) fn legs(&self) -> impl Iterator<Item = (&str, &LegRow)> {
        self.legs
            .iter()
            .flat_map(|((source, _), legs)| legs.values().map(move |l| (source.as_str(), l)))
    }

    /// Merges the batch's call events into the locked calls and legs.
    pub(super) fn merge(&mut self, items: &[Item<'_>]) {
        for i in items {
            if let Effect::Call(u) = i.effect {
                let key = (i.source.to_string(), u.call_id.clone());
                *self.events.entry(key.clone()).or_default() += 1;
                let call = self.calls.entry(key.clone()).or_default();
                merge::apply_call(call, self.legs.entry(key).or_default(), u);
            } else if let Effect::Csta(r) = i.effect {
                let key = (i.source.to_string(), r.call_id.clone());
                merge::merge_csta(self.csta.entry(key).or_default(), r);
            }
        }
    }

    /// The legs that are new or changed since they were loaded (a Dialpad
    /// event touches one leg of a conversation that may have several).
    fn changed_legs(&self) -> BTreeMap<&Key, Vec<(&String, &LegRow)>> {
        self.legs
            .iter()
            .map(|(call, legs)| {
                let before = self.loaded_legs.get(call);
                let changed: Vec<_> = legs
                    .iter()
                    .filter(|(id, row)| before.and_then(|b| b.get(*id)) != Some(*row))
                    .collect();
                (call, changed)
            })
            .filter(|(_, c)| !c.is_empty())
            .collect()
    }

    /// Writes every call back, and the batch's uaCSTA reports.
    pub(super) async fn write(
        &self,
        conn: &mut AsyncPgConnection,
    ) -> Result<(), diesel::result::Error> {
        self.write_csta(conn).await?;
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

    /// Upserts the batch's uaCSTA reports into `csta_calls`, in key order
    /// (no deadlock between concurrent batches): a report replaces the row
    /// only when it ranks higher (`call_over` final, else later sequence),
    /// the same rule as [`merge::merge_csta`], so any order converges.
    async fn write_csta(&self, conn: &mut AsyncPgConnection) -> Result<(), diesel::result::Error> {
        let mut source = Vec::new();
        let mut call_id = Vec::new();
        let mut event = Vec::new();
        let mut seq = Vec::new();
        let mut extension = Vec::new();
        let mut ip = Vec::new();
        for ((s, c), row) in &self.csta {
            let Some(r) = row else { continue };
            source.push(s.as_str());
            call_id.push(c.as_str());
            event.push(r.csta_event.as_str());
            seq.push(r.csta_seq);
            extension.push(r.extension.as_deref());
            ip.push(r.ip_address.as_deref());
        }
        if source.is_empty() {
            return Ok(());
        }
        Cached(
            diesel::sql_query(WRITE_CSTA)
                .bind::<Array<Text>, _>(source)
                .bind::<Array<Text>, _>(call_id)
                .bind::<Array<Text>, _>(event)
                .bind::<Array<BigInt>, _>(seq)
                .bind::<Array<Nullable<Text>>, _>(extension)
                .bind::<Array<Nullable<Text>>, _>(ip),
        )
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Writes the new and changed legs.
    pub(super) async fn write_changed_legs(
        &self,
        conn: &mut AsyncPgConnection,
    ) -> Result<(), diesel::result::Error> {
        let mut w = LegColumns::default();
        for ((source, call_id), legs) in self.changed_legs() {
            for (leg_id, row) in legs {
                w.push(source, call_id, leg_id, row);
            }
        }
        if w.source.is_empty() {
            return Ok(());
        }
        w.write(conn).await
    }
}

/// Locks every call the batch names, in key order (creating the missing
/// ones), and loads their legs. Returns them.
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
        legs: BTreeMap::new(),
        loaded_legs: BTreeMap::new(),
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
    Ok(locked)
}

const ENSURE_CALLS: &str = "INSERT INTO calls (source, call_id, status)
     SELECT s, c, 'ringing' FROM unnest($1::text[], $2::text[]) AS k(s, c) ORDER BY s, c
     ON CONFLICT (source, call_id) DO NOTHING";

const LOCK_CALLS: &str = "SELECT c.source, c.call_id, status, direction, from_number, to_number,
        info_seq, started_at, answered_at, ended_at, talk_seconds, duration_seconds,
        disposition, recording_url
     FROM calls c JOIN unnest($1::text[], $2::text[]) AS k(s, i)
       ON c.source = k.s AND c.call_id = k.i
     ORDER BY c.source, c.call_id
     FOR UPDATE OF c";

const LOAD_LEGS: &str =
    "SELECT l.source, l.call_id, leg_id, kind, extension, party, channel_id, state, on_hold,
        hold_seq, started_at, answered_at, ended_at
     FROM call_legs l JOIN unnest($1::text[], $2::text[]) AS k(s, i)
       ON l.source = k.s AND l.call_id = k.i";

const WRITE_CALLS: &str = "UPDATE calls c SET status = u.status, direction = u.direction,
        from_number = u.from_number, to_number = u.to_number, info_seq = u.info_seq,
        started_at = u.started_at, answered_at = u.answered_at, ended_at = u.ended_at,
        talk_seconds = u.talk_seconds, duration_seconds = u.duration_seconds,
        disposition = u.disposition, recording_url = u.recording_url,
        events = c.events + u.events, updated_at = now()
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                 $7::int8[], $8::timestamptz[], $9::timestamptz[], $10::timestamptz[],
                 $11::int4[], $12::int4[], $13::text[], $14::text[], $15::int4[])
          AS u(source, call_id, status, direction, from_number, to_number, info_seq,
               started_at, answered_at, ended_at, talk_seconds, duration_seconds,
               disposition, recording_url, events)
     WHERE c.source = u.source AND c.call_id = u.call_id";

const WRITE_LEGS: &str = "INSERT INTO call_legs (source, call_id, leg_id, kind, extension, party,
        state, on_hold, hold_seq, started_at, answered_at, ended_at, channel_id)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                          $6::text[], $7::text[], $8::bool[], $9::int8[], $10::timestamptz[],
                          $11::timestamptz[], $12::timestamptz[], $13::text[])
     ON CONFLICT (source, call_id, leg_id) DO UPDATE SET
         kind = EXCLUDED.kind, extension = EXCLUDED.extension, party = EXCLUDED.party,
         channel_id = EXCLUDED.channel_id,
         state = EXCLUDED.state, on_hold = EXCLUDED.on_hold, hold_seq = EXCLUDED.hold_seq,
         started_at = EXCLUDED.started_at, answered_at = EXCLUDED.answered_at,
         ended_at = EXCLUDED.ended_at, updated_at = now()";

// The batch's rows are sorted by key (a BTreeMap), so concurrent upserts
// take row locks in one order.
const WRITE_CSTA: &str = "INSERT INTO csta_calls AS c (source, call_id, csta_event, csta_seq,
        extension, ip_address)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[], $6::text[])
     ON CONFLICT (source, call_id) DO UPDATE SET
         csta_event = EXCLUDED.csta_event, csta_seq = EXCLUDED.csta_seq,
         extension = EXCLUDED.extension, ip_address = EXCLUDED.ip_address, updated_at = now()
     WHERE (EXCLUDED.csta_event = 'call_over', EXCLUDED.csta_seq)
         > (c.csta_event = 'call_over', c.csta_seq)";

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
            talk_seconds: r.talk_seconds,
            duration_seconds: r.duration_seconds,
            disposition: r.disposition,
            recording_url: r.recording_url,
        }
    }
}

/// A `call_legs` row as loaded.
#[derive(QueryableByName)]
struct LegDb {
    #[diesel(sql_type = Text)]
    source: String,
    #[diesel(sql_type = Text)]
    call_id: String,
    #[diesel(sql_type = Text)]
    leg_id: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Nullable<Text>)]
    extension: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    party: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    channel_id: Option<String>,
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = Bool)]
    on_hold: bool,
    #[diesel(sql_type = Nullable<BigInt>)]
    hold_seq: Option<i64>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    started_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    answered_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    ended_at: Option<DateTime<Utc>>,
}

impl From<LegDb> for LegRow {
    fn from(r: LegDb) -> Self {
        LegRow {
            kind: r.kind,
            extension: r.extension,
            party: r.party,
            channel_id: r.channel_id,
            state: LegState::parse(&r.state).unwrap_or(LegState::Ringing),
            on_hold: r.on_hold,
            hold_seq: r.hold_seq,
            started_at: r.started_at,
            answered_at: r.answered_at,
            ended_at: r.ended_at,
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
                .bind::<Array<Integer>, _>(self.events),
        )
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// Legs as column arrays, for one set-based upsert.
#[derive(Default)]
struct LegColumns {
    source: Vec<String>,
    call_id: Vec<String>,
    leg_id: Vec<String>,
    kind: Vec<String>,
    extension: Vec<Option<String>>,
    party: Vec<Option<String>>,
    channel_id: Vec<Option<String>>,
    state: Vec<&'static str>,
    on_hold: Vec<bool>,
    hold_seq: Vec<Option<i64>>,
    started: Vec<Option<DateTime<Utc>>>,
    answered: Vec<Option<DateTime<Utc>>>,
    ended: Vec<Option<DateTime<Utc>>>,
}

impl LegColumns {
    fn push(&mut self, source: &str, call_id: &str, leg_id: &str, r: &LegRow) {
        self.source.push(source.to_string());
        self.call_id.push(call_id.to_string());
        self.leg_id.push(leg_id.to_string());
        self.kind.push(r.kind.clone());
        self.extension.push(r.extension.clone());
        self.party.push(r.party.clone());
        self.channel_id.push(r.channel_id.clone());
        self.state.push(r.state.as_str());
        self.on_hold.push(merge::shows_on_hold(r));
        self.hold_seq.push(r.hold_seq);
        self.started.push(r.started_at);
        self.answered.push(r.answered_at);
        self.ended.push(r.ended_at);
    }

    async fn write(self, conn: &mut AsyncPgConnection) -> Result<(), diesel::result::Error> {
        Cached(
            diesel::sql_query(WRITE_LEGS)
                .bind::<Array<Text>, _>(self.source)
                .bind::<Array<Text>, _>(self.call_id)
                .bind::<Array<Text>, _>(self.leg_id)
                .bind::<Array<Text>, _>(self.kind)
                .bind::<Array<Nullable<Text>>, _>(self.extension)
                .bind::<Array<Nullable<Text>>, _>(self.party)
                .bind::<Array<Text>, _>(self.state)
                .bind::<Array<Bool>, _>(self.on_hold)
                .bind::<Array<Nullable<BigInt>>, _>(self.hold_seq)
                .bind::<Array<Nullable<Timestamptz>>, _>(self.started)
                .bind::<Array<Nullable<Timestamptz>>, _>(self.answered)
                .bind::<Array<Nullable<Timestamptz>>, _>(self.ended)
                .bind::<Array<Nullable<Text>>, _>(self.channel_id),
        )
        .execute(conn)
        .await?;
        Ok(())
    }
}
