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
/// Requests take `&mut self` because the underlying `reqwest` client is built
/// again on use if building it in [`Client::new`] failed.
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
        let invalid = |why: &str| HttpError::Url {
            url: url.to_string(),
            reason: format!("{why}; expected http[s]://host[:port][/path]"),
        };
        let parsed = Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid(&format!("scheme {:?}", parsed.scheme())));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(invalid("no host"));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(invalid("a query or fragment"));
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// Reads one request (head and `Content-Length` body) off `s`; returns
    /// the head, or `None` when the peer closed first.
    pub(crate) async fn read_request(s: &mut TcpStream) -> Option<String> {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                while buf.len() < end + 4 + len {
                    let n = s.read(&mut chunk).await.ok()?;
                    if n == 0 {
                        return None;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                return Some(head);
            }
            let n = s.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// A server that answers every request with 200 and the request head as
    /// the body, and closes each connection after `per_conn` requests.
    /// Returns its address and a count of the connections it accepted.
    async fn echo_server(per_conn: usize) -> (String, Arc<AtomicUsize>) {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr").to_string();
        let conns = Arc::new(AtomicUsize::new(0));
        let counter = conns.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    for _ in 0..per_conn {
                        let Some(head) = read_request(&mut s).await else {
                            return;
                        };
                        let resp = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{head}",
                            head.len()
                        );
                        if s.write_all(resp.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (addr, conns)
    }

    #[test]
    fn base_urls() {
        let t = Duration::from_secs(1);
        let c = Client::from_url("http://127.0.0.1:8080/", t).expect("url");
        assert_eq!(c.base_url(), "http://127.0.0.1:8080");
        let c = Client::from_url("https://lb.example/api/", t).expect("url");
        assert_eq!(c.base_url(), "https://lb.example/api");
        assert_eq!(
            Client::new("127.0.0.1:9", t).base_url(),
            "http://127.0.0.1:9"
        );
        for bad in ["127.0.0.1:8080", "ftp://x", "http://", "http://h/?q=1", ""] {
            assert!(
                matches!(Client::from_url(bad, t), Err(HttpError::Url { .. })),
                "{bad:?}"
            );
        }
    }

    #[tokio::test]
    async fn sends_method_path_headers_and_body() {
        let (addr, _srv) = echo_server(100).await;
        let mut c =
            Client::from_url(&format!("http://{addr}/base"), Duration::from_secs(5)).expect("url");
        let hd = vec![("X-Signature".to_string(), "abc=".to_string())];
        let r = c.post("/webhooks/pbx", &hd, b"{}").await.expect("post");
        assert_eq!(r.status, 200);
        let head = r.text().to_ascii_lowercase();
        assert!(
            head.starts_with("post /base/webhooks/pbx http/1.1"),
            "{head}"
        );
        assert!(head.contains("x-signature: abc="), "{head}");
        assert!(head.contains("content-length: 2"), "{head}");
        assert!(head.contains(&format!("host: {addr}")), "{head}");
        let r = c.get("/healthz").await.expect("get");
        assert!(r.text().starts_with("GET /base/healthz "), "{}", r.text());
        let bad = [("bad header".to_string(), "v".to_string())];
        assert!(matches!(
            c.request("POST", "/x", &bad, b"").await,
            Err(HttpError::Invalid(_))
        ));
        assert!(matches!(
            c.request("NOT A METHOD", "/x", &[], b"").await,
            Err(HttpError::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_is_replaced() {
        // One request per connection, then the server closes it.
        let (addr, conns) = echo_server(1).await;
        let mut c = Client::new(addr, Duration::from_secs(5));
        for i in 0..5 {
            let r = c.post("/x", &[], b"x").await.expect("post");
            assert_eq!(r.status, 200, "request {i}");
            // Let the client notice the close of the idle connection.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(conns.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn clones_share_kept_alive_connections_and_new_clients_do_not() {
        let (addr, conns) = echo_server(usize::MAX).await;
        let c = Client::new(addr.clone(), Duration::from_secs(5));
        for _ in 0..3 {
            let mut c = c.clone();
            for _ in 0..5 {
                assert_eq!(c.get("/").await.expect("get").status, 200);
            }
        }
        assert_eq!(conns.load(Ordering::SeqCst), 1, "one kept-alive connection");
        // Concurrent requests on clones each get a connection.
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let mut c = c.clone();
                tokio::spawn(async move { c.post("/slow", &[], &[b'x'; 1000]).await })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.expect("join").expect("post").status, 200);
        }
        assert!(conns.load(Ordering::SeqCst) <= 4);
        let before = conns.load(Ordering::SeqCst);
        let mut fresh = Client::new(addr, Duration::from_secs(5));
        assert_eq!(fresh.get("/").await.expect("get").status, 200);
        assert_eq!(
            conns.load(Ordering::SeqCst),
            before + 1,
            "a new client connects anew"
        );
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr").to_string();
        let _srv = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = l.accept().await {
                held.push(s);
            }
        });
        let mut c = Client::new(addr, Duration::from_millis(200));
        let t0 = std::time::Instant::now();
        let e = c.get("/").await.expect_err("no answer");
        assert!(matches!(e, HttpError::Timeout(_)), "{e:?}");
        assert!(t0.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn refused_connection_is_a_request_error() {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr").to_string();
        drop(l);
        let e = Client::new(addr, Duration::from_secs(5))
            .get("/")
            .await
            .expect_err("refused");
        assert!(matches!(e, HttpError::Request(_)), "{e:?}");
    }
}
