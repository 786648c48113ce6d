//! Dialpad scenarios: one call event (the JWT claims) per state change per
//! leg, ordered by `event_timestamp`.

use domain::Provider;
use serde_json::{json, Value};

use super::{st, Scenario, Step};

/// The Dialpad party of a leg (`target`).
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub id: u64,
    pub kind: &'a str,
    pub name: &'a str,
}

/// What changes between the events of one Dialpad leg.
#[derive(Debug, Clone, Copy)]
pub struct LegEvent<'a> {
    pub leg_id: u64,
    pub entry_point: Option<u64>,
    pub direction: &'a str,
    pub external: &'a str,
    pub target: Target<'a>,
    pub state: &'a str,
    pub started_ms: i64,
    pub connected_ms: Option<i64>,
    pub ended_ms: Option<i64>,
    pub event_ms: i64,
    pub recording_url: Option<&'a str>,
}

/// A Dialpad call event (the JWT claims).
pub fn dialpad_claims(e: &LegEvent<'_>) -> Vec<u8> {
    let talk = match (e.connected_ms, e.ended_ms) {
        (Some(c), Some(end)) => (end - c) as f64,
        _ => 0.0,
    };
    let recording: Vec<Value> = e
        .recording_url
        .map(|u| {
            vec![
                json!({"id": format!("{}9", e.leg_id), "url": u, "duration": talk,
                        "recording_type": "callrecording", "start_time": e.connected_ms}),
            ]
        })
        .unwrap_or_default();
    json!({
        "call_id": e.leg_id,
        "master_call_id": null,
        "entry_point_call_id": e.entry_point,
        "operator_call_id": null,
        "direction": e.direction,
        "date_started": e.started_ms,
        "date_rang": e.started_ms + 400,
        "date_first_rang": e.started_ms + 400,
        "date_queued": null,
        "date_connected": e.connected_ms,
        "date_ended": e.ended_ms,
        "external_number": e.external,
        "internal_number": "+14155550188",
        "contact": {"id": 6131436978913280u64, "type": "local", "name": "Caller", "phone": e.external, "email": ""},
        "target": {"id": e.target.id, "type": e.target.kind, "name": e.target.name, "email": "",
                   "phone": "+14155550188", "office_id": 5716039329251328u64},
        "is_internal": false,
        "is_transferred": false,
        "duration": talk,
        "total_duration": if e.state == "hangup" { json!(talk + 1500.5) } else { json!(0) },
        "was_recorded": e.recording_url.is_some(),
        "recording_details": recording,
        "labels": [],
        "state": e.state,
        "event_timestamp": e.event_ms,
    })
    .to_string()
    .into_bytes()
}

/// An inbound Dialpad call answered by one user: ringing, connected,
/// hang-up, then the recording (the demo call).
pub fn dialpad_inbound(
    leg_id: u64,
    user_id: u64,
    user_name: &str,
    caller: &str,
    t0_ms: i64,
) -> Vec<Step> {
    let user = Target {
        id: user_id,
        kind: "user",
        name: user_name,
    };
    let url = format!("https://dialpad.example/r/{leg_id}");
    let ev =
        |label: &'static str, state: &str, dt: i64, connected: bool, ended: bool, rec: bool| {
            st(
                label,
                dialpad_claims(&LegEvent {
                    leg_id,
                    entry_point: None,
                    direction: "inbound",
                    external: caller,
                    target: user,
                    state,
                    started_ms: t0_ms,
                    connected_ms: connected.then_some(t0_ms + 6_000),
                    ended_ms: ended.then_some(t0_ms + 130_000),
                    event_ms: t0_ms + dt,
                    recording_url: rec.then_some(url.as_str()),
                }),
            )
        };
    vec![
        ev("ringing", "ringing", 600, false, false, false),
        ev("connected", "connected", 6_060, true, false, false),
        ev("hangup", "hangup", 130_100, true, true, false),
        ev("recording", "recording", 138_000, true, true, true),
    ]
}

/// The Dialpad scenario kinds.
pub const DIALPAD_SCENARIOS: &[&str] = &[
    "inbound-answered",
    "inbound-missed",
    "outbound",
    "hold-resume",
    "call-center",
    "call-center-ongoing",
];

