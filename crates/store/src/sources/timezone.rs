//! A source's time zone: the PBX's wall clock, in which its CDR times are
//! read and "today" begins on the board.

use super::*;

/// Sets the IANA time zone of source `name` (e.g. `Europe/Berlin`; `UTC`
/// is the default), checked against PostgreSQL's zone database (the one
/// that reads the times). Returns the zone as PostgreSQL names it.
pub async fn set_timezone(
    conn: &mut AsyncPgConnection,
    name: &str,
    zone: &str,
) -> Result<String, SourceError> {
    #[derive(QueryableByName)]
    struct Zone {
        #[diesel(sql_type = Text)]
        name: String,
    }
    let zone = zone.trim();
    // An exact name first, then any case (`europe/berlin`).
    let mut found: Vec<Zone> = diesel::sql_query(
        "SELECT name FROM pg_timezone_names WHERE name = $1 OR lower(name) = lower($1)
          ORDER BY name = $1 DESC, name LIMIT 1",
    )
    .bind::<Text, _>(zone)
    .load(conn)
    .await?;
    let zone = found
        .pop()
        .map(|z| z.name)
        .ok_or_else(|| SourceError::BadTimezone(zone.chars().take(64).collect()))?;
    let n = diesel::sql_query("UPDATE sources SET timezone = $2 WHERE name = $1")
        .bind::<Text, _>(name)
        .bind::<Text, _>(&zone)
        .execute(conn)
        .await?;
    if n == 0 {
        return Err(SourceError::NoSource(name.to_string()));
    }
    Ok(zone)
}
