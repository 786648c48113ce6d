//! Test support: one fresh PostgreSQL database per test, created from a
//! migrated template so that tests run in parallel, with named counts on
//! it; the real binaries started on free ports, alone or as a whole
//! [`Stack`]; webhooks signed as each provider signs them; the sample
//! payloads; the in-memory reference model; bounded waits; a binary's
//! log kept for the test to read. For the tests of failures: a server of
//! the test's own with a standby (`cluster`), a TCP proxy that partitions
//! (`proxy`), a small filesystem to fill (`disk`), and senders that tally
//! every answer (`load`).

pub mod cluster;
pub mod disk;
pub mod load;
pub mod plan;
pub mod proxy;
pub mod reference;
pub mod schema;
pub mod snapshot;

mod counts;
mod db;
mod fixtures;
mod logs;
mod procs;
mod signing;
mod stack;
mod wait;

pub use counts::{Completions, Counter, Counts};
pub use db::{
    admin_url, age_events, audit_completions, test_keyring, with_database, TestDb,
    OTHER_SECRETS_KEY, TEST_SECRETS_KEY,
};
pub use fixtures::{fixture, fixtures_dir};
pub use logs::Logs;
pub use procs::{
    bin, free_port, spawn, start_worker, worker_cli, worker_cli_env, worker_cli_stdin, worker_ok,
    worker_ok_stdin, Board, Ingest, Proc,
};
pub use signing::{
    post_webhook, sign, sign_dialpad, sign_standard, sign_yeastar, Posted, SignedRequest,
};
pub use stack::{Source, Stack, StackBuilder};
pub use wait::wait_until;
