//! What the projections show, read for the board and its API: extension
//! cards, calls and live legs (`board.rs`); queues with their waiting calls
//! and today's figures (`queues.rs`); agents (`agents.rs`); the missed
//! calls to return (`missed.rs`); the history of calls (`history.rs`).
//! "Today" is the source's day in its time zone (`sources.timezone`,
//! `worker source set-timezone`).

mod agents;
mod board;
mod history;
mod missed;
mod queues;

pub use agents::{agents, AgentQueueView, AgentState, AgentView};
pub use board::*;
pub use history::{history, Cursor, CursorError, HistoryCall, HistoryFilter, HistoryPage};
pub use missed::{missed_calls, MissedCallView};
pub use queues::{queues, waiting_calls, QueueView, WaitingCall, DEFAULT_SLA_SECONDS};

/// SQL: the start of today in the time zone of the source row `s`.
const DAY_START: &str =
    "(date_trunc('day', now() AT TIME ZONE s.timezone) AT TIME ZONE s.timezone)";

/// SQL: the state of the agent row `qa` (`queue_agents`) now: `incall`
/// while a leg of its extension is in call, else `ringing` while one rings
/// (its legs are what it does), else the status the PBX reported
/// (`available` when it never did).
const AGENT_STATE: &str = "CASE
        WHEN EXISTS (SELECT 1 FROM call_legs l WHERE l.source = qa.source
                        AND l.extension = qa.agent AND l.state <> 'ended' AND l.state = 'incall')
            THEN 'incall'
        WHEN EXISTS (SELECT 1 FROM call_legs l WHERE l.source = qa.source
                        AND l.extension = qa.agent AND l.state <> 'ended' AND l.state = 'ringing')
            THEN 'ringing'
        ELSE coalesce(qa.status, 'available') END";
