//! The change feed: after applying a batch, in the batch's own transaction,
//! the worker sends ONE notification on [`CHANNEL`] naming every call,
//! extension, queue, agent and missed call entry the batch wrote.
//! PostgreSQL delivers notifications only when the transaction commits, so
//! a rolled-back batch announces nothing.
//!
//! The payload is compact JSON (see [`Payload`] and [`Notice`]):
//!
//! ```text
//! {"e":[["pbx","2001"],["pbx","2002"]],"c":[["pbx","1736.1"]],"q":[["pbx","6405"]],"a":[["pbx","2001"]],"m":[["pbx","+15555550100"]]}
//! ```
//!
//! `e` lists `[source, extension number]`, `c` lists `[source, call id]`,
//! each sorted and without duplicates, and always present. Since issue 22,
//! `q` lists `[source, queue]` (a queue whose calls or agents changed), `a`
//! `[source, agent]` (an agent whose status changed) and `m` `[source,
//! number]` (a missed call entry recomputed); each is present only when not
//! empty, so a payload without them is the format of before, and a
//! listener that knows only `e` and `c` ([`decode`]) ignores them (the
//! board reads them with [`decode_notice`]). When the payload would exceed
//! [`MAX_PAYLOAD`] bytes (NOTIFY refuses payloads of 8,000 bytes or more)
//! it is `{"resync":true}` instead: a listener must then reload everything
//! it shows. A batch that wrote nothing sends no notification.
//!
//! A listener (the board) runs `LISTEN switchboard_changes` and decodes
//! each notification's payload with [`decode`] or [`decode_notice`].

use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::projection::Changed;
use domain::sql::Cached;
use serde::{Deserialize, Serialize};

use crate::Error;

/// The channel the worker notifies on, and a listener LISTENs to.
pub const CHANNEL: &str = "switchboard_changes";

/// The largest payload sent, in bytes: NOTIFY's limit is 8,000, with room
/// to spare. Larger change sets are announced as [`Payload::Resync`].
pub const MAX_PAYLOAD: usize = 7_900;
const _: () = assert!(MAX_PAYLOAD < 8_000, "NOTIFY refuses 8,000 bytes");

/// `(source, key)`: `(source, extension number)` or `(source, call id)`.
pub type Key = (String, String);

/// One notification's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "Wire", from = "Wire")]
pub enum Payload {
    /// These rows changed: `{"e":[[source,number],...],"c":[[source,call_id],...]}`.
    Changes {
        extensions: Vec<Key>,
        calls: Vec<Key>,
    },
    /// Too many rows changed to name them: `{"resync":true}`. Reload all.
    Resync,
}

/// Everything one notification names, the queues, agents and missed call
/// entries too (read with [`decode_notice`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "Wire", from = "Wire")]
pub enum Notice {
    /// These rows changed.
    Changes(Changes),
    /// Too many rows changed to name them: reload all.
    Resync,
}

/// The keys a notification names, each list sorted and without
/// duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// `(source, extension number)`.
    pub extensions: Vec<Key>,
    /// `(source, call id)`.
    pub calls: Vec<Key>,
    /// `(source, queue)`: its waiting calls, figures or agents changed.
    pub queues: Vec<Key>,
    /// `(source, agent)`: its reported status changed. (What an agent
    /// does by its legs changes with its extension, in `extensions`.)
    pub agents: Vec<Key>,
    /// `(source, number)`: the missed call entry was recomputed.
    pub missed: Vec<Key>,
}

/// The JSON shape of [`Payload`] and [`Notice`].
#[derive(Serialize, Deserialize)]
struct Wire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    e: Option<Vec<Key>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    c: Option<Vec<Key>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    q: Option<Vec<Key>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    a: Option<Vec<Key>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    m: Option<Vec<Key>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resync: Option<bool>,
}

impl Wire {
    const RESYNC: Wire = Wire {
        e: None,
        c: None,
        q: None,
        a: None,
        m: None,
        resync: Some(true),
    };
}

/// `Some(keys)` when there are any.
fn unless_empty(keys: Vec<Key>) -> Option<Vec<Key>> {
    (!keys.is_empty()).then_some(keys)
}

