//! Switchboard's worker: claims pending webhooks with `FOR UPDATE SKIP
//! LOCKED`, applies them to calls, legs and extensions, and marks them
//! processed, all in one transaction per batch.

pub mod admin;
pub mod listener;
pub mod metrics_server;
pub mod storage;
pub mod worker;

pub use worker::{BatchReport, Worker, WorkerConfig};
