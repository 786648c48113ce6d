//! Acting on calls through the phone systems' own APIs: the hang-up an
//! operator asks for on the board.
//!
//! Safety: one action per call at a time, across every board instance (a
//! transaction-scoped advisory lock held from the check to the audit row);
//! one overall timeout per action (`BOARD_ACTION_TIMEOUT`); one retry, only
//! when the connection could not be made (the request cannot have reached
//! the provider); every outcome audited in `call_actions` and logged.
//! Nothing logs, audits or answers a credential or a token: request URLs
//! (which carry the Yeastar access token) are stripped from errors.
//!
//! Here: the flow (check, lock, ask, audit). The providers' clients are
//! `yeastar.rs` (with its token cache) and `dialpad.rs`; `http.rs` sends
//! their requests; the leg lookup and the per-call lock are
//! [`store::calls`].

use std::time::{Duration, Instant};

use diesel_async::{AsyncConnection, AsyncPgConnection};
use store::apis::{self, ApiError, Credentials, NewAction, Outcome};
use store::secrets::Keyring;

use crate::error::BoardError;
use crate::State;

mod dialpad;
mod http;
mod yeastar;

use http::Fail;

/// What the page shows once the provider accepted a hang-up.
pub const REQUESTED: &str = "hang-up requested; the card changes when the phone system reports it";
/// Most characters of a provider's message shown on the page.
const MAX_MESSAGE: usize = 400;

/// The board's means to act: an HTTP client, the key that opens the API
/// credentials (none: actions are off), the timeout, and the Yeastar tokens.
pub struct Actions {
    http: reqwest::Client,
    keys: Option<Keyring>,
    timeout: Duration,
    /// Per source: its token, behind a lock held while one is obtained (so
    /// that concurrent hang-ups log in once).
    tokens: yeastar::Tokens,
}

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

/// A hang-up asked for by `user`.
pub struct Request {
    pub user: String,
    pub source: String,
    pub call_id: String,
    pub leg_id: String,
}

impl Actions {
    /// Actions with `keys` (none: every hang-up is refused, explaining why)
    /// and `timeout` per action.
    pub fn new(keys: Option<Keyring>, timeout: Duration) -> Result<Actions, reqwest::Error> {
        let http = reqwest::Client::builder()
            // A redirect would carry the token or key elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout)
            .timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(Actions {
            http,
            keys,
            timeout,
            tokens: yeastar::Tokens::default(),
        })
    }

    /// Whether the key that opens API credentials is loaded (`/readyz`
    /// says it).
    pub fn enabled(&self) -> bool {
        self.keys.is_some()
    }

    /// Checks the leg and the settings, then asks the provider. Runs inside
    /// the transaction that holds the call's lock.
    async fn attempt(
        &self,
        conn: &mut AsyncPgConnection,
        req: &Request,
    ) -> Result<Done, BoardError> {
        let Some(leg) = store::calls::leg(conn, &req.source, &req.call_id, &req.leg_id).await?
        else {
            return Ok(Done::refused(
                Outcome::Refused,
                BoardError::NotFound(
                    "this call is not on the board (it may have ended): reload the board".into(),
                ),
            ));
        };
        if leg.state == "ended" {
            return Ok(Done::refused(
                Outcome::NotLive,
                BoardError::Conflict("the call has already ended".into()),
            ));
        }
        let Some(keys) = &self.keys else {
            return Ok(Done::refused(
                Outcome::NoApi,
                BoardError::Conflict(format!(
                    "hang-up is not available on this board: it runs without {}, which opens the phone systems' API credentials",
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
                        "hang-up is not set up for source {0}: an administrator gives its API credentials with `worker source set-api {0}`",
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
                        "hang-up is not available for source {}: {e}",
                        req.source
                    )),
                ));
            }
        };
        let provider = api.provider().as_str();
        let (channel_id, result) = match &api.credentials {
            Credentials::Yeastar {
                client_id,
                client_secret,
            } => {
                let Some(channel) = leg.channel_id else {
                    return Ok(Done {
                        provider,
                        ..Done::refused(
                            Outcome::Refused,
                            BoardError::Conflict(
                                "this leg has no channel id from the PBX, which its hang-up API needs"
                                    .into(),
                            ),
                        )
                    });
                };
                let r = self
                    .within(self.yeastar_hangup(&api, client_id, client_secret, &channel))
                    .await;
                (Some(channel), r)
            }
            Credentials::Dialpad { api_key } => {
                if !req.leg_id.bytes().all(|b| b.is_ascii_digit()) {
                    return Ok(Done {
                        provider,
                        ..Done::refused(
                            Outcome::Refused,
                            BoardError::Conflict("this leg's id is not a Dialpad call id".into()),
                        )
                    });
                }
                let r = self
                    .within(self.dialpad_hangup(&api, api_key, &req.leg_id))
                    .await;
                (None, r)
            }
        };
        Ok(match result {
            Ok(answer) => Done {
                outcome: Outcome::Ok,
                provider,
                channel_id,
                answer: Some(answer),
                reply: Ok(REQUESTED.to_string()),
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
                answer: Some(format!(
                    "no answer within {}",
                    humantime::format_duration(self.timeout)
                )),
                reply: Err(BoardError::GatewayTimeout(format!(
                    "the phone system did not answer within {}: the call may or may not have been hung up; watch the card",
                    humantime::format_duration(self.timeout)
                ))),
            },
        })
    }

    /// `f` within the action timeout.
    async fn within(
        &self,
        f: impl std::future::Future<Output = Result<String, Fail>>,
    ) -> Result<String, Fail> {
        tokio::time::timeout(self.timeout, f)
            .await
            .unwrap_or(Err(Fail::Timeout))
    }
}

