//! Generated delivery plans for the convergence property tests: a few call
//! scenarios of both providers sharing extensions, their events flattened in
//! sending order, and a delivery order that shuffles and duplicates them;
//! likewise for the call-centre scenarios (queues, agents, devices, missed
//! calls and call backs), which also share queues and callers.

use crate::reference::Projection;
use chrono::{TimeZone, Utc};
use domain::{Envelope, Provider};
use proptest::prelude::*;
use traffic::scenario::{
    self, Scenario, CALLCENTRE_SCENARIOS, DIALPAD_SCENARIOS, YEASTAR_SCENARIOS,
};

/// Extensions the Yeastar scenarios draw from (shared between calls).
pub const YEASTAR_EXTS: [&str; 5] = ["1001", "1002", "1003", "1004", "1005"];
/// Dialpad user ids the Dialpad scenarios draw from.
pub const DIALPAD_USERS: [u64; 5] = [
    5171365938069501,
    5171365938069502,
    5171365938069503,
    5171365938069504,
    5171365938069505,
];

/// One event of a plan, in sending order.
#[derive(Debug, Clone)]
pub struct PlannedEvent {
    pub provider: Provider,
    pub scenario: &'static str,
    pub label: &'static str,
    pub body: Vec<u8>,
}

/// A plan: the events in sending order, and the order (with repeats) in
/// which they are delivered or processed.
#[derive(Debug, Clone)]
pub struct Plan {
    pub events: Vec<PlannedEvent>,
    pub delivery: Vec<usize>,
}

/// Builds scenario `pick` (an index over Yeastar then Dialpad kinds) as call
/// number `n`, its extensions rotated by `rot` in the shared pools.
pub fn build(pick: usize, rot: usize, n: u64) -> Scenario {
    if pick < YEASTAR_SCENARIOS.len() {
        let exts: Vec<String> = (0..3)
            .map(|i| YEASTAR_EXTS[(rot + i) % YEASTAR_EXTS.len()].to_string())
            .collect();
        scenario::yeastar(YEASTAR_SCENARIOS[pick], n, &exts).unwrap_or_else(|| unreachable!())
    } else {
        let users: Vec<u64> = (0..3)
            .map(|i| DIALPAD_USERS[(rot + i) % DIALPAD_USERS.len()])
            .collect();
        let name = DIALPAD_SCENARIOS[pick - YEASTAR_SCENARIOS.len()];
        scenario::dialpad(name, n, &users, 1_790_000_000_000 + n as i64 * 1_000_000)
            .unwrap_or_else(|| unreachable!())
    }
}

/// The queue of the Yeastar call-centre scenarios (sent as `queue-6405`).
pub const QUEUE: &str = "6405";
/// The call centre of the Dialpad call-centre scenarios.
pub const CALL_CENTRE: u64 = 5_883_344_555_555_555;
/// The outside numbers the call-centre scenarios draw from (shared, so that
/// a call back clears another scenario's missed calls).
pub const CALLERS: [&str; 3] = ["+15555550101", "+15555550102", "+15555550103"];

/// Builds call-centre scenario `pick` (an index over the Yeastar then the
/// Dialpad kinds of [`CALLCENTRE_SCENARIOS`]) as call number `n`, its
/// agents rotated by `rot` in the shared pools, from caller `caller` (an
/// index into [`CALLERS`]); Dialpad calls start 1,000 s apart.
pub fn build_callcentre(pick: usize, rot: usize, caller: usize, n: u64) -> Scenario {
    build_callcentre_at(
        pick,
        rot,
        caller,
        n,
        1_790_000_000_000 + n as i64 * 1_000_000,
    )
}

/// [`build_callcentre`], a Dialpad scenario starting at `t0_ms` (epoch ms;
/// Yeastar events have no time of their own).
pub fn build_callcentre_at(pick: usize, rot: usize, caller: usize, n: u64, t0_ms: i64) -> Scenario {
    let kinds = CALLCENTRE_SCENARIOS.len();
    let name = CALLCENTRE_SCENARIOS[pick % kinds];
    let caller = CALLERS[caller % CALLERS.len()];
    let built = if pick < kinds {
        let exts: Vec<String> = (0..2)
            .map(|i| YEASTAR_EXTS[(rot + i) % YEASTAR_EXTS.len()].to_string())
            .collect();
        scenario::yeastar_callcentre(name, n, QUEUE, &exts, caller)
    } else {
        let users: Vec<u64> = (0..2)
            .map(|i| DIALPAD_USERS[(rot + i) % DIALPAD_USERS.len()])
            .collect();
        scenario::dialpad_callcentre(name, n, CALL_CENTRE, &users, caller, t0_ms)
    };
    built.unwrap_or_else(|| unreachable!())
}

