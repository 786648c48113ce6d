//! A comparable view of the projected state (calls, legs, queues,
//! extensions, agents, missed calls), built either from the in-memory
//! reference model or from the database, so that tests can assert that both
//! converge on the same state.

use std::collections::BTreeMap;

use crate::reference::Projection;
use anyhow::Result;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::merge;
use store::schema::{
    call_legs, call_queues, calls, csta_calls, extensions, missed_calls, queue_agents,
};

/// A timestamp as compared: exact where it comes from the provider's payload,
/// else only whether it is set (Yeastar times are arrival times, which
/// differ from run to run).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Time {
    Exact(i64),
    Set,
    Unset,
}

fn time(t: Option<DateTime<Utc>>, exact: bool) -> Time {
    match (t, exact) {
        (Some(t), true) => Time::Exact(t.timestamp_millis()),
        (Some(_), false) => Time::Set,
        (None, _) => Time::Unset,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallView {
    pub status: String,
    pub direction: Option<String>,
    pub from_number: Option<String>,
    pub to_number: Option<String>,
    pub started_at: Time,
    pub answered_at: Time,
    pub ended_at: Time,
    pub talk_seconds: Option<i32>,
    pub duration_seconds: Option<i32>,
    pub disposition: Option<String>,
    pub recording_url: Option<String>,
    pub outcome: Option<String>,
    pub failure_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegView {
    pub kind: String,
    pub extension: Option<String>,
    pub state: String,
    pub on_hold: bool,
    pub channel_id: Option<String>,
    pub answered_at: Time,
    pub ended_at: Time,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionView {
    pub status: String,
    pub name: Option<String>,
    pub presence: Option<String>,
    pub registered: Option<bool>,
}

/// A call's stay in a queue (`call_queues`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueView {
    pub outcome: String,
    pub agent: Option<String>,
    pub entered_at: Time,
    pub answered_at: Time,
    pub ended_at: Time,
}

/// An agent in a queue (`queue_agents`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentView {
    pub status: Option<String>,
    pub reason: Option<String>,
    pub ring_timeout_call: Option<String>,
}

/// An open missed call entry (`missed_calls`, count > 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissedView {
    pub count: i32,
    pub first_at: Time,
    pub last_at: Time,
    pub last_call_id: String,
    pub last_reason: String,
}

/// A uaCSTA report row (`csta_calls`): its last operation, extension and
/// address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CstaView {
    pub csta_event: String,
    pub extension: Option<String>,
    pub ip_address: Option<String>,
}

/// The state of one source.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    pub calls: BTreeMap<String, CallView>,
    pub legs: BTreeMap<(String, String), LegView>,
    pub extensions: BTreeMap<String, ExtensionView>,
    pub csta: BTreeMap<String, CstaView>,
    /// By (call id, queue).
    pub queues: BTreeMap<(String, String), QueueView>,
    /// By (queue, agent).
    pub agents: BTreeMap<(String, String), AgentView>,
    /// Open entries by number.
    pub missed: BTreeMap<String, MissedView>,
}

impl Snapshot {
    /// The view of an in-memory projection.
    pub fn of_projection(p: &Projection, exact_times: bool) -> Snapshot {
        let statuses = p.extension_statuses();
        Snapshot {
            calls: p
                .calls
                .iter()
                .map(|(id, c)| (id.clone(), projected_call(c, exact_times)))
                .collect(),
            legs: p
                .legs
                .iter()
                .map(|(k, l)| (k.clone(), projected_leg(l, exact_times)))
                .collect(),
            extensions: p
                .extensions
                .iter()
                .map(|(n, e)| {
                    (
                        n.clone(),
                        ExtensionView {
                            status: statuses.get(n).map_or("online", |s| s.as_str()).into(),
                            name: e.name.clone(),
                            presence: e.presence.clone(),
                            registered: e.registered,
                        },
                    )
                })
                .collect(),
            csta: p
                .csta
                .iter()
                .map(|(id, r)| {
                    (
                        id.clone(),
                        CstaView {
                            csta_event: r.csta_event.clone(),
                            extension: r.extension.clone(),
                            ip_address: r.ip_address.clone(),
                        },
                    )
                })
                .collect(),
            queues: p
                .queues
                .iter()
                .map(|(k, q)| {
                    let view = QueueView {
                        outcome: q.outcome.as_str().into(),
                        agent: q.agent.clone(),
                        entered_at: time(Some(q.entered_at), exact_times),
                        answered_at: time(q.answered_at, exact_times),
                        ended_at: time(q.ended_at, exact_times),
                    };
                    (k.clone(), view)
                })
                .collect(),
            agents: p
                .agents
                .iter()
                .map(|(k, a)| {
                    let view = AgentView {
                        status: a.status.clone(),
                        reason: a.reason.clone(),
                        ring_timeout_call: a.ring_timeout_call.clone(),
                    };
                    (k.clone(), view)
                })
                .collect(),
            missed: p
                .missed()
                .into_iter()
                .map(|(n, m)| {
                    let view = MissedView {
                        count: m.count,
                        first_at: time(Some(m.first_at), exact_times),
                        last_at: time(Some(m.last_at), exact_times),
                        last_call_id: m.last_call_id,
                        last_reason: m.last_reason.as_str().into(),
                    };
                    (n, view)
                })
                .collect(),
        }
    }

