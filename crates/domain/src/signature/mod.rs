//! Signature verification (and signing, for senders and tests) of the three
//! provider schemes, on the raw request body.
//!
//! Every check runs against each active secret of a source, so that a secret
//! can be rotated without a gap. A source with no active secret refuses
//! everything unless it was explicitly set up to accept unsigned webhooks
//! ([`VerifyOptions::allow_unsigned`]).
//!
//! Costs are bounded before any MAC is computed: header lengths and the
//! number of Standard Webhooks candidates are capped (see the `MAX_*`
//! constants), and each secret's MAC is computed once per request, whatever
//! the headers hold. Comparisons are constant time.
//!
//! [`verify`] returns what was verified, including the key to deduplicate
//! on ([`Verified::dedup_key`]), so that the key always comes from the bytes
//! the signature covers and not from wrapping a sender could vary.
//!
//! One file per scheme, each with its signing function and its tests:
//! `yeastar.rs`, `dialpad.rs` (a JWT), `standard.rs` (Standard Webhooks).
//! Here: the dispatch, the errors, the options and the deduplication key.

use crate::Provider;

mod dialpad;
mod standard;
mod yeastar;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod hostile;

pub use dialpad::{dialpad_claims, is_plain_json, sign_dialpad};
pub use standard::sign_standard;
pub use yeastar::sign_yeastar;

use dialpad::verify_dialpad;
use standard::verify_standard;
use yeastar::verify_yeastar;

/// Most `webhook-signature` entries looked at (Standard Webhooks). A sender
/// lists one signature per secret it signs with, so a handful covers any
/// rotation; more is refused ([`SignatureError::TooManySignatures`]) before
/// anything is decoded or compared.
pub const MAX_SIGNATURE_CANDIDATES: usize = 8;

/// Longest signature header accepted, in bytes (`webhook-signature`,
/// `X-Signature`): [`MAX_SIGNATURE_CANDIDATES`] Base64 HMAC-SHA256 entries
/// take under 400 bytes. Longer is [`SignatureError::HeaderTooLong`].
pub const MAX_SIGNATURE_HEADER_BYTES: usize = 1024;

/// Longest `webhook-id` accepted, in bytes (it becomes the deduplication
/// key). Longer is [`SignatureError::IdTooLong`].
pub const MAX_WEBHOOK_ID_BYTES: usize = 256;

/// Default leeway for a Dialpad JWT's `exp` and `nbf` claims, in seconds
/// (clock skew between Dialpad and this host).
pub const DEFAULT_JWT_LEEWAY_SECS: i64 = 60;

