//! The change feed: after applying a batch, in the batch's own transaction,
//! the worker sends ONE notification on [`CHANNEL`] naming every call and
//! extension the batch wrote. PostgreSQL delivers notifications only when
//! the transaction commits, so a rolled-back batch announces nothing.
//!
//! The payload is compact JSON (see [`Payload`]):
//!
//! ```text
//! {"e":[["pbx","2001"],["pbx","2002"]],"c":[["pbx","1736.1"]]}
//! ```
//!
//! `e` lists `[source, extension number]`, `c` lists `[source, call id]`,
//! each sorted and without duplicates. When that would exceed
//! [`MAX_PAYLOAD`] bytes (NOTIFY refuses payloads of 8,000 bytes or more)
//! the payload is `{"resync":true}` instead: a listener must then reload
//! everything it shows. A batch that wrote nothing sends no notification.
//!
//! A listener (the board) runs `LISTEN switchboard_changes` and decodes
//! each notification's payload with [`decode`].

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

/// The JSON shape of [`Payload`].
#[derive(Serialize, Deserialize)]
struct Wire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    e: Option<Vec<Key>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    c: Option<Vec<Key>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resync: Option<bool>,
}

impl From<Payload> for Wire {
    fn from(p: Payload) -> Self {
        match p {
            Payload::Changes { extensions, calls } => Wire {
                e: Some(extensions),
                c: Some(calls),
                resync: None,
            },
            Payload::Resync => Wire {
                e: None,
                c: None,
                resync: Some(true),
            },
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

/// Decodes a notification's payload.
pub fn decode(payload: &str) -> Result<Payload, serde_json::Error> {
    serde_json::from_str(payload)
}

/// The payload announcing `changed`: `None` when nothing changed, the keys
/// when they fit in [`MAX_PAYLOAD`] bytes, [`RESYNC`] otherwise.
pub fn payload(changed: &Changed) -> Option<String> {
    payload_of(&changed.extensions, &changed.calls)
}

fn payload_of(extensions: &[Key], calls: &[Key]) -> Option<String> {
    if extensions.is_empty() && calls.is_empty() {
        return None;
    }
    let json = encode(&Payload::Changes {
        extensions: extensions.to_vec(),
        calls: calls.to_vec(),
    });
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
        Changed { extensions, calls }
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
