//! Realistic call scenarios, as the providers put them on the wire, and
//! their signed HTTP requests.
//!
//! Yeastar scenarios are sequences of 30011 snapshots (every member with its
//! `member_status`) ending with the 30012 CDR; Dialpad scenarios are one
//! event per state change per leg, ordered by `event_timestamp`.

use domain::{signature, Provider};
use serde_json::{json, Value};

/// One webhook of a scenario: a label and the unsigned body (for Dialpad,
/// the JWT claims).
#[derive(Debug, Clone)]
pub struct Step {
    pub label: &'static str,
    pub body: Vec<u8>,
}

/// A whole call (or two, for call waiting) as one provider sends it, in order.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: &'static str,
    pub provider: Provider,
    pub steps: Vec<Step>,
}

/// A signed request ready to post.
#[derive(Debug, Clone)]
pub struct SignedRequest {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Signs a Yeastar body: `X-Signature` over the raw bytes.
pub fn sign_yeastar(secret: &str, body: &[u8]) -> SignedRequest {
    SignedRequest {
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("X-Signature".into(), signature::sign_yeastar(secret, body)),
        ],
        body: body.to_vec(),
    }
}

/// Signs a Dialpad event: the body becomes an HS256 JWT of the claims, or
/// stays plain JSON when `secret` is `None`.
pub fn sign_dialpad(secret: Option<&str>, claims: &[u8]) -> SignedRequest {
    match secret {
        Some(s) => SignedRequest {
            headers: vec![("Content-Type".into(), "application/jwt".into())],
            body: signature::sign_dialpad(s, claims).into_bytes(),
        },
        None => SignedRequest {
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: claims.to_vec(),
        },
    }
}

/// Signs a step of a scenario of `provider` with `secret`.
pub fn sign(provider: Provider, secret: Option<&str>, body: &[u8]) -> SignedRequest {
    match provider {
        Provider::Yeastar => sign_yeastar(secret.unwrap_or_default(), body),
        Provider::Dialpad => sign_dialpad(secret, body),
        Provider::Standard => SignedRequest {
            headers: Vec::new(),
            body: body.to_vec(),
        },
    }
}

// ----------------------------------------------------------------------------
// Yeastar

/// A Yeastar envelope with `msg` as a JSON-encoded string, as 30007-30024 are sent.
pub fn yeastar_envelope(event: i64, msg: &Value) -> Vec<u8> {
    json!({"type": event, "sn": "3631A2124XXX", "msg": msg.to_string()})
        .to_string()
        .into_bytes()
}

/// A member of a 30011 snapshot.
#[derive(Debug, Clone, Copy)]
pub enum Member<'a> {
    /// An extension: number and `member_status`.
    Ext(&'a str, &'a str),
    /// A trunk party: `inbound`/`outbound`, from, to, `member_status`.
    Trunk(&'a str, &'a str, &'a str, &'a str),
}

