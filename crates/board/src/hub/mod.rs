//! What this board instance shows, and the event streams that show it.
//!
//! The hub holds the current cards and recent calls in memory, numbered by
//! a sequence. Every change (from the feed) is applied under one lock; the
//! changes go out as deltas, each numbered, kept for replay and broadcast
//! under the same lock. A browser that connects takes its snapshot (or its
//! replay) and subscribes under that lock too, so it misses nothing and
//! gets nothing twice.
//!
//! Deltas are coalesced: at most one goes out per `window` (a change after
//! a quiet spell goes out at once; one that comes sooner waits for the rest
//! of the window, with every other change of that window, and the flusher
//! task, [`flusher`], sends it). A delta carries only what changed
//! (`patch`): the cards and calls that read differently from what the
//! streams were last sent, each with its key fields and changed fields.
//!
//! Event ids are `<epoch>-<seq>`. The epoch is random per process, so an id
//! from another instance (behind the load balancer) or from before a
//! restart never resumes here: that browser gets a fresh snapshot. So does
//! one whose last id is older than the replay buffer.
//!
//! Frames are serialized once and shared by every stream (`Bytes`). A
//! stream that falls `client_backlog` frames behind is ended (its receiver
//! reports the lag): the browser reconnects and resumes or resyncs, and
//! the server's memory stays bounded whatever the browser does.

mod patch;
mod pending;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use chrono::{DateTime, Utc};
use domain::projection::read::{CallView, Card};
use serde::Serialize;
use tokio::sync::{broadcast, Notify};

use crate::callcentre::state::{CallCentre, Part, Rows};
use pending::Pending;

/// `(source, extension number)`.
type ExtKey = (String, String);
/// `(source, call id)`.
type CallKey = (String, String);

/// One SSE frame, ready to write.
pub type Frame = Bytes;

/// The hub is not ready: it has not loaded the state yet.
#[derive(Debug, thiserror::Error)]
#[error("the board has not loaded its state yet")]
pub struct NotReady;

/// What a new stream starts with.
pub struct Subscription {
    /// Frames to send first: a snapshot, or the updates missed since the
    /// browser's last event.
    pub first: Vec<Frame>,
    /// Whether `first` is a replay (the browser resumed).
    pub resumed: bool,
    /// The updates after `first`.
    pub updates: broadcast::Receiver<Frame>,
}

/// A frame's body: whole cards and calls in a snapshot, patches in a delta.
#[derive(Serialize)]
struct Body<'a, E, C> {
    now: DateTime<Utc>,
    extensions: Vec<E>,
    calls: Vec<C>,
    /// Queues, agents and missed calls (issue 22), each only when any.
    #[serde(flatten)]
    cc: Part<'a>,
}

struct Inner {
    seq: u64,
    ready: bool,
    /// The feed is down: what is shown may be out of date.
    stale: bool,
    cards: BTreeMap<ExtKey, Card>,
    /// Recent calls by id (the newest `recent` kept).
    calls: BTreeMap<i64, CallView>,
    call_ids: HashMap<CallKey, i64>,
    /// Queues, agents and missed calls, and how many times they were
    /// replaced (a re-read from before a reload is dropped).
    cc: CallCentre,
    cc_generation: u64,
    /// The changes not sent yet (waiting for their window).
    pending: Pending,
    /// When the last delta went out.
    last_delta: Option<Instant>,
    /// The flusher has been told to send `pending`.
    flush_asked: bool,
    /// The frames after `replay_base`, for resuming streams.
    replay: VecDeque<(u64, Frame)>,
    /// Streams whose last event is at or after this may resume.
    replay_base: u64,
    /// The snapshot frame of the current `seq`, made at most once.
    snapshot: Option<Frame>,
}

/// See the module documentation.
pub struct Hub {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Frame>,
    epoch: String,
    recent: usize,
    replay_limit: usize,
    /// At most one delta per window (zero: each change at once).
    window: Duration,
    /// Wakes the flusher when changes wait for the end of a window.
    flush: Notify,
}

