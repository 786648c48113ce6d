//! The hand-over (`worker run --deliver`): the deliveries a batch wrote
//! leased to this process (`store::events_out::write`: to endpoints that
//! are not failing, with nothing of their subject pending before them but
//! what this process holds) are sent once the batch commits, without a
//! claim: the webhook's event goes out within milliseconds of its batch.
//!
//! Per (endpoint, subject), a chain: its deliveries in order, sent by one
//! lane at a time (it waits for its endpoint's permit, then a slot). A
//! retry or a 410 blocks the chain: what it holds and what comes after is
//! given back (due behind the retry), for the claims to send in order. A
//! delivery written behind earlier ones of this process goes behind them
//! in their chain, or back to the claims when the chain is gone (its fate
//! unknown here). Giving back is always safe: the claims keep the order.
//! So is an endpoint's queue over [`QUEUED`]: memory stays bounded when an
//! endpoint is slow.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use store::events_out::{Claimed, HandOver, Pushed};

use super::lane::{self, attempt, may_send, stops};
use super::limits::lock;
use super::Shared;

/// Most handed-over deliveries waiting in this process for one endpoint;
/// past it they are given back to the claims.
const QUEUED: usize = 4096;
/// How long an idle or blocked chain is kept: a delivery written behind
/// one of its deliveries (by a batch that began before it ended) finds
/// it; past this, such a delivery is given back.
const KEEP: Duration = Duration::from_secs(30);

/// Where a process's batches hand their deliveries over.
#[derive(Clone)]
pub struct HandOff {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    lessee: i64,
    chains: Mutex<Chains>,
}

#[derive(Default)]
struct Chains {
    by_key: HashMap<(i64, String), Chain>,
    /// Deliveries waiting per endpoint.
    queued: HashMap<i64, usize>,
    swept: Option<Instant>,
}

struct Chain {
    /// The deliveries waiting, with when each was leased.
    queue: VecDeque<(Claimed, Instant)>,
    /// A lane is sending it.
    running: bool,
    /// Blocked: what arrives is given back, due no earlier than this.
    blocked: Option<Option<DateTime<Utc>>>,
    /// When it was last left idle or blocked.
    idle_at: Instant,
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
        let mut queued_now = 0;
        let mut back: Vec<(Claimed, Option<DateTime<Utc>>)> = Vec::new();
        {
            let mut chains = lock(&self.inner.chains);
            let chains = &mut *chains;
            sweep(chains);
            for p in pushed {
                let c = p.delivery;
                let endpoint = c.endpoint_id;
                let queued = chains.queued.entry(endpoint).or_default();
                let key = (endpoint, p.subject);
                let chain = match chains.by_key.get_mut(&key) {
                    Some(chain) => chain,
                    // Behind deliveries whose fate is not known here.
                    None if p.behind => {
                        back.push((c, None));
                        continue;
                    }
                    None => chains.by_key.entry(key.clone()).or_insert(Chain {
                        queue: VecDeque::new(),
                        running: false,
                        blocked: None,
                        idle_at: Instant::now(),
                    }),
                };
                if let Some(not_before) = chain.blocked {
                    back.push((c, not_before));
                    continue;
                }
                if *queued >= QUEUED {
                    // What comes after it must not overtake it.
                    chain.blocked = Some(None);
                    chain.idle_at = Instant::now();
                    back.push((c, None));
                    continue;
                }
                *queued += 1;
                queued_now += 1;
                chain.queue.push_back((c, leased));
                if !chain.running {
                    chain.running = true;
                    start.push(key);
                }
            }
        }
        super::metrics::handed_over(queued_now, back.len());
        for (c, not_before) in back {
            lane::release(&self.inner.shared, std::iter::once(c), not_before);
        }
        for key in start {
            tokio::spawn(send_chain(self.inner.clone(), key));
        }
    }
}

/// Forgets the chains idle or blocked for longer than [`KEEP`] (at most
/// once a second).
fn sweep(chains: &mut Chains) {
    if chains
        .swept
        .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
    {
        return;
    }
    chains.swept = Some(Instant::now());
    chains
        .by_key
        .retain(|_, c| c.running || !c.queue.is_empty() || c.idle_at.elapsed() < KEEP);
    chains.queued.retain(|_, n| *n > 0);
}

/// Sends chain `key` until it is empty or blocked.
async fn send_chain(inner: Arc<Inner>, key: (i64, String)) {
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
        let next = {
            let mut chains = lock(&inner.chains);
            let chains = &mut *chains;
            let Some(chain) = chains.by_key.get_mut(&key) else {
                return;
            };
            match chain.queue.pop_front() {
                Some(next) => {
                    if let Some(n) = chains.queued.get_mut(&key.0) {
                        *n = n.saturating_sub(1);
                    }
                    next
                }
                None => {
                    chain.running = false;
                    chain.idle_at = Instant::now();
                    return;
                }
            }
        };
        let (c, leased) = next;
        let (unsent, not_before) = if permits.is_err() || !may_send(shared, leased) {
            (Some(c), None)
        } else {
            match stops(attempt(shared, &c, &mut secrets).await) {
                None => continue,
                Some(not_before) => (None, not_before),
            }
        };
        let rest = {
            let mut chains = lock(&inner.chains);
            let chains = &mut *chains;
            let Some(chain) = chains.by_key.get_mut(&key) else {
                return;
            };
            chain.blocked = Some(not_before);
            chain.running = false;
            chain.idle_at = Instant::now();
            let rest: Vec<_> = chain.queue.drain(..).map(|(c, _)| c).collect();
            if let Some(n) = chains.queued.get_mut(&key.0) {
                *n = n.saturating_sub(rest.len());
            }
            rest
        };
        lane::release(shared, unsent.into_iter().chain(rest), not_before);
        return;
    }
}
