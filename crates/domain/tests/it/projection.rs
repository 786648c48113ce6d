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
        self.apply_as(source, provider, body, id).await;
    }

    /// Parses and applies one body as inbox row `id` (arrived at second
    /// `id`), in its own transaction. Returns what it parsed to.
    async fn apply_as(
        &mut self,
        source: &str,
        provider: Provider,
        body: &[u8],
        id: i64,
    ) -> domain::Effect {
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
        parsed.effect
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
    assert_eq!(h.db.counts().await.expect("counts").live_legs, 0);
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

#[tokio::test]
async fn presence_is_the_later_event_in_either_order() {
    let away = fixture("yeastar/30009-extension-presence-away.json");
    let dnd = fixture("yeastar/30009-extension-presence-dnd.json");
    for order in [[(1, &away), (2, &dnd)], [(2, &dnd), (1, &away)]] {
        let mut h = Harness::new().await;
        for (id, body) in order {
            h.apply_as("pbx", Provider::Yeastar, body, id).await;
        }
        let (presence, seq, status): (Option<String>, Option<i64>, String) = extensions::table
            .filter(extensions::number.eq("3105"))
            .select((
                extensions::presence,
                extensions::presence_seq,
                extensions::status,
            ))
            .first(&mut h.conn)
            .await
            .expect("extension row");
        assert_eq!(presence.as_deref(), Some("dnd"), "the later event wins");
        assert_eq!(seq, Some(2));
        assert_eq!(status, "online", "presence never changes the status");
        let views = domain::projection::read::extensions(&mut h.conn, Some("pbx"))
            .await
            .expect("read");
        assert_eq!(views.len(), 1);
        assert_eq!(views[0].presence.as_deref(), Some("dnd"));
    }
}

#[tokio::test]
async fn legs_keep_their_channel_and_live_legs_show_them() {
    let mut h = Harness::new().await;
    let y = Provider::Yeastar;
    h.apply("pbx", y, &fixture("yeastar/30011-inbound-ringing.json"))
        .await;
    h.apply("pbx", y, &fixture("yeastar/30011-inbound-answered.json"))
        .await;
    h.apply("pbx", y, &yeastar_call("D", &[("2002", "", "RING")]))
        .await;
    let channel: Option<String> = call_legs::table
        .filter(call_legs::extension.eq("3105"))
        .select(call_legs::channel_id)
        .first(&mut h.conn)
        .await
        .expect("leg");
    assert_eq!(channel.as_deref(), Some("PJSIP/3105-0000041b"));

    let live = domain::projection::read::live_legs(&mut h.conn, Some("pbx"))
        .await
        .expect("live legs");
    assert_eq!(live.len(), 3, "{live:?}");
    let ext = live
        .iter()
        .find(|l| l.extension.as_deref() == Some("3105"))
        .expect("3105 leg");
    assert_eq!(ext.call_id, "1736413250.1187");
    assert_eq!(ext.leg_id, "PJSIP/3105-0000041b");
    assert_eq!(ext.channel_id.as_deref(), Some("PJSIP/3105-0000041b"));
    assert_eq!(ext.state, "incall");
    assert!(ext.answered_at.is_some(), "running duration from here");
    assert_eq!(ext.from_number.as_deref(), Some("07700900417"));
    assert_eq!(ext.to_number.as_deref(), Some("3105"));
    assert_eq!(ext.direction.as_deref(), Some("inbound"));
    let trunk = live
        .iter()
        .find(|l| l.kind == "inbound")
        .expect("trunk leg");
    assert_eq!(
        trunk.channel_id.as_deref(),
        Some("PJSIP/trunk-Telco-Main-endpoint-0000041a")
    );
    let no_channel = live.iter().find(|l| l.call_id == "D").expect("leg of D");
    assert_eq!(no_channel.leg_id, "ext:2002");
    assert_eq!(no_channel.channel_id, None, "no channel: none invented");
    assert!(domain::projection::read::live_legs(&mut h.conn, Some("dp"))
        .await
        .expect("live legs")
        .is_empty());

    h.apply("pbx", y, &fixture("yeastar/30011-inbound-bye.json"))
        .await;
    let live = domain::projection::read::live_legs(&mut h.conn, None)
        .await
        .expect("live legs");
    assert_eq!(live.len(), 1, "only call D is still live");
    let channel: Option<String> = call_legs::table
        .filter(call_legs::extension.eq("3105"))
        .select(call_legs::channel_id)
        .first(&mut h.conn)
        .await
        .expect("leg");
    assert_eq!(
        channel.as_deref(),
        Some("PJSIP/3105-0000041b"),
        "kept when ended"
    );
}

#[tokio::test]
async fn uacsta_after_bye_reopens_nothing() {
    let mut h = Harness::new().await;
    let y = Provider::Yeastar;
    let mut reference = testkit::reference::Projection::default();
    for f in [
        "yeastar/30011-inbound-ringing.json",
        "yeastar/30011-inbound-answered.json",
        "yeastar/30011-inbound-bye.json",
        "yeastar/30020-uacsta.json",
    ] {
        let id = h.next_id;
        h.next_id += 1;
        reference.apply(&h.apply_as("pbx", y, &fixture(f), id).await);
    }
    assert_eq!(h.call("pbx", "1736413250.1187").await.0, "ended");
    assert_eq!(h.ext("pbx", "3105").await, "online");
    let c = h.db.counts().await.expect("counts");
    assert_eq!(c.calls, 1, "a uaCSTA call id makes no call");
    assert_eq!(c.live_legs, 0);
    let row = csta_row(&mut h.conn).await.expect("csta row");
    assert_eq!(
        row,
        (
            "call_answer".into(),
            Some("3105".into()),
            Some("198.51.100.23:5062".into())
        )
    );
    // call_over is final: an earlier call_answer processed later (or a
    // duplicate) never replaces it.
    reference.apply(
        &h.apply_as(
            "pbx",
            y,
            &fixture("yeastar/30020-uacsta-call-over.json"),
            10,
        )
        .await,
    );
    reference.apply(
        &h.apply_as("pbx", y, &fixture("yeastar/30020-uacsta.json"), 11)
            .await,
    );
    assert_eq!(
        csta_row(&mut h.conn).await.expect("csta row").0,
        "call_over"
    );
    assert_eq!(h.call("pbx", "1736413250.1187").await.0, "ended");
    assert_eq!(h.ext("pbx", "3105").await, "online");

    let db = testkit::snapshot::Snapshot::of_database(&mut h.conn, "pbx", false)
        .await
        .expect("snapshot");
    assert_eq!(
        db,
        testkit::snapshot::Snapshot::of_projection(&reference, false)
    );
    assert_eq!(db.csta.len(), 1);
}

/// The uaCSTA row of uaCSTA call 48213: event, extension, address.
async fn csta_row(
    conn: &mut AsyncPgConnection,
) -> QueryResult<(String, Option<String>, Option<String>)> {
    use store::schema::csta_calls;
    csta_calls::table
        .filter(csta_calls::call_id.eq("48213"))
        .select((
            csta_calls::csta_event,
            csta_calls::extension,
            csta_calls::ip_address,
        ))
        .first(conn)
        .await
}