/// A 30011 snapshot of call `call_id` (30013 for a transfer).
pub fn yeastar_snapshot(event: i64, call_id: &str, members: &[Member<'_>]) -> Vec<u8> {
    let members: Vec<Value> = members
        .iter()
        .map(|m| match *m {
            Member::Ext(number, status) => json!({"extension": {
                "number": number, "channel_id": format!("PJSIP/{number}-{call_id}"),
                "member_status": status, "call_path": ""}}),
            Member::Trunk(kind, from, to, status) => json!({kind: {
                "from": from, "to": to, "trunk_name": "SIP-Trunk1",
                "channel_id": format!("PJSIP/trunk-{kind}-{call_id}"),
                "member_status": status, "call_path": ""}}),
        })
        .collect();
    yeastar_envelope(event, &json!({"call_id": call_id, "members": members}))
}

/// A 30012 CDR.
pub fn yeastar_cdr(
    call_id: &str,
    from: &str,
    to: &str,
    kind: &str,
    status: &str,
    talk: i64,
) -> Vec<u8> {
    let recording = if talk > 0 {
        format!("20261121100009-{call_id}-{from}-{to}-{kind}.wav")
    } else {
        String::new()
    };
    yeastar_envelope(
        30012,
        &json!({
            "call_id": call_id, "time_start": "2026-11-21 10:00:00",
            "call_from": from, "call_to": to, "call_duration": talk + 6,
            "talk_duration": talk, "src_trunk_name": "SIP-Trunk1", "dst_trunk_name": "",
            "status": status, "type": kind, "recording": recording,
            "did_number": to, "agent_ring_time": 3
        }),
    )
}

fn st(label: &'static str, body: Vec<u8>) -> Step {
    Step { label, body }
}

/// An inbound Yeastar call from `caller` to extension `ext`: ringing,
/// answered, hold, hang-up and the CDR with a recording (the demo call).
pub fn yeastar_inbound(call_id: &str, caller: &str, ext: &str) -> Vec<Step> {
    let s = |t: &str, e: &str| {
        yeastar_snapshot(
            30011,
            call_id,
            &[
                Member::Trunk("inbound", caller, ext, t),
                Member::Ext(ext, e),
            ],
        )
    };
    vec![
        st("ringing", s("ALERT", "RING")),
        st("answered", s("ANSWERED", "ANSWER")),
        st("hold", s("ANSWERED", "HOLD")),
        st("bye", s("BYE", "BYE")),
        st(
            "cdr",
            yeastar_cdr(call_id, caller, ext, "Inbound", "ANSWERED", 21),
        ),
    ]
}

/// The Yeastar scenario kinds.
pub const YEASTAR_SCENARIOS: &[&str] = &[
    "inbound-answered",
    "inbound-missed",
    "outbound",
    "internal",
    "blind-transfer",
    "conference",
    "call-waiting",
    "hold-resume",
];

/// The Dialpad scenario kinds.
pub const DIALPAD_SCENARIOS: &[&str] = &[
    "inbound-answered",
    "inbound-missed",
    "outbound",
    "hold-resume",
    "call-center",
    "call-center-ongoing",
];

/// Builds the Yeastar scenario `name` for call number `n` with the given
/// extensions (at least three; the first ones are used). Returns `None` for
/// an unknown name.
pub fn yeastar(name: &str, n: u64, exts: &[String]) -> Option<Scenario> {
    let [a, b, c] = [
        &exts[0 % exts.len()],
        &exts[1 % exts.len()],
        &exts[2 % exts.len()],
    ];
    let call = format!("{}.{}", 1_790_000_000 + n / 1000, n % 1000);
    let call = call.as_str();
    let caller = format!("+1555{:07}", n % 10_000_000);
    let caller = caller.as_str();
    let snap =
        |label: &'static str, ms: &[Member<'_>]| st(label, yeastar_snapshot(30011, call, ms));
    use Member::{Ext, Trunk};
    let inb = |s: &'static str| Trunk("inbound", caller, a, s);
    let steps = match name {
        "inbound-answered" => vec![
            snap("ringing", &[inb("ALERT"), Ext(a, "RING")]),
            snap("answered", &[inb("ANSWERED"), Ext(a, "ANSWER")]),
            snap("bye", &[inb("BYE"), Ext(a, "BYE")]),
            st(
                "cdr",
                yeastar_cdr(call, caller, a, "Inbound", "ANSWERED", 40),
            ),
        ],
        "inbound-missed" => vec![
            snap("ringing", &[inb("ALERT"), Ext(a, "RING")]),
            snap("bye", &[inb("BYE"), Ext(a, "BYE")]),
            st(
                "cdr",
                yeastar_cdr(call, caller, a, "Inbound", "NO ANSWER", 0),
            ),
        ],
        "outbound" => {
            let out = |s: &'static str| Trunk("outbound", a, caller, s);
            vec![
                snap("dialing", &[Ext(a, "ALERT"), out("EARLYMEDIA")]),
                snap("answered", &[Ext(a, "ANSWERED"), out("ANSWER")]),
                snap("bye", &[Ext(a, "BYE"), out("BYE")]),
                st(
                    "cdr",
                    yeastar_cdr(call, a, caller, "Outbound", "ANSWERED", 55),
                ),
            ]
        }
        "internal" => vec![
            snap("ringing", &[Ext(a, "ALERT"), Ext(b, "RING")]),
            snap("answered", &[Ext(a, "ANSWERED"), Ext(b, "ANSWER")]),
            snap("bye", &[Ext(a, "BYE"), Ext(b, "BYE")]),
            st("cdr", yeastar_cdr(call, a, b, "Internal", "ANSWERED", 12)),
        ],
        "blind-transfer" => vec![
            snap("ringing", &[inb("ALERT"), Ext(a, "RING")]),
            snap("answered", &[inb("ANSWERED"), Ext(a, "ANSWER")]),
            st(
                "transfer",
                yeastar_snapshot(
                    30013,
                    call,
                    &[inb("ANSWERED"), Ext(a, "BYE"), Ext(b, "RING")],
                ),
            ),
            snap("transferee-answered", &[inb("ANSWERED"), Ext(b, "ANSWER")]),
            snap("bye", &[inb("BYE"), Ext(b, "BYE")]),
            st(
                "cdr",
                yeastar_cdr(call, caller, b, "Inbound", "ANSWERED", 80),
            ),
        ],
        "conference" => vec![
            snap("ringing", &[inb("ALERT"), Ext(a, "RING")]),
            snap("answered", &[inb("ANSWERED"), Ext(a, "ANSWER")]),
            snap(
                "third-ringing",
                &[inb("ANSWERED"), Ext(a, "ANSWER"), Ext(c, "RING")],
            ),
            snap(
                "three-party",
                &[inb("ANSWERED"), Ext(a, "ANSWER"), Ext(c, "ANSWER")],
            ),
            snap(
                "third-leaves",
                &[inb("ANSWERED"), Ext(a, "ANSWER"), Ext(c, "BYE")],
            ),
            snap("bye", &[inb("BYE"), Ext(a, "BYE")]),
            st(
                "cdr",
                yeastar_cdr(call, caller, a, "Inbound", "ANSWERED", 300),
            ),
        ],
        "call-waiting" => {
            // Extension `a` answers a first call, then a second one; the first
            // ends and `a` stays in call on the second, which goes on.
            let call2 = format!("{call}9");
            let caller2 = format!("{caller}9");
            let inb2 = |s: &'static str| Trunk("inbound", caller2.as_str(), a, s);
            let snap2 = |label: &'static str, ms: &[Member<'_>]| {
                st(label, yeastar_snapshot(30011, &call2, ms))
            };
            vec![
                snap("first-ringing", &[inb("ALERT"), Ext(a, "RING")]),
                snap("first-answered", &[inb("ANSWERED"), Ext(a, "ANSWER")]),
                snap2("second-ringing", &[inb2("ALERT"), Ext(a, "RING")]),
                snap2("second-answered", &[inb2("ANSWERED"), Ext(a, "ANSWER")]),
                snap("first-bye", &[inb("BYE"), Ext(a, "BYE")]),
                st(
                    "first-cdr",
                    yeastar_cdr(call, caller, a, "Inbound", "ANSWERED", 30),
                ),
            ]
        }
        "hold-resume" => vec![
            snap("ringing", &[inb("ALERT"), Ext(a, "RING")]),
            snap("answered", &[inb("ANSWERED"), Ext(a, "ANSWER")]),
            snap("hold", &[inb("ANSWERED"), Ext(a, "HOLD")]),
            snap("resume", &[inb("ANSWERED"), Ext(a, "ANSWER")]),
            snap("bye", &[inb("BYE"), Ext(a, "BYE")]),
            st(
                "cdr",
                yeastar_cdr(call, caller, a, "Inbound", "ANSWERED", 95),
            ),
        ],
        _ => return None,
    };
    let name = YEASTAR_SCENARIOS.iter().find(|s| **s == name)?;
    Some(Scenario {
        name,
        provider: Provider::Yeastar,
        steps,
    })
}

// ----------------------------------------------------------------------------
// Dialpad

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
