//! Why the database is unavailable, sorted for operators: the cause that
//! `/readyz`, `worker stats`, the logs and the `cause` label of the
//! metrics name. PostgreSQL's SQLSTATE decides where it is known (diesel
//! keeps it only as a few error kinds; connection failures carry it as
//! `(SQLSTATE XXXXX)` in their text, see `tls::target`), else the message
//! (PostgreSQL's in English, `lc_messages = 'C'` or `en_*`; the operating
//! system's; this crate's own).

use std::fmt;

/// Why the database is unavailable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// The disk is full (53100): PostgreSQL cannot extend a file or write
    /// WAL (the latter stops the server).
    DiskFull,
    /// Writes are refused: a read-only transaction (25006), a hot standby,
    /// `default_transaction_read_only`, or no host that takes writes.
    ReadOnly,
    /// The server is starting up, in recovery or shutting down (57P03).
    Starting,
    /// The server ended the session: shutdown, or a crash of another
    /// server process (57P01, 57P02).
    Shutdown,
    /// Out of connection slots (53300).
    TooManyConnections,
    /// Out of memory or another resource (53200, 53000).
    OutOfMemory,
    /// A deadline passed: connecting, an answer, a statement or lock
    /// timeout (57014, 55P03), an idle transaction ended (25P03), or no
    /// pooled connection in time.
    Timeout,
    /// No server accepted a connection (refused, no route, no such host).
    Unreachable,
    /// An open connection broke (08xxx, closed, reset).
    ConnectionLost,
    /// Unavailable for another reason.
    Other,
}

/// Every cause, in the order they are looked for (the first that matches
/// wins, so that "a: refused; b: read-only" is `read_only`).
pub const CAUSES: [Cause; 10] = [
    Cause::DiskFull,
    Cause::ReadOnly,
    Cause::Starting,
    Cause::Shutdown,
    Cause::TooManyConnections,
    Cause::OutOfMemory,
    Cause::Timeout,
    Cause::Unreachable,
    Cause::ConnectionLost,
    Cause::Other,
];

