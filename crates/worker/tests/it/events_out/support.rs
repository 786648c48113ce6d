//! What the events-out tests share: the outbox as read back, the documented
//! schemas, the invariants every event history keeps.

use std::collections::{BTreeMap, BTreeSet};

use diesel::sql_types::{Jsonb, Nullable, Text};
use diesel::QueryableByName;
use serde_json::Value;
use testkit::TestDb;

/// One outbox row (read in `seq` order).
#[derive(Debug, Clone, QueryableByName)]
pub struct Row {
    #[diesel(sql_type = Text)]
    pub event_id: String,
    #[diesel(sql_type = Text)]
    #[diesel(column_name = type_)]
    pub type_: String,
    #[diesel(sql_type = Text)]
    pub subject: String,
    #[diesel(sql_type = Jsonb)]
    pub payload: Value,
}

/// The outbox rows whose source matches `filter` (SQL), in order.
pub async fn outbox(db: &TestDb, filter: &str) -> anyhow::Result<Vec<Row>> {
    use diesel_async::RunQueryDsl;
    let mut conn = db.conn().await?;
    Ok(diesel::sql_query(format!(
        "SELECT event_id, type AS type_, subject, payload FROM outbox WHERE {filter} ORDER BY seq"
    ))
    .load(&mut conn)
    .await?)
}

/// The documented schema of each event type (docs/events/TYPE.schema.json).
pub fn schemas() -> BTreeMap<String, Value> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/events");
    let mut out = BTreeMap::new();
    for t in domain::outbound::TYPES {
        let path = dir.join(format!("{t}.schema.json"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        out.insert(
            t.to_string(),
            serde_json::from_str(&text).expect("schema parses"),
        );
    }
    out
}

/// Every violation of the documented schema among `rows`.
pub fn schema_violations(rows: &[Row], schemas: &BTreeMap<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    for r in rows {
        match schemas.get(&r.type_) {
            Some(s) => out.extend(
                testkit::schema::violations(s, &r.payload)
                    .into_iter()
                    .map(|v| format!("{} {}: {v}", r.type_, r.event_id)),
            ),
            None => out.push(format!("{}: undocumented type", r.type_)),
        }
        if r.payload["data"]["id"] != Value::String(r.event_id.clone()) {
            out.push(format!("{}: data.id is not the event id", r.event_id));
        }
    }
    out
}

#[derive(QueryableByName)]
struct Final {
    #[diesel(sql_type = Text)]
    subject: String,
    #[diesel(sql_type = Nullable<Text>)]
    state: Option<String>,
}

/// The final state per subject (calls' status, extensions' status, agents'
/// status, each queue stay's outcome) of the sources matching `filter`.
pub async fn finals(db: &TestDb, filter: &str) -> anyhow::Result<BTreeMap<String, Option<String>>> {
    use diesel_async::RunQueryDsl;
    let mut conn = db.conn().await?;
    let rows: Vec<Final> = diesel::sql_query(format!(
        "SELECT 'call:' || source || ':' || call_id AS subject, status AS state FROM calls WHERE {filter}
         UNION ALL SELECT 'extension:' || source || ':' || number, status FROM extensions WHERE {filter}
         UNION ALL SELECT 'agent:' || source || ':' || queue || ':' || agent, status FROM queue_agents WHERE {filter}
         UNION ALL SELECT 'queue:' || source || ':' || call_id || ':' || queue, outcome FROM call_queues WHERE {filter}"
    ))
    .load(&mut conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.subject, r.state)).collect())
}

