//! The projection writer against a real PostgreSQL.

use chrono::{TimeZone, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::projection::{apply, Item};
use domain::{parse, Envelope, Provider};
use serde_json::json;
use store::schema::{call_legs, calls, extensions};
use testkit::{fixture, TestDb};

struct Harness {
    db: TestDb,
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
            db,
            conn,
            next_id: 1,
        }
    }

    /// Parses and applies one body as the next arrival, in its own transaction.
    async fn apply(&mut self, source: &str, provider: Provider, body: &[u8]) {
        let id = self.next_id;
        self.next_id += 1;
        let env = Envelope {
            id,
            received_at: Utc
                .timestamp_opt(1_800_000_000 + id, 0)
                .single()
                .expect("time"),
        };
        let parsed = parse(provider, body, env).expect("parses");
        let item = Item {
            source,
            received_at: env.received_at,
            effect: &parsed.effect,
        };
        self.conn
            .transaction::<_, diesel::result::Error, _>(async |c| {
                apply(c, &[item]).await?;
                Ok(())
            })
            .await
            .expect("applies");
    }

    async fn ext(&mut self, source: &str, number: &str) -> String {
        extensions::table
            .filter(extensions::source.eq(source))
            .filter(extensions::number.eq(number))
            .select(extensions::status)
            .first(&mut self.conn)
            .await
            .expect("extension row")
    }

    async fn call(&mut self, source: &str, id: &str) -> (String, Option<String>) {
        calls::table
            .filter(calls::source.eq(source))
            .filter(calls::call_id.eq(id))
            .select((calls::status, calls::recording_url))
            .first(&mut self.conn)
            .await
            .expect("call row")
    }
}

fn yeastar_call(call_id: &str, members: &[(&str, &str, &str)]) -> Vec<u8> {
    let members: Vec<_> = members
        .iter()
        .map(|(ext, ch, st)| {
            json!({"extension": {"number": ext, "channel_id": ch, "member_status": st, "call_path": ""}})
        })
        .collect();
    json!({"type": 30011, "msg": json!({"call_id": call_id, "members": members}).to_string()})
        .to_string()
        .into_bytes()
}

#[tokio::test]
async fn fixture_sequence_moves_extension_and_call() {
    let mut h = Harness::new().await;
    let y = Provider::Yeastar;
    h.apply("pbx", y, &fixture("yeastar/30011-inbound-ringing.json"))
        .await;
    assert_eq!(h.ext("pbx", "3105").await, "ringing");
    assert_eq!(h.call("pbx", "1736413250.1187").await.0, "ringing");
    h.apply("pbx", y, &fixture("yeastar/30011-inbound-answered.json"))
        .await;
    assert_eq!(h.ext("pbx", "3105").await, "incall");
    assert_eq!(h.call("pbx", "1736413250.1187").await.0, "active");
    h.apply("pbx", y, &fixture("yeastar/30011-inbound-hold.json"))
        .await;
    assert_eq!(h.ext("pbx", "3105").await, "incall", "on hold is not free");
    let on_hold: bool = call_legs::table
        .filter(call_legs::extension.eq("3105"))
        .select(call_legs::on_hold)
        .first(&mut h.conn)
        .await
        .expect("leg");
    assert!(on_hold);
    h.apply("pbx", y, &fixture("yeastar/30011-inbound-bye.json"))
        .await;
    assert_eq!(h.ext("pbx", "3105").await, "online");
    assert_eq!(h.call("pbx", "1736413250.1187").await.0, "ended");
    h.apply("pbx", y, &fixture("yeastar/30012-cdr-answered.json"))
        .await;
    let (status, rec) = h.call("pbx", "1736413250.1187").await;
    assert_eq!(status, "ended");
    assert!(rec.is_some_and(|r| r.ends_with("Inbound.wav")));
    // A late ringing snapshot never reopens the call nor rings the extension.
    h.apply("pbx", y, &fixture("yeastar/30011-inbound-ringing.json"))
        .await;
    assert_eq!(h.call("pbx", "1736413250.1187").await.0, "ended");
    assert_eq!(h.ext("pbx", "3105").await, "online");
    let legs =
        h.db.count("SELECT count(*) AS n FROM call_legs WHERE state <> 'ended'")
            .await
            .expect("count");
    assert_eq!(legs, 0);
}

