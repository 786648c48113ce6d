//! What the tests of every scheme share: a clock, options, secrets and
//! headers.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::{SignatureError, SignedHeaders, Verified, VerifyOptions, DEFAULT_JWT_LEEWAY_SECS};

pub(super) const NOW: i64 = 1_700_000_000;

pub(super) fn opts(now: i64) -> VerifyOptions {
    VerifyOptions {
        timestamp_tolerance_secs: 300,
        now_unix: now,
        jwt_leeway_secs: DEFAULT_JWT_LEEWAY_SECS,
        allow_unsigned: false,
    }
}

pub(super) fn unsigned_ok(now: i64) -> VerifyOptions {
    VerifyOptions {
        allow_unsigned: true,
        ..opts(now)
    }
}

pub(super) fn secrets(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| s.to_string()).collect()
}

pub(super) fn whsec() -> String {
    format!(
        "whsec_{}",
        STANDARD.encode(b"0123456789abcdef0123456789abcdef")
    )
}
pub(super) fn signed(dedup_key: String) -> Result<Verified, SignatureError> {
    Ok(Verified {
        dedup_key,
        signed: true,
    })
}

pub(super) fn std_headers<'a>(sig: &'a str, ts: &'a str) -> SignedHeaders<'a> {
    SignedHeaders {
        webhook_id: Some("msg_1"),
        webhook_timestamp: Some(ts),
        webhook_signature: Some(sig),
        ..Default::default()
    }
}
