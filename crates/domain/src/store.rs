//! The call/extension upsert logic against PostgreSQL.
//!
//! [`apply`] runs inside the worker's claiming transaction. It takes row
//! locks in one global order (calls by key, then extensions by key) so that
//! any number of workers can apply events of the same calls and extensions
//! at once without lost updates or deadlocks; merges the events into the
//! locked rows with [`crate::merge`]; writes them back with a few set-based
//! statements; and derives each touched extension's status from all of its
//! live legs, under the extension's lock, after its own leg writes.

use crate::db::Cached;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::event::{CallStatus, Effect, LegState};
use crate::merge::{self, CallRow, ExtensionRow, LegRow};

/// One parsed event to apply.
#[derive(Debug, Clone, Copy)]
pub struct Item<'a> {
    pub source: &'a str,
    pub received_at: DateTime<Utc>,
    pub effect: &'a Effect,
}

/// What [`apply`] changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ApplyStats {
    pub calls: usize,
    pub legs: usize,
    pub extensions: usize,
}

type Key = (String, String);

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
    #[diesel(sql_type = Nullable<Timestamptz>)]
    last_seen: Option<DateTime<Utc>>,
}

fn unzip(keys: &BTreeSet<Key>) -> (Vec<String>, Vec<String>) {
    keys.iter().cloned().unzip()
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
    T: QueryableByName<diesel::pg::Pg> + Send + 'static,
{
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

/// Applies `items` to calls, legs and extensions. Must run inside a
/// transaction (the worker's claiming one). Returns how many rows of each
/// kind were written.
pub async fn apply(
    conn: &mut AsyncPgConnection,
    items: &[Item<'_>],
) -> Result<ApplyStats, diesel::result::Error> {
    // 1. Every call the batch touches exists and is locked, in key order.
    let call_keys: BTreeSet<Key> = items
        .iter()
        .filter_map(|i| match i.effect {
            Effect::Call(u) => Some((i.source.to_string(), u.call_id.clone())),
            _ => None,
        })
        .collect();
    let mut calls: BTreeMap<Key, CallRow> = BTreeMap::new();
    let mut legs: BTreeMap<Key, BTreeMap<String, LegRow>> = BTreeMap::new();
    if !call_keys.is_empty() {
        let (srcs, ids) = unzip(&call_keys);
        let rows: Vec<CallDb> = ensure_locked(
            conn,
            (&srcs, &ids),
            "INSERT INTO calls (source, call_id, status)
             SELECT s, c, 'ringing' FROM unnest($1::text[], $2::text[]) AS k(s, c) ORDER BY s, c
             ON CONFLICT (source, call_id) DO NOTHING",
            "SELECT c.source, c.call_id, status, direction, from_number, to_number, info_seq,
                    started_at, answered_at, ended_at, talk_seconds, duration_seconds,
                    disposition, recording_url
             FROM calls c JOIN unnest($1::text[], $2::text[]) AS k(s, i)
               ON c.source = k.s AND c.call_id = k.i
             ORDER BY c.source, c.call_id
             FOR UPDATE OF c",
        )
        .await?;
        for r in rows {
            calls.insert(
                (r.source, r.call_id),
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
                },
            );
        }
        let rows: Vec<LegDb> = Cached(diesel::sql_query(
            "SELECT l.source, l.call_id, leg_id, kind, extension, party, state, on_hold, hold_seq,
                    started_at, answered_at, ended_at
             FROM call_legs l JOIN unnest($1::text[], $2::text[]) AS k(s, i)
               ON l.source = k.s AND l.call_id = k.i",
        )
        .bind::<Array<Text>, _>(&srcs)
        .bind::<Array<Text>, _>(&ids))
        .load(conn)
        .await?;
        for r in rows {
            legs.entry((r.source, r.call_id)).or_default().insert(
                r.leg_id,
                LegRow {
                    kind: r.kind,
                    extension: r.extension,
                    party: r.party,
                    state: LegState::parse(&r.state).unwrap_or(LegState::Ringing),
                    on_hold: r.on_hold,
                    hold_seq: r.hold_seq,
                    started_at: r.started_at,
                    answered_at: r.answered_at,
                    ended_at: r.ended_at,
                },
            );
        }
    }

    // 2. Merge the call events into the locked calls and legs, and write
    //    them back (legs only when new or changed: a Dialpad event touches
    //    one leg of a conversation that may have several).
    let loaded_legs = legs.clone();
    let mut event_counts: BTreeMap<Key, i32> = BTreeMap::new();
    for i in items {
        if let Effect::Call(u) = i.effect {
            let key = (i.source.to_string(), u.call_id.clone());
            *event_counts.entry(key.clone()).or_default() += 1;
            let call = calls.entry(key.clone()).or_default();
            let call_legs = legs.entry(key).or_default();
            merge::apply_call(call, call_legs, u);
        }
    }
    let mut stats = ApplyStats::default();
    if !calls.is_empty() {
        stats.calls = calls.len();
        write_calls(conn, &calls, &event_counts).await?;
    }
    let changed: BTreeMap<Key, BTreeMap<String, LegRow>> = legs
        .iter()
        .map(|(call, call_legs)| {
            let before = loaded_legs.get(call);
            let changed: BTreeMap<String, LegRow> = call_legs
                .iter()
                .filter(|(id, row)| before.and_then(|b| b.get(*id)) != Some(*row))
                .map(|(id, row)| (id.clone(), row.clone()))
                .collect();
            (call.clone(), changed)
        })
        .filter(|(_, c)| !c.is_empty())
        .collect();
    let leg_count: usize = changed.values().map(BTreeMap::len).sum();
    if leg_count > 0 {
        stats.legs = leg_count;
        write_legs(conn, &changed).await?;
    }

    // 3. Only then lock the extensions (after the calls, so the lock order
    //    is global; as late as possible, so concurrent batches sharing
    //    extensions overlap as much as they can). Every transaction that
    //    changes a leg of an extension derives its status under this lock,
    //    after its own leg writes: the last one to lock sees every leg.
    let mut ext_keys: BTreeSet<Key> = BTreeSet::new();
    for i in items {
        match i.effect {
            Effect::Call(u) => {
                for l in &u.legs {
                    if let Some(e) = &l.extension {
                        ext_keys.insert((i.source.to_string(), e.clone()));
                    }
                }
            }
            Effect::Registration { extension, .. } | Effect::Reported { extension, .. } => {
                ext_keys.insert((i.source.to_string(), extension.clone()));
            }
            Effect::Ignored => {}
        }
    }
    for ((source, _), call_legs) in &legs {
        for l in call_legs.values() {
            if let Some(e) = &l.extension {
                ext_keys.insert((source.clone(), e.clone()));
            }
        }
    }
    let mut exts: BTreeMap<Key, ExtensionRow> = BTreeMap::new();
    if !ext_keys.is_empty() {
        let (srcs, nums) = unzip(&ext_keys);
        let rows: Vec<ExtDb> = ensure_locked(
            conn,
            (&srcs, &nums),
            "INSERT INTO extensions (source, number)
             SELECT s, n FROM unnest($1::text[], $2::text[]) AS k(s, n) ORDER BY s, n
             ON CONFLICT (source, number) DO NOTHING",
            "SELECT e.source, e.number, name, registered, registered_seq, reported_status,
                    reported_seq, last_seen
             FROM extensions e JOIN unnest($1::text[], $2::text[]) AS k(s, n)
               ON e.source = k.s AND e.number = k.n
             ORDER BY e.source, e.number
             FOR UPDATE OF e",
        )
        .await?;
        for r in rows {
            exts.insert(
                (r.source, r.number),
                ExtensionRow {
                    name: r.name,
                    registered: r.registered,
                    registered_seq: r.registered_seq,
                    reported_status: r.reported_status,
                    reported_seq: r.reported_seq,
                    last_seen: r.last_seen,
                },
            );
        }
    }

    // 4. Merge extension facts (names, registration, reported status) and
    //    derive every touched extension's status from its live legs.
    for i in items {
        match i.effect {
            Effect::Call(u) => {
                for l in &u.legs {
                    if let Some(e) = &l.extension {
                        let ext = exts.entry((i.source.to_string(), e.clone())).or_default();
                        if l.extension_name.is_some() {
                            ext.name.clone_from(&l.extension_name);
                        }
                        ext.last_seen = ext.last_seen.max(Some(i.received_at));
                    }
                }
            }
            Effect::Registration {
                extension,
                registered,
                seq,
                at,
            } => {
                let ext = exts
                    .entry((i.source.to_string(), extension.clone()))
                    .or_default();
                merge::merge_registration(ext, *registered, *seq, *at);
            }
            Effect::Reported {
                extension,
                name,
                status,
                seq,
                at,
            } => {
                let ext = exts
                    .entry((i.source.to_string(), extension.clone()))
                    .or_default();
                merge::merge_reported(ext, name.as_deref(), status, *seq, *at);
            }
            Effect::Ignored => {}
        }
    }
    if !exts.is_empty() {
        stats.extensions = exts.len();
        write_extensions(conn, &exts).await?;
    }
    Ok(stats)
}

async fn write_calls(
    conn: &mut AsyncPgConnection,
    calls: &BTreeMap<Key, CallRow>,
    event_counts: &BTreeMap<Key, i32>,
) -> Result<(), diesel::result::Error> {
    let n = calls.len();
    let mut source = Vec::with_capacity(n);
    let mut call_id = Vec::with_capacity(n);
    let mut status = Vec::with_capacity(n);
    let mut direction = Vec::with_capacity(n);
    let mut from = Vec::with_capacity(n);
    let mut to = Vec::with_capacity(n);
    let mut info_seq = Vec::with_capacity(n);
    let mut started = Vec::with_capacity(n);
    let mut answered = Vec::with_capacity(n);
    let mut ended = Vec::with_capacity(n);
    let mut talk = Vec::with_capacity(n);
    let mut duration = Vec::with_capacity(n);
    let mut disposition = Vec::with_capacity(n);
    let mut recording = Vec::with_capacity(n);
    let mut events = Vec::with_capacity(n);
    for (key, r) in calls {
        let (s, c) = key;
        events.push(event_counts.get(key).copied().unwrap_or(0));
        source.push(s.clone());
        call_id.push(c.clone());
        status.push(r.status.as_str().to_string());
        direction.push(r.direction.clone());
        from.push(r.from_number.clone());
        to.push(r.to_number.clone());
        info_seq.push(r.info_seq);
        started.push(r.started_at);
        answered.push(r.answered_at);
        ended.push(r.ended_at);
        talk.push(r.talk_seconds);
        duration.push(r.duration_seconds);
        disposition.push(r.disposition.clone());
        recording.push(r.recording_url.clone());
    }
    Cached(
        diesel::sql_query(
            "UPDATE calls c SET status = u.status, direction = u.direction,
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
         WHERE c.source = u.source AND c.call_id = u.call_id",
        )
        .bind::<Array<Text>, _>(source)
        .bind::<Array<Text>, _>(call_id)
        .bind::<Array<Text>, _>(status)
        .bind::<Array<Nullable<Text>>, _>(direction)
        .bind::<Array<Nullable<Text>>, _>(from)
        .bind::<Array<Nullable<Text>>, _>(to)
        .bind::<Array<Nullable<BigInt>>, _>(info_seq)
        .bind::<Array<Nullable<Timestamptz>>, _>(started)
        .bind::<Array<Nullable<Timestamptz>>, _>(answered)
        .bind::<Array<Nullable<Timestamptz>>, _>(ended)
        .bind::<Array<Nullable<Integer>>, _>(talk)
        .bind::<Array<Nullable<Integer>>, _>(duration)
        .bind::<Array<Nullable<Text>>, _>(disposition)
        .bind::<Array<Nullable<Text>>, _>(recording)
        .bind::<Array<Integer>, _>(events),
    )
    .execute(conn)
    .await?;
    Ok(())
}

async fn write_legs(
    conn: &mut AsyncPgConnection,
    legs: &BTreeMap<Key, BTreeMap<String, LegRow>>,
) -> Result<(), diesel::result::Error> {
    let mut source = Vec::new();
    let mut call_id = Vec::new();
    let mut leg_id = Vec::new();
    let mut kind = Vec::new();
    let mut extension = Vec::new();
    let mut party = Vec::new();
    let mut state = Vec::new();
    let mut on_hold = Vec::new();
    let mut hold_seq = Vec::new();
    let mut started = Vec::new();
    let mut answered = Vec::new();
    let mut ended = Vec::new();
    for ((s, c), call_legs) in legs {
        for (l, r) in call_legs {
            source.push(s.clone());
            call_id.push(c.clone());
            leg_id.push(l.clone());
            kind.push(r.kind.clone());
            extension.push(r.extension.clone());
            party.push(r.party.clone());
            state.push(r.state.as_str().to_string());
            on_hold.push(merge::shows_on_hold(r));
            hold_seq.push(r.hold_seq);
            started.push(r.started_at);
            answered.push(r.answered_at);
            ended.push(r.ended_at);
        }
    }
    Cached(diesel::sql_query(
        "INSERT INTO call_legs (source, call_id, leg_id, kind, extension, party, state, on_hold,
                                hold_seq, started_at, answered_at, ended_at)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                              $6::text[], $7::text[], $8::bool[], $9::int8[], $10::timestamptz[],
                              $11::timestamptz[], $12::timestamptz[])
         ON CONFLICT (source, call_id, leg_id) DO UPDATE SET
             kind = EXCLUDED.kind, extension = EXCLUDED.extension, party = EXCLUDED.party,
             state = EXCLUDED.state, on_hold = EXCLUDED.on_hold, hold_seq = EXCLUDED.hold_seq,
             started_at = EXCLUDED.started_at, answered_at = EXCLUDED.answered_at,
             ended_at = EXCLUDED.ended_at, updated_at = now()",
    )
    .bind::<Array<Text>, _>(source)
    .bind::<Array<Text>, _>(call_id)
    .bind::<Array<Text>, _>(leg_id)
    .bind::<Array<Text>, _>(kind)
    .bind::<Array<Nullable<Text>>, _>(extension)
    .bind::<Array<Nullable<Text>>, _>(party)
    .bind::<Array<Text>, _>(state)
    .bind::<Array<Bool>, _>(on_hold)
    .bind::<Array<Nullable<BigInt>>, _>(hold_seq)
    .bind::<Array<Nullable<Timestamptz>>, _>(started)
    .bind::<Array<Nullable<Timestamptz>>, _>(answered)
    .bind::<Array<Nullable<Timestamptz>>, _>(ended))
    .execute(conn)
    .await?;
    Ok(())
}

