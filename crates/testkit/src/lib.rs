//! Test support: one fresh PostgreSQL database per test, created from a
//! migrated template so that tests run in parallel; the real binaries
//! started on free ports; the sample payloads; the in-memory reference
//! model; bounded waits.

pub mod cluster;
pub mod plan;
pub mod reference;
pub mod snapshot;

mod db;
mod fixtures;
mod procs;
mod wait;

pub use db::{
    admin_url, age_events, audit_completions, test_keyring, with_database, TestDb,
    OTHER_SECRETS_KEY, TEST_SECRETS_KEY,
};
pub use fixtures::{fixture, fixtures_dir};
pub use procs::{
    bin, free_port, spawn, start_worker, worker_cli, worker_cli_env, worker_cli_stdin, worker_ok,
    worker_ok_stdin, Board, Ingest, Proc,
};
pub use wait::wait_until;