#[tokio::test]
async fn call_waiting_keeps_the_extension_in_call() {
    let mut h = Harness::new().await;
    let y = Provider::Yeastar;
    h.apply(
        "pbx",
        y,
        &yeastar_call("A", &[("1001", "a1", "ANSWERED"), ("2002", "a2", "ANSWER")]),
    )
    .await;
    h.apply(
        "pbx",
        y,
        &yeastar_call("B", &[("1003", "b1", "ALERT"), ("2002", "b2", "RING")]),
    )
    .await;
    assert_eq!(
        h.ext("pbx", "2002").await,
        "incall",
        "in call beats ringing"
    );
    h.apply(
        "pbx",
        y,
        &yeastar_call("B", &[("1003", "b1", "ANSWERED"), ("2002", "b2", "ANSWER")]),
    )
    .await;
    h.apply(
        "pbx",
        y,
        &yeastar_call("A", &[("1001", "a1", "BYE"), ("2002", "a2", "BYE")]),
    )
    .await;
    assert_eq!(h.ext("pbx", "2002").await, "incall", "still in call B");
    assert_eq!(h.ext("pbx", "1001").await, "online");
    h.apply(
        "pbx",
        y,
        &yeastar_call("B", &[("1003", "b1", "BYE"), ("2002", "b2", "BYE")]),
    )
    .await;
    assert_eq!(h.ext("pbx", "2002").await, "online");
}

#[tokio::test]
async fn registration_and_unknown_status() {
    let mut h = Harness::new().await;
    let y = Provider::Yeastar;
    h.apply(
        "pbx",
        y,
        &fixture("yeastar/30007-extension-registration.json"),
    )
    .await;
    assert_eq!(h.ext("pbx", "3105").await, "offline");
    h.apply("pbx", y, &yeastar_call("C", &[("3105", "c1", "RING")]))
        .await;
    assert_eq!(h.ext("pbx", "3105").await, "ringing");
    h.apply(
        "pbx",
        y,
        &yeastar_call("C", &[("3105", "c1", "TELEPORTED")]),
    )
    .await;
    assert_eq!(
        h.ext("pbx", "3105").await,
        "ringing",
        "unknown member_status changes nothing"
    );
    h.apply("pbx", y, &yeastar_call("C", &[("3105", "c1", "BYE")]))
        .await;
    assert_eq!(
        h.ext("pbx", "3105").await,
        "offline",
        "back to its registration"
    );
}

#[tokio::test]
async fn dialpad_recording_never_reopens() {
    let mut h = Harness::new().await;
    let d = Provider::Dialpad;
    h.apply("dp", d, &fixture("dialpad/call-ringing.json"))
        .await;
    assert_eq!(h.ext("dp", "4893027716182016").await, "ringing");
    h.apply("dp", d, &fixture("dialpad/call-connected.json"))
        .await;
    assert_eq!(h.ext("dp", "4893027716182016").await, "incall");
    h.apply("dp", d, &fixture("dialpad/call-hangup.json")).await;
    assert_eq!(h.ext("dp", "4893027716182016").await, "online");
    h.apply("dp", d, &fixture("dialpad/call-recording.json"))
        .await;
    let (status, rec) = h.call("dp", "9184732650918273").await;
    assert_eq!(status, "ended");
    assert_eq!(
        rec.as_deref(),
        Some("https://dialpad.example/recordings/4721093385216000")
    );
    let name: Option<String> = extensions::table
        .filter(extensions::number.eq("4893027716182016"))
        .select(extensions::name)
        .first(&mut h.conn)
        .await
        .expect("ext");
    assert_eq!(name.as_deref(), Some("Marisol Okafor"));
}

#[tokio::test]
async fn events_in_reverse_order_give_the_same_state() {
    let files = [
        "yeastar/30011-inbound-ringing.json",
        "yeastar/30011-inbound-answered.json",
        "yeastar/30011-inbound-hold.json",
        "yeastar/30011-inbound-bye.json",
        "yeastar/30012-cdr-answered.json",
    ];
    let mut states = Vec::new();
    for order in [files.to_vec(), files.iter().rev().copied().collect()] {
        let mut h = Harness::new().await;
        for f in order {
            h.apply("pbx", Provider::Yeastar, &fixture(f)).await;
        }
        let call: (
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<i32>,
        ) = calls::table
            .select((
                calls::status,
                calls::direction,
                calls::from_number,
                calls::recording_url,
                calls::talk_seconds,
            ))
            .first(&mut h.conn)
            .await
            .expect("call");
        let legs: Vec<(String, String, bool)> = call_legs::table
            .order(call_legs::leg_id)
            .select((call_legs::leg_id, call_legs::state, call_legs::on_hold))
            .load(&mut h.conn)
            .await
            .expect("legs");
        let ext = h.ext("pbx", "3105").await;
        states.push((call, legs, ext));
    }
    assert_eq!(states[0], states[1]);
    assert_eq!(states[0].0 .0, "ended");
}
