//! A connection target: the URL parsed once, with its TLS client and its
//! hosts, and the connections opened from it. The hosts are tried in turn,
//! starting with the one that last accepted, each within the connect
//! deadline (TCP, TLS, start-up and, with `target_session_attrs=read-write`,
//! the check that it takes writes), so that a host that is down, hangs or
//! is a standby costs at most that deadline (one attempt: `open.rs`). A
//! failed connection is explained (TLS refused, TLS not offered, a
//! read-only host, the server's own error, per host).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel_async::AsyncPgConnection;
use rustls::CertificateError;
use tokio_postgres::config::SslMode as PgSslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::config::client_config;
use super::params::{default_root_cert, split_tls_params};
use super::{SslMode, TlsError};
use crate::dial::{self, Endpoint, SocketOptions};
use crate::Error;

/// A parsed connection target: the URL for tokio-postgres, its hosts, and
/// the TLS client set up once (the CA file is read when the target is
/// built, not on every connection).
#[derive(Clone)]
pub(crate) struct Target {
    pub(super) pg: tokio_postgres::Config,
    mode: SslMode,
    root_cert: Option<String>,
    pub(super) tls: Option<MakeRustlsConnect>,
    endpoints: Arc<Vec<Endpoint>>,
    pub(super) socket: SocketOptions,
    pub(super) connect_timeout: Duration,
    /// The host that accepted last: tried first next time.
    preferred: Arc<AtomicUsize>,
}

impl Target {
    /// Reads `url` (a `postgres://` URL or a `key=value` string). Returns
    /// the target, or why its settings are unusable.
    pub(crate) fn parse(url: &str) -> Result<Target, Error> {
        let (rest, params) = split_tls_params(url);
        let mut pg: tokio_postgres::Config = rest.parse().map_err(|e: tokio_postgres::Error| {
            diesel::ConnectionError::InvalidConnectionUrl(e.to_string())
        })?;
        let mode = match params.mode.as_deref() {
            None => SslMode::Disable,
            Some(m) => SslMode::parse(m)?,
        };
        let mut root_cert = params.root_cert;
        if root_cert.is_none() && matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull) {
            root_cert = default_root_cert();
        }
        let tls = match mode {
            SslMode::Disable => None,
            _ => Some(MakeRustlsConnect::new(client_config(
                mode,
                root_cert.as_deref(),
                params.cert.as_deref(),
                params.key.as_deref(),
            )?)),
        };
        pg.ssl_mode(match mode {
            SslMode::Disable => PgSslMode::Disable,
            SslMode::Allow | SslMode::Prefer => PgSslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => PgSslMode::Require,
        });
        let endpoints =
            dial::endpoints(&pg).map_err(diesel::ConnectionError::InvalidConnectionUrl)?;
        Ok(Target {
            socket: SocketOptions::of(&pg),
            connect_timeout: pg
                .get_connect_timeout()
                .copied()
                .unwrap_or(dial::CONNECT_TIMEOUT),
            endpoints: Arc::new(endpoints),
            preferred: Arc::default(),
            pg,
            mode,
            root_cert,
            tls,
        })
    }

    /// How many hosts the URL names.
    pub(crate) fn hosts(&self) -> usize {
        self.endpoints.len()
    }

    /// The deadline of each host's attempt.
    pub(crate) fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// Opens one connection to the first host that accepts it within the
    /// connect deadline (the background task that drives it runs on the
    /// current tokio runtime); its reads fail when the server leaves a
    /// request unanswered for `answer`. With `in_transaction`, the session
    /// set-up that diesel-async runs on a new connection (two prepared
    /// `SET`s) is wrapped in a transaction: behind a pooler in transaction
    /// mode its statements then reach one server connection. Returns it, or
    /// why it failed (on every host).
    pub(crate) async fn connect(
        &self,
        in_transaction: bool,
        answer: Option<Duration>,
    ) -> Result<AsyncPgConnection, Error> {
        let n = self.endpoints.len();
        let first = self.preferred.load(Ordering::Relaxed) % n.max(1);
        let mut failed = Vec::new();
        for i in (0..n).map(|k| (first + k) % n) {
            let ep = &self.endpoints[i];
            let attempt = self.connect_to(ep, in_transaction, answer);
            let error = match tokio::time::timeout(self.connect_timeout, attempt).await {
                Ok(Ok(conn)) => {
                    self.preferred.store(i, Ordering::Relaxed);
                    return Ok(conn);
                }
                Ok(Err(e)) => e,
                Err(_) => bad(format!(
                    "{ep}: no answer within {:?} (connect_timeout; timed out)",
                    self.connect_timeout
                )),
            };
            failed.push(error);
        }
        match failed.len() {
            // One host: its error as it is (TLS errors stay typed).
            1 => Err(failed.remove(0)),
            _ => {
                let each: Vec<String> = failed
                    .iter()
                    .map(|e| match e {
                        Error::Connect(diesel::ConnectionError::BadConnection(why)) => why.clone(),
                        other => other.to_string(),
                    })
                    .collect();
                Err(bad(format!(
                    "no host accepted the connection: {}",
                    each.join("; ")
                )))
            }
        }
    }

    /// Sorts a failed connection: TLS failures get their own, explained
    /// error; the rest stay connection errors.
    pub(super) fn connect_error(&self, ep: &Endpoint, e: tokio_postgres::Error) -> Error {
        if let Some(error) = rustls_cause(&e) {
            return TlsError::Handshake {
                host: ep.to_string(),
                mode: self.mode,
                hint: self.hint(&error),
                error,
            }
            .into();
        }
        // tokio-postgres tells this case by its message only (its error kinds
        // are private).
        let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&e);
        while let Some(c) = cause {
            if c.to_string() == "server does not support TLS" {
                return TlsError::NotOffered {
                    host: ep.to_string(),
                    mode: self.mode,
                }
                .into();
            }
            cause = c.source();
        }
        bad(format!("{ep}: {}", with_causes(&e)))
    }

    fn hint(&self, error: &rustls::Error) -> String {
        let ca = self.root_cert.as_deref().unwrap_or("(none)");
        match error {
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
                format!("the server's certificate is not signed by a CA in sslrootcert={ca}")
            }
            rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            ) => "the server's certificate does not name the host connected to \
                  (verify-full checks it; verify-ca does not)"
                .to_string(),
            rustls::Error::InvalidCertificate(
                CertificateError::Expired | CertificateError::ExpiredContext { .. },
            ) => "the server's certificate has expired".to_string(),
            rustls::Error::InvalidCertificate(_) => {
                "the server's certificate was refused".to_string()
            }
            _ => "the handshake failed".to_string(),
        }
    }
}

