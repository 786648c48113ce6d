//! Switchboard's worker: claims pending webhooks with `FOR UPDATE SKIP
//! LOCKED`, applies them to calls, legs and extensions, and marks them
//! processed, all in one transaction per batch. [`service::run`] is
//! `worker run`: the claim loops with their wake-ups, upkeep, operators'
//! server and shutdown deadline.

mod backlog;
mod batch;
mod config;
pub mod deliver;
mod depth;
mod maintain;
mod retry;
mod wake;
mod worker;

pub mod render;
pub mod service;

pub use backlog::Backlog;
pub use batch::{ApplyFailure, BatchReport, EventError};
pub use config::WorkerConfig;
pub use worker::{Worker, WorkerError};
