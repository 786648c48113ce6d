//! A TCP proxy the test controls, between the binaries and a server: it
//! forwards both ways until told to partition; then it stops forwarding
//! (and reading) but keeps every connection open, and accepts new ones
//! without ever reaching the server, as a network that drops packets (or
//! a proxy whose backend is gone) looks from the client's side. The
//! kernel still acknowledges what is sent, so TCP's own timers never
//! fire: only the clients' deadlines end such a connection.

use std::sync::Arc;

use anyhow::Result;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// A running proxy on a free loopback port; stopped (every connection
/// closed) when dropped.
pub struct TcpProxy {
    /// The port clients connect to.
    pub port: u16,
    partitioned: Arc<watch::Sender<bool>>,
    tasks: JoinSet<()>,
}

impl TcpProxy {
    /// Starts forwarding `127.0.0.1:port` (a new free port) to
    /// `127.0.0.1:upstream`, on the current tokio runtime.
    pub async fn start(upstream: u16) -> Result<TcpProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (tx, rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        tasks.spawn(accept(listener, upstream, rx));
        Ok(TcpProxy {
            port,
            partitioned: Arc::new(tx),
            tasks,
        })
    }

    /// Stops forwarding, keeping every connection open.
    pub fn partition(&self) {
        self.partitioned.send_replace(true);
    }

    /// Forwards again.
    pub fn heal(&self) {
        self.partitioned.send_replace(false);
    }

    /// Stops the proxy now: every connection through it closes.
    pub fn stop(&mut self) {
        self.tasks.abort_all();
    }
}

/// Accepts connections until the proxy is dropped; each is forwarded by a
/// task of its own, aborted with this one.
async fn accept(listener: TcpListener, upstream: u16, partitioned: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((client, _)) = accepted {
                    conns.spawn(forward(client, upstream, partitioned.clone()));
                }
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// Waits while the proxy is partitioned.
async fn passable(p: &mut watch::Receiver<bool>) {
    let _ = p.wait_for(|cut| !cut).await;
}

/// Forwards one connection both ways, holding it while partitioned.
async fn forward(client: TcpStream, upstream: u16, mut partitioned: watch::Receiver<bool>) {
    passable(&mut partitioned).await;
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    tokio::select! {
        _ = pipe(cr, sw, partitioned.clone()) => {}
        _ = pipe(sr, cw, partitioned) => {}
    }
}

/// Copies `from` to `to` until either closes; reads and writes nothing
/// while partitioned.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut partitioned: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        passable(&mut partitioned).await;
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        passable(&mut partitioned).await;
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
