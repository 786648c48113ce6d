//! Yeastar P-Series webhook events: the envelope, `msg` as a JSON string or
//! object, and the call, CDR and extension events.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::event::{
    CallUpdate, CstaReport, Effect, Envelope, LegState, LegUpdate, ParseError, Parsed,
};
use crate::status::{yeastar_event_type, yeastar_member_status, Mapped};

/// Parses a Yeastar webhook body. Unknown event ids parse as
/// [`Effect::Ignored`]; a malformed known event is an error.
pub fn parse(body: &[u8], env: Envelope) -> Result<Parsed, ParseError> {
    let root: Value = serde_json::from_slice(body)?;
    let obj = root
        .as_object()
        .ok_or_else(|| ParseError::Shape("envelope is not a JSON object".into()))?;
    let id = obj
        .get("type")
        .and_then(int_of)
        .ok_or_else(|| ParseError::Shape("envelope has no integer `type`".into()))?;
    let event_type = yeastar_event_type(id);
    let msg = match obj.get("msg") {
        Some(Value::String(s)) => serde_json::from_str::<Value>(s)?,
        Some(v) => v.clone(),
        None => Value::Null,
    };
    let mut notes = Vec::new();
    let effect = match id {
        30011 | 30013 | 30014 | 30016 => Effect::Call(call_status(&msg, env, false, &mut notes)?),
        30015 => {
            let mut u = call_status(&msg, env, true, &mut notes)?;
            u.disposition = Some("failed".into());
            Effect::Call(u)
        }
        30012 => Effect::Call(cdr(&msg, env)?),
        30007 => registration(&msg, env, &mut notes)?,
        30008 => reported(&msg, env)?,
        30009 => presence(&msg, env, &mut notes)?,
        30020 => Effect::Csta(csta(&msg, env)?),
        _ => Effect::Ignored,
    };
    Ok(Parsed {
        event_type,
        effect,
        notes,
    })
}

/// The effect of a 30007 registration event: the extension registered or
/// unregistered, or, for any other status, [`Effect::Ignored`] with a note.
fn registration(msg: &Value, env: Envelope, notes: &mut Vec<String>) -> Result<Effect, ParseError> {
    let m: Registration = from_msg(msg)?;
    let registered = match m.status.to_ascii_lowercase().as_str() {
        "registered" => true,
        "unregistered" => false,
        other => {
            notes.push(format!(
                "unknown registration status {other:?} kept, not applied"
            ));
            return Ok(Effect::Ignored);
        }
    };
    Ok(Effect::Registration {
        extension: text_of(&m.extension),
        registered,
        seq: env.id,
        at: env.received_at,
    })
}

/// The effect of a 30008 extension call status event: the status as the
/// provider reports it.
fn reported(msg: &Value, env: Envelope) -> Result<Effect, ParseError> {
    let m: Registration = from_msg(msg)?;
    Ok(Effect::Reported {
        extension: text_of(&m.extension),
        name: None,
        status: m.status,
        seq: env.id,
        at: env.received_at,
    })
}

/// The effect of a 30009 presence event: the provider's word mapped by
/// [`presence_word`], with a note when it is not a known one.
fn presence(msg: &Value, env: Envelope, notes: &mut Vec<String>) -> Result<Effect, ParseError> {
    let m: Registration = from_msg(msg)?;
    let extension = text_of(&m.extension);
    if extension.is_empty() {
        return Err(ParseError::Shape("presence without extension".into()));
    }
    let presence = presence_word(&m.status);
    if presence.starts_with("unknown:") {
        notes.push(format!(
            "unknown presence {:?} kept as {presence:?}",
            m.status
        ));
    }
    Ok(Effect::Presence {
        extension,
        presence,
        seq: env.id,
        at: env.received_at,
    })
}

/// A Yeastar presence word (any case, spaces, hyphens or underscores) as
/// one of the words stored in `extensions.presence`: `available`, `away`,
/// `dnd`, `lunch`, `business_trip`, `off_work`; any other word is kept as
/// `unknown:<word>` (normalised), never guessed.
pub(crate) fn presence_word(status: &str) -> String {
    let w: String = status
        .trim()
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c == ' ' || c == '-' { '_' } else { c })
        .collect();
    match w.as_str() {
        "available" => "available".into(),
        "away" => "away".into(),
        "do_not_disturb" | "dnd" => "dnd".into(),
        "lunch" | "lunch_break" => "lunch".into(),
        "business_trip" => "business_trip".into(),
        "off_work" => "off_work".into(),
        other => format!("unknown:{other}"),
    }
}

/// The report of a 30020 uaCSTA call event. Errors on an empty `call_id`
/// or `operation`.
fn csta(msg: &Value, env: Envelope) -> Result<CstaReport, ParseError> {
    let m: CstaMsg = from_msg(msg)?;
    let call_id = text_of(&m.call_id);
    let operation = m.operation.trim().to_ascii_lowercase();
    if call_id.is_empty() || operation.is_empty() {
        return Err(ParseError::Shape(
            "uaCSTA report without call_id or operation".into(),
        ));
    }
    Ok(CstaReport {
        call_id,
        operation,
        extension: opt_text(&m.extension),
        ip_address: m
            .ip_address
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
        seq: env.id,
        at: env.received_at,
    })
}

