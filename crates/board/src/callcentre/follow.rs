//! The call centre's re-reads, off the feed's path: the feed hands each
//! round's names (queues, agents, missed calls, and the agents among the
//! changed extensions) to one task, which re-reads them in order, the
//! names that arrived during a read merged into the next one, and applies
//! them to the hub. So the cards of the next notifications never wait for
//! the queues' figures. A read that started before a reload is dropped
//! (the reload has newer rows); one that fails is logged, and the next
//! change or reload of those rows shows them.

use std::sync::Arc;

use store::{Access, PgPool};
use tokio::sync::mpsc;

use super::load::{self, Named};
use crate::feed::READ_WITHIN;
use crate::hub::Hub;

/// The feed's handle on the task.
pub struct Follower {
    tx: mpsc::UnboundedSender<Named>,
}

impl Follower {
    /// Starts the task (it ends with the last handle).
    pub fn spawn(pool: PgPool, hub: Arc<Hub>) -> Follower {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(pool, hub, rx));
        Follower { tx }
    }

    /// Re-reads and applies what `named` names, soon.
    pub fn follow(&self, named: Named) {
        if !named.is_empty() {
            let _ = self.tx.send(named);
        }
    }
}

async fn run(pool: PgPool, hub: Arc<Hub>, mut rx: mpsc::UnboundedReceiver<Named>) {
    while let Some(mut named) = rx.recv().await {
        while let Ok(more) = rx.try_recv() {
            named.merge(more);
        }
        let generation = hub.callcentre_generation();
        let read = store::run(
            &pool,
            READ_WITHIN,
            "re-reading queues and agents",
            Access::Read,
            async |c| Ok(load::changed(c, named).await?),
        )
        .await;
        match read {
            Ok(rows) => hub.apply_callcentre(generation, rows),
            Err(e) => {
                metrics::counter!("switchboard_board_feed_failures_total").increment(1);
                tracing::warn!(error = %e, "queues and agents not re-read; they show their next change");
            }
        }
    }
}
