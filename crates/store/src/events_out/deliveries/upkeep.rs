//! Upkeep of the deliveries: endpoints failing for too long disabled, the
//! outbox pruned past its retention, the counts behind the gauges.

use std::time::Duration;

use diesel::sql_types::{BigInt, Bool, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// Disables the enabled endpoints whose every attempt has failed for at
/// least `after`. Returns their names.
pub async fn disable_failing(
    conn: &mut AsyncPgConnection,
    after: Duration,
) -> Result<Vec<String>, crate::Error> {
    let rows: Vec<Name> = diesel::sql_query(
        "UPDATE webhook_endpoints SET enabled = false, updated_at = now(),
            disabled_reason = 'failing since ' || to_char(failing_since AT TIME ZONE 'UTC',
                                                           'YYYY-MM-DD HH24:MI:SS') || ' UTC'
          WHERE enabled AND failing_since < now() - $1 * interval '1 ms'
          RETURNING name",
    )
    .bind::<BigInt, _>(i64::try_from(after.as_millis()).unwrap_or(i64::MAX))
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.name).collect())
}

/// Deliveries of one endpoint by state, for the metrics.
#[derive(Debug, Clone, QueryableByName)]
pub struct DeliveryStats {
    #[diesel(sql_type = Text)]
    pub endpoint: String,
    #[diesel(sql_type = Bool)]
    pub enabled: bool,
    #[diesel(sql_type = BigInt)]
    pub pending: i64,
    #[diesel(sql_type = BigInt)]
    pub failed: i64,
}

impl DeliveryStats {
    /// Every endpoint's pending and given-up deliveries.
    pub async fn load(conn: &mut AsyncPgConnection) -> Result<Vec<DeliveryStats>, crate::Error> {
        Ok(diesel::sql_query(
            "SELECT e.name AS endpoint, e.enabled,
                    count(*) FILTER (WHERE d.state = 'pending') AS pending,
                    count(*) FILTER (WHERE d.state = 'failed') AS failed
               FROM webhook_endpoints e LEFT JOIN webhook_deliveries d ON d.endpoint_id = e.id
              GROUP BY e.id ORDER BY e.name",
        )
        .load(conn)
        .await?)
    }
}

/// Deletes outbox events older than `retention` that no delivery still
/// waits for, with their deliveries (delivered, given up, or left by an
/// endpoint removed meanwhile), at most `limit` at a time. Returns how
/// many.
pub async fn prune(
    conn: &mut AsyncPgConnection,
    retention: Duration,
    limit: i64,
) -> Result<usize, crate::Error> {
    Ok(diesel::sql_query(
        "WITH o AS (
            DELETE FROM outbox WHERE seq IN (
              SELECT o.seq FROM outbox o
               WHERE o.created_at < now() - $1 * interval '1 ms'
                 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                                   JOIN webhook_endpoints e ON e.id = d.endpoint_id
                                  WHERE d.event_seq = o.seq AND d.state = 'pending')
               ORDER BY o.seq LIMIT $2)
            RETURNING seq),
          d AS (DELETE FROM webhook_deliveries WHERE event_seq IN (SELECT seq FROM o))
         SELECT 1 FROM o",
    )
    .bind::<BigInt, _>(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX))
    .bind::<BigInt, _>(limit)
    .execute(conn)
    .await?)
}
