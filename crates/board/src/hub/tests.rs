use super::*;
use domain::projection::read::ExtensionView;
use std::time::Duration;

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
    let hub = Hub::new(10, 10, 10, Duration::ZERO);
    assert!(hub.subscribe(None).is_err());
    hub.apply(vec![card("1", "online")], vec![]);
    assert!(!hub.is_ready());
    hub.replace(vec![card("1", "online")], vec![]);
    assert!(hub.subscribe(None).is_ok());
}

#[test]
fn a_new_stream_gets_the_snapshot_then_every_update_once() {
    let hub = Hub::new(10, 10, 10, Duration::ZERO);
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
    let hub = Hub::new(10, 3, 10, Duration::ZERO);
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
    let hub = Hub::new(10, 10, 2, Duration::ZERO);
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
    let hub = Hub::new(10, 10, 10, Duration::ZERO);
    hub.replace(vec![card("1", "online")], vec![]);
    let _ = hub.subscribe(None).unwrap();
    hub.replace(vec![card("1", "ringing")], vec![]);
    let s = hub.subscribe(None).unwrap();
    assert!(text(&s.first[0]).contains("ringing"));
}

#[test]
fn streams_hear_of_a_stale_feed_until_the_next_snapshot() {
    let hub = Hub::new(10, 10, 10, Duration::ZERO);
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
    let hub = Hub::new(10, 10, 10, Duration::ZERO);
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
    let hub = Hub::new(10, 10, 10, Duration::ZERO);
    let missed = |count| crate::callcentre::state::missed("+15555550101", count);
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
    let hub = Hub::new(2, 10, 10, Duration::ZERO);
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

/// A hub whose windows never end by themselves: only `flush` sends what
/// waits.
fn windowed() -> Hub {
    let hub = Hub::new(10, 10, 10, Duration::from_secs(3600));
    hub.replace(
        vec![card("1", "online"), card("2", "online")],
        vec![call(1)],
    );
    hub
}

fn json_of(f: &Frame) -> serde_json::Value {
    let data = text(f)
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap_or("null");
    serde_json::from_str(data).unwrap_or(serde_json::Value::Null)
}

/// The first change after a quiet spell goes out at once; those that come
/// within the window wait for its end and go out as one delta, a card
/// changed twice with its last state.
#[test]
fn changes_within_a_window_go_out_together() {
    let hub = windowed();
    let mut sub = hub.subscribe(None).unwrap();
    hub.apply(vec![card("1", "ringing")], vec![]);
    let first = sub.updates.try_recv().unwrap();
    assert!(text(&first).contains("\"ringing\""));
    hub.apply(vec![card("1", "incall")], vec![]);
    hub.apply(vec![card("2", "ringing")], vec![]);
    hub.apply(vec![card("1", "online")], vec![call(1)]);
    assert!(sub.updates.try_recv().is_err(), "the window is open");
    hub.flush();
    let f = sub.updates.try_recv().unwrap();
    assert_eq!(
        json_of(&f)["extensions"],
        serde_json::json!([
            {"source": "pbx", "number": "1", "status": "online"},
            {"source": "pbx", "number": "2", "status": "ringing"},
        ])
    );
    assert_eq!(id_of(&f).split('-').nth(1), Some("3"), "numbered next");
    assert!(sub.updates.try_recv().is_err());
    // A change undone within the window sends nothing.
    hub.apply(vec![card("2", "online")], vec![]);
    hub.apply(vec![card("2", "ringing")], vec![]);
    hub.flush();
    assert!(
        sub.updates.try_recv().is_err(),
        "nothing changed in the end"
    );
}

/// A delta carries a known card's or call's key fields and what changed;
/// a card or call new to the streams goes whole.
#[test]
fn a_delta_carries_only_what_changed() {
    let hub = Hub::new(10, 10, 10, Duration::ZERO);
    hub.replace(vec![card("1", "online")], vec![call(1)]);
    let mut sub = hub.subscribe(None).unwrap();
    let mut answered = call(1);
    answered.status = "answered".into();
    hub.apply(
        vec![card("1", "incall"), card("3", "online")],
        vec![answered, call(2)],
    );
    let body = json_of(&sub.updates.try_recv().unwrap());
    assert_eq!(
        body["extensions"][0],
        serde_json::json!({"source": "pbx", "number": "1", "status": "incall"})
    );
    let whole = serde_json::to_value(card("3", "online")).unwrap();
    assert_eq!(body["extensions"][1], whole);
    assert_eq!(
        body["calls"][0],
        serde_json::json!({"id": 1, "source": "pbx", "call_id": "c1", "status": "answered"})
    );
    assert_eq!(body["calls"][1], serde_json::to_value(call(2)).unwrap());
}

/// A browser that connects while changes wait gets them in its snapshot,
/// and the streams already open get them first: nobody misses a change
/// or gets one twice.
#[test]
fn changes_waiting_go_out_before_a_new_stream_starts() {
    let hub = windowed();
    let mut old = hub.subscribe(None).unwrap();
    hub.apply(vec![card("1", "ringing")], vec![]);
    hub.apply(vec![card("2", "ringing")], vec![]);
    assert!(old.updates.try_recv().is_ok());
    assert!(old.updates.try_recv().is_err(), "card 2 waits");
    let mut new = hub.subscribe(None).unwrap();
    let f = old.updates.try_recv().unwrap();
    assert_eq!(json_of(&f)["extensions"][0]["number"], "2");
    let snap = json_of(&new.first[0]);
    assert_eq!(snap["extensions"][1]["status"], "ringing");
    assert_eq!(
        id_of(&new.first[0]),
        id_of(&f),
        "the snapshot is of the state after that delta"
    );
    assert!(new.updates.try_recv().is_err());
    hub.flush();
    assert!(old.updates.try_recv().is_err() && new.updates.try_recv().is_err());
}
