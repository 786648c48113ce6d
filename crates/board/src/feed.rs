//! The change feed: a dedicated connection LISTENs on the worker's
//! channel ([`store::changes::CHANNEL`], through [`store::listen`]); each
//! notification names the extensions and calls a committed batch changed.
//! The feed re-reads those rows (several notifications' at once, under
//! load) and hands them to the hub. It loads everything on (re)connect and
//! on a resync notification, so nothing that happened while it was not
//! listening is missed.
//!
//! Through a failover: the LISTEN connection fails (or its heartbeat goes
//! unanswered, see [`store::listen`]), the hub turns stale (pages say
//! "reconnecting"), the next connection reaches the new primary, and the
//! reload makes a new snapshot. Every read has a deadline ([`READ_WITHIN`]):
//! a read stuck on a vanished server ends the round instead of the feed.
//! `switchboard_board_feed_up` is 1 while the feed listens, else 0.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use domain::projection::read;
use store::changes::{self, Notice, CHANNEL};
use store::listen::{ListenError, Subscriber};
use store::{Access, PgPool};

use crate::callcentre::follow::Follower;
use crate::callcentre::load::{self, Named};
use crate::hub::Hub;

/// The longest a reload or a re-read may take: they read a few hundred
/// rows at most, in milliseconds; a read stuck on a vanished server ends
/// the round, and the page resyncs from the next host.
pub const READ_WITHIN: Duration = Duration::from_secs(5);

/// Why the feed could not apply what it heard.
#[derive(Debug, thiserror::Error)]
enum FeedError {
    #[error("database: {0}")]
    Store(#[from] store::Error),
}

/// Runs the feed for the life of the process: LISTEN, load everything,
/// then apply each notification's changes; on any failure, reconnect with
/// backoff (and load everything again).
pub async fn run(url: String, pool: PgPool, hub: Arc<Hub>) {
    // At zero from the start, so that rates and alerts see the series.
    metrics::counter!("switchboard_board_feed_failures_total").increment(0);
    metrics::gauge!("switchboard_board_feed_up").set(0.0);
    let cc = Follower::spawn(pool.clone(), hub.clone());
    store::listen::listen(&url, CHANNEL, Feed { pool, hub, cc }).await
}

/// The feed's side of the LISTEN connection.
struct Feed {
    pool: PgPool,
    hub: Arc<Hub>,
    /// Re-reads the call centre's rows, off the feed's path.
    cc: Follower,
}

impl Subscriber for Feed {
    type Error = FeedError;

    async fn listening(&mut self) -> Result<(), FeedError> {
        reload(&self.pool, &self.hub).await?;
        metrics::gauge!("switchboard_board_feed_up").set(1.0);
        tracing::info!(channel = CHANNEL, "change feed listening");
        Ok(())
    }

    async fn notified(&mut self, payloads: Vec<String>) -> Result<(), FeedError> {
        metrics::counter!("switchboard_board_notifications_total").increment(payloads.len() as u64);
        let mut exts = BTreeSet::new();
        let mut calls = BTreeSet::new();
        let mut named = Named::default();
        let mut resync = false;
        for p in &payloads {
            match changes::decode_notice(p) {
                Ok(Notice::Changes(c)) => {
                    exts.extend(c.extensions);
                    calls.extend(c.calls);
                    named.queues.extend(c.queues);
                    named.agents.extend(c.agents);
                    named.missed.extend(c.missed);
                }
                Ok(Notice::Resync) => resync = true,
                Err(e) => {
                    tracing::warn!(error = %e, "unreadable change notification; reloading everything");
                    resync = true;
                }
            }
        }
        if resync {
            reload(&self.pool, &self.hub).await
        } else {
            let started = std::time::Instant::now();
            let applied = apply(&self.pool, &self.hub, &self.cc, exts, calls, named).await;
            metrics::histogram!("switchboard_board_feed_read_seconds")
                .record(started.elapsed().as_secs_f64());
            applied
        }
    }

    fn interrupted(&mut self, error: &ListenError<FeedError>, retry_in: Duration) {
        metrics::counter!("switchboard_board_feed_failures_total").increment(1);
        metrics::gauge!("switchboard_board_feed_up").set(0.0);
        self.hub.stale();
        tracing::warn!(error = %error, retry_in_ms = retry_in.as_millis() as u64, "change feed interrupted; the board shows what it had");
    }
}

/// Loads every card and the recent calls into the hub.
async fn reload(pool: &PgPool, hub: &Hub) -> Result<(), FeedError> {
    let recent = hub_recent(hub);
    let (cards, calls, cc) = store::run(
        pool,
        READ_WITHIN,
        "reloading the board",
        Access::Read,
        async |c| {
            let cards = read::cards(c, None).await?;
            let calls = read::recent_calls(c, None, recent).await?;
            let cc = load::all(c).await?;
            Ok((cards, calls, cc))
        },
    )
    .await?;
    hub.set_callcentre(cc);
    hub.replace(cards, calls);
    Ok(())
}

fn hub_recent(hub: &Hub) -> i64 {
    i64::try_from(hub.recent_limit()).unwrap_or(i64::MAX)
}

/// Re-reads the changed extensions (and those with a leg in a changed
/// call: one query, [`read::changed_cards`]) and the changed calls, and
/// applies them (the cards go out first); then hands the queues, agents and
/// missed calls `named`, and the agents among the re-read extensions, to
/// the call centre's follower (`follow`).
async fn apply(
    pool: &PgPool,
    hub: &Hub,
    cc: &Follower,
    exts: BTreeSet<(String, String)>,
    calls: BTreeSet<(String, String)>,
    mut named: Named,
) -> Result<(), FeedError> {
    let calls: Vec<_> = calls.into_iter().collect();
    let (cards, calls, exts) = store::run(
        pool,
        READ_WITHIN,
        "re-reading changes",
        Access::Read,
        async |c| {
            let exts: Vec<_> = exts.into_iter().collect();
            let cards = if exts.is_empty() && calls.is_empty() {
                Vec::new()
            } else {
                read::changed_cards(c, &exts, &calls).await?
            };
            let calls = if calls.is_empty() {
                Vec::new()
            } else {
                read::calls(c, &calls).await?
            };
            // The extensions re-read: those named and those with a leg in
            // a changed call.
            let exts: BTreeSet<_> = cards
                .iter()
                .map(|card| (card.extension.source.clone(), card.extension.number.clone()))
                .collect();
            Ok((cards, calls, exts))
        },
    )
    .await?;
    hub.apply(cards, calls);
    // Only an extension the board knows as an agent can change an agent (a
    // new agent is named in `a` when its status is first reported).
    named.extensions = hub.agents_among(&exts);
    cc.follow(named);
    Ok(())
}
