//! What the projections show, read for the board and its API: extension
//! cards, calls and live legs (`board.rs`); queues with their waiting calls
//! and today's figures (`queues.rs`); agents (`agents.rs`); the missed
//! calls to return (`missed.rs`); the history of calls (`history.rs`).
//! "Today" is the source's day in its time zone (`sources.timezone`).

mod board;

pub use board::*;
