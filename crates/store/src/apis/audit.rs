//! The audit of actions on calls (`call_actions`): the board records every
//! hang-up it was asked for, `worker audit` lists them.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;

use super::MAX_ANSWER_LEN;

/// Longest `detail` stored in the audit, in bytes.
pub const MAX_DETAIL_LEN: usize = 512;

/// How an action ended (`call_actions.outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The provider accepted it.
    Ok,
    /// The provider answered with an error.
    ProviderError,
    /// No answer within the board's timeout (the provider may have acted).
    Timeout,
    /// No connection to the provider.
    Unreachable,
    /// The board refused before asking the provider.
    Refused,
    /// The source has no usable API settings.
    NoApi,
    /// The leg had already ended.
    NotLive,
    /// The source's phone system cannot do the action (nothing was sent).
    Unavailable,
}

impl Outcome {
    pub const ALL: [Outcome; 8] = [
        Outcome::Ok,
        Outcome::ProviderError,
        Outcome::Timeout,
        Outcome::Unreachable,
        Outcome::Refused,
        Outcome::NoApi,
        Outcome::NotLive,
        Outcome::Unavailable,
    ];

    /// The name stored in `call_actions.outcome`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::ProviderError => "provider_error",
            Outcome::Timeout => "timeout",
            Outcome::Unreachable => "unreachable",
            Outcome::Refused => "refused",
            Outcome::NoApi => "no_api",
            Outcome::NotLive => "not_live",
            Outcome::Unavailable => "unavailable",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Outcome {
    type Err = String;

    fn from_str(s: &str) -> Result<Outcome, String> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| format!("unknown outcome {s:?}"))
    }
}

/// One action to record: on a call's leg (`call_id` and `leg_id`), or on
/// an extension (`extension`: presence, agent pause).
#[derive(Debug, Clone)]
pub struct NewAction<'a> {
    pub user_name: &'a str,
    pub source: &'a str,
    pub call_id: Option<&'a str>,
    pub leg_id: Option<&'a str>,
    pub extension: Option<&'a str>,
    /// `hangup`, `transfer`, `park`, ... (the CHECK of `call_actions.action`).
    pub action: &'a str,
    /// What was asked beyond the action (a transfer's target, a presence,
    /// a queue and reason); cut to [`MAX_DETAIL_LEN`] bytes.
    pub detail: Option<&'a str>,
    pub channel_id: Option<&'a str>,
    pub outcome: Outcome,
    /// Cut to [`MAX_ANSWER_LEN`] bytes (at a character boundary).
    pub provider_answer: Option<&'a str>,
    pub duration_ms: Option<i32>,
}

/// `s` cut to at most `max` bytes, at a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Records an action. (No `RETURNING`: the board may insert audit rows,
/// never read them.)
pub async fn record(
    conn: &mut AsyncPgConnection,
    a: &NewAction<'_>,
) -> Result<(), diesel::result::Error> {
    diesel::sql_query(
        "INSERT INTO call_actions (user_name, source, call_id, leg_id, channel_id, action,
                                   outcome, provider_answer, duration_ms, extension, detail)
         VALUES ($1, $2, $3, $4, $5, $9, $6, $7, $8, $10, $11)",
    )
    .bind::<Text, _>(a.user_name)
    .bind::<Text, _>(a.source)
    .bind::<Nullable<Text>, _>(a.call_id)
    .bind::<Nullable<Text>, _>(a.leg_id)
    .bind::<Nullable<Text>, _>(a.channel_id)
    .bind::<Text, _>(a.outcome.as_str())
    .bind::<Nullable<Text>, _>(a.provider_answer.map(|s| truncate(s, MAX_ANSWER_LEN)))
    .bind::<Nullable<Integer>, _>(a.duration_ms)
    .bind::<Text, _>(a.action)
    .bind::<Nullable<Text>, _>(a.extension)
    .bind::<Nullable<Text>, _>(a.detail.map(|s| truncate(s, MAX_DETAIL_LEN)))
    .execute(conn)
    .await?;
    Ok(())
}

/// An audited action, as `worker audit` shows it.
#[derive(Debug, Clone, Serialize, QueryableByName)]
pub struct ActionRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Timestamptz)]
    pub at: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    pub user_name: String,
    #[diesel(sql_type = Text)]
    pub source: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub call_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub leg_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub extension: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub detail: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub channel_id: Option<String>,
    #[diesel(sql_type = Text)]
    pub action: String,
    #[diesel(sql_type = Text)]
    pub outcome: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub provider_answer: Option<String>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub duration_ms: Option<i32>,
}

/// The newest `limit` actions (of `source` only, when given), newest first.
pub async fn audit(
    conn: &mut AsyncPgConnection,
    source: Option<&str>,
    limit: i64,
) -> Result<Vec<ActionRow>, diesel::result::Error> {
    diesel::sql_query(
        "SELECT id, at, user_name, source, call_id, leg_id, extension, detail, channel_id,
                action, outcome, provider_answer, duration_ms
           FROM call_actions
          WHERE $1::text IS NULL OR source = $1
          ORDER BY id DESC
          LIMIT $2",
    )
    .bind::<Nullable<Text>, _>(source)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_and_truncation() {
        for o in Outcome::ALL {
            assert_eq!(o.as_str().parse::<Outcome>().unwrap(), o);
        }
        assert!("pending".parse::<Outcome>().is_err());
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
