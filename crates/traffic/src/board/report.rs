//! The measurement's report: latency percentiles, the probes, the streams,
//! the board process; and how what the streams saw is summed up into it.

use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;

use super::probes::Sent;
use super::stream::Seen;
use crate::load::{self, Report};

/// Latency percentiles, milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Percentiles {
    pub count: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Percentiles {
    fn of(mut v: Vec<f64>) -> Percentiles {
        v.sort_by(|a, b| a.total_cmp(b));
        Percentiles {
            count: v.len(),
            p50: load::percentile(&v, 0.50),
            p90: load::percentile(&v, 0.90),
            p99: load::percentile(&v, 0.99),
            p999: load::percentile(&v, 0.999),
            max: v.last().copied().unwrap_or(0.0),
        }
    }
}

/// The probes and their delivery.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Probes {
    pub interval_ms: f64,
    pub sent: usize,
    /// Answered 200 by ingest.
    pub acknowledged: usize,
    pub failed: usize,
    /// Acknowledged probes every stream received.
    pub received_by_all: usize,
    /// (acknowledged probe, stream) pairs, and those received.
    pub pairs_expected: usize,
    pub pairs_received: usize,
    /// Pairs whose delta arrived before the 200 did (counted as 0 ms).
    pub before_ack: usize,
    /// Ingest's answer time of the probes (request sent -> 200), ms.
    pub ack_ms: Percentiles,
}

/// What the streams saw.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Streams {
    pub clients: usize,
    /// When the first stream was requested (wall clock, ms since the epoch).
    pub opened_unix_ms: f64,
    /// From the first request until every stream had its snapshot, s.
    pub connect_seconds: f64,
    pub snapshot_bytes: usize,
    /// Delta frames over all streams, and per stream per second of load.
    pub delta_frames: u64,
    pub deltas_per_stream_per_s: f64,
    pub mean_delta_bytes: f64,
    /// Bytes received over all streams.
    pub bytes: u64,
    /// Streams the board ended (then reconnected), failed (re)connects, and
    /// snapshots after the first (a resync).
    pub reconnects: u64,
    pub connect_errors: u64,
    pub resync_snapshots: u64,
}

/// The board process, from /proc (Linux).
#[derive(Debug, Clone, Default, Serialize)]
pub struct BoardProc {
    pub pid: u32,
    /// Resident set once every stream had its snapshot, KiB.
    pub rss_kib_connected: u64,
    /// Largest resident set sampled (every 100 ms) during the run, KiB.
    pub rss_kib_max_sampled: u64,
    /// Peak resident set (VmHWM) at the end, KiB.
    pub hwm_kib: u64,
    /// CPU time (user + system) during the load, s, and as a share of one core.
    pub cpu_seconds_load: f64,
    pub cpu_core_share_load: f64,
    /// CPU time since the board started, s.
    pub cpu_seconds_total: f64,
    /// Threads at the end.
    pub threads: u64,
}

/// One probe: when it was sent and answered (wall clock, ms since the
/// epoch, for joining with the database's timestamps) and how long the
/// streams took after the answer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProbeRecord {
    pub n: usize,
    pub call_id: String,
    /// The stored event's id (ingest's answer).
    pub event_id: Option<i64>,
    pub ack_unix_ms: f64,
    /// Request sent -> 200, ms.
    pub ack_ms: f64,
    /// 200 -> the first stream / the last stream that got it, ms (the last
    /// only when every stream got it).
    pub first_ms: Option<f64>,
    pub all_ms: Option<f64>,
    pub received_by: usize,
}

/// The whole measurement.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WatchReport {
    /// Probe 200 -> delta on a stream, over every (probe, stream) pair, ms.
    pub latency_ms: Percentiles,
    /// The p99 of `latency_ms` over every expected pair, a pair never
    /// received counted as infinitely late: `None` when more than 1% were.
    pub p99_counting_lost_ms: Option<f64>,
    /// Probe request sent -> delta on a stream, ms.
    pub from_send_ms: Percentiles,
    /// Per probe: 200 -> the last stream got it (probes every stream got), ms.
    pub all_streams_ms: Percentiles,
    pub probes: Probes,
    pub streams: Streams,
    /// The background load.
    pub load: Report,
    pub load_seconds: f64,
    /// This process's own CPU time during the load (the streams, the load
    /// and the probes share the machine with the board), s.
    pub watcher_cpu_seconds_load: Option<f64>,
    /// CPU time the whole machine spent busy during the load, in cores
    /// (of `cpus`): everything else on it counts too.
    pub machine_busy_cores_load: Option<f64>,
    pub cpus: usize,
    pub board: Option<BoardProc>,
    #[serde(skip)]
    pub records: Vec<ProbeRecord>,
}

