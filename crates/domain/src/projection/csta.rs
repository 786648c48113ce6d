//! uaCSTA call reports (`csta_calls`): a merging upsert, never touching
//! calls, legs or extensions.

use std::collections::BTreeMap;

use diesel::sql_types::{Array, BigInt, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::Key;
use crate::merge::CstaRow;
use crate::sql::Cached;

/// Upserts the batch's uaCSTA reports into `csta_calls`, in key order
/// (no deadlock between concurrent batches): a report replaces the row
/// only when it ranks higher (`call_over` final, else later sequence),
/// the same rule as [`crate::merge::merge_csta`], so any order converges.
pub(super) async fn write(
    conn: &mut AsyncPgConnection,
    csta: &BTreeMap<Key, Option<CstaRow>>,
) -> Result<(), diesel::result::Error> {
    let mut source = Vec::new();
    let mut call_id = Vec::new();
    let mut event = Vec::new();
    let mut seq = Vec::new();
    let mut extension = Vec::new();
    let mut ip = Vec::new();
    for ((s, c), row) in csta {
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
