//! Call-centre scenarios: calls through a queue (answered, abandoned), a
//! missed call and its call back, agents pausing and coming back, devices
//! registering, the PBX's own extension status. For both providers, with
//! the queue, agents and caller given, so that several scenarios of one plan
//! share them (a call back clears the caller's missed calls).

use domain::Provider;
use serde_json::{json, Value};

use super::yeastar::{yeastar_envelope, Member};
use super::{dialpad_claims, st, LegEvent, Scenario, Step, Target};

/// The call-centre scenario kinds (both providers have each).
pub const CALLCENTRE_SCENARIOS: &[&str] = &[
    "queue-answered",
    "queue-abandoned",
    "missed",
    "callback",
    "agent-day",
    "devices",
    "reported",
];

/// A Yeastar call status snapshot (30011, or `event`) whose members all
/// went through `path` (a queue as the PBX names it, `""` for none).
pub fn yeastar_path_snapshot(
    event: i64,
    call_id: &str,
    path: &str,
    members: &[Member<'_>],
) -> Vec<u8> {
    let members: Vec<Value> = members
        .iter()
        .map(|m| match *m {
            Member::Ext(number, status) => json!({"extension": {
                "number": number, "channel_id": format!("PJSIP/{number}-{call_id}"),
                "member_status": status, "call_path": path}}),
            Member::Trunk(kind, from, to, status) => json!({kind: {
                "from": from, "to": to, "trunk_name": "SIP-Trunk1",
                "channel_id": format!("PJSIP/trunk-{kind}-{call_id}"),
                "member_status": status, "call_path": path}}),
        })
        .collect();
    yeastar_envelope(event, &json!({"call_id": call_id, "members": members}))
}

/// A Yeastar CDR of `call_id` starting at `time_start` (the PBX's clock).
fn yeastar_cdr_at(
    call_id: &str,
    (from, to): (&str, &str),
    kind: &str,
    status: &str,
    talk: i64,
    time_start: &str,
) -> Vec<u8> {
    yeastar_envelope(
        30012,
        &json!({
            "call_id": call_id, "time_start": time_start, "call_from": from, "call_to": to,
            "call_duration": talk + 9, "talk_duration": talk, "src_trunk_name": "SIP-Trunk1",
            "dst_trunk_name": "", "status": status, "type": kind, "recording": "",
            "did_number": to, "agent_ring_time": 9
        }),
    )
}

/// A Yeastar event whose `msg` is an object (30025, 30026, 30029).
fn yeastar_object(event: i64, msg: Value) -> Vec<u8> {
    json!({"type": event, "msg": msg}).to_string().into_bytes()
}

/// Builds the Yeastar call-centre scenario `name` for call number `n`: the
/// queue `queue` (sent as `queue-<queue>`), the agents (at least two, the
/// first answers) and the outside `caller`. `None` for an unknown name.
pub fn yeastar_callcentre(
    name: &str,
    n: u64,
    queue: &str,
    agents: &[String],
    caller: &str,
) -> Option<Scenario> {
    let (a, b) = (agents.first()?.as_str(), agents.get(1)?.as_str());
    let call = format!("{}.{}", 1_795_000_000 + n / 1000, n % 1000);
    let call = call.as_str();
    let path = format!("queue-{queue}");
    let time_start = format!("2026-12-10 09:{:02}:{:02}", n / 60 % 60, n % 60);
    use Member::{Ext, Trunk};
    let inb = |s: &'static str| Trunk("inbound", caller, queue, s);
    let q = |label: &'static str, ms: &[Member<'_>]| {
        st(label, yeastar_path_snapshot(30011, call, &path, ms))
    };
    let agent = |event: i64, who: &str, msg: Value| {
        let mut m = json!({"queue_number": path, "agent_number": who});
        if let (Some(m), Some(extra)) = (m.as_object_mut(), msg.as_object()) {
            m.extend(extra.clone());
        }
        yeastar_object(event, m)
    };
    let steps: Vec<Step> = match name {
        "queue-answered" => vec![
            q("queued", &[inb("ALERT")]),
            q(
                "agents-ringing",
                &[inb("ALERT"), Ext(a, "RING"), Ext(b, "RING")],
            ),
            q(
                "answered",
                &[inb("ANSWERED"), Ext(a, "ANSWER"), Ext(b, "BYE")],
            ),
            q("bye", &[inb("BYE"), Ext(a, "BYE")]),
            st(
                "cdr",
                yeastar_cdr_at(
                    call,
                    (caller, queue),
                    "Inbound",
                    "ANSWERED",
                    40,
                    &time_start,
                ),
            ),
        ],
        "queue-abandoned" => vec![
            q("queued", &[inb("ALERT")]),
            q(
                "agents-ringing",
                &[inb("ALERT"), Ext(a, "RING"), Ext(b, "RING")],
            ),
            q("abandoned", &[inb("BYE"), Ext(a, "BYE"), Ext(b, "BYE")]),
            st(
                "cdr",
                yeastar_cdr_at(
                    call,
                    (caller, queue),
                    "Inbound",
                    "NO ANSWER",
                    0,
                    &time_start,
                ),
            ),
        ],
        "missed" => {
            let s = |st: &'static str, e: &'static str| {
                yeastar_path_snapshot(
                    30011,
                    call,
                    " ",
                    &[Trunk("inbound", caller, a, st), Ext(a, e)],
                )
            };
            vec![
                st("ringing", s("ALERT", "RING")),
                st("bye", s("BYE", "BYE")),
                st(
                    "cdr",
                    yeastar_cdr_at(call, (caller, a), "Inbound", "NO ANSWER", 0, &time_start),
                ),
            ]
        }
        "callback" => {
            let s = |e: &'static str, o: &'static str| {
                yeastar_path_snapshot(
                    30011,
                    call,
                    "",
                    &[Ext(a, e), Trunk("outbound", a, caller, o)],
                )
            };
            vec![
                st("dialing", s("ALERT", "EARLYMEDIA")),
                st("answered", s("ANSWERED", "ANSWER")),
                st("bye", s("BYE", "BYE")),
                st(
                    "cdr",
                    yeastar_cdr_at(call, (a, caller), "Outbound", "ANSWERED", 30, &time_start),
                ),
            ]
        }
        "agent-day" => vec![
            st(
                "a-paused",
                agent(30029, a, json!({"status": "Paused", "reason": "Lunch"})),
            ),
            st(
                "b-ring-timeout",
                agent(30026, b, json!({"caller_number": caller, "call_id": call})),
            ),
            st(
                "b-auto-paused",
                agent(
                    30025,
                    b,
                    json!({"calls": [{"caller_number": caller, "call_id": call}]}),
                ),
            ),
            st(
                "a-back",
                agent(30029, a, json!({"status": "Unpaused", "reason": ""})),
            ),
            st(
                "a-paused-again",
                agent(30029, a, json!({"status": "Paused", "reason": "Meeting"})),
            ),
        ],
        "devices" => {
            let reg = |who: &str, kind: &str, status: &str| {
                yeastar_envelope(
                    30007,
                    &json!({"extension": who, "kind": kind, "status": status,
                            "registered_ip": "198.51.100.23:5062"}),
                )
            };
            vec![
                st("a-sip-registered", reg(a, "Sip", "Registered")),
                st("a-web-registered", reg(a, "Web", "Registered")),
                st("b-web-registered", reg(b, "Web", "Registered")),
                st("a-web-logout", reg(a, "Web", "Unregistered")),
                st("b-web-logout", reg(b, "Web", "Unregistered")),
            ]
        }
        "reported" => {
            let rep = |who: &str, status: &str| {
                yeastar_envelope(30008, &json!({"extension": who, "status": status}))
            };
            vec![
                st("b-ringing", rep(b, "Ringing")),
                st("b-busy", rep(b, "Busy")),
                st("a-busy", rep(a, "Busy")),
                st("b-idle", rep(b, "Idle")),
            ]
        }
        _ => return None,
    };
    let name = CALLCENTRE_SCENARIOS.iter().find(|s| **s == name)?;
    Some(Scenario {
        name,
        provider: Provider::Yeastar,
        steps,
    })
}