impl Cause {
    /// The name operators see (`disk_full`, `read_only`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::DiskFull => "disk_full",
            Cause::ReadOnly => "read_only",
            Cause::Starting => "starting",
            Cause::Shutdown => "shutdown",
            Cause::TooManyConnections => "too_many_connections",
            Cause::OutOfMemory => "out_of_memory",
            Cause::Timeout => "timeout",
            Cause::Unreachable => "unreachable",
            Cause::ConnectionLost => "connection_lost",
            Cause::Other => "other",
        }
    }

    /// Whether the server answers but refuses writes: reads succeeding
    /// do not mean it is over.
    pub fn refuses_writes(self) -> bool {
        matches!(self, Cause::DiskFull | Cause::ReadOnly)
    }

    /// The SQLSTATE codes (exact, or a class prefix) and message fragments
    /// that mean this cause.
    fn signs(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Cause::DiskFull => (
                &["53100"],
                &[
                    "No space left on device",
                    "could not extend file",
                    "disk full",
                ],
            ),
            Cause::ReadOnly => (
                &["25006"],
                &[
                    "read-only transaction",
                    "during recovery",
                    "is read-only",
                    "hot standby",
                ],
            ),
            Cause::Starting => (
                &["57P03"],
                &[
                    "the database system is starting up",
                    "the database system is in recovery mode",
                    "the database system is not yet accepting connections",
                    "the database system is not accepting connections",
                    "the database system is shutting down",
                ],
            ),
            Cause::Shutdown => (
                &["57P01", "57P02"],
                &[
                    "terminating connection due to administrator command",
                    "terminating connection because of crash",
                ],
            ),
            Cause::TooManyConnections => (
                &["53300"],
                &["too many connections", "remaining connection slots"],
            ),
            Cause::OutOfMemory => (&["53200", "53000"], &["out of memory"]),
            Cause::Timeout => (
                &["57014", "55P03", "25P03"],
                &[
                    "timed out",
                    "timeout",
                    "Timeout occurred",
                    "no answer within",
                    "sent nothing back within",
                ],
            ),
            Cause::Unreachable => (
                &["08001", "08004"],
                &[
                    "Connection refused",
                    "No route to host",
                    "Network is unreachable",
                    "failed to lookup address",
                    "Name or service not known",
                    "cannot reach",
                ],
            ),
            Cause::ConnectionLost => (
                &["08"],
                &[
                    "connection closed",
                    "closed the connection",
                    "Broken pipe",
                    "Connection reset",
                    "unexpected EOF",
                    "error communicating with the server",
                    "terminating connection",
                ],
            ),
            Cause::Other => (&[], &[]),
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The cause that `code` (a SQLSTATE, when known) and `text` (the error
/// with its causes) name: the first of [`CAUSES`] whose code or message
/// appears, else [`Cause::Other`]. Codes written into the text as
/// `SQLSTATE XXXXX` count as codes.
pub fn classify(code: Option<&str>, text: &str) -> Cause {
    let mut codes: Vec<&str> = code.into_iter().collect();
    let mut rest = text;
    while let Some(at) = rest.find("SQLSTATE ") {
        let c = rest[at + 9..].get(..5).unwrap_or("");
        if c.chars().all(|ch| ch.is_ascii_alphanumeric()) && c.len() == 5 {
            codes.push(c);
        }
        rest = &rest[at + 9..];
    }
    CAUSES
        .into_iter()
        .find(|cause| {
            let (prefixes, fragments) = cause.signs();
            codes
                .iter()
                .any(|c| prefixes.iter().any(|p| c.starts_with(p)))
                || fragments.iter().any(|f| text.contains(f))
        })
        .unwrap_or(Cause::Other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_then_messages_in_order() {
        assert_eq!(classify(Some("53100"), "whatever"), Cause::DiskFull);
        assert_eq!(classify(Some("25006"), ""), Cause::ReadOnly);
        assert_eq!(classify(Some("57P01"), ""), Cause::Shutdown);
        assert_eq!(classify(Some("57P02"), ""), Cause::Shutdown);
        assert_eq!(classify(Some("57P03"), ""), Cause::Starting);
        assert_eq!(classify(Some("08006"), ""), Cause::ConnectionLost);
        assert_eq!(
            classify(
                None,
                "db error: FATAL: sorry, too many clients (SQLSTATE 53300)"
            ),
            Cause::TooManyConnections
        );
        assert_eq!(
            classify(
                None,
                r#"PANIC: could not write to file "pg_wal/xlogtemp.17": No space left on device"#
            ),
            Cause::DiskFull
        );
        assert_eq!(
            classify(None, "cannot execute INSERT in a read-only transaction"),
            Cause::ReadOnly
        );
        assert_eq!(
            classify(None, "FATAL: the database system is in recovery mode"),
            Cause::Starting
        );
        assert_eq!(
            classify(
                None,
                "a:5432: cannot reach a:5432: Connection refused (os error 111)"
            ),
            Cause::Unreachable
        );
        assert_eq!(
            classify(None, "no host accepted the connection: a:1: cannot reach a:1: Connection refused (os error 111); b:2: the server is read-only (a standby?), and target_session_attrs=read-write wants a primary (SQLSTATE 25006)"),
            Cause::ReadOnly
        );
        assert_eq!(
            classify(
                None,
                "a:1: no answer within 2s (connect_timeout; timed out)"
            ),
            Cause::Timeout
        );
        assert_eq!(classify(None, "connection closed"), Cause::ConnectionLost);
        assert_eq!(classify(None, "something else"), Cause::Other);
    }

    #[test]
    fn names_are_stable() {
        let names: Vec<&str> = CAUSES.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            names,
            [
                "disk_full",
                "read_only",
                "starting",
                "shutdown",
                "too_many_connections",
                "out_of_memory",
                "timeout",
                "unreachable",
                "connection_lost",
                "other"
            ]
        );
        assert!(Cause::DiskFull.refuses_writes() && Cause::ReadOnly.refuses_writes());
        assert!(!Cause::Unreachable.refuses_writes());
    }
}
