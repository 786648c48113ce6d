//! Acting on calls through the phone systems' own APIs: the hang-up an
//! operator asks for on the board.
//!
//! - **Yeastar P-Series OpenAPI.** `POST {base}/openapi/v1.0/call/hangup
//!   ?access_token=...` with `{"channel_id": ...}` (the leg's channel, from
//!   event 30011). Tokens come from `get_token` (header `User-Agent:
//!   OpenAPI`, the client id and secret) and are cached per source in this
//!   process, refreshed with `refresh_token` before the access token expires
//!   (when less than a minute, or half its lifetime, is left) while the
//!   refresh token is valid, and obtained again when the PBX says a token is
//!   invalid (then the hang-up is retried once). Never one login per request:
//!   cloud editions allow few live tokens; and a refused login is not tried
//!   again with the same settings for a minute (the PBX blocks an address
//!   after a few failed logins). Errors are `errcode`/`errmsg` in a
//!   200 answer.
//! - **Dialpad API v2.** `PUT {base}/api/v2/call/{id}/actions/hangup` with
//!   the API key as a bearer token; `{id}` is the leg's Dialpad call id
//!   (the board's leg id).
//!
//! Safety: one action per call at a time, across every board instance (a
//! transaction-scoped advisory lock held from the check to the audit row);
//! one overall timeout per action (`BOARD_ACTION_TIMEOUT`); one retry, only
//! when the connection could not be made (the request cannot have reached
//! the provider); every outcome audited in `call_actions` and logged.
//! Nothing logs, audits or answers a credential or a token: request URLs
//! (which carry the Yeastar access token) are stripped from errors.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::sql_types::{Bool, Nullable, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::{json, Value};
use store::apis::{self, ApiError, ApiSettings, Credentials, NewAction, Outcome};
use store::secrets::Keyring;

use crate::error::BoardError;
use crate::State;

/// What the page shows once the provider accepted a hang-up.
pub const REQUESTED: &str = "hang-up requested; the card changes when the phone system reports it";
/// The `errcode` with which a Yeastar PBX says the access token is not valid
/// (expired, revoked, unknown). providers.md does not document it; public
/// Yeastar API clients treat 10004 so. An `errmsg` that names the token
/// (`... TOKEN ...`, any case) counts too.
pub const YEASTAR_INVALID_TOKEN: i64 = 10004;
/// The header the Yeastar OpenAPI requires.
const YEASTAR_USER_AGENT: &str = "OpenAPI";
/// What the board calls itself to Dialpad.
const USER_AGENT: &str = concat!("switchboard-board/", env!("CARGO_PKG_VERSION"));
/// Most bytes of a provider's answer read.
const MAX_BODY: usize = 64 * 1024;
/// Most characters of a provider's message shown on the page.
const MAX_MESSAGE: usize = 400;
/// Pause before the one retry of a failed connection.
const RETRY_DELAY: Duration = Duration::from_millis(200);
/// A token is renewed when less than this (or half its lifetime) is left.
const RENEW_MARGIN: Duration = Duration::from_secs(60);
/// After a refused login, how long the same settings are not tried again.
const LOGIN_PAUSE: Duration = Duration::from_secs(60);
/// Longest call id, leg id accepted in a request.
const MAX_ID_LEN: usize = 200;

/// The board's means to act: an HTTP client, the key that opens the API
/// credentials (none: actions are off), the timeout, and the Yeastar tokens.
pub struct Actions {
    http: reqwest::Client,
    keys: Option<Keyring>,
    timeout: Duration,
    /// Per source: its token, behind a lock held while one is obtained (so
    /// that concurrent hang-ups log in once).
    tokens: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Slot>>>>,
}

/// A source's Yeastar token, or the login the PBX refused lately.
#[derive(Default)]
struct Slot {
    token: Option<Token>,
    refused: Option<Refused>,
}

/// A refused login: not tried again with the same settings for
/// [`LOGIN_PAUSE`] after `at` (a Yeastar PBX blocks an address after a few
/// failed logins).
struct Refused {
    issued_for: (String, String, i64),
    at: Instant,
    message: String,
    answer: String,
}

/// A Yeastar access token and its refresh token. No `Debug`: it holds secrets.
struct Token {
    /// The settings it was issued for (base URL, credentials' fingerprint,
    /// when they were set): other settings need another token.
    issued_for: (String, String, i64),
    access: String,
    access_expires: Instant,
    access_margin: Duration,
    refresh: Option<String>,
    refresh_expires: Instant,
    refresh_margin: Duration,
}

