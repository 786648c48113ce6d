//! Sending a request to a phone system's API: one retry when the
//! connection could not be made, the answer read up to a cap, and errors
//! described without the request's URL (it may carry a token).

use std::time::Duration;

use super::Actions;

/// Most bytes of a provider's answer read.
const MAX_BODY: usize = 64 * 1024;
/// Pause before the one retry of a failed connection.
const RETRY_DELAY: Duration = Duration::from_millis(200);

/// Why the provider did not do it.
#[derive(Debug)]
pub(super) enum Fail {
    /// It answered with an error: what the page shows, what is audited.
    Provider { message: String, answer: String },
    /// No connection (after the retry), or the exchange broke.
    Unreachable(String),
    /// No answer within the timeout.
    Timeout,
    /// Not sent: what it needs is missing (no channel, not a provider id).
    Refused(String),
    /// Not sent: the provider cannot do this (a presence it has no word for).
    Unavailable(String),
}

impl Actions {
    /// Sends the request `build` makes; once more only when the connection
    /// could not be made (the provider cannot have seen the first one).
    /// Returns the status and (at most 64 KiB of) the body.
    pub(super) async fn send(
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
