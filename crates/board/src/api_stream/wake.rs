//! The streams' one wake-up: a dedicated connection LISTENs on
//! [`store::events_out::EVENTS_CHANNEL`] (each batch that wrote events
//! NOTIFYs it on commit), and one task reads where the readable events end
//! ([`store::events_out::head`]) when notified. When that moves, every open
//! `/api/stream` is woken (a [`watch`] channel) and reads from its own
//! position; an idle stream reads nothing.
//!
//! Wake-ups come at most every [`GAP`] (under load, a stream reads what
//! several batches wrote at once), and the head is not read while no
//! stream is open.
//!
//! A notification only hints: the task also reads the head every
//! [`SAFETY_POLL`] while listening, every [`DOWN_POLL`] while the listener
//! is down, and every [`HELD_BACK_POLL`] while committed events wait behind
//! a transaction that is not over yet (the stream serves only events below
//! every running transaction's xid, so such events become readable without
//! a notification of their own). These reads are the board's, not each
//! stream's. `switchboard_board_outbox_listen_up` is 1 while listening.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use store::events_out::{self, Head, EVENTS_CHANNEL};
use store::listen::{ListenError, Subscriber};
use store::{Access, PgPool};
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

/// Between two reads of the head while listening (a missed hint).
pub const SAFETY_POLL: Duration = Duration::from_secs(5);
/// Between two reads of the head while the listener is down.
pub const DOWN_POLL: Duration = Duration::from_secs(1);
/// Between two reads of the head while committed events are held back.
pub const HELD_BACK_POLL: Duration = Duration::from_millis(250);
/// The shortest time between two wake-ups: an idle board wakes its
/// streams at once; under load, each reads at most this often.
pub const GAP: Duration = Duration::from_millis(100);
/// The longest a read of the head may take.
const READ_WITHIN: Duration = Duration::from_secs(5);

/// The wake-up the streams wait on: its value changes whenever more
/// events can be read.
pub type Wakeups = watch::Receiver<u64>;

/// Starts the listener and the task that wakes the streams; returns what
/// they wait on. Both run for the life of the process.
pub fn start(url: String, pool: PgPool) -> Wakeups {
    metrics::gauge!("switchboard_board_outbox_listen_up").set(0.0);
    let (tx, rx) = watch::channel(0);
    let hint = Arc::new(Notify::new());
    let up = Arc::new(AtomicBool::new(false));
    let listener = Hint {
        hint: hint.clone(),
        up: up.clone(),
    };
    tokio::spawn(async move { store::listen::listen(&url, EVENTS_CHANNEL, listener).await });
    tokio::spawn(follow(pool, hint, up, tx));
    rx
}

/// Reads the head on each hint (or poll), and wakes the streams when it
/// moved; stops once no stream can be woken any more (never, in the
/// board: it keeps a receiver).
async fn follow(pool: PgPool, hint: Arc<Notify>, up: Arc<AtomicBool>, tx: watch::Sender<u64>) {
    let mut last: Option<Head> = None;
    let mut held_back = false;
    let mut woken_at = Instant::now();
    loop {
        let every = if held_back {
            HELD_BACK_POLL
        } else if up.load(Ordering::Relaxed) {
            SAFETY_POLL
        } else {
            DOWN_POLL
        };
        tokio::select! {
            _ = hint.notified() => {}
            _ = tokio::time::sleep(every) => {}
        }
        if tx.is_closed() {
            return;
        }
        // No stream open (the board's own receiver only): nothing to wake,
        // and a stream that opens reads at once.
        if tx.receiver_count() <= 1 {
            (last, held_back) = (None, false);
            continue;
        }
        // Under load, one wake-up per GAP: each stream then reads what
        // several batches wrote, at once.
        tokio::time::sleep_until(woken_at + GAP).await;
        let head = store::run(
            &pool,
            READ_WITHIN,
            "reading where the outbox ends",
            Access::Read,
            async |c| events_out::head(c).await,
        )
        .await;
        match head {
            Ok(head) => {
                held_back = head.held_back;
                if last.as_ref().map(|h| &h.last) != Some(&head.last) {
                    woken_at = Instant::now();
                    tx.send_modify(|n| *n = n.wrapping_add(1));
                    metrics::counter!("switchboard_board_outbox_wakeups_total").increment(1);
                }
                last = Some(head);
            }
            Err(e) => {
                // Tried again within a second (or at the next hint).
                held_back = false;
                tracing::warn!(error = %e, "reading where the outbox ends failed; the streams wait")
            }
        }
    }
}

/// The listener's side: every notification hints the follower.
struct Hint {
    hint: Arc<Notify>,
    up: Arc<AtomicBool>,
}

impl Subscriber for Hint {
    type Error = std::convert::Infallible;

    async fn listening(&mut self) -> Result<(), Self::Error> {
        self.up.store(true, Ordering::Relaxed);
        metrics::gauge!("switchboard_board_outbox_listen_up").set(1.0);
        tracing::info!(channel = EVENTS_CHANNEL, "event stream wake-ups listening");
        // Catch up with what was committed while nobody listened.
        self.hint.notify_one();
        Ok(())
    }

    async fn notified(&mut self, _payloads: Vec<String>) -> Result<(), Self::Error> {
        self.hint.notify_one();
        Ok(())
    }

    fn interrupted(&mut self, error: &ListenError<Self::Error>, retry_in: Duration) {
        self.up.store(false, Ordering::Relaxed);
        metrics::gauge!("switchboard_board_outbox_listen_up").set(0.0);
        tracing::warn!(error = %error, retry_in_ms = retry_in.as_millis() as u64, "event stream wake-ups interrupted; polling meanwhile");
    }
}
