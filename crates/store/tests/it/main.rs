//! The store's integration tests, in one binary: connections against
//! private PostgreSQL servers (`testkit::cluster`), and LISTEN with
//! reconnect against a fresh database.

mod listen;
mod tls;