#[derive(Deserialize)]
struct CstaMsg {
    call_id: Value,
    operation: String,
    #[serde(default)]
    extension: Option<Value>,
    #[serde(default)]
    ip_address: Option<String>,
}

#[derive(Deserialize)]
struct Registration {
    extension: Value,
    status: String,
}

#[derive(Deserialize)]
struct CallMsg {
    call_id: Value,
    #[serde(default)]
    members: Vec<serde_json::Map<String, Value>>,
}

#[derive(Deserialize)]
struct Member {
    #[serde(default)]
    number: Option<Value>,
    #[serde(default)]
    from: Option<Value>,
    #[serde(default)]
    to: Option<Value>,
    #[serde(default)]
    trunk_name: Option<String>,
    #[serde(default)]
    channel_id: Option<String>,
    #[serde(default)]
    member_status: Option<String>,
}

impl Member {
    /// The member's `channel_id`, trimmed; `None` when absent or blank.
    fn channel(&self) -> Option<&str> {
        self.channel_id
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
    }
}

#[derive(Deserialize)]
struct Cdr {
    call_id: Value,
    #[serde(default)]
    call_from: Option<Value>,
    #[serde(default)]
    call_to: Option<Value>,
    #[serde(default)]
    call_duration: Option<Value>,
    #[serde(default)]
    talk_duration: Option<Value>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    recording: Option<String>,
}

fn from_msg<T: serde::de::DeserializeOwned>(msg: &Value) -> Result<T, ParseError> {
    T::deserialize(msg).map_err(|e| ParseError::Shape(format!("msg: {e}")))
}

fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A string or number as text; ids are never floats.
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.trim().to_string(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn opt_text(v: &Option<Value>) -> Option<String> {
    v.as_ref().map(text_of).filter(|s| !s.is_empty())
}

/// The call update of a 30011/30013-30016 call status event, as seen on
/// arrival: one leg per known member, the direction and numbers, and whether
/// the call ends (it `failed`, or every member has hung up). Notes say which
/// members were left out and why.
fn call_status(
    msg: &Value,
    env: Envelope,
    failed: bool,
    notes: &mut Vec<String>,
) -> Result<CallUpdate, ParseError> {
    let m: CallMsg = from_msg(msg)?;
    let call_id = text_of(&m.call_id);
    if call_id.is_empty() {
        return Err(ParseError::Shape("msg has an empty call_id".into()));
    }
    let at: DateTime<Utc> = env.received_at;
    let members = read_members(&m.members, at, notes)?;
    Ok(members.into_update(call_id, env.id, at, failed))
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
}

/// Reads every member entry (`{kind: member}`) in order; empty entries are
/// skipped, and notes are added for members left out. Returns what the
/// members say together, or the first malformed member's error.
fn read_members(
    entries: &[serde_json::Map<String, Value>],
    at: DateTime<Utc>,
    notes: &mut Vec<String>,
) -> Result<Members, ParseError> {
    let mut members = Members {
        legs: Vec::new(),
        trunk: None,
        caller: None,
        callee: None,
        all_ended: !entries.is_empty(),
    };
    for entry in entries {
        let Some((kind, body)) = entry.iter().next() else {
            continue;
        };
        match read_member(kind, body, at)? {
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
fn read_member(kind: &str, body: &Value, at: DateTime<Utc>) -> Result<Reading, ParseError> {
    let member: Member = serde_json::from_value(body.clone())
        .map_err(|e| ParseError::Shape(format!("member {kind}: {e}")))?;
    let status = member.member_status.clone().unwrap_or_default();
    let Mapped::Leg(state, hold) = yeastar_member_status(&status) else {
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
                side: side_of(&status),
            }
        }
        "inbound" | "outbound" => {
            let trunk = member.trunk_name.clone().filter(|t| !t.trim().is_empty());
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
    /// answered once any leg is in call, and ended when the call `failed`
    /// or every member has hung up.
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
        CallUpdate {
            call_id,
            seq,
            ends_call,
            direction,
            from_number,
            to_number,
            started_at: Some(at),
            answered_at: answered.then_some(at),
            ended_at: ends_call.then_some(at),
            legs: self.legs,
            ..Default::default()
        }
    }
}

fn cdr(msg: &Value, env: Envelope) -> Result<CallUpdate, ParseError> {
    let c: Cdr = from_msg(msg)?;
    let call_id = text_of(&c.call_id);
    if call_id.is_empty() {
        return Err(ParseError::Shape("CDR has an empty call_id".into()));
    }
    let secs = |v: &Option<Value>| {
        v.as_ref()
            .and_then(int_of)
            .and_then(|n| i32::try_from(n).ok())
    };
    Ok(CallUpdate {
        call_id,
        seq: env.id,
        authoritative: true,
        ends_call: true,
        direction: c.kind.map(|k| k.trim().to_ascii_lowercase()),
        from_number: opt_text(&c.call_from),
        to_number: opt_text(&c.call_to),
        started_at: None,
        answered_at: None,
        ended_at: Some(env.received_at),
        talk_seconds: secs(&c.talk_duration),
        duration_seconds: secs(&c.call_duration),
        disposition: c.status.map(|s| s.trim().to_ascii_lowercase()),
        recording_url: c.recording.filter(|r| !r.trim().is_empty()),
        legs: Vec::new(),
    })
}
