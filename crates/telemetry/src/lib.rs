//! What Switchboard's binaries share to be configured, observed and
//! stopped: configuration defaults, the logging set-up, the Prometheus
//! recorder and the HTTP page that serves it, the shutdown signal, and
//! who a request comes from behind trusted proxies.

mod client_ip;
mod defaults;
mod logging;
mod metrics_page;
mod signal;

pub use client_ip::{client_ip, parse_net};
pub use defaults::clap_defaults;
pub use logging::{exit_with_error, init_logging, json_logs};
pub use metrics_page::{install_metrics, render_metrics, serve_metrics};
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
