//! The handed-over chains' bookkeeping, without I/O (`handoff.rs` sends):
//! per (endpoint, subject), the deliveries waiting in order, whether a lane
//! is sending them, and whether the chain is blocked (a retry or a 410:
//! what arrives is given back). Generic over the delivery, so that the
//! rules are tested on their own.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// Most handed-over deliveries waiting in this process for one endpoint;
/// past it they are given back to the claims.
pub const QUEUED: usize = 4096;
/// How long an idle or blocked chain is kept: a delivery written behind
/// one of its deliveries (by a batch that began before it ended) finds
/// it; past this, such a delivery is given back.
const KEEP: Duration = Duration::from_secs(30);

/// A chain's key: the endpoint and the subject.
pub type Key = (i64, String);

/// What becomes of a delivery taken in.
#[derive(Debug, PartialEq)]
pub enum Admitted<T> {
    /// Queued in its chain; `start`: no lane sends the chain, start one.
    Queued { start: bool },
    /// Given back to the claims, due no earlier than this.
    Back(T, Option<DateTime<Utc>>),
}

/// Every chain of a process.
pub struct Chains<T> {
    by_key: HashMap<Key, Chain<T>>,
    /// Deliveries waiting per endpoint.
    queued: HashMap<i64, usize>,
    swept: Option<Instant>,
}

struct Chain<T> {
    /// The deliveries waiting, with when each was leased.
    queue: VecDeque<(T, Instant)>,
    /// A lane is sending it.
    running: bool,
    /// Blocked: what arrives is given back, due no earlier than this.
    blocked: Option<Option<DateTime<Utc>>>,
    /// When it was last left idle or blocked.
    idle_at: Instant,
}

impl<T> Default for Chains<T> {
    fn default() -> Self {
        Chains {
            by_key: HashMap::new(),
            queued: HashMap::new(),
            swept: None,
        }
    }
}

impl<T> Chains<T> {
    /// Takes in `item` of chain `key`, leased at `leased`; `behind`: it was
    /// written behind earlier deliveries of its subject held here.
    pub fn admit(&mut self, key: Key, behind: bool, item: T, leased: Instant) -> Admitted<T> {
        self.sweep();
        let endpoint = key.0;
        let chain = match self.by_key.get_mut(&key) {
            Some(chain) => chain,
            // Behind deliveries whose fate is not known here.
            None if behind => return Admitted::Back(item, None),
            None => self.by_key.entry(key).or_insert(Chain {
                queue: VecDeque::new(),
                running: false,
                blocked: None,
                idle_at: Instant::now(),
            }),
        };
        if let Some(not_before) = chain.blocked {
            return Admitted::Back(item, not_before);
        }
        let queued = self.queued.entry(endpoint).or_default();
        if *queued >= QUEUED {
            // What comes after it must not overtake it.
            chain.blocked = Some(None);
            chain.idle_at = Instant::now();
            return Admitted::Back(item, None);
        }
        *queued += 1;
        chain.queue.push_back((item, leased));
        let start = !chain.running;
        chain.running = true;
        Admitted::Queued { start }
    }

    /// The next delivery of chain `key` to send, or `None`: the chain is
    /// empty (its lane ends; no longer running).
    pub fn next(&mut self, key: &Key) -> Option<(T, Instant)> {
        let chain = self.by_key.get_mut(key)?;
        match chain.queue.pop_front() {
            Some(next) => {
                if let Some(n) = self.queued.get_mut(&key.0) {
                    *n = n.saturating_sub(1);
                }
                Some(next)
            }
            None => {
                chain.running = false;
                chain.idle_at = Instant::now();
                None
            }
        }
    }

    /// Blocks chain `key` (its lane ends): what it holds is returned, to
    /// give back, and what arrives is given back, due no earlier than
    /// `not_before`.
    pub fn block(&mut self, key: &Key, not_before: Option<DateTime<Utc>>) -> Vec<T> {
        let Some(chain) = self.by_key.get_mut(key) else {
            return Vec::new();
        };
        chain.blocked = Some(not_before);
        chain.running = false;
        chain.idle_at = Instant::now();
        let rest: Vec<T> = chain.queue.drain(..).map(|(c, _)| c).collect();
        if let Some(n) = self.queued.get_mut(&key.0) {
            *n = n.saturating_sub(rest.len());
        }
        rest
    }

