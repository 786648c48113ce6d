//! What the hub keeps of the call centre: every queue and agent the
//! sources report, and the open missed-call entries, keyed by `(source,
//! queue|agent|number)`. A change replaces the rows it names; a missed-call
//! entry whose count fell to 0 has left the list (it is sent once, with its
//! 0, so that pages remove it).

use std::collections::{BTreeMap, BTreeSet};

use domain::projection::read::{AgentView, MissedCallView, QueueView};
use serde::Serialize;

/// `(source, key)`.
type Key = (String, String);

/// The call centre as the board shows it.
#[derive(Debug, Default)]
pub struct CallCentre {
    queues: BTreeMap<Key, QueueView>,
    agents: BTreeMap<Key, AgentView>,
    missed: BTreeMap<Key, MissedCallView>,
}

/// Rows re-read after a change (or everything, on a reload).
#[derive(Debug, Default, Clone)]
pub struct Rows {
    pub queues: Vec<QueueView>,
    pub agents: Vec<AgentView>,
    pub missed: Vec<MissedCallView>,
}

impl Rows {
    pub fn is_empty(&self) -> bool {
        self.queues.is_empty() && self.agents.is_empty() && self.missed.is_empty()
    }
}

/// The call-centre part of an SSE frame: each list left out when empty.
#[derive(Serialize, Default)]
pub struct Part<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub queues: Vec<&'a QueueView>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<&'a AgentView>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missed: Vec<&'a MissedCallView>,
}

impl CallCentre {
    /// Everything in `rows` (a reload).
    pub fn of(rows: Rows) -> CallCentre {
        let mut cc = CallCentre::default();
        cc.apply(rows);
        cc
    }

    /// Replaces the rows `rows` names; a missed entry with no missed call
    /// left is removed. Returns the rows that changed what the board
    /// shows (a row read the same as before, or a missed entry at 0 that
    /// had already left, is not news).
    pub fn apply(&mut self, rows: Rows) -> Rows {
        let mut changed = Rows::default();
        for q in rows.queues {
            let k = (q.source.clone(), q.queue.clone());
            if self.queues.get(&k) != Some(&q) {
                self.queues.insert(k, q.clone());
                changed.queues.push(q);
            }
        }
        for a in rows.agents {
            let k = (a.source.clone(), a.agent.clone());
            if self.agents.get(&k) != Some(&a) {
                self.agents.insert(k, a.clone());
                changed.agents.push(a);
            }
        }
        for m in rows.missed {
            let k = (m.source.clone(), m.number.clone());
            if m.missed_count > 0 {
                if self.missed.get(&k) != Some(&m) {
                    self.missed.insert(k, m.clone());
                    changed.missed.push(m);
                }
            } else if self.missed.remove(&k).is_some() {
                changed.missed.push(m);
            }
        }
        changed
    }

    /// The keys among `keys` that are agents'.
    pub fn agents_among(&self, keys: &BTreeSet<Key>) -> BTreeSet<Key> {
        keys.iter()
            .filter(|k| self.agents.contains_key(*k))
            .cloned()
            .collect()
    }

    /// Everything, for a snapshot.
    pub fn all(&self) -> Part<'_> {
        Part {
            queues: self.queues.values().collect(),
            agents: self.agents.values().collect(),
            missed: self.missed.values().collect(),
        }
    }
}

/// The call centre's changes waiting for the next delta: the newest row
/// of each queue, agent and missed-call entry that changed.
#[derive(Debug, Default)]
pub struct Changes {
    queues: BTreeMap<Key, QueueView>,
    agents: BTreeMap<Key, AgentView>,
    missed: BTreeMap<Key, MissedCallView>,
}

impl Changes {
    /// Adds changed rows (a later row of the same key replaces the earlier).
    pub fn add(&mut self, rows: Rows) {
        for q in rows.queues {
            self.queues.insert((q.source.clone(), q.queue.clone()), q);
        }
        for a in rows.agents {
            self.agents.insert((a.source.clone(), a.agent.clone()), a);
        }
        for m in rows.missed {
            self.missed.insert((m.source.clone(), m.number.clone()), m);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.queues.is_empty() && self.agents.is_empty() && self.missed.is_empty()
    }

    /// The rows, for a delta (missed entries that left the list included,
    /// with their count of 0).
    pub fn part(&self) -> Part<'_> {
        Part {
            queues: self.queues.values().collect(),
            agents: self.agents.values().collect(),
            missed: self.missed.values().collect(),
        }
    }
}

/// A missed-call entry of `number` at `pbx` with `count` calls (tests).
#[cfg(test)]
pub(crate) fn missed(number: &str, count: i32) -> MissedCallView {
    MissedCallView {
        source: "pbx".into(),
        number: number.into(),
        missed_count: count,
        first_at: None,
        last_at: None,
        last_call_id: None,
        last_reason: None,
        answered_at: None,
        done_through: None,
        done_at: None,
        done_by: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missed_entry_leaves_when_its_count_is_zero() {
        let mut cc = CallCentre::of(Rows {
            missed: vec![missed("+1", 1), missed("+2", 2)],
            ..Rows::default()
        });
        assert_eq!(cc.all().missed.len(), 2);
        let change = Rows {
            missed: vec![missed("+1", 0)],
            ..Rows::default()
        };
        let changed = cc.apply(change.clone());
        let all = cc.all();
        assert_eq!(all.missed.len(), 1);
        assert_eq!(all.missed[0].number, "+2");
        // The delta still names the entry that left, with its 0.
        let mut changes = Changes::default();
        changes.add(changed);
        let json = serde_json::to_string(&changes.part()).unwrap_or_default();
        assert!(json.contains("\"missed_count\":0"), "{json}");
        assert!(!json.contains("queues"), "empty lists are left out: {json}");
        // Once gone, or unchanged, a row is not news.
        assert!(cc.apply(change).is_empty());
        assert!(cc
            .apply(Rows {
                missed: vec![missed("+2", 2)],
                ..Rows::default()
            })
            .is_empty());
    }
}
