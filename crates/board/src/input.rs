//! What a request says, checked at the edge, before anything reaches the
//! database: text without control characters (a NUL above all, which
//! PostgreSQL refuses in `text`, and which once made a login answer "the
//! database is unavailable"), within the length anything valid can have,
//! of the shape it must have. Bad input is answered like any other (400,
//! or 401 where it stands for who is asking), with no query and no error
//! log.
//!
//! Where each value is checked: form fields in `routes::login` (a name or
//! password no account can have), query parameters and path segments here
//! ([`source`], [`call_ids`]), the session cookie and the bearer token in
//! `auth` (with [`store::access`]'s shape checks), `Last-Event-ID` here
//! ([`last_event_id`]). `Origin` and `Referer` are only compared, and asset
//! names only matched. The call centre's parameters (queues, extensions,
//! numbers, dispositions, times, cursors, the body of "mark done") are
//! checked with [`is_text`] and [`source`] in `callcentre::api` and
//! `callcentre::history`.

use actix_web::HttpRequest;

use crate::error::BoardError;

/// Longest call id or leg id accepted (bytes).
pub const MAX_ID_LEN: usize = 200;
/// Longest `Last-Event-ID` that can be one of ours: 8 hex digits, `-`, a
/// 64-bit sequence number.
const MAX_EVENT_ID_LEN: usize = 8 + 1 + 20;

/// Whether `value` is plain text of at most `max` bytes: no control
/// character (NUL, line breaks, escapes, DEL, C1).
pub fn is_text(value: &str, max: usize) -> bool {
    value.len() <= max && !value.chars().any(char::is_control)
}

/// A source name given as a parameter (`?source=`, a path segment): 400
/// `invalid source` unless it has a source name's shape.
pub fn source(value: &str) -> Result<&str, BoardError> {
    if store::sources::valid_name(value) {
        Ok(value)
    } else {
        Err(BoardError::BadRequest("invalid source".into()))
    }
}

/// [`source`] of an optional parameter.
pub fn optional_source(value: Option<&str>) -> Result<Option<&str>, BoardError> {
    value.map(source).transpose()
}

/// The ids of a hang-up (400 otherwise): a valid source name (`no such
/// source`), and call and leg ids that are text of 1 to [`MAX_ID_LEN`]
/// bytes.
pub fn call_ids(source: &str, call_id: &str, leg_id: &str) -> Result<(), BoardError> {
    if !store::sources::valid_name(source) {
        return Err(BoardError::BadRequest("no such source".into()));
    }
    for (what, id) in [("call id", call_id), ("leg_id", leg_id)] {
        if id.is_empty() || !is_text(id, MAX_ID_LEN) {
            return Err(BoardError::BadRequest(format!("invalid {what}")));
        }
    }
    Ok(())
}

/// The request's `Last-Event-ID` when it can be an id of this board's
/// shape; anything else counts as none (the stream starts from a
/// snapshot: a 4xx would stop the browser's `EventSource` for good).
pub fn last_event_id(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_text(v, MAX_EVENT_ID_LEN))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn text_has_no_control_characters_and_a_bound() {
        assert!(is_text("pbx-1 ünïcode", 20));
        for bad in ["a\0b", "a\nb", "\u{1b}[31m", "\u{7f}", "\u{85}"] {
            assert!(!is_text(bad, 20), "{bad:?}");
        }
        assert!(!is_text(&"a".repeat(21), 20));
    }

    #[test]
    fn sources_and_ids() {
        assert!(source("pbx").is_ok());
        for bad in ["", "a\0b", "PBX", "\u{fffd}", &"a".repeat(64)] {
            assert!(source(bad).is_err(), "{bad:?}");
        }
        assert!(matches!(optional_source(None), Ok(None)));
        assert!(call_ids("pbx", "1790000001.1", "PJSIP/2002-1790000001.1").is_ok());
        assert!(call_ids("PBX", "1", "1").is_err());
        assert!(call_ids("pbx", "", "1").is_err());
        assert!(call_ids("pbx", "1", "a\u{1b}[31m").is_err());
        assert!(call_ids("pbx", "c\0", "1").is_err());
        assert!(call_ids("pbx", &"1".repeat(MAX_ID_LEN + 1), "1").is_err());
    }

    #[test]
    fn only_an_id_of_our_shape_is_a_last_event_id() {
        let with = |v: &str| {
            TestRequest::get()
                .insert_header(("Last-Event-ID", v))
                .to_http_request()
        };
        assert_eq!(last_event_id(&with("0badf00d-42")), Some("0badf00d-42"));
        let r = with(&"1".repeat(100));
        assert_eq!(last_event_id(&r), None);
        assert_eq!(last_event_id(&TestRequest::get().to_http_request()), None);
    }
}
