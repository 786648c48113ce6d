//! A connection target: the URL parsed once, with its TLS client, and the
//! connections opened from it; a failed connection is explained (TLS
//! refused, TLS not offered, or the server's own error).

use diesel_async::AsyncPgConnection;
use rustls::CertificateError;
use tokio_postgres::config::SslMode as PgSslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::config::client_config;
use super::params::{default_root_cert, split_tls_params};
use super::{SslMode, TlsError};
use crate::Error;

/// A parsed connection target: the URL for tokio-postgres and the TLS
/// client set up once (the CA file is read when the target is built, not on
/// every connection).
#[derive(Clone)]
pub(crate) struct Target {
    pg: tokio_postgres::Config,
    mode: SslMode,
    root_cert: Option<String>,
    tls: Option<MakeRustlsConnect>,
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
        Ok(Target {
            pg,
            mode,
            root_cert,
            tls,
        })
    }

    /// Opens one connection (the background task that drives it runs on the
    /// current tokio runtime). With `in_transaction`, the session set-up
    /// that diesel-async runs on a new connection (two prepared `SET`s) is
    /// wrapped in a transaction: behind a pooler in transaction mode its
    /// statements then reach one server connection. Returns it, or why it
    /// failed.
    pub(crate) async fn connect(&self, in_transaction: bool) -> Result<AsyncPgConnection, Error> {
        let mut conn = match &self.tls {
            None => {
                let (client, connection) = self
                    .pg
                    .connect(tokio_postgres::NoTls)
                    .await
                    .map_err(|e| self.connect_error(e))?;
                let connection = begin_if(&client, connection, in_transaction).await?;
                AsyncPgConnection::try_from_client_and_connection(client, connection).await?
            }
            Some(tls) => {
                let (client, connection) = self
                    .pg
                    .connect(tls.clone())
                    .await
                    .map_err(|e| self.connect_error(e))?;
                let connection = begin_if(&client, connection, in_transaction).await?;
                AsyncPgConnection::try_from_client_and_connection(client, connection).await?
            }
        };
        if in_transaction {
            diesel_async::SimpleAsyncConnection::batch_execute(&mut conn, "COMMIT").await?;
        }
        Ok(conn)
    }

    fn host(&self) -> String {
        let host = match self.pg.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => "localhost".to_string(),
        };
        match self.pg.get_ports().first() {
            Some(port) => format!("{host}:{port}"),
            None => host,
        }
    }

    /// Sorts a failed connection: TLS failures get their own, explained
    /// error; the rest stay connection errors.
    fn connect_error(&self, e: tokio_postgres::Error) -> Error {
        if let Some(error) = rustls_cause(&e) {
            return TlsError::Handshake {
                host: self.host(),
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
                    host: self.host(),
                    mode: self.mode,
                }
                .into();
            }
            cause = c.source();
        }
        diesel::ConnectionError::BadConnection(with_causes(&e)).into()
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

/// Sends `BEGIN` (when `yes`) on a new connection, driving it until the
/// answer came. Returns the connection, to be driven from then on.
async fn begin_if<S, T>(
    client: &tokio_postgres::Client,
    mut connection: tokio_postgres::Connection<S, T>,
    yes: bool,
) -> Result<tokio_postgres::Connection<S, T>, Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    if !yes {
        return Ok(connection);
    }
    tokio::select! {
        r = client.batch_execute("BEGIN") => r.map_err(|e| {
            Error::Connect(diesel::ConnectionError::BadConnection(e.to_string()))
        })?,
        r = &mut connection => {
            let why = match r {
                Ok(()) => "the server closed the connection".to_string(),
                Err(e) => e.to_string(),
            };
            return Err(Error::Connect(diesel::ConnectionError::BadConnection(why)));
        }
    }
    Ok(connection)
}

/// `e` and what caused it: tokio-postgres names only the kind of failure
/// ("db error", "error connecting to server") and keeps the reason (the
/// server's message, the OS error) as its source.
fn with_causes(e: &tokio_postgres::Error) -> String {
    let mut text = e.to_string();
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
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
