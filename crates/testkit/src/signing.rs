//! Webhooks signed as each provider signs them (Yeastar's `X-Signature`,
//! Dialpad's JWT, Standard Webhooks' `webhook-*` headers), and posting one
//! to ingest with the answer read back.

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use domain::Provider;
use serde_json::Value;

pub use traffic::scenario::{sign_dialpad, sign_yeastar, SignedRequest};

/// Signs a Standard Webhooks body as message `id` sent at `timestamp`
/// (Unix seconds): the three `webhook-*` headers, with the v1 signature
/// made with `secret` (`whsec_` and Base64).
pub fn sign_standard(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<SignedRequest> {
    let signature = domain::signature::sign_standard(secret, id, timestamp, body)
        .context("a Standard Webhooks secret is `whsec_` and Base64")?;
    Ok(SignedRequest {
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("webhook-id".into(), id.into()),
            ("webhook-timestamp".into(), timestamp.to_string()),
            ("webhook-signature".into(), signature),
        ],
        body: body.to_vec(),
    })
}

/// Signs `body` as `provider` does with `secret`; without a secret, the
/// body goes unsigned (plain JSON, for a source that accepts that).
/// Standard Webhooks messages get a new id each and the current time.
pub fn sign(provider: Provider, secret: Option<&str>, body: &[u8]) -> Result<SignedRequest> {
    match (provider, secret) {
        (Provider::Yeastar, Some(s)) => Ok(sign_yeastar(s, body)),
        (Provider::Dialpad, s) => Ok(sign_dialpad(s, body)),
        (Provider::Standard, Some(s)) => {
            static NEXT: AtomicU64 = AtomicU64::new(1);
            let id = format!(
                "msg_{}_{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            sign_standard(s, &id, chrono::Utc::now().timestamp(), body)
        }
        (Provider::Yeastar | Provider::Standard, None) => Ok(SignedRequest {
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.to_vec(),
        }),
    }
}

/// Ingest's answer to a webhook.
#[derive(Debug, Clone)]
pub struct Posted {
    /// The HTTP status.
    pub status: u16,
    /// The JSON answer (`Null` when the body is not JSON).
    pub json: Value,
    /// The answer as text, for messages.
    pub text: String,
}

impl Posted {
    /// The stored event's id (accepted or duplicate).
    pub fn id(&self) -> Option<i64> {
        self.json["id"].as_i64()
    }

    /// Whether ingest had the event already (`"status": "duplicate"`).
    pub fn is_duplicate(&self) -> bool {
        self.json["status"] == "duplicate"
    }
}

/// Posts `req` to `/webhooks/{source}` with `client` (a load loop keeps
/// its client, and so its connection, across requests).
pub async fn post_webhook(
    client: &mut traffic::Client,
    source: &str,
    req: &SignedRequest,
) -> Result<Posted> {
    let r = client
        .request(
            "POST",
            &format!("/webhooks/{source}"),
            &req.headers,
            &req.body,
        )
        .await
        .with_context(|| format!("posting a webhook for {source}"))?;
    Ok(Posted {
        status: r.status,
        json: serde_json::from_slice(&r.body).unwrap_or(Value::Null),
        text: r.text(),
    })
}
