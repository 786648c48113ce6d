//! The worker's integration tests, in one binary: the real `ingest` and
//! `worker` binaries against a fresh database per test.

mod apis;
mod callcentre;
mod callcentre_convergence;
mod changes;
mod config_docs;
mod convergence;
mod crash;
mod e2e;
mod events_out;
mod failover;
mod failures;
mod helpers;
mod monitoring;
mod ops;
mod outage;
mod pgbouncer;
mod refusals;
mod roles;
mod service;
mod sources;
mod tokens;
mod users;
