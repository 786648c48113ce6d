//! What Switchboard's binaries share to start, be configured, observed and
//! stopped: `main` ([`run_main`]), binding their listeners, configuration
//! defaults, the logging set-up, the Prometheus recorder, the operators'
//! server (`/metrics`, `/readyz`, `/healthz`), the answers every server
//! gives alike (`/healthz`, the one 404), the shutdown signal, and who a
//! request comes from behind trusted proxies.

mod answers;
mod bind;
mod client_ip;
mod defaults;
mod logging;
mod ops;
mod recorder;
mod run_main;
mod signal;

pub use answers::{healthz, not_found};
pub use bind::{bind, bind_ops, BindError};
pub use client_ip::{client_ip, parse_net};
pub use defaults::{clap_defaults, clap_from_env};
pub use logging::{exit_with_error, init_logging, json_logs};
pub use ops::{serve_ops, Readiness, ReadyCheck, READY_WITHIN};
pub use recorder::{install_metrics, render_metrics};
pub use run_main::run_main;
pub use signal::shutdown_signal;

/// `url` without its password, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            redact_url("postgres://sb:secret@db:5432/sb"),
            "postgres://sb:***@db:5432/sb"
        );
        assert_eq!(redact_url("postgres://sb@db/sb"), "postgres://sb@db/sb");
        assert_eq!(redact_url("postgres:///sb"), "postgres:///sb");
    }
}