/// Checks that the event history `rows` tells each change of the final
/// state `finals` exactly once, in order. Returns what is wrong.
pub fn history_violations(rows: &[Row], finals: &BTreeMap<String, Option<String>>) -> Vec<String> {
    let mut out = Vec::new();
    let mut by_subject: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    for r in rows {
        by_subject.entry(&r.subject).or_default().push(r);
    }
    let ids: BTreeSet<&str> = rows.iter().map(|r| r.event_id.as_str()).collect();
    if ids.len() != rows.len() {
        out.push("an event id repeats".into());
    }
    for (subject, fin) in finals {
        let events = by_subject
            .get(subject.as_str())
            .cloned()
            .unwrap_or_default();
        if let Some(call) = subject.strip_prefix("call:") {
            out.extend(call_history(call, &events, fin.as_deref()));
        } else if subject.starts_with("extension:") || subject.starts_with("agent:") {
            out.extend(chain(subject, &events, fin.as_deref()));
        } else if let Some(stay) = subject.strip_prefix("queue:") {
            let (call, queue) = stay.rsplit_once(':').unwrap_or_default();
            let of = |t: &str| {
                by_subject
                    .get(format!("call:{call}").as_str())
                    .map(|v| {
                        v.iter()
                            .filter(|r| {
                                r.type_ == t && r.payload["data"]["queue"]["queue"] == queue
                            })
                            .count()
                    })
                    .unwrap_or(0)
            };
            let left = usize::from(fin.as_deref() != Some("waiting"));
            if of("queue.caller_waiting") != 1 || of("queue.caller_left") != left {
                out.push(format!(
                    "{subject} ({fin:?}): {} caller_waiting, {} caller_left",
                    of("queue.caller_waiting"),
                    of("queue.caller_left")
                ));
            }
        }
    }
    out
}

fn call_history(call: &str, events: &[&Row], fin: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    let types: Vec<&str> = events
        .iter()
        .map(|r| r.type_.as_str())
        .filter(|t| t.starts_with("call."))
        .collect();
    let count = |t: &str| types.iter().filter(|x| **x == t).count();
    if types.first() != Some(&"call.ringing") || count("call.ringing") != 1 {
        out.push(format!(
            "call {call}: does not start with one call.ringing: {types:?}"
        ));
    }
    let ended = usize::from(fin == Some("ended"));
    if count("call.ended") != ended || count("call.answered") > 1 || count("call.missed") > 1 {
        out.push(format!("call {call} ({fin:?}): {types:?}"));
    }
    if let Some(end) = types.iter().position(|t| *t == "call.ended") {
        let after = &types[end + 1..];
        let missed = usize::from(after.first() == Some(&"call.missed"));
        if after[missed..].iter().any(|t| *t != "call.updated") || count("call.missed") != missed {
            out.push(format!("call {call}: after call.ended: {types:?}"));
        }
    }
    // Holds alternate per leg, starting held.
    let mut held: BTreeMap<String, bool> = BTreeMap::new();
    for r in events {
        let h = match r.type_.as_str() {
            "call.held" => true,
            "call.resumed" => false,
            _ => continue,
        };
        let leg = r.payload["data"]["leg"]["leg_id"].to_string();
        if held.insert(leg.clone(), h).unwrap_or(false) == h {
            out.push(format!("call {call}: leg {leg} {} twice in a row", r.type_));
        }
    }
    out
}

/// A status history: each event's previous status is the one before's
/// status (the first's: the row's initial one), never equal to its own, and
/// the last is the final state.
/// The status of an extension row made new (the column's default): no
/// event tells it.
pub const NEW_EXTENSION_STATUS: &str = "online";

fn chain(subject: &str, events: &[&Row], fin: Option<&str>) -> Vec<String> {
    let (kind, field, initial) = if subject.starts_with("extension:") {
        (
            "extension.status_changed",
            "extension",
            Some(NEW_EXTENSION_STATUS),
        )
    } else {
        ("agent.status_changed", "agent", None)
    };
    let mut out = Vec::new();
    // (status, reason): an agent's reason may change alone.
    let mut have = (initial.map(str::to_string), None::<String>);
    for r in events.iter().filter(|r| r.type_ == kind) {
        let d = &r.payload["data"][field];
        let s = |k: &str| d[k].as_str().map(str::to_string);
        let (prev, now) = (
            (s("previous_status"), s("previous_reason")),
            (s("status"), s("reason")),
        );
        if prev != have || prev == now {
            out.push(format!("{subject}: {prev:?} -> {now:?} after {have:?}"));
        }
        have = now;
    }
    let have = have.0;
    if fin.is_some() && have.as_deref() != fin {
        out.push(format!(
            "{subject}: events end at {have:?}, the row is {fin:?}"
        ));
    }
    out
}
