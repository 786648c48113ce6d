//! Helpers shared by the worker's integration tests.

use testkit::TestDb;

/// Puts one raw event of `source` in the inbox, as ingest would store it.
pub async fn insert(db: &TestDb, source: &str, key: &str, body: &str) {
    db.insert_events(&[(source, key.to_string(), body.as_bytes().to_vec())])
        .await
        .expect("insert");
}

/// Runs a `worker` subcommand that must succeed; returns its stdout.
pub async fn worker_ok(db: &TestDb, args: &[&str]) -> String {
    testkit::worker_ok(&db.url, args)
        .await
        .expect("worker command")
}

/// A fresh database.
pub async fn fresh() -> TestDb {
    TestDb::new().await.expect("db")
}

/// Runs `worker ARGS` with `stdin`; returns (exit code, stdout, stderr).
pub async fn cli(db: &TestDb, args: &[&str], stdin: &str) -> (i32, String, String) {
    testkit::worker_cli_stdin(&db.url, args, stdin)
        .await
        .expect("worker runs")
}

/// Runs `worker ARGS` with `stdin`, which must succeed; returns its stdout.
pub async fn ok(db: &TestDb, args: &[&str], stdin: &str) -> String {
    testkit::worker_ok_stdin(&db.url, args, stdin)
        .await
        .expect("worker command")
}

/// A `worker` command that must fail; returns its stderr.
pub async fn refused(db: &TestDb, args: &[&str], stdin: &str) -> String {
    let (code, out, err) = cli(db, args, stdin).await;
    assert_ne!(code, 0, "worker {args:?} should fail: {out}");
    err
}

/// Starts `worker run` (fast polls, retries an hour away) with the test
/// failpoint that panics on any batch holding an event of `source`.
pub fn worker_panicking_on(db: &TestDb, source: &str) -> testkit::Proc {
    testkit::spawn(
        "worker",
        &[
            "run",
            "--poll-interval",
            "20ms",
            "--backoff-base",
            "1h",
            "--backoff-cap",
            "2h",
        ],
        &[
            ("DATABASE_URL", &db.url),
            ("SWITCHBOARD_FAILPOINT_PANIC_SOURCE", source),
        ],
    )
    .expect("worker")
}