/// `s` cut to [`MAX_MESSAGE`] characters.
fn cap(s: &str) -> String {
    if s.chars().count() <= MAX_MESSAGE {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(MAX_MESSAGE).collect();
        t.push('…');
        t
    }
}

fn millis(since: Instant) -> i32 {
    i32::try_from(since.elapsed().as_millis()).unwrap_or(i32::MAX)
}

/// Records, logs and counts `done`.
fn report(req: &Request, done: &Done, ms: i32) {
    metrics::counter!("switchboard_board_actions_total",
        "provider" => done.provider, "outcome" => done.outcome.as_str())
    .increment(1);
    let answer = done.answer.as_deref().unwrap_or("");
    if done.outcome == Outcome::Ok {
        tracing::info!(user = %req.user, source = %req.source, call_id = %req.call_id, leg_id = %req.leg_id,
            outcome = %done.outcome, duration_ms = ms, %answer, "hang-up requested from the phone system");
    } else {
        tracing::warn!(user = %req.user, source = %req.source, call_id = %req.call_id, leg_id = %req.leg_id,
            outcome = %done.outcome, duration_ms = ms, %answer, "hang-up not done");
    }
}

/// Hangs up `req`'s leg through its source's API; every outcome is audited
/// and logged. Returns what the page shows, or the error to answer.
pub async fn hangup(state: &State, req: Request) -> Result<String, BoardError> {
    let started = Instant::now();
    let mut conn = state.conn().await?;
    let actions = &state.actions;
    let done = conn
        .transaction::<Done, BoardError, _>(async |conn| {
            let done = if store::calls::try_action_lock(conn, &req.source, &req.call_id).await? {
                actions.attempt(conn, &req).await?
            } else {
                Done::refused(
                    Outcome::Refused,
                    BoardError::Conflict("an action on this call is already in progress".into()),
                )
            };
            let ms = millis(started);
            // Logged before the audit row, so that a failing insert still
            // leaves a trace of what the provider did.
            report(&req, &done, ms);
            apis::record(
                conn,
                &NewAction {
                    user_name: &req.user,
                    source: &req.source,
                    call_id: &req.call_id,
                    leg_id: &req.leg_id,
                    channel_id: done.channel_id.as_deref(),
                    outcome: done.outcome,
                    provider_answer: done.answer.as_deref(),
                    duration_ms: Some(ms),
                },
            )
            .await?;
            Ok(done)
        })
        .await?;
    done.reply
}

/// Audits and logs a hang-up refused before any check of the call (a
/// viewer asked). A failing insert is logged, not answered.
pub async fn refuse(state: &State, req: Request, why: &'static str) {
    let done = Done::refused(Outcome::Refused, BoardError::Forbidden(why));
    report(&req, &done, 0);
    let result = async {
        let mut conn = state.conn().await?;
        apis::record(
            &mut conn,
            &NewAction {
                user_name: &req.user,
                source: &req.source,
                call_id: &req.call_id,
                leg_id: &req.leg_id,
                channel_id: None,
                outcome: Outcome::Refused,
                provider_answer: Some(why),
                duration_ms: Some(0),
            },
        )
        .await?;
        Ok::<(), BoardError>(())
    }
    .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "cannot audit a refused hang-up");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps() {
        assert_eq!(cap(&"x".repeat(1000)).chars().count(), MAX_MESSAGE + 1);
    }
}
