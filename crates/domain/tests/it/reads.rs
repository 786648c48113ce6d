//! The call-centre projection on PostgreSQL and what the board reads of it:
//! queues (waiting calls, today's figures, the service level), agents,
//! devices, the PBX's own status, CDR times in the source's zone, missed
//! calls (and marking one done), the history search, the change feed keys.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, DurationRound, TimeZone, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use domain::projection::{apply, read, Changed, Item};
use domain::{parse, Envelope, Provider};
use serde_json::json;
use testkit::{fixture, TestDb};
use traffic::scenario::{yeastar_envelope, yeastar_path_snapshot, Member};

/// Events applied as they would arrive now: inbox ids in order, arrival
/// times given.
struct Harness {
    _db: TestDb,
    conn: AsyncPgConnection,
    next_id: i64,
}

impl Harness {
    async fn new() -> Harness {
        let db = TestDb::new().await.expect("test database");
        db.add_source("pbx", "yeastar", &["s"])
            .await
            .expect("source");
        db.add_source("dp", "dialpad", &[]).await.expect("source");
        let conn = db.conn().await.expect("connect");
        Harness {
            _db: db,
            conn,
            next_id: 1,
        }
    }

    /// Parses `body` as the next arrival, at `at`, and applies it in its own
    /// transaction. Returns what it changed.
    async fn apply_at(
        &mut self,
        source: &str,
        provider: Provider,
        body: &[u8],
        at: DateTime<Utc>,
    ) -> Changed {
        let env = Envelope {
            id: self.next_id,
            received_at: at,
        };
        self.next_id += 1;
        let parsed = parse(provider, body, env).expect("parses");
        let item = Item {
            source,
            received_at: at,
            effect: &parsed.effect,
        };
        self.conn
            .transaction::<_, diesel::result::Error, _>(async |c| apply(c, &[item]).await)
            .await
            .expect("applies")
    }

    async fn queue(&mut self, source: &str, queue: &str) -> read::QueueView {
        let key = [(source.to_string(), queue.to_string())];
        let mut q = read::queues(&mut self.conn, None, Some(&key))
            .await
            .expect("queues");
        assert_eq!(q.len(), 1, "{q:?}");
        q.remove(0)
    }

    async fn missed(&mut self, source: &str) -> BTreeMap<String, i32> {
        read::missed_calls(&mut self.conn, Some(source), None, 100)
            .await
            .expect("missed")
            .into_iter()
            .map(|m| (m.number, m.missed_count))
            .collect()
    }
}

/// Now, to the second, but never before today's first minute (UTC, the
/// sources' zone here), so that "today" holds what the test sends.
fn now() -> DateTime<Utc> {
    let n = Utc::now()
        .duration_trunc(Duration::seconds(1))
        .expect("trunc");
    let midnight = n.duration_trunc(Duration::days(1)).expect("trunc");
    n.max(midnight + Duration::minutes(5))
}