    /// The view of one source's rows in the database.
    pub async fn of_database(
        conn: &mut AsyncPgConnection,
        source: &str,
        exact_times: bool,
    ) -> Result<Snapshot> {
        let calls = load_calls(conn, source, exact_times).await?;
        let legs = load_legs(conn, source, exact_times).await?;
        let extensions = load_extensions(conn, source).await?;
        let csta = load_csta(conn, source).await?;
        let queues = load_queues(conn, source, exact_times).await?;
        let agents = load_agents(conn, source).await?;
        let missed = load_missed(conn, source, exact_times).await?;
        Ok(Snapshot {
            calls,
            legs,
            extensions,
            csta,
            queues,
            agents,
            missed,
        })
    }
}

/// The view of one call of the in-memory projection.
fn projected_call(c: &merge::CallRow, exact_times: bool) -> CallView {
    CallView {
        status: c.status.as_str().into(),
        direction: c.direction.clone(),
        from_number: c.from_number.clone(),
        to_number: c.to_number.clone(),
        started_at: time(c.started_at, exact_times),
        answered_at: time(c.answered_at, exact_times),
        ended_at: time(c.ended_at, exact_times),
        talk_seconds: c.talk_seconds,
        duration_seconds: c.duration_seconds,
        disposition: c.disposition.clone(),
        recording_url: c.recording_url.clone(),
        outcome: c.outcome.map(|o| o.as_str().to_string()),
        failure_reason: c.failure_reason.clone(),
    }
}

/// The view of one leg of the in-memory projection.
fn projected_leg(l: &merge::LegRow, exact_times: bool) -> LegView {
    LegView {
        kind: l.kind.clone(),
        extension: l.extension.clone(),
        state: l.state.as_str().into(),
        on_hold: merge::shows_on_hold(l),
        channel_id: l.channel_id.clone(),
        answered_at: time(l.answered_at, exact_times),
        ended_at: time(l.ended_at, exact_times),
    }
}

/// A `calls` row as compared: id, status, direction, from, to, started,
/// answered, ended, talk and total seconds, disposition, recording,
/// outcome, failure reason.
type CallColumns = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<i32>,
    Option<i32>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// A `call_legs` row as compared: call, leg, kind, extension, state, hold,
/// channel, answered, ended.
type LegColumns = (
    String,
    String,
    String,
    Option<String>,
    String,
    bool,
    Option<String>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

/// The views of one source's calls in the database, by call id.
async fn load_calls(
    conn: &mut AsyncPgConnection,
    source: &str,
    exact_times: bool,
) -> Result<BTreeMap<String, CallView>> {
    let rows: Vec<CallColumns> = calls::table
        .filter(calls::source.eq(source))
        .select((
            calls::call_id,
            calls::status,
            calls::direction,
            calls::from_number,
            calls::to_number,
            calls::started_at,
            calls::answered_at,
            calls::ended_at,
            calls::talk_seconds,
            calls::duration_seconds,
            calls::disposition,
            calls::recording_url,
            calls::outcome,
            calls::failure_reason,
        ))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| call_view(row, exact_times))
        .collect())
}

/// One `calls` row as its call id and view.
fn call_view(row: CallColumns, exact_times: bool) -> (String, CallView) {
    let (id, status, direction, from, to, st, an, en, talk, dur, disp, rec, outcome, failure) = row;
    let view = CallView {
        status,
        direction,
        from_number: from,
        to_number: to,
        started_at: time(st, exact_times),
        answered_at: time(an, exact_times),
        ended_at: time(en, exact_times),
        talk_seconds: talk,
        duration_seconds: dur,
        disposition: disp,
        recording_url: rec,
        outcome,
        failure_reason: failure,
    };
    (id, view)
}

