//! The store's integration tests, in one binary: connections against
//! private PostgreSQL servers (`testkit::cluster`).

mod tls;
