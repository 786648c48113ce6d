//! What the operator commands print: the stats table, the extension board,
//! the source list; the queues, missed calls and history
//! (`callcentre.rs`). Pure text from what the queries returned.

mod callcentre;
mod console;

use std::fmt::Write as _;

pub use callcentre::{history, history_csv, missed, missed_audit, queue_settings, queues};
pub use console::console_audit;

use domain::projection::read::{CallView, ExtensionView};
use store::apis::{ActionRow, ApiLine};
use store::inbox::Stats;
use store::sources::{SecretLine, SourceLine};
use store::users::User;

/// How a secret is shown: its id, length and a keyed fingerprint (which
/// tells the source's secrets apart without revealing any part of them),
/// its key, creation and expiry.
pub fn secret_line(k: &SecretLine) -> String {
    let mut out = format!(
        "secret #{:<6} {:>4} bytes  fp {}  created {}",
        k.id,
        k.len,
        k.fingerprint,
        k.created_at.format("%Y-%m-%d %H:%M:%S")
    );
    match (k.expires_at, k.expired) {
        (Some(at), true) => {
            let _ = write!(out, "  EXPIRED {}", at.format("%Y-%m-%d %H:%M:%S"));
        }
        (Some(at), false) => {
            let _ = write!(out, "  expires {}", at.format("%Y-%m-%d %H:%M:%S"));
        }
        (None, _) => {}
    }
    match &k.key_id {
        None => out.push_str("  PLAINTEXT (run `worker migrate` with the key to seal it)"),
        Some(id) if !k.key_loaded => {
            let _ = write!(out, "  key {id} NOT LOADED (does not open: set it as SWITCHBOARD_SECRETS_KEY_PREVIOUS, then `worker source rekey`)");
        }
        Some(id) => {
            let _ = write!(out, "  key {id}");
        }
    }
    out
}

/// How a source's API settings are shown: provider, base URL, the start of
/// the client id (Yeastar), a keyed fingerprint of the credentials, the key
/// they are sealed under, and when they were set; never a credential.
pub fn api_line(a: &ApiLine) -> String {
    let mut out = format!("api {} {}", a.provider, a.base_url);
    if let Some(h) = &a.client_hint {
        let _ = write!(out, "  client {h}");
    }
    let _ = write!(
        out,
        "  fp {}  set {}",
        a.fingerprint,
        a.updated_at.format("%Y-%m-%d %H:%M:%S")
    );
    if a.key_loaded {
        let _ = write!(out, "  key {}", a.key_id);
    } else {
        let _ = write!(out, "  key {} NOT LOADED (does not open: set it as SWITCHBOARD_SECRETS_KEY_PREVIOUS, then `worker source rekey`)", a.key_id);
    }
    out
}

/// Renders `source list`: one line per source, then one per secret that is
/// not revoked, then its API settings (Yeastar and Dialpad sources).
pub fn sources(lines: &[SourceLine], apis: &[ApiLine]) -> String {
    let mut out = format!(
        "{:<20} {:<9} {:<8} {:<15} {:<20} {:<19} {}\n",
        "NAME", "PROVIDER", "ENABLED", "ALLOW_UNSIGNED", "NETWORKS", "CREATED", "TIMEZONE"
    );
    for s in lines {
        let networks = s
            .allowed_networks
            .as_ref()
            .map_or_else(|| "any".to_string(), |n| n.join(","));
        let _ = writeln!(
            out,
            "{:<20} {:<9} {:<8} {:<15} {:<20} {} {}",
            s.name,
            s.provider,
            s.enabled,
            if s.allow_unsigned {
                "YES (unsigned)"
            } else {
                "no"
            },
            networks,
            s.created_at.format("%Y-%m-%d %H:%M:%S"),
            s.timezone,
        );
        for k in &s.secrets {
            let _ = writeln!(out, "    {}", secret_line(k));
        }
        if s.usable_secrets() == 0 {
            out.push_str(if s.allow_unsigned {
                "    (no secret: webhooks are accepted WITHOUT a signature)\n"
            } else {
                "    (no usable secret: every webhook is refused; add one with `worker source add-secret`)\n"
            });
        }
        match apis.iter().find(|a| a.source == s.name) {
            Some(a) => {
                let _ = writeln!(out, "    {}", api_line(a));
            }
            None if s.provider == "yeastar" || s.provider == "dialpad" => {
                let _ = writeln!(
                    out,
                    "    (no API: the board cannot hang up its calls; see `worker source set-api {}`)",
                    s.name
                );
            }
            None => {}
        }
    }
    out
}