impl Token {
    fn access_fresh(&self, now: Instant) -> bool {
        now + self.access_margin < self.access_expires
    }

    fn refreshable(&self, now: Instant) -> bool {
        self.refresh.is_some() && now + self.refresh_margin < self.refresh_expires
    }
}

/// When to renew a token of `lifetime`: a minute before it ends, or half
/// way for short ones.
fn margin(lifetime: Duration) -> Duration {
    RENEW_MARGIN.min(lifetime / 2)
}

/// Why the provider did not do it.
#[derive(Debug)]
enum Fail {
    /// It answered with an error: what the page shows, what is audited.
    Provider { message: String, answer: String },
    /// No connection (after the retry), or the exchange broke.
    Unreachable(String),
    /// No answer within the timeout.
    Timeout,
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

/// Checks the ids of a request (400 otherwise): a valid source name, and
/// call and leg ids of at most 200 bytes without control characters.
pub fn check_ids(source: &str, call_id: &str, leg_id: &str) -> Result<(), BoardError> {
    if !store::sources::valid_name(source) {
        return Err(BoardError::BadRequest("no such source".into()));
    }
    for (what, id) in [("call id", call_id), ("leg_id", leg_id)] {
        if id.is_empty() || id.len() > MAX_ID_LEN || id.chars().any(char::is_control) {
            return Err(BoardError::BadRequest(format!("invalid {what}")));
        }
    }
    Ok(())
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
            tokens: Mutex::new(HashMap::new()),
        })
    }

    /// Whether the key that opens API credentials is loaded (`/readyz`
    /// says it).
    pub fn enabled(&self) -> bool {
        self.keys.is_some()
    }

    /// The token slot of `source`.
    fn slot(&self, source: &str) -> Arc<tokio::sync::Mutex<Slot>> {
        let mut map = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(source.to_string()).or_default().clone()
    }

    /// Checks the leg and the settings, then asks the provider. Runs inside
    /// the transaction that holds the call's lock.
    async fn attempt(
        &self,
        conn: &mut AsyncPgConnection,
        req: &Request,
    ) -> Result<Done, diesel::result::Error> {
        let Some(leg) = load_leg(conn, req).await? else {
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
            Err(ApiError::Query(e)) => return Err(e),
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

    // ------------------------------------------------------------ Yeastar

    async fn yeastar_hangup(
        &self,
        api: &ApiSettings,
        client_id: &str,
        client_secret: &str,
        channel: &str,
    ) -> Result<String, Fail> {
        let url = format!("{}/openapi/v1.0/call/hangup", api.base_url);
        let body = json!({ "channel_id": channel });
        let mut token = self
            .yeastar_token(api, client_id, client_secret, None)
            .await?;
        let mut retried = false;
        loop {
            let (status, bytes) = self
                .send(|| {
                    self.http
                        .post(&url)
                        .query(&[("access_token", token.as_str())])
                        .header(reqwest::header::USER_AGENT, YEASTAR_USER_AGENT)
                        .json(&body)
                })
                .await?;
            let v = yeastar_answer("the hang-up", status, &bytes)?;
            let (code, msg) = errcode(&v);
            let answer = format!("call/hangup: errcode {code}: {msg}");
            if code == 0 {
                return Ok(answer);
            }
            if !retried && invalid_token(code, &msg) {
                tracing::info!(source = %api.source, errcode = code, errmsg = %msg,
                    "the PBX says the access token is not valid: logging in again");
                retried = true;
                token = self
                    .yeastar_token(api, client_id, client_secret, Some(&token))
                    .await?;
                continue;
            }
            return Err(Fail::Provider {
                message: format!("The PBX refused the hang-up: {msg} (errcode {code})"),
                answer,
            });
        }
    }

    /// A valid access token for `api`'s PBX: the cached one while it is
    /// fresh, else refreshed while the refresh token is valid, else a new
    /// login. `rejected`: the token the PBX just refused (a new login,
    /// unless another request renewed it meanwhile). A login the PBX
    /// refused is not tried again with the same settings for
    /// [`LOGIN_PAUSE`]: its answer is given again.
    async fn yeastar_token(
        &self,
        api: &ApiSettings,
        client_id: &str,
        client_secret: &str,
        rejected: Option<&str>,
    ) -> Result<String, Fail> {
        let slot = self.slot(&api.source);
        let mut slot = slot.lock().await;
        let issued_for = (
            api.base_url.clone(),
            api.fingerprint.clone(),
            api.updated_at.timestamp_micros(),
        );
        let held = &mut slot.token;
        if held.as_ref().is_some_and(|t| t.issued_for != issued_for) {
            *held = None;
        }
        let now = Instant::now();
        if let Some(t) = held.as_ref() {
            match rejected {
                Some(r) if t.access != r && t.access_fresh(now) => return Ok(t.access.clone()),
                None if t.access_fresh(now) => return Ok(t.access.clone()),
                None if t.refreshable(now) => {
                    let refresh = t.refresh.clone().unwrap_or_default();
                    match self
                        .yeastar_refresh(api, &refresh, issued_for.clone())
                        .await
                    {
                        Ok(new) => {
                            let access = new.access.clone();
                            *held = Some(new);
                            tracing::debug!(source = %api.source, "access token refreshed");
                            return Ok(access);
                        }
                        Err(Fail::Provider { answer, .. }) => {
                            tracing::info!(source = %api.source, %answer, "the PBX refused to refresh the token: logging in again");
                        }
                        Err(e) => return Err(e),
                    }
                }
                _ => {}
            }
        }
        *held = None;
        if let Some(r) = slot
            .refused
            .as_ref()
            .filter(|r| r.issued_for == issued_for && now < r.at + LOGIN_PAUSE)
        {
            let ago = now.duration_since(r.at).as_secs();
            return Err(Fail::Provider {
                message: format!(
                    "{} (not tried again for a minute with the same settings: the PBX blocks an address after repeated failed logins)",
                    r.message
                ),
                answer: format!("get_token not sent: refused {ago} s ago ({})", r.answer),
            });
        }
        match self
            .yeastar_login(api, client_id, client_secret, issued_for.clone())
            .await
        {
            Ok(new) => {
                let access = new.access.clone();
                slot.token = Some(new);
                slot.refused = None;
                tracing::info!(source = %api.source, "logged in to the PBX's API");
                Ok(access)
            }
            Err(Fail::Provider { message, answer }) => {
                slot.refused = Some(Refused {
                    issued_for,
                    at: now,
                    message: message.clone(),
                    answer: answer.clone(),
                });
                Err(Fail::Provider { message, answer })
            }
            Err(e) => Err(e),
        }
    }

    async fn yeastar_login(
        &self,
        api: &ApiSettings,
        client_id: &str,
        client_secret: &str,
        issued_for: (String, String, i64),
    ) -> Result<Token, Fail> {
        let body = json!({ "username": client_id, "password": client_secret });
        self.yeastar_token_request(api, "get_token", "API login", &body, issued_for, |code, msg| {
            format!(
                "The PBX refused the API login: {msg} (errcode {code}). Check the client id and secret (`worker source set-api {}`) and the API client's allowed IP addresses.",
                api.source
            )
        })
        .await
    }

    async fn yeastar_refresh(
        &self,
        api: &ApiSettings,
        refresh: &str,
        issued_for: (String, String, i64),
    ) -> Result<Token, Fail> {
        let body = json!({ "refresh_token": refresh });
        self.yeastar_token_request(
            api,
            "refresh_token",
            "token refresh",
            &body,
            issued_for,
            |code, msg| format!("The PBX refused to refresh the token: {msg} (errcode {code})"),
        )
        .await
    }

    /// Posts `body` to the token endpoint `path` (`get_token` or
    /// `refresh_token`, described to people as `what`) and returns the
    /// token it grants; an `errcode`
    /// other than 0 becomes the provider error `refused(code, errmsg)`.
    async fn yeastar_token_request(
        &self,
        api: &ApiSettings,
        path: &str,
        what: &str,
        body: &Value,
        issued_for: (String, String, i64),
        refused: impl Fn(i64, &str) -> String,
    ) -> Result<Token, Fail> {
        let url = format!("{}/openapi/v1.0/{path}", api.base_url);
        let (status, bytes) = self
            .send(|| {
                self.http
                    .post(&url)
                    .header(reqwest::header::USER_AGENT, YEASTAR_USER_AGENT)
                    .json(body)
            })
            .await?;
        let v = yeastar_answer(&format!("the {what}"), status, &bytes)?;
        let (code, msg) = errcode(&v);
        if code != 0 {
            return Err(Fail::Provider {
                message: refused(code, &msg),
                answer: format!("{path}: errcode {code}: {msg}"),
            });
        }
        token_of(&v, issued_for).ok_or_else(|| Fail::Provider {
            message: format!("The PBX's {what} answer has no access token"),
            answer: format!("{path}: errcode 0 without an access_token"),
        })
    }

    // ------------------------------------------------------------ Dialpad

    async fn dialpad_hangup(
        &self,
        api: &ApiSettings,
        api_key: &str,
        call: &str,
    ) -> Result<String, Fail> {
        let url = format!("{}/api/v2/call/{call}/actions/hangup", api.base_url);
        let (status, bytes) = self
            .send(|| {
                self.http
                    .put(&url)
                    .bearer_auth(api_key)
                    .header(reqwest::header::ACCEPT, "application/json")
                    .header(reqwest::header::USER_AGENT, USER_AGENT)
            })
            .await?;
        let text = String::from_utf8_lossy(&bytes);
        let answer = format!("HTTP {status} {}", text.trim());
        if (200..300).contains(&status) {
            return Ok(answer);
        }
        let message = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| {
                v.pointer("/error/message")
                    .or_else(|| v.get("message"))
                    .or_else(|| v.get("error"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| text.trim().to_string());
        Err(Fail::Provider {
            message: if message.is_empty() {
                format!("Dialpad refused the hang-up (HTTP {status})")
            } else {
                format!("Dialpad refused the hang-up: {message} (HTTP {status})")
            },
            answer,
        })
    }

    // -------------------------------------------------------------- HTTP

    /// Sends the request `build` makes; once more only when the connection
    /// could not be made (the provider cannot have seen the first one).
    /// Returns the status and (at most 64 KiB of) the body.
    async fn send(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<(u16, Vec<u8>), Fail> {
        let resp = match build().send().await {
            Ok(r) => r,
            Err(e) if e.is_connect() => {
                tracing::info!(error = %describe(e), "cannot connect to the phone system's API: retrying once");
                tokio::time::sleep(RETRY_DELAY).await;
                build().send().await.map_err(fail_of)?
            }
            Err(e) => return Err(fail_of(e)),
        };
        let status = resp.status().as_u16();
        let body = read_capped(resp).await.map_err(fail_of)?;
        Ok((status, body))
    }
}

/// A transport error as a failure.
fn fail_of(e: reqwest::Error) -> Fail {
    if e.is_timeout() {
        Fail::Timeout
    } else {
        Fail::Unreachable(describe(e))
    }
}

/// An error and its causes, without the request's URL (it may carry a token).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut out = e.to_string();
    let mut next = std::error::Error::source(&e);
    while let Some(s) = next {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        next = s.source();
    }
    out
}

async fn read_capped(mut resp: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = MAX_BODY - out.len();
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= MAX_BODY {
            break;
        }
    }
    Ok(out)
}

/// A Yeastar answer as JSON; an HTTP error or anything but a JSON object is
/// a provider failure.
fn yeastar_answer(what: &str, status: u16, bytes: &[u8]) -> Result<Value, Fail> {
    let text = String::from_utf8_lossy(bytes);
    let short: String = text.trim().chars().take(200).collect();
    if status != 200 {
        return Err(Fail::Provider {
            message: format!("The PBX answered {what} with HTTP {status}"),
            answer: format!("HTTP {status} {}", text.trim()),
        });
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) if v.is_object() => Ok(v),
        _ => Err(Fail::Provider {
            message: format!(
                "The PBX's answer to {what} is not the OpenAPI's JSON: is the base URL right?"
            ),
            answer: format!("HTTP {status} not JSON: {short}"),
        }),
    }
}

/// `errcode` (a number or a numeric string; missing: -1) and `errmsg`.
fn errcode(v: &Value) -> (i64, String) {
    let code = match &v["errcode"] {
        Value::Number(n) => n.as_i64().unwrap_or(-1),
        Value::String(s) => s.trim().parse().unwrap_or(-1),
        _ => -1,
    };
    let msg = match &v["errmsg"] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    (code, msg)
}

/// Whether a Yeastar error says the access token is not valid.
fn invalid_token(code: i64, msg: &str) -> bool {
    code == YEASTAR_INVALID_TOKEN || msg.to_ascii_lowercase().contains("token")
}

/// The token of a `get_token` or `refresh_token` answer.
fn token_of(v: &Value, issued_for: (String, String, i64)) -> Option<Token> {
    let access = v["access_token"].as_str().filter(|s| !s.is_empty())?;
    let now = Instant::now();
    let secs = |k: &str, default: u64| {
        Duration::from_secs(
            v[k].as_u64()
                .or_else(|| v[k].as_str().and_then(|s| s.parse().ok()))
                .unwrap_or(default),
        )
    };
    let access_life = secs("access_token_expire_time", 1800);
    let refresh_life = secs("refresh_token_expire_time", 86_400);
    Some(Token {
        issued_for,
        access: access.to_string(),
        access_expires: now + access_life,
        access_margin: margin(access_life),
        refresh: v["refresh_token"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        refresh_expires: now + refresh_life,
        refresh_margin: margin(refresh_life),
    })
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

// -------------------------------------------------------------- storage --

#[derive(QueryableByName)]
struct Leg {
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = Nullable<Text>)]
    channel_id: Option<String>,
}

async fn load_leg(
    conn: &mut AsyncPgConnection,
    req: &Request,
) -> Result<Option<Leg>, diesel::result::Error> {
    let mut rows: Vec<Leg> = diesel::sql_query(
        "SELECT state, channel_id FROM call_legs WHERE source = $1 AND call_id = $2 AND leg_id = $3",
    )
    .bind::<Text, _>(&req.source)
    .bind::<Text, _>(&req.call_id)
    .bind::<Text, _>(&req.leg_id)
    .load(conn)
    .await?;
    Ok(rows.pop())
}

/// Takes the call's action lock for the transaction; `false` when another
/// transaction (on any board instance) holds it.
async fn try_lock(
    conn: &mut AsyncPgConnection,
    source: &str,
    call_id: &str,
) -> Result<bool, diesel::result::Error> {
    #[derive(QueryableByName)]
    struct Locked {
        #[diesel(sql_type = Bool)]
        locked: bool,
    }
    let r: Locked = diesel::sql_query(
        "SELECT pg_try_advisory_xact_lock(
                    hashtextextended('switchboard.action:' || $1 || ':' || $2, 0)) AS locked",
    )
    .bind::<Text, _>(source)
    .bind::<Text, _>(call_id)
    .get_result(conn)
    .await?;
    Ok(r.locked)
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
        .transaction::<Done, diesel::result::Error, _>(async |conn| {
            let done = if try_lock(conn, &req.source, &req.call_id).await? {
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
    fn renew_margins() {
        assert_eq!(margin(Duration::from_secs(1800)), RENEW_MARGIN);
        assert_eq!(margin(Duration::from_secs(4)), Duration::from_secs(2));
    }

    #[test]
    fn yeastar_answers() {
        let v: Value =
            serde_json::from_str(r#"{"errcode":10004,"errmsg":"TOKEN EXPIRED"}"#).unwrap();
        assert_eq!(errcode(&v), (10004, "TOKEN EXPIRED".to_string()));
        let v: Value = serde_json::from_str(r#"{"errcode":"0","errmsg":"SUCCESS"}"#).unwrap();
        assert_eq!(errcode(&v).0, 0);
        let v: Value = serde_json::from_str(r#"{"errmsg":"x"}"#).unwrap();
        assert_eq!(errcode(&v).0, -1, "no errcode is no success");
        assert!(invalid_token(10004, "whatever"));
        assert!(invalid_token(10002, "Invalid Access Token"));
        assert!(!invalid_token(10003, "INVALID PARAMETER"));
        assert!(yeastar_answer("x", 500, b"oops").is_err());
        assert!(yeastar_answer("x", 200, b"<html>").is_err());
        assert!(yeastar_answer("x", 200, b"{}").is_ok());
    }

    #[test]
    fn tokens_from_answers() {
        let v = json!({"errcode": 0, "access_token": "a", "access_token_expire_time": 4,
                       "refresh_token": "r", "refresh_token_expire_time": 86400});
        let t = token_of(&v, (String::new(), String::new(), 0)).unwrap();
        let now = Instant::now();
        assert!(t.access_fresh(now));
        assert!(!t.access_fresh(now + Duration::from_secs(3)));
        assert!(t.refreshable(now + Duration::from_secs(3)));
        assert!(token_of(&json!({"errcode": 0}), (String::new(), String::new(), 0)).is_none());
    }

    #[test]
    fn ids_and_caps() {
        assert!(check_ids("pbx", "1790000001.1", "PJSIP/2002-1790000001.1").is_ok());
        assert!(check_ids("PBX", "1", "1").is_err());
        assert!(check_ids("pbx", "", "1").is_err());
        assert!(check_ids("pbx", "1", "a\u{1b}[31m").is_err());
        assert!(check_ids("pbx", &"1".repeat(201), "1").is_err());
        assert_eq!(cap(&"x".repeat(1000)).chars().count(), MAX_MESSAGE + 1);
    }
}
