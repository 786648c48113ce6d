//! `traffic receive`: a webhook receiver for `just bench` (deliveries):
//! answers 200 (500 on paths starting with `/fail`), and writes one line
//! per request, `webhook-id TAB unix-ms TAB path`, to `--out`. A minimal
//! HTTP/1.1 server (keep-alive, Content-Length bodies), no verification:
//! the tests verify signatures; this measures arrival times.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Receive webhooks and record when each arrived (for `just bench`).
#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: String,
    /// File the arrivals are written to.
    #[arg(long)]
    out: std::path::PathBuf,
}

/// Runs the receiver until SIGTERM/SIGINT; prints the bound address.
pub async fn run(args: Args) -> Result<()> {
    let listener = TcpListener::bind(&args.bind)
        .await
        .with_context(|| format!("binding {}", args.bind))?;
    println!("{}", listener.local_addr()?);
    let file =
        std::fs::File::create(&args.out).with_context(|| format!("creating {:?}", args.out))?;
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    // Lines are small and the file local: written from a thread of its own.
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let mut w = std::io::BufWriter::new(file);
        while let Some(line) = rx.blocking_recv() {
            let _ = w.write_all(line.as_bytes());
            if rx.is_empty() {
                let _ = w.flush();
            }
        }
        let _ = w.flush();
    });
    let accept = async {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(serve(s, tx.clone()));
        }
    };
    tokio::select! {
        _ = accept => {}
        _ = shutdown() => {}
    }
    drop(tx);
    drop(writer);
    Ok(())
}

async fn shutdown() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

async fn serve(mut s: TcpStream, tx: mpsc::UnboundedSender<String>) {
    let _ = s.set_nodelay(true);
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 16384];
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0);
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let path = head.split(' ').nth(1).unwrap_or("/").to_string();
        let (mut id, mut len) = (String::new(), 0usize);
        for line in head.split("\r\n") {
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("webhook-id") {
                    id = v.trim().to_string();
                } else if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        while buf.len() < head_end + len {
            let mut chunk = [0u8; 16384];
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..head_end + len);
        let _ = tx.send(format!("{id}\t{now:.3}\t{path}\n"));
        let status = if path.starts_with("/fail") {
            "500 Internal Server Error"
        } else {
            "200 OK"
        };
        let reply = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
        if s.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}
