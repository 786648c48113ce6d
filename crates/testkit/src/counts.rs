//! Named counts on the test database, instead of `SELECT count(*)` written
//! out in every test: one [`Counter`] per thing tests count (events by
//! state, queue and result rows, calls, legs, extensions, sources, users,
//! sessions, tokens, actions...), all of them at once as [`Counts`], or one
//! of them narrowed by a condition of the test's own.

use std::time::Duration;

use anyhow::{Context, Result};
use diesel::sql_types::BigInt;
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;

use crate::{wait_until, TestDb};

/// One thing tests count, with its table and the rows it covers. Events
/// are counted on the `webhook_events` view (one row per stored event,
/// with its queue or result columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// Stored events, whatever their state.
    Events,
    /// Events not processed yet: due, retrying or dead.
    Pending,
    /// Events processed (applied or ignored).
    Processed,
    /// Events applied.
    Applied,
    /// Events processed as ignored (a type without effect).
    Ignored,
    /// Events with an error recorded: retrying, dead, or applied after a failure.
    Failed,
    /// Dead events (out of attempts).
    Dead,
    /// Rows of `event_queue` (events not processed yet).
    Queued,
    /// Rows of `event_results` (events processed).
    Results,
    /// Calls.
    Calls,
    /// Calls with status `active` (answered, not ended).
    ActiveCalls,
    /// Call events applied: the sum of `calls.events` (not a row count).
    CallEvents,
    /// Call legs.
    Legs,
    /// Call legs not ended.
    LiveLegs,
    /// Extensions.
    Extensions,
    /// Sources.
    Sources,
    /// Source secrets, revoked and expired ones included.
    Secrets,
    /// Source secrets usable now: neither revoked nor expired.
    ActiveSecrets,
    /// Board users.
    Users,
    /// Board sessions.
    Sessions,
    /// Failed board logins recorded for the rate limit.
    LoginFailures,
    /// API tokens.
    Tokens,
    /// Sources' API settings (`source_apis`).
    Apis,
    /// Audited actions on calls (`call_actions`).
    Actions,
}

impl Counter {
    /// Every counter, in [`Counts`]' order.
    pub const ALL: [Counter; 24] = [
        Counter::Events,
        Counter::Pending,
        Counter::Processed,
        Counter::Applied,
        Counter::Ignored,
        Counter::Failed,
        Counter::Dead,
        Counter::Queued,
        Counter::Results,
        Counter::Calls,
        Counter::ActiveCalls,
        Counter::CallEvents,
        Counter::Legs,
        Counter::LiveLegs,
        Counter::Extensions,
        Counter::Sources,
        Counter::Secrets,
        Counter::ActiveSecrets,
        Counter::Users,
        Counter::Sessions,
        Counter::LoginFailures,
        Counter::Tokens,
        Counter::Apis,
        Counter::Actions,
    ];

