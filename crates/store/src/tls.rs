//! Where and how to connect: the URL as tokio-postgres reads it, plus the
//! TLS settings of libpq that it does not know (`sslmode=verify-ca`,
//! `verify-full`, `allow`, `sslrootcert`, `sslcert`, `sslkey`), served by
//! rustls with the ring provider.
//!
//! | `sslmode`            | TLS                         | certificate check                        |
//! |----------------------|-----------------------------|------------------------------------------|
//! | absent, `disable`    | never (plain TCP)           | -                                        |
//! | `allow`, `prefer`    | if the server offers it     | none                                     |
//! | `require`            | always                      | none; with `sslrootcert`: as `verify-ca` |
//! | `verify-ca`          | always                      | signed by a CA of `sslrootcert`          |
//! | `verify-full`        | always                      | as `verify-ca`, and valid for the host   |
//!
//! `sslrootcert` is a PEM file of CA certificates, or `system` for the
//! Mozilla roots built in; `verify-ca`/`verify-full` without it read
//! `~/.postgresql/root.crt` as libpq does. `sslcert` and `sslkey` (PEM, the
//! key unencrypted) present a client certificate. Unlike libpq, an absent
//! `sslmode` means `disable`, and `PGSSLMODE`-style variables are not read.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use diesel_async::AsyncPgConnection;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres::config::SslMode as PgSslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::Error;

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(s: &str) -> Result<SslMode, TlsError> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => return Err(TlsError::BadMode(other.to_string())),
        })
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        })
    }
}

/// Why TLS could not be set up or did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("sslmode={0:?} is not one of disable, allow, prefer, require, verify-ca, verify-full")]
    BadMode(String),
    #[error("sslmode={0} needs sslrootcert=PATH (a PEM file of the CA certificates to trust) or sslrootcert=system")]
    NoRootCert(SslMode),
    #[error("sslcert and sslkey go together: give both or neither")]
    ClientCertPair,
    #[error("cannot read {what} {path}: {error}")]
    Read {
        what: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{what} {path}: {reason}")]
    Pem {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("cannot set up TLS: {0}")]
    Config(rustls::Error),
    #[error("TLS with {host} failed (sslmode={mode}): {hint}: {error}")]
    Handshake {
        host: String,
        mode: SslMode,
        hint: String,
        error: rustls::Error,
    },
    #[error("sslmode={mode}: {host} does not accept TLS connections (is ssl off on the server?)")]
    NotOffered { host: String, mode: SslMode },
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

/// The TLS parameters taken out of the URL.
#[derive(Debug, Default, PartialEq)]
struct TlsParams {
    mode: Option<String>,
    root_cert: Option<String>,
    cert: Option<String>,
    key: Option<String>,
}

impl TlsParams {
    fn take(&mut self, key: &str, value: String) -> bool {
        let slot = match key {
            "sslmode" => &mut self.mode,
            "sslrootcert" => &mut self.root_cert,
            "sslcert" => &mut self.cert,
            "sslkey" => &mut self.key,
            _ => return false,
        };
        *slot = Some(value);
        true
    }
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

/// libpq's default CA file, when it exists.
fn default_root_cert() -> Option<String> {
    let home = std::env::var_os("HOME")?;
    let p = PathBuf::from(home).join(".postgresql").join("root.crt");
    p.exists().then(|| p.to_string_lossy().into_owned())
}

/// Splits the TLS parameters this module handles off `url`. Returns the
/// rest (for tokio-postgres) and those parameters.
fn split_tls_params(url: &str) -> (String, TlsParams) {
    let mut params = TlsParams::default();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            return (url.to_string(), params);
        };
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                !params.take(&percent_decode(k), percent_decode(v))
            })
            .collect();
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        (rest, params)
    } else {
        let kept: Vec<String> = key_values(url)
            .into_iter()
            .filter_map(|(k, v)| {
                if params.take(&k, v.clone()) {
                    None
                } else {
                    Some(format!(
                        "{k}='{}'",
                        v.replace('\\', "\\\\").replace('\'', "\\'")
                    ))
                }
            })
            .collect();
        (kept.join(" "), params)
    }
}

