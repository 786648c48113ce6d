//! Extension events: registration per device (30007), the PBX's own call
//! status (30008), presence (30009), and uaCSTA call reports (30020).

use serde::Deserialize;

use super::Msg;
use crate::event::{CstaReport, Effect, Envelope, ParseError};
use crate::wire::{opt_text, Scalar, Text};

/// The effect of a 30007 registration event: one device (`kind`) of the
/// extension registered or unregistered, or, for any other status,
/// [`Effect::Ignored`] with a note.
pub(super) fn registration(
    msg: &Msg<'_>,
    env: Envelope,
    notes: &mut Vec<String>,
) -> Result<Effect, ParseError> {
    let m: Registration<'_> = msg.read()?;
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
        extension: m.extension.text(),
        device: device_of(m.kind.as_deref(), notes),
        registered,
        seq: env.id,
        at: env.received_at,
    })
}

/// The effect of a 30008 extension call status event: the status as the
/// provider reports it.
pub(super) fn reported(msg: &Msg<'_>, env: Envelope) -> Result<Effect, ParseError> {
    let m: Registration<'_> = msg.read()?;
    Ok(Effect::Reported {
        extension: m.extension.text(),
        name: None,
        status: m.status.into_string(),
        seq: env.id,
        at: env.received_at,
    })
}

/// The effect of a 30009 presence event: the provider's word mapped by
/// [`presence_word`], with a note when it is not a known one.
pub(super) fn presence(
    msg: &Msg<'_>,
    env: Envelope,
    notes: &mut Vec<String>,
) -> Result<Effect, ParseError> {
    let m: Registration<'_> = msg.read()?;
    let extension = m.extension.text();
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
fn presence_word(status: &str) -> String {
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
pub(super) fn csta(msg: &Msg<'_>, env: Envelope) -> Result<CstaReport, ParseError> {
    let m: CstaMsg<'_> = msg.read()?;
    let call_id = m.call_id.text();
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
            .as_deref()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
        seq: env.id,
        at: env.received_at,
    })
}

#[derive(Deserialize)]
struct CstaMsg<'a> {
    #[serde(borrow)]
    call_id: Scalar<'a>,
    #[serde(borrow)]
    operation: Text<'a>,
    #[serde(default, borrow)]
    extension: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    ip_address: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct Registration<'a> {
    #[serde(borrow)]
    extension: Scalar<'a>,
    #[serde(borrow)]
    status: Text<'a>,
    /// 30007 only: the device (`Sip`, `Mobile`, `Desktop`, `Web`, `Pad`).
    #[serde(default, borrow)]
    kind: Option<Text<'a>>,
}

/// The devices Yeastar names in 30007 `kind`, lower-cased.
const DEVICES: [&str; 5] = ["sip", "mobile", "desktop", "web", "pad"];

/// A 30007 `kind` as the device key: lower-cased and trimmed;
/// `unspecified` when absent or blank (older firmware). A word not among
/// [`DEVICES`] is kept as it is, with a note.
fn device_of(kind: Option<&str>, notes: &mut Vec<String>) -> String {
    let k = kind.unwrap_or_default().trim().to_ascii_lowercase();
    if k.is_empty() {
        return "unspecified".into();
    }
    if !DEVICES.contains(&k.as_str()) {
        notes.push(format!("unknown registration kind {k:?} kept as a device"));
    }
    k
}
