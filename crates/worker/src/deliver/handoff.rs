//! The hand-over (`worker run --deliver`): the deliveries a batch wrote
//! leased to this process (`store::events_out::write`: to endpoints that
//! are not failing, with nothing of their subject pending before them but
//! what this process holds) are sent once the batch commits, without a
//! claim.
//!
//! Per (endpoint, subject), a chain: its deliveries in order, sent by one
//! lane at a time (it waits for its endpoint's permit, then a slot). A
//! retry or a 410 blocks the chain: what it holds and what comes after is
//! given back (due behind the retry), for the claims to send in order. A
//! delivery written behind earlier ones of this process goes behind them
//! in their chain, or back to the claims when the chain is gone (its fate
//! unknown here). Giving back is always safe: the claims keep the order.
//! So is an endpoint's queue over [`QUEUED`](super::chains::QUEUED):
//! memory stays bounded when an endpoint is slow. The bookkeeping, without
//! I/O, is `chains.rs`.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use store::events_out::{Claimed, HandOver, Pushed};

use super::chains::{Admitted, Chains, Key};
use super::lane::{self, attempt, may_send, stops};
use super::limits::lock;
use super::Shared;

/// Where a process's batches hand their deliveries over.
#[derive(Clone)]
pub struct HandOff {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    lessee: i64,
    chains: Mutex<Chains<Claimed>>,
}

impl HandOff {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        HandOff {
            inner: Arc::new(Inner {
                shared,
                // Per process, so that a delivery is handed over behind
                // only what this process holds (fastrand seeds randomly).
                lessee: fastrand::i64(..),
                chains: Mutex::default(),
            }),
        }
    }

    /// What a batch's write needs to hand its deliveries over.
    pub fn hand_over(&self) -> HandOver {
        HandOver {
            lessee: self.inner.lessee,
            lease: self.inner.shared.lease,
        }
    }

    /// Takes the handed-over deliveries of a committed batch (in (seq,
    /// endpoint) order) and sends them; `leased`: when the batch's
    /// transaction began (their leases began later: counted from then,
    /// they end no sooner than this process thinks).
    pub fn take(&self, pushed: Vec<Pushed>, leased: Instant) {
        if pushed.is_empty() {
            return;
        }
        let mut start = Vec::new();
        let mut queued = 0;
        let mut back = Vec::new();
        {
            let mut chains = lock(&self.inner.chains);
            for p in pushed {
                let key = (p.delivery.endpoint_id, p.subject);
                match chains.admit(key.clone(), p.behind, p.delivery, leased) {
                    Admitted::Queued { start: s } => {
                        queued += 1;
                        if s {
                            start.push(key);
                        }
                    }
                    Admitted::Back(c, not_before) => back.push((c, not_before)),
                }
            }
        }
        super::metrics::handed_over(queued, back.len());
        for (c, not_before) in back {
            lane::release(&self.inner.shared, std::iter::once(c), not_before);
        }
        for key in start {
            tokio::spawn(send_chain(self.inner.clone(), key));
        }
    }
}

/// Sends chain `key` until it is empty or blocked.
async fn send_chain(inner: Arc<Inner>, key: Key) {
    let shared = &inner.shared;
    let endpoint = shared.limits.endpoint(key.0);
    let permits = match endpoint.acquire_owned().await {
        Ok(p) => shared
            .limits
            .slots
            .clone()
            .acquire_owned()
            .await
            .map(|s| (p, s)),
        Err(e) => Err(e),
    };
    let mut secrets = None;
    loop {
        let Some((c, leased)) = lock(&inner.chains).next(&key) else {
            return;
        };
        let (unsent, not_before) = if permits.is_err() || !may_send(shared, leased) {
            (Some(c), None)
        } else {
            match stops(attempt(shared, &c, &mut secrets).await) {
                None => continue,
                Some(not_before) => (None, not_before),
            }
        };
        let rest = lock(&inner.chains).block(&key, not_before);
        lane::release(shared, unsent.into_iter().chain(rest), not_before);
        return;
    }
}