/// Why a webhook was refused. Each variant is safe to show the sender.
///
/// Each variant says which HTTP answer it deserves: 400 for a request that
/// is malformed whatever the secret (retrying it unchanged cannot succeed,
/// and no secret was tried), 401 for a signature that is missing, wrong,
/// stale or otherwise not accepted. [`SignatureError::is_bad_request`] tells
/// them apart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// 401: a header the scheme needs is absent (or empty).
    #[error("missing signature header {0}")]
    MissingHeader(&'static str),
    /// 401: the signature (header or JWT) cannot be decoded, so it cannot
    /// match.
    #[error("malformed signature: {0}")]
    Malformed(&'static str),
    /// 401: the signature does not match any active secret.
    #[error("signature does not match any active secret")]
    Mismatch,
    /// 401: a JWT whose `alg` is not HS256 (`none` included).
    #[error("unsupported JWT algorithm {0:?}: only HS256 is accepted")]
    Algorithm(String),
    /// 401: plain JSON sent to a Dialpad source that has a secret.
    #[error("this source has a secret: the body must be a signed JWT")]
    Unsigned,
    /// 401: `webhook-timestamp` is outside the tolerance (in seconds) of now.
    #[error("webhook-timestamp is outside the tolerance of {0} s")]
    Timestamp(i64),
    /// 400: `webhook-timestamp` is not an integer (or not one that fits in
    /// 64 bits).
    #[error("webhook-timestamp is not an integer")]
    BadTimestamp,
    /// 401: the JWT's `exp` (plus the leeway) has passed.
    #[error("the JWT has expired")]
    Expired,
    /// 401: the JWT's `nbf` (minus the leeway) is still to come.
    #[error("the JWT is not valid yet")]
    NotYetValid,
    /// 400: `webhook-id` is longer than the limit (bytes).
    #[error("webhook-id exceeds {0} bytes")]
    IdTooLong(usize),
    /// 400: a signature header is longer than the limit (bytes).
    #[error("signature header exceeds {0} bytes")]
    HeaderTooLong(usize),
    /// 400: `webhook-signature` lists more entries than the limit.
    #[error("webhook-signature lists more than {0} signatures")]
    TooManySignatures(usize),
    /// 401: the source has no active secret and does not accept unsigned
    /// webhooks.
    #[error("the source has no active secret")]
    NoSecret,
}

impl SignatureError {
    /// Whether the request is malformed whatever the secret (answer 400)
    /// rather than unauthenticated (answer 401).
    pub fn is_bad_request(&self) -> bool {
        match self {
            SignatureError::BadTimestamp
            | SignatureError::IdTooLong(_)
            | SignatureError::HeaderTooLong(_)
            | SignatureError::TooManySignatures(_) => true,
            SignatureError::MissingHeader(_)
            | SignatureError::Malformed(_)
            | SignatureError::Mismatch
            | SignatureError::Algorithm(_)
            | SignatureError::Unsigned
            | SignatureError::Timestamp(_)
            | SignatureError::Expired
            | SignatureError::NotYetValid
            | SignatureError::NoSecret => false,
        }
    }
}

/// The request headers a signature scheme may need, taken from the request.
#[derive(Debug, Default, Clone, Copy)]
pub struct SignedHeaders<'a> {
    /// Yeastar `X-Signature`.
    pub x_signature: Option<&'a str>,
    /// Standard Webhooks `webhook-id`.
    pub webhook_id: Option<&'a str>,
    /// Standard Webhooks `webhook-timestamp` (Unix seconds).
    pub webhook_timestamp: Option<&'a str>,
    /// Standard Webhooks `webhook-signature`.
    pub webhook_signature: Option<&'a str>,
}

/// Knobs of verification that are configuration, not provider facts.
#[derive(Debug, Clone, Copy)]
pub struct VerifyOptions {
    /// Standard Webhooks timestamp tolerance, seconds either side of `now`.
    pub timestamp_tolerance_secs: i64,
    /// The current time (Unix seconds), passed in so tests can move it.
    pub now_unix: i64,
    /// Leeway for a Dialpad JWT's `exp` and `nbf` claims, in seconds
    /// (usually [`DEFAULT_JWT_LEEWAY_SECS`]; a negative value counts as 0).
    pub jwt_leeway_secs: i64,
    /// Whether a source with no active secret accepts unsigned webhooks
    /// (Dialpad plain JSON; Yeastar and Standard without their signature
    /// headers). When false such a source refuses everything
    /// ([`SignatureError::NoSecret`]). With a secret it changes nothing: a
    /// valid signature is always required.
    pub allow_unsigned: bool,
}

/// What [`verify`] accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The per-source deduplication key, derived from what the signature
    /// covers: Standard `id:{webhook-id}`; Dialpad `sha256:` of the token
    /// (the body without surrounding ASCII whitespace); Yeastar `sha256:` of
    /// the raw body. For an unsigned source, the same keys from the body and
    /// headers as sent.
    pub dedup_key: String,
    /// Whether a signature was checked (false only when the source has no
    /// secret and accepts unsigned webhooks).
    pub signed: bool,
}

/// Verifies `body` as sent by a source of `provider` with the given active
/// `secrets`. Returns what was verified when the body may be stored.
pub fn verify(
    provider: Provider,
    secrets: &[String],
    headers: &SignedHeaders<'_>,
    body: &[u8],
    opts: &VerifyOptions,
) -> Result<Verified, SignatureError> {
    let signed = match provider {
        Provider::Yeastar => verify_yeastar(secrets, headers.x_signature, body, opts),
        Provider::Dialpad => verify_dialpad(secrets, body, opts),
        Provider::Standard => verify_standard(secrets, headers, body, opts),
    }?;
    Ok(Verified {
        dedup_key: dedup_key(provider, headers, body),
        signed,
    })
}

