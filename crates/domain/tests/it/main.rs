//! The domain's integration tests, in one binary: sample payloads parsed
//! and mapped, the merges' convergence properties (calls; the call centre's
//! queues, agents, devices and missed calls), and the projection writer on
//! PostgreSQL.

mod callcentre;
mod convergence;
mod fixtures;
mod projection;
mod reads;