/// The views of one source's call legs in the database, by (call id, leg
/// id).
async fn load_legs(
    conn: &mut AsyncPgConnection,
    source: &str,
    exact_times: bool,
) -> Result<BTreeMap<(String, String), LegView>> {
    let rows: Vec<LegColumns> = call_legs::table
        .filter(call_legs::source.eq(source))
        .select((
            call_legs::call_id,
            call_legs::leg_id,
            call_legs::kind,
            call_legs::extension,
            call_legs::state,
            call_legs::on_hold,
            call_legs::channel_id,
            call_legs::answered_at,
            call_legs::ended_at,
        ))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(call, leg, kind, extension, state, on_hold, channel_id, an, en)| {
                let view = LegView {
                    kind,
                    extension,
                    state,
                    on_hold,
                    channel_id,
                    answered_at: time(an, exact_times),
                    ended_at: time(en, exact_times),
                };
                ((call, leg), view)
            },
        )
        .collect())
}

/// The views of one source's extensions in the database, by number.
async fn load_extensions(
    conn: &mut AsyncPgConnection,
    source: &str,
) -> Result<BTreeMap<String, ExtensionView>> {
    type Row = (String, String, Option<String>, Option<String>, Option<bool>);
    let rows: Vec<Row> = extensions::table
        .filter(extensions::source.eq(source))
        .select((
            extensions::number,
            extensions::status,
            extensions::name,
            extensions::presence,
            extensions::registered,
        ))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(number, status, name, presence, registered)| {
            let view = ExtensionView {
                status,
                name,
                presence,
                registered,
            };
            (number, view)
        })
        .collect())
}

/// The views of one source's uaCSTA reports in the database, by uaCSTA
/// call id.
async fn load_csta(
    conn: &mut AsyncPgConnection,
    source: &str,
) -> Result<BTreeMap<String, CstaView>> {
    let rows: Vec<(String, String, Option<String>, Option<String>)> = csta_calls::table
        .filter(csta_calls::source.eq(source))
        .select((
            csta_calls::call_id,
            csta_calls::csta_event,
            csta_calls::extension,
            csta_calls::ip_address,
        ))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, csta_event, extension, ip_address)| {
            let view = CstaView {
                csta_event,
                extension,
                ip_address,
            };
            (id, view)
        })
        .collect())
}

/// The views of one source's queue memberships in the database, by (call
/// id, queue).
async fn load_queues(
    conn: &mut AsyncPgConnection,
    source: &str,
    exact_times: bool,
) -> Result<BTreeMap<(String, String), QueueView>> {
    type Row = (
        String,
        String,
        String,
        Option<String>,
        DateTime<Utc>,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
    );
    let rows: Vec<Row> = call_queues::table
        .filter(call_queues::source.eq(source))
        .select((
            call_queues::call_id,
            call_queues::queue,
            call_queues::outcome,
            call_queues::agent,
            call_queues::entered_at,
            call_queues::answered_at,
            call_queues::ended_at,
        ))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(call, queue, outcome, agent, en, an, ended)| {
            let view = QueueView {
                outcome,
                agent,
                entered_at: time(Some(en), exact_times),
                answered_at: time(an, exact_times),
                ended_at: time(ended, exact_times),
            };
            ((call, queue), view)
        })
        .collect())
}

/// The views of one source's agents in the database, by (queue, agent).
async fn load_agents(
    conn: &mut AsyncPgConnection,
    source: &str,
) -> Result<BTreeMap<(String, String), AgentView>> {
    type Row = (
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Row> = queue_agents::table
        .filter(queue_agents::source.eq(source))
        .select((
            queue_agents::queue,
            queue_agents::agent,
            queue_agents::status,
            queue_agents::reason,
            queue_agents::ring_timeout_call,
        ))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(queue, agent, status, reason, ring)| {
            let view = AgentView {
                status,
                reason,
                ring_timeout_call: ring,
            };
            ((queue, agent), view)
        })
        .collect())
}

/// The views of one source's open missed call entries in the database, by
/// number.
async fn load_missed(
    conn: &mut AsyncPgConnection,
    source: &str,
    exact_times: bool,
) -> Result<BTreeMap<String, MissedView>> {
    type Row = (
        String,
        i32,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Row> = missed_calls::table
        .filter(missed_calls::source.eq(source))
        .filter(missed_calls::missed_count.gt(0))
        .select((
            missed_calls::number,
            missed_calls::missed_count,
            missed_calls::first_at,
            missed_calls::last_at,
            missed_calls::last_call_id,
            missed_calls::last_reason,
        ))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(number, count, first, last, call, reason)| {
            let view = MissedView {
                count,
                first_at: time(first, exact_times),
                last_at: time(last, exact_times),
                last_call_id: call.unwrap_or_default(),
                last_reason: reason.unwrap_or_default(),
            };
            (number, view)
        })
        .collect())
}
