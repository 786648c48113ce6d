//! A call-centre day end to end, for both providers: signed events posted
//! to the real `ingest`, shuffled and duplicated, applied by three real
//! `worker run` processes at once; then what a supervisor reads (queues,
//! agents, missed calls, devices) and the operator's commands.
//!
//! Shuffled means what the network can do: Dialpad events carry their own
//! time, so every phase is posted in a random order; Yeastar events carry
//! none (their order is their arrival), so its call events are shuffled
//! while its agent and registration reports, whose order is their meaning,
//! are posted in order. Duplicates are posted as retries are: the same
//! body again, stored once. Every phase is posted concurrently, and the
//! workers run throughout. The final state must equal processing the
//! stored events one by one in order (and, for Dialpad, the events in the
//! order they were sent).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DurationRound, Utc};
use domain::projection::read::{self, AgentState};
use domain::Provider;
use futures_util::future::join_all;
use testkit::plan::{self, CALLERS, CALL_CENTRE, QUEUE};
use testkit::reference::Projection;
use testkit::snapshot::Snapshot;
use testkit::{Counter, Stack};
use traffic::scenario::Scenario;

const WAIT: Duration = Duration::from_secs(60);
const PBX_SECRET: &str = "pbx-secret-0123456789abcdef01234";
const DP_SECRET: &str = "dp-secret-0123456789abcdef";

async fn stack() -> anyhow::Result<Stack> {
    Stack::builder()
        .yeastar("pbx", PBX_SECRET)
        .dialpad("dp", DP_SECRET)
        .ingest(&[])
        .workers(3, &["--batch-size", "4"])
        .wait(WAIT)
        .start()
        .await
}

/// The call-centre scenario `name` of `provider` as call `n`, agents from
/// the start of the pools, from caller `caller`; a Dialpad call `n` starts
/// `n` times 200 s after a time today (so that it counts today).
fn scenario(provider: Provider, name: &str, caller: usize, n: u64) -> Scenario {
    let kinds = traffic::scenario::CALLCENTRE_SCENARIOS;
    let kind = kinds.iter().position(|k| *k == name).unwrap_or(usize::MAX);
    let pick = match provider {
        Provider::Yeastar => kind,
        _ => kinds.len() + kind,
    };
    let now = Utc::now();
    let midnight = now.duration_trunc(chrono::Duration::days(1)).unwrap_or(now);
    let base = (now - chrono::Duration::minutes(30)).max(midnight + chrono::Duration::minutes(1));
    let t0 = base.timestamp_millis() + n as i64 * 200_000;
    plan::build_callcentre_at(pick, 0, caller, n, t0)
}

/// Posts `bodies` to `source`: every one once and every other one twice
/// (a retry): in a random order, eight at a time, when `shuffle`; else in
/// order, one at a time. Returns how many distinct events were stored.
async fn post(
    s: &Stack,
    source: &str,
    bodies: &[Vec<u8>],
    shuffle: bool,
    rng: &mut fastrand::Rng,
) -> usize {
    let mut order: Vec<usize> = (0..bodies.len())
        .chain((0..bodies.len()).step_by(2))
        .collect();
    if shuffle {
        rng.shuffle(&mut order);
    } else {
        order.sort();
    }
    let mut ids = Vec::new();
    // In order: one at a time (concurrent posts arrive in any order).
    let at_once = if shuffle { 8 } else { 1 };
    for chunk in order.chunks(at_once) {
        let posted = join_all(chunk.iter().map(|k| s.send(source, &bodies[*k]))).await;
        for p in posted {
            ids.push(p.expect("ingest stored it"));
        }
    }
    ids.sort();
    ids.dedup();
    ids.len()
}

fn bodies(scenarios: &[Scenario]) -> Vec<Vec<u8>> {
    plan::flatten(scenarios)
        .into_iter()
        .map(|e| e.body)
        .collect()
}

/// Waits until nothing is pending, and checks that nothing failed.
async fn drained(s: &Stack) {
    s.db.wait_count(WAIT, Counter::Pending, "true", 0)
        .await
        .expect("all processed");
    assert_eq!(s.db.count_of(Counter::Failed).await.expect("failed"), 0);
}

