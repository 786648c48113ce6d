//! Call legs: loaded with their locked calls, written back when new or
//! changed, with their call's start and outcome copied beside them (the
//! history search by extension reads them from `call_legs_by_extension`
//! alone).

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::event::LegState;
use crate::merge::{self, CallOutcome, CallRow, LegRow};
use crate::sql::Cached;

pub(super) const LOAD_LEGS: &str =
    "SELECT l.source, l.call_id, leg_id, kind, extension, party, channel_id, state, on_hold,
        hold_seq, started_at, answered_at, ended_at
     FROM call_legs l JOIN unnest($1::text[], $2::text[]) AS k(s, i)
       ON l.source = k.s AND l.call_id = k.i";

const WRITE_LEGS: &str = "INSERT INTO call_legs (source, call_id, leg_id, kind, extension, party,
        state, on_hold, hold_seq, started_at, answered_at, ended_at, channel_id, call_start,
        call_outcome)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                          $6::text[], $7::text[], $8::bool[], $9::int8[], $10::timestamptz[],
                          $11::timestamptz[], $12::timestamptz[], $13::text[],
                          $14::timestamptz[], $15::text[])
     ON CONFLICT (source, call_id, leg_id) DO UPDATE SET
         kind = EXCLUDED.kind, extension = EXCLUDED.extension, party = EXCLUDED.party,
         channel_id = EXCLUDED.channel_id,
         state = EXCLUDED.state, on_hold = EXCLUDED.on_hold, hold_seq = EXCLUDED.hold_seq,
         started_at = EXCLUDED.started_at, answered_at = EXCLUDED.answered_at,
         ended_at = EXCLUDED.ended_at, call_start = EXCLUDED.call_start,
         call_outcome = EXCLUDED.call_outcome, updated_at = now()";

/// A `call_legs` row as loaded.
#[derive(QueryableByName)]
pub(super) struct LegDb {
    #[diesel(sql_type = Text)]
    pub(super) source: String,
    #[diesel(sql_type = Text)]
    pub(super) call_id: String,
    #[diesel(sql_type = Text)]
    pub(super) leg_id: String,
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

/// Legs as column arrays, for one set-based upsert.
#[derive(Default)]
pub(super) struct LegColumns {
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
    call_start: Vec<Option<DateTime<Utc>>>,
    call_outcome: Vec<Option<&'static str>>,
}

impl LegColumns {
    /// Whether no leg was pushed.
    pub(super) fn is_empty(&self) -> bool {
        self.source.is_empty()
    }

    /// Adds leg `leg_id` of call `call_id`, with the call's start and
    /// outcome.
    pub(super) fn push(
        &mut self,
        (source, call_id, leg_id): (&str, &str, &str),
        r: &LegRow,
        call: &CallRow,
    ) {
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
        self.call_start.push(call.started_at);
        self.call_outcome
            .push(call.outcome.map(CallOutcome::as_str));
    }

    pub(super) async fn write(
        self,
        conn: &mut AsyncPgConnection,
    ) -> Result<(), diesel::result::Error> {
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
                .bind::<Array<Nullable<Text>>, _>(self.channel_id)
                .bind::<Array<Nullable<Timestamptz>>, _>(self.call_start)
                .bind::<Array<Nullable<Text>>, _>(self.call_outcome),
        )
        .execute(conn)
        .await?;
        Ok(())
    }
}
