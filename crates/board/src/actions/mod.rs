//! Acting on calls and extensions through the phone systems' own APIs:
//! hang-up, transfer, park, hold, listen, presence, agent pause. ONE
//! mechanism for all of them: an action is a provider request
//! (`yeastar_control.rs`, `dialpad.rs`) plus a permission and a capability
//! (`action.rs`, `capabilities.rs`).
//!
//! Safety, the same for every action: one action per call (or extension)
//! at a time, across every board instance (a transaction-scoped advisory
//! lock held from the check to the audit row); one overall timeout per
//! action (`BOARD_ACTION_TIMEOUT`); one retry, only when the connection
//! could not be made (the request cannot have reached the provider); the
//! provider's error shown verbatim, as text; every outcome (refusals by
//! role included) audited in `call_actions` and logged; the origin checked
//! by the routes (`routes.rs`). Nothing logs, audits or answers a
//! credential or a token: request URLs (which carry the Yeastar access
//! token) are stripped from errors.
//!
//! Here: the board's means to act. `flow.rs` is the flow (check, lock,
//! ask, audit), `request.rs` what is asked, `routes.rs` the HTTP routes,
//! `yeastar.rs` the PBX's token cache and request, `http.rs` sends
//! requests; the leg lookup and the per-call lock are [`store::calls`].

use std::time::Duration;

use store::secrets::Keyring;

pub mod action;
pub mod capabilities;
mod dialpad;
mod flow;
mod http;
mod request;
pub mod routes;
mod yeastar;
mod yeastar_control;

pub use action::{Action, TransferMode};
pub use flow::{act, refuse};
use http::Fail;
use request::{Accepted, Ctx};
pub use request::{Request, Target};

/// Most characters of a provider's message shown on the page.
const MAX_MESSAGE: usize = 400;

/// The board's means to act: an HTTP client, the key that opens the API
/// credentials (none: actions are off), the timeout, and the Yeastar tokens.
pub struct Actions {
    http: reqwest::Client,
    keys: Option<Keyring>,
    timeout: Duration,
    /// Per source: its token, behind a lock held while one is obtained (so
    /// that concurrent actions log in once).
    tokens: yeastar::Tokens,
}

/// What the page shows once the provider accepted `action`.
pub fn requested(action: &Action) -> String {
    format!(
        "{} requested; the card changes when the phone system reports it",
        action.what()
    )
}

impl Actions {
    /// Actions with `keys` (none: every action is refused, explaining why)
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

    /// `f` within the action timeout.
    async fn within<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, Fail>>,
    ) -> Result<T, Fail> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps() {
        assert_eq!(cap(&"x".repeat(1000)).chars().count(), MAX_MESSAGE + 1);
    }

    #[test]
    fn the_hangup_text_is_kept() {
        assert_eq!(
            requested(&Action::Hangup),
            "hang-up requested; the card changes when the phone system reports it"
        );
    }
}