/// The database's state of `source` equals the reference of its stored
/// events, in order.
async fn equals_in_order(s: &Stack, source: &str, provider: Provider) -> Snapshot {
    let mut conn = s.db.conn().await.expect("conn");
    let want = Projection::of_stored(&mut conn, source, provider)
        .await
        .expect("reference");
    let got = Snapshot::of_database(&mut conn, source, true)
        .await
        .expect("snapshot");
    assert_eq!(Snapshot::of_projection(&want, true), got, "{source}");
    got
}

/// What a supervisor reads of `source` after the day: one queue call
/// answered by agent 0, one abandoned; caller 2 to call back (caller 1 was
/// called back); agent 0 paused for a meeting. Returns the agents.
async fn supervisor_sees(
    s: &Stack,
    source: &str,
    queue: &str,
) -> BTreeMap<String, read::AgentView> {
    let mut conn = s.db.conn().await.expect("conn");
    let key = [(source.to_string(), queue.to_string())];
    let q = read::queues(&mut conn, None, Some(&key))
        .await
        .expect("queues");
    assert_eq!(q.len(), 1, "{source}: {q:?}");
    assert_eq!(
        (q[0].waiting, q[0].answered_today, q[0].abandoned_today),
        (0, 1, 1),
        "{source}: {:?}",
        q[0]
    );
    let missed = read::missed_calls(&mut conn, Some(source), None, 10)
        .await
        .expect("missed");
    let numbers: Vec<_> = missed.iter().map(|m| m.number.as_str()).collect();
    assert_eq!(
        numbers,
        vec![CALLERS[2]],
        "{source}: caller 1 was called back"
    );
    let agents: BTreeMap<_, _> = read::agents(&mut conn, Some(source), None)
        .await
        .expect("agents")
        .into_iter()
        .map(|a| (a.agent.clone(), a))
        .collect();
    agents
}

#[tokio::test]
async fn yeastar_call_centre_day_through_ingest_and_three_workers() -> anyhow::Result<()> {
    let s = stack().await?;
    let y = Provider::Yeastar;
    let mut rng = fastrand::Rng::with_seed(22);
    // Calls, shuffled: a queue call answered, one abandoned, a missed call.
    let calls = bodies(&[
        scenario(y, "queue-answered", 0, 1),
        scenario(y, "queue-abandoned", 1, 2),
        scenario(y, "missed", 2, 3),
    ]);
    post(&s, "pbx", &calls, true, &mut rng).await;
    // The agents' day and the devices, in the order the PBX reported them.
    let reports = bodies(&[scenario(y, "agent-day", 0, 4), scenario(y, "devices", 0, 5)]);
    post(&s, "pbx", &reports, false, &mut rng).await;
    // Caller 1 is called back, shuffled.
    post(
        &s,
        "pbx",
        &bodies(&[scenario(y, "callback", 1, 6)]),
        true,
        &mut rng,
    )
    .await;
    drained(&s).await;
    let snap = equals_in_order(&s, "pbx", y).await;
    let agents = supervisor_sees(&s, "pbx", QUEUE).await;
    let (a0, a1) = (plan::YEASTAR_EXTS[0], plan::YEASTAR_EXTS[1]);
    assert_eq!(agents[a0].state, AgentState::Paused);
    assert_eq!(agents[a0].reason.as_deref(), Some("Meeting"));
    assert_eq!(
        agents[a0].calls_today, 2,
        "the queue call and the call back"
    );
    assert_eq!(agents[a1].state, AgentState::Paused);
    assert!(agents[a1]
        .reason
        .as_deref()
        .is_some_and(|r| r.starts_with("auto-paused")));
    // Agent 0 left the Linkus web client: its desk phone keeps it online.
    assert_eq!(snap.extensions[a0].status, "online");
    assert_eq!(
        snap.extensions[a1].status, "offline",
        "only a web client, logged out"
    );

    // The operator calls caller 2 back by hand and marks it done.
    let out = testkit::worker_ok(
        &s.db.url,
        &["missed", "done", "pbx", CALLERS[2], "--by", "olivia"],
    )
    .await?;
    assert!(out.contains("1 missed call(s) done, 0 left"), "{out}");
    let list = testkit::worker_ok(&s.db.url, &["missed", "list", "--json"]).await?;
    assert_eq!(list.trim(), "[]");
    let audit = testkit::worker_ok(&s.db.url, &["audit", "--missed"]).await?;
    assert!(
        audit.contains("olivia") && audit.contains(CALLERS[2]),
        "{audit}"
    );
    let queues = testkit::worker_ok(&s.db.url, &["queue", "list"]).await?;
    assert!(queues.contains(QUEUE), "{queues}");
    Ok(())
}