impl From<Payload> for Wire {
    fn from(p: Payload) -> Self {
        match p {
            Payload::Changes { extensions, calls } => Notice::Changes(Changes {
                extensions,
                calls,
                ..Changes::default()
            })
            .into(),
            Payload::Resync => Wire::RESYNC,
        }
    }
}

impl From<Notice> for Wire {
    fn from(n: Notice) -> Self {
        match n {
            Notice::Changes(c) => Wire {
                e: Some(c.extensions),
                c: Some(c.calls),
                q: unless_empty(c.queues),
                a: unless_empty(c.agents),
                m: unless_empty(c.missed),
                resync: None,
            },
            Notice::Resync => Wire::RESYNC,
        }
    }
}

impl From<Wire> for Notice {
    fn from(w: Wire) -> Self {
        if w.resync == Some(true) {
            Notice::Resync
        } else {
            Notice::Changes(Changes {
                extensions: w.e.unwrap_or_default(),
                calls: w.c.unwrap_or_default(),
                queues: w.q.unwrap_or_default(),
                agents: w.a.unwrap_or_default(),
                missed: w.m.unwrap_or_default(),
            })
        }
    }
}

impl From<Wire> for Payload {
    fn from(w: Wire) -> Self {
        if w.resync == Some(true) {
            Payload::Resync
        } else {
            Payload::Changes {
                extensions: w.e.unwrap_or_default(),
                calls: w.c.unwrap_or_default(),
            }
        }
    }
}

/// The resync payload, `{"resync":true}`.
pub const RESYNC: &str = r#"{"resync":true}"#;

/// Encodes `payload` as compact JSON.
pub fn encode(payload: &Payload) -> String {
    serde_json::to_string(payload).expect("a payload always serializes")
}

/// Encodes `notice` as compact JSON.
pub fn encode_notice(notice: &Notice) -> String {
    serde_json::to_string(notice).expect("a notice always serializes")
}

/// Decodes a notification's payload: the extensions and calls it names
/// (any other keys ignored).
pub fn decode(payload: &str) -> Result<Payload, serde_json::Error> {
    serde_json::from_str(payload)
}

/// Decodes a notification's payload with everything it names.
pub fn decode_notice(payload: &str) -> Result<Notice, serde_json::Error> {
    serde_json::from_str(payload)
}

/// The payload announcing `changed`: `None` when nothing changed, the keys
/// when they fit in [`MAX_PAYLOAD`] bytes, [`RESYNC`] otherwise.
pub fn payload(changed: &Changed) -> Option<String> {
    if changed.is_empty() {
        return None;
    }
    let json = encode_notice(&Notice::Changes(Changes {
        extensions: changed.extensions.clone(),
        calls: changed.calls.clone(),
        queues: changed.queues.clone(),
        agents: changed.agents.clone(),
        missed: changed.missed.clone(),
    }));
    Some(if json.len() > MAX_PAYLOAD {
        RESYNC.to_string()
    } else {
        json
    })
}

const NOTIFY: &str = "SELECT pg_notify($1, $2)";

