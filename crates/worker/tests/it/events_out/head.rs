//! Where the readable outbox ends (`store::events_out::head`, what the
//! board's API stream wake-up reads): it moves when events become readable
//! and only then, and tells events held back behind a running transaction.

use std::time::Duration;

use diesel_async::SimpleAsyncConnection;
use store::events_out::{self, Head};
use testkit::TestDb;

/// Adds one event to the outbox in its own transaction.
async fn add(db: &TestDb, n: u32) -> anyhow::Result<()> {
    db.exec(&format!(
        "INSERT INTO outbox (event_id, type, source, subject, occurred_at, payload)
         VALUES ('evt_{n:032x}', 'call.ringing', 'pbx', 'call:pbx:{n}', now(), '{{}}')"
    ))
    .await
}

async fn head(db: &TestDb) -> anyhow::Result<Head> {
    Ok(events_out::head(&mut db.conn().await?).await?)
}

/// The head once nothing is held back (bounded wait).
async fn readable(db: &TestDb) -> anyhow::Result<Head> {
    testkit::wait_until(Duration::from_secs(10), "no event held back", || async {
        Ok(!head(db).await?.held_back)
    })
    .await?;
    head(db).await
}

/// The position of the last event the stream can read.
async fn last_readable(db: &TestDb) -> anyhow::Result<Option<String>> {
    let events = events_out::read_after(&mut db.conn().await?, None, 1000).await?;
    Ok(events.last().map(|e| e.position.clone()))
}

#[tokio::test]
async fn the_head_moves_when_events_become_readable_and_tells_held_back_ones() -> anyhow::Result<()>
{
    let db = TestDb::new().await?;
    let empty = head(&db).await?;
    assert_eq!((empty.last, empty.held_back), (None, false));

    add(&db, 1).await?;
    // (Another test's transaction on this server may hold it back a moment.)
    let one = readable(&db).await?;
    assert!(one.last.is_some() && !one.held_back, "{one:?}");
    assert_eq!(one.last, last_readable(&db).await?);
    assert_eq!(head(&db).await?, one, "nothing new: the head stays");

    // A transaction with an xid stays open while the next event commits:
    // that event is held back, and the head does not move.
    let mut holder = db.conn().await?;
    holder
        .batch_execute("BEGIN; SELECT pg_current_xact_id()")
        .await?;
    add(&db, 2).await?;
    let held = head(&db).await?;
    assert_eq!(held.last, one.last, "{held:?}");
    assert!(held.held_back, "{held:?}");
    assert_eq!(last_readable(&db).await?, one.last);

    holder.batch_execute("COMMIT").await?;
    let two = readable(&db).await?;
    assert!(!two.held_back, "{two:?}");
    assert_ne!(two.last, one.last);
    assert_eq!(two.last, last_readable(&db).await?);
    Ok(())
}
