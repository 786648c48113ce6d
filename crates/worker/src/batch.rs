//! One batch in one transaction: claim pending events, parse them, apply
//! what they say to the projections, record each event's outcome. Either
//! all of it commits or none of it does, so every effect happens once. The
//! batch announces the calls and extensions it wrote on the change feed
//! ([`store::changes`]) and writes the normalized events of what changed to
//! the outbox ([`store::events_out`]) in the same transaction: listeners
//! hear of a batch, and integrators of its changes, only if it commits.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use diesel_async::{AsyncConnection, AsyncPgConnection};
use domain::projection::{self, Changed, Item};
use domain::{Effect, Envelope, ParseError, Parsed, Provider};
use futures_util::FutureExt;
use store::inbox::{self, Claimed, Outcome};
use store::{changes, events_out};

use crate::{retry, WorkerConfig};

/// What one batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BatchReport {
    pub claimed: usize,
    pub applied: usize,
    pub ignored: usize,
    pub failed: usize,
    pub dead: usize,
}

impl std::ops::AddAssign for BatchReport {
    fn add_assign(&mut self, r: Self) {
        self.claimed += r.claimed;
        self.applied += r.applied;
        self.ignored += r.ignored;
        self.failed += r.failed;
        self.dead += r.dead;
    }
}

/// Which events a batch claims.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Claim {
    /// Up to this many pending events that are due, oldest first.
    Next(i64),
    /// This one event, if still pending.
    One(i64),
}

/// Why one event could not be parsed.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("no provider recorded for source {0:?}")]
    NoProvider(String),
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("panic while parsing: {0}")]
    ParsePanic(String),
}

/// Why applying a batch failed: its transaction rolled back.
#[derive(Debug, thiserror::Error)]
pub enum ApplyFailure {
    #[error("applying failed: {0}")]
    Database(#[source] store::Error),
    #[error("panic while applying: {0}")]
    Panic(String),
}

/// Why a batch did not commit.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BatchError {
    /// Applying failed: the ids of the batch, to be retried one by one.
    #[error("{cause}")]
    Apply { ids: Vec<i64>, cause: ApplyFailure },
    /// Claiming or completing failed: the database is the problem.
    #[error(transparent)]
    Store(#[from] store::Error),
}

impl From<diesel::result::Error> for BatchError {
    fn from(e: diesel::result::Error) -> Self {
        BatchError::Store(e.into())
    }
}

/// What a committed batch did, for the report and the metrics.
pub(crate) struct Committed {
    pub report: BatchReport,
    pub outcomes: Vec<(i64, Outcome)>,
    pub claim_secs: f64,
    pub apply_secs: f64,
    /// Deliveries written leased to this process, to send now.
    pub handed_over: Vec<events_out::Pushed>,
}

/// Claims, parses, applies and completes one batch in one transaction.
/// Returns what it did once committed.
pub(crate) async fn run(
    conn: &mut AsyncPgConnection,
    cfg: &WorkerConfig,
    what: Claim,
    scratch: &mut Scratch,
    hand_over: Option<events_out::HandOver>,
) -> Result<Committed, BatchError> {
    let started = Instant::now();
    conn.transaction::<Committed, BatchError, _>(async |conn| {
        let claimed = claim(conn, what).await?;
        let claim_secs = started.elapsed().as_secs_f64();
        let parsed: Vec<_> = claimed.iter().map(parse).collect();
        let sorted = sort(cfg, &claimed, &parsed);
        // Completed first (it commits or rolls back with the rest): the
        // extension rows the projections lock last are then held only until
        // the commit, so concurrent batches wait on each other less.
        inbox::complete(conn, &sorted.outcomes).await?;
        let changed = apply(conn, &sorted.items)
            .await
            .map_err(|cause| BatchError::Apply {
                ids: claimed.iter().map(|c| c.id).collect(),
                cause,
            })?;
        // The normalized events of what changed, and their deliveries:
        // committed with the changes or not at all.
        let accepted = sorted.items.iter().map(|i| i.received_at).min();
        let handed_over = events_out::write(
            conn,
            &changed.events,
            accepted,
            &mut scratch.payloads,
            hand_over,
        )
        .await?;
        scratch.trim();
        // One notification per batch, delivered on commit only.
        changes::notify(conn, &changed).await?;
        Ok(Committed {
            report: sorted.report,
            outcomes: sorted.outcomes,
            claim_secs,
            apply_secs: started.elapsed().as_secs_f64() - claim_secs,
            handed_over,
        })
    })
    .await
}

/// Buffers a claim loop keeps from batch to batch.
#[derive(Default)]
pub(crate) struct Scratch {
    /// The text of the batch's outbox payloads.
    payloads: Vec<u8>,
}

impl Scratch {
    /// The most a buffer keeps between batches.
    const KEEP: usize = 1 << 20;

