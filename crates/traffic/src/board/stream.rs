//! One browser's event stream (`GET /events`), read as a browser does
//! (reconnecting with `Last-Event-ID`), noting when each probe arrives.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use memchr::memmem;
use reqwest::header;
use tokio::sync::{watch, Notify};

/// What one stream saw.
#[derive(Default)]
pub(super) struct Seen {
    /// Per probe number, when its first delta arrived.
    pub(super) first: Vec<Option<Instant>>,
    pub(super) deltas: u64,
    pub(super) delta_bytes: u64,
    pub(super) bytes: u64,
    pub(super) snapshots: u64,
    pub(super) snapshot_bytes: usize,
    pub(super) reconnects: u64,
    pub(super) connect_errors: u64,
}

/// Shared by the streams: how many have their snapshot, and how many
/// (probe, stream) arrivals there were.
pub(super) struct Progress {
    pub(super) ready: AtomicUsize,
    pub(super) arrivals: AtomicUsize,
    pub(super) changed: Notify,
}

/// The probe numbers named in `data` after `"call_id":"<prefix>`.
fn probes_in(data: &[u8], finder: &memmem::Finder<'_>, mut each: impl FnMut(usize)) {
    for at in finder.find_iter(data) {
        let digits = &data[at + finder.needle().len()..];
        let end = digits
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(digits.len());
        if end == 0 || digits.get(end) != Some(&b'"') {
            continue;
        }
        if let Some(n) = std::str::from_utf8(&digits[..end])
            .ok()
            .and_then(|d| d.parse::<usize>().ok())
        {
            each(n);
        }
    }
}

/// One browser's event stream, until `stop`.
#[allow(clippy::too_many_arguments)]
pub(super) async fn stream(
    http: reqwest::Client,
    url: String,
    cookie: String,
    needle: Arc<String>,
    probes: usize,
    progress: Arc<Progress>,
    mut stop: watch::Receiver<bool>,
) -> Seen {
    let finder = memmem::Finder::new(needle.as_bytes());
    let frame_end = memmem::Finder::new(b"\n\n");
    let data_start = memmem::Finder::new(b"data: ");
    let mut s = Seen {
        first: vec![None; probes],
        ..Seen::default()
    };
    let mut last_id: Option<String> = None;
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    'connect: while !*stop.borrow() {
        let mut req = http
            .get(&url)
            .header(header::COOKIE, &cookie)
            .header(header::ACCEPT, "text/event-stream");
        if let Some(id) = &last_id {
            req = req.header("Last-Event-ID", id);
        }
        let resp = tokio::select! {
            r = req.send() => r,
            _ = stop.changed() => break,
        };
        let mut resp = match resp {
            Ok(r) if r.status() == reqwest::StatusCode::OK => r,
            _ => {
                s.connect_errors += 1;
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(250)) => continue,
                    _ = stop.changed() => break,
                }
            }
        };
        buf.clear();
        loop {
            let chunk = tokio::select! {
                c = resp.chunk() => c,
                _ = stop.changed() => break 'connect,
            };
            let now = Instant::now();
            let bytes = match chunk {
                Ok(Some(b)) => b,
                // The board ended the stream (or it broke): reconnect.
                Ok(None) | Err(_) => {
                    s.reconnects += 1;
                    break;
                }
            };
            s.bytes += bytes.len() as u64;
            let scan_from = buf.len().saturating_sub(1);
            buf.extend_from_slice(&bytes);
            let mut start = 0;
            let mut search = scan_from;
            while let Some(pos) = frame_end.find(&buf[search..]) {
                let end = search + pos;
                let frame = &buf[start..end];
                start = end + 2;
                search = start;
                let Some(d) = data_start.find(frame) else {
                    continue; // retry:, : ping
                };
                let (head, data) = (&frame[..d], &frame[d + 6..]);
                let head = std::str::from_utf8(head).unwrap_or("");
                let mut event = "";
                for line in head.lines() {
                    if let Some(id) = line.strip_prefix("id: ") {
                        last_id = Some(id.to_string());
                    } else if let Some(e) = line.strip_prefix("event: ") {
                        event = e;
                    }
                }
                match event {
                    "delta" => {
                        s.deltas += 1;
                        s.delta_bytes += data.len() as u64;
                        let mut new = 0;
                        probes_in(data, &finder, |n| {
                            if let Some(slot @ None) = s.first.get_mut(n) {
                                *slot = Some(now);
                                new += 1;
                            }
                        });
                        if new > 0 {
                            progress.arrivals.fetch_add(new, Ordering::Relaxed);
                            progress.changed.notify_waiters();
                        }
                    }
                    "snapshot" => {
                        s.snapshots += 1;
                        if s.snapshots == 1 {
                            s.snapshot_bytes = data.len();
                            progress.ready.fetch_add(1, Ordering::Relaxed);
                            progress.changed.notify_waiters();
                        }
                    }
                    _ => {}
                }
            }
            buf.drain(..start);
        }
    }
    s
}

/// Waits until `done()` or `limit`, waking on the streams' progress.
pub(super) async fn wait_for(
    progress: &Progress,
    limit: Duration,
    done: impl Fn() -> bool,
) -> bool {
    let until = tokio::time::Instant::now() + limit;
    loop {
        let woken = progress.changed.notified();
        if done() {
            return true;
        }
        tokio::select! {
            _ = woken => {}
            // notify_waiters() only wakes those already waiting: re-check.
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            _ = tokio::time::sleep_until(until) => return done(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_probe_numbers_only_as_call_ids() {
        let needle = "\"call_id\":\"bp7-";
        let finder = memmem::Finder::new(needle.as_bytes());
        let data = br#"{"extensions":[{"number":"9000","call":{"call_id":"bp7-12","leg_id":"PJSIP/9000-bp7-99"}}],"calls":[{"id":3,"call_id":"bp7-13"},{"call_id":"bp7-x"},{"call_id":"bp8-1"},{"call_id":"bp7-14x"}]}"#;
        let mut got = Vec::new();
        probes_in(data, &finder, |n| got.push(n));
        assert_eq!(got, vec![12, 13]);
    }
}
