//! The call-centre merges (queue membership, agents, devices, the PBX's own
//! extension status, CDR times, missed calls), pure: whatever the order and
//! duplication of the events, the state equals processing them once, in
//! order; and the states the scenarios must end in.

use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{Duration, FixedOffset, NaiveDate, TimeZone, Utc};
use domain::merge::{extension_status, CallOutcome, ExtensionRow, QueueOutcome};
use domain::{parse, ExtensionStatus, LegState, Provider};
use proptest::test_runner::{Config, TestRunner};
use testkit::plan::{self, project, Plan, CALLERS, CALL_CENTRE, QUEUE};
use testkit::reference::Projection;
use traffic::scenario::CALLCENTRE_SCENARIOS;

#[test]
fn callcentre_events_converge_in_any_order() {
    let mut runner = TestRunner::new(Config {
        cases: 2000,
        failure_persistence: None,
        ..Config::default()
    });
    let ran = AtomicUsize::new(0);
    let result = runner.run(
        &plan::callcentre_plans(6, 1),
        |Plan { events, delivery }| {
            ran.fetch_add(1, Ordering::Relaxed);
            let (y0, d0) = project(&events, 0..events.len());
            let (y1, d1) = project(&events, delivery.iter().copied());
            // Everything: calls, legs, queues with their derived outcomes,
            // extensions with their devices, agents; and what derives from them.
            proptest::prop_assert_eq!(&y0, &y1);
            proptest::prop_assert_eq!(&d0, &d1);
            proptest::prop_assert_eq!(y0.extension_statuses(), y1.extension_statuses());
            proptest::prop_assert_eq!(d0.extension_statuses(), d1.extension_statuses());
            proptest::prop_assert_eq!(y0.missed(), y1.missed());
            proptest::prop_assert_eq!(d0.missed(), d1.missed());
            Ok(())
        },
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    eprintln!(
        "convergence (call centre, pure): {} cases",
        ran.load(Ordering::Relaxed)
    );
}

/// Scenario `name` of `provider` as call `n` (agents rotated by `rot`, from
/// caller `caller`).
fn scenario(
    provider: Provider,
    name: &str,
    rot: usize,
    caller: usize,
    n: u64,
) -> traffic::scenario::Scenario {
    let kind = CALLCENTRE_SCENARIOS
        .iter()
        .position(|s| *s == name)
        .unwrap_or_else(|| panic!("no scenario {name}"));
    let pick = match provider {
        Provider::Yeastar => kind,
        _ => CALLCENTRE_SCENARIOS.len() + kind,
    };
    plan::build_callcentre(pick, rot, caller, n)
}

/// A call-centre day of one provider, in order: a queue call answered by
/// the first agent (caller 0), one abandoned (caller 1), a call back to
/// caller 1, a missed call from caller 2, the PBX's own status, the
/// agents' day, devices. Returns the projection.
fn day(provider: Provider) -> Projection {
    let scenarios = [
        scenario(provider, "queue-answered", 0, 0, 1),
        scenario(provider, "queue-abandoned", 0, 1, 2),
        scenario(provider, "callback", 0, 1, 3),
        scenario(provider, "missed", 0, 2, 4),
        scenario(provider, "reported", 0, 0, 5),
        scenario(provider, "agent-day", 0, 0, 6),
        scenario(provider, "devices", 0, 0, 7),
    ];
    let events = plan::flatten(&scenarios);
    let (y, d) = project(&events, 0..events.len());
    if provider == Provider::Yeastar {
        y
    } else {
        d
    }
}

#[test]
fn a_call_centre_day_ends_as_a_supervisor_expects() {
    for provider in [Provider::Yeastar, Provider::Dialpad] {
        let p = day(provider);
        let queue = match provider {
            Provider::Yeastar => QUEUE.to_string(),
            _ => CALL_CENTRE.to_string(),
        };
        let agent = |i: usize| match provider {
            Provider::Yeastar => plan::YEASTAR_EXTS[i].to_string(),
            _ => plan::DIALPAD_USERS[i].to_string(),
        };
        // Two calls went through the queue: the first answered by agent 0,
        // the second abandoned.
        let mut stays: Vec<_> = p
            .queues
            .iter()
            .filter(|((_, q), _)| *q == queue)
            .map(|(_, r)| (r.outcome, r.agent.clone()))
            .collect();
        stays.sort();
        assert_eq!(
            stays,
            vec![
                (QueueOutcome::Answered, Some(agent(0))),
                (QueueOutcome::Abandoned, None)
            ],
            "{provider}"
        );
        let outcomes: Vec<_> = p.calls.values().filter_map(|c| c.outcome).collect();
        assert_eq!(
            outcomes
                .iter()
                .filter(|o| **o == CallOutcome::Abandoned)
                .count(),
            1,
            "{provider}: {outcomes:?}"
        );
        // Caller 1 was called back: off the list. Caller 2 is on it.
        let missed = p.missed();
        assert_eq!(
            missed.keys().collect::<Vec<_>>(),
            vec![CALLERS[2]],
            "{provider}"
        );
        assert_eq!(missed[CALLERS[2]].count, 1);
        assert_eq!(missed[CALLERS[2]].last_reason, CallOutcome::NoAnswer);
        // Agent 0 paused again, for a meeting.
        let a0 = &p.agents[&(queue.clone(), agent(0))];
        assert_eq!(a0.status.as_deref(), Some("paused"), "{provider}");
        assert_eq!(a0.reason.as_deref(), Some("Meeting"), "{provider}");
    }
    // Yeastar: agent 1 was auto-paused after its ring timeout.
    let y = day(Provider::Yeastar);
    let a1 = &y.agents[&(QUEUE.to_string(), plan::YEASTAR_EXTS[1].to_string())];
    assert_eq!(a1.status.as_deref(), Some("paused"));
    assert!(a1
        .reason
        .as_deref()
        .is_some_and(|r| r.starts_with("auto-paused")));
    assert!(a1.ring_timeout_call.is_some());
    // Devices: agent 0 left the Linkus web client but its desk phone is
    // registered; agent 1 had only the web client.
    let ext = |n: usize| &y.extensions[plan::YEASTAR_EXTS[n]];
    assert_eq!(ext(0).registered, Some(true));
    assert_eq!(ext(1).registered, Some(false));
    // The PBX's own status, newer than every call event: agent 0 is busy
    // (in a call the call events do not show), agent 1 idle, so offline.
    let statuses = y.extension_statuses();
    assert_eq!(statuses[plan::YEASTAR_EXTS[0]], ExtensionStatus::InCall);
    assert_eq!(statuses[plan::YEASTAR_EXTS[1]], ExtensionStatus::Offline);
}

#[test]
fn a_call_known_only_from_its_cdr_starts_in_the_pbx_clock() {
    let body = testkit::fixture("yeastar/30012-cdr-no-answer.json");
    let berlin = FixedOffset::east_opt(3600).expect("offset");
    let mut p = Projection {
        zone: Some(berlin),
        ..Projection::default()
    };
    let cdr = parse(Provider::Yeastar, &body, plan::envelope(5)).expect("parses");
    p.apply(&cdr.effect);
    let c = &p.calls["1736414100.2231"];
    let local = NaiveDate::from_ymd_opt(2025, 1, 9)
        .and_then(|d| d.and_hms_opt(10, 15, 0))
        .expect("valid");
    assert_eq!(
        c.started_at,
        Some(Utc.from_utc_datetime(&local) - Duration::hours(1)),
        "10:15 in Berlin is 09:15 UTC"
    );
    assert!(c.started_from_cdr);
    assert_eq!(c.answered_at, None, "not answered");
    assert_eq!(c.outcome, Some(CallOutcome::NoAnswer));

    // The answered CDR: the answer is the start plus the ring time.
    let mut p = Projection::default();
    let body = testkit::fixture("yeastar/30012-cdr-answered.json");
    p.apply(
        &parse(Provider::Yeastar, &body, plan::envelope(5))
            .expect("cdr")
            .effect,
    );
    let c = &p.calls["1736413250.1187"];
    let start = c.started_at.expect("start");
    assert_eq!(c.answered_at, Some(start + Duration::seconds(8)));
    // A live event, in either order, gives the times instead.
    let ringing = testkit::fixture("yeastar/30011-inbound-ringing.json");
    let answered = testkit::fixture("yeastar/30011-inbound-answered.json");
    let live = |order: &[&[u8]]| {
        let mut p = Projection::default();
        for (k, b) in order.iter().enumerate() {
            p.apply(
                &parse(Provider::Yeastar, b, plan::envelope(k))
                    .expect("parses")
                    .effect,
            );
        }
        p.calls["1736413250.1187"].clone()
    };
    let a = live(&[&body, &ringing, &answered]);
    let b = live(&[&ringing, &answered, &body]);
    assert_eq!(a.started_at, Some(plan::envelope(1).received_at));
    assert!(!a.started_from_cdr && !a.answered_from_cdr);
    let b_start = plan::envelope(0).received_at;
    assert_eq!(b.started_at, Some(b_start), "the live event's own time");
}

/// A row with a reported status at `at` and legs last seen at `legs`.
fn row(reported: Option<(&str, i64)>, legs: Option<i64>, registered: Option<bool>) -> ExtensionRow {
    let t = |s: i64| Utc.timestamp_opt(1_800_000_000 + s, 0).single();
    ExtensionRow {
        reported_status: reported.map(|(s, _)| s.to_string()),
        reported_seq: reported.map(|(_, at)| at),
        reported_at: reported.and_then(|(_, at)| t(at)),
        leg_seen_at: legs.and_then(t),
        registered,
        ..ExtensionRow::default()
    }
}

#[test]
fn the_pbx_status_counts_only_without_live_legs_and_when_newer() {
    use ExtensionStatus::*;
    let none: [LegState; 0] = [];
    // Only 30008: it is the status.
    assert_eq!(
        extension_status(&none, &row(Some(("Busy", 5)), None, None)),
        InCall
    );
    assert_eq!(
        extension_status(&none, &row(Some(("Ringing", 5)), None, None)),
        Ringing
    );
    assert_eq!(
        extension_status(&none, &row(Some(("Idle", 5)), None, None)),
        Online
    );
    // Live legs win over any report.
    assert_eq!(
        extension_status(&[LegState::Ringing], &row(Some(("Idle", 9)), Some(5), None)),
        Ringing
    );
    // A report older than the legs' last event (a Busy before the BYE) is
    // stale; a newer one counts.
    assert_eq!(
        extension_status(&none, &row(Some(("Busy", 4)), Some(5), None)),
        Online
    );
    assert_eq!(
        extension_status(&none, &row(Some(("Busy", 6)), Some(5), None)),
        InCall
    );
    // Idle never hides that no device is registered.
    assert_eq!(
        extension_status(&none, &row(Some(("Idle", 6)), Some(5), Some(false))),
        Offline
    );
    assert_eq!(
        extension_status(&none, &row(Some(("Busy", 6)), Some(5), Some(false))),
        InCall
    );
}

#[test]
fn a_30008_and_a_bye_give_the_same_status_in_either_order() {
    let y = |t: u32, msg: serde_json::Value| {
        serde_json::json!({"type": t, "msg": msg.to_string()})
            .to_string()
            .into_bytes()
    };
    let ring = traffic::scenario::yeastar_path_snapshot(
        30011,
        "7.1",
        "",
        &[traffic::scenario::Member::Ext("3105", "RING")],
    );
    let bye = traffic::scenario::yeastar_path_snapshot(
        30011,
        "7.1",
        "",
        &[traffic::scenario::Member::Ext("3105", "BYE")],
    );
    let busy = y(
        30008,
        serde_json::json!({"extension": "3105", "status": "Busy"}),
    );
    let idle = y(
        30008,
        serde_json::json!({"extension": "3105", "status": "Idle"}),
    );
    // Arrivals: ring, busy (stale once the BYE came), bye, idle.
    let events = [&ring, &busy, &bye, &idle];
    let status = |order: &[usize]| {
        let mut p = Projection::default();
        for k in order {
            let parsed = parse(Provider::Yeastar, events[*k], plan::envelope(*k)).expect("parses");
            p.apply(&parsed.effect);
        }
        p.extension_statuses()["3105"]
    };
    for order in [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1], [1, 3, 0, 2]] {
        assert_eq!(status(&order), ExtensionStatus::Online, "{order:?}");
    }
    // Without the Idle, the Busy that came before the BYE is stale.
    for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0]] {
        assert_eq!(status(&order), ExtensionStatus::Online, "{order:?}");
    }
    // A Busy after the BYE (a call the call events do not show) counts.
    let after = [&ring, &bye, &busy];
    let mut p = Projection::default();
    for k in [2, 0, 1] {
        p.apply(
            &parse(Provider::Yeastar, after[k], plan::envelope(k))
                .expect("parses")
                .effect,
        );
    }
    assert_eq!(p.extension_statuses()["3105"], ExtensionStatus::InCall);
}
