//! What the call-centre commands print: queues with their figures and
//! waiting calls (`worker queue list`), the missed calls to return
//! (`worker missed`), their "done" audit (`worker audit --missed`) and the
//! history of calls (`worker history`, as a table or CSV).

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use domain::projection::read::{HistoryCall, MissedCallView, QueueView, WaitingCall};
use store::missed::DoneRow;
use store::queues::QueueSettings;

use super::clean;

fn when(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "-".into(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
}

fn opt(s: Option<&str>) -> String {
    s.map_or_else(|| "-".into(), clean)
}

/// Renders the queues and the calls waiting in them.
pub fn queues(queues: &[QueueView], waiting: &[WaitingCall]) -> String {
    let mut out = format!(
        "{:<12} {:<18} {:>7} {:>8} {:>8} {:>9} {:>6} {:>8} {:>8} {:>13}\n",
        "SOURCE",
        "QUEUE",
        "WAITING",
        "LONGEST",
        "ANSWERED",
        "ABANDONED",
        "SLA",
        "AVG_WAIT",
        "AVG_TALK",
        "AGENTS F/B/P/O"
    );
    if queues.is_empty() {
        out.push_str("(no queues today)\n");
    }
    let secs = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{v:.0}s"));
    for q in queues {
        let sla = q
            .service_level
            .map_or_else(|| "-".into(), |v| format!("{:.0}%", v * 100.0));
        let _ = writeln!(
            out,
            "{:<12} {:<18} {:>7} {:>7}s {:>8} {:>9} {:>6} {:>8} {:>8} {:>13}",
            clean(&q.source),
            clean(&q.queue),
            q.waiting,
            q.longest_wait_seconds,
            q.answered_today,
            q.abandoned_today,
            format!("{sla}/{}s", q.sla_seconds),
            secs(q.avg_wait_seconds),
            secs(q.avg_talk_seconds),
            format!(
                "{}/{}/{}/{}",
                q.agents_available, q.agents_busy, q.agents_paused, q.agents_logged_out
            ),
        );
    }
    if !waiting.is_empty() {
        out.push_str("\nWAITING\n");
        for w in waiting {
            let _ = writeln!(
                out,
                "  {:<12} {:<18} {:<24} {:<18} {}s since {}",
                clean(&w.source),
                clean(&w.queue),
                clean(&w.call_id),
                opt(w.from_number.as_deref()),
                w.wait_seconds,
                when(Some(w.entered_at)),
            );
        }
    }
    out
}

/// Renders the queues' settings.
pub fn queue_settings(list: &[QueueSettings]) -> String {
    let mut out = format!("{:<12} {:<18} {:>4}\n", "SOURCE", "QUEUE", "SLA");
    if list.is_empty() {
        out.push_str("(no settings: every queue answers within 20 s)\n");
    }
    for s in list {
        let _ = writeln!(
            out,
            "{:<12} {:<18} {:>3}s",
            clean(&s.source),
            clean(&s.queue),
            s.sla_seconds
        );
    }
    out
}

/// Renders the missed calls to return, the latest first.
pub fn missed(rows: &[MissedCallView]) -> String {
    let mut out = format!(
        "{:<12} {:<20} {:>5} {:<19} {:<10} {}\n",
        "SOURCE", "NUMBER", "CALLS", "LAST (UTC)", "WHY", "LAST CALL"
    );
    if rows.is_empty() {
        out.push_str("(nobody to call back)\n");
    }
    for m in rows {
        let _ = writeln!(
            out,
            "{:<12} {:<20} {:>5} {:<19} {:<10} {}",
            clean(&m.source),
            clean(&m.number),
            m.missed_count,
            when(m.last_at),
            opt(m.last_reason.as_deref()),
            opt(m.last_call_id.as_deref()),
        );
    }
    out
}

/// Renders the audit of missed calls marked done, newest first.
pub fn missed_audit(rows: &[DoneRow]) -> String {
    let mut out = format!(
        "{:<7} {:<19} {:<16} {:<12} {:<20} {:>5} {}\n",
        "ID", "AT (UTC)", "USER", "SOURCE", "NUMBER", "CALLS", "THROUGH"
    );
    if rows.is_empty() {
        out.push_str("(nothing marked done)\n");
    }
    for r in rows {
        let _ = writeln!(
            out,
            "{:<7} {:<19} {:<16} {:<12} {:<20} {:>5} {}",
            r.id,
            r.at.format("%Y-%m-%d %H:%M:%S"),
            clean(&r.user_name),
            clean(&r.source),
            clean(&r.number),
            r.missed_count,
            when(r.done_through),
        );
    }
    out
}

/// Renders a page of the history as a table.
pub fn history(calls: &[HistoryCall]) -> String {
    let mut out = format!(
        "{:<19} {:<12} {:<24} {:<9} {:<18} {:<18} {:<10} {:>5} {}\n",
        "START (UTC)", "SOURCE", "CALL", "DIRECTION", "FROM", "TO", "OUTCOME", "TALK", "QUEUES"
    );
    if calls.is_empty() {
        out.push_str("(no calls)\n");
    }
    for c in calls {
        let _ = writeln!(
            out,
            "{:<19} {:<12} {:<24} {:<9} {:<18} {:<18} {:<10} {:>5} {}",
            when(Some(c.start)),
            clean(&c.source),
            clean(&c.call_id),
            opt(c.direction.as_deref()),
            opt(c.from_number.as_deref()),
            opt(c.to_number.as_deref()),
            opt(c.outcome.as_deref()),
            c.talk_seconds
                .map_or_else(|| "-".into(), |t| format!("{t}s")),
            clean(&c.queues.join(",")),
        );
    }
    out
}

/// The columns of [`history_csv`].
const CSV_HEADER: &str = "start,source,call_id,direction,from_number,to_number,started_at,\
answered_at,ended_at,duration_seconds,talk_seconds,disposition,outcome,failure_reason,queues,\
extensions,recording_url";

/// One CSV field (RFC 4180): quoted when it holds a comma, a quote or a
/// line break, with quotes doubled.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Renders calls as CSV lines (RFC 4180), with the header first when
/// `header`; times in RFC 3339 (UTC), empty fields for what is unknown.
pub fn history_csv(calls: &[HistoryCall], header: bool) -> String {
    let mut out = String::new();
    if header {
        out.push_str(CSV_HEADER);
        out.push('\n');
    }
    let t = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
    let n = |n: Option<i32>| n.map(|n| n.to_string()).unwrap_or_default();
    for c in calls {
        let fields = [
            c.start.to_rfc3339(),
            c.source.clone(),
            c.call_id.clone(),
            c.direction.clone().unwrap_or_default(),
            c.from_number.clone().unwrap_or_default(),
            c.to_number.clone().unwrap_or_default(),
            t(c.started_at),
            t(c.answered_at),
            t(c.ended_at),
            n(c.duration_seconds),
            n(c.talk_seconds),
            c.disposition.clone().unwrap_or_default(),
            c.outcome.clone().unwrap_or_default(),
            c.failure_reason.clone().unwrap_or_default(),
            c.queues.join(" "),
            c.extensions.join(" "),
            c.recording_url.clone().unwrap_or_default(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_it() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(CSV_HEADER.split(',').count(), 17);
    }
}
