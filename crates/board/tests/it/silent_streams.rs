//! Event streams that hold the board's resources without reading them: a
//! client that stops accepting bytes is disconnected within
//! `BOARD_STREAM_WRITE_TIMEOUT` (and counted), while one that reads is
//! not; one session and one user may hold only so many streams at once
//! (`BOARD_STREAMS_PER_SESSION`, `_PER_USER`), without affecting others.

use std::time::{Duration, Instant};

use testkit::{wait_until, Board, Stack};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{http, login, metric, OPERATOR, PBX_SECRET, VIEWER, WAIT};

/// The write timeout the board runs with here.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// A database with the users and `n` extensions of source `pbx` (so that
/// the board's snapshot is large: about 100 bytes each), and no board.
async fn with_extensions(n: usize) -> anyhow::Result<Stack> {
    let s = Stack::builder()
        .migrate()
        .yeastar("pbx", PBX_SECRET)
        .user(OPERATOR.0, "operator", OPERATOR.1)
        .user(VIEWER.0, "viewer", VIEWER.1)
        .wait(WAIT)
        .start()
        .await?;
    s.db.exec(&format!(
        "INSERT INTO extensions (source, number, name, status, updated_at)
         SELECT 'pbx', g::text, 'Extension number ' || g, 'online', now()
           FROM generate_series(1000, {}) g",
        999 + n
    ))
    .await?;
    Ok(s)
}

/// A client of `/events` that never reads: see [`silent_get`].
async fn silent(port: u16, cookie: &str) -> tokio::net::TcpStream {
    silent_get(port, "/events", &format!("Cookie: {cookie}")).await
}

/// A client that asks for `path` with the header line `credentials` and
/// then never reads: a 4 KiB receive buffer and a small segment size, so
/// that its window closes at once and the board's send buffer stays small.
pub async fn silent_get(port: u16, path: &str, credentials: &str) -> tokio::net::TcpStream {
    let sock = tokio::net::TcpSocket::new_v4().expect("socket");
    sock.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    socket2::SockRef::from(&sock)
        .set_tcp_mss(536)
        .expect("TCP_MAXSEG");
    let mut tcp = sock
        .connect(([127, 0, 0, 1], port).into())
        .await
        .expect("connect");
    tcp.write_all(
        format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{credentials}\r\n\
             Accept: text/event-stream\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .expect("request");
    tcp
}

/// Streams open on `board` (its `/readyz`).
async fn open_streams(board: &Board) -> u64 {
    let r = board
        .admin_client()
        .request("GET", "/readyz", &[], b"")
        .await
        .expect("/readyz");
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
    v["streams"].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn a_stream_that_accepts_nothing_is_closed_within_the_write_timeout_and_counted(
) -> anyhow::Result<()> {
    let s = with_extensions(3000).await?;
    let timeout = format!("{}s", WRITE_TIMEOUT.as_secs());
    let board = Board::start(
        &s.db.url,
        &["--stream-write-timeout", &timeout, "--heartbeat", "500ms"],
    )
    .await?;
    let cookie = login(&board.url(), VIEWER.0, VIEWER.1).await;
    // A reader beside it, reading everything as it comes: never dropped.
    let mut reader = http()
        .get(format!("{}/events", board.url()))
        .header("Cookie", &cookie)
        .timeout(Duration::from_secs(120))
        .send()
        .await?;
    assert_eq!(reader.status(), 200);
    let reading = tokio::spawn(async move {
        let mut bytes = 0;
        while let Ok(Some(chunk)) = reader.chunk().await {
            bytes += chunk.len();
        }
        bytes
    });

    let started = Instant::now();
    let mut tcp = silent(board.port, &cookie).await;
    wait_until(WAIT, "two streams open", || async {
        Ok(open_streams(&board).await == 2)
    })
    .await?;
    // It stays open while it could still accept something, then goes.
    wait_until(WAIT, "the silent stream closed", || async {
        Ok(open_streams(&board).await == 1)
    })
    .await?;
    let closed_after = started.elapsed();
    let counted = metric(
        &board,
        "switchboard_board_streams_dropped_total",
        "why=\"write_timeout\"",
    )
    .await;
    eprintln!(
        "silent stream: closed {:.2} s after it opened (write timeout {:?}); counted {counted}",
        closed_after.as_secs_f64(),
        WRITE_TIMEOUT
    );
    assert_eq!(counted, 1.0, "the drop is counted as a write timeout");
    assert!(
        closed_after >= WRITE_TIMEOUT,
        "not before the timeout: {closed_after:?}"
    );
    // The client finds its connection reset once it reads what it holds.
    let mut buf = vec![0u8; 64 * 1024];
    let end = tokio::time::timeout(WAIT, async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) => return "closed",
                Ok(_) => continue,
                Err(_) => return "reset",
            }
        }
    })
    .await
    .expect("the connection ends");
    eprintln!("silent stream: the client sees its connection {end}");

    // The reader keeps its stream (pings every 500 ms) well past the timeout.
    tokio::time::sleep(WRITE_TIMEOUT * 2).await;
    assert!(!reading.is_finished(), "the reading stream goes on");
    assert_eq!(open_streams(&board).await, 1);
    reading.abort();
    Ok(())
}

/// `GET /events` with `cookie`: the status, and the response to keep the
/// stream open while it is held.
async fn open(board: &Board, cookie: &str) -> (u16, reqwest::Response) {
    let r = http()
        .get(format!("{}/events", board.url()))
        .header("Cookie", cookie)
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .expect("GET /events");
    (r.status().as_u16(), r)
}

#[tokio::test]
async fn streams_are_capped_per_session_and_per_user_without_touching_others() -> anyhow::Result<()>
{
    let s = with_extensions(1).await?;
    let board = Board::start(
        &s.db.url,
        &["--streams-per-session", "2", "--streams-per-user", "3"],
    )
    .await?;
    let url = board.url();
    let (viewer_a, viewer_b) = (
        login(&url, VIEWER.0, VIEWER.1).await,
        login(&url, VIEWER.0, VIEWER.1).await,
    );
    let operator = login(&url, OPERATOR.0, OPERATOR.1).await;

    let (st, a1) = open(&board, &viewer_a).await;
    assert_eq!(st, 200);
    let (st, a2) = open(&board, &viewer_a).await;
    assert_eq!(st, 200);
    let (st, r) = open(&board, &viewer_a).await;
    assert_eq!(st, 429, "a third stream of one session");
    let body: serde_json::Value = r.json().await?;
    let why = body["error"].as_str().unwrap_or_default().to_string();
    assert!(why.contains("this session") && why.contains('2'), "{why}");

    let (st, b1) = open(&board, &viewer_b).await;
    assert_eq!(st, 200, "another session of the same user, under both caps");
    let (st, r) = open(&board, &viewer_b).await;
    assert_eq!(st, 429, "a fourth stream of one user");
    let body: serde_json::Value = r.json().await?;
    let why = body["error"].as_str().unwrap_or_default().to_string();
    assert!(why.contains(VIEWER.0) && why.contains('3'), "{why}");

    // Another user is not affected.
    let (st, _o1) = open(&board, &operator).await;
    assert_eq!(st, 200);
    let (st, _o2) = open(&board, &operator).await;
    assert_eq!(st, 200);
    assert_eq!(
        metric(&board, "switchboard_board_streams_refused_total", "").await,
        2.0,
        "the refusals are counted"
    );

    // Closing one frees its slot.
    drop(a1);
    wait_until(WAIT, "a slot freed", || async {
        Ok(open(&board, &viewer_b).await.0 == 200)
    })
    .await?;
    drop((a2, b1));
    Ok(())
}
