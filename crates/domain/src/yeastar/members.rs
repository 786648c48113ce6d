//! Call status events (30011, and 30013 transfer, 30014 forward, 30015
//! failed, 30016 invitation, which carry the same `members`): one leg per
//! member, the call's route, the queues the members' `call_path`s name,
//! and a failed call's reason.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::{self, MapAccess, Visitor};
use serde::Deserialize;

use super::{queue_of, Msg};
use crate::event::{CallUpdate, Envelope, LegState, LegUpdate, ParseError, QueueUpdate};
use crate::status::{yeastar_member_status, Mapped};
use crate::wire::{opt_text, Scalar, Text};

#[derive(Deserialize)]
struct CallMsg<'a> {
    #[serde(borrow)]
    call_id: Scalar<'a>,
    #[serde(default, borrow)]
    members: Vec<Entry<'a>>,
    /// 30015: why the call failed.
    #[serde(default, borrow)]
    reason: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct Member<'a> {
    #[serde(default, borrow)]
    number: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    from: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    to: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    trunk_name: Option<Text<'a>>,
    #[serde(default, borrow)]
    channel_id: Option<Text<'a>>,
    #[serde(default, borrow)]
    member_status: Option<Text<'a>>,
    /// The queue, ring group or IVR the call went through; blank when none.
    #[serde(default, borrow)]
    call_path: Option<Text<'a>>,
}

/// One entry of `members`, `{kind: member}`: its kind and member, none for
/// an empty entry. Of an entry with several keys, the first in sorted order
/// counts (a repeated key: its last value), as when it was read into a map.
struct Entry<'a>(Option<(Text<'a>, Member<'a>)>);

impl<'de: 'a, 'a> Deserialize<'de> for Entry<'a> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Entry<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member entry {kind: member}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut first: Option<(Text<'a>, Member<'a>)> = None;
                while let Some(kind) = map.next_key::<Text<'a>>()? {
                    let member: Member<'a> = map
                        .next_value()
                        .map_err(|e| de::Error::custom(format!("member {}: {e}", &*kind)))?;
                    if first.as_ref().is_none_or(|(k, _)| *kind <= **k) {
                        first = Some((kind, member));
                    }
                }
                Ok(Entry(first))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

impl Member<'_> {
    /// The member's `channel_id`, trimmed; `None` when absent or blank.
    fn channel(&self) -> Option<&str> {
        self.channel_id
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
    }
}

/// The call update of a 30011/30013-30016 call status event, as seen on
/// arrival: one leg per known member, the direction and numbers, and whether
/// the call ends (it `failed`, or every member has hung up). Notes say which
/// members were left out and why.
pub(super) fn call_status(
    msg: &Msg<'_>,
    env: Envelope,
    failed: bool,
    notes: &mut Vec<String>,
) -> Result<CallUpdate, ParseError> {
    let m: CallMsg<'_> = msg.read()?;
    let call_id = m.call_id.text();
    if call_id.is_empty() {
        return Err(ParseError::Shape("msg has an empty call_id".into()));
    }
    let at: DateTime<Utc> = env.received_at;
    let members = read_members(&m.members, at, notes)?;
    let mut u = members.into_update(call_id, env.id, at, failed);
    if failed {
        u.disposition = Some("failed".into());
        u.failure_reason = m
            .reason
            .as_deref()
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty());
    }
    Ok(u)
}

/// Who a call is between: its direction and the numbers at either end.
struct Route {
    direction: String,
    from: Option<String>,
    to: Option<String>,
}

/// The side of the call an extension member is on, by its status word.
enum Side {
    Caller,
    Callee,
}

/// The part one member plays in the call, as far as its direction and
/// numbers go.
enum Part {
    /// An extension, with its side where its status word tells it.
    Extension { number: String, side: Option<Side> },
    /// A trunk member: the route it reports.
    Trunk(Route),
}

/// What one member entry says.
enum Reading {
    /// A leg of the call and the member's part in it.
    Leg(Box<LegUpdate>, Part),
    /// A member left out of the legs: the note saying why, and whether it
    /// still counts as hung up.
    Skipped { note: String, ended: bool },
}

/// What the members of one event say together.
struct Members {
    legs: Vec<LegUpdate>,
    /// The first trunk member's route.
    trunk: Option<Route>,
    /// The first extension on the caller's side.
    caller: Option<String>,
    /// The first extension on the callee's side.
    callee: Option<String>,
    /// True when there are members and every known one has hung up.
    all_ended: bool,
    /// The queues the members' `call_path`s name, each once, in order.
    queues: Vec<String>,
}

