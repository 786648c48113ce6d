//! The reference model: the whole projection in memory, applying the same
//! merge rules as the projection writer in the order given. Tests check the
//! database against it.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, Utc};
use diesel::sql_types::{BigInt, Bytea, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::merge::{
    apply_call, extension_status, merge_agent, merge_csta, merge_extension_fact, missed_entries,
    AgentRow, CallRow, CstaRow, ExtensionRow, LegRow, MissedEntry, QueueRow,
};
use domain::{parse, Effect, Envelope, ExtensionStatus, LegState, Provider};

/// The whole projection in memory: the reference the projection writer is
/// checked against.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Projection {
    pub calls: BTreeMap<String, CallRow>,
    pub legs: BTreeMap<(String, String), LegRow>,
    /// Queue membership by (call id, queue).
    pub queues: BTreeMap<(String, String), QueueRow>,
    pub extensions: BTreeMap<String, ExtensionRow>,
    /// Agents by (queue, agent).
    pub agents: BTreeMap<(String, String), AgentRow>,
    /// uaCSTA reports by uaCSTA call id (`csta_calls`).
    pub csta: BTreeMap<String, CstaRow>,
    /// The source's clock for CDR times (`None`: UTC).
    pub zone: Option<FixedOffset>,
}

impl Projection {
    /// Applies one effect.
    pub fn apply(&mut self, effect: &Effect) {
        match effect {
            Effect::Call(u) => self.apply_call(u),
            Effect::Registration { extension, .. }
            | Effect::Reported { extension, .. }
            | Effect::Presence { extension, .. } => {
                let e = self.extensions.entry(extension.clone()).or_default();
                merge_extension_fact(e, effect);
            }
            Effect::Agent(a) => {
                let e = self.extensions.entry(a.agent.clone()).or_default();
                merge_extension_fact(e, effect);
                for q in &a.queues {
                    let row = self.agents.entry((q.clone(), a.agent.clone())).or_default();
                    merge_agent(row, a);
                }
            }
            Effect::Csta(r) => {
                let mut row = self.csta.remove(&r.call_id);
                merge_csta(&mut row, r);
                if let Some(row) = row {
                    self.csta.insert(r.call_id.clone(), row);
                }
            }
            Effect::Ignored => {}
        }
    }

    /// Applies a call update to the call, its legs and queues, and the
    /// extensions of its legs.
    fn apply_call(&mut self, u: &domain::CallUpdate) {
        let call = self.calls.entry(u.call_id.clone()).or_default();
        let of_call = |(c, k): &(String, String)| (*c == u.call_id).then(|| k.clone());
        let mut legs: BTreeMap<String, LegRow> = self
            .legs
            .iter()
            .filter_map(|(k, r)| of_call(k).map(|l| (l, r.clone())))
            .collect();
        let mut queues: BTreeMap<String, QueueRow> = self
            .queues
            .iter()
            .filter_map(|(k, r)| of_call(k).map(|q| (q, r.clone())))
            .collect();
        match self.zone {
            Some(z) => apply_call(call, &mut legs, &mut queues, u, &z),
            None => apply_call(call, &mut legs, &mut queues, u, &Utc),
        }
        for (leg_id, row) in legs {
            if let Some(ext) = &row.extension {
                let e = self.extensions.entry(ext.clone()).or_default();
                if let Some(name) = u
                    .legs
                    .iter()
                    .find(|l| l.leg_id == leg_id)
                    .and_then(|l| l.extension_name.clone())
                {
                    e.name = Some(name);
                }
            }
            self.legs.insert((u.call_id.clone(), leg_id), row);
        }
        for ext in u.legs.iter().filter_map(|l| l.extension.as_ref()) {
            let e = self.extensions.entry(ext.clone()).or_default();
            e.leg_seen_at = e.leg_seen_at.max(u.at);
        }
        for (queue, row) in queues {
            self.queues.insert((u.call_id.clone(), queue), row);
        }
    }

    /// The derived status of every known extension.
    pub fn extension_statuses(&self) -> BTreeMap<String, ExtensionStatus> {
        self.extensions
            .iter()
            .map(|(number, row)| {
                let live: Vec<LegState> = self
                    .legs
                    .values()
                    .filter(|l| {
                        l.extension.as_deref() == Some(number) && l.state != LegState::Ended
                    })
                    .map(|l| l.state)
                    .collect();
                (number.clone(), extension_status(&live, row))
            })
            .collect()
    }

    /// The open missed call entries, by number (nothing marked done).
    pub fn missed(&self) -> BTreeMap<String, MissedEntry> {
        missed_entries(
            self.calls.iter().map(|(id, c)| (id.as_str(), c)),
            &BTreeMap::new(),
        )
    }
}

/// A stored event, as the reference reads it back.
#[derive(QueryableByName)]
struct Stored {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Timestamptz)]
    received_at: DateTime<Utc>,
    #[diesel(sql_type = Bytea)]
    body: Vec<u8>,
}

impl Projection {
    /// The reference of the events stored for `source` (of `provider`):
    /// each applied once, in the order they were stored, with its own id
    /// and arrival time (the only order Yeastar events have).
    pub async fn of_stored(
        conn: &mut AsyncPgConnection,
        source: &str,
        provider: Provider,
    ) -> anyhow::Result<Projection> {
        let rows: Vec<Stored> = diesel::sql_query(
            "SELECT id, received_at, body FROM events WHERE source = $1 ORDER BY id",
        )
        .bind::<Text, _>(source)
        .load(conn)
        .await?;
        let mut p = Projection::default();
        for r in rows {
            let env = Envelope {
                id: r.id,
                received_at: r.received_at,
            };
            let parsed = parse(provider, &r.body, env)
                .map_err(|e| anyhow::anyhow!("{source} event {}: {e}", r.id))?;
            p.apply(&parsed.effect);
        }
        Ok(p)
    }
}