/// Plans of 1 to `max_calls` call-centre scenarios of both providers
/// (sharing agents, the queue and callers), each event delivered once plus
/// up to half of them again, all in a random order.
pub fn callcentre_plans(max_calls: usize, first_call: u64) -> impl Strategy<Value = Plan> {
    let kinds = 2 * CALLCENTRE_SCENARIOS.len();
    prop::collection::vec(
        (0..kinds, 0..YEASTAR_EXTS.len(), 0..CALLERS.len()),
        1..=max_calls,
    )
    .prop_flat_map(move |picks| {
        let scenarios: Vec<Scenario> = picks
            .iter()
            .enumerate()
            .map(|(i, (pick, rot, caller))| {
                build_callcentre(*pick, *rot, *caller, first_call + i as u64)
            })
            .collect();
        shuffled(flatten(&scenarios))
    })
}

/// `events`, delivered each once plus up to half of them again, all in a
/// random order.
fn shuffled(events: Vec<PlannedEvent>) -> impl Strategy<Value = Plan> {
    let n = events.len();
    (Just(events), prop::collection::vec(0..n, 0..=n / 2)).prop_flat_map(move |(events, dups)| {
        let delivery: Vec<usize> = (0..n).chain(dups).collect();
        (Just(events), Just(delivery).prop_shuffle())
            .prop_map(|(events, delivery)| Plan { events, delivery })
    })
}

/// Flattens scenarios into events in sending order.
pub fn flatten(scenarios: &[Scenario]) -> Vec<PlannedEvent> {
    scenarios
        .iter()
        .flat_map(|s| {
            s.steps.iter().map(move |st| PlannedEvent {
                provider: s.provider,
                scenario: s.name,
                label: st.label,
                body: st.body.clone(),
            })
        })
        .collect()
}

/// Plans of 1 to `max_calls` scenarios (every kind of both providers, with
/// overlapping extensions), each event delivered once plus up to half of
/// them again, all in a random order.
pub fn plans(max_calls: usize, first_call: u64) -> impl Strategy<Value = Plan> {
    let kinds = YEASTAR_SCENARIOS.len() + DIALPAD_SCENARIOS.len();
    prop::collection::vec((0..kinds, 0..YEASTAR_EXTS.len()), 1..=max_calls).prop_flat_map(
        move |picks| {
            let scenarios: Vec<Scenario> = picks
                .iter()
                .enumerate()
                .map(|(i, (pick, rot))| build(*pick, *rot, first_call + i as u64))
                .collect();
            shuffled(flatten(&scenarios))
        },
    )
}

/// The inbox row facts event number `k` (in sending order) gets when events
/// arrive in order: id `k + 1`, one second apart.
pub fn envelope(k: usize) -> Envelope {
    Envelope {
        id: k as i64 + 1,
        received_at: Utc
            .timestamp_opt(1_800_000_000 + k as i64, 0)
            .single()
            .unwrap_or_else(|| unreachable!()),
    }
}

/// The projections (Yeastar, Dialpad) of `events` processed in `order`,
/// each event with the inbox id and arrival it got when sent in order.
pub fn project(
    events: &[PlannedEvent],
    order: impl Iterator<Item = usize>,
) -> (Projection, Projection) {
    let (mut y, mut d) = (Projection::default(), Projection::default());
    for k in order {
        let e = &events[k];
        let parsed = domain::parse(e.provider, &e.body, envelope(k))
            .unwrap_or_else(|err| panic!("{} {}: {err}", e.scenario, e.label));
        match e.provider {
            Provider::Yeastar => y.apply(&parsed.effect),
            _ => d.apply(&parsed.effect),
        }
    }
    (y, d)
}

/// The reference state of one provider's events: each applied once, in
/// sending order, by the pure merges.
pub fn reference(events: &[PlannedEvent], provider: Provider) -> Projection {
    let mut p = Projection::default();
    for (k, e) in events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.provider == provider)
    {
        match domain::parse(e.provider, &e.body, envelope(k)) {
            Ok(parsed) => p.apply(&parsed.effect),
            Err(err) => panic!("{} {}: {err}", e.scenario, e.label),
        }
    }
    p
}
