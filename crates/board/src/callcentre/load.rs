//! The feed's reads of the call centre: everything on a reload, and on a
//! change the rows it names. An agent's state also follows its extension's
//! legs, so an extension that changed re-reads its agent (if it is one);
//! a queue's agents by state follow its agents, so an agent that changed
//! re-reads its queues.

use std::collections::BTreeSet;

use diesel_async::AsyncPgConnection;
use domain::projection::read;

use super::state::Rows;

/// The most open missed-call entries loaded (the newest); later changes
/// add to them.
pub const MISSED_LOADED: i64 = 1000;

/// `(source, key)`.
type Key = (String, String);

/// Every queue and agent, and the newest open missed-call entries.
pub async fn all(conn: &mut AsyncPgConnection) -> Result<Rows, diesel::result::Error> {
    Ok(Rows {
        queues: read::queues(conn, None, None).await?,
        agents: read::agents(conn, None, None).await?,
        missed: read::missed_calls(conn, None, None, MISSED_LOADED).await?,
    })
}

/// What a change names, as keys.
#[derive(Debug, Default)]
pub struct Named {
    /// Extensions that changed (their own, or a leg of a changed call).
    pub extensions: BTreeSet<Key>,
    pub queues: BTreeSet<Key>,
    pub agents: BTreeSet<Key>,
    pub missed: BTreeSet<Key>,
}

impl Named {
    pub fn is_empty(&self) -> bool {
        self.extensions.is_empty()
            && self.queues.is_empty()
            && self.agents.is_empty()
            && self.missed.is_empty()
    }

    /// Adds the names of `other`.
    pub fn merge(&mut self, other: Named) {
        self.extensions.extend(other.extensions);
        self.queues.extend(other.queues);
        self.agents.extend(other.agents);
        self.missed.extend(other.missed);
    }
}

/// The rows `named` names (agents of changed extensions, queues of changed
/// agents included); unknown keys are left out.
pub async fn changed(
    conn: &mut AsyncPgConnection,
    named: Named,
) -> Result<Rows, diesel::result::Error> {
    let mut rows = Rows::default();
    let agent_keys: Vec<Key> = named.agents.union(&named.extensions).cloned().collect();
    if !agent_keys.is_empty() {
        rows.agents = read::agents(conn, None, Some(&agent_keys)).await?;
    }
    let mut queue_keys = named.queues;
    for a in &rows.agents {
        for q in a.queues.iter().filter(|q| !q.queue.is_empty()) {
            queue_keys.insert((a.source.clone(), q.queue.clone()));
        }
    }
    if !queue_keys.is_empty() {
        let keys: Vec<Key> = queue_keys.into_iter().collect();
        rows.queues = read::queues(conn, None, Some(&keys)).await?;
    }
    if !named.missed.is_empty() {
        let keys: Vec<Key> = named.missed.into_iter().collect();
        let n = i64::try_from(keys.len()).unwrap_or(i64::MAX);
        rows.missed = read::missed_calls(conn, None, Some(&keys), n).await?;
    }
    Ok(rows)
}
