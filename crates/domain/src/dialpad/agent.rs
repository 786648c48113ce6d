//! Call-center agent status events: the agent's `on_duty_status` in each of
//! its call centres.

use serde::Deserialize;

use super::{millis, read, seq_of, Target};
use crate::event::{
    agent_status_word, AgentChange, AgentUpdate, Effect, Envelope, ParseError, Parsed, Provider,
};
use crate::wire::{Scalar, Text};

#[derive(Deserialize)]
struct AgentStatus<'a> {
    #[serde(borrow)]
    target: Target<'a>,
    #[serde(borrow)]
    on_duty_status: Text<'a>,
    #[serde(default, borrow)]
    on_duty_status_reason: Option<Text<'a>>,
    #[serde(default, borrow)]
    call_center_ids: Option<Vec<Scalar<'a>>>,
    #[serde(default, borrow)]
    event_timestamp: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    date: Option<Scalar<'a>>,
}

/// The agent update of an agent status event: the agent (`target.id`,
/// required) in each of its `call_center_ids` (`""` when it names none),
/// its status word mapped ([`agent_status_word`]; an unknown one kept as
/// `unknown:<word>` with a note) and its reason, ordered by
/// `event_timestamp` (else `date`, else the arrival).
pub(super) fn agent_status(claims: &[u8], env: Envelope) -> Result<Parsed, ParseError> {
    let ev: AgentStatus<'_> = read(claims, "agent status event")?;
    let agent = ev
        .target
        .id
        .as_ref()
        .map(Scalar::id)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ParseError::Shape("agent status without target.id".into()))?;
    let seq = seq_of(&ev.event_timestamp, &ev.date, env);
    let mut notes = Vec::new();
    let status = agent_status_word(Provider::Dialpad, &ev.on_duty_status);
    if status.starts_with("unknown:") {
        notes.push(format!(
            "unknown on_duty_status {:?} kept as {status:?}",
            ev.on_duty_status
        ));
    }
    let mut queues: Vec<String> = ev
        .call_center_ids
        .unwrap_or_default()
        .iter()
        .map(Scalar::id)
        .filter(|q| !q.is_empty())
        .collect();
    queues.sort();
    queues.dedup();
    if queues.is_empty() {
        queues.push(String::new());
    }
    let reason = ev
        .on_duty_status_reason
        .as_deref()
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    Ok(Parsed {
        event_type: "agent.status".into(),
        effect: Effect::Agent(AgentUpdate {
            agent,
            name: ev
                .target
                .name
                .filter(|n| !n.trim().is_empty())
                .map(Text::into_string),
            queues,
            change: AgentChange::Status { status, reason },
            seq,
            at: millis(seq).unwrap_or(env.received_at),
        }),
        notes,
    })
}
