//! The domain's integration tests, in one binary: sample payloads parsed
//! and mapped, the merges' convergence properties, and the projection
//! writer on PostgreSQL.

mod convergence;
mod fixtures;
mod projection;
