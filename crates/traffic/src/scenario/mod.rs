//! Realistic call scenarios, as the providers put them on the wire, and
//! their signed HTTP requests.
//!
//! Yeastar scenarios are sequences of 30011 snapshots (every member with its
//! `member_status`) ending with the 30012 CDR (`yeastar`); Dialpad scenarios
//! are one event per state change per leg, ordered by `event_timestamp`
//! (`dialpad`). Call-centre scenarios (queues, agents, devices, call backs)
//! for both are in `callcentre`. `sign` turns a step into the request a
//! provider sends.

mod callcentre;
mod dialpad;
mod sign;
mod yeastar;

use domain::Provider;

pub use callcentre::{
    dialpad_callcentre, yeastar_callcentre, yeastar_path_snapshot, CALLCENTRE_SCENARIOS,
};
pub use dialpad::{dialpad, dialpad_claims, dialpad_inbound, LegEvent, Target, DIALPAD_SCENARIOS};
pub use sign::{sign, sign_dialpad, sign_yeastar};
pub use yeastar::{
    yeastar, yeastar_cdr, yeastar_envelope, yeastar_inbound, yeastar_snapshot, Member,
    YEASTAR_SCENARIOS,
};

/// One webhook of a scenario: a label and the unsigned body (for Dialpad,
/// the JWT claims).
#[derive(Debug, Clone)]
pub struct Step {
    pub label: &'static str,
    pub body: Vec<u8>,
}

/// A whole call (or two, for call waiting) as one provider sends it, in order.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: &'static str,
    pub provider: Provider,
    pub steps: Vec<Step>,
}

/// A signed request ready to post.
#[derive(Debug, Clone)]
pub struct SignedRequest {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A step labelled `label` with `body`.
fn st(label: &'static str, body: Vec<u8>) -> Step {
    Step { label, body }
}
