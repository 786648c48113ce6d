//! Each source's last arrival: stamped by ingest after each batch, shown
//! by `worker stats`.

use super::*;

const STAMP_RECEIVED: &str = "UPDATE sources SET last_received_at = now()
     WHERE name = ANY($1) AND (last_received_at IS NULL OR last_received_at < now())";

/// Records that `names` just received events. Returns the rows updated.
pub async fn stamp_received(
    conn: &mut AsyncPgConnection,
    names: &[String],
) -> Result<usize, crate::Error> {
    Ok(conn
        .transaction::<_, diesel::result::Error, _>(async |c| {
            diesel::sql_query(STAMP_RECEIVED)
                .bind::<Array<Text>, _>(names)
                .execute(c)
                .await
        })
        .await?)
}

/// The last event received from a source (kept by ingest to the second).
#[derive(Debug, Clone, serde::Serialize, QueryableByName)]
pub struct SourceActivity {
    #[diesel(sql_type = Text)]
    pub source: String,
    #[diesel(sql_type = Bool)]
    pub enabled: bool,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_received_at: Option<DateTime<Utc>>,
}

/// Lists every source with its last arrival. Returns them by name.
pub async fn activity(conn: &mut AsyncPgConnection) -> Result<Vec<SourceActivity>, crate::Error> {
    Ok(diesel::sql_query(
        "SELECT name AS source, enabled, last_received_at FROM sources ORDER BY name",
    )
    .load(conn)
    .await?)
}
