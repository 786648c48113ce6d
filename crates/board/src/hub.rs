//! What this board instance shows, and the event streams that show it.
//!
//! The hub holds the current cards and recent calls in memory, numbered by
//! a sequence. Every change (from the feed) is applied under one lock that
//! also numbers it, keeps its frame for replay, and broadcasts it; a browser
//! that connects takes its snapshot (or its replay) and subscribes under
//! the same lock, so it misses nothing and gets nothing twice.
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

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;

use actix_web::web::Bytes;
use chrono::{DateTime, Utc};
use domain::projection::read::{CallView, Card};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::callcentre::state::{CallCentre, Part, Rows};

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

#[derive(Serialize)]
struct Body<'a> {
    now: DateTime<Utc>,
    extensions: Vec<&'a Card>,
    calls: Vec<&'a CallView>,
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
}

impl Hub {
    /// An empty hub (not ready) keeping `recent` calls, `replay_limit`
    /// frames for resuming, and letting a stream fall `backlog` frames
    /// behind.
    pub fn new(recent: usize, replay_limit: usize, backlog: usize) -> Hub {
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
                replay: VecDeque::new(),
                replay_base: 0,
                snapshot: None,
            }),
            tx,
            epoch: format!("{:08x}", fastrand::u32(..)),
            recent: recent.max(1),
            replay_limit: replay_limit.max(1),
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

    /// Applies changed cards and calls, and sends the change to every
    /// stream: only the cards and calls that differ from what the hub
    /// shows (a batch that touched a row without changing what a card
    /// shows sends nothing for it). Nothing is sent when nothing changed.
    pub fn apply(&self, cards: Vec<Card>, calls: Vec<CallView>) {
        if cards.is_empty() && calls.is_empty() {
            return;
        }
        let mut inner = self.lock();
        if !inner.ready {
            return;
        }
        let cards: Vec<Card> = cards
            .into_iter()
            .filter(|c| {
                let key = (c.extension.source.clone(), c.extension.number.clone());
                inner.cards.get(&key) != Some(c)
            })
            .collect();
        let calls: Vec<CallView> = calls
            .into_iter()
            .filter(|c| inner.calls.get(&c.id) != Some(c))
            .collect();
        if cards.is_empty() && calls.is_empty() {
            return;
        }
        let card_keys: Vec<ExtKey> = cards
            .iter()
            .map(|c| (c.extension.source.clone(), c.extension.number.clone()))
            .collect();
        for (key, card) in card_keys.iter().cloned().zip(cards) {
            inner.cards.insert(key, card);
        }
        let call_ids: Vec<i64> = calls.iter().map(|c| c.id).collect();
        for call in calls {
            upsert_call(&mut inner, call, self.recent);
        }
        inner.seq += 1;
        inner.snapshot = None;
        let body = Body {
            now: Utc::now(),
            extensions: card_keys
                .iter()
                .filter_map(|k| inner.cards.get(k))
                .collect(),
            calls: call_ids
                .iter()
                .filter_map(|id| inner.calls.get(id))
                .collect(),
            cc: Part::default(),
        };
        let frame = frame(&self.epoch, inner.seq, "delta", &body);
        self.publish(&mut inner, frame);
    }

    /// Keeps `frame` (the delta of `inner.seq`) for resuming streams, and
    /// sends it to every stream.
    fn publish(&self, inner: &mut Inner, frame: Frame) {
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

    /// Applies changed queues, agents and missed calls read when the
    /// generation was `generation`, and sends them to every stream as a
    /// delta (without extensions or calls). Nothing is applied or sent when
    /// `rows` is empty, or when a reload replaced everything since (its
    /// rows are newer).
    pub fn apply_callcentre(&self, generation: u64, rows: Rows) {
        if rows.is_empty() {
            return;
        }
        let mut inner = self.lock();
        if !inner.ready || inner.cc_generation != generation {
            return;
        }
        inner.cc.apply(&rows);
        inner.seq += 1;
        inner.snapshot = None;
        let body = Body {
            now: Utc::now(),
            extensions: Vec::new(),
            calls: Vec::new(),
            cc: CallCentre::part(&rows),
        };
        let frame = frame(&self.epoch, inner.seq, "delta", &body);
        self.publish(&mut inner, frame);
    }

    /// Starts a stream for a browser whose last event id is `last_event_id`
    /// (`None`: a new one).
    pub fn subscribe(&self, last_event_id: Option<&str>) -> Result<Subscription, NotReady> {
        let mut inner = self.lock();
        if !inner.ready {
            return Err(NotReady);
        }
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

/// Keeps `call` if it is among the newest `recent` calls (or updates it).
fn upsert_call(inner: &mut Inner, call: CallView, recent: usize) {
    let key = (call.source.clone(), call.call_id.clone());
    let oldest = inner.calls.keys().next().copied();
    let known = inner.call_ids.contains_key(&key);
    if !known && inner.calls.len() >= recent && oldest.is_some_and(|o| call.id < o) {
        return;
    }
    inner.call_ids.insert(key, call.id);
    inner.calls.insert(call.id, call);
    while inner.calls.len() > recent {
        if let Some((_, gone)) = inner.calls.pop_first() {
            inner.call_ids.remove(&(gone.source, gone.call_id));
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use domain::projection::read::ExtensionView;

    fn card(number: &str, status: &str) -> Card {
        Card {
            extension: ExtensionView {
                source: "pbx".into(),
                number: number.into(),
                name: None,
                status: status.into(),
                presence: None,
                last_seen: None,
            },
            call: None,
        }
    }

    fn call(id: i64) -> CallView {
        CallView {
            id,
            source: "pbx".into(),
            call_id: format!("c{id}"),
            status: "ended".into(),
            direction: None,
            from_number: None,
            to_number: None,
            started_at: None,
            answered_at: None,
            ended_at: None,
            duration_seconds: None,
            talk_seconds: None,
            disposition: None,
            recording_url: None,
        }
    }

    fn text(f: &Frame) -> &str {
        std::str::from_utf8(f).unwrap_or("")
    }

    fn id_of(f: &Frame) -> String {
        text(f)
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("id: "))
            .unwrap_or("")
            .to_string()
    }

    #[test]
    fn not_ready_until_loaded() {
        let hub = Hub::new(10, 10, 10);
        assert!(hub.subscribe(None).is_err());
        hub.apply(vec![card("1", "online")], vec![]);
        assert!(!hub.is_ready());
        hub.replace(vec![card("1", "online")], vec![]);
        assert!(hub.subscribe(None).is_ok());
    }

    #[test]
    fn a_new_stream_gets_the_snapshot_then_every_update_once() {
        let hub = Hub::new(10, 10, 10);
        hub.replace(vec![card("1", "online")], vec![]);
        let mut sub = hub.subscribe(None).unwrap();
        assert_eq!(sub.first.len(), 1);
        assert!(text(&sub.first[0]).contains("event: snapshot"));
        hub.apply(vec![card("1", "ringing")], vec![]);
        let f = sub.updates.try_recv().unwrap();
        assert!(text(&f).contains("event: delta"));
        assert!(text(&f).contains("\"status\":\"ringing\""));
        assert!(sub.updates.try_recv().is_err());
        // The next snapshot has the change.
        let later = hub.subscribe(None).unwrap();
        assert!(text(&later.first[0]).contains("\"status\":\"ringing\""));
    }

    #[test]
    fn resume_replays_what_was_missed_or_falls_back_to_a_snapshot() {
        let hub = Hub::new(10, 3, 10);
        hub.replace(vec![card("1", "online")], vec![]);
        let sub = hub.subscribe(None).unwrap();
        let snap_id = id_of(&sub.first[0]);
        hub.apply(vec![card("1", "ringing")], vec![]);
        hub.apply(vec![card("1", "incall")], vec![]);
        let r = hub.subscribe(Some(&snap_id)).unwrap();
        assert!(r.resumed);
        assert_eq!(r.first.len(), 2);
        assert!(text(&r.first[1]).contains("incall"));
        // Up to date: nothing to replay.
        let last = id_of(&r.first[1]);
        let r = hub.subscribe(Some(&last)).unwrap();
        assert!(r.resumed && r.first.is_empty());
        // Too far behind (the buffer holds 3), another epoch, garbage.
        for s in ["online", "ringing", "online", "ringing"] {
            hub.apply(vec![card("1", s)], vec![]);
        }
        for id in [snap_id.as_str(), "deadbeef-3", "junk", ""] {
            let r = hub.subscribe(Some(id)).unwrap();
            assert!(!r.resumed, "{id}");
            assert!(text(&r.first[0]).contains("event: snapshot"));
        }
    }

    #[test]
    fn a_stream_that_falls_behind_is_told_so() {
        let hub = Hub::new(10, 10, 2);
        hub.replace(vec![card("1", "online")], vec![]);
        let mut sub = hub.subscribe(None).unwrap();
        for s in ["ringing", "incall", "online"] {
            hub.apply(vec![card("1", s)], vec![]);
        }
        assert!(matches!(
            sub.updates.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(_))
        ));
    }

    #[test]
    fn a_reload_makes_a_new_snapshot() {
        let hub = Hub::new(10, 10, 10);
        hub.replace(vec![card("1", "online")], vec![]);
        let _ = hub.subscribe(None).unwrap();
        hub.replace(vec![card("1", "ringing")], vec![]);
        let s = hub.subscribe(None).unwrap();
        assert!(text(&s.first[0]).contains("ringing"));
    }

    #[test]
    fn streams_hear_of_a_stale_feed_until_the_next_snapshot() {
        let hub = Hub::new(10, 10, 10);
        hub.replace(vec![card("1", "online")], vec![]);
        let mut sub = hub.subscribe(None).unwrap();
        hub.stale();
        hub.stale();
        assert!(text(&sub.updates.try_recv().unwrap()).starts_with("event: stale"));
        assert!(sub.updates.try_recv().is_err(), "said once");
        let late = hub.subscribe(None).unwrap();
        assert_eq!(late.first.len(), 2);
        assert!(text(&late.first[1]).starts_with("event: stale"));
        hub.replace(vec![card("1", "online")], vec![]);
        assert!(text(&sub.updates.try_recv().unwrap()).contains("event: snapshot"));
        assert_eq!(hub.subscribe(None).unwrap().first.len(), 1);
    }

    /// A change the hub already shows (a batch touched the row, but the
    /// card or call reads the same) sends no frame; a real change still
    /// does, with only what changed.
    #[test]
    fn an_unchanged_card_or_call_sends_nothing() {
        let hub = Hub::new(10, 10, 10);
        hub.replace(
            vec![card("1", "online"), card("2", "online")],
            vec![call(1)],
        );
        let mut sub = hub.subscribe(None).unwrap();
        hub.apply(
            vec![card("1", "online"), card("2", "online")],
            vec![call(1)],
        );
        assert!(sub.updates.try_recv().is_err(), "nothing changed: no frame");
        hub.apply(
            vec![card("1", "online"), card("2", "ringing")],
            vec![call(1)],
        );
        let t = text(&sub.updates.try_recv().unwrap()).to_string();
        assert!(
            t.contains("\"number\":\"2\"") && !t.contains("\"number\":\"1\""),
            "{t}"
        );
        assert!(!t.contains("\"c1\""), "{t}");
        assert!(sub.updates.try_recv().is_err());
    }

    #[test]
    fn call_centre_changes_are_deltas_and_in_the_next_snapshot() {
        use domain::projection::read::MissedCallView;
        let hub = Hub::new(10, 10, 10);
        let missed = |count| MissedCallView {
            source: "pbx".into(),
            number: "+15555550101".into(),
            missed_count: count,
            first_at: None,
            last_at: None,
            last_call_id: None,
            last_reason: None,
            answered_at: None,
            done_through: None,
            done_at: None,
            done_by: None,
        };
        let rows = |count| Rows {
            missed: vec![missed(count)],
            ..Rows::default()
        };
        hub.set_callcentre(rows(1));
        hub.replace(vec![card("1", "online")], vec![]);
        let mut sub = hub.subscribe(None).unwrap();
        assert!(text(&sub.first[0]).contains("\"missed\":[{"));
        let generation = hub.callcentre_generation();
        hub.apply_callcentre(generation, Rows::default());
        assert!(sub.updates.try_recv().is_err(), "nothing to say");
        hub.apply_callcentre(generation - 1, rows(0));
        assert!(
            sub.updates.try_recv().is_err(),
            "read before a reload: dropped"
        );
        hub.apply_callcentre(generation, rows(0));
        let f = sub.updates.try_recv().unwrap();
        assert!(text(&f).contains("event: delta") && text(&f).contains("\"missed_count\":0"));
        assert!(!text(&f).contains("\"queues\""));
        let later = hub.subscribe(None).unwrap();
        assert!(
            !text(&later.first[0]).contains("\"missed\""),
            "it left the list"
        );
    }

    #[test]
    fn only_the_newest_calls_are_kept() {
        let hub = Hub::new(2, 10, 10);
        hub.replace(vec![], vec![call(1), call(2), call(3)]);
        let s = hub.subscribe(None).unwrap();
        let t = text(&s.first[0]).to_string();
        // Ids are matched with their quotes: the frame's `id:` line holds a
        // random hex epoch that may contain "c3".
        assert!(t.contains("\"c3\"") && t.contains("\"c2\"") && !t.contains("\"c1\""));
        // An older call is not news; an update of a kept one is.
        hub.apply(vec![], vec![call(1)]);
        let s = hub.subscribe(None).unwrap();
        assert!(!text(&s.first[0]).contains("\"c1\""));
        hub.apply(vec![], vec![call(4)]);
        let s = hub.subscribe(None).unwrap();
        let t = text(&s.first[0]).to_string();
        assert!(t.contains("\"c4\"") && t.contains("\"c3\"") && !t.contains("\"c2\""));
        // Newest first.
        assert!(t.find("\"c4\"") < t.find("\"c3\""));
    }
}