/// The probes' latencies, from what the streams saw.
pub(super) struct Latencies {
    /// 200 -> delta, per (probe, stream) pair received, ms, sorted.
    from_ack: Vec<f64>,
    from_send: Vec<f64>,
    all_streams: Vec<f64>,
    records: Vec<ProbeRecord>,
    before_ack: usize,
    received_by_all: usize,
    ack_ms: Vec<f64>,
    acked: usize,
}

impl Latencies {
    /// Pairs each acknowledged probe of `sent` with its arrival on every
    /// stream of `seen`.
    pub(super) fn of(sent: &[Sent], seen: &[Seen]) -> Latencies {
        let all = seen.len();
        let acked = sent.iter().filter(|p| p.ack.is_some()).count();
        let mut from_ack = Vec::with_capacity(acked * all);
        let mut from_send = Vec::with_capacity(acked * all);
        let mut all_streams = Vec::new();
        let mut records = Vec::with_capacity(sent.len());
        let mut before_ack = 0;
        let mut received_by_all = 0;
        let mut ack_ms = Vec::new();
        for (n, p) in sent.iter().enumerate() {
            let Some((ack, wall, event_id)) = p.ack else {
                continue;
            };
            ack_ms.push(ms(ack - p.sent));
            let mut first: Option<f64> = None;
            let mut last: f64 = 0.0;
            let mut by = 0;
            for s in seen {
                let Some(at) = s.first.get(n).copied().flatten() else {
                    continue;
                };
                by += 1;
                let d = if at < ack {
                    before_ack += 1;
                    0.0
                } else {
                    ms(at - ack)
                };
                from_ack.push(d);
                from_send.push(ms(at.saturating_duration_since(p.sent)));
                first = Some(first.map_or(d, |f: f64| f.min(d)));
                last = last.max(d);
            }
            if by == all {
                received_by_all += 1;
                all_streams.push(last);
            }
            records.push(ProbeRecord {
                n,
                call_id: p.call_id.clone(),
                event_id,
                ack_unix_ms: wall.duration_since(UNIX_EPOCH).map(ms).unwrap_or_default(),
                ack_ms: ms(ack - p.sent),
                first_ms: first,
                all_ms: (by == all).then_some(last),
                received_by: by,
            });
        }
        from_ack.sort_by(|a, b| a.total_cmp(b));
        Latencies {
            from_ack,
            from_send,
            all_streams,
            records,
            before_ack,
            received_by_all,
            ack_ms,
            acked,
        }
    }

    /// The report of `sent` probes, one per `interval_ms`, over `all`
    /// streams (the rest of it left to fill in).
    pub(super) fn report(self, interval_ms: f64, sent: usize, all: usize) -> WatchReport {
        let acked = self.acked;
        let pairs_received = self.from_ack.len();
        let p99_counting_lost_ms = {
            let mut v = self.from_ack.clone();
            v.resize(acked * all, f64::INFINITY);
            Some(load::percentile(&v, 0.99)).filter(|p| p.is_finite())
        };
        WatchReport {
            latency_ms: Percentiles::of(self.from_ack),
            p99_counting_lost_ms,
            from_send_ms: Percentiles::of(self.from_send),
            all_streams_ms: Percentiles::of(self.all_streams),
            probes: Probes {
                interval_ms,
                sent,
                acknowledged: acked,
                failed: sent - acked,
                received_by_all: self.received_by_all,
                pairs_expected: acked * all,
                pairs_received,
                before_ack: self.before_ack,
                ack_ms: Percentiles::of(self.ack_ms),
            },
            records: self.records,
            ..WatchReport::default()
        }
    }
}

impl Streams {
    /// What the streams of `seen` got, opened at `opened_unix_ms` and
    /// connected in `connect_seconds`, over `load_seconds` of load.
    pub(super) fn of(
        seen: &[Seen],
        opened_unix_ms: f64,
        connect_seconds: f64,
        load_seconds: f64,
    ) -> Streams {
        let all = seen.len();
        let deltas: u64 = seen.iter().map(|s| s.deltas).sum();
        let delta_bytes: u64 = seen.iter().map(|s| s.delta_bytes).sum();
        Streams {
            clients: all,
            opened_unix_ms,
            connect_seconds,
            snapshot_bytes: seen.first().map_or(0, |s| s.snapshot_bytes),
            delta_frames: deltas,
            deltas_per_stream_per_s: deltas as f64 / all.max(1) as f64 / load_seconds.max(1e-9),
            mean_delta_bytes: delta_bytes as f64 / deltas.max(1) as f64,
            bytes: seen.iter().map(|s| s.bytes).sum(),
            reconnects: seen.iter().map(|s| s.reconnects).sum(),
            connect_errors: seen.iter().map(|s| s.connect_errors).sum(),
            resync_snapshots: seen.iter().map(|s| s.snapshots.saturating_sub(1)).sum(),
        }
    }
}

/// `d` in milliseconds.
pub(super) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
