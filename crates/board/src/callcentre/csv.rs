//! The history as CSV (RFC 4180): one header line, one line per call. A
//! cell a spreadsheet would run as a formula (starting with `=`, `@`, a tab
//! or a carriage return, or with `+` or `-` not followed by a digit, so
//! that phone numbers stay numbers) is prefixed with `'`.

use domain::projection::read::HistoryCall;

const COLUMNS: [&str; 17] = [
    "start",
    "source",
    "call_id",
    "direction",
    "from_number",
    "to_number",
    "status",
    "outcome",
    "disposition",
    "failure_reason",
    "answered_at",
    "ended_at",
    "duration_seconds",
    "talk_seconds",
    "queues",
    "extensions",
    "recording_url",
];

/// The header line.
pub fn header() -> String {
    let mut s = COLUMNS.join(",");
    s.push_str("\r\n");
    s
}

/// One cell, quoted when needed, defused when a spreadsheet would run it.
fn cell(out: &mut String, v: &str) {
    let first = v.chars().next();
    let second = v.chars().nth(1);
    let formula = matches!(first, Some('=' | '@' | '\t' | '\r'))
        || (matches!(first, Some('+' | '-')) && !second.is_some_and(|c| c.is_ascii_digit()));
    let v = if formula {
        format!("'{v}")
    } else {
        v.to_string()
    };
    if v.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&v);
    }
}

/// Appends the line of `c`.
pub fn row(out: &mut String, c: &HistoryCall) {
    let t =
        |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
    let n = |n: Option<i32>| n.map(|n| n.to_string()).unwrap_or_default();
    let o = |s: &Option<String>| s.clone().unwrap_or_default();
    let cells = [
        c.start.to_rfc3339(),
        c.source.clone(),
        c.call_id.clone(),
        o(&c.direction),
        o(&c.from_number),
        o(&c.to_number),
        c.status.clone(),
        o(&c.outcome),
        o(&c.disposition),
        o(&c.failure_reason),
        t(c.answered_at),
        t(c.ended_at),
        n(c.duration_seconds),
        n(c.talk_seconds),
        c.queues.join(" "),
        c.extensions.join(" "),
        o(&c.recording_url),
    ];
    for (i, v) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        cell(out, v);
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(v: &str) -> String {
        let mut s = String::new();
        cell(&mut s, v);
        s
    }

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        assert_eq!(one("+15555550101"), "+15555550101");
        assert_eq!(one("-5"), "-5");
        assert_eq!(one("plain"), "plain");
        assert_eq!(one("a,b"), "\"a,b\"");
        assert_eq!(one("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(one("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(one("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(one("+cmd"), "'+cmd");
        assert_eq!(one("line\nbreak"), "\"line\nbreak\"");
        assert_eq!(header().matches(',').count(), COLUMNS.len() - 1);
    }
}
