//! Yeastar scenarios: 30011 snapshots of every member of a call (30013 for
//! a transfer), ending with the 30012 CDR.

use domain::Provider;
use serde_json::{json, Value};

use super::{st, Scenario, Step};

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
