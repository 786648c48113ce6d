//! Operator commands: sources and their secrets, the extension board.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::schema::{calls, extensions, source_secrets, sources, webhook_events};
use domain::Provider;

/// Errors of the operator commands, worded for the person who typed them.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("source {0:?} does not exist")]
    NoSource(String),
    #[error("source {0:?} already exists with provider {1}")]
    ProviderMismatch(String, String),
    #[error("invalid source name {0:?}: use 1-63 of a-z, 0-9, '-' and '_', starting with a letter or digit")]
    BadName(String),
    #[error("a {0} source needs at least one --secret")]
    SecretRequired(Provider),
    #[error("no active secret of {0:?} matches {1:?}")]
    NoSecret(String, String),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'_')
}

/// Creates a source with its secrets. Re-running it for an existing source
/// of the same provider adds the secrets not yet there (idempotent).
/// Returns whether the source was created.
pub async fn add_source(
    conn: &mut AsyncPgConnection,
    name: &str,
    provider: Provider,
    secrets: &[String],
) -> Result<bool, AdminError> {
    if !valid_name(name) {
        return Err(AdminError::BadName(name.to_string()));
    }
    if secrets.is_empty() && provider != Provider::Dialpad {
        return Err(AdminError::SecretRequired(provider));
    }
    conn.transaction(async |conn| {
        let inserted = diesel::insert_into(sources::table)
            .values((
                sources::name.eq(name),
                sources::provider.eq(provider.as_str()),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        if inserted == 0 {
            let existing: String = sources::table
                .find(name)
                .select(sources::provider)
                .first(conn)
                .await?;
            if existing != provider.as_str() {
                return Err(AdminError::ProviderMismatch(name.to_string(), existing));
            }
        }
        for s in secrets {
            insert_secret(conn, name, s).await?;
        }
        Ok(inserted == 1)
    })
    .await
}

async fn insert_secret(
    conn: &mut AsyncPgConnection,
    source: &str,
    secret: &str,
) -> Result<(), diesel::result::Error> {
    diesel::insert_into(source_secrets::table)
        .values((
            source_secrets::source.eq(source),
            source_secrets::secret.eq(secret),
        ))
        .on_conflict((source_secrets::source, source_secrets::secret))
        .do_update()
        .set(source_secrets::revoked_at.eq(None::<DateTime<Utc>>))
        .execute(conn)
        .await?;
    Ok(())
}

/// Adds (or re-activates) a secret of an existing source, for rotation.
pub async fn add_secret(
    conn: &mut AsyncPgConnection,
    name: &str,
    secret: &str,
) -> Result<(), AdminError> {
    let exists: i64 = sources::table
        .filter(sources::name.eq(name))
        .count()
        .get_result(conn)
        .await?;
    if exists == 0 {
        return Err(AdminError::NoSource(name.to_string()));
    }
    insert_secret(conn, name, secret).await?;
    Ok(())
}

/// Revokes the active secrets of a source that start with `prefix` (the
/// form `source list` shows). Returns how many were revoked.
pub async fn revoke_secret(
    conn: &mut AsyncPgConnection,
    name: &str,
    prefix: &str,
) -> Result<usize, AdminError> {
    let active: Vec<(i64, String)> = source_secrets::table
        .filter(source_secrets::source.eq(name))
        .filter(source_secrets::revoked_at.is_null())
        .select((source_secrets::id, source_secrets::secret))
        .load(conn)
        .await?;
    let ids: Vec<i64> = active
        .into_iter()
        .filter(|(_, s)| !prefix.is_empty() && s.starts_with(prefix))
        .map(|(id, _)| id)
        .collect();
    if ids.is_empty() {
        return Err(AdminError::NoSecret(name.to_string(), prefix.to_string()));
    }
    let n = diesel::update(source_secrets::table.filter(source_secrets::id.eq_any(&ids)))
        .set(source_secrets::revoked_at.eq(diesel::dsl::now))
        .execute(conn)
        .await?;
    Ok(n)
}

/// Enables or disables a source (a disabled source's webhooks get 404).
pub async fn set_enabled(
    conn: &mut AsyncPgConnection,
    name: &str,
    enabled: bool,
) -> Result<(), AdminError> {
    let n = diesel::update(sources::table.find(name))
        .set(sources::enabled.eq(enabled))
        .execute(conn)
        .await?;
    if n == 0 {
        return Err(AdminError::NoSource(name.to_string()));
    }
    Ok(())
}

/// Shows the start of a secret, never all of it.
pub fn mask_secret(s: &str) -> String {
    let shown: String = s.chars().take(4).collect();
    format!("{shown}… ({} chars)", s.chars().count())
}

/// One line of `source list`.
#[derive(Debug, Clone)]
pub struct SourceLine {
    pub name: String,
    pub provider: String,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    /// Masked active secrets.
    pub secrets: Vec<String>,
}

/// Lists the sources with their active secrets masked.
pub async fn list_sources(conn: &mut AsyncPgConnection) -> Result<Vec<SourceLine>, AdminError> {
    let rows: Vec<(String, String, bool, DateTime<Utc>)> = sources::table
        .order(sources::name)
        .select((
            sources::name,
            sources::provider,
            sources::enabled,
            sources::created_at,
        ))
        .load(conn)
        .await?;
    let secrets: Vec<(String, String)> = source_secrets::table
        .filter(source_secrets::revoked_at.is_null())
        .order(source_secrets::id)
        .select((source_secrets::source, source_secrets::secret))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(name, provider, enabled, created_at)| SourceLine {
            secrets: secrets
                .iter()
                .filter(|(s, _)| *s == name)
                .map(|(_, secret)| mask_secret(secret))
                .collect(),
            name,
            provider,
            enabled,
            created_at,
        })
        .collect())
}

