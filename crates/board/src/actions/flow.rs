//! The flow of every action: check, lock, ask, audit (see the module's
//! documentation in `mod.rs`).

use std::time::Instant;

use diesel_async::{AsyncConnection, AsyncPgConnection};
use store::apis::{self, ApiError, Credentials, NewAction, Outcome};

use super::{
    cap, capabilities, requested, Action, Actions, Ctx, Fail, Request, Target, TransferMode,
};
use crate::error::BoardError;
use crate::State;

/// The outcome of one request, ready to audit and answer.
struct Done {
    outcome: Outcome,
    provider: &'static str,
    channel_id: Option<String>,
    /// What is audited: the provider's answer, or why the board refused.
    answer: Option<String>,
    reply: Result<String, BoardError>,
}

impl Done {
    fn refused(outcome: Outcome, e: BoardError) -> Done {
        Done {
            outcome,
            provider: "none",
            channel_id: None,
            answer: Some(e.to_string()),
            reply: Err(e),
        }
    }
}

impl Actions {
    /// Checks the target and the settings, then asks the provider. Runs
    /// inside the transaction that holds the call's lock.
    async fn attempt(
        &self,
        conn: &mut AsyncPgConnection,
        req: &Request,
    ) -> Result<Done, BoardError> {
        let what = req.action.what();
        let mut ctx = Ctx {
            action: &req.action,
            leg_id: req.leg_id(),
            channel: None,
            other_channel: None,
            extension: req.extension(),
            monitor: None,
        };
        if let Target::Leg { call_id, leg_id } = &req.target {
            let Some(leg) = store::calls::leg(conn, &req.source, call_id, leg_id).await? else {
                return Ok(Done::refused(
                    Outcome::Refused,
                    BoardError::NotFound(
                        "this call is not on the board (it may have ended): reload the board"
                            .into(),
                    ),
                ));
            };
            if leg.state == "ended" {
                return Ok(Done::refused(
                    Outcome::NotLive,
                    BoardError::Conflict("the call has already ended".into()),
                ));
            }
            ctx.other_channel = store::calls::other_channel(conn, &req.source, call_id, leg_id)
                .await?
                .or_else(|| leg.channel_id.clone());
            ctx.channel = leg.channel_id;
        }
        let Some(keys) = &self.keys else {
            return Ok(Done::refused(
                Outcome::NoApi,
                BoardError::Conflict(format!(
                    "{what} is not available on this board: it runs without {}, which opens the phone systems' API credentials",
                    store::secrets::KEY_VAR
                )),
            ));
        };
        let api = match apis::get(conn, keys, &req.source).await {
            Ok(Some(api)) => api,
            Ok(None) => {
                return Ok(Done::refused(
                    Outcome::NoApi,
                    BoardError::Conflict(format!(
                        "{what} is not set up for source {0}: an administrator gives its API credentials with `worker source set-api {0}`",
                        req.source
                    )),
                ))
            }
            Err(ApiError::Query(e)) => return Err(e.into()),
            Err(e) => {
                tracing::error!(source = %req.source, error = %e, "the source's API settings do not open");
                return Ok(Done::refused(
                    Outcome::NoApi,
                    BoardError::Conflict(format!(
                        "{what} is not available for source {}: {e}",
                        req.source
                    )),
                ));
            }
        };
        let provider = api.provider().as_str();
        if let Err(why) = capabilities::can(api.provider(), req.action.kind()) {
            return Ok(Done {
                provider,
                ..Done::refused(Outcome::Unavailable, BoardError::Conflict(why.into()))
            });
        }
        if matches!(req.action, Action::Listen(_)) {
            ctx.monitor = store::users::extension(conn, &req.user).await?;
            if ctx.monitor.is_none() {
                return Ok(Done {
                    provider,
                    ..Done::refused(
                        Outcome::Refused,
                        BoardError::Conflict(format!(
                            "you have no extension to {what} from: an administrator sets it with `worker user set-extension {} EXT`",
                            req.user
                        )),
                    )
                });
            }
        }
        let (channel_id, result) = match &api.credentials {
            Credentials::Yeastar {
                client_id,
                client_secret,
            } => {
                let channel = match req.action {
                    Action::Transfer {
                        mode: TransferMode::Blind | TransferMode::Attended,
                        ..
                    }
                    | Action::Park => ctx.other_channel.clone(),
                    _ => ctx.channel.clone(),
                };
                let r = self
                    .within(self.yeastar_act(&api, client_id, client_secret, &ctx))
                    .await;
                (channel, r)
            }
            Credentials::Dialpad { api_key } => {
                let r = self.within(self.dialpad_act(&api, api_key, &ctx)).await;
                (None, r)
            }
        };
        let timeout = humantime::format_duration(self.timeout);
        Ok(match result {
            Ok(a) => Done {
                outcome: Outcome::Ok,
                provider,
                channel_id,
                answer: Some(a.answer),
                reply: Ok(match a.shown {
                    Some(s) => format!("{}: {s}", requested(&req.action)),
                    None => requested(&req.action),
                }),
            },
            Err(Fail::Provider { message, answer }) => Done {
                outcome: Outcome::ProviderError,
                provider,
                channel_id,
                answer: Some(answer),
                reply: Err(BoardError::BadGateway(cap(&message))),
            },
            Err(Fail::Unreachable(why)) => Done {
                outcome: Outcome::Unreachable,
                provider,
                channel_id,
                answer: Some(why.clone()),
                reply: Err(BoardError::BadGateway(cap(&format!(
                    "cannot reach the phone system at {}: {why}",
                    api.base_url
                )))),
            },
            Err(Fail::Timeout) => Done {
                outcome: Outcome::Timeout,
                provider,
                channel_id,
                answer: Some(format!("no answer within {timeout}")),
                reply: Err(BoardError::GatewayTimeout(format!(
                    "the phone system did not answer within {timeout}: the {what} may or may not have been done; watch the card"
                ))),
            },
            Err(Fail::Refused(why)) => Done {
                provider,
                ..Done::refused(Outcome::Refused, BoardError::Conflict(why))
            },
            Err(Fail::Unavailable(why)) => Done {
                provider,
                ..Done::refused(Outcome::Unavailable, BoardError::Conflict(why))
            },
        })
    }
}

