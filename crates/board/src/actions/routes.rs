//! The HTTP routes of the actions (documented in docs/board.md):
//!
//! - `POST /api/calls/{source}/{call_id}/{hangup|transfer|park|hold|unhold|listen}`
//!   with `{"leg_id", ...}`;
//! - `POST /api/extensions/{source}/{number}/{presence|pause|resume}`;
//! - `GET /api/capabilities`: what the logged-in user may do on each
//!   source, and why not.
//!
//! (The pause control reads the agents' queues from `GET /api/agents`.)
//!
//! Every action route checks the origin, the session and the body (400),
//! then the role (403, audited), then runs the action in its own task (it
//! reaches its audit row even if the browser goes away).

use actix_web::http::header;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use domain::Provider;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use store::access::Session;

use super::action::{Action, Kind, ListenMode, TransferMode, PRESENCES};
use super::{capabilities, Request, Target};
use crate::auth;
use crate::error::BoardError;
use crate::input;
use crate::State;

type Data = web::Data<State>;

/// The actions on a call, by the last segment of their path.
/// (The hang-up's route is registered with the others in `lib.rs`, and
/// comes here: `routes::hangup`.)
const CALL_ACTIONS: [&str; 5] = ["transfer", "park", "hold", "unhold", "listen"];
/// The actions on an extension.
const EXTENSION_ACTIONS: [&str; 3] = ["presence", "pause", "resume"];
/// Longest pause reason accepted (characters).
const MAX_REASON: usize = 100;

/// Registers the routes.
pub fn register(cfg: &mut web::ServiceConfig) {
    for name in CALL_ACTIONS {
        cfg.route(
            &format!("/api/calls/{{source}}/{{call_id}}/{name}"),
            web::post().to(move |req, state, path, body| on_call(req, state, path, body, name)),
        );
    }
    for name in EXTENSION_ACTIONS {
        cfg.route(
            &format!("/api/extensions/{{source}}/{{number}}/{name}"),
            web::post()
                .to(move |req, state, path, body| on_extension(req, state, path, body, name)),
        );
    }
    cfg.route("/api/capabilities", web::get().to(capabilities_of));
}

#[derive(Deserialize)]
struct CallBody {
    leg_id: String,
    to: Option<String>,
    mode: Option<String>,
}

#[derive(Deserialize)]
struct ExtensionBody {
    status: Option<String>,
    queue: Option<String>,
    reason: Option<String>,
}

fn bad(s: &str) -> BoardError {
    BoardError::BadRequest(s.to_string())
}

/// A number to transfer to: 1-32 of digits, `*`, `#`, a leading `+`.
fn number(to: Option<String>) -> Result<String, BoardError> {
    let to = to.map(|t| t.trim().to_string()).unwrap_or_default();
    let body = to.strip_prefix('+').unwrap_or(&to);
    if body.is_empty()
        || to.len() > 32
        || !body
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#')
    {
        return Err(bad(
            r#"send "to": the number to transfer to (digits, *, #, a leading +; at most 32)"#,
        ));
    }
    Ok(to)
}

