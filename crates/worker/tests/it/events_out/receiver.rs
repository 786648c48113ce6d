//! A test receiver: a minimal HTTP/1.1 server (keep-alive, Content-Length
//! bodies) that records every request and answers as the test says, and can
//! hold answers behind a gate (a slow endpoint).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
    pub at: Instant,
    /// The status it was answered with.
    pub status: u16,
}

/// How to answer one request.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    /// Answer only once this turns true.
    pub gate: Option<watch::Receiver<bool>>,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            gate: None,
        }
    }
}

type Decide = dyn Fn(&str, &http::HeaderMap, &[Received]) -> Reply + Send + Sync;

/// The receiver: its address and what it got.
pub struct Receiver {
    pub addr: SocketAddr,
    got: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    /// Starts a receiver on loopback; `decide(path, headers, earlier)`
    /// answers each request (`earlier`: every request received before).
    pub async fn start(
        decide: impl Fn(&str, &http::HeaderMap, &[Received]) -> Reply + Send + Sync + 'static,
    ) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let got = Arc::new(Mutex::new(Vec::new()));
        let decide: Arc<Decide> = Arc::new(decide);
        let g = got.clone();
        let task = tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                tokio::spawn(serve(s, g.clone(), decide.clone()));
            }
        });
        Receiver { addr, got, task }
    }

    /// A receiver answering 200 to everything, holding its answers on
    /// `path` until the returned sender sends `true` (a slow endpoint).
    pub async fn gated(path: &'static str) -> (watch::Sender<bool>, Receiver) {
        let (open, gate) = watch::channel(false);
        let rx = Receiver::start(move |p, _, _| Reply {
            status: 200,
            headers: Vec::new(),
            gate: (p == path).then(|| gate.clone()),
        })
        .await;
        (open, rx)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request received on `path`, in arrival order.
    pub fn on(&self, path: &str) -> Vec<Received> {
        let got = self.got.lock().unwrap_or_else(|p| p.into_inner());
        got.iter().filter(|r| r.path == path).cloned().collect()
    }
}

async fn serve(mut s: TcpStream, got: Arc<Mutex<Vec<Received>>>, decide: Arc<Decide>) {
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 8192];
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut lines = head.split("\r\n");
        let path = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .unwrap_or("/")
            .to_string();
        let mut headers = http::HeaderMap::new();
        for l in lines {
            if let Some((k, v)) = l.split_once(':') {
                if let (Ok(k), Ok(v)) = (
                    http::HeaderName::from_bytes(k.trim().as_bytes()),
                    http::HeaderValue::from_str(v.trim()),
                ) {
                    headers.append(k, v);
                }
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + len {
            let mut chunk = [0u8; 8192];
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = buf[head_end..head_end + len].to_vec();
        buf.drain(..head_end + len);
        let reply = {
            let mut g = got.lock().unwrap_or_else(|p| p.into_inner());
            let reply = decide(&path, &headers, &g);
            g.push(Received {
                path,
                headers,
                body,
                at: Instant::now(),
                status: reply.status,
            });
            reply
        };
        if let Some(mut gate) = reply.gate {
            let _ = gate.wait_for(|open| *open).await;
        }
        let mut out = format!("HTTP/1.1 {} X\r\ncontent-length: 2\r\n", reply.status);
        for (k, v) in &reply.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\nok");
        if s.write_all(out.as_bytes()).await.is_err() {
            return;
        }
    }
}