async fn write_extensions(
    conn: &mut AsyncPgConnection,
    exts: &BTreeMap<Key, ExtensionRow>,
) -> Result<(), diesel::result::Error> {
    let mut source = Vec::new();
    let mut number = Vec::new();
    let mut name = Vec::new();
    let mut registered = Vec::new();
    let mut registered_seq = Vec::new();
    let mut reported = Vec::new();
    let mut reported_seq = Vec::new();
    let mut last_seen = Vec::new();
    for ((s, n), r) in exts {
        source.push(s.clone());
        number.push(n.clone());
        name.push(r.name.clone());
        registered.push(r.registered);
        registered_seq.push(r.registered_seq);
        reported.push(r.reported_status.clone());
        reported_seq.push(r.reported_seq);
        last_seen.push(r.last_seen);
    }
    // The shown status derives from every live leg of the extension (in any
    // call), which the locks taken above keep stable until commit.
    Cached(
        diesel::sql_query(
            "UPDATE extensions e SET name = u.name, registered = u.registered,
                registered_seq = u.registered_seq, reported_status = u.reported_status,
                reported_seq = u.reported_seq, last_seen = u.last_seen,
                status = CASE
                    WHEN EXISTS (SELECT 1 FROM call_legs l WHERE l.source = e.source
                                 AND l.extension = e.number AND l.state = 'incall') THEN 'incall'
                    WHEN EXISTS (SELECT 1 FROM call_legs l WHERE l.source = e.source
                                 AND l.extension = e.number AND l.state = 'ringing') THEN 'ringing'
                    WHEN u.registered IS FALSE THEN 'offline'
                    ELSE 'online' END,
                updated_at = now()
         FROM unnest($1::text[], $2::text[], $3::text[], $4::bool[], $5::int8[], $6::text[],
                     $7::int8[], $8::timestamptz[])
              AS u(source, number, name, registered, registered_seq, reported_status,
                   reported_seq, last_seen)
         WHERE e.source = u.source AND e.number = u.number",
        )
        .bind::<Array<Text>, _>(source)
        .bind::<Array<Text>, _>(number)
        .bind::<Array<Nullable<Text>>, _>(name)
        .bind::<Array<Nullable<Bool>>, _>(registered)
        .bind::<Array<Nullable<BigInt>>, _>(registered_seq)
        .bind::<Array<Nullable<Text>>, _>(reported)
        .bind::<Array<Nullable<BigInt>>, _>(reported_seq)
        .bind::<Array<Nullable<Timestamptz>>, _>(last_seen),
    )
    .execute(conn)
    .await?;
    Ok(())
}