    /// Lets a buffer an unusual batch grew go.
    fn trim(&mut self) {
        if self.payloads.capacity() > Self::KEEP {
            self.payloads = Vec::new();
        }
    }
}

/// Records, in its own transaction, that event `id` failed alone with
/// `cause` (its batch was retried event by event and it failed again).
/// Returns the outcomes recorded (none when it is no longer pending).
pub(crate) async fn fail_alone(
    conn: &mut AsyncPgConnection,
    cfg: &WorkerConfig,
    id: i64,
    cause: &ApplyFailure,
) -> Result<Committed, store::Error> {
    conn.transaction::<Committed, store::Error, _>(async |conn| {
        let claimed = inbox::claim_ids(conn, &[id]).await?;
        let mut report = BatchReport {
            claimed: claimed.len(),
            ..Default::default()
        };
        let mut outcomes = Vec::new();
        for c in &claimed {
            let o = retry::failed(cfg, c, None, cause.to_string());
            count_failure(&mut report, &o);
            tracing::warn!(id = c.id, source = %c.source, error = %cause, "event failed");
            outcomes.push((c.id, o));
        }
        inbox::complete(conn, &outcomes).await?;
        Ok(Committed {
            report,
            outcomes,
            claim_secs: 0.0,
            apply_secs: 0.0,
            handed_over: Vec::new(),
        })
    })
    .await
}

async fn claim(conn: &mut AsyncPgConnection, what: Claim) -> Result<Vec<Claimed>, store::Error> {
    match what {
        Claim::Next(n) => inbox::claim(conn, n).await,
        Claim::One(id) => inbox::claim_ids(conn, &[id]).await,
    }
}

/// Parses one claimed event with its provider's parser. A panic in a parser
/// is this event's failure, never the batch's.
fn parse(c: &Claimed) -> Result<Parsed, EventError> {
    let provider: Provider = c
        .provider
        .as_deref()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| EventError::NoProvider(c.source.clone()))?;
    let env = Envelope {
        id: c.id,
        received_at: c.received_at,
    };
    match std::panic::catch_unwind(AssertUnwindSafe(|| domain::parse(provider, &c.body, env))) {
        Ok(parsed) => Ok(parsed?),
        Err(panic) => Err(EventError::ParsePanic(panic_message(&*panic))),
    }
}

/// The batch sorted: what to apply, and every event's outcome if it does.
struct Sorted<'a> {
    items: Vec<Item<'a>>,
    outcomes: Vec<(i64, Outcome)>,
    report: BatchReport,
}

/// Sorts the parsed events: effects to apply, events to ignore, failures
/// (retried or dead).
fn sort<'a>(
    cfg: &WorkerConfig,
    claimed: &'a [Claimed],
    parsed: &'a [Result<Parsed, EventError>],
) -> Sorted<'a> {
    let mut s = Sorted {
        items: Vec::with_capacity(claimed.len()),
        outcomes: Vec::with_capacity(claimed.len()),
        report: BatchReport {
            claimed: claimed.len(),
            ..Default::default()
        },
    };
    for (c, p) in claimed.iter().zip(parsed) {
        let span = tracing::info_span!("event", id = c.id, source = %c.source, event_type = tracing::field::Empty);
        let _g = span.enter();
        let outcome = match p {
            Ok(p) => {
                span.record("event_type", p.event_type.as_str());
                for note in &p.notes {
                    tracing::warn!("{note}");
                }
                let event_type = p.event_type.clone();
                if matches!(p.effect, Effect::Ignored) {
                    s.report.ignored += 1;
                    Outcome::Ignored { event_type }
                } else {
                    s.report.applied += 1;
                    s.items.push(Item {
                        source: &c.source,
                        received_at: c.received_at,
                        effect: &p.effect,
                    });
                    Outcome::Applied { event_type }
                }
            }
            Err(e) => {
                let o = retry::failed(cfg, c, None, e.to_string());
                count_failure(&mut s.report, &o);
                if o.is_dead() {
                    tracing::error!(error = %e, attempts = c.attempts + 1, "event is dead");
                } else {
                    tracing::warn!(error = %e, attempts = c.attempts + 1, "event failed");
                }
                o
            }
        };
        s.outcomes.push((c.id, outcome));
    }
    s
}

fn count_failure(report: &mut BatchReport, o: &Outcome) {
    if o.is_dead() {
        report.dead += 1;
    } else {
        report.failed += 1;
    }
}

/// Applies the batch's effects. A panic while applying is caught like an
/// error: the batch rolls back and its events are retried one by one, so
/// only the event that panics fails. Returns the keys it changed.
async fn apply(conn: &mut AsyncPgConnection, items: &[Item<'_>]) -> Result<Changed, ApplyFailure> {
    let applied = AssertUnwindSafe(async {
        failpoint(items);
        projection::apply(conn, items).await
    })
    .catch_unwind()
    .await;
    match applied {
        Ok(Ok(changed)) => Ok(changed),
        Ok(Err(e)) => Err(ApplyFailure::Database(e.into())),
        Err(panic) => Err(ApplyFailure::Panic(panic_message(&*panic))),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Test builds only: panics while applying a batch that holds an event of the
/// source named by `SWITCHBOARD_FAILPOINT_PANIC_SOURCE`, to prove a panic
/// costs one event, not the worker or its batch. Compiled out of release builds.
#[cfg(debug_assertions)]
fn failpoint(items: &[Item<'_>]) {
    if let Ok(source) = std::env::var("SWITCHBOARD_FAILPOINT_PANIC_SOURCE") {
        if items.iter().any(|i| i.source == source) {
            panic!("failpoint: event of source {source}");
        }
    }
}

#[cfg(not(debug_assertions))]
fn failpoint(_: &[Item<'_>]) {}
