//! Whether the inbox has a backlog, for the claim loops of one process: the
//! first loop claims whenever woken; the others only while batches come
//! back full. Below capacity one loop takes everything pending each time,
//! and two loops only wait on each other's call rows (a call's webhooks
//! arrive together, so concurrent batches share calls: the second waits
//! for the first's commit, which doubled the tail of webhook -> delivery
//! at 1,000 webhooks/s); with a backlog every loop claims, for throughput.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// The last batch's fullness, shared by a process's claim loops.
#[derive(Default)]
pub struct Backlog {
    full: AtomicBool,
    rose: Notify,
}

impl Backlog {
    /// Records whether the batch just committed was full; wakes the waiting
    /// loops when a backlog begins.
    pub fn record(&self, full: bool) {
        let was = self.full.swap(full, Ordering::SeqCst);
        if full && !was {
            self.rose.notify_waiters();
        }
    }

    /// Waits until batches come back full (at once if they do now).
    pub async fn wait(&self) {
        let rose = self.rose.notified();
        tokio::pin!(rose);
        rose.as_mut().enable();
        if self.full.load(Ordering::SeqCst) {
            return;
        }
        rose.await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::Backlog;

    #[tokio::test]
    async fn joining_loops_wait_for_a_full_batch_and_no_longer() {
        let backlog = Arc::new(Backlog::default());
        let mut waiting = tokio::spawn({
            let b = backlog.clone();
            async move { b.wait().await }
        });
        // Not full: the waiter stays parked.
        backlog.record(false);
        let early = tokio::time::timeout(Duration::from_millis(50), &mut waiting).await;
        assert!(early.is_err(), "woken without a backlog");
        backlog.record(true);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("woken by a full batch")
            .expect("join");
        // While full, waiting returns at once; once a batch is not full,
        // it waits again.
        tokio::time::timeout(Duration::from_secs(5), backlog.wait())
            .await
            .expect("full: no wait");
        backlog.record(false);
        let again = tokio::time::timeout(Duration::from_millis(50), backlog.wait()).await;
        assert!(again.is_err(), "waits once the backlog is gone");
    }
}
