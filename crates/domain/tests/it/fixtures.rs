//! Parsing and status mapping of every sample payload in crates/testkit/fixtures.

use chrono::NaiveDate;
use chrono::{TimeZone, Utc};
use domain::{
    parse, AgentChange, AgentUpdate, CallStatus, CallUpdate, Effect, Envelope, LegState, Parsed,
    Provider,
};
use testkit::{fixture, fixtures_dir};

fn env(id: i64) -> Envelope {
    Envelope {
        id,
        received_at: Utc
            .with_ymd_and_hms(2026, 11, 21, 10, 0, 0)
            .single()
            .expect("valid time"),
    }
}

fn parse_fixture(provider: Provider, rel: &str) -> Parsed {
    parse(provider, &fixture(rel), env(7)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn call(p: &Parsed) -> &CallUpdate {
    match &p.effect {
        Effect::Call(u) => u,
        other => panic!("expected a call update, got {other:?}"),
    }
}

fn leg_states(u: &CallUpdate) -> Vec<(String, LegState, Option<bool>)> {
    u.legs
        .iter()
        .map(|l| (l.kind.clone(), l.state, l.on_hold))
        .collect()
}

#[test]
fn every_fixture_parses_and_is_checked_here() {
    let mut seen = Vec::new();
    for (dir, provider) in [
        ("yeastar", Provider::Yeastar),
        ("dialpad", Provider::Dialpad),
    ] {
        let mut files: Vec<_> = std::fs::read_dir(fixtures_dir().join(dir))
            .expect("fixtures directory")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        for f in files {
            let rel = format!("{dir}/{f}");
            let p = parse_fixture(provider, &rel);
            assert!(!p.event_type.is_empty(), "{rel}");
            seen.push(rel);
        }
    }
    // Each file below has its own assertions; a new fixture must get some.
    let checked = [
        "dialpad/agent-status-unavailable.json",
        "dialpad/agent-status.json",
        "dialpad/call-centre-connected.json",
        "dialpad/call-connected.json",
        "dialpad/call-hangup-missed.json",
        "dialpad/call-hangup.json",
        "dialpad/call-queued.json",
        "dialpad/call-recording.json",
        "dialpad/call-ringing.json",
        "yeastar/30007-extension-registration.json",
        "yeastar/30007-linkus-web-logout.json",
        "yeastar/30007-sip-registered.json",
        "yeastar/30008-extension-call-status.json",
        "yeastar/30009-extension-presence-away.json",
        "yeastar/30009-extension-presence-dnd.json",
        "yeastar/30011-inbound-answered.json",
        "yeastar/30011-inbound-bye.json",
        "yeastar/30011-inbound-hold.json",
        "yeastar/30011-inbound-ringing.json",
        "yeastar/30011-internal-ringing.json",
        "yeastar/30011-queue-answered.json",
        "yeastar/30011-queue-waiting.json",
        "yeastar/30012-cdr-answered.json",
        "yeastar/30012-cdr-no-answer.json",
        "yeastar/30015-call-failed.json",
        "yeastar/30020-uacsta-call-over.json",
        "yeastar/30020-uacsta.json",
        "yeastar/30025-agent-auto-pause.json",
        "yeastar/30026-agent-ring-timeout.json",
        "yeastar/30029-agent-status-object-msg.json",
        "yeastar/30029-agent-status-queue-prefix.json",
    ];
    for s in &seen {
        assert!(
            checked.contains(&s.as_str()),
            "fixture {s} has no assertions in this file"
        );
    }
}

#[test]
fn yeastar_30011_inbound_sequence() {
    let ring = parse_fixture(Provider::Yeastar, "yeastar/30011-inbound-ringing.json");
    assert_eq!(ring.event_type, "call.status");
    let u = call(&ring);
    assert_eq!(u.call_id, "1736413250.1187");
    assert_eq!(u.seq, 7, "Yeastar has no timestamp: arrival order");
    assert_eq!(u.direction.as_deref(), Some("inbound"));
    assert_eq!(u.from_number.as_deref(), Some("07700900417"));
    assert_eq!(u.to_number.as_deref(), Some("3105"));
    assert_eq!(
        leg_states(u),
        vec![
            ("inbound".into(), LegState::Ringing, None),
            ("extension".into(), LegState::Ringing, None)
        ]
    );
    assert_eq!(u.legs[1].extension.as_deref(), Some("3105"));
    assert_eq!(u.legs[1].leg_id, "PJSIP/3105-0000041b");
    assert_eq!(u.legs[0].party.as_deref(), Some("Telco-Main"));
    assert!(!u.ends_call);
    assert_eq!(domain::merge::implied_status(u), CallStatus::Ringing);

    let ans = parse_fixture(Provider::Yeastar, "yeastar/30011-inbound-answered.json");
    let u = call(&ans);
    assert_eq!(
        leg_states(u),
        vec![
            ("inbound".into(), LegState::InCall, Some(false)),
            ("extension".into(), LegState::InCall, Some(false))
        ]
    );
    assert_eq!(domain::merge::implied_status(u), CallStatus::Active);
    assert!(u.answered_at.is_some());

    let hold = parse_fixture(Provider::Yeastar, "yeastar/30011-inbound-hold.json");
    let u = call(&hold);
    assert_eq!(
        u.legs[1].state,
        LegState::InCall,
        "HOLD keeps the extension in call"
    );
    assert_eq!(u.legs[1].on_hold, Some(true));

    let bye = parse_fixture(Provider::Yeastar, "yeastar/30011-inbound-bye.json");
    let u = call(&bye);
    assert!(u.legs.iter().all(|l| l.state == LegState::Ended));
    assert!(u.ends_call, "all members hung up");
    assert!(u.ended_at.is_some());
}

#[test]
fn yeastar_internal_call() {
    let p = parse_fixture(Provider::Yeastar, "yeastar/30011-internal-ringing.json");
    let u = call(&p);
    assert_eq!(u.direction.as_deref(), Some("internal"));
    assert_eq!(u.from_number.as_deref(), Some("4107"));
    assert_eq!(u.to_number.as_deref(), Some("4112"));
    let exts: Vec<_> = u.legs.iter().map(|l| l.extension.clone()).collect();
    assert_eq!(exts, vec![Some("4107".into()), Some("4112".into())]);
}

#[test]
fn yeastar_cdr_is_the_authoritative_end() {
    let p = parse_fixture(Provider::Yeastar, "yeastar/30012-cdr-answered.json");
    assert_eq!(p.event_type, "call.cdr");
    let u = call(&p);
    assert!(u.authoritative && u.ends_call);
    assert_eq!(u.call_id, "1736413250.1187");
    assert_eq!(u.direction.as_deref(), Some("inbound"));
    assert_eq!(u.from_number.as_deref(), Some("07700900417"));
    assert_eq!(u.to_number.as_deref(), Some("3105"));
    assert_eq!(u.talk_seconds, Some(39));
    assert_eq!(u.duration_seconds, Some(47));
    assert_eq!(u.disposition.as_deref(), Some("answered"));
    assert_eq!(
        u.recording_url.as_deref(),
        Some("20250109100058-1736413250.1187-07700900417-3105-Inbound.wav")
    );
    assert_eq!(domain::merge::implied_status(u), CallStatus::Ended);
}

#[test]
fn yeastar_registration_and_call_status() {
    let p = parse_fixture(
        Provider::Yeastar,
        "yeastar/30007-extension-registration.json",
    );
    assert_eq!(p.event_type, "extension.registration");
    assert!(matches!(
        &p.effect,
        Effect::Registration { extension, registered: false, .. } if extension == "3105"
    ));
    let p = parse_fixture(
        Provider::Yeastar,
        "yeastar/30008-extension-call-status.json",
    );
    assert_eq!(p.event_type, "extension.call_status");
    assert!(matches!(
        &p.effect,
        Effect::Reported { extension, status, .. } if extension == "3105" && status == "Busy"
    ));
}

#[test]
fn yeastar_presence() {
    for (rel, want) in [
        ("yeastar/30009-extension-presence-away.json", "away"),
        ("yeastar/30009-extension-presence-dnd.json", "dnd"),
    ] {
        let p = parse_fixture(Provider::Yeastar, rel);
        assert_eq!(p.event_type, "extension.presence");
        assert!(p.notes.is_empty(), "{rel}: {:?}", p.notes);
        match &p.effect {
            Effect::Presence {
                extension,
                presence,
                seq,
                ..
            } => {
                assert_eq!(extension, "3105");
                assert_eq!(presence, want, "{rel}");
                assert_eq!(*seq, 7, "arrival order");
            }
            other => panic!("{rel}: {other:?}"),
        }
    }
    for (word, want) in [
        ("available", "available"),
        ("Away", "away"),
        ("do not disturb", "dnd"),
        ("lunch", "lunch"),
        ("business_trip", "business_trip"),
        ("Off Work", "off_work"),
        ("sabbatical", "unknown:sabbatical"),
    ] {
        let body = serde_json::json!({
            "type": 30009,
            "msg": serde_json::json!({"extension": 3105, "status": word}).to_string(),
        })
        .to_string();
        let p = parse(Provider::Yeastar, body.as_bytes(), env(1)).expect("parses");
        match &p.effect {
            Effect::Presence {
                extension,
                presence,
                ..
            } => {
                assert_eq!(extension, "3105", "numeric extension kept as text");
                assert_eq!(presence, want, "{word}");
            }
            other => panic!("{word}: {other:?}"),
        }
        assert_eq!(p.notes.len(), usize::from(want.starts_with("unknown:")));
    }
}

#[test]
fn yeastar_uacsta_report_is_recorded_apart() {
    let p = parse_fixture(Provider::Yeastar, "yeastar/30020-uacsta.json");
    assert_eq!(p.event_type, "yeastar.30020", "event type label kept");
    match &p.effect {
        Effect::Csta(r) => {
            assert_eq!(r.call_id, "48213");
            assert_eq!(r.operation, "call_answer");
            assert_eq!(r.extension.as_deref(), Some("3105"));
            assert_eq!(r.ip_address.as_deref(), Some("198.51.100.23:5062"));
            assert_eq!(r.seq, 7);
        }
        other => panic!("{other:?}"),
    }
    let p = parse_fixture(Provider::Yeastar, "yeastar/30020-uacsta-call-over.json");
    assert!(matches!(&p.effect, Effect::Csta(r) if r.operation == "call_over"));
    assert!(parse(
        Provider::Yeastar,
        br#"{"type":30020,"msg":"{\"call_id\":\"\",\"operation\":\"call_start\"}"}"#,
        env(1)
    )
    .is_err());
}

#[test]
fn yeastar_members_keep_their_channel() {
    let p = parse_fixture(Provider::Yeastar, "yeastar/30011-inbound-answered.json");
    let u = call(&p);
    let channels: Vec<_> = u.legs.iter().map(|l| l.channel_id.as_deref()).collect();
    assert_eq!(
        channels,
        vec![
            Some("PJSIP/trunk-Telco-Main-endpoint-0000041a"),
            Some("PJSIP/3105-0000041b")
        ]
    );
    let p = parse_fixture(Provider::Dialpad, "dialpad/call-ringing.json");
    assert_eq!(call(&p).legs[0].channel_id, None, "Dialpad: the leg id");
}

#[test]
fn yeastar_agent_events() {
    // 30029 carries msg as an object, not a string.
    let p = parse_fixture(
        Provider::Yeastar,
        "yeastar/30029-agent-status-object-msg.json",
    );
    assert_eq!(p.event_type, "agent.status");
    let a = agent(&p);
    assert_eq!(
        (a.agent.as_str(), a.queues.as_slice()),
        ("3105", &["6405".to_string()][..])
    );
    assert_eq!(status_of(a), ("paused", Some("Meeting")));
    assert_eq!(a.seq, 7, "Yeastar: arrival order");
    // Yeastar's own example names the queue with a prefix.
    let p = parse_fixture(
        Provider::Yeastar,
        "yeastar/30029-agent-status-queue-prefix.json",
    );
    let a = agent(&p);
    assert_eq!(
        a.queues,
        vec!["6402".to_string()],
        "queue-6402 is queue 6402"
    );
    assert_eq!(status_of(a), ("paused", Some("Lunch")));
    assert!(p.notes.is_empty(), "{:?}", p.notes);

    let p = parse_fixture(Provider::Yeastar, "yeastar/30025-agent-auto-pause.json");
    assert_eq!(p.event_type, "agent.auto_pause");
    let a = agent(&p);
    assert_eq!(a.agent, "3106");
    assert_eq!(
        status_of(a),
        ("paused", Some("auto-paused after 2 missed call(s)"))
    );

    let p = parse_fixture(Provider::Yeastar, "yeastar/30026-agent-ring-timeout.json");
    assert_eq!(p.event_type, "agent.ring_timeout");
    let a = agent(&p);
    assert_eq!(
        a.change,
        AgentChange::RingTimeout {
            call_id: Some("1736414000.2210".into())
        }
    );

    for (word, want) in [
        ("Unpaused", "available"),
        ("Logged Out", "loggedout"),
        ("Wrap Up", "wrapup"),
        ("Dozing", "unknown:dozing"),
    ] {
        let body = serde_json::json!({"type": 30029, "msg": {"queue_number": "6405",
            "agent_number": 3105, "status": word, "reason": ""}})
        .to_string();
        let p = parse(Provider::Yeastar, body.as_bytes(), env(1)).expect("parses");
        assert_eq!(status_of(agent(&p)), (want, None), "{word}");
        assert_eq!(p.notes.len(), usize::from(want.starts_with("unknown:")));
    }
    assert!(parse(
        Provider::Yeastar,
        br#"{"type":30029,"msg":{"queue_number":"6405","agent_number":"","status":"Paused"}}"#,
        env(1)
    )
    .is_err());
}

#[test]
fn yeastar_unused_events_are_ignored_not_failed() {
    let p = parse(
        Provider::Yeastar,
        br#"{"type":30034,"msg":{"anything":1}}"#,
        env(1),
    )
    .expect("parses");
    assert_eq!(p.event_type, "yeastar.30034");
    assert_eq!(p.effect, Effect::Ignored);
}

#[test]
fn yeastar_registration_per_device() {
    for (rel, device, registered) in [
        ("yeastar/30007-linkus-web-logout.json", "web", false),
        ("yeastar/30007-sip-registered.json", "sip", true),
        ("yeastar/30007-extension-registration.json", "sip", false),
    ] {
        let p = parse_fixture(Provider::Yeastar, rel);
        match &p.effect {
            Effect::Registration {
                extension,
                device: d,
                registered: r,
                ..
            } => {
                assert_eq!(extension, "3105", "{rel}");
                assert_eq!((d.as_str(), *r), (device, registered), "{rel}");
            }
            other => panic!("{rel}: {other:?}"),
        }
        assert!(p.notes.is_empty(), "{rel}: {:?}", p.notes);
    }
    let p = parse(
        Provider::Yeastar,
        br#"{"type":30007,"msg":"{\"extension\":\"3105\",\"status\":\"Registered\"}"}"#,
        env(1),
    )
    .expect("parses");
    assert!(
        matches!(&p.effect, Effect::Registration { device, .. } if device == "unspecified"),
        "no kind: {:?}",
        p.effect
    );
    let p = parse(
        Provider::Yeastar,
        br#"{"type":30007,"msg":"{\"extension\":\"3105\",\"kind\":\"Watch\",\"status\":\"Registered\"}"}"#,
        env(1),
    )
    .expect("parses");
    assert!(matches!(&p.effect, Effect::Registration { device, .. } if device == "watch"));
    assert_eq!(p.notes.len(), 1, "an unknown kind is kept and noted");
}

#[test]
fn yeastar_queue_call_members_name_the_queue() {
    let p = parse_fixture(Provider::Yeastar, "yeastar/30011-queue-waiting.json");
    let u = call(&p);
    let queues: Vec<_> = u.queues.iter().map(|q| q.queue.as_str()).collect();
    assert_eq!(queues, vec!["6405"], "one queue, once, without its prefix");
    assert_eq!(u.queues[0].entered_at, env(7).received_at, "arrival time");
    assert_eq!(u.to_number.as_deref(), Some("6405"));
    assert!(p.notes.is_empty(), "{:?}", p.notes);
    let p = parse_fixture(Provider::Yeastar, "yeastar/30011-queue-answered.json");
    let u = call(&p);
    assert_eq!(u.queues.len(), 1);
    assert_eq!(
        leg_states(u)
            .into_iter()
            .map(|(_, s, _)| s)
            .collect::<Vec<_>>(),
        vec![LegState::InCall, LegState::InCall, LegState::Ended]
    );
    // Blank call paths name no queue.
    let p = parse_fixture(Provider::Yeastar, "yeastar/30011-inbound-ringing.json");
    assert!(call(&p).queues.is_empty());
}

#[test]
fn yeastar_cdr_times_in_the_pbx_clock() {
    let p = parse_fixture(Provider::Yeastar, "yeastar/30012-cdr-answered.json");
    let t = call(&p).cdr_times.expect("time_start");
    let start = NaiveDate::from_ymd_opt(2025, 1, 9)
        .and_then(|d| d.and_hms_opt(10, 0, 50))
        .expect("valid");
    assert_eq!(t.start_local, start, "local time, no zone");
    assert_eq!(t.answered_after, Some(8), "47 s in all, 39 s talking");
    assert_eq!(
        call(&p).started_at,
        None,
        "resolved in the source's zone later"
    );
    let p = parse_fixture(Provider::Yeastar, "yeastar/30012-cdr-no-answer.json");
    let u = call(&p);
    assert_eq!(u.cdr_times.and_then(|t| t.answered_after), None);
    assert_eq!(u.disposition.as_deref(), Some("no answer"));
    let p = parse(
        Provider::Yeastar,
        br#"{"type":30012,"msg":"{\"call_id\":\"9.9\",\"time_start\":\"yesterday\",\"status\":\"ANSWERED\"}"}"#,
        env(1),
    )
    .expect("an unreadable time_start is no error");
    assert_eq!(call(&p).cdr_times, None);
    assert_eq!(p.notes.len(), 1);
}

#[test]
fn yeastar_failed_call_keeps_its_reason() {
    let p = parse_fixture(Provider::Yeastar, "yeastar/30015-call-failed.json");
    assert_eq!(p.event_type, "call.failed");
    let u = call(&p);
    assert!(u.ends_call);
    assert_eq!(u.disposition.as_deref(), Some("failed"));
    assert_eq!(u.failure_reason.as_deref(), Some("486 Busy here"));
    assert_eq!(u.from_number.as_deref(), Some("07700900463"));
    assert!(u.queues.is_empty(), "a blank call_path names no queue");
}

#[test]
fn yeastar_unknown_member_status_changes_nothing() {
    let body = br#"{"type":30011,"msg":"{\"call_id\":\"9.1\",\"members\":[{\"extension\":{\"number\":\"2002\",\"channel_id\":\"c1\",\"member_status\":\"WOBBLING\",\"call_path\":\" \"}}]}"}"#;
    let p = parse(Provider::Yeastar, body, env(1)).expect("parses");
    let u = call(&p);
    assert!(u.legs.is_empty(), "unknown status: leg untouched");
    assert!(!u.ends_call);
    assert_eq!(p.notes.len(), 1);
    assert!(p.notes[0].contains("WOBBLING"));
}

#[test]
fn yeastar_malformed_bodies_are_errors() {
    for body in [
        &b"not json"[..],
        br#"[1,2]"#,
        br#"{"msg":"{}"}"#,
        br#"{"type":30011,"msg":"{not json"}"#,
        br#"{"type":30011,"msg":"{\"members\":[]}"}"#,
    ] {
        assert!(
            parse(Provider::Yeastar, body, env(1)).is_err(),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn dialpad_call_sequence() {
    let ring = parse_fixture(Provider::Dialpad, "dialpad/call-ringing.json");
    assert_eq!(ring.event_type, "call.ring");
    let u = call(&ring);
    assert_eq!(u.call_id, "9184732650918273", "a 16-digit id, kept exact");
    assert_eq!(
        u.seq, 1741256530866,
        "event_timestamp orders Dialpad events"
    );
    assert_eq!(u.direction.as_deref(), Some("inbound"));
    assert_eq!(u.from_number.as_deref(), Some("+13125550147"));
    assert_eq!(u.to_number.as_deref(), Some("+16175550162"));
    assert_eq!(u.legs.len(), 1);
    let leg = &u.legs[0];
    assert_eq!(leg.state, LegState::Ringing);
    assert_eq!(leg.extension.as_deref(), Some("4893027716182016"));
    assert_eq!(leg.extension_name.as_deref(), Some("Marisol Okafor"));
    assert_eq!(leg.kind, "user");

    let conn = parse_fixture(Provider::Dialpad, "dialpad/call-connected.json");
    assert_eq!(conn.event_type, "call.started");
    let u = call(&conn);
    assert_eq!(u.legs[0].state, LegState::InCall);
    assert_eq!(
        u.answered_at.map(|t| t.timestamp_millis()),
        Some(1741256537342)
    );

    let hang = parse_fixture(Provider::Dialpad, "dialpad/call-hangup.json");
    assert_eq!(hang.event_type, "call.ended");
    let u = call(&hang);
    assert_eq!(u.legs[0].state, LegState::Ended);
    assert!(u.ends_call, "the conversation's own leg ended");
    assert_eq!(
        u.ended_at.map(|t| t.timestamp_millis()),
        Some(1741256633919)
    );
    assert_eq!(u.talk_seconds, Some(97));
    assert_eq!(u.duration_seconds, Some(104));
    assert_eq!(u.disposition.as_deref(), Some("answered"));

    let rec = parse_fixture(Provider::Dialpad, "dialpad/call-recording.json");
    assert_eq!(rec.event_type, "call.recording.completed");
    let u = call(&rec);
    assert!(u.legs.is_empty(), "post-call events never touch legs");
    assert!(!u.ends_call);
    assert_eq!(
        u.recording_url.as_deref(),
        Some("https://dialpad.example/recordings/4721093385216000")
    );
}

#[test]
fn dialpad_missed_call() {
    let p = parse_fixture(Provider::Dialpad, "dialpad/call-hangup-missed.json");
    let u = call(&p);
    assert!(u.ends_call);
    assert_eq!(u.answered_at, None);
    assert_eq!(u.disposition.as_deref(), Some("missed"));
}

fn agent(p: &Parsed) -> &AgentUpdate {
    match &p.effect {
        Effect::Agent(a) => a,
        other => panic!("expected an agent update, got {other:?}"),
    }
}

fn status_of(a: &AgentUpdate) -> (&str, Option<&str>) {
    match &a.change {
        AgentChange::Status { status, reason } => (status.as_str(), reason.as_deref()),
        other => panic!("expected a status, got {other:?}"),
    }
}

#[test]
fn dialpad_agent_status() {
    let p = parse_fixture(Provider::Dialpad, "dialpad/agent-status.json");
    assert_eq!(p.event_type, "agent.status");
    let a = agent(&p);
    assert_eq!(a.agent, "4893027716182016");
    assert_eq!(a.name.as_deref(), Some("Marisol Okafor"));
    assert_eq!(status_of(a), ("wrapup", None));
    assert_eq!(a.queues, vec!["6350918847201280".to_string()]);
    assert_eq!(a.seq, 1741261200318);
    assert!(p.notes.is_empty());

    let p = parse_fixture(Provider::Dialpad, "dialpad/agent-status-unavailable.json");
    let a = agent(&p);
    assert_eq!(
        status_of(a),
        ("paused", Some("Lunch")),
        "unavailable: paused"
    );
    assert_eq!(
        a.queues,
        vec!["6350918847201280".to_string(), "6350918847201999".into()],
        "one row per call centre"
    );
    // No call centre named: the agent's status in general (queue "").
    let body =
        br#"{"target":{"id":7,"type":"user"},"on_duty_status":"sleeping","event_timestamp":5}"#;
    let p = parse(Provider::Dialpad, body, env(1)).expect("parses");
    let a = agent(&p);
    assert_eq!(a.queues, vec![String::new()]);
    assert_eq!(
        status_of(a),
        ("unknown:sleeping", None),
        "kept, not guessed"
    );
    assert_eq!(p.notes.len(), 1);
}

#[test]
fn dialpad_call_centre_leg_queues_the_call() {
    let p = parse_fixture(Provider::Dialpad, "dialpad/call-queued.json");
    assert_eq!(p.event_type, "call.ring");
    let u = call(&p);
    assert_eq!(u.queues.len(), 1);
    let q = &u.queues[0];
    assert_eq!(q.queue, "6350918847201280", "the call centre's id");
    assert_eq!(
        q.entered_at.timestamp_millis(),
        1741256530400,
        "date_queued"
    );
    assert_eq!(q.connected_at, None);
    assert_eq!(u.legs[0].state, LegState::Ringing);
    assert_eq!(u.legs[0].extension, None, "a call centre is no extension");

    let p = parse_fixture(Provider::Dialpad, "dialpad/call-centre-connected.json");
    let q = &call(&p).queues[0];
    assert_eq!(
        q.connected_at.map(|t| t.timestamp_millis()),
        Some(1741256551900),
        "the call centre's own answer"
    );
    // A user's leg queued with call_center_ids names those.
    let body = br#"{"call_id":11,"state":"queued","call_center_ids":["77","66"],"date_queued":1000,"target":{"id":5,"type":"user"},"event_timestamp":1001}"#;
    let p = parse(Provider::Dialpad, body, env(1)).expect("parses");
    let names: Vec<_> = call(&p).queues.iter().map(|q| q.queue.as_str()).collect();
    assert_eq!(names, vec!["66", "77"]);
    let body = br#"{"call_id":12,"state":"queued","target":{"id":5,"type":"user"},"event_timestamp":1001}"#;
    let p = parse(Provider::Dialpad, body, env(1)).expect("parses");
    assert!(call(&p).queues.is_empty());
    assert_eq!(
        p.notes.len(),
        1,
        "a queued leg naming no call centre is noted"
    );
}

#[test]
fn dialpad_jwt_body_parses_like_plain_json() {
    let claims = fixture("dialpad/call-ringing.json");
    let jwt = domain::signature::sign_dialpad("s3cret", &claims);
    let a = parse(Provider::Dialpad, jwt.as_bytes(), env(1)).expect("jwt");
    let b = parse(Provider::Dialpad, &claims, env(1)).expect("json");
    assert_eq!(a, b);
}

#[test]
fn dialpad_recording_url_string_or_array_and_unknown_state() {
    for rec in [r#""https://x/r/1""#, r#"["https://x/r/1"]"#] {
        let body = format!(
            r#"{{"call_id":1,"state":"recording","recording_url":{rec},"event_timestamp":5}}"#
        );
        let p = parse(Provider::Dialpad, body.as_bytes(), env(1)).expect("parses");
        assert_eq!(call(&p).recording_url.as_deref(), Some("https://x/r/1"));
    }
    let p = parse(
        Provider::Dialpad,
        br#"{"call_id":1,"state":"eavesdrop","event_timestamp":5}"#,
        env(1),
    )
    .expect("parses");
    assert_eq!(p.event_type, "call.eavesdrop");
    assert!(call(&p).legs.is_empty());
    assert_eq!(p.notes.len(), 1);
}