/// Reads every member entry (`{kind: member}`) in order; empty entries are
/// skipped, and notes are added for members left out. Returns what the
/// members say together, or the first malformed member's error.
fn read_members(
    entries: &[Entry<'_>],
    at: DateTime<Utc>,
    notes: &mut Vec<String>,
) -> Result<Members, ParseError> {
    let mut members = Members {
        legs: Vec::new(),
        trunk: None,
        caller: None,
        callee: None,
        all_ended: !entries.is_empty(),
        queues: Vec::new(),
    };
    for entry in entries {
        let Some((kind, member)) = &entry.0 else {
            continue;
        };
        if let Some(q) = member.call_path.as_deref().and_then(|p| queue_of(p, notes)) {
            if !members.queues.contains(&q) {
                members.queues.push(q);
            }
        }
        match read_member(kind, member, at)? {
            Reading::Leg(leg, part) => members.add(*leg, part),
            Reading::Skipped { note, ended } => {
                notes.push(note);
                members.all_ended &= ended;
            }
        }
    }
    Ok(members)
}

/// Reads one member of kind `kind` (`extension`, `inbound`, `outbound`):
/// its leg as seen at `at` and its part in the call, or why it is left out
/// (an unknown status or kind). Errors when the member is malformed.
fn read_member(kind: &str, member: &Member<'_>, at: DateTime<Utc>) -> Result<Reading, ParseError> {
    let status = member.member_status.as_deref().unwrap_or_default();
    let Mapped::Leg(state, hold) = yeastar_member_status(status) else {
        return Ok(Reading::Skipped {
            note: format!("unknown member_status {status:?} for {kind} member: leg unchanged"),
            ended: false,
        });
    };
    let channel = member.channel();
    let mut leg = leg_at(kind, state, hold, at);
    let part = match kind {
        "extension" => {
            let number = opt_text(&member.number)
                .ok_or_else(|| ParseError::Shape("extension member without number".into()))?;
            leg.leg_id = channel.map_or_else(|| format!("ext:{number}"), str::to_string);
            leg.channel_id = channel.map(str::to_string);
            leg.party = Some(number.clone());
            leg.extension = Some(number.clone());
            Part::Extension {
                number,
                side: side_of(status),
            }
        }
        "inbound" | "outbound" => {
            let trunk = member
                .trunk_name
                .as_deref()
                .filter(|t| !t.trim().is_empty())
                .map(str::to_string);
            leg.leg_id = channel.map_or_else(
                || format!("{kind}:{}", trunk.clone().unwrap_or_default()),
                str::to_string,
            );
            leg.channel_id = channel.map(str::to_string);
            leg.party = trunk;
            Part::Trunk(Route {
                direction: kind.to_string(),
                from: opt_text(&member.from),
                to: opt_text(&member.to),
            })
        }
        other => {
            return Ok(Reading::Skipped {
                note: format!("unknown member kind {other:?}: ignored"),
                ended: state == LegState::Ended,
            });
        }
    };
    Ok(Reading::Leg(Box::new(leg), part))
}

/// A leg of kind `kind` in `state` as seen at `at`, not yet identified: its
/// id, extension and party are left empty.
fn leg_at(kind: &str, state: LegState, hold: Option<bool>, at: DateTime<Utc>) -> LegUpdate {
    LegUpdate {
        leg_id: String::new(),
        kind: kind.to_string(),
        extension: None,
        extension_name: None,
        party: None,
        channel_id: None,
        state,
        on_hold: hold,
        started_at: Some(at),
        answered_at: (state == LegState::InCall).then_some(at),
        ended_at: (state == LegState::Ended).then_some(at),
    }
}

/// The side of an extension member by its status word: the caller's words
/// are ALERT/ANSWERED, the callee's RING/ANSWER; `None` for any other.
fn side_of(status: &str) -> Option<Side> {
    match status.trim().to_ascii_uppercase().as_str() {
        "ALERT" | "ANSWERED" => Some(Side::Caller),
        "RING" | "ANSWER" => Some(Side::Callee),
        _ => None,
    }
}

impl Members {
    /// Adds one member's leg, noting whether it has hung up and, the first
    /// time each is seen, the trunk route, caller and callee.
    fn add(&mut self, leg: LegUpdate, part: Part) {
        self.all_ended &= leg.state == LegState::Ended;
        match part {
            Part::Extension { number, side } => match side {
                Some(Side::Caller) => {
                    self.caller.get_or_insert(number);
                }
                Some(Side::Callee) => {
                    self.callee.get_or_insert(number);
                }
                None => {}
            },
            Part::Trunk(route) => {
                self.trunk.get_or_insert(route);
            }
        }
        self.legs.push(leg);
    }

    /// The call's route: the first trunk member's; else, when an extension
    /// is on either side, an `internal` call from caller to callee; else
    /// none.
    fn route(&mut self) -> Option<Route> {
        self.trunk.take().or_else(|| {
            (self.caller.is_some() || self.callee.is_some()).then(|| Route {
                direction: "internal".into(),
                from: self.caller.take(),
                to: self.callee.take(),
            })
        })
    }

    /// The call update these members describe, as seen at `at`: started,
    /// answered once any leg is in call, ended when the call `failed` or
    /// every member has hung up, and in the queues the members name.
    fn into_update(
        mut self,
        call_id: String,
        seq: i64,
        at: DateTime<Utc>,
        failed: bool,
    ) -> CallUpdate {
        let (direction, from_number, to_number) = match self.route() {
            Some(r) => (Some(r.direction), r.from, r.to),
            None => (None, None, None),
        };
        let answered = self.legs.iter().any(|l| l.state == LegState::InCall);
        let ends_call = failed || self.all_ended;
        let queues = self
            .queues
            .into_iter()
            .map(|queue| QueueUpdate {
                queue,
                entered_at: at,
                connected_at: None,
            })
            .collect();
        CallUpdate {
            call_id,
            seq,
            at: Some(at),
            ends_call,
            direction,
            from_number,
            to_number,
            started_at: Some(at),
            answered_at: answered.then_some(at),
            ended_at: ends_call.then_some(at),
            legs: self.legs,
            queues,
            ..Default::default()
        }
    }
}
