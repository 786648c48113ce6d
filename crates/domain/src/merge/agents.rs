//! Agents per queue: the status the PBX reports (last by sequence) and the
//! latest ring timeout.

use chrono::{DateTime, Utc};

use crate::event::{AgentChange, AgentUpdate};

/// A `queue_agents` row as the merge sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AgentRow {
    /// One of [`crate::AGENT_STATUSES`] or `unknown:<word>`; `None` = never
    /// reported.
    pub status: Option<String>,
    pub reason: Option<String>,
    pub status_seq: Option<i64>,
    pub status_at: Option<DateTime<Utc>>,
    /// The latest queue call that rang the agent out (Yeastar 30026).
    pub ring_timeout_at: Option<DateTime<Utc>>,
    pub ring_timeout_call: Option<String>,
    pub ring_timeout_seq: Option<i64>,
}

/// Merges one agent update into the agent's row of one of its queues: the
/// status (with its reason) of the latest update by sequence, the ring
/// timeout likewise. Equal sequences are ordered by their content (a
/// missing reason or call as `""`, as the projection's SQL compares them),
/// so that any order keeps the same one.
pub fn merge_agent(row: &mut AgentRow, u: &AgentUpdate) {
    match &u.change {
        AgentChange::Status { status, reason } => {
            let new = (u.seq, status.as_str(), reason.as_deref().unwrap_or(""));
            let have = (
                row.status.as_deref().unwrap_or(""),
                row.reason.as_deref().unwrap_or(""),
            );
            let wins = row.status_seq.is_none_or(|s| new > (s, have.0, have.1));
            if wins {
                row.status = Some(status.clone());
                row.reason.clone_from(reason);
                row.status_seq = Some(u.seq);
                row.status_at = Some(u.at);
            }
        }
        AgentChange::RingTimeout { call_id } => {
            let new = (u.seq, call_id.as_deref().unwrap_or(""));
            let have = row.ring_timeout_call.as_deref().unwrap_or("");
            let wins = row.ring_timeout_seq.is_none_or(|s| new > (s, have));
            if wins {
                row.ring_timeout_at = Some(u.at);
                row.ring_timeout_call.clone_from(call_id);
                row.ring_timeout_seq = Some(u.seq);
            }
        }
    }
}