/// Number of events not yet processed nor dead (due now or later).
pub async fn pending_count(conn: &mut AsyncPgConnection) -> Result<i64, AdminError> {
    Ok(webhook_events::table
        .filter(webhook_events::processed_at.is_null())
        .filter(webhook_events::dead_at.is_null())
        .count()
        .get_result(conn)
        .await?)
}

/// Which dead events `replay` re-queues. Empty filters with `all: false`
/// select nothing.
#[derive(Debug, Clone, Default)]
pub struct ReplayFilter {
    pub ids: Vec<i64>,
    pub source: Option<String>,
    pub event_type: Option<String>,
    pub all: bool,
}

/// Re-queues dead events matching `filter`: they become pending again with
/// their attempts reset (their last error is kept for reference). Returns
/// how many were re-queued.
pub async fn replay(
    conn: &mut AsyncPgConnection,
    filter: &ReplayFilter,
) -> Result<usize, AdminError> {
    use webhook_events::dsl as w;
    if !filter.all
        && filter.ids.is_empty()
        && filter.source.is_none()
        && filter.event_type.is_none()
    {
        return Ok(0);
    }
    conn.transaction(async |conn| {
        let mut q = w::webhook_events
            .filter(w::dead_at.is_not_null())
            .select(w::id)
            .into_boxed();
        if !filter.ids.is_empty() {
            q = q.filter(w::id.eq_any(filter.ids.clone()));
        }
        if let Some(s) = &filter.source {
            q = q.filter(w::source.eq(s.clone()));
        }
        if let Some(t) = &filter.event_type {
            q = q.filter(w::event_type.eq(t.clone()));
        }
        let ids: Vec<i64> = q.load(conn).await?;
        if ids.is_empty() {
            return Ok(0);
        }
        let n = diesel::update(
            w::webhook_events
                .filter(w::id.eq_any(&ids))
                .filter(w::dead_at.is_not_null()),
        )
        .set((
            w::dead_at.eq(None::<DateTime<Utc>>),
            w::next_attempt_at.eq(None::<DateTime<Utc>>),
            w::attempts.eq(0),
        ))
        .execute(conn)
        .await?;
        Ok(n)
    })
    .await
}

/// Pending events of one source and type.
#[derive(Debug, Clone, serde::Serialize, QueryableByName)]
pub struct PendingGroup {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub source: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub event_type: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub count: i64,
    #[diesel(sql_type = diesel::sql_types::Double)]
    pub oldest_age_seconds: f64,
}

/// A failing (retrying or dead) event.
#[derive(Debug, Clone, serde::Serialize, QueryableByName)]
pub struct FailingEvent {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub source: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub event_type: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub attempts: i32,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub dead: bool,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>)]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub last_error: String,
}

/// The last event received from a source (kept by ingest to the second).
#[derive(Debug, Clone, serde::Serialize, QueryableByName)]
pub struct SourceActivity {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub source: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub enabled: bool,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>)]
    pub last_received_at: Option<DateTime<Utc>>,
}

#[derive(QueryableByName)]
struct Totals {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pending: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Double>)]
    lag_seconds: Option<f64>,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    retrying: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    dead: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    processed_last_minute: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    processed_last_hour: i64,
}

