//! Events out: the outbox the batches write (exactly one event per change,
//! each valid against its documented schema), endpoints, deliveries.

mod deliveries;
mod due;
mod exactly_once;
mod fixture;
mod head;
mod leases;
pub(crate) mod receiver;
pub mod support;