/// Builds the Dialpad scenario `name` for call number `n` with the given
/// user ids (at least three), starting at `t0_ms`. Returns `None` for an
/// unknown name.
pub fn dialpad(name: &str, n: u64, users: &[u64], t0_ms: i64) -> Option<Scenario> {
    let user = |i: usize| Target {
        id: users[i % users.len()],
        kind: "user",
        name: "Agent",
    };
    let leg = 6_100_000_000_000_000 + n * 10;
    let caller = format!("+1415{:07}", n % 10_000_000);
    let url = format!("https://dialpad.example/r/{leg}");
    // One leg's event: (leg, entry point, target, state, at, connected, ended, recording).
    type Spec<'a> = (
        u64,
        Option<u64>,
        Target<'a>,
        &'a str,
        i64,
        Option<i64>,
        Option<i64>,
        bool,
    );
    let make = |direction: &str, specs: &[(&'static str, Spec<'_>)]| -> Vec<Step> {
        specs
            .iter()
            .map(
                |(label, (leg_id, entry, target, state, at, conn, end, rec))| {
                    st(
                        label,
                        dialpad_claims(&LegEvent {
                            leg_id: *leg_id,
                            entry_point: *entry,
                            direction,
                            external: &caller,
                            target: *target,
                            state,
                            started_ms: t0_ms,
                            connected_ms: conn.map(|c| t0_ms + c),
                            ended_ms: end.map(|e| t0_ms + e),
                            event_ms: t0_ms + at,
                            recording_url: rec.then_some(url.as_str()),
                        }),
                    )
                },
            )
            .collect()
    };
    let u = user(0);
    let steps = match name {
        "inbound-answered" => make(
            "inbound",
            &[
                ("ringing", (leg, None, u, "ringing", 500, None, None, false)),
                (
                    "connected",
                    (leg, None, u, "connected", 6_000, Some(6_000), None, false),
                ),
                (
                    "hangup",
                    (
                        leg,
                        None,
                        u,
                        "hangup",
                        90_000,
                        Some(6_000),
                        Some(90_000),
                        false,
                    ),
                ),
                (
                    "recording",
                    (
                        leg,
                        None,
                        u,
                        "recording",
                        97_000,
                        Some(6_000),
                        Some(90_000),
                        true,
                    ),
                ),
            ],
        ),
        "inbound-missed" => make(
            "inbound",
            &[
                ("ringing", (leg, None, u, "ringing", 500, None, None, false)),
                (
                    "missed",
                    (leg, None, u, "missed", 30_000, None, Some(30_000), false),
                ),
                (
                    "hangup",
                    (leg, None, u, "hangup", 30_050, None, Some(30_000), false),
                ),
            ],
        ),
        "outbound" => make(
            "outbound",
            &[
                ("calling", (leg, None, u, "calling", 300, None, None, false)),
                (
                    "connected",
                    (leg, None, u, "connected", 8_000, Some(8_000), None, false),
                ),
                (
                    "hangup",
                    (
                        leg,
                        None,
                        u,
                        "hangup",
                        65_000,
                        Some(8_000),
                        Some(65_000),
                        false,
                    ),
                ),
            ],
        ),
        "hold-resume" => make(
            "inbound",
            &[
                ("ringing", (leg, None, u, "ringing", 500, None, None, false)),
                (
                    "connected",
                    (leg, None, u, "connected", 6_000, Some(6_000), None, false),
                ),
                (
                    "hold",
                    (leg, None, u, "hold", 20_000, Some(6_000), None, false),
                ),
                (
                    "resume",
                    (leg, None, u, "connected", 45_000, Some(6_000), None, false),
                ),
                (
                    "hangup",
                    (
                        leg,
                        None,
                        u,
                        "hangup",
                        90_000,
                        Some(6_000),
                        Some(90_000),
                        false,
                    ),
                ),
                (
                    "recording",
                    (
                        leg,
                        None,
                        u,
                        "recording",
                        97_000,
                        Some(6_000),
                        Some(90_000),
                        true,
                    ),
                ),
            ],
        ),
        "call-center" | "call-center-ongoing" => {
            // The entry point leg queues; three agents ring at once; the second
            // answers; the others' legs end as missed.
            let cc = Target {
                id: 5_883_344_555_555_555,
                kind: "callcenter",
                name: "Support",
            };
            let e = Some(leg);
            let (a0, a1, a2) = (leg + 1, leg + 2, leg + 3);
            let mut specs: Vec<(&'static str, Spec<'_>)> = vec![
                ("queued", (leg, None, cc, "queued", 200, None, None, false)),
                (
                    "agent0-ringing",
                    (a0, e, user(0), "ringing", 1_000, None, None, false),
                ),
                (
                    "agent1-ringing",
                    (a1, e, user(1), "ringing", 1_010, None, None, false),
                ),
                (
                    "agent2-ringing",
                    (a2, e, user(2), "ringing", 1_020, None, None, false),
                ),
                (
                    "agent1-connected",
                    (a1, e, user(1), "connected", 9_000, Some(9_000), None, false),
                ),
                (
                    "agent0-missed",
                    (a0, e, user(0), "hangup", 9_100, None, Some(9_100), false),
                ),
                (
                    "agent2-missed",
                    (a2, e, user(2), "hangup", 9_110, None, Some(9_110), false),
                ),
                (
                    "entry-connected",
                    (leg, None, cc, "connected", 9_200, Some(9_000), None, false),
                ),
            ];
            if name == "call-center" {
                specs.extend([
                    (
                        "agent1-hangup",
                        (
                            a1,
                            e,
                            user(1),
                            "hangup",
                            120_000,
                            Some(9_000),
                            Some(120_000),
                            false,
                        ),
                    ),
                    (
                        "entry-hangup",
                        (
                            leg,
                            None,
                            cc,
                            "hangup",
                            120_010,
                            Some(9_000),
                            Some(120_000),
                            false,
                        ),
                    ),
                    (
                        "recording",
                        (
                            leg,
                            None,
                            cc,
                            "recording",
                            126_000,
                            Some(9_000),
                            Some(120_000),
                            true,
                        ),
                    ),
                ]);
            }
            make("inbound", &specs)
        }
        _ => return None,
    };
    let name = DIALPAD_SCENARIOS.iter().find(|s| **s == name)?;
    Some(Scenario {
        name,
        provider: Provider::Dialpad,
        steps,
    })
}