/// The deduplication key of a request, from what its signature covers:
/// [`verify`] returns it with what it accepted (and tests use it to predict
/// a stored row's key).
pub fn dedup_key(provider: Provider, headers: &SignedHeaders<'_>, body: &[u8]) -> String {
    match provider {
        Provider::Yeastar => sha256_key(body),
        Provider::Dialpad => sha256_key(body.trim_ascii()),
        Provider::Standard => match headers.webhook_id {
            Some(id) if !id.is_empty() => id_key(id),
            _ => sha256_key(body),
        },
    }
}

fn id_key(id: &str) -> String {
    format!("id:{id}")
}

pub(super) fn sha256_key(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut key = String::with_capacity(7 + 64);
    key.push_str("sha256:");
    for b in digest.as_ref() {
        key.push(hex_digit(b >> 4));
        key.push(hex_digit(b & 0x0f));
    }
    key
}

fn hex_digit(n: u8) -> char {
    char::from(if n < 10 { b'0' + n } else { b'a' + n - 10 })
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    #[test]
    fn no_secret_fails_closed_unless_unsigned_allowed() {
        let body = br#"{"type":30011,"msg":"{}"}"#;
        let h = SignedHeaders::default();
        for p in [Provider::Yeastar, Provider::Dialpad, Provider::Standard] {
            assert_eq!(
                verify(p, &[], &h, body, &opts(NOW)),
                Err(SignatureError::NoSecret),
                "{p:?}"
            );
            let v = verify(p, &[], &h, body, &unsigned_ok(NOW)).unwrap();
            assert!(!v.signed, "{p:?}");
            assert_eq!(v.dedup_key, sha256_key(body), "{p:?}");
        }
        // Standard without secret, allowed: keyed on webhook-id when sent.
        let with_id = SignedHeaders {
            webhook_id: Some("msg_9"),
            ..h
        };
        assert_eq!(
            verify(Provider::Standard, &[], &with_id, body, &unsigned_ok(NOW))
                .unwrap()
                .dedup_key,
            "id:msg_9"
        );
        // With a secret, allow_unsigned changes nothing.
        let s = secrets(&["s3cret"]);
        assert_eq!(
            verify(Provider::Yeastar, &s, &h, body, &unsigned_ok(NOW)),
            Err(SignatureError::MissingHeader("X-Signature"))
        );
        assert_eq!(
            verify(Provider::Dialpad, &s, &h, body, &unsigned_ok(NOW)),
            Err(SignatureError::Unsigned)
        );
        assert_eq!(
            verify(
                Provider::Standard,
                &secrets(&[&whsec()]),
                &h,
                body,
                &unsigned_ok(NOW)
            ),
            Err(SignatureError::MissingHeader("webhook-id"))
        );
    }

    #[test]
    fn bad_request_only_for_malformed_input() {
        for e in [
            SignatureError::MissingHeader("X-Signature"),
            SignatureError::Malformed("x"),
            SignatureError::Mismatch,
            SignatureError::Algorithm("none".into()),
            SignatureError::Unsigned,
            SignatureError::Timestamp(300),
            SignatureError::Expired,
            SignatureError::NotYetValid,
            SignatureError::NoSecret,
        ] {
            assert!(!e.is_bad_request(), "{e:?}");
        }
        for e in [
            SignatureError::BadTimestamp,
            SignatureError::IdTooLong(MAX_WEBHOOK_ID_BYTES),
            SignatureError::HeaderTooLong(MAX_SIGNATURE_HEADER_BYTES),
            SignatureError::TooManySignatures(MAX_SIGNATURE_CANDIDATES),
        ] {
            assert!(e.is_bad_request(), "{e:?}");
        }
    }

    #[test]
    fn dedup_key_is_body_hash() {
        let h = SignedHeaders::default();
        let a = dedup_key(Provider::Yeastar, &h, b"abc");
        assert_eq!(
            a,
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(a, dedup_key(Provider::Yeastar, &h, b"abd"));
    }
}
