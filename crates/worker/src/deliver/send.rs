//! One attempt: the body signed per Standard Webhooks (`webhook-id`: the
//! event id; `webhook-timestamp`; `webhook-signature`: `v1,` signatures by
//! the current secret and, during a rotation, the previous one), POSTed
//! with a pooled client that follows no redirect, within the attempt
//! timeout, reading at most [`RESPONSE_CAP`] bytes of the answer.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use store::events_out::{Attempt, SigningSecrets};

use super::ssrf::{self, PublicOnly};

/// How much of an answer's body is read (and kept as its excerpt).
pub const RESPONSE_CAP: usize = 1024;

/// The two pooled clients: public addresses only, and any address (for
/// endpoints added with `--allow-private`).
#[derive(Clone)]
pub struct Clients {
    guarded: reqwest::Client,
    open: reqwest::Client,
}

impl Clients {
    /// Clients whose attempts time out after `timeout`.
    pub fn new(timeout: Duration) -> reqwest::Result<Clients> {
        let build = |guard: bool| {
            let b = reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout.min(Duration::from_secs(5)))
                .redirect(reqwest::redirect::Policy::none())
                .pool_idle_timeout(Duration::from_secs(60))
                .pool_max_idle_per_host(64)
                .tcp_nodelay(true);
            if guard {
                b.dns_resolver(std::sync::Arc::new(PublicOnly)).build()
            } else {
                b.build()
            }
        };
        Ok(Clients {
            guarded: build(true)?,
            open: build(false)?,
        })
    }
}

/// The `webhook-signature` header: one `v1,` signature per secret.
pub fn signature(secrets: &SigningSecrets, id: &str, ts: i64, body: &[u8]) -> Option<String> {
    let mut sigs = vec![domain::signature::sign_standard(
        &secrets.current,
        id,
        ts,
        body,
    )?];
    if let Some(p) = &secrets.previous {
        sigs.push(domain::signature::sign_standard(p, id, ts, body)?);
    }
    Some(sigs.join(" "))
}

/// What an attempt got, and the answer's `Retry-After` if any.
pub struct Sent {
    pub attempt: Attempt,
    pub retry_after: Option<String>,
}

/// POSTs `body` to `url`, signed with `secrets` as event `id`.
pub async fn send(
    clients: &Clients,
    url: &str,
    allow_private: bool,
    secrets: &SigningSecrets,
    id: &str,
    body: Vec<u8>,
) -> Sent {
    let started = Instant::now();
    let failed = |error: String| Sent {
        attempt: Attempt {
            error: Some(error),
            latency_ms: started.elapsed().as_millis().min(i32::MAX as u128) as i32,
            ..Default::default()
        },
        retry_after: None,
    };
    let parsed = match reqwest::Url::parse(url) {
        Ok(u) => u,
        Err(e) => return failed(format!("bad URL: {e}")),
    };
    if !allow_private {
        if let Err(e) = ssrf::check_literal(&parsed) {
            return failed(e.to_string());
        }
    }
    let ts = chrono::Utc::now().timestamp();
    let Some(sig) = signature(secrets, id, ts, &body) else {
        return failed("the endpoint's secret is not whsec_ and Base64".into());
    };
    let client = if allow_private {
        &clients.open
    } else {
        &clients.guarded
    };
    let answer = client
        .post(parsed)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header(
            USER_AGENT,
            HeaderValue::from_static("Switchboard-Webhooks/1"),
        )
        .header("webhook-id", id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sig)
        .body(body)
        .send()
        .await;
    let mut res = match answer {
        Ok(r) => r,
        Err(e) => return failed(describe(&e)),
    };
    let status = i32::from(res.status().as_u16());
    let retry_after = res
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut excerpt = Vec::new();
    while excerpt.len() < RESPONSE_CAP {
        match res.chunk().await {
            Ok(Some(c)) => {
                excerpt.extend_from_slice(&c[..c.len().min(RESPONSE_CAP - excerpt.len())])
            }
            Ok(None) | Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&excerpt).replace('\0', "");
    Sent {
        attempt: Attempt {
            status: Some(status),
            error: None,
            latency_ms: started.elapsed().as_millis().min(i32::MAX as u128) as i32,
            excerpt: (!text.is_empty()).then_some(text),
        },
        retry_after,
    }
}

/// A failed request in a few words, with its cause (SSRF refusals name the
/// address).
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    if cause.is_empty() {
        what.to_string()
    } else {
        format!("{what}: {cause}")
    }
}
