//! The CDRs' local times (Yeastar `time_start`, the PBX's wall clock) as
//! instants, read in each source's IANA zone (`sources.timezone`) by
//! PostgreSQL, which has the zone database: one statement per batch that
//! has such times, none otherwise.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::sql_types::{Array, Text, Timestamp, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::Item;
use crate::event::Effect;
use crate::merge::Zone;
use crate::sql::Cached;

/// The instants of the batch's local times, per source.
#[derive(Debug, Default)]
pub(super) struct Zones {
    instants: BTreeMap<(String, NaiveDateTime), DateTime<Utc>>,
}

impl Zones {
    /// The clock of `source`.
    pub(super) fn of<'a>(&'a self, source: &'a str) -> SourceZone<'a> {
        SourceZone {
            zones: self,
            source,
        }
    }
}

/// One source's clock, as resolved for the batch.
pub(super) struct SourceZone<'a> {
    zones: &'a Zones,
    source: &'a str,
}

impl Zone for SourceZone<'_> {
    fn instant(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        self.zones
            .instants
            .get(&(self.source.to_string(), local))
            .copied()
    }
}

#[derive(QueryableByName)]
struct Resolved {
    #[diesel(sql_type = Text)]
    source: String,
    #[diesel(sql_type = Timestamp)]
    local: NaiveDateTime,
    #[diesel(sql_type = Timestamptz)]
    instant: DateTime<Utc>,
}

// A source without a row (cannot happen: events come from sources) reads
// UTC, like a source whose zone was never set.
const RESOLVE: &str = "SELECT k.s AS source, k.t AS local,
        (k.t AT TIME ZONE coalesce(s.timezone, 'UTC')) AS instant
     FROM unnest($1::text[], $2::timestamp[]) AS k(s, t)
     LEFT JOIN sources s ON s.name = k.s";

/// Resolves every CDR local time of the batch in its source's zone.
pub(super) async fn resolve(
    conn: &mut AsyncPgConnection,
    items: &[Item<'_>],
) -> Result<Zones, diesel::result::Error> {
    let mut wanted: Vec<(&str, NaiveDateTime)> = items
        .iter()
        .filter_map(|i| match i.effect {
            Effect::Call(u) => u.cdr_times.map(|t| (i.source, t.start_local)),
            _ => None,
        })
        .collect();
    if wanted.is_empty() {
        return Ok(Zones::default());
    }
    wanted.sort();
    wanted.dedup();
    let (sources, locals): (Vec<&str>, Vec<NaiveDateTime>) = wanted.into_iter().unzip();
    let rows: Vec<Resolved> = Cached(
        diesel::sql_query(RESOLVE)
            .bind::<Array<Text>, _>(sources)
            .bind::<Array<Timestamp>, _>(locals),
    )
    .load(conn)
    .await?;
    Ok(Zones {
        instants: rows
            .into_iter()
            .map(|r| ((r.source, r.local), r.instant))
            .collect(),
    })
}
