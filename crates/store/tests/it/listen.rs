//! LISTEN with reconnect (`store::listen`): notifications reach the
//! subscriber, a lost connection or a failed catch-up reconnects with a
//! doubling backoff, and the subscriber catches up on every reconnect.

use std::time::Duration;

use diesel_async::SimpleAsyncConnection;
use store::listen::{listen, ListenError, Subscriber};
use testkit::TestDb;
use tokio::sync::mpsc;

const CHANNEL: &str = "store_listen_test";
const WAIT: Duration = Duration::from_secs(30);

/// What the subscriber was told.
#[derive(Debug, PartialEq)]
enum Told {
    Listening,
    Notified(Vec<String>),
    /// The error's kind and the backoff before the next try.
    Interrupted(&'static str, Duration),
}

/// Reports everything on a channel; its catch-up fails the first
/// `failing` times.
struct Probe {
    told: mpsc::UnboundedSender<Told>,
    failing: usize,
}

impl Subscriber for Probe {
    type Error = String;

    async fn listening(&mut self) -> Result<(), String> {
        if self.failing > 0 {
            self.failing -= 1;
            return Err("catch-up failed".into());
        }
        let _ = self.told.send(Told::Listening);
        Ok(())
    }

    async fn notified(&mut self, payloads: Vec<String>) -> Result<(), String> {
        let _ = self.told.send(Told::Notified(payloads));
        Ok(())
    }

    fn interrupted(&mut self, error: &ListenError<String>, retry_in: Duration) {
        let kind = match error {
            ListenError::Connect(_) => "connect",
            ListenError::Listen(_) => "listen",
            ListenError::Lost(_) | ListenError::Closed | ListenError::Silent(_) => "lost",
            ListenError::Subscriber(_) => "subscriber",
        };
        let _ = self.told.send(Told::Interrupted(kind, retry_in));
    }
}

/// Starts listening on `url` with a [`Probe`]; returns what it is told.
fn start(url: String, failing: usize) -> mpsc::UnboundedReceiver<Told> {
    let (told, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move { listen(&url, CHANNEL, Probe { told, failing }).await });
    rx
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Told>) -> Told {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("told in time")
        .expect("the listener runs")
}

const MS: fn(u64) -> Duration = Duration::from_millis;

#[tokio::test]
async fn notifications_arrive_and_a_lost_connection_is_reopened() {
    let db = TestDb::new().await.expect("db");
    let mut rx = start(db.url.clone(), 0);
    assert_eq!(next(&mut rx).await, Told::Listening);
    db.exec(&format!("NOTIFY {CHANNEL}, 'one'"))
        .await
        .expect("notify");
    assert_eq!(next(&mut rx).await, Told::Notified(vec!["one".into()]));
    // Notifications of one transaction arrive together, in order.
    let mut conn = db.conn().await.expect("conn");
    conn.batch_execute(&format!(
        "BEGIN; NOTIFY {CHANNEL}, 'a'; NOTIFY {CHANNEL}, 'b'; COMMIT"
    ))
    .await
    .expect("notify");
    let mut got = Vec::new();
    while got.len() < 2 {
        match next(&mut rx).await {
            Told::Notified(p) => got.extend(p),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got, ["a", "b"]);
    // The connection is killed: the subscriber hears it, then the catch-up.
    db.exec(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE query = 'LISTEN {CHANNEL}' AND datname = current_database()"
    ))
    .await
    .expect("terminate");
    assert_eq!(next(&mut rx).await, Told::Interrupted("lost", MS(200)));
    assert_eq!(next(&mut rx).await, Told::Listening);
    db.exec(&format!("NOTIFY {CHANNEL}, 'two'"))
        .await
        .expect("notify");
    assert_eq!(next(&mut rx).await, Told::Notified(vec!["two".into()]));
}

#[tokio::test]
async fn failures_back_off_doubling() {
    // The subscriber's catch-up fails twice, then succeeds.
    let db = TestDb::new().await.expect("db");
    let mut rx = start(db.url.clone(), 2);
    assert_eq!(
        next(&mut rx).await,
        Told::Interrupted("subscriber", MS(200))
    );
    assert_eq!(
        next(&mut rx).await,
        Told::Interrupted("subscriber", MS(400))
    );
    assert_eq!(next(&mut rx).await, Told::Listening);
    // No database at all: the connection fails, the waits keep doubling.
    let mut rx = start("postgres://postgres@127.0.0.1:1/none".into(), 0);
    for ms in [200, 400, 800] {
        assert_eq!(next(&mut rx).await, Told::Interrupted("connect", MS(ms)));
    }
}