fn millis(since: Instant) -> i32 {
    i32::try_from(since.elapsed().as_millis()).unwrap_or(i32::MAX)
}

/// Records, logs and counts `done`.
fn report(req: &Request, done: &Done, ms: i32) {
    let action = req.action.audit_name();
    metrics::counter!("switchboard_board_actions_total",
        "provider" => done.provider, "outcome" => done.outcome.as_str(), "action" => action)
    .increment(1);
    let answer = done.answer.as_deref().unwrap_or("");
    let detail = req.action.detail().unwrap_or_default();
    let (call_id, leg_id, ext) = (
        req.call_id().unwrap_or("-"),
        req.leg_id().unwrap_or("-"),
        req.extension().unwrap_or("-"),
    );
    if done.outcome == Outcome::Ok {
        tracing::info!(user = %req.user, source = %req.source, %action, %detail, call_id, leg_id, extension = ext,
            outcome = %done.outcome, duration_ms = ms, %answer, "action requested from the phone system");
    } else {
        tracing::warn!(user = %req.user, source = %req.source, %action, %detail, call_id, leg_id, extension = ext,
            outcome = %done.outcome, duration_ms = ms, %answer, "action not done");
    }
}

/// The audit row of `req` and `done`.
async fn audit(
    conn: &mut AsyncPgConnection,
    req: &Request,
    done: &Done,
    ms: i32,
) -> Result<(), diesel::result::Error> {
    let detail = req.action.detail();
    apis::record(
        conn,
        &NewAction {
            user_name: &req.user,
            source: &req.source,
            call_id: req.call_id(),
            leg_id: req.leg_id(),
            extension: req.extension(),
            action: req.action.audit_name(),
            detail: detail.as_deref(),
            channel_id: done.channel_id.as_deref(),
            outcome: done.outcome,
            provider_answer: done.answer.as_deref(),
            duration_ms: Some(ms),
        },
    )
    .await
}

/// Does `req` through its source's API; every outcome is audited and
/// logged. Returns what the page shows, or the error to answer.
pub async fn act(state: &State, req: Request) -> Result<String, BoardError> {
    let started = Instant::now();
    let mut conn = state.conn().await?;
    let actions = &state.actions;
    let key = req.lock_key();
    let done = conn
        .transaction::<Done, BoardError, _>(async |conn| {
            let done = if store::calls::try_action_lock(conn, &req.source, &key).await? {
                actions.attempt(conn, &req).await?
            } else {
                Done::refused(
                    Outcome::Refused,
                    BoardError::Conflict(
                        match req.target {
                            Target::Leg { .. } => "an action on this call is already in progress",
                            Target::Extension(_) => {
                                "an action on this extension is already in progress"
                            }
                        }
                        .into(),
                    ),
                )
            };
            let ms = millis(started);
            // Logged before the audit row, so that a failing insert still
            // leaves a trace of what the provider did.
            report(&req, &done, ms);
            audit(conn, &req, &done, ms).await?;
            Ok(done)
        })
        .await?;
    done.reply
}

/// Audits and logs an action refused before any check of its target (the
/// role may not). A failing insert is logged, not answered.
pub async fn refuse(state: &State, req: &Request, why: &'static str) {
    let done = Done::refused(Outcome::Refused, BoardError::Forbidden(why));
    report(req, &done, 0);
    let result = async {
        let mut conn = state.conn().await?;
        audit(&mut conn, req, &done, 0).await?;
        Ok::<(), BoardError>(())
    }
    .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "cannot audit a refused action");
    }
}
