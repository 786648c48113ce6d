//! The Dialpad API v2 client: the hang-up.
//!
//! The hang-up is `PUT {base}/api/v2/call/{id}/actions/hangup` with the
//! API key as a bearer token; `{id}` is the leg's Dialpad call id (the
//! board's leg id).

use serde_json::Value;
use store::apis::ApiSettings;

use super::http::Fail;
use super::Actions;

/// What the board calls itself to Dialpad.
const USER_AGENT: &str = concat!("switchboard-board/", env!("CARGO_PKG_VERSION"));

impl Actions {
    /// Hangs up Dialpad call `call` with `api_key`. Returns Dialpad's answer.
    pub(super) async fn dialpad_hangup(
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
}