/// `claims` with `field` set to `value`.
fn with(mut claims: Vec<u8>, fields: &[(&str, Value)]) -> Vec<u8> {
    if let Ok(mut v) = serde_json::from_slice::<Value>(&claims) {
        if let Some(o) = v.as_object_mut() {
            for (k, val) in fields {
                o.insert((*k).to_string(), val.clone());
            }
        }
        claims = v.to_string().into_bytes();
    }
    claims
}

/// Builds the Dialpad call-centre scenario `name` for call number `n`, in
/// call centre `centre`, with the agents (user ids, at least two; the
/// first answers), the outside `caller`, starting at `t0_ms`. `None` for an
/// unknown name.
pub fn dialpad_callcentre(
    name: &str,
    n: u64,
    centre: u64,
    agents: &[u64],
    caller: &str,
    t0_ms: i64,
) -> Option<Scenario> {
    let (a, b) = (*agents.first()?, *agents.get(1)?);
    let leg = 6_200_000_000_000_000 + n * 10;
    let cc = Target {
        id: centre,
        kind: "callcenter",
        name: "Support",
    };
    let user = |id: u64| Target {
        id,
        kind: "user",
        name: "Agent",
    };
    // One leg's event: (label, leg, entry point, target, state, at, connected, ended).
    type Spec<'a> = (
        &'static str,
        u64,
        Option<u64>,
        Target<'a>,
        &'a str,
        i64,
        Option<i64>,
        Option<i64>,
    );
    let make = |direction: &str, specs: &[Spec<'_>]| -> Vec<Step> {
        specs
            .iter()
            .map(|(label, leg_id, entry, target, state, at, conn, end)| {
                let claims = dialpad_claims(&LegEvent {
                    leg_id: *leg_id,
                    entry_point: *entry,
                    direction,
                    external: caller,
                    target: *target,
                    state,
                    started_ms: t0_ms,
                    connected_ms: conn.map(|c| t0_ms + c),
                    ended_ms: end.map(|e| t0_ms + e),
                    event_ms: t0_ms + at,
                    recording_url: None,
                });
                let queued = (target.kind == "callcenter").then(|| json!(t0_ms + 200));
                st(
                    label,
                    with(claims, &[("date_queued", queued.unwrap_or(Value::Null))]),
                )
            })
            .collect()
    };
    let e = Some(leg);
    let (la, lb) = (leg + 1, leg + 2);
    let status = |id: u64, word: &str, reason: &str, at: i64| {
        json!({"target": {"id": id, "type": "user", "name": "Agent"}, "on_duty_status": word,
               "on_duty_status_reason": reason, "call_center_ids": [centre.to_string()],
               "date": t0_ms + at, "event_timestamp": t0_ms + at})
        .to_string()
        .into_bytes()
    };
    let steps: Vec<Step> = match name {
        "queue-answered" => make(
            "inbound",
            &[
                ("queued", leg, None, cc, "queued", 200, None, None),
                ("a-ringing", la, e, user(a), "ringing", 3_000, None, None),
                ("b-ringing", lb, e, user(b), "ringing", 3_010, None, None),
                (
                    "a-connected",
                    la,
                    e,
                    user(a),
                    "connected",
                    11_000,
                    Some(11_000),
                    None,
                ),
                (
                    "b-missed",
                    lb,
                    e,
                    user(b),
                    "hangup",
                    11_100,
                    None,
                    Some(11_100),
                ),
                (
                    "entry-connected",
                    leg,
                    None,
                    cc,
                    "connected",
                    11_200,
                    Some(11_000),
                    None,
                ),
                (
                    "a-hangup",
                    la,
                    e,
                    user(a),
                    "hangup",
                    95_000,
                    Some(11_000),
                    Some(95_000),
                ),
                (
                    "entry-hangup",
                    leg,
                    None,
                    cc,
                    "hangup",
                    95_010,
                    Some(11_000),
                    Some(95_000),
                ),
            ],
        ),
        "queue-abandoned" => make(
            "inbound",
            &[
                ("queued", leg, None, cc, "queued", 200, None, None),
                ("a-ringing", la, e, user(a), "ringing", 3_000, None, None),
                ("b-ringing", lb, e, user(b), "ringing", 3_010, None, None),
                (
                    "a-missed",
                    la,
                    e,
                    user(a),
                    "hangup",
                    40_000,
                    None,
                    Some(40_000),
                ),
                (
                    "b-missed",
                    lb,
                    e,
                    user(b),
                    "hangup",
                    40_010,
                    None,
                    Some(40_010),
                ),
                (
                    "entry-hangup",
                    leg,
                    None,
                    cc,
                    "hangup",
                    40_050,
                    None,
                    Some(40_000),
                ),
            ],
        ),
        "missed" => make(
            "inbound",
            &[
                ("ringing", leg, None, user(a), "ringing", 500, None, None),
                (
                    "missed",
                    leg,
                    None,
                    user(a),
                    "missed",
                    30_000,
                    None,
                    Some(30_000),
                ),
                (
                    "hangup",
                    leg,
                    None,
                    user(a),
                    "hangup",
                    30_050,
                    None,
                    Some(30_000),
                ),
            ],
        ),
        "callback" => make(
            "outbound",
            &[
                ("calling", leg, None, user(a), "calling", 300, None, None),
                (
                    "connected",
                    leg,
                    None,
                    user(a),
                    "connected",
                    7_000,
                    Some(7_000),
                    None,
                ),
                (
                    "hangup",
                    leg,
                    None,
                    user(a),
                    "hangup",
                    60_000,
                    Some(7_000),
                    Some(60_000),
                ),
            ],
        ),
        "agent-day" => vec![
            st("a-paused", status(a, "unavailable", "Lunch", 100)),
            st("b-wrapup", status(b, "wrapup", "", 200)),
            st("a-back", status(a, "available", "", 5_000)),
            st("b-available", status(b, "available", "", 6_000)),
            st("a-paused-again", status(a, "busy", "Meeting", 9_000)),
        ],
        // Dialpad sends no registrations or call status of its own: these
        // two are its agents going off and on duty.
        "devices" => vec![
            st("b-off-duty", status(b, "off_duty", "", 100)),
            st("b-on-duty", status(b, "available", "", 300)),
        ],
        "reported" => vec![st("a-occupied", status(a, "occupied", "", 100))],
        _ => return None,
    };
    let name = CALLCENTRE_SCENARIOS.iter().find(|s| **s == name)?;
    Some(Scenario {
        name,
        provider: Provider::Dialpad,
        steps,
    })
}
