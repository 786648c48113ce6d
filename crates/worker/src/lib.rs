//! Switchboard's worker: claims pending webhooks with `FOR UPDATE SKIP
//! LOCKED`, applies them to calls, legs and extensions, and marks them
//! processed, all in one transaction per batch.

mod batch;
mod batch_loop;
mod config;
mod depth;
mod listener;
mod maintain;
mod retry;

pub mod render;

pub use batch::{ApplyFailure, BatchReport, EventError};
pub use batch_loop::{Worker, WorkerError};
pub use config::WorkerConfig;
pub use depth::sample as sample_depth;
pub use listener::{listen, ListenError};
pub use maintain::run as maintain;
pub use retry::backoff;
