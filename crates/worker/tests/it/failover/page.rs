//! The board's page as a browser sees it: its event stream (`GET /events`,
//! reconnected as a browser does), noting when the board said it is
//! reconnecting (`event: stale`) and when a new snapshot came after that;
//! and whether what the board shows (`GET /api/extensions`) is the
//! database's state.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use diesel_async::{AsyncConnection, AsyncPgConnection};

/// What the page saw.
#[derive(Default, Debug, Clone, Copy)]
pub struct Seen {
    /// When the board first said it was reconnecting.
    pub stale_at: Option<Instant>,
    /// When the first snapshot after that came.
    pub resynced_at: Option<Instant>,
}

/// A browser's event stream, read until the task is aborted.
pub struct Page {
    pub seen: Arc<Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

impl Page {
    /// Opens `board_url`/events with the session `cookie`.
    pub fn open(board_url: &str, cookie: &str) -> Page {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let task = tokio::spawn(read(
            format!("{board_url}/events"),
            cookie.to_string(),
            seen.clone(),
        ));
        Page { seen, task }
    }

    /// What it saw so far.
    pub fn seen(&self) -> Seen {
        *self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read(url: String, cookie: String, seen: Arc<Mutex<Seen>>) {
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap_or_default();
    loop {
        if let Ok(mut resp) = http.get(&url).header("Cookie", &cookie).send().await {
            let mut text = String::new();
            while let Ok(Some(chunk)) = resp.chunk().await {
                text.push_str(&String::from_utf8_lossy(&chunk));
                // Whole frames only.
                while let Some(end) = text.find("\n\n") {
                    let frame: String = text.drain(..end + 2).collect();
                    let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
                    if frame.contains("event: stale") && s.stale_at.is_none() {
                        s.stale_at = Some(Instant::now());
                    } else if frame.contains("event: snapshot")
                        && s.stale_at.is_some()
                        && s.resynced_at.is_none()
                    {
                        s.resynced_at = Some(Instant::now());
                    }
                }
            }
        }
        // A browser reconnects after a moment.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Whether the board shows (`GET /api/extensions`) exactly the extensions
/// the database at `db_url` holds.
pub async fn shows_the_database(board_url: &str, cookie: &str, db_url: &str) -> Result<bool> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()?;
    let r = http
        .get(format!("{board_url}/api/extensions"))
        .header("Cookie", cookie)
        .send()
        .await?;
    if r.status() != 200 {
        return Ok(false);
    }
    let shown: serde_json::Value = r.json().await?;
    let mut c = AsyncPgConnection::establish(db_url).await?;
    let cards = domain::projection::read::cards(&mut c, None)
        .await
        .context("reading the cards")?;
    Ok(shown == serde_json::to_value(cards)?)
}