/// Renders board users as the table of `worker user list` (never a hash).
pub fn users(users: &[User]) -> String {
    let mut out = format!(
        "{:<24} {:<9} {:<19} {}\n",
        "NAME", "ROLE", "CREATED", "DISABLED"
    );
    for u in users {
        let _ = writeln!(
            out,
            "{:<24} {:<9} {:<19} {}",
            u.name,
            u.role,
            u.created_at.format("%Y-%m-%d %H:%M:%S"),
            u.disabled_at.map_or_else(
                || "-".to_string(),
                |d| d.format("%Y-%m-%d %H:%M:%S").to_string()
            ),
        );
    }
    out
}

/// Renders API tokens as the table of `worker token list`.
pub fn tokens(tokens: &[store::access::Token]) -> String {
    let when = |d: Option<chrono::DateTime<chrono::Utc>>| {
        d.map_or_else(
            || "-".to_string(),
            |d| d.format("%Y-%m-%d %H:%M:%S").to_string(),
        )
    };
    let mut out = format!(
        "{:<24} {:<19} {:<19} {}\n",
        "NAME", "CREATED", "LAST USED", "REVOKED"
    );
    for t in tokens {
        let _ = writeln!(
            out,
            "{:<24} {:<19} {:<19} {}",
            t.name,
            t.created_at.format("%Y-%m-%d %H:%M:%S"),
            when(t.last_used_at),
            when(t.revoked_at),
        );
    }
    out
}

