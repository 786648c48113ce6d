//! Events out: the normalized events of a batch, from each row it locked
//! as loaded and as written ([`crate::outbound`] holds the rules).

use chrono::{DateTime, Utc};

use super::agents::Written;
use super::calls::LockedCalls;
use super::extensions::LockedExtensions;
use crate::outbound::{self, AgentChangeRow, ExtensionChange, OutEvent};

/// The events of the batch: calls (with their queues), extensions, agents.
pub(super) fn events(
    calls: &LockedCalls,
    exts: &LockedExtensions,
    agents: &Written,
    now: DateTime<Utc>,
) -> Vec<OutEvent> {
    let mut out = Vec::new();
    for c in calls.changes(now) {
        out.extend(outbound::call_events(&c));
    }
    for ((source, number), (status, presence), row, after) in exts.changes() {
        out.extend(outbound::extension_events(&ExtensionChange {
            source,
            number,
            name: row.name.as_deref(),
            status_before: status,
            status_after: after.as_str(),
            presence_before: presence.as_deref(),
            presence_after: row.presence.as_deref(),
            now,
        }));
    }
    for ((source, queue, agent), (before, after)) in &agents.rows {
        out.extend(outbound::agent_events(&AgentChangeRow {
            source,
            queue,
            agent,
            before: Some(before),
            after,
            now,
        }));
    }
    out
}
