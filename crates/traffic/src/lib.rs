//! Signed call scenarios for Yeastar and Dialpad sources, and a small HTTP
//! client to post them: used by the demo, the tests and the load generator;
//! and the live board's measurement (`board`: event streams timed under load).

pub mod board;
pub mod http;
pub mod load;
pub mod scenario;

pub use http::{Client, HttpError, Response};
pub use scenario::{SignedRequest, Step};
