//! One attempt to connect to one host of a [`Target`]: on a socket of
//! [`crate::dial`] with the answer deadline (pooled connections), or on
//! tokio-postgres's own socket (LISTEN connections and commands: the only
//! kind diesel-async delivers notifications from); then the session check
//! (`target_session_attrs`, and `BEGIN` behind a transaction pooler).

use std::time::Duration;

use diesel_async::AsyncPgConnection;
use tokio_postgres::config::TargetSessionAttrs;
use tokio_postgres::tls::MakeTlsConnect;

use super::target::{bad, with_causes, Target};
use crate::dial::{self, Endpoint, Stream};
use crate::Error;

impl Target {
    /// One attempt on `ep`, without a deadline of its own: on a socket of
    /// [`dial`] with the answer deadline when there is one, else through
    /// tokio-postgres's own socket (the only kind diesel-async delivers
    /// notifications from: LISTEN connections, commands).
    pub(super) async fn connect_to(
        &self,
        ep: &Endpoint,
        in_transaction: bool,
        answer: Option<Duration>,
    ) -> Result<AsyncPgConnection, Error> {
        let mut conn = match answer {
            Some(_) => self.connect_raw(ep, in_transaction, answer).await?,
            None => self.connect_own(ep, in_transaction).await?,
        };
        if in_transaction {
            diesel_async::SimpleAsyncConnection::batch_execute(&mut conn, "COMMIT").await?;
        }
        Ok(conn)
    }

    /// A connection on a socket of [`dial`]: the connection is driven by a
    /// task of its own, which ends when the connection fails or is dropped.
    async fn connect_raw(
        &self,
        ep: &Endpoint,
        in_transaction: bool,
        answer: Option<Duration>,
    ) -> Result<AsyncPgConnection, Error> {
        let stream = dial::open(ep, &self.socket, answer)
            .await
            .map_err(|e| bad(format!("cannot reach {ep}: {e}")))?;
        let client = match &self.tls {
            None => {
                let (client, connection) = self
                    .pg
                    .connect_raw(stream, tokio_postgres::NoTls)
                    .await
                    .map_err(|e| self.connect_error(ep, e))?;
                let connection = self
                    .session(ep, &client, connection, in_transaction)
                    .await?;
                spawn_driver(ep, connection);
                client
            }
            Some(tls) => {
                let mut make = tls.clone();
                let connect =
                    match MakeTlsConnect::<Stream>::make_tls_connect(&mut make, ep.tls_name()) {
                        Ok(c) => c,
                        Err(never) => match never {},
                    };
                let (client, connection) = self
                    .pg
                    .connect_raw(stream, connect)
                    .await
                    .map_err(|e| self.connect_error(ep, e))?;
                let connection = self
                    .session(ep, &client, connection, in_transaction)
                    .await?;
                spawn_driver(ep, connection);
                client
            }
        };
        Ok(AsyncPgConnection::try_from(client).await?)
    }

    /// A connection through tokio-postgres's own socket, to `ep` alone
    /// (with this crate's socket settings).
    async fn connect_own(
        &self,
        ep: &Endpoint,
        in_transaction: bool,
    ) -> Result<AsyncPgConnection, Error> {
        let pg = self.single(ep);
        Ok(match &self.tls {
            None => {
                let (client, connection) = pg
                    .connect(tokio_postgres::NoTls)
                    .await
                    .map_err(|e| self.connect_error(ep, e))?;
                let connection = self
                    .session(ep, &client, connection, in_transaction)
                    .await?;
                AsyncPgConnection::try_from_client_and_connection(client, connection).await?
            }
            Some(tls) => {
                let (client, connection) = pg
                    .connect(tls.clone())
                    .await
                    .map_err(|e| self.connect_error(ep, e))?;
                let connection = self
                    .session(ep, &client, connection, in_transaction)
                    .await?;
                AsyncPgConnection::try_from_client_and_connection(client, connection).await?
            }
        })
    }

    /// The URL's settings for `ep` alone, with this crate's socket settings
    /// (the read-write check is [`Target::session`]'s).
    fn single(&self, ep: &Endpoint) -> tokio_postgres::Config {
        let from = &self.pg;
        let mut pg = tokio_postgres::Config::new();
        if let Some(v) = from.get_user() {
            pg.user(v);
        }
        if let Some(v) = from.get_password() {
            pg.password(v);
        }
        if let Some(v) = from.get_dbname() {
            pg.dbname(v);
        }
        if let Some(v) = from.get_options() {
            pg.options(v);
        }
        if let Some(v) = from.get_application_name() {
            pg.application_name(v);
        }
        pg.ssl_mode(from.get_ssl_mode())
            .ssl_negotiation(from.get_ssl_negotiation())
            .channel_binding(from.get_channel_binding())
            .connect_timeout(self.connect_timeout);
        ep.configure(&mut pg);
        self.socket.configure(&mut pg);
        pg
    }

    /// On a new connection: the `target_session_attrs` check (tokio-postgres
    /// makes it only when it opens the socket itself), then `BEGIN` when
    /// `in_transaction`. Returns the connection, to be driven from then on.
    async fn session<S, T>(
        &self,
        ep: &Endpoint,
        client: &tokio_postgres::Client,
        mut connection: tokio_postgres::Connection<S, T>,
        in_transaction: bool,
    ) -> Result<tokio_postgres::Connection<S, T>, Error>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let wants = self.pg.get_target_session_attrs();
        if wants != TargetSessionAttrs::Any {
            let rows = drive(
                client.simple_query("SHOW transaction_read_only"),
                &mut connection,
            )
            .await?;
            let read_only = rows.iter().any(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0) == Some("on"),
                _ => false,
            });
            match wants {
                TargetSessionAttrs::ReadWrite if read_only => {
                    return Err(bad(format!(
                        "{ep}: the server is read-only (a standby?), and \
                         target_session_attrs=read-write wants a primary (SQLSTATE 25006)"
                    )))
                }
                TargetSessionAttrs::ReadOnly if !read_only => {
                    return Err(bad(format!(
                        "{ep}: the server takes writes (target_session_attrs=read-only)"
                    )))
                }
                _ => {}
            }
        }
        if in_transaction {
            drive(client.batch_execute("BEGIN"), &mut connection).await?;
        }
        Ok(connection)
    }
}

/// Runs `request` on a new connection, driving the connection until the
/// answer came. Returns the answer.
async fn drive<R, S, T>(
    request: impl std::future::Future<Output = Result<R, tokio_postgres::Error>>,
    connection: &mut tokio_postgres::Connection<S, T>,
) -> Result<R, Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    tokio::select! {
        r = request => r.map_err(|e| bad(with_causes(&e))),
        r = connection => Err(bad(match r {
            Ok(()) => "the server closed the connection".to_string(),
            Err(e) => with_causes(&e),
        })),
    }
}

/// Drives `connection` on a task of its own until it ends (the client was
/// dropped, or the connection failed: then it is logged).
fn spawn_driver<S, T>(ep: &Endpoint, connection: tokio_postgres::Connection<S, T>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let host = ep.to_string();
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(%host, error = %with_causes(&e), "a database connection failed");
        }
    });
}
