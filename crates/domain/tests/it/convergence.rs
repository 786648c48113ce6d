//! Property: whatever the order and duplication of a call's events, the
//! projected calls, legs and extensions equal those of processing the events
//! once, in order (pure domain logic; the database version is in the worker's
//! tests).

use std::sync::atomic::{AtomicUsize, Ordering};

use domain::{parse, Provider};
use proptest::test_runner::{Config, TestRunner};
use testkit::plan::{self, Plan};
use testkit::reference::Projection;
use testkit::snapshot::Snapshot;
use traffic::scenario::{DIALPAD_SCENARIOS, YEASTAR_SCENARIOS};

// Each event keeps the inbox id and arrival time it got when sent in order
// (`plan::envelope`); reordering is in processing, duplicates re-process the
// same row.

use testkit::plan::project;

#[test]
fn any_order_and_duplication_converges() {
    let cases = 2000;
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let ran = AtomicUsize::new(0);
    let events_seen = AtomicUsize::new(0);
    let result = runner.run(&plan::plans(4, 1), |Plan { events, delivery }| {
        ran.fetch_add(1, Ordering::Relaxed);
        events_seen.fetch_add(delivery.len(), Ordering::Relaxed);
        let (y0, d0) = project(&events, 0..events.len());
        let (y1, d1) = project(&events, delivery.iter().copied());
        // Everything, including internal sequence bookkeeping, is equal.
        proptest::prop_assert_eq!(&y0, &y1);
        proptest::prop_assert_eq!(&d0, &d1);
        proptest::prop_assert_eq!(y0.extension_statuses(), y1.extension_statuses());
        proptest::prop_assert_eq!(d0.extension_statuses(), d1.extension_statuses());
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    eprintln!(
        "convergence (pure): {} generated cases passed, {} events processed",
        ran.load(Ordering::Relaxed),
        events_seen.load(Ordering::Relaxed)
    );
}

/// The scenarios end in the states the issue names, in order.
#[test]
fn scenario_final_states() {
    let exact = |p: &Projection| Snapshot::of_projection(p, true);
    for (pick, name) in YEASTAR_SCENARIOS
        .iter()
        .chain(DIALPAD_SCENARIOS)
        .enumerate()
    {
        let s = plan::build(pick, 0, 7);
        let events = plan::flatten(std::slice::from_ref(&s));
        let (y, d) = project(&events, 0..events.len());
        let snap = exact(if s.provider == Provider::Yeastar {
            &y
        } else {
            &d
        });
        let ext = |n: &str| snap.extensions.get(n).map(|e| e.status.as_str());
        let calls: Vec<&str> = snap.calls.values().map(|c| c.status.as_str()).collect();
        match (s.provider, *name) {
            (Provider::Yeastar, "call-waiting") => {
                // The first call ended, the second goes on: still in call.
                assert_eq!(calls.iter().filter(|c| **c == "ended").count(), 1, "{name}");
                assert_eq!(
                    calls.iter().filter(|c| **c == "active").count(),
                    1,
                    "{name}"
                );
                assert_eq!(ext("1001"), Some("incall"), "{name}");
            }
            (Provider::Yeastar, _) => {
                assert_eq!(calls, vec!["ended"], "{name}");
                for (n, e) in &snap.extensions {
                    assert_eq!(e.status, "online", "{name}: extension {n}");
                }
                assert!(snap.legs.values().all(|l| l.state == "ended"), "{name}");
                let c = snap.calls.values().next().unwrap_or_else(|| unreachable!());
                let answered = *name != "inbound-missed";
                assert_eq!(
                    c.answered_at != testkit::snapshot::Time::Unset,
                    answered,
                    "{name}"
                );
                assert_eq!(c.recording_url.is_some(), answered, "{name}");
            }
            (_, "call-center-ongoing") => {
                // Three agents rang, the second answered: only it is in call.
                assert_eq!(calls, vec!["active"]);
                assert_eq!(ext("5171365938069501"), Some("online"));
                assert_eq!(ext("5171365938069502"), Some("incall"));
                assert_eq!(ext("5171365938069503"), Some("online"));
            }
            (_, _) => {
                assert_eq!(calls, vec!["ended"], "{name}");
                assert!(
                    snap.extensions.values().all(|e| e.status == "online"),
                    "{name}"
                );
                assert!(snap.legs.values().all(|l| l.state == "ended"), "{name}");
            }
        }
    }
}

/// Mid-call states: hold keeps the extension in call, resume clears the hold,
/// a transfer moves the call from one extension to the other.
#[test]
fn scenario_intermediate_states() {
    let states = |pick: usize, upto: usize| {
        let s = plan::build(pick, 0, 9);
        let events = plan::flatten(std::slice::from_ref(&s));
        let (y, d) = project(&events, 0..upto);
        let p = if s.provider == Provider::Yeastar {
            y
        } else {
            d
        };
        Snapshot::of_projection(&p, true)
    };
    let idx = |name: &str| {
        YEASTAR_SCENARIOS
            .iter()
            .position(|s| *s == name)
            .unwrap_or(99)
    };
    // hold-resume: ringing, answered, hold, resume, bye, cdr
    let hold = states(idx("hold-resume"), 3);
    assert_eq!(hold.extensions["1001"].status, "incall");
    assert!(hold.legs.values().any(|l| l.on_hold));
    let resumed = states(idx("hold-resume"), 4);
    assert!(resumed.legs.values().all(|l| !l.on_hold));
    // blind-transfer: ringing, answered, transfer (a BYE, b RING), b answers
    let transferring = states(idx("blind-transfer"), 3);
    assert_eq!(transferring.extensions["1001"].status, "online");
    assert_eq!(transferring.extensions["1002"].status, "ringing");
    let transferred = states(idx("blind-transfer"), 4);
    assert_eq!(transferred.extensions["1002"].status, "incall");
    assert_eq!(
        transferred.calls.values().next().map(|c| c.status.as_str()),
        Some("active")
    );
    // conference: three parties in call
    let conf = states(idx("conference"), 4);
    assert_eq!(conf.extensions["1001"].status, "incall");
    assert_eq!(conf.extensions["1003"].status, "incall");
    let left = states(idx("conference"), 5);
    assert_eq!(left.extensions["1003"].status, "online");
    assert_eq!(left.extensions["1001"].status, "incall");
    // Dialpad hold-resume: ringing, connected, hold, resume
    let dp = YEASTAR_SCENARIOS.len() + 3;
    let dp_hold = states(dp, 3);
    assert!(dp_hold.legs.values().any(|l| l.on_hold));
    assert_eq!(dp_hold.extensions["5171365938069501"].status, "incall");
    assert!(states(dp, 4).legs.values().all(|l| !l.on_hold));
}

/// Presence (30009) and uaCSTA reports (30020), mixed with a call's events:
/// any processing order with duplicates gives the in-order state, the
/// latest presence per extension and `call_over` final per uaCSTA call.
#[test]
fn presence_and_csta_converge_in_any_order() {
    use proptest::prelude::*;
    let y = |t: u32, msg: serde_json::Value| {
        serde_json::json!({"type": t, "msg": msg.to_string()})
            .to_string()
            .into_bytes()
    };
    let mut bodies = Vec::new();
    for (ext, word) in [
        ("3105", "away"),
        ("3106", "lunch"),
        ("3105", "do_not_disturb"),
        ("3106", "off_work"),
        ("3105", "available"),
        ("3106", "gardening"),
    ] {
        bodies.push(y(
            30009,
            serde_json::json!({"extension": ext, "status": word}),
        ));
    }
    for (call, op) in [
        ("48213", "call_start"),
        ("48214", "call_start"),
        ("48213", "call_answer"),
        ("48213", "call_over"),
        ("48214", "call_answer"),
    ] {
        bodies.push(y(
            30020,
            serde_json::json!({"operation": op, "extension": "3105", "call_id": call,
                               "ip_address": "198.51.100.23:5062"}),
        ));
    }
    for f in [
        "yeastar/30011-inbound-ringing.json",
        "yeastar/30011-inbound-answered.json",
        "yeastar/30011-inbound-bye.json",
    ] {
        bodies.push(testkit::fixture(f));
    }
    let run = |order: &mut dyn Iterator<Item = usize>| {
        let mut p = Projection::default();
        for k in order {
            let parsed = parse(Provider::Yeastar, &bodies[k], plan::envelope(k)).expect("parses");
            p.apply(&parsed.effect);
        }
        p
    };
    let in_order = run(&mut (0..bodies.len()));
    assert_eq!(
        in_order.extensions["3105"].presence.as_deref(),
        Some("available")
    );
    assert_eq!(
        in_order.extensions["3106"].presence.as_deref(),
        Some("unknown:gardening")
    );
    assert_eq!(in_order.csta["48213"].csta_event, "call_over");
    assert_eq!(in_order.csta["48214"].csta_event, "call_answer");
    assert_eq!(in_order.calls.len(), 1, "uaCSTA ids make no calls");
    let n = bodies.len();
    let orders = prop::collection::vec(0..n, 0..=n)
        .prop_flat_map(move |dups| Just((0..n).chain(dups).collect::<Vec<_>>()).prop_shuffle());
    let mut runner = TestRunner::new(Config {
        cases: 500,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&orders, |order| {
        let p = run(&mut order.into_iter());
        proptest::prop_assert_eq!(&p, &in_order);
        proptest::prop_assert_eq!(p.extension_statuses(), in_order.extension_statuses());
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