/// Everything `worker stats` shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Stats {
    /// Events waiting to be processed (retrying ones included, dead ones not).
    pub pending: i64,
    /// Age of the oldest pending event, seconds (0 when none).
    pub lag_seconds: f64,
    pub processed_last_minute: i64,
    pub processed_last_hour: i64,
    /// Failed at least once, to be retried.
    pub retrying: i64,
    /// Failed `max-attempts` times: kept, not retried until replayed.
    pub dead: i64,
    pub pending_by_type: Vec<PendingGroup>,
    pub recent_errors: Vec<FailingEvent>,
    pub sources: Vec<SourceActivity>,
}

/// Gathers the inbox statistics. Returns them for display or JSON.
pub async fn stats(conn: &mut AsyncPgConnection) -> Result<Stats, AdminError> {
    let t: Totals = diesel::sql_query(
        "SELECT
           (SELECT count(*) FROM webhook_events WHERE processed_at IS NULL AND dead_at IS NULL) AS pending,
           (SELECT extract(epoch FROM now() - min(received_at))::float8 FROM webhook_events
             WHERE processed_at IS NULL AND dead_at IS NULL) AS lag_seconds,
           (SELECT count(*) FROM webhook_events
             WHERE processed_at IS NULL AND last_error IS NOT NULL AND dead_at IS NULL) AS retrying,
           (SELECT count(*) FROM webhook_events
             WHERE processed_at IS NULL AND last_error IS NOT NULL AND dead_at IS NOT NULL) AS dead,
           (SELECT count(*) FROM webhook_events WHERE processed_at > now() - interval '1 minute') AS processed_last_minute,
           (SELECT count(*) FROM webhook_events WHERE processed_at > now() - interval '1 hour') AS processed_last_hour",
    )
    .get_result(conn)
    .await?;
    let pending_by_type: Vec<PendingGroup> = diesel::sql_query(
        "SELECT source, coalesce(event_type, '(not parsed yet)') AS event_type, count(*) AS count,
                extract(epoch FROM now() - min(received_at))::float8 AS oldest_age_seconds
         FROM webhook_events WHERE processed_at IS NULL AND dead_at IS NULL
         GROUP BY 1, 2 ORDER BY count DESC, 1, 2",
    )
    .load(conn)
    .await?;
    let recent_errors: Vec<FailingEvent> = diesel::sql_query(
        "SELECT id, source, event_type, attempts, dead_at IS NOT NULL AS dead, next_attempt_at,
                last_error
         FROM webhook_events WHERE processed_at IS NULL AND last_error IS NOT NULL
         ORDER BY id DESC LIMIT 5",
    )
    .load(conn)
    .await?;
    let sources: Vec<SourceActivity> = diesel::sql_query(
        "SELECT name AS source, enabled, last_received_at FROM sources ORDER BY name",
    )
    .load(conn)
    .await?;
    Ok(Stats {
        pending: t.pending,
        lag_seconds: t.lag_seconds.unwrap_or(0.0).max(0.0),
        processed_last_minute: t.processed_last_minute,
        processed_last_hour: t.processed_last_hour,
        retrying: t.retrying,
        dead: t.dead,
        pending_by_type,
        recent_errors,
        sources,
    })
}

/// Renders stats as the human table of `worker stats`.
pub fn render_stats(s: &Stats) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "pending {}   lag {:.1}s   processed last minute {}   last hour {}   retrying {}   dead {}\n\n",
        s.pending, s.lag_seconds, s.processed_last_minute, s.processed_last_hour, s.retrying, s.dead
    ));
    out.push_str(&format!(
        "{:<20} {:<28} {:>9} {:>12}\n",
        "SOURCE", "PENDING EVENT TYPE", "COUNT", "OLDEST (s)"
    ));
    if s.pending_by_type.is_empty() {
        out.push_str("(nothing pending)\n");
    }
    for g in &s.pending_by_type {
        out.push_str(&format!(
            "{:<20} {:<28} {:>9} {:>12.1}\n",
            g.source, g.event_type, g.count, g.oldest_age_seconds
        ));
    }
    out.push('\n');
    out.push_str(&format!(
        "{:<20} {:<8} {}\n",
        "SOURCE", "ENABLED", "LAST RECEIVED"
    ));
    for a in &s.sources {
        out.push_str(&format!(
            "{:<20} {:<8} {}\n",
            a.source,
            a.enabled,
            a.last_received_at.map_or_else(
                || "never".to_string(),
                |t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
            )
        ));
    }
    if !s.recent_errors.is_empty() {
        out.push_str("\nRECENT ERRORS\n");
        for e in &s.recent_errors {
            let mut err = e.last_error.replace('\n', " ");
            if err.chars().count() > 100 {
                err = err.chars().take(100).collect::<String>() + "…";
            }
            out.push_str(&format!(
                "#{:<10} {:<16} {:<22} attempts {:<3} {:<8} {}\n",
                e.id,
                e.source,
                e.event_type.as_deref().unwrap_or("-"),
                e.attempts,
                if e.dead { "dead" } else { "retrying" },
                err
            ));
        }
    }
    out
}