/// `%XX` sequences decoded (a malformed one is kept as it is).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = hex {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The pairs of a libpq `key=value` string (values optionally single-quoted,
/// with backslash escapes).
fn key_values(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        if key.is_empty() {
            return out;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next_if_eq(&'=').is_none() {
            // Not a pair: leave it to tokio-postgres to complain about.
            out.push((key, String::new()));
            continue;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '\'' => break,
                    '\\' => value.extend(chars.next()),
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        out.push((key, value));
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls client for `mode`.
fn client_config(
    mode: SslMode,
    root_cert: Option<&str>,
    cert: Option<&str>,
    key: Option<&str>,
) -> Result<ClientConfig, TlsError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?;
    // libpq: `require` with a CA file given verifies like `verify-ca`.
    let verify = match mode {
        SslMode::VerifyCa | SslMode::VerifyFull => true,
        SslMode::Require => root_cert.is_some(),
        _ => false,
    };
    let verifier: Arc<dyn ServerCertVerifier> = if verify {
        let path = root_cert.ok_or(TlsError::NoRootCert(mode))?;
        let roots = Arc::new(root_store(path)?);
        let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| TlsError::Pem {
                what: "sslrootcert",
                path: path.into(),
                reason: e.to_string(),
            })?;
        if mode == SslMode::VerifyFull {
            webpki
        } else {
            Arc::new(AnyName(webpki))
        }
    } else {
        Arc::new(AnyCert(provider))
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match (cert, key) {
        (None, None) => Ok(builder.with_no_client_auth()),
        (Some(cert), Some(key)) => {
            let chain = read_certs("sslcert", cert)?;
            let bytes = read("sslkey", key)?;
            let key = PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| TlsError::Pem {
                what: "sslkey",
                path: key.into(),
                reason: e.to_string(),
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(TlsError::Config)
        }
        _ => Err(TlsError::ClientCertPair),
    }
}

fn read(what: &'static str, path: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|error| TlsError::Read {
        what,
        path: path.into(),
        error,
    })
}

fn read_certs(what: &'static str, path: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(what, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            what,
            path: path.into(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            what,
            path: path.into(),
            reason: "no PEM certificate in it".to_string(),
        });
    }
    Ok(certs)
}

/// The CAs of `sslrootcert`: a PEM file, or `system` (the Mozilla roots).
fn root_store(path: &str) -> Result<RootCertStore, TlsError> {
    if path == "system" {
        return Ok(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        });
    }
    let mut roots = RootCertStore::empty();
    for cert in read_certs("sslrootcert", path)? {
        roots.add(cert).map_err(|e| TlsError::Pem {
            what: "sslrootcert",
            path: path.into(),
            reason: e.to_string(),
        })?;
    }
    Ok(roots)
}

/// `verify-ca`: the chain must lead to a trusted CA; the name is not checked.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // The chain is checked before the name: a name error means the chain
        // itself was accepted.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `prefer`/`require` without a CA: encryption against passive listening,
/// no authentication of the server (as libpq). The handshake's signatures
/// are still checked against the certificate presented.
#[derive(Debug)]
struct AnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_params_are_split_off() {
        let (rest, p) = split_tls_params(
            "postgres://u:p@db:5432/x?sslmode=verify-full&application_name=a&sslrootcert=%2Fetc%2Fca.pem",
        );
        assert_eq!(rest, "postgres://u:p@db:5432/x?application_name=a");
        assert_eq!(p.mode.as_deref(), Some("verify-full"));
        assert_eq!(p.root_cert.as_deref(), Some("/etc/ca.pem"));
        let (rest, p) = split_tls_params("postgres://u@db/x?sslmode=require");
        assert_eq!(rest, "postgres://u@db/x");
        assert_eq!(p.mode.as_deref(), Some("require"));
        let (rest, p) = split_tls_params("postgres://u@db/x");
        assert_eq!(
            (rest.as_str(), p),
            ("postgres://u@db/x", TlsParams::default())
        );
    }

    #[test]
    fn key_value_params_are_split_off() {
        let (rest, p) = split_tls_params(
            "host=db user=u password='it\\'s a secret' sslmode = verify-ca sslrootcert='/a b/ca.pem'",
        );
        assert_eq!(rest, "host='db' user='u' password='it\\'s a secret'");
        assert_eq!(p.mode.as_deref(), Some("verify-ca"));
        assert_eq!(p.root_cert.as_deref(), Some("/a b/ca.pem"));
        let cfg: tokio_postgres::Config = rest.parse().expect("tokio-postgres reads it back");
        assert_eq!(cfg.get_password(), Some(&b"it's a secret"[..]));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("%2Fa%20b"), "/a b");
        assert_eq!(percent_decode("50%"), "50%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }

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