/// A Yeastar call status of call `call` in queue `queue-6405` (members
/// `ms`) from `caller`.
fn queued(call: &str, ms: &[Member<'_>]) -> Vec<u8> {
    yeastar_path_snapshot(30011, call, "queue-6405", ms)
}

fn cdr(call: &str, from: &str, to: &str, kind: &str, status: &str, talk: i64) -> Vec<u8> {
    yeastar_envelope(
        30012,
        &json!({"call_id": call, "time_start": "2026-12-01 10:00:00", "call_from": from,
                "call_to": to, "call_duration": talk + 5, "talk_duration": talk,
                "status": status, "type": kind}),
    )
}

/// The status of the one extension of `pbx`.
async fn status(conn: &mut AsyncPgConnection) -> String {
    read::extensions(conn, Some("pbx"))
        .await
        .expect("extensions")[0]
        .status
        .clone()
}

/// The call ids of the first page of the history matching `f`.
async fn search(conn: &mut AsyncPgConnection, f: read::HistoryFilter) -> Vec<String> {
    let page = read::history(conn, &f).await.expect("history");
    page.calls.into_iter().map(|c| c.call_id).collect()
}

#[tokio::test]
async fn a_queue_shows_who_waits_and_todays_figures() {
    let mut h = Harness::new().await;
    let y = Provider::Yeastar;
    let t0 = now() - Duration::minutes(4);
    let caller = "07700900461";
    use Member::{Ext, Trunk};
    let inb = |s| Trunk("inbound", caller, "6405", s);
    // Call A waits, agents ringing.
    let changed = h
        .apply_at(
            "pbx",
            y,
            &queued(
                "A.1",
                &[inb("ALERT"), Ext("3105", "RING"), Ext("3106", "RING")],
            ),
            t0,
        )
        .await;
    assert_eq!(
        changed.queues,
        vec![("pbx".into(), "6405".into())],
        "announced"
    );
    let q = h.queue("pbx", "6405").await;
    assert_eq!((q.waiting, q.answered_today, q.abandoned_today), (1, 0, 0));
    assert_eq!(q.longest_waiting_since, Some(t0));
    assert!(q.longest_wait_seconds >= 239, "{}", q.longest_wait_seconds);
    assert_eq!(q.sla_seconds, 20, "the default");
    assert_eq!(q.service_level, None);
    let w = read::waiting_calls(&mut h.conn, Some("pbx"), Some("6405"))
        .await
        .expect("waiting");
    assert_eq!(w.len(), 1);
    assert_eq!(
        (w[0].call_id.as_str(), w[0].from_number.as_deref()),
        ("A.1", Some(caller))
    );
    // 3105 answers 10 s later (within 20 s); it ends 60 s after that.
    h.apply_at(
        "pbx",
        y,
        &queued(
            "A.1",
            &[inb("ANSWERED"), Ext("3105", "ANSWER"), Ext("3106", "BYE")],
        ),
        t0 + Duration::seconds(10),
    )
    .await;
    h.apply_at(
        "pbx",
        y,
        &queued("A.1", &[inb("BYE"), Ext("3105", "BYE")]),
        t0 + Duration::seconds(70),
    )
    .await;
    // Call B waits 30 s and hangs up.
    let b0 = t0 + Duration::seconds(100);
    h.apply_at(
        "pbx",
        y,
        &queued("B.1", &[inb("ALERT"), Ext("3105", "RING")]),
        b0,
    )
    .await;
    h.apply_at(
        "pbx",
        y,
        &queued("B.1", &[inb("BYE"), Ext("3105", "BYE")]),
        b0 + Duration::seconds(30),
    )
    .await;
    let q = h.queue("pbx", "6405").await;
    assert_eq!((q.waiting, q.longest_wait_seconds), (0, 0), "nobody waits");
    assert_eq!((q.answered_today, q.abandoned_today), (1, 1));
    assert_eq!(q.answered_within_sla_today, 1);
    assert_eq!(q.service_level, Some(0.5));
    assert_eq!(q.avg_wait_seconds, Some(10.0));
    assert_eq!(q.avg_talk_seconds, Some(60.0));
    // A threshold of 5 s: the answer after 10 s is no longer within it.
    store::queues::set_sla(&mut h.conn, "pbx", "6405", 5)
        .await
        .expect("sla");
    let q = h.queue("pbx", "6405").await;
    assert_eq!((q.sla_seconds, q.answered_within_sla_today), (5, 0));
    assert_eq!(q.service_level, Some(0.0));
    assert!(store::queues::set_sla(&mut h.conn, "nope", "6405", 5)
        .await
        .is_err());
    // The abandoned caller is on the list to call back.
    assert_eq!(
        h.missed("pbx").await,
        BTreeMap::from([(caller.to_string(), 1)])
    );
}

#[tokio::test]
async fn agents_show_what_they_do_and_why_they_pause() {
    let mut h = Harness::new().await;
    let y = Provider::Yeastar;
    let t0 = now() - Duration::minutes(3);
    let status = |agent: &str, word: &str, reason: &str| {
        json!({"type": 30029, "sn": "3632C0418MWE", "msg": {"queue_number": "queue-6405",
            "agent_number": agent, "status": word, "reason": reason}})
        .to_string()
        .into_bytes()
    };
    let c = h
        .apply_at("pbx", y, &status("3105", "Unpaused", ""), t0)
        .await;
    assert_eq!(c.agents, vec![("pbx".into(), "3105".into())]);
    assert_eq!(c.queues, vec![("pbx".into(), "6405".into())]);
    h.apply_at("pbx", y, &status("3106", "Paused", "Lunch"), t0)
        .await;
    h.apply_at(
        "pbx",
        y,
        &fixture("yeastar/30026-agent-ring-timeout.json"),
        t0,
    )
    .await;
    use Member::{Ext, Trunk};
    let inb = |s| Trunk("inbound", "07700900470", "6405", s);
    h.apply_at(
        "pbx",
        y,
        &queued("C.1", &[inb("ALERT"), Ext("3105", "RING")]),
        t0,
    )
    .await;
    h.apply_at(
        "pbx",
        y,
        &queued("C.1", &[inb("ANSWERED"), Ext("3105", "ANSWER")]),
        t0 + Duration::seconds(5),
    )
    .await;
    let agents = read::agents(&mut h.conn, Some("pbx"), None)
        .await
        .expect("agents");
    let by: BTreeMap<_, _> = agents.iter().map(|a| (a.agent.as_str(), a)).collect();
    let a = by["3105"];
    assert_eq!(a.state, read::AgentState::Incall, "in a queue call");
    assert_eq!(a.calls_today, 1);
    assert!(a.talk_seconds_today >= 170, "{}", a.talk_seconds_today);
    assert!(a.logged_in);
    let b = by["3106"];
    assert_eq!(b.state, read::AgentState::Paused);
    assert_eq!(b.reason.as_deref(), Some("Lunch"));
    assert_eq!(
        b.queues[0].ring_timeout_call.as_deref(),
        Some("1736414000.2210")
    );
    let q = h.queue("pbx", "6405").await;
    assert_eq!(
        (q.agents_available, q.agents_busy, q.agents_paused),
        (0, 1, 1)
    );
    // Logged out: no longer counted as free or busy in the queue.
    h.apply_at(
        "pbx",
        y,
        &status("3106", "Logged Out", ""),
        t0 + Duration::seconds(9),
    )
    .await;
    let q = h.queue("pbx", "6405").await;
    assert_eq!((q.agents_paused, q.agents_logged_out), (0, 1));
    // A stale status (an earlier sequence) does not win.
    let late = json!({"type": 30029, "msg": {"queue_number": "6405", "agent_number": "3106",
        "status": "Paused", "reason": "Old"}});
    let env = Envelope {
        id: 2,
        received_at: t0,
    };
    let parsed = parse(y, late.to_string().as_bytes(), env).expect("parses");
    let item = Item {
        source: "pbx",
        received_at: t0,
        effect: &parsed.effect,
    };
    h.conn
        .transaction::<_, diesel::result::Error, _>(async |c| apply(c, &[item]).await)
        .await
        .expect("applies");
    let keys = [("pbx".to_string(), "3106".to_string())];
    let b = read::agents(&mut h.conn, None, Some(&keys))
        .await
        .expect("agents");
    assert_eq!(b[0].state, read::AgentState::Loggedout);
}

#[tokio::test]
async fn a_web_client_logging_out_leaves_a_registered_desk_phone_online() {
    let mut h = Harness::new().await;
    let y = Provider::Yeastar;
    let t = now();
    h.apply_at("pbx", y, &fixture("yeastar/30007-sip-registered.json"), t)
        .await;
    h.apply_at(
        "pbx",
        y,
        &fixture("yeastar/30007-linkus-web-logout.json"),
        t,
    )
    .await;
    assert_eq!(
        status(&mut h.conn).await,
        "online",
        "the desk phone is still registered"
    );
    h.apply_at(
        "pbx",
        y,
        &fixture("yeastar/30007-extension-registration.json"),
        t,
    )
    .await;
    assert_eq!(status(&mut h.conn).await, "offline", "no device registered");
}

#[tokio::test]
async fn the_pbx_status_shows_without_call_events_and_yields_to_newer_ones() {
    let mut h = Harness::new().await;
    let y = Provider::Yeastar;
    let t = now() - Duration::minutes(1);
    let rep = |s: &str| yeastar_envelope(30008, &json!({"extension": "3105", "status": s}));
    h.apply_at("pbx", y, &rep("Busy"), t).await;
    assert_eq!(
        status(&mut h.conn).await,
        "incall",
        "a PBX that pushes only 30008"
    );
    // A call's BYE after the Busy: the Busy is stale.
    let bye = yeastar_path_snapshot(30011, "D.1", "", &[Member::Ext("3105", "BYE")]);
    h.apply_at("pbx", y, &bye, t + Duration::seconds(2)).await;
    assert_eq!(status(&mut h.conn).await, "online");
    h.apply_at("pbx", y, &rep("Ringing"), t + Duration::seconds(3))
        .await;
    assert_eq!(status(&mut h.conn).await, "ringing");
}

#[tokio::test]
async fn a_cdr_only_call_starts_in_the_source_zone() {
    let mut h = Harness::new().await;
    let zone = store::sources::set_timezone(&mut h.conn, "pbx", "europe/berlin")
        .await
        .expect("zone");
    assert_eq!(zone, "Europe/Berlin");
    assert!(matches!(
        store::sources::set_timezone(&mut h.conn, "pbx", "Mars/Olympus").await,
        Err(store::sources::SourceError::BadTimezone(_))
    ));
    h.apply_at(
        "pbx",
        Provider::Yeastar,
        &fixture("yeastar/30012-cdr-no-answer.json"),
        now(),
    )
    .await;
    let keys = [("pbx".to_string(), "1736414100.2231".to_string())];
    let c = read::calls(&mut h.conn, &keys).await.expect("calls");
    assert_eq!(
        c[0].started_at,
        Utc.with_ymd_and_hms(2025, 1, 9, 9, 15, 0).single(),
        "10:15 in Berlin in January is 09:15 UTC"
    );
    assert_eq!(c[0].answered_at, None);
}

#[tokio::test]
async fn a_missed_call_leaves_the_list_when_answered_or_marked_done() {
    let mut h = Harness::new().await;
    let y = Provider::Yeastar;
    let t0 = now() - Duration::minutes(4);
    let x = "07700900480";
    let missed = |call: &str| {
        yeastar_path_snapshot(
            30011,
            call,
            "",
            &[Member::Trunk("inbound", x, "3105", "BYE")],
        )
    };
    let ring = |call: &str| {
        yeastar_path_snapshot(
            30011,
            call,
            "",
            &[Member::Trunk("inbound", x, "3105", "ALERT")],
        )
    };
    // Two missed calls from x.
    h.apply_at("pbx", y, &ring("M.1"), t0).await;
    h.apply_at("pbx", y, &missed("M.1"), t0 + Duration::seconds(5))
        .await;
    h.apply_at("pbx", y, &ring("M.2"), t0 + Duration::seconds(20))
        .await;
    let c = h
        .apply_at("pbx", y, &missed("M.2"), t0 + Duration::seconds(25))
        .await;
    assert_eq!(c.missed, vec![("pbx".into(), x.into())], "announced");
    assert_eq!(h.missed("pbx").await, BTreeMap::from([(x.to_string(), 2)]));
    let list = read::missed_calls(&mut h.conn, None, None, 10)
        .await
        .expect("list");
    assert_eq!(list[0].last_call_id.as_deref(), Some("M.2"));
    assert_eq!(list[0].last_reason.as_deref(), Some("no_answer"));
    // An operator marks it done: off the list, audited.
    let d = store::missed::mark_done(&mut h.conn, "olivia", "pbx", x, list[0].last_at)
        .await
        .expect("done");
    assert_eq!((d.cleared, d.left), (2, 0));
    assert!(h.missed("pbx").await.is_empty());
    let audit = store::missed::audit(&mut h.conn, None, 10)
        .await
        .expect("audit");
    assert_eq!(
        (audit[0].user_name.as_str(), audit[0].missed_count),
        ("olivia", 2)
    );
    assert!(matches!(
        store::missed::mark_done(&mut h.conn, "olivia", "pbx", x, None).await,
        Err(store::missed::MarkError::NotListed { .. })
    ));
    // Missed again (a CDR says busy): back on the list with that one only.
    h.apply_at("pbx", y, &ring("M.3"), t0 + Duration::seconds(60))
        .await;
    h.apply_at(
        "pbx",
        y,
        &cdr("M.3", x, "3105", "Inbound", "BUSY", 0),
        t0 + Duration::seconds(65),
    )
    .await;
    assert_eq!(h.missed("pbx").await, BTreeMap::from([(x.to_string(), 1)]));
    // An agent calls x back and x answers: off the list by itself.
    let out = |s1, s2| {
        yeastar_path_snapshot(
            30011,
            "R.1",
            "",
            &[
                Member::Ext("3105", s1),
                Member::Trunk("outbound", "3105", x, s2),
            ],
        )
    };
    h.apply_at(
        "pbx",
        y,
        &out("ALERT", "EARLYMEDIA"),
        t0 + Duration::seconds(90),
    )
    .await;
    assert_eq!(h.missed("pbx").await.len(), 1, "not answered yet");
    h.apply_at(
        "pbx",
        y,
        &out("ANSWERED", "ANSWER"),
        t0 + Duration::seconds(95),
    )
    .await;
    assert!(h.missed("pbx").await.is_empty(), "called back");
}

#[tokio::test]
async fn the_history_finds_calls_by_each_filter_a_page_at_a_time() {
    let mut h = Harness::new().await;
    let y = Provider::Yeastar;
    let t0 = now() - Duration::hours(2);
    use Member::{Ext, Trunk};
    // 12 calls, a minute apart: even ones through queue 6405 answered by
    // 3105, odd ones missed by 3106, caller "0770090050<i % 3>".
    for i in 0..12i64 {
        let call = format!("H.{i:02}");
        let caller = format!("0770090050{}", i % 3);
        let t = t0 + Duration::minutes(i);
        if i % 2 == 0 {
            let inb = |s| Trunk("inbound", &caller, "6405", s);
            h.apply_at(
                "pbx",
                y,
                &queued(&call, &[inb("ANSWERED"), Ext("3105", "ANSWER")]),
                t,
            )
            .await;
            h.apply_at(
                "pbx",
                y,
                &queued(&call, &[inb("BYE"), Ext("3105", "BYE")]),
                t + Duration::seconds(30),
            )
            .await;
        } else {
            let m = |s1, s2| {
                yeastar_path_snapshot(
                    30011,
                    &call,
                    "",
                    &[Trunk("inbound", &caller, "3106", s1), Ext("3106", s2)],
                )
            };
            h.apply_at("pbx", y, &m("ALERT", "RING"), t).await;
            h.apply_at("pbx", y, &m("BYE", "BYE"), t + Duration::seconds(20))
                .await;
        }
    }
    // The newest: 3106 has two legs in it (two channels).
    let two = yeastar_envelope(
        30011,
        &json!({"call_id": "H.TW", "members": [
            {"inbound": {"from": "07700900599", "to": "3106", "trunk_name": "T",
                         "channel_id": "PJSIP/trunk-TW", "member_status": "ANSWERED", "call_path": ""}},
            {"extension": {"number": "3106", "channel_id": "PJSIP/3106-a",
                           "member_status": "ANSWER", "call_path": ""}},
            {"extension": {"number": "3106", "channel_id": "PJSIP/3106-b",
                           "member_status": "RING", "call_path": ""}}]}),
    );
    h.apply_at("pbx", y, &two, t0 + Duration::minutes(13)).await;
    let all = read::HistoryFilter {
        limit: 50,
        ..Default::default()
    };
    let ids = search(&mut h.conn, all.clone()).await;
    assert_eq!(ids.len(), 13);
    assert_eq!(ids[0], "H.TW", "newest first");
    let f = |g: fn(&mut read::HistoryFilter)| {
        let mut f = all.clone();
        g(&mut f);
        f
    };
    assert_eq!(
        search(&mut h.conn, f(|f| f.number = Some("07700900501".into()))).await,
        vec!["H.10", "H.07", "H.04", "H.01"]
    );
    let of_3106 = search(&mut h.conn, f(|f| f.extension = Some("3106".into()))).await;
    assert_eq!(
        of_3106,
        vec!["H.TW", "H.11", "H.09", "H.07", "H.05", "H.03", "H.01"],
        "H.TW once"
    );
    assert_eq!(
        search(
            &mut h.conn,
            f(|f| {
                f.extension = Some("3106".into());
                f.outcome = Some("no_answer".into());
            })
        )
        .await
        .len(),
        6
    );
    assert_eq!(
        search(&mut h.conn, f(|f| f.queue = Some("6405".into())))
            .await
            .len(),
        6
    );
    assert_eq!(
        search(&mut h.conn, f(|f| f.outcome = Some("no_answer".into()))).await,
        vec!["H.11", "H.09", "H.07", "H.05", "H.03", "H.01"]
    );
    let since = t0 + Duration::minutes(3);
    let until = t0 + Duration::minutes(6);
    let mut range = all.clone();
    range.since = Some(since);
    range.until = Some(until);
    range.source = Some("pbx".into());
    assert_eq!(
        search(&mut h.conn, range).await,
        vec!["H.05", "H.04", "H.03"]
    );
    assert!(search(&mut h.conn, f(|f| f.source = Some("dp".into())))
        .await
        .is_empty());
    // Pages of 5: every call once, in order, then no next page.
    let mut seen = Vec::new();
    let mut page = read::HistoryFilter {
        limit: 5,
        ..Default::default()
    };
    loop {
        let p = read::history(&mut h.conn, &page).await.expect("page");
        seen.extend(p.calls.iter().map(|c| c.call_id.clone()));
        match p.next {
            Some(next) => page.after = Some(next.to_string().parse().expect("cursor")),
            None => break,
        }
    }
    assert_eq!(seen, ids, "three pages, no call twice or missing");
    // By extension, pages of 2: the same calls, each once.
    let mut seen = Vec::new();
    let mut page = read::HistoryFilter {
        extension: Some("3106".into()),
        limit: 2,
        ..Default::default()
    };
    loop {
        let p = read::history(&mut h.conn, &page).await.expect("page");
        seen.extend(p.calls.iter().map(|c| c.call_id.clone()));
        match p.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, of_3106);
    let one = read::history(
        &mut h.conn,
        &f(|f| {
            f.number = Some("07700900500".into());
            f.outcome = Some("answered".into());
        }),
    )
    .await
    .expect("history");
    assert_eq!(one.calls[0].call_id, "H.06");
    assert_eq!(one.calls[0].queues, vec!["6405".to_string()]);
    assert_eq!(one.calls[0].extensions, vec!["3105".to_string()]);
    assert_eq!(one.calls[0].outcome.as_deref(), Some("answered"));
}
