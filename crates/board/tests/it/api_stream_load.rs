//! What `/api/stream` streams cost the board and may hold: idle streams
//! read nothing from the database (one shared wake-up, not a poll per
//! stream) and an event still reaches each at once; events held back
//! behind a running transaction arrive when it ends; a token holds at most
//! `BOARD_API_STREAMS_PER_TOKEN` streams; a client that stops reading is
//! closed within `BOARD_STREAM_WRITE_TIMEOUT`.

use std::time::{Duration, Instant};

use diesel_async::SimpleAsyncConnection;
use testkit::{wait_until, Board, Stack};

use crate::api_stream::{call, read};
use crate::helpers::{metric, stack, WAIT};
use crate::silent_streams::silent_get;

/// Within this of the webhook's processing an open stream has its event
/// (the poll while listening is every 5 s: a stream woken by it only is
/// late, mostly; one held back by another test's transaction is not).
const PROMPT: Duration = Duration::from_secs(2);

/// A new API token with the stream scope.
async fn stream_token(db_url: &str, name: &str) -> String {
    testkit::worker_ok(db_url, &["token", "add", name, "--stream"])
        .await
        .expect("token")
        .trim()
        .to_string()
}

/// `GET /api/stream` with `token` (held open while the response is).
async fn open(board: &Board, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}/api/stream", board.url()))
        .bearer_auth(token)
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .expect("GET /api/stream")
}

async fn open_api_streams(board: &Board) -> f64 {
    metric(board, "switchboard_board_api_streams_open", "").await
}

