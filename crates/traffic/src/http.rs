//! A small HTTP/1.1 client over one keep-alive TCP connection: enough to post
//! webhooks to ingest without pulling a full HTTP stack into the build.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Errors of a request.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("invalid URL {0:?}: expected http://host:port[/path]")]
    Url(String),
    #[error("connection failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed response: {0}")]
    Protocol(String),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
}

/// A response: status and body.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Splits `http://host:port/path` into (`host:port`, `/path`).
pub fn split_url(url: &str) -> Result<(String, String), HttpError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| HttpError::Url(url.to_string()))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(HttpError::Url(url.to_string()));
    }
    let authority = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, path.trim_end_matches('/').to_string()))
}

/// One keep-alive connection to a server.
pub struct Client {
    authority: String,
    conn: Option<BufReader<TcpStream>>,
    timeout: Duration,
}

impl Client {
    /// A client for `authority` (`host:port`); connects on first use.
    pub fn new(authority: impl Into<String>, timeout: Duration) -> Self {
        Client {
            authority: authority.into(),
            conn: None,
            timeout,
        }
    }

    /// Sends one request and reads the response. A request on a reused
    /// connection that the server had closed is retried once on a new one.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Response, HttpError> {
        let reused = self.conn.is_some();
        match self.try_request(method, path, headers, body).await {
            Err(HttpError::Io(_)) | Err(HttpError::Protocol(_)) if reused => {
                self.conn = None;
                self.try_request(method, path, headers, body).await
            }
            other => other,
        }
    }

    async fn try_request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Response, HttpError> {
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, self.exchange(method, path, headers, body)).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => {
                self.conn = None;
                Err(e)
            }
            Err(_) => {
                self.conn = None;
                Err(HttpError::Timeout(timeout))
            }
        }
    }

    async fn exchange(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Response, HttpError> {
        if self.conn.is_none() {
            let s = TcpStream::connect(&self.authority).await?;
            s.set_nodelay(true)?;
            self.conn = Some(BufReader::new(s));
        }
        let conn = self
            .conn
            .as_mut()
            .ok_or_else(|| HttpError::Protocol("no connection".into()))?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n",
            self.authority,
            body.len()
        );
        for (k, v) in headers {
            head.push_str(k);
            head.push_str(": ");
            head.push_str(v);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(body);
        conn.get_mut().write_all(&out).await?;

        let mut line = String::new();
        if conn.read_line(&mut line).await? == 0 {
            return Err(HttpError::Protocol(
                "connection closed before the status line".into(),
            ));
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| HttpError::Protocol(format!("bad status line {line:?}")))?;
        let mut length: Option<usize> = None;
        let mut close = false;
        loop {
            line.clear();
            if conn.read_line(&mut line).await? == 0 {
                return Err(HttpError::Protocol("connection closed in headers".into()));
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                let k = k.trim().to_ascii_lowercase();
                let v = v.trim();
                if k == "content-length" {
                    length = v.parse().ok();
                } else if k == "connection" && v.eq_ignore_ascii_case("close") {
                    close = true;
                } else if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
                    return Err(HttpError::Protocol(
                        "chunked responses are not supported".into(),
                    ));
                }
            }
        }
        let mut body = vec![0u8; length.unwrap_or(0)];
        conn.read_exact(&mut body).await?;
        if close || length.is_none() {
            self.conn = None;
        }
        Ok(Response { status, body })
    }
}
