//! Switchboard's domain: what providers send (signatures, event types), what
//! it means (the status mapping), how it changes calls, legs, queues, agents,
//! extensions and the missed calls (the merges), and the projection writer
//! that applies it in PostgreSQL, with the reads the board shows.

mod dialpad;
mod event;
mod wire;
mod yeastar;

pub mod merge;
pub mod outbound;
pub mod projection;
pub mod signature;
pub mod sql;
pub mod status;

pub use event::{
    agent_status_word, csta_rank, AgentChange, AgentUpdate, CallStatus, CallUpdate, CdrTimes,
    CstaReport, Effect, Envelope, ExtensionStatus, LegState, LegUpdate, ParseError, Parsed,
    Provider, QueueUpdate, AGENT_STATUSES,
};

/// Parses a stored webhook body of a source of `provider`. Returns what the
/// event does; unknown event types parse as [`Effect::Ignored`].
pub fn parse(provider: Provider, body: &[u8], env: Envelope) -> Result<Parsed, ParseError> {
    match provider {
        Provider::Yeastar => yeastar::parse(body, env),
        Provider::Dialpad => dialpad::parse(body, env),
        Provider::Standard => parse_standard(body),
    }
}

/// A Standard Webhooks body: its `type` is recorded; no call semantics are
/// defined for generic senders, so the event is ignored.
fn parse_standard(body: &[u8]) -> Result<Parsed, ParseError> {
    #[derive(serde::Deserialize)]
    struct Typed<'a> {
        #[serde(default, rename = "type", borrow)]
        kind: Option<wire::Scalar<'a>>,
    }
    let kind = if wire::object(body)? {
        serde_json::from_slice::<Typed<'_>>(body)?.kind
    } else {
        None
    };
    let event_type = kind
        .as_ref()
        .and_then(wire::Scalar::as_str)
        .map_or_else(|| "standard.unknown".to_string(), str::to_string);
    Ok(Parsed {
        event_type,
        effect: Effect::Ignored,
        notes: Vec::new(),
    })
}