/// Announces `changed` on [`CHANNEL`], inside the caller's transaction (it
/// is delivered on commit, never on rollback). Does nothing when nothing
/// changed. The payload is a bound parameter, never SQL text.
pub async fn notify(conn: &mut AsyncPgConnection, changed: &Changed) -> Result<(), Error> {
    let Some(payload) = payload(changed) else {
        return Ok(());
    };
    Cached(
        diesel::sql_query(NOTIFY)
            .bind::<Text, _>(CHANNEL)
            .bind::<Text, _>(payload),
    )
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str, k: &str) -> Key {
        (s.to_string(), k.to_string())
    }

    fn changed(extensions: Vec<Key>, calls: Vec<Key>) -> Changed {
        Changed {
            extensions,
            calls,
            ..Changed::default()
        }
    }

    #[test]
    fn queues_agents_and_missed_are_named_only_when_there_are_some() {
        let c = Changed {
            calls: vec![key("pbx", "1736.1")],
            queues: vec![key("pbx", "6405")],
            agents: vec![key("pbx", "2001")],
            missed: vec![key("pbx", "+15555550100")],
            ..Changed::default()
        };
        let p = payload(&c).expect("payload");
        assert_eq!(
            p,
            r#"{"e":[],"c":[["pbx","1736.1"]],"q":[["pbx","6405"]],"a":[["pbx","2001"]],"m":[["pbx","+15555550100"]]}"#
        );
        // A listener of before reads the extensions and calls only.
        assert_eq!(
            decode(&p).expect("decode"),
            Payload::Changes {
                extensions: vec![],
                calls: vec![key("pbx", "1736.1")]
            }
        );
        match decode_notice(&p).expect("decode") {
            Notice::Changes(n) => {
                assert_eq!(n.queues, c.queues);
                assert_eq!(n.agents, c.agents);
                assert_eq!(n.missed, c.missed);
            }
            Notice::Resync => panic!("resync"),
        }
        // Only an agent changed: still announced.
        let only = Changed {
            agents: vec![key("dp", "7")],
            ..Changed::default()
        };
        assert_eq!(
            payload(&only).as_deref(),
            Some(r#"{"e":[],"c":[],"a":[["dp","7"]]}"#)
        );
        assert_eq!(decode_notice(RESYNC).expect("decode"), Notice::Resync);
    }

    #[test]
    fn nothing_changed_sends_nothing() {
        assert_eq!(payload(&Changed::default()), None);
    }

    #[test]
    fn keys_encode_compactly_and_round_trip() {
        let c = changed(
            vec![key("pbx", "2001"), key("pbx", "2002")],
            vec![key("pbx", "1736.1")],
        );
        let p = payload(&c).expect("payload");
        assert_eq!(
            p,
            r#"{"e":[["pbx","2001"],["pbx","2002"]],"c":[["pbx","1736.1"]]}"#
        );
        assert_eq!(
            decode(&p).expect("decode"),
            Payload::Changes {
                extensions: c.extensions,
                calls: c.calls
            }
        );
    }

    #[test]
    fn only_calls_still_names_both_lists() {
        let p = payload(&changed(vec![], vec![key("dp", "x")])).expect("payload");
        assert_eq!(p, r#"{"e":[],"c":[["dp","x"]]}"#);
    }

    #[test]
    fn strange_call_ids_are_escaped_json() {
        let id = "a'\"); NOTIFY x, 'y\\\u{1}é";
        let c = changed(vec![], vec![key("pbx", id)]);
        let p = payload(&c).expect("payload");
        match decode(&p).expect("decode") {
            Payload::Changes { calls, .. } => assert_eq!(calls, vec![key("pbx", id)]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn resync_encodes_and_decodes() {
        assert_eq!(encode(&Payload::Resync), RESYNC);
        assert_eq!(decode(RESYNC).expect("decode"), Payload::Resync);
    }

    /// A change set of `n` calls whose ids are padded so that its payload
    /// is exactly `len` bytes.
    fn calls_of_len(len: usize) -> Changed {
        // {"e":[],"c":[["s","<id>"]]} is 26 bytes around the id.
        let id = "x".repeat(len - r#"{"e":[],"c":[["s",""]]}"#.len());
        let c = changed(vec![], vec![key("s", &id)]);
        assert_eq!(
            encode(&Payload::Changes {
                extensions: vec![],
                calls: c.calls.clone()
            })
            .len(),
            len
        );
        c
    }

    #[test]
    fn a_payload_at_the_limit_is_sent_as_is() {
        let c = calls_of_len(MAX_PAYLOAD);
        let p = payload(&c).expect("payload");
        assert_eq!(p.len(), MAX_PAYLOAD);
        assert_ne!(decode(&p).expect("decode"), Payload::Resync);
    }

    #[test]
    fn a_payload_one_byte_over_the_limit_becomes_resync() {
        let c = calls_of_len(MAX_PAYLOAD + 1);
        assert_eq!(payload(&c).as_deref(), Some(RESYNC));
    }

    #[test]
    fn many_keys_become_resync_and_the_limit_counts_bytes_not_chars() {
        let many: Vec<Key> = (0..1000)
            .map(|i| key("pbx", &format!("1736{i}.1")))
            .collect();
        assert_eq!(
            payload(&changed(many.clone(), vec![])).as_deref(),
            Some(RESYNC)
        );
        // 2,000 two-byte characters: 2,000 chars but over 4,000 bytes,
        // twice over 7,900 bytes with both copies.
        let wide = "é".repeat(2000);
        let c = changed(vec![key("pbx", &wide)], vec![key("pbx", &wide)]);
        assert_eq!(payload(&c).as_deref(), Some(RESYNC));
    }
}