impl Hub {
    /// An empty hub (not ready) keeping `recent` calls, `replay_limit`
    /// frames for resuming, letting a stream fall `backlog` frames behind,
    /// and sending at most one delta per `window`.
    pub fn new(recent: usize, replay_limit: usize, backlog: usize, window: Duration) -> Hub {
        let (tx, _) = broadcast::channel(backlog.max(1));
        Hub {
            inner: Mutex::new(Inner {
                seq: 0,
                ready: false,
                stale: false,
                cards: BTreeMap::new(),
                calls: BTreeMap::new(),
                call_ids: HashMap::new(),
                cc: CallCentre::default(),
                cc_generation: 0,
                pending: Pending::default(),
                last_delta: None,
                flush_asked: false,
                replay: VecDeque::new(),
                replay_base: 0,
                snapshot: None,
            }),
            tx,
            epoch: format!("{:08x}", fastrand::u32(..)),
            recent: recent.max(1),
            replay_limit: replay_limit.max(1),
            window,
            flush: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind: go on.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the state has been loaded.
    pub fn is_ready(&self) -> bool {
        self.lock().ready
    }

    /// How many recent calls are kept.
    pub fn recent_limit(&self) -> usize {
        self.recent
    }

    /// Streams connected now.
    pub fn streams(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Replaces the whole state (first load, resync, after the feed's
    /// connection was lost) and sends every stream a snapshot.
    pub fn replace(&self, cards: Vec<Card>, calls: Vec<CallView>) {
        let mut inner = self.lock();
        inner.cards = cards
            .into_iter()
            .map(|c| ((c.extension.source.clone(), c.extension.number.clone()), c))
            .collect();
        inner.calls.clear();
        inner.call_ids.clear();
        for call in calls {
            upsert_call(&mut inner, call, self.recent);
        }
        inner.seq += 1;
        inner.ready = true;
        inner.stale = false;
        inner.snapshot = None;
        // The snapshot shows every change not sent yet.
        inner.pending = Pending::default();
        inner.replay.clear();
        inner.replay_base = inner.seq;
        let frame = self.snapshot_frame(&mut inner);
        let _ = self.tx.send(frame);
        metrics::counter!("switchboard_board_snapshots_total").increment(1);
    }

    /// Tells every stream (and each new one, after its snapshot) that the
    /// change feed is down, until the next [`Hub::replace`]: an `event:
    /// stale` without an id (it is not replayed).
    pub fn stale(&self) {
        let mut inner = self.lock();
        if inner.ready && !inner.stale {
            inner.stale = true;
            let _ = self.tx.send(Bytes::from_static(STALE));
        }
    }

    /// Applies changed cards and calls; the next delta carries those that
    /// differ from what the streams were sent (a batch that touched a row
    /// without changing what a card shows sends nothing for it).
    pub fn apply(&self, cards: Vec<Card>, calls: Vec<CallView>) {
        if cards.is_empty() && calls.is_empty() {
            return;
        }
        let mut inner = self.lock();
        if !inner.ready {
            return;
        }
        for card in cards {
            let key = (card.extension.source.clone(), card.extension.number.clone());
            if inner.cards.get(&key) == Some(&card) {
                continue;
            }
            let old = inner.cards.insert(key.clone(), card);
            inner.pending.card(key, old);
        }
        for call in calls {
            if inner.calls.get(&call.id) == Some(&call) {
                continue;
            }
            let id = call.id;
            if let Some(old) = upsert_call(&mut inner, call, self.recent) {
                inner.pending.call(id, old);
            }
        }
        self.changed(&mut inner);
    }

    /// Sets the call centre's state without telling the streams: the
    /// [`Hub::replace`] that follows (a reload) sends it in its snapshot.
    pub fn set_callcentre(&self, rows: Rows) {
        let mut inner = self.lock();
        inner.cc = CallCentre::of(rows);
        inner.cc_generation += 1;
        inner.snapshot = None;
    }

    /// The keys among `keys` (`(source, extension)`) of agents the board
    /// shows.
    pub fn agents_among(&self, keys: &BTreeSet<ExtKey>) -> BTreeSet<ExtKey> {
        self.lock().cc.agents_among(keys)
    }

    /// The call centre's generation now (see [`Hub::apply_callcentre`]).
    pub fn callcentre_generation(&self) -> u64 {
        self.lock().cc_generation
    }

    /// Applies queues, agents and missed calls read when the generation
    /// was `generation`; the next delta carries those that changed.
    /// Nothing is applied when a reload replaced everything since (its
    /// rows are newer).
    pub fn apply_callcentre(&self, generation: u64, rows: Rows) {
        if rows.is_empty() {
            return;
        }
        let mut inner = self.lock();
        if !inner.ready || inner.cc_generation != generation {
            return;
        }
        let changed = inner.cc.apply(rows);
        inner.pending.cc.add(changed);
        self.changed(&mut inner);
    }

    /// Sends what changed now, or asks the flusher to when the window
    /// since the last delta is still open.
    fn changed(&self, inner: &mut Inner) {
        if inner.pending.is_empty() || inner.flush_asked {
            return;
        }
        let now = Instant::now();
        match inner.last_delta.map(|t| t + self.window) {
            Some(due) if due > now => {
                inner.flush_asked = true;
                self.flush.notify_one();
            }
            _ => self.send_pending(inner, now),
        }
    }

    /// Sends the changes waiting for their window (the flusher's part).
    pub fn flush(&self) {
        let mut inner = self.lock();
        inner.flush_asked = false;
        self.send_pending(&mut inner, Instant::now());
    }

    /// When the changes waiting may go out: `None` when none wait.
    fn flush_due(&self) -> Option<Instant> {
        let inner = self.lock();
        inner.flush_asked.then(|| {
            inner
                .last_delta
                .map_or_else(Instant::now, |t| t + self.window)
        })
    }

    /// One delta of every change waiting, numbered, kept for resuming
    /// streams and sent to every stream; nothing when no change is left
    /// (a card that changed and changed back).
    fn send_pending(&self, inner: &mut Inner, now: Instant) {
        if inner.pending.is_empty() || !inner.ready {
            return;
        }
        let pending = std::mem::take(&mut inner.pending);
        let extensions: Vec<_> = pending
            .cards
            .iter()
            .filter_map(|(k, old)| patch::of(old.as_ref(), inner.cards.get(k)?, patch::CARD_KEYS))
            .collect();
        let calls: Vec<_> = pending
            .calls
            .iter()
            .filter_map(|(id, old)| patch::of(old.as_ref(), inner.calls.get(id)?, patch::CALL_KEYS))
            .collect();
        if extensions.is_empty() && calls.is_empty() && pending.cc.is_empty() {
            return;
        }
        inner.seq += 1;
        inner.snapshot = None;
        inner.last_delta = Some(now);
        let body = Body {
            now: Utc::now(),
            extensions,
            calls,
            cc: pending.cc.part(),
        };
        let frame = frame(&self.epoch, inner.seq, "delta", &body);
        let seq = inner.seq;
        inner.replay.push_back((seq, frame.clone()));
        while inner.replay.len() > self.replay_limit {
            if let Some((old, _)) = inner.replay.pop_front() {
                inner.replay_base = old;
            }
        }
        let _ = self.tx.send(frame);
        metrics::counter!("switchboard_board_deltas_total").increment(1);
    }

    /// Starts a stream for a browser whose last event id is `last_event_id`
    /// (`None`: a new one).
    pub fn subscribe(&self, last_event_id: Option<&str>) -> Result<Subscription, NotReady> {
        let mut inner = self.lock();
        if !inner.ready {
            return Err(NotReady);
        }
        // Changes waiting for their window go out first: what follows is
        // then exactly the deltas after the snapshot or the replay.
        self.send_pending(&mut inner, Instant::now());
        let updates = self.tx.subscribe();
        let resume_from = last_event_id
            .and_then(|id| id.split_once('-'))
            .filter(|(epoch, _)| *epoch == self.epoch)
            .and_then(|(_, seq)| seq.parse::<u64>().ok())
            .filter(|seq| *seq >= inner.replay_base && *seq <= inner.seq);
        let (first, resumed) = match resume_from {
            Some(last) => (
                inner
                    .replay
                    .iter()
                    .filter(|(seq, _)| *seq > last)
                    .map(|(_, f)| f.clone())
                    .collect(),
                true,
            ),
            None => (vec![self.snapshot_frame(&mut inner)], false),
        };
        let mut first = first;
        if inner.stale {
            first.push(Bytes::from_static(STALE));
        }
        Ok(Subscription {
            first,
            resumed,
            updates,
        })
    }

    /// The current cards (for the JSON API).
    pub fn cards(&self) -> Result<Vec<Card>, NotReady> {
        let inner = self.lock();
        if !inner.ready {
            return Err(NotReady);
        }
        Ok(inner.cards.values().cloned().collect())
    }

    fn snapshot_frame(&self, inner: &mut Inner) -> Frame {
        if let Some(f) = &inner.snapshot {
            return f.clone();
        }
        let body = Body {
            now: Utc::now(),
            extensions: inner.cards.values().collect(),
            calls: inner.calls.values().rev().collect(),
            cc: inner.cc.all(),
        };
        let f = frame(&self.epoch, inner.seq, "snapshot", &body);
        inner.snapshot = Some(f.clone());
        f
    }
}

/// Sends the changes that wait for the end of their window, for the life
/// of the process.
pub async fn flusher(hub: Arc<Hub>) {
    loop {
        hub.flush.notified().await;
        if let Some(due) = hub.flush_due() {
            tokio::time::sleep_until(due.into()).await;
        }
        hub.flush();
    }
}

/// Keeps `call` if it is among the newest `recent` calls (or updates it):
/// `Some` with what the hub held of it before (`None`: a new call), or
/// `None` when the call is too old to keep.
fn upsert_call(inner: &mut Inner, call: CallView, recent: usize) -> Option<Option<CallView>> {
    let key = (call.source.clone(), call.call_id.clone());
    let oldest = inner.calls.keys().next().copied();
    let known = inner.call_ids.contains_key(&key);
    if !known && inner.calls.len() >= recent && oldest.is_some_and(|o| call.id < o) {
        return None;
    }
    let id = call.id;
    inner.call_ids.insert(key, id);
    let old = inner.calls.insert(id, call);
    while inner.calls.len() > recent {
        if let Some((_, gone)) = inner.calls.pop_first() {
            inner.call_ids.remove(&(gone.source, gone.call_id));
        }
    }
    Some(old)
}

/// The frame saying the feed is down.
const STALE: &[u8] = b"event: stale\ndata: {}\n\n";

/// One SSE frame: `id`, `event`, and the JSON body on one `data` line
/// (serde_json escapes line breaks, so it cannot span lines).
fn frame(epoch: &str, seq: u64, event: &str, body: &impl Serialize) -> Frame {
    let json = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_string());
    Bytes::from(format!(
        "id: {epoch}-{seq}\nevent: {event}\ndata: {json}\n\n"
    ))
}
