//! The Yeastar P-Series OpenAPI client: one request ([`Actions::yeastar_call`])
//! and its tokens; which request each action is, is `yeastar_control.rs`.
//!
//! Every request is `{base}/openapi/v1.0/<path>?access_token=...` with the
//! header `User-Agent: OpenAPI`. Tokens come from `get_token` (the client
//! id and secret) and are cached per source in this
//! process, refreshed with `refresh_token` before the access token expires
//! (when less than a minute, or half its lifetime, is left) while the
//! refresh token is valid, and obtained again when the PBX says a token is
//! invalid (then the request is retried once). Never one login per request:
//! cloud editions allow few live tokens; and a refused login is not tried
//! again with the same settings for a minute (the PBX blocks an address
//! after a few failed logins). Errors are `errcode`/`errmsg` in a
//! 200 answer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use store::apis::ApiSettings;

use super::http::Fail;
use super::Actions;

/// The `errcode` with which a Yeastar PBX says the access token is not valid
/// (expired, revoked, unknown). providers.md does not document it; public
/// Yeastar API clients treat 10004 so. An `errmsg` that names the token
/// (`... TOKEN ...`, any case) counts too.
pub const YEASTAR_INVALID_TOKEN: i64 = 10004;
/// The header the Yeastar OpenAPI requires.
const YEASTAR_USER_AGENT: &str = "OpenAPI";
/// A token is renewed when less than this (or half its lifetime) is left.
const RENEW_MARGIN: Duration = Duration::from_secs(60);
/// After a refused login, how long the same settings are not tried again.
const LOGIN_PAUSE: Duration = Duration::from_secs(60);

/// Per source: its token, behind a lock held while one is obtained (so
/// that concurrent hang-ups log in once).
#[derive(Default)]
pub(super) struct Tokens(Mutex<HashMap<String, Arc<tokio::sync::Mutex<Slot>>>>);

impl Tokens {
    /// The token slot of `source`.
    fn slot(&self, source: &str) -> Arc<tokio::sync::Mutex<Slot>> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(source.to_string()).or_default().clone()
    }
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

impl Actions {
    /// Sends `body` to `path` of `api`'s PBX (a POST; a GET with `query`
    /// when `get`), logging in again and retrying once when the PBX says the
    /// token is not valid. Returns the PBX's answer (errcode 0) and its
    /// summary for the audit; any other errcode is the provider error "The
    /// PBX refused the {what}: {errmsg} (errcode {errcode})".
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn yeastar_call(
        &self,
        api: &ApiSettings,
        client_id: &str,
        client_secret: &str,
        get: bool,
        path: &str,
        query: &[(&str, String)],
        body: &Value,
        what: &str,
    ) -> Result<(Value, String), Fail> {
        let url = format!("{}/openapi/v1.0/{path}", api.base_url);
        let mut token = self
            .yeastar_token(api, client_id, client_secret, None)
            .await?;
        let mut retried = false;
        loop {
            let (status, bytes) = self
                .send(|| {
                    let r = if get {
                        self.http.get(&url)
                    } else {
                        self.http.post(&url).json(body)
                    };
                    r.query(&[("access_token", token.as_str())])
                        .query(query)
                        .header(reqwest::header::USER_AGENT, YEASTAR_USER_AGENT)
                })
                .await?;
            let v = yeastar_answer(&format!("the {what}"), status, &bytes)?;
            let (code, msg) = errcode(&v);
            let answer = format!("{path}: errcode {code}: {msg}");
            if code == 0 {
                return Ok((v, answer));
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
                message: format!("The PBX refused the {what}: {msg} (errcode {code})"),
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
        let slot = self.tokens.slot(&api.source);
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
}