    /// Forgets the chains idle or blocked for longer than [`KEEP`] (at most
    /// once a second).
    fn sweep(&mut self) {
        if self
            .swept
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            return;
        }
        self.swept = Some(Instant::now());
        self.by_key
            .retain(|_, c| c.running || !c.queue.is_empty() || c.idle_at.elapsed() < KEEP);
        self.queued.retain(|_, n| *n > 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(subject: &str) -> Key {
        (1, subject.to_string())
    }

    #[test]
    fn a_chain_sends_in_order_with_one_lane() {
        let mut c = Chains::default();
        let now = Instant::now();
        assert_eq!(
            c.admit(key("a"), false, 1, now),
            Admitted::Queued { start: true }
        );
        // Behind the first, in the same chain: no second lane.
        assert_eq!(
            c.admit(key("a"), true, 2, now),
            Admitted::Queued { start: false }
        );
        assert_eq!(c.next(&key("a")).map(|n| n.0), Some(1));
        assert_eq!(
            c.admit(key("a"), true, 3, now),
            Admitted::Queued { start: false }
        );
        assert_eq!(c.next(&key("a")).map(|n| n.0), Some(2));
        assert_eq!(c.next(&key("a")).map(|n| n.0), Some(3));
        assert_eq!(c.next(&key("a")), None);
        // Its lane ended: the next arrival starts one.
        assert_eq!(
            c.admit(key("a"), true, 4, now),
            Admitted::Queued { start: true }
        );
    }

    #[test]
    fn a_blocked_chain_gives_back_what_it_holds_and_what_arrives() {
        let mut c = Chains::default();
        let now = Instant::now();
        let retry = Utc::now() + chrono::Duration::seconds(5);
        c.admit(key("a"), false, 1, now);
        c.admit(key("a"), true, 2, now);
        c.admit(key("a"), true, 3, now);
        assert_eq!(c.next(&key("a")).map(|n| n.0), Some(1));
        // 1 was retried: 2 and 3 go back, and so does what comes later,
        // behind the retry, whether written behind them or not.
        assert_eq!(c.block(&key("a"), Some(retry)), vec![2, 3]);
        assert_eq!(
            c.admit(key("a"), true, 4, now),
            Admitted::Back(4, Some(retry))
        );
        assert_eq!(
            c.admit(key("a"), false, 5, now),
            Admitted::Back(5, Some(retry))
        );
        // Another subject is not held up.
        assert_eq!(
            c.admit(key("b"), false, 6, now),
            Admitted::Queued { start: true }
        );
    }

    #[test]
    fn a_delivery_behind_an_unknown_chain_goes_back() {
        let mut c = Chains::default();
        assert_eq!(
            c.admit(key("a"), true, 1, Instant::now()),
            Admitted::Back(1, None)
        );
    }

    #[test]
    fn a_full_endpoint_gives_back_and_blocks_the_chain() {
        let mut c = Chains::default();
        let now = Instant::now();
        for n in 0..QUEUED {
            assert!(matches!(
                c.admit(key(&format!("s{n}")), false, n, now),
                Admitted::Queued { .. }
            ));
        }
        assert_eq!(
            c.admit(key("s0"), true, 9999, now),
            Admitted::Back(9999, None)
        );
        // Room again, but the chain stays blocked: nothing overtakes 9999.
        assert_eq!(c.next(&key("s1")).map(|n| n.0), Some(1));
        assert_eq!(
            c.admit(key("s0"), true, 10000, now),
            Admitted::Back(10000, None)
        );
        // Other chains take the room.
        assert_eq!(
            c.admit(key("t"), false, 7, now),
            Admitted::Queued { start: true }
        );
    }
}