    /// Its field in [`Counts`].
    pub fn name(self) -> &'static str {
        match self {
            Counter::Events => "events",
            Counter::Pending => "pending",
            Counter::Processed => "processed",
            Counter::Applied => "applied",
            Counter::Ignored => "ignored",
            Counter::Failed => "failed",
            Counter::Dead => "dead",
            Counter::Queued => "queued",
            Counter::Results => "results",
            Counter::Calls => "calls",
            Counter::ActiveCalls => "active_calls",
            Counter::CallEvents => "call_events",
            Counter::Legs => "legs",
            Counter::LiveLegs => "live_legs",
            Counter::Extensions => "extensions",
            Counter::Sources => "sources",
            Counter::Secrets => "secrets",
            Counter::ActiveSecrets => "active_secrets",
            Counter::Users => "users",
            Counter::Sessions => "sessions",
            Counter::LoginFailures => "login_failures",
            Counter::Tokens => "tokens",
            Counter::Apis => "apis",
            Counter::Actions => "actions",
        }
    }

    /// `(table, what is counted, which rows)`.
    fn sql(self) -> (&'static str, &'static str, &'static str) {
        const ROWS: &str = "count(*)";
        match self {
            Counter::Events => ("webhook_events", ROWS, "true"),
            Counter::Pending => ("webhook_events", ROWS, "processed_at IS NULL"),
            Counter::Processed => ("webhook_events", ROWS, "processed_at IS NOT NULL"),
            Counter::Applied => ("webhook_events", ROWS, "outcome = 'applied'"),
            Counter::Ignored => ("webhook_events", ROWS, "outcome = 'ignored'"),
            Counter::Failed => ("webhook_events", ROWS, "last_error IS NOT NULL"),
            Counter::Dead => ("webhook_events", ROWS, "dead_at IS NOT NULL"),
            Counter::Queued => ("event_queue", ROWS, "true"),
            Counter::Results => ("event_results", ROWS, "true"),
            Counter::Calls => ("calls", ROWS, "true"),
            Counter::ActiveCalls => ("calls", ROWS, "status = 'active'"),
            Counter::CallEvents => ("calls", "coalesce(sum(events), 0)::int8", "true"),
            Counter::Legs => ("call_legs", ROWS, "true"),
            Counter::LiveLegs => ("call_legs", ROWS, "state <> 'ended'"),
            Counter::Extensions => ("extensions", ROWS, "true"),
            Counter::Sources => ("sources", ROWS, "true"),
            Counter::Secrets => ("source_secrets", ROWS, "true"),
            Counter::ActiveSecrets => (
                "source_secrets",
                ROWS,
                "revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())",
            ),
            Counter::Users => ("board_users", ROWS, "true"),
            Counter::Sessions => ("board_sessions", ROWS, "true"),
            Counter::LoginFailures => ("login_failures", ROWS, "true"),
            Counter::Tokens => ("api_tokens", ROWS, "true"),
            Counter::Apis => ("source_apis", ROWS, "true"),
            Counter::Actions => ("call_actions", ROWS, "true"),
        }
    }

    /// The statement counting this counter's rows that also match `filter`
    /// (SQL on its table), as a column `n`.
    fn query(self, filter: &str) -> String {
        let (table, what, rows) = self.sql();
        format!("SELECT {what} AS n FROM {table} WHERE ({rows}) AND ({filter})")
    }
}

/// Every [`Counter`] at one instant (one statement): each field is the
/// counter of the same name ([`Counter::name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, QueryableByName)]
pub struct Counts {
    #[diesel(sql_type = BigInt)]
    pub events: i64,
    #[diesel(sql_type = BigInt)]
    pub pending: i64,
    #[diesel(sql_type = BigInt)]
    pub processed: i64,
    #[diesel(sql_type = BigInt)]
    pub applied: i64,
    #[diesel(sql_type = BigInt)]
    pub ignored: i64,
    #[diesel(sql_type = BigInt)]
    pub failed: i64,
    #[diesel(sql_type = BigInt)]
    pub dead: i64,
    #[diesel(sql_type = BigInt)]
    pub queued: i64,
    #[diesel(sql_type = BigInt)]
    pub results: i64,
    #[diesel(sql_type = BigInt)]
    pub calls: i64,
    #[diesel(sql_type = BigInt)]
    pub active_calls: i64,
    #[diesel(sql_type = BigInt)]
    pub call_events: i64,
    #[diesel(sql_type = BigInt)]
    pub legs: i64,
    #[diesel(sql_type = BigInt)]
    pub live_legs: i64,
    #[diesel(sql_type = BigInt)]
    pub extensions: i64,
    #[diesel(sql_type = BigInt)]
    pub sources: i64,
    #[diesel(sql_type = BigInt)]
    pub secrets: i64,
    #[diesel(sql_type = BigInt)]
    pub active_secrets: i64,
    #[diesel(sql_type = BigInt)]
    pub users: i64,
    #[diesel(sql_type = BigInt)]
    pub sessions: i64,
    #[diesel(sql_type = BigInt)]
    pub login_failures: i64,
    #[diesel(sql_type = BigInt)]
    pub tokens: i64,
    #[diesel(sql_type = BigInt)]
    pub apis: i64,
    #[diesel(sql_type = BigInt)]
    pub actions: i64,
}

