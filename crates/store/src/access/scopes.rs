//! API token scopes: the stream scope (`api_tokens.stream`) opens the event
//! stream (`GET /api/stream`) besides the read-only JSON API.

use diesel::sql_types::{Bool, Bytea, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::{digest, AccessError};

/// Gives API token `name` the stream scope (or takes it away).
pub async fn set_stream_scope(
    conn: &mut AsyncPgConnection,
    name: &str,
    stream: bool,
) -> Result<(), AccessError> {
    let n = diesel::sql_query("UPDATE api_tokens SET stream = $2 WHERE name = $1")
        .bind::<Text, _>(name)
        .bind::<Bool, _>(stream)
        .execute(conn)
        .await?;
    if n == 0 {
        return Err(AccessError::NoToken(name.to_string()));
    }
    Ok(())
}

/// Whether the valid (not revoked) API token `value` has the stream scope:
/// its name when it has. Call after [`super::token`] (which stamps its use).
pub async fn stream_scope(
    conn: &mut AsyncPgConnection,
    value: &str,
) -> Result<Option<String>, AccessError> {
    if !super::token_shaped(value) {
        return Ok(None);
    }
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        name: String,
    }
    let mut rows: Vec<Row> = diesel::sql_query(
        "SELECT name FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL AND stream",
    )
    .bind::<Bytea, _>(digest(value))
    .load(conn)
    .await?;
    Ok(rows.pop().map(|r| r.name))
}