/// A connection failure explained by `why`.
pub(super) fn bad(why: String) -> Error {
    Error::Connect(diesel::ConnectionError::BadConnection(why))
}

/// `e` and what caused it, and the server's SQLSTATE if it sent one:
/// tokio-postgres names only the kind of failure
/// ("db error", "error connecting to server") and keeps the reason (the
/// server's message, the OS error) as its source.
pub(super) fn with_causes(e: &tokio_postgres::Error) -> String {
    let mut text = e.to_string();
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    // The server's error code, for sorting the failure (store::Cause):
    // its message may be in another language.
    if let Some(code) = e.code() {
        text.push_str(&format!(" (SQLSTATE {})", code.code()));
    }
    text
}

/// The rustls error behind a failed connection, if TLS is what failed.
fn rustls_cause(e: &tokio_postgres::Error) -> Option<rustls::Error> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(c) = cause {
        if let Some(r) = c.downcast_ref::<rustls::Error>() {
            return Some(r.clone());
        }
        // io::Error::source skips the error it wraps: look inside.
        if let Some(r) = c
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(r.clone());
        }
        cause = c.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        let t = Target::parse("postgres://u@db/x").expect("plain");
        assert!(t.tls.is_none());
        assert_eq!(t.pg.get_ssl_mode(), PgSslMode::Disable);
        let t = Target::parse("postgres://u@db/x?sslmode=require").expect("require");
        assert!(t.tls.is_some());
        assert_eq!(t.pg.get_ssl_mode(), PgSslMode::Require);
        let t = Target::parse("postgres://u@db/x?sslmode=allow").expect("allow");
        assert_eq!(t.pg.get_ssl_mode(), PgSslMode::Prefer);
        let t = Target::parse("postgres://u@db/x?sslmode=verify-full&sslrootcert=system")
            .expect("system roots");
        assert_eq!(t.mode, SslMode::VerifyFull);
        let e = Target::parse("postgres://u@db/x?sslmode=bogus")
            .err()
            .expect("refused");
        assert!(e.to_string().contains("not one of"), "{e}");
        let e = Target::parse("postgres://u@db/x?sslmode=verify-ca&sslrootcert=/nonexistent.pem")
            .err()
            .expect("refused");
        assert!(
            e.to_string()
                .contains("cannot read sslrootcert /nonexistent.pem"),
            "{e}"
        );
        let e = Target::parse("postgres://u@db/x?sslmode=require&sslcert=/c.pem")
            .err()
            .expect("refused");
        assert!(matches!(e, Error::Tls(TlsError::ClientCertPair)), "{e}");
    }
}
