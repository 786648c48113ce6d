//! The call centre on the board (issue 22): queues, agents and the missed
//! calls to return, live (`state`, filled by the feed through `load`), over
//! the JSON API (`api`), the history of calls (`history`, with its CSV
//! export in `csv`), and the pages that show them (`pages`: the history
//! page and the wallboard).

pub mod api;
pub mod csv;
pub mod follow;
pub mod history;
pub mod load;
pub mod pages;
pub mod state;