#[tokio::test]
async fn dialpad_call_centre_day_through_ingest_and_three_workers() -> anyhow::Result<()> {
    let s = stack().await?;
    let d = Provider::Dialpad;
    let mut rng = fastrand::Rng::with_seed(2022);
    let first = [
        scenario(d, "queue-answered", 0, 1),
        scenario(d, "queue-abandoned", 1, 2),
        scenario(d, "missed", 2, 3),
        scenario(d, "agent-day", 0, 4),
        scenario(d, "devices", 0, 5),
    ];
    let then = [scenario(d, "callback", 1, 6)];
    // Everything shuffled: Dialpad's events carry their own times.
    post(&s, "dp", &bodies(&first), true, &mut rng).await;
    post(&s, "dp", &bodies(&then), true, &mut rng).await;
    drained(&s).await;
    let snap = equals_in_order(&s, "dp", d).await;
    // And equal to the events processed in the order they were sent.
    let all: Vec<Scenario> = first.into_iter().chain(then).collect();
    let sent = plan::reference(&plan::flatten(&all), d);
    assert_eq!(Snapshot::of_projection(&sent, true), snap);
    let agents = supervisor_sees(&s, "dp", &CALL_CENTRE.to_string()).await;
    let (a0, a1) = (
        plan::DIALPAD_USERS[0].to_string(),
        plan::DIALPAD_USERS[1].to_string(),
    );
    assert_eq!(agents[&a0].state, AgentState::Paused);
    assert_eq!(agents[&a0].reason.as_deref(), Some("Meeting"));
    assert_eq!(agents[&a1].state, AgentState::Available, "back on duty");
    Ok(())
}

/// The operator's call-centre commands refuse what makes no sense, with a
/// message saying why, and change nothing.
#[tokio::test]
async fn the_call_centre_commands_refuse_nonsense() {
    let db = crate::helpers::fresh().await;
    db.add_source("pbx", "yeastar", &["s"])
        .await
        .expect("source");
    for (args, says) in [
        (
            &["source", "set-timezone", "pbx", "Mars/Olympus"][..],
            "unknown time zone",
        ),
        (&["source", "set-timezone", "nope", "UTC"], "does not exist"),
        (
            &["queue", "set-sla", "nope", "6405", "20"],
            "does not exist",
        ),
        (&["queue", "set-sla", "pbx", "6405", "0"], "0"),
        (&["queue", "clear-sla", "pbx", "6405"], "no settings"),
        (&["history", "--since", "yesterday"], "neither RFC 3339"),
        (&["history", "--after", "12"], "not a page cursor"),
        (
            &["missed", "done", "pbx", "+15555550100", "--by", "olivia"],
            "no missed calls",
        ),
    ] {
        let err = crate::helpers::refused(&db, args, "").await;
        assert!(err.contains(says), "worker {args:?}: {err}");
    }
    let out = crate::helpers::ok(
        &db,
        &["source", "set-timezone", "pbx", "america/new_york"],
        "",
    )
    .await;
    assert!(out.contains("America/New_York"), "{out}");
    let list = crate::helpers::ok(&db, &["source", "list"], "").await;
    assert!(list.contains("America/New_York"), "{list}");
    crate::helpers::ok(&db, &["queue", "set-sla", "pbx", "6405", "30"], "").await;
    let settings = crate::helpers::ok(&db, &["queue", "settings"], "").await;
    assert!(
        settings.contains("6405") && settings.contains("30s"),
        "{settings}"
    );
}
