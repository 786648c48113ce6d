//! Ingest's integration tests, in one binary: the HTTP answers against a
//! fresh database per test (`api`), and what a stranger can do to the
//! public edge (`edge`).

mod api;
mod edge;
