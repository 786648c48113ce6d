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