/// What the completion audit ([`TestDb::audit_completions`]) recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, QueryableByName)]
pub struct Completions {
    /// Results stored.
    #[diesel(sql_type = BigInt)]
    pub total: i64,
    /// Events they were stored for (distinct).
    #[diesel(sql_type = BigInt)]
    pub events: i64,
}

impl TestDb {
    /// Every counter at once.
    pub async fn counts(&self) -> Result<Counts> {
        let columns: Vec<String> = Counter::ALL
            .iter()
            .map(|c| {
                let (table, what, rows) = c.sql();
                format!("(SELECT {what} FROM {table} WHERE {rows}) AS {}", c.name())
            })
            .collect();
        let sql = format!("SELECT {}", columns.join(", "));
        let mut c = self.conn().await?;
        diesel::sql_query(sql)
            .get_result(&mut c)
            .await
            .context("reading the counts")
    }

    /// One counter.
    pub async fn count_of(&self, counter: Counter) -> Result<i64> {
        self.count(&counter.query("true")).await
    }

    /// One counter, narrowed to the rows that also match `filter` (SQL on
    /// the counter's table), e.g. `(Counter::Applied, "attempts = 1")`.
    pub async fn count_where(&self, counter: Counter, filter: &str) -> Result<i64> {
        self.count(&counter.query(filter)).await
    }

    /// Waits (at most `limit`) until the counts satisfy `done`; returns
    /// them. The error names `what`.
    pub async fn wait_counts(
        &self,
        limit: Duration,
        what: &str,
        done: impl Fn(&Counts) -> bool,
    ) -> Result<Counts> {
        wait_until(limit, what, || async { Ok(done(&self.counts().await?)) }).await?;
        self.counts().await
    }

    /// Waits (at most `limit`) until `counter` narrowed by `filter` (as in
    /// [`TestDb::count_where`]) equals `n`.
    pub async fn wait_count(
        &self,
        limit: Duration,
        counter: Counter,
        filter: &str,
        n: i64,
    ) -> Result<()> {
        let what = format!("{n} {} where {filter}", counter.name());
        wait_until(limit, &what, || async {
            Ok(self.count_where(counter, filter).await? == n)
        })
        .await
    }

    /// What the completion audit recorded (installed first with
    /// [`TestDb::audit_completions`]).
    pub async fn completions(&self) -> Result<Completions> {
        let mut c = self.conn().await?;
        diesel::sql_query(
            "SELECT count(*) AS total, count(DISTINCT event_id) AS events FROM completion_audit",
        )
        .get_result(&mut c)
        .await
        .context("reading the completion audit")
    }

    /// Sessions of this database LISTENing on `channel` (the worker on
    /// `switchboard_inbox`, the board on `switchboard_changes`).
    pub async fn listening(&self, channel: &str) -> Result<i64> {
        self.count(&format!(
            "SELECT count(*) AS n FROM pg_stat_activity
              WHERE datname = current_database() AND query LIKE 'LISTEN%{channel}%'"
        ))
        .await
    }

    /// How many tables hold `needle` in any row and column (as text):
    /// proof that a secret is stored nowhere in plaintext.
    pub async fn tables_containing(&self, needle: &str) -> Result<i64> {
        self.count(&format!(
            "SELECT count(*) AS n FROM information_schema.tables t
              WHERE t.table_schema = 'public' AND t.table_type = 'BASE TABLE'
                AND query_to_xml(format('SELECT * FROM %I', t.table_name), true, false, '')::text
                    LIKE '%{needle}%'"
        ))
        .await
    }
}