async fn reads(board: &Board) -> f64 {
    metric(board, "switchboard_board_api_stream_reads_total", "").await
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_streams_read_nothing_and_an_event_reaches_each_at_once() -> anyhow::Result<()> {
    const N: usize = 8;
    let s = stack(&["--api-streams-per-token", "8"]).await?;
    let token = stream_token(&s.db.url, "feed").await;
    let mut streams = Vec::new();
    for _ in 0..N {
        let r = open(s.board(), &token).await;
        assert_eq!(r.status(), 200);
        streams.push(r);
    }
    wait_until(WAIT, "the streams open and read once", || async {
        Ok(open_api_streams(s.board()).await == N as f64 && reads(s.board()).await >= N as f64)
    })
    .await?;
    // Idle: the old streams read every 250 ms each (8 x 8 reads here).
    let before = reads(s.board()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = reads(s.board()).await - before;
    eprintln!("{N} idle streams: {idle} outbox reads in 2 s");
    assert!(
        idle <= N as f64,
        "{idle} reads by {N} idle streams in 2 s: they poll"
    );

    // An event wakes every stream at once: three times (a stream woken by
    // a fallback poll instead would pass each time with a small chance).
    let mut streams: Vec<Counted> = streams.into_iter().map(Counted::new).collect();
    for n in 1..=3 {
        let ringing = call(n).swap_remove(0);
        s.deliver("pbx", &ringing).await?;
        let processed = Instant::now();
        let written = s.db.count("SELECT count(*) AS n FROM outbox").await? as usize;
        for c in &mut streams {
            c.until(written).await;
        }
        let took = processed.elapsed();
        eprintln!("call {n}: its events on {N} streams {took:?} after it was processed");
        assert!(took < PROMPT, "call {n}: {took:?}");
    }
    Ok(())
}

/// A stream's messages, counted as they come.
struct Counted {
    resp: reqwest::Response,
    buf: String,
    seen: usize,
}

impl Counted {
    fn new(resp: reqwest::Response) -> Counted {
        Counted {
            resp,
            buf: String::new(),
            seen: 0,
        }
    }

    /// Reads until `n` messages (with an id) came in all.
    async fn until(&mut self, n: usize) {
        while self.seen < n {
            let chunk = tokio::time::timeout(WAIT, self.resp.chunk())
                .await
                .expect("messages in time")
                .expect("chunk")
                .expect("stream open");
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = self.buf.find("\n\n") {
                let frame: String = self.buf.drain(..end + 2).collect();
                if frame.lines().any(|l| l.starts_with("id: ")) {
                    self.seen += 1;
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn events_held_back_by_a_running_transaction_arrive_when_it_ends() -> anyhow::Result<()> {
    let s = stack(&[]).await?;
    let token = stream_token(&s.db.url, "feed").await;
    let mut r = open(s.board(), &token).await;
    assert_eq!(r.status(), 200);
    // A transaction with an xid, open while the call is applied: the
    // call's events commit above it, and are not served until it ends.
    let mut holder = s.db.conn().await?;
    holder
        .batch_execute("BEGIN; SELECT pg_current_xact_id()")
        .await?;
    // (Only the first webhook, and briefly: the transaction holds back
    // every test's events on this server.)
    s.deliver("pbx", &call(1).swap_remove(0)).await?;
    let early = tokio::time::timeout(Duration::from_millis(200), r.chunk()).await;
    if let Ok(Ok(Some(chunk))) = &early {
        let text = String::from_utf8_lossy(chunk);
        assert!(!text.contains("event: call."), "served too early: {text}");
    }
    // It ends without writing an event (no notification of its own).
    holder.batch_execute("COMMIT").await?;
    let ended = Instant::now();
    let m = read(&mut r, 1).await;
    let took = ended.elapsed();
    eprintln!("held-back event served {took:?} after the transaction ended");
    assert_eq!(m[0].event, "call.ringing");
    assert!(took < PROMPT, "{took:?}");
    Ok(())
}

#[tokio::test]
async fn streams_are_capped_per_token_without_touching_other_tokens() -> anyhow::Result<()> {
    let s = Stack::builder().migrate().wait(WAIT).start().await?;
    let board = Board::start(&s.db.url, &["--api-streams-per-token", "2"]).await?;
    let (crm, erp) = (
        stream_token(&s.db.url, "crm").await,
        stream_token(&s.db.url, "erp").await,
    );
    let a1 = open(&board, &crm).await;
    assert_eq!(a1.status(), 200);
    let a2 = open(&board, &crm).await;
    assert_eq!(a2.status(), 200);
    let r = open(&board, &crm).await;
    assert_eq!(r.status(), 429, "a third stream of one token");
    let body: serde_json::Value = r.json().await?;
    let why = body["error"].as_str().unwrap_or_default().to_string();
    assert!(why.contains("API token crm") && why.contains('2'), "{why}");
    let b1 = open(&board, &erp).await;
    assert_eq!(b1.status(), 200, "another token is not affected");
    assert_eq!(
        metric(
            &board,
            "switchboard_board_streams_refused_total",
            "why=\"token_limit\""
        )
        .await,
        1.0
    );
    assert_eq!(open_api_streams(&board).await, 3.0);
    // Closing one frees its place.
    drop(a1);
    wait_until(WAIT, "a place freed", || async {
        Ok(open(&board, &crm).await.status() == 200)
    })
    .await?;
    drop((a2, b1));
    Ok(())
}

#[tokio::test]
async fn a_stream_whose_client_reads_nothing_is_closed_within_the_write_timeout(
) -> anyhow::Result<()> {
    const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
    let s = Stack::builder().migrate().wait(WAIT).start().await?;
    // About 1 MB of events: more than the socket and actix hold.
    s.db.exec(
        "INSERT INTO outbox (event_id, type, source, subject, occurred_at, payload)
         SELECT 'evt_' || lpad(to_hex(g), 32, '0'), 'call.ringing', 'pbx', 'call:pbx:' || g, now(),
                jsonb_build_object('type', 'call.ringing', 'data', jsonb_build_object('pad', repeat('x', 300)))
           FROM generate_series(1, 3000) g",
    )
    .await?;
    let token = stream_token(&s.db.url, "feed").await;
    let timeout = format!("{}s", WRITE_TIMEOUT.as_secs());
    let board = Board::start(
        &s.db.url,
        &["--stream-write-timeout", &timeout, "--heartbeat", "500ms"],
    )
    .await?;
    // A reader beside it, reading everything: never dropped.
    let mut reader = open(&board, &token).await;
    assert_eq!(reader.status(), 200);
    let reading = tokio::spawn(async move {
        let mut bytes = 0;
        while let Ok(Some(chunk)) = reader.chunk().await {
            bytes += chunk.len();
        }
        bytes
    });
    let started = Instant::now();
    let _silent = silent_get(
        board.port,
        "/api/stream",
        &format!("Authorization: Bearer {token}"),
    )
    .await;
    wait_until(WAIT, "two API streams open", || async {
        Ok(open_api_streams(&board).await == 2.0)
    })
    .await?;
    wait_until(WAIT, "the silent stream closed", || async {
        Ok(open_api_streams(&board).await == 1.0)
    })
    .await?;
    let closed_after = started.elapsed();
    eprintln!("silent API stream closed {closed_after:?} after it opened");
    assert!(closed_after >= WRITE_TIMEOUT, "{closed_after:?}");
    assert_eq!(
        metric(
            &board,
            "switchboard_board_streams_dropped_total",
            "why=\"write_timeout\""
        )
        .await,
        1.0
    );
    assert!(!reading.is_finished(), "the reading stream goes on");
    reading.abort();
    Ok(())
}