/// The action `name` on a call, from its body.
fn call_action(name: &str, body: &CallBody) -> Result<Action, BoardError> {
    let mode = body.mode.as_deref();
    Ok(match name {
        "hangup" => Action::Hangup,
        "transfer" => {
            let mode = match mode.unwrap_or("blind") {
                "blind" => TransferMode::Blind,
                "attended" => TransferMode::Attended,
                "complete" => TransferMode::Complete,
                "cancel" => TransferMode::Cancel,
                _ => return Err(bad(r#""mode" is blind, attended, complete or cancel"#)),
            };
            let to = match mode {
                TransferMode::Blind | TransferMode::Attended => Some(number(body.to.clone())?),
                _ => None,
            };
            Action::Transfer { mode, to }
        }
        "park" => Action::Park,
        "hold" => Action::Hold,
        "unhold" => Action::Unhold,
        _ => Action::Listen(match mode.unwrap_or("listen") {
            "listen" => ListenMode::Listen,
            "whisper" => ListenMode::Whisper,
            "barge" => ListenMode::Barge,
            _ => return Err(bad(r#""mode" is listen, whisper or barge"#)),
        }),
    })
}

/// The action `name` on an extension, from its body.
fn extension_action(name: &str, body: ExtensionBody) -> Result<Action, BoardError> {
    if name == "presence" {
        let status = body.status.unwrap_or_default();
        return PRESENCES
            .iter()
            .find(|p| **p == status)
            .map(|p| Action::Presence(p))
            .ok_or_else(|| {
                bad(r#""status" is available, away, dnd, lunch, business_trip or off_work"#)
            });
    }
    let queue = body.queue.unwrap_or_default();
    if store::users::validate_extension(&queue).is_err() {
        return Err(bad(r#"send "queue": the queue's number"#));
    }
    if name == "resume" {
        return Ok(Action::Resume { queue });
    }
    let reason = body
        .reason
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    if let Some(r) = &reason {
        if r.chars().count() > MAX_REASON || !input::is_text(r, 4 * MAX_REASON) {
            return Err(bad(r#""reason" is one line of at most 100 characters"#));
        }
    }
    Ok(Action::Pause { queue, reason })
}

/// Checks the role, then runs `request`; the answer.
async fn run(state: Data, s: Session, request: Request) -> Result<HttpResponse, BoardError> {
    let kind = request.action.kind();
    if !s.role.may(kind.role()) {
        let why = kind.forbidden();
        super::refuse(&state, &request, why).await;
        return Err(BoardError::Forbidden(why));
    }
    // Its own task: once asked, the action runs to its audit row even if
    // the browser goes away.
    let st = state.clone();
    let what = request.action.what();
    let result = actix_web::rt::spawn(async move { super::act(&st, request).await })
        .await
        .map_err(|_| BoardError::Unavailable(format!("the {what} failed; try again")))??;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({ "result": result })))
}

/// `POST /api/calls/{source}/{call_id}/{name}`.
pub(crate) async fn on_call(
    req: HttpRequest,
    state: Data,
    path: web::Path<(String, String)>,
    body: Bytes,
    name: &'static str,
) -> Result<HttpResponse, BoardError> {
    auth::check_origin(&req, state.cfg.public_origin.as_deref())?;
    let s = auth::require_session(&req, &state).await?;
    let (source, call_id) = path.into_inner();
    let body = serde_json::from_slice::<CallBody>(&body)
        .map_err(|_| bad(r#"send {"leg_id": "...", ...}"#))?;
    input::call_ids(&source, &call_id, &body.leg_id)?;
    let action = call_action(name, &body)?;
    let request = Request {
        user: s.name.clone(),
        source,
        target: Target::Leg {
            call_id,
            leg_id: body.leg_id,
        },
        action,
    };
    run(state, s, request).await
}

/// `POST /api/extensions/{source}/{number}/{name}`.
async fn on_extension(
    req: HttpRequest,
    state: Data,
    path: web::Path<(String, String)>,
    body: Bytes,
    name: &'static str,
) -> Result<HttpResponse, BoardError> {
    auth::check_origin(&req, state.cfg.public_origin.as_deref())?;
    let s = auth::require_session(&req, &state).await?;
    let (source, number) = path.into_inner();
    input::source(&source).map_err(|_| bad("no such source"))?;
    if store::users::validate_extension(&number).is_err() {
        return Err(bad("invalid extension"));
    }
    let body =
        serde_json::from_slice::<ExtensionBody>(&body).map_err(|_| bad(r#"send a JSON object"#))?;
    let action = extension_action(name, body)?;
    let request = Request {
        user: s.name.clone(),
        source,
        target: Target::Extension(number),
        action,
    };
    run(state, s, request).await
}

/// `GET /api/capabilities`: for the logged-in user, per source with API
/// settings, each action `{"available": true}` or `{"available": false,
/// "reason"}` (the role may not, the phone system cannot, the board has no
/// key), the presences it can set, and notes.
async fn capabilities_of(req: HttpRequest, state: Data) -> Result<HttpResponse, BoardError> {
    let s = auth::require_session(&req, &state).await?;
    let mut conn = state.conn().await?;
    let sources = store::apis::providers(&mut conn).await?;
    drop(conn);
    let enabled = state.actions.enabled();
    let out: Vec<Value> = sources
        .into_iter()
        .map(|sp| {
            let provider = sp.provider.parse::<Provider>().ok();
            let mut actions = Map::new();
            let mut notes = Map::new();
            for k in Kind::ALL {
                let why = if !s.role.may(k.role()) {
                    Some(k.forbidden())
                } else if !enabled {
                    Some("this board runs without the key that opens the phone systems' API credentials")
                } else {
                    match provider {
                        Some(p) => capabilities::can(p, k).err(),
                        None => Some("unknown provider"),
                    }
                };
                actions.insert(
                    k.as_str().into(),
                    match why {
                        None => json!({"available": true}),
                        Some(r) => json!({"available": false, "reason": r}),
                    },
                );
                if let Some(n) = provider.and_then(|p| capabilities::note(p, k)) {
                    notes.insert(k.as_str().into(), json!(n));
                }
            }
            let (presences, presence_note) = provider
                .map(capabilities::presences)
                .unwrap_or((&[], None));
            json!({
                "source": sp.source, "provider": sp.provider, "actions": actions,
                "presences": presences, "presence_note": presence_note, "notes": notes,
            })
        })
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({ "role": s.role.as_str(), "sources": out })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(to: Option<&str>, mode: Option<&str>) -> CallBody {
        CallBody {
            leg_id: "1".into(),
            to: to.map(str::to_string),
            mode: mode.map(str::to_string),
        }
    }

    #[test]
    fn bodies() {
        assert!(matches!(
            call_action("transfer", &body(Some("2003"), None)),
            Ok(Action::Transfer {
                mode: TransferMode::Blind,
                ..
            })
        ));
        assert!(call_action("transfer", &body(None, None)).is_err());
        assert!(call_action("transfer", &body(Some("20 03"), None)).is_err());
        assert!(call_action("transfer", &body(Some("2003\0"), None)).is_err());
        assert!(call_action("transfer", &body(None, Some("complete"))).is_ok());
        assert!(call_action("listen", &body(None, Some("spy"))).is_err());
        assert_eq!(
            call_action("listen", &body(None, Some("barge"))).unwrap(),
            Action::Listen(ListenMode::Barge)
        );
        let ext = |s: Option<&str>, q: Option<&str>, r: Option<&str>| ExtensionBody {
            status: s.map(str::to_string),
            queue: q.map(str::to_string),
            reason: r.map(str::to_string),
        };
        assert_eq!(
            extension_action("presence", ext(Some("away"), None, None)).unwrap(),
            Action::Presence("away")
        );
        assert!(extension_action("presence", ext(Some("gone"), None, None)).is_err());
        assert!(extension_action("pause", ext(None, None, None)).is_err());
        assert!(extension_action("pause", ext(None, Some("6400"), Some("a\nb"))).is_err());
        assert!(
            extension_action("pause", ext(None, Some("6400"), Some(&"x".repeat(101)))).is_err()
        );
        assert!(extension_action("resume", ext(None, Some("6400"), None)).is_ok());
    }
}
