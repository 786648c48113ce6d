//! The completer: records the attempts' results in groups, one transaction
//! for every completion that arrived while the previous group was being
//! written (as many as come: none waits for a group to fill), and wakes
//! the claims after each group (a completed delivery lets its subject's
//! next one go).

use std::sync::Arc;
use std::time::Duration;

use store::events_out::{self, Completion};
use store::{Access, PgPool};
use tokio::sync::{mpsc, Notify};

/// Most completions written in one transaction.
const GROUP: usize = 512;
/// Statements' deadline.
const DEADLINE: Duration = Duration::from_secs(10);
/// Tries of a group before it is dropped (its deliveries are sent again
/// when their leases run out: at least once).
const TRIES: u32 = 3;

/// Where lanes hand in their completions.
#[derive(Clone)]
pub struct Completer(mpsc::UnboundedSender<Completion>);

impl Completer {
    /// Hands in `c` (recorded with the next group).
    pub fn push(&self, c: Completion) {
        // Closed only once every lane is over: nothing is lost here.
        let _ = self.0.send(c);
    }
}

/// The completer and its task; the task ends when every [`Completer`] is
/// dropped and the last group is written.
pub fn start(pool: PgPool, wake_claims: Arc<Notify>) -> (Completer, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        Completer(tx),
        tokio::spawn(write_groups(pool, rx, wake_claims)),
    )
}

async fn write_groups(
    pool: PgPool,
    mut rx: mpsc::UnboundedReceiver<Completion>,
    wake_claims: Arc<Notify>,
) {
    let mut group = Vec::with_capacity(GROUP);
    let mut backoff = store::retry::Backoff::new(Duration::from_millis(50), Duration::from_secs(2));
    while rx.recv_many(&mut group, GROUP).await > 0 {
        for tried in 1..=TRIES {
            let done = store::run(
                &pool,
                DEADLINE,
                "completing deliveries",
                Access::Write,
                async |c| events_out::complete(c, &group).await,
            )
            .await;
            match done {
                Ok(_) => {
                    backoff.reset();
                    break;
                }
                Err(e) if tried < TRIES => {
                    let wait = backoff.next_delay();
                    tracing::warn!(error = %e, deliveries = group.len(), retry_in_ms = wait.as_millis() as u64, "recording deliveries failed");
                    tokio::time::sleep(wait).await;
                }
                Err(e) => {
                    // Their leases run out and they are sent again.
                    tracing::error!(error = %e, deliveries = group.len(), "recording deliveries failed: they will be sent again when their leases run out");
                }
            }
        }
        group.clear();
        wake_claims.notify_one();
    }
}
