//! What this process last learnt about the database, for `/readyz`, the
//! logs and the metrics: the condition now (the cause of the last failure,
//! until an operation succeeds), and the last condition the server itself
//! reported (a full disk, a read-only server, a shutdown), kept for a while
//! after the server stopped answering, so that "connection refused" can
//! say what came before it (a WAL disk that filled stops PostgreSQL).
//!
//! Fed by [`crate::run`] (every operation under a deadline) and by the
//! readiness check. Metrics: `switchboard_db_errors_total{cause}` counts
//! failures, `switchboard_db_unavailable{cause}` is 1 for the condition now
//! (0 for every other cause, all 0 when the database answers).

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::cause::{Cause, CAUSES};
use crate::Error;

/// How long a condition the server reported stays worth telling.
pub const REMEMBER: Duration = Duration::from_secs(600);

/// A condition seen: its cause, the error, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub cause: Cause,
    pub error: String,
    pub at: Instant,
    /// The same moment as seconds since the Unix epoch.
    pub at_unix: f64,
}

impl Seen {
    /// Seconds since it was seen.
    pub fn age_secs(&self) -> f64 {
        self.at.elapsed().as_secs_f64()
    }
}

#[derive(Default)]
struct State {
    now: Option<Seen>,
    reported: Option<Seen>,
}

static STATE: Mutex<State> = Mutex::new(State {
    now: None,
    reported: None,
});

fn state() -> std::sync::MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Registers the metrics at zero, so that alerts and dashboards see every
/// cause from the start.
pub fn describe() {
    metrics::describe_counter!(
        "switchboard_db_errors_total",
        "Database operations that failed because the database was unavailable, by cause"
    );
    metrics::describe_gauge!(
        "switchboard_db_unavailable",
        "1 for the cause the database is unavailable for now, else 0"
    );
    for c in CAUSES {
        metrics::counter!("switchboard_db_errors_total", "cause" => c.as_str()).absolute(0);
    }
    set_gauges(None);
}

fn set_gauges(now: Option<Cause>) {
    for c in CAUSES {
        let v = if Some(c) == now { 1.0 } else { 0.0 };
        metrics::gauge!("switchboard_db_unavailable", "cause" => c.as_str()).set(v);
    }
}

/// Records that an operation failed with `e`. Returns its cause, or None
/// when the failure was not the database's (a refused row).
pub fn failed(e: &Error) -> Option<Cause> {
    let cause = e.cause()?;
    let seen = Seen {
        cause,
        error: e.with_sources(),
        at: Instant::now(),
        at_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
    };
    metrics::counter!("switchboard_db_errors_total", "cause" => cause.as_str()).increment(1);
    let mut s = state();
    if s.now.as_ref().map(|n| n.cause) != Some(cause) {
        set_gauges(Some(cause));
    }
    // What the server reported is kept unless something as telling
    // comes: a full disk stays the story through the crash and restart
    // it causes ("shutdown", "starting", then "unreachable").
    let keeps = s
        .reported
        .as_ref()
        .is_some_and(|r| r.at.elapsed() < REMEMBER && r.cause < cause);
    if reported_by_server(cause) && !keeps {
        s.reported = Some(seen.clone());
    }
    s.now = Some(seen);
    Some(cause)
}

/// Whether `cause` is the server telling what is wrong (as opposed to
/// the client failing to reach it).
fn reported_by_server(cause: Cause) -> bool {
    !matches!(
        cause,
        Cause::Timeout | Cause::Unreachable | Cause::ConnectionLost | Cause::Other
    )
}

/// Records that an operation succeeded: a write ends every condition (and
/// what the server reported); a read ends those that do not refuse writes.
pub fn succeeded(wrote: bool) {
    let mut s = state();
    let ends = |seen: &Option<Seen>| match seen {
        None => false,
        Some(n) => wrote || !n.cause.refuses_writes(),
    };
    if ends(&s.now) {
        s.now = None;
        set_gauges(None);
    }
    if ends(&s.reported) {
        s.reported = None;
    }
}

/// The condition now, if the last operation failed.
pub fn now() -> Option<Seen> {
    state().now.clone()
}

/// The last condition the server reported, if within [`REMEMBER`].
pub fn reported() -> Option<Seen> {
    state()
        .reported
        .clone()
        .filter(|r| r.at.elapsed() < REMEMBER)
}