/// Renders the audit of actions as the table of `worker audit`, newest
/// first; the provider's answer last, on one line.
pub fn audit(rows: &[ActionRow]) -> String {
    let mut out = format!(
        "{:<7} {:<19} {:<16} {:<12} {:<26} {:<22} {:<24} {:<14} {:>6}  {}\n",
        "ID",
        "AT (UTC)",
        "USER",
        "SOURCE",
        "ACTION",
        "CALL / EXT",
        "LEG",
        "OUTCOME",
        "MS",
        "ANSWER"
    );
    if rows.is_empty() {
        out.push_str("(no actions)\n");
    }
    // What the phone system answered, and ids from the request's path,
    // may hold anything: `clean` keeps control characters off the terminal.
    for r in rows {
        let answer = clean(r.provider_answer.as_deref().unwrap_or("-"));
        let action = match &r.detail {
            Some(d) => format!("{} {}", r.action, clean(d)),
            None => r.action.clone(),
        };
        let target = match (&r.call_id, &r.extension) {
            (Some(c), _) => clean(c),
            (None, Some(e)) => format!("ext {}", clean(e)),
            (None, None) => "-".to_string(),
        };
        let _ = writeln!(
            out,
            "{:<7} {:<19} {:<16} {:<12} {:<26} {:<22} {:<24} {:<14} {:>6}  {}",
            r.id,
            r.at.format("%Y-%m-%d %H:%M:%S"),
            r.user_name,
            r.source,
            action,
            target,
            clean(r.leg_id.as_deref().unwrap_or("-")),
            r.outcome,
            r.duration_ms
                .map_or_else(|| "-".to_string(), |d| d.to_string()),
            answer,
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

/// Text from the database or a phone system, on one line without control
/// characters (they never reach the terminal).
pub(crate) fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use store::apis::ApiLine;
    use store::sources::{SecretLine, SourceLine};

    use super::sources;

    fn secret(id: i64, fingerprint: &str) -> SecretLine {
        SecretLine {
            id,
            created_at: chrono::Utc
                .with_ymd_and_hms(2026, 11, 22, 10, 0, 0)
                .unwrap(),
            expires_at: None,
            expired: false,
            len: 38,
            fingerprint: fingerprint.to_string(),
            key_id: Some("0badf00d".to_string()),
            key_loaded: true,
        }
    }

    #[test]
    fn secrets_show_id_length_fingerprint_never_a_prefix() {
        let mut old = secret(3, "1a2b3c4d");
        old.expires_at = Some(
            chrono::Utc
                .with_ymd_and_hms(2026, 11, 23, 10, 0, 0)
                .unwrap(),
        );
        let line = SourceLine {
            name: "crm".to_string(),
            provider: "standard".to_string(),
            enabled: true,
            allow_unsigned: false,
            allowed_networks: Some(vec!["10.0.0.0/8".to_string()]),
            created_at: chrono::Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap(),
            timezone: "UTC".into(),
            secrets: vec![old, secret(5, "9f8e7d6c")],
        };
        let out = sources(&[line], &[]);
        assert!(out.contains("secret #3"), "{out}");
        assert!(out.contains("38 bytes  fp 1a2b3c4d"), "{out}");
        assert!(out.contains("expires 2026-11-23 10:00:00"), "{out}");
        assert!(out.contains("fp 9f8e7d6c"), "{out}");
        assert!(out.contains("10.0.0.0/8"), "{out}");
        assert!(!out.contains("whse"), "{out}");
        assert!(!out.contains("no usable secret"), "{out}");
    }

    #[test]
    fn unsigned_and_dead_sources_say_so() {
        let mut line = SourceLine {
            name: "dp".to_string(),
            provider: "dialpad".to_string(),
            enabled: true,
            allow_unsigned: true,
            allowed_networks: None,
            created_at: chrono::Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap(),
            timezone: "UTC".into(),
            secrets: vec![],
        };
        let out = sources(std::slice::from_ref(&line), &[]);
        assert!(
            out.contains("YES (unsigned)") && out.contains("WITHOUT a signature"),
            "{out}"
        );
        line.allow_unsigned = false;
        let mut expired = secret(1, "00000000");
        expired.expired = true;
        expired.expires_at = Some(
            chrono::Utc
                .with_ymd_and_hms(2026, 11, 22, 11, 0, 0)
                .unwrap(),
        );
        line.secrets = vec![expired];
        let out = sources(&[line], &[]);
        assert!(
            out.contains("EXPIRED") && out.contains("every webhook is refused"),
            "{out}"
        );
        assert!(out.contains("no API"), "{out}");
    }

    #[test]
    fn api_settings_show_a_hint_and_a_fingerprint_only() {
        let line = SourceLine {
            name: "pbx".to_string(),
            provider: "yeastar".to_string(),
            enabled: true,
            allow_unsigned: false,
            allowed_networks: None,
            created_at: chrono::Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap(),
            timezone: "UTC".into(),
            secrets: vec![secret(1, "00000000")],
        };
        let api = ApiLine {
            source: "pbx".to_string(),
            provider: "yeastar".to_string(),
            base_url: "https://pbx.example.com:8088".to_string(),
            client_hint: Some("UEnH…".to_string()),
            fingerprint: "5e5e5e5e".to_string(),
            key_id: "0badf00d".to_string(),
            key_loaded: false,
            updated_at: chrono::Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap(),
        };
        let out = sources(&[line], &[api]);
        assert!(
            out.contains("api yeastar https://pbx.example.com:8088  client UEnH…  fp 5e5e5e5e"),
            "{out}"
        );
        assert!(out.contains("NOT LOADED"), "{out}");
        assert!(!out.contains("no API"), "{out}");
    }
}
