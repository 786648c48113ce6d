//! A small HTTP client for posting webhooks to ingest: a thin wrapper over
//! `reqwest` (connection pool, HTTP/1.1, rustls) with a base URL and a
//! per-request timeout.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Url;

/// Errors of a request.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The base URL, or a URL built from it and a path, is not usable.
    #[error("invalid URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    /// The method or a header of the request is not valid HTTP.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The whole request (connect, send, answer and body) took too long.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// Connecting, sending or receiving failed; the source says why.
    #[error(transparent)]
    Request(reqwest::Error),
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

/// A client for one server. Clones share one connection pool (so `N` tasks
/// with a clone each have up to `N` requests, on up to `N` connections, in
/// flight); separate [`Client::new`] or [`Client::from_url`] calls do not
/// share connections.
///
/// Redirects are not followed and proxy settings from the environment are
/// ignored: requests go to the named server and its answer is returned as is.
#[derive(Debug, Clone)]
pub struct Client {
    /// `None` only if building it failed; the next request builds it again
    /// and reports the error.
    http: Option<reqwest::Client>,
    /// `scheme://host:port[/path]`, without a trailing `/`.
    base: String,
    timeout: Duration,
}

fn build(timeout: Duration) -> Result<reqwest::Client, HttpError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(HttpError::Request)
}

impl Client {
    /// A client for `authority` (`host:port`) over plain HTTP; connects on
    /// first use. `timeout` bounds each whole request.
    pub fn new(authority: impl Into<String>, timeout: Duration) -> Self {
        Client {
            http: build(timeout).ok(),
            base: format!("http://{}", authority.into()),
            timeout,
        }
    }

    /// A client for the base URL `url` (`http[s]://host[:port][/path]`):
    /// request paths are appended to it. `timeout` bounds each whole request.
    pub fn from_url(url: &str, timeout: Duration) -> Result<Self, HttpError> {
        let invalid = |reason: &str| HttpError::Url {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let parsed = Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid("expected http://host[:port][/path]"));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(invalid("no host"));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(invalid("a base URL takes no query or fragment"));
        }
        Ok(Client {
            http: Some(build(timeout)?),
            base: parsed.as_str().trim_end_matches('/').to_string(),
            timeout,
        })
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `GET path`.
    pub async fn get(&mut self, path: &str) -> Result<Response, HttpError> {
        self.request("GET", path, &[], b"").await
    }

    /// `POST path` with `headers` and `body`.
    pub async fn post(
        &mut self,
        path: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Response, HttpError> {
        self.request("POST", path, headers, body).await
    }

    /// Sends one request to the base URL followed by `path` and reads the
    /// whole response. An idle pooled connection that the server had closed
    /// is replaced transparently; other failures are returned, not retried.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Response, HttpError> {
        let http = match &self.http {
            Some(h) => h.clone(),
            None => {
                let h = build(self.timeout)?;
                self.http = Some(h.clone());
                h
            }
        };
        let sep = if path.starts_with('/') { "" } else { "/" };
        let full = format!("{}{sep}{path}", self.base);
        let url = Url::parse(&full).map_err(|e| HttpError::Url {
            url: full.clone(),
            reason: e.to_string(),
        })?;
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| HttpError::Invalid(format!("method {method:?}")))?;
        let mut map = HeaderMap::with_capacity(headers.len());
        for (k, v) in headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| HttpError::Invalid(format!("header name {k:?}")))?;
            let value = HeaderValue::from_bytes(v.as_bytes())
                .map_err(|_| HttpError::Invalid(format!("value of header {k}")))?;
            map.append(name, value);
        }
        let resp = http
            .request(method, url)
            .headers(map)
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| self.error(e))?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(|e| self.error(e))?;
        Ok(Response {
            status,
            body: Vec::from(body),
        })
    }

    fn error(&self, e: reqwest::Error) -> HttpError {
        if e.is_timeout() {
            HttpError::Timeout(self.timeout)
        } else {
            HttpError::Request(e)
        }
    }
}
