//! The change feed with the real `worker` binary: one notification per
//! committed batch naming the calls and extensions it wrote, none for a
//! rolled-back batch, `{"resync":true}` when the keys do not fit.

use std::time::Duration;

use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::StreamExt;
use store::changes::{self, Key, Payload};
use testkit::{start_worker, Counter, TestDb};

use crate::helpers::insert;

const WAIT: Duration = Duration::from_secs(60);

/// A Yeastar 30011 snapshot: `call` ringing on every extension of `exts`.
fn ringing(call: &str, exts: &[&str]) -> String {
    let members: Vec<_> = exts
        .iter()
        .map(|e| {
            serde_json::json!({"extension": {
                "number": e, "channel_id": format!("c-{call}-{e}"), "member_status": "RING"
            }})
        })
        .collect();
    serde_json::json!({"type": 30011, "msg": serde_json::json!({
        "call_id": call, "members": members
    }).to_string()})
    .to_string()
}

fn key(source: &str, k: &str) -> Key {
    (source.to_string(), k.to_string())
}

/// A connection LISTENing on the change feed's channel.
async fn listen(db: &TestDb) -> AsyncPgConnection {
    let mut conn = store::connect(&db.url).await.expect("listener");
    diesel::sql_query(format!("LISTEN {}", changes::CHANNEL))
        .execute(&mut conn)
        .await
        .expect("LISTEN");
    conn
}

/// The next notification on the channel, decoded; fails after [`WAIT`].
async fn next(conn: &mut AsyncPgConnection) -> Payload {
    let mut stream = std::pin::pin!(conn.notifications_stream());
    let n = tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("a notification in time")
        .expect("the stream is open")
        .expect("a notification");
    assert_eq!(n.channel, changes::CHANNEL);
    changes::decode(&n.payload).unwrap_or_else(|e| panic!("{e}: {}", n.payload))
}

/// Inserts one more event and asserts that the next notification is its
/// own: nothing was announced in between.
async fn sentinel(db: &TestDb, conn: &mut AsyncPgConnection) {
    insert(db, "pbx", "sentinel", &ringing("sentinel", &["2999"])).await;
    assert_eq!(
        next(conn).await,
        Payload::Changes {
            extensions: vec![key("pbx", "2999")],
            calls: vec![key("pbx", "sentinel")],
        },
        "the next notification is the sentinel's: no other one came before it"
    );
}

async fn db_with(sources: &[&str]) -> TestDb {
    let db = TestDb::new().await.expect("db");
    for s in sources {
        db.add_source(s, "yeastar", &["s"]).await.expect("source");
    }
    db
}

#[tokio::test]
async fn one_batch_sends_one_notification_naming_exactly_its_keys() {
    let db = db_with(&["pbx"]).await;
    let mut l = listen(&db).await;
    // Two calls, three extensions, one call twice: one batch.
    insert(&db, "pbx", "a", &ringing("1736.1", &["2001", "2002"])).await;
    insert(&db, "pbx", "b", &ringing("1736.2", &["2003"])).await;
    insert(&db, "pbx", "c", &ringing("1736.1", &["2001", "2002"])).await;
    // One claim loop: two would split the three events between them.
    let _w = start_worker(&db.url, &["--batch-size", "100", "--concurrency", "1"]).expect("worker");
    assert_eq!(
        next(&mut l).await,
        Payload::Changes {
            extensions: vec![key("pbx", "2001"), key("pbx", "2002"), key("pbx", "2003")],
            calls: vec![key("pbx", "1736.1"), key("pbx", "1736.2")],
        }
    );
    assert_eq!(
        db.counts().await.expect("counts").applied,
        3,
        "the notification came after the batch committed"
    );
    sentinel(&db, &mut l).await;
}

#[tokio::test]
async fn a_rolled_back_batch_sends_no_notification() {
    let db = db_with(&["pbx", "boom"]).await;
    let mut l = listen(&db).await;
    let pbx_calls = ["p0", "p1", "p2"];
    for (i, call) in pbx_calls.iter().enumerate() {
        insert(&db, "pbx", &format!("k{i}"), &ringing(call, &["2001"])).await;
        if i == 1 {
            insert(&db, "boom", "boom", &ringing("b", &["2002"])).await;
        }
    }
    // The batch of all four panics and rolls back; the worker retries its
    // events one by one: the three pbx ones commit alone, boom fails alone.
    let _w = crate::helpers::worker_panicking_on(&db, "boom");
    let mut announced = Vec::new();
    for _ in &pbx_calls {
        match next(&mut l).await {
            Payload::Changes { extensions, calls } => {
                assert_eq!(extensions, vec![key("pbx", "2001")]);
                assert_eq!(calls.len(), 1, "each retried alone: {calls:?}");
                announced.extend(calls);
            }
            Payload::Resync => panic!("unexpected resync"),
        }
    }
    announced.sort();
    assert_eq!(
        announced,
        pbx_calls.iter().map(|c| key("pbx", c)).collect::<Vec<_>>(),
        "only the retried pbx events were announced, never the rolled-back batch"
    );
    db.wait_count(
        WAIT,
        Counter::Failed,
        "source = 'boom' AND attempts = 1 AND last_error LIKE 'panic%'",
        1,
    )
    .await
    .expect("the boom event to fail alone");
    // Nothing for the rolled-back batch nor for boom's failure.
    sentinel(&db, &mut l).await;
}

#[tokio::test]
async fn too_many_keys_for_one_notification_send_resync() {
    let db = db_with(&["pbx"]).await;
    let mut l = listen(&db).await;
    // 300 calls with 40-byte ids: far over 7,900 bytes of keys.
    let events: Vec<_> = (0..300)
        .map(|i| {
            let call = format!("resync-call-with-a-rather-long-id-{i:05}");
            (
                "pbx",
                format!("k{i}"),
                ringing(&call, &["2001"]).into_bytes(),
            )
        })
        .collect();
    db.insert_events(&events).await.expect("insert");
    // One claim loop: two would split the 300 events between them.
    let _w =
        start_worker(&db.url, &["--batch-size", "1000", "--concurrency", "1"]).expect("worker");
    assert_eq!(next(&mut l).await, Payload::Resync);
    assert_eq!(
        db.counts().await.expect("counts").applied,
        300,
        "all in the one batch announced"
    );
    sentinel(&db, &mut l).await;
}
