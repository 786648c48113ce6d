//! What `worker audit --console` prints: the replays, resends and
//! recoveries operators asked for in the board's console.

use std::fmt::Write as _;

use store::console::ActionRow;

use super::clean;

/// Renders the console's audit as a table, newest first.
pub fn console_audit(rows: &[ActionRow]) -> String {
    let mut out = format!(
        "{:<7} {:<19} {:<16} {:<12} {:>6} {}\n",
        "ID", "AT (UTC)", "USER", "ACTION", "COUNT", "TARGET"
    );
    if rows.is_empty() {
        out.push_str("(nothing done from the console)\n");
    }
    for r in rows {
        let _ = writeln!(
            out,
            "{:<7} {:<19} {:<16} {:<12} {:>6} {}",
            r.id,
            r.at.format("%Y-%m-%d %H:%M:%S"),
            clean(&r.user_name),
            clean(&r.action),
            r.count,
            clean(&r.target),
        );
    }
    out
}
