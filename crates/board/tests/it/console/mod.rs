//! The operators' console (`/console`, `/api/console/...`; issue 24)
//! against the real ingest, worker, `worker deliver` and board: its API
//! (`access`, `inbox`, `outbox`) and the page in a real browser
//! (`browser`, with the docs' screenshots).

mod access;
mod browser;
mod inbox;
mod outbox;
pub mod support;