/// Deletes events processed before `older_than` ago (and, with
/// `include_dead`, dead events that died before then) in batches of `batch`
/// rows, each its own short transaction. Returns how many were deleted.
pub async fn prune(
    conn: &mut AsyncPgConnection,
    older_than: std::time::Duration,
    include_dead: bool,
    batch: i64,
) -> Result<u64, AdminError> {
    let mut total = 0u64;
    let mut conditions = vec!["processed_at < now() - make_interval(secs => $1)"];
    if include_dead {
        conditions.push("dead_at < now() - make_interval(secs => $1)");
    }
    for cond in conditions {
        loop {
            let n = diesel::sql_query(format!(
                "DELETE FROM webhook_events WHERE id IN (
                     SELECT id FROM webhook_events WHERE {cond}
                     LIMIT $2 FOR UPDATE SKIP LOCKED)"
            ))
            .bind::<diesel::sql_types::Double, _>(older_than.as_secs_f64())
            .bind::<diesel::sql_types::BigInt, _>(batch)
            .execute(conn)
            .await?;
            total += n as u64;
            if (n as i64) < batch {
                break;
            }
        }
    }
    Ok(total)
}

/// Renders the extension board (and the most recent calls) as text.
pub async fn board(
    conn: &mut AsyncPgConnection,
    source: Option<&str>,
) -> Result<String, AdminError> {
    let mut q = extensions::table
        .select((
            extensions::source,
            extensions::number,
            extensions::name,
            extensions::status,
            extensions::last_seen,
        ))
        .order((extensions::source, extensions::number))
        .into_boxed();
    if let Some(s) = source {
        q = q.filter(extensions::source.eq(s.to_string()));
    }
    type ExtLine = (
        String,
        String,
        Option<String>,
        String,
        Option<DateTime<Utc>>,
    );
    let exts: Vec<ExtLine> = q.load(conn).await?;
    let mut cq = calls::table
        .select((
            calls::source,
            calls::call_id,
            calls::status,
            calls::direction,
            calls::from_number,
            calls::to_number,
            calls::recording_url,
        ))
        .order(calls::id.desc())
        .limit(5)
        .into_boxed();
    if let Some(s) = source {
        cq = cq.filter(calls::source.eq(s.to_string()));
    }
    type CallLine = (
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let recent: Vec<CallLine> = cq.load(conn).await?;
    let mut out = String::new();
    out.push_str(&format!(
        "{:<16} {:<18} {:<16} {:<8} {}\n",
        "SOURCE", "EXTENSION", "NAME", "STATUS", "LAST SEEN"
    ));
    if exts.is_empty() {
        out.push_str("(no extensions yet)\n");
    }
    for (s, n, name, st, seen) in exts {
        out.push_str(&format!(
            "{:<16} {:<18} {:<16} {:<8} {}\n",
            s,
            n,
            name.unwrap_or_else(|| "-".into()),
            st,
            seen.map_or_else(|| "-".into(), |t| t.format("%H:%M:%S").to_string())
        ));
    }
    out.push('\n');
    out.push_str(&format!(
        "{:<16} {:<20} {:<8} {:<9} {:<14} {:<14} {}\n",
        "SOURCE", "CALL", "STATUS", "DIRECTION", "FROM", "TO", "RECORDING"
    ));
    if recent.is_empty() {
        out.push_str("(no calls yet)\n");
    }
    for (s, c, st, d, f, t, r) in recent {
        let dash = || "-".to_string();
        out.push_str(&format!(
            "{:<16} {:<20} {:<8} {:<9} {:<14} {:<14} {}\n",
            s,
            c,
            st,
            d.unwrap_or_else(dash),
            f.unwrap_or_else(dash),
            t.unwrap_or_else(dash),
            r.unwrap_or_else(dash)
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_masks() {
        assert!(valid_name("pbx-1"));
        assert!(valid_name("dialpad_main"));
        assert!(!valid_name("PBX"));
        assert!(!valid_name("-x"));
        assert!(!valid_name(""));
        assert!(!valid_name("a/b"));
        let m = mask_secret("abcdefghijkl");
        assert_eq!(m, "abcd… (12 chars)");
        assert!(!m.contains("efgh"));
    }
}
