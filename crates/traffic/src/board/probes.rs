//! The probe calls: a signed Yeastar snapshot ringing one of the probe
//! extensions, one per interval, each timed to ingest's 200.

use std::time::{Duration, Instant, SystemTime};

use super::WatchConfig;
use crate::scenario::{self, Member};

/// One probe sent.
pub(super) struct Sent {
    pub(super) call_id: String,
    pub(super) sent: Instant,
    /// The 200's time, wall clock and the stored event's id.
    pub(super) ack: Option<(Instant, SystemTime, Option<i64>)>,
}

/// Sends `count` probes, one per `interval`, after `warmup`.
pub(super) async fn send_probes(cfg: WatchConfig, prefix: String, count: usize) -> Vec<Sent> {
    tokio::time::sleep(cfg.warmup).await;
    let mut client = match crate::Client::from_url(&cfg.load.url, Duration::from_secs(15)) {
        Ok(c) => c,
        Err(_) => return Vec::new(),
    };
    let path = format!("/webhooks/{}", cfg.probe_source);
    let mut tick = tokio::time::interval(cfg.probe_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut out = Vec::with_capacity(count);
    for n in 0..count {
        tick.tick().await;
        let call_id = format!("{prefix}{n}");
        let ext = (u64::from(cfg.probe_extension)
            + n as u64 % u64::from(cfg.probe_extensions.max(1)))
        .to_string();
        let ext = ext.as_str();
        let caller = format!("+1555000{ext}");
        let body = scenario::yeastar_snapshot(
            30011,
            &call_id,
            &[
                Member::Trunk("inbound", &caller, ext, "ALERT"),
                Member::Ext(ext, "RING"),
            ],
        );
        let signed = scenario::sign_yeastar(&cfg.probe_secret, &body);
        let sent = Instant::now();
        let ack = match client.post(&path, &signed.headers, &signed.body).await {
            Ok(r) if r.status == 200 => {
                let at = Instant::now();
                let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
                Some((at, SystemTime::now(), v["id"].as_i64()))
            }
            _ => None,
        };
        out.push(Sent { call_id, sent, ack });
    }
    out
}
