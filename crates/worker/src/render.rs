//! What the operator commands print: the stats table, the extension board,
//! the source list. Pure text from what the queries returned.

use std::fmt::Write as _;

use domain::projection::read::{CallView, ExtensionView};
use store::inbox::Stats;
use store::sources::SourceLine;

/// Shows the start of a secret, never all of it.
pub fn mask_secret(s: &str) -> String {
    let shown: String = s.chars().take(4).collect();
    format!("{shown}… ({} chars)", s.chars().count())
}

/// Renders `source list`.
pub fn sources(lines: &[SourceLine]) -> String {
    let mut out = format!(
        "{:<20} {:<9} {:<8} {:<20} SECRETS\n",
        "NAME", "PROVIDER", "ENABLED", "CREATED"
    );
    for s in lines {
        let secrets = if s.secrets.is_empty() {
            "(none: unsigned)".to_string()
        } else {
            s.secrets
                .iter()
                .map(|k| mask_secret(k))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "{:<20} {:<9} {:<8} {:<20} {}",
            s.name,
            s.provider,
            s.enabled,
            s.created_at.format("%Y-%m-%d %H:%M:%S"),
            secrets
        );
    }
    out
}

/// Renders stats as the human table of `worker stats`.
pub fn stats(s: &Stats) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "pending {}   lag {:.1}s   processed last minute {}   last hour {}   retrying {}   dead {}\n\n",
        s.pending, s.lag_seconds, s.processed_last_minute, s.processed_last_hour, s.retrying, s.dead
    ));
    out.push_str(&format!(
        "{:<20} {:<28} {:>9} {:>12}\n",
        "SOURCE", "PENDING EVENT TYPE", "COUNT", "OLDEST (s)"
    ));
    if s.pending_by_type.is_empty() {
        out.push_str("(nothing pending)\n");
    }
    for g in &s.pending_by_type {
        out.push_str(&format!(
            "{:<20} {:<28} {:>9} {:>12.1}\n",
            g.source, g.event_type, g.count, g.oldest_age_seconds
        ));
    }
    out.push('\n');
    out.push_str(&format!(
        "{:<20} {:<8} {}\n",
        "SOURCE", "ENABLED", "LAST RECEIVED"
    ));
    for a in &s.sources {
        out.push_str(&format!(
            "{:<20} {:<8} {}\n",
            a.source,
            a.enabled,
            a.last_received_at.map_or_else(
                || "never".to_string(),
                |t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
            )
        ));
    }
    if !s.recent_errors.is_empty() {
        out.push_str("\nRECENT ERRORS\n");
        for e in &s.recent_errors {
            let mut err = e.last_error.replace('\n', " ");
            if err.chars().count() > 100 {
                err = err.chars().take(100).collect::<String>() + "…";
            }
            out.push_str(&format!(
                "#{:<10} {:<16} {:<22} attempts {:<3} {:<8} {}\n",
                e.id,
                e.source,
                e.event_type.as_deref().unwrap_or("-"),
                e.attempts,
                if e.dead { "dead" } else { "retrying" },
                err
            ));
        }
    }
    out
}

/// Renders the extension board and the most recent calls.
pub fn board(exts: &[ExtensionView], recent: &[CallView]) -> String {
    let dash = || "-".to_string();
    let mut out = format!(
        "{:<16} {:<18} {:<16} {:<8} {}\n",
        "SOURCE", "EXTENSION", "NAME", "STATUS", "LAST SEEN"
    );
    if exts.is_empty() {
        out.push_str("(no extensions yet)\n");
    }
    for e in exts {
        let _ = writeln!(
            out,
            "{:<16} {:<18} {:<16} {:<8} {}",
            e.source,
            e.number,
            e.name.clone().unwrap_or_else(dash),
            e.status,
            e.last_seen
                .map_or_else(dash, |t| t.format("%H:%M:%S").to_string())
        );
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "{:<16} {:<20} {:<8} {:<9} {:<14} {:<14} RECORDING",
        "SOURCE", "CALL", "STATUS", "DIRECTION", "FROM", "TO"
    );
    if recent.is_empty() {
        out.push_str("(no calls yet)\n");
    }
    for c in recent {
        let _ = writeln!(
            out,
            "{:<16} {:<20} {:<8} {:<9} {:<14} {:<14} {}",
            c.source,
            c.call_id,
            c.status,
            c.direction.clone().unwrap_or_else(dash),
            c.from_number.clone().unwrap_or_else(dash),
            c.to_number.clone().unwrap_or_else(dash),
            c.recording_url.clone().unwrap_or_else(dash)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::mask_secret;

    #[test]
    fn masks_show_four_characters() {
        let m = mask_secret("abcdefghijkl");
        assert_eq!(m, "abcd… (12 chars)");
        assert!(!m.contains("efgh"));
    }
}
