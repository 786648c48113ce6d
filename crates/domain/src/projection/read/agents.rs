//! Agents as a supervisor watches them: what each does now (from its legs
//! and what the PBX reports per queue), why it is paused, and its calls and
//! talk time today. Only agents the source reports (Yeastar 30025, 30026,
//! 30029; Dialpad agent status) are listed.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::{AGENT_STATE, DAY_START};

/// What an agent does now, in the board contract's words
/// (`data-agent-status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentState {
    Available,
    Paused,
    Wrapup,
    Ringing,
    Incall,
    Loggedout,
}

impl AgentState {
    /// The word the board shows (`available`, `paused`, `wrapup`,
    /// `ringing`, `incall`, `loggedout`).
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Available => "available",
            AgentState::Paused => "paused",
            AgentState::Wrapup => "wrapup",
            AgentState::Ringing => "ringing",
            AgentState::Incall => "incall",
            AgentState::Loggedout => "loggedout",
        }
    }

    /// A stored or derived state word; an `unknown:<word>` the PBX sent
    /// (kept as it is in the row) reads as available here.
    fn of(word: Option<&str>) -> Self {
        match word {
            Some("paused") => AgentState::Paused,
            Some("wrapup") => AgentState::Wrapup,
            Some("ringing") => AgentState::Ringing,
            Some("incall") => AgentState::Incall,
            Some("loggedout") => AgentState::Loggedout,
            _ => AgentState::Available,
        }
    }
}

/// An agent in one queue.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AgentQueueView {
    /// The queue (`""`: a Dialpad status naming no call centre).
    pub queue: String,
    /// What the PBX last reported (one of [`crate::AGENT_STATUSES`] or
    /// `unknown:<word>`; `None` = never), why (a pause's reason) and when.
    pub status: Option<String>,
    pub reason: Option<String>,
    pub since: Option<DateTime<Utc>>,
    /// What it does in this queue now: logged out when reported so, else
    /// in call or ringing by its legs, else the reported status.
    pub state: AgentState,
    /// The latest queue call that rang it out (Yeastar 30026).
    pub ring_timeout_at: Option<DateTime<Utc>>,
    pub ring_timeout_call: Option<String>,
}

/// An agent.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AgentView {
    pub source: String,
    /// The agent's extension (the Dialpad user id).
    pub agent: String,
    pub name: Option<String>,
    /// What it does now, for its extension's card: in call or ringing by
    /// its legs; else, over its queues, wrap-up if in any, available if in
    /// any, paused if in any, else logged out.
    pub state: AgentState,
    /// The reason of the pause, when paused (the latest one reported).
    pub reason: Option<String>,
    /// Logged in to at least one queue.
    pub logged_in: bool,
    /// Today (the source's day): calls it answered, and seconds talking in
    /// them (a call going on counts up to now).
    pub calls_today: i64,
    pub talk_seconds_today: i64,
    pub queues: Vec<AgentQueueView>,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    source: String,
    #[diesel(sql_type = Text)]
    agent: String,
    #[diesel(sql_type = Nullable<Text>)]
    name: Option<String>,
    #[diesel(sql_type = Text)]
    live_state: String,
    #[diesel(sql_type = BigInt)]
    calls_today: i64,
    #[diesel(sql_type = BigInt)]
    talk_seconds_today: i64,
    #[diesel(sql_type = Text)]
    queue: String,
    #[diesel(sql_type = Nullable<Text>)]
    status: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    reason: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    status_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    ring_timeout_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    ring_timeout_call: Option<String>,
}

/// The agents (of `source`, or all; only `keys` (`(source, agent)`) when
/// given), by source and agent, each with its queues by queue.
pub async fn agents(
    conn: &mut AsyncPgConnection,
    source: Option<&str>,
    keys: Option<&[(String, String)]>,
) -> Result<Vec<AgentView>, diesel::result::Error> {
    let (sources, names): (Vec<&str>, Vec<&str>) = keys
        .unwrap_or_default()
        .iter()
        .map(|(s, a)| (s.as_str(), a.as_str()))
        .unzip();
    let rows: Vec<Row> = diesel::sql_query(format!(
        "WITH src AS (
            SELECT s.name AS source, {DAY_START} AS day_start
              FROM sources s WHERE $1::text IS NULL OR s.name = $1),
         a AS (
            SELECT DISTINCT qa.source, qa.agent, src.day_start
              FROM queue_agents qa JOIN src ON src.source = qa.source
             WHERE $2 OR (qa.source, qa.agent) IN (SELECT * FROM unnest($3::text[], $4::text[])))
         SELECT a.source, a.agent, e.name, {AGENT_STATE} AS live_state,
                st.calls_today, st.talk_seconds_today, qa.queue, qa.status, qa.reason,
                qa.status_at, qa.ring_timeout_at, qa.ring_timeout_call
           FROM a
           JOIN queue_agents qa ON qa.source = a.source AND qa.agent = a.agent
           LEFT JOIN extensions e ON e.source = a.source AND e.number = a.agent
           CROSS JOIN LATERAL (
               SELECT count(DISTINCT l.call_id) AS calls_today,
                      coalesce(sum(greatest(extract(epoch FROM
                          least(coalesce(l.ended_at, now()), now()) - l.answered_at), 0)), 0)::int8
                          AS talk_seconds_today
                 FROM call_legs l
                WHERE l.extension = a.agent AND l.source = a.source
                  AND l.call_start >= a.day_start - interval '1 day'
                  AND l.answered_at >= a.day_start) st
          ORDER BY a.source, a.agent, qa.queue"
    ))
    .bind::<Nullable<Text>, _>(source)
    .bind::<Bool, _>(keys.is_none())
    .bind::<Array<Text>, _>(sources)
    .bind::<Array<Text>, _>(names)
    .load(conn)
    .await?;
    let mut out: BTreeMap<(String, String), AgentView> = BTreeMap::new();
    for r in rows {
        let live = AgentState::of(Some(&r.live_state));
        let state = if r.status.as_deref() == Some("loggedout") {
            AgentState::Loggedout
        } else {
            live
        };
        let q = AgentQueueView {
            queue: r.queue,
            status: r.status,
            reason: r.reason,
            since: r.status_at,
            state,
            ring_timeout_at: r.ring_timeout_at,
            ring_timeout_call: r.ring_timeout_call,
        };
        out.entry((r.source.clone(), r.agent.clone()))
            .or_insert_with(|| AgentView {
                source: r.source,
                agent: r.agent,
                name: r.name,
                state: live,
                reason: None,
                logged_in: false,
                calls_today: r.calls_today,
                talk_seconds_today: r.talk_seconds_today,
                queues: Vec::new(),
            })
            .queues
            .push(q);
    }
    Ok(out.into_values().map(summarise).collect())
}

/// An agent's overall state, reason and login from its legs and queues
/// (see [`AgentView::state`]).
fn summarise(mut a: AgentView) -> AgentView {
    let reported = |s: AgentState| a.queues.iter().any(|q| q.state == s);
    a.logged_in = a.queues.iter().any(|q| q.state != AgentState::Loggedout);
    if !matches!(a.state, AgentState::Incall | AgentState::Ringing) {
        a.state = [
            AgentState::Wrapup,
            AgentState::Available,
            AgentState::Paused,
        ]
        .into_iter()
        .find(|s| reported(*s))
        .unwrap_or(AgentState::Loggedout);
    }
    if a.state == AgentState::Paused {
        a.reason = a
            .queues
            .iter()
            .filter(|q| q.state == AgentState::Paused)
            .max_by_key(|q| q.since)
            .and_then(|q| q.reason.clone());
    }
    a
}
