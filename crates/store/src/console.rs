//! The audit of the operators' console (board `/console`): each replay of
//! inbound events and each resend or recovery of deliveries, appended to
//! `console_actions` by the board ([`record`]) and listed by [`audit`].

use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;

/// What an operator did from the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// One dead event re-queued.
    Replay,
    /// Every dead event of a source re-queued.
    ReplayDead,
    /// One event sent to an endpoint again.
    Resend,
    /// An endpoint's given-up deliveries since a time sent again.
    Recover,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Replay => "replay",
            Action::ReplayDead => "replay_dead",
            Action::Resend => "resend",
            Action::Recover => "recover",
        }
    }
}

/// One audited action.
#[derive(Debug, Clone, Serialize, QueryableByName)]
pub struct ActionRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Timestamptz)]
    pub at: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    pub user_name: String,
    #[diesel(sql_type = Text)]
    pub action: String,
    #[diesel(sql_type = Text)]
    pub target: String,
    #[diesel(sql_type = BigInt)]
    pub count: i64,
}

/// Appends `user`'s `action` on `target`, which touched `count` rows.
pub async fn record(
    conn: &mut AsyncPgConnection,
    user: &str,
    action: Action,
    target: &str,
    count: i64,
) -> Result<(), crate::Error> {
    diesel::sql_query(
        "INSERT INTO console_actions (user_name, action, target, count) VALUES ($1, $2, $3, $4)",
    )
    .bind::<Text, _>(user)
    .bind::<Text, _>(action.as_str())
    .bind::<Text, _>(target)
    .bind::<BigInt, _>(count)
    .execute(conn)
    .await?;
    Ok(())
}

/// The latest `limit` actions, newest first.
pub async fn audit(
    conn: &mut AsyncPgConnection,
    limit: i64,
) -> Result<Vec<ActionRow>, crate::Error> {
    Ok(diesel::sql_query(
        "SELECT id, at, user_name, action, target, count FROM console_actions
          ORDER BY id DESC LIMIT $1",
    )
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?)
}
