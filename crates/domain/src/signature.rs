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

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::hmac;
use serde::Deserialize;

use crate::Provider;

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

fn sha256_key(bytes: &[u8]) -> String {
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

/// Equality of two MACs in time independent of where they differ (their
/// lengths are public). `black_box` keeps the optimiser from turning the
/// fold into an early exit.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a
        .iter()
        .zip(b)
        .fold(0u8, |acc, (x, y)| acc | std::hint::black_box(x ^ y));
    std::hint::black_box(diff) == 0
}

/// Yeastar: `X-Signature` = Base64(HMAC-SHA256(secret, body)).
fn verify_yeastar(
    secrets: &[String],
    signature: Option<&str>,
    body: &[u8],
    opts: &VerifyOptions,
) -> Result<bool, SignatureError> {
    if secrets.is_empty() {
        return if opts.allow_unsigned {
            Ok(false)
        } else {
            Err(SignatureError::NoSecret)
        };
    }
    let sig = signature.ok_or(SignatureError::MissingHeader("X-Signature"))?;
    if sig.len() > MAX_SIGNATURE_HEADER_BYTES {
        return Err(SignatureError::HeaderTooLong(MAX_SIGNATURE_HEADER_BYTES));
    }
    let sig = STANDARD
        .decode(sig.trim())
        .map_err(|_| SignatureError::Malformed("X-Signature is not Base64"))?;
    // One MAC per secret (ring's verify compares in constant time).
    let ok = secrets.iter().any(|s| {
        let key = hmac::Key::new(hmac::HMAC_SHA256, s.as_bytes());
        hmac::verify(&key, body, &sig).is_ok()
    });
    if ok {
        Ok(true)
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The value of Yeastar's `X-Signature` header for `body`.
pub fn sign_yeastar(secret: &str, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    STANDARD.encode(hmac::sign(&key, body).as_ref())
}

/// True when the body is a bare JSON object rather than a JWT.
pub fn is_plain_json(body: &[u8]) -> bool {
    body.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{')
}

#[derive(Deserialize)]
struct JwtHeader {
    alg: String,
}

/// Dialpad: with secrets, the body is a compact JWT signed HS256 with one of
/// them (any other `alg`, `none` included, is refused), whose `exp` and
/// `nbf` claims, when present, must hold (within the leeway); without
/// secrets, the body is plain JSON if the source accepts unsigned webhooks.
fn verify_dialpad(
    secrets: &[String],
    body: &[u8],
    opts: &VerifyOptions,
) -> Result<bool, SignatureError> {
    let token = body.trim_ascii();
    if secrets.is_empty() {
        if !opts.allow_unsigned {
            return Err(SignatureError::NoSecret);
        }
        return if is_plain_json(token) {
            Ok(false)
        } else {
            Err(SignatureError::Malformed(
                "the source has no secret, so the body must be a JSON object",
            ))
        };
    }
    if is_plain_json(token) {
        return Err(SignatureError::Unsigned);
    }
    let token =
        std::str::from_utf8(token).map_err(|_| SignatureError::Malformed("JWT is not UTF-8"))?;
    let Some((signing_input, s)) = token.rsplit_once('.') else {
        return Err(SignatureError::Malformed("JWT must have three parts"));
    };
    let Some((h, p)) = signing_input.split_once('.') else {
        return Err(SignatureError::Malformed("JWT must have three parts"));
    };
    if p.contains('.') {
        return Err(SignatureError::Malformed("JWT must have three parts"));
    }
    let header: JwtHeader = URL_SAFE_NO_PAD
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(SignatureError::Malformed(
            "JWT header is not Base64url JSON",
        ))?;
    if header.alg != "HS256" {
        return Err(SignatureError::Algorithm(header.alg));
    }
    let sig = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| SignatureError::Malformed("JWT signature is not Base64url"))?;
    // One MAC per secret (ring's verify compares in constant time).
    let secret = secrets
        .iter()
        .find(|secret| {
            let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
            hmac::verify(&key, signing_input.as_bytes(), &sig).is_ok()
        })
        .ok_or(SignatureError::Mismatch)?;
    // Only now that the sender is known are the claims worth reading.
    let claims: serde_json::Value = URL_SAFE_NO_PAD
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(serde_json::Value::is_object)
        .ok_or(SignatureError::Malformed(
            "JWT claims are not a JSON object",
        ))?;
    check_time_claims(&claims, opts)?;
    // Cross-check with jsonwebtoken, the field's reference implementation,
    // so that a token it would refuse is refused here too (with the one
    // secret that matched: no extra MAC per secret).
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    jsonwebtoken::decode::<serde_json::Value>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .map_err(|_| SignatureError::Malformed("JWT refused by the reference decoder"))?;
    Ok(true)
}

/// A NumericDate claim (RFC 7519: seconds, possibly fractional) as whole
/// seconds, floored; `None` when absent, an error when not a number. i128
/// holds every integer JSON gives and, saturating, every float beyond: no
/// comparison with an i64 clock plus leeway can overflow or be clamped.
fn numeric_date(
    claims: &serde_json::Value,
    name: &'static str,
    err: &'static str,
) -> Result<Option<i128>, SignatureError> {
    let Some(v) = claims.get(name) else {
        return Ok(None);
    };
    if let Some(n) = v.as_i64() {
        return Ok(Some(i128::from(n)));
    }
    if let Some(n) = v.as_u64() {
        return Ok(Some(i128::from(n)));
    }
    match v.as_f64() {
        // `as` saturates; JSON has no NaN or infinity.
        Some(f) if f.is_finite() => Ok(Some(f.floor() as i128)),
        _ => Err(SignatureError::Malformed(err)),
    }
}

/// Refuses a token whose `exp` has passed or whose `nbf` is to come, both
/// give or take the leeway.
fn check_time_claims(
    claims: &serde_json::Value,
    opts: &VerifyOptions,
) -> Result<(), SignatureError> {
    let now = i128::from(opts.now_unix);
    let leeway = i128::from(opts.jwt_leeway_secs.max(0));
    if let Some(exp) = numeric_date(claims, "exp", "JWT exp is not a number")? {
        // Valid while now < exp (RFC 7519 4.1.4), plus the leeway.
        if now >= exp.saturating_add(leeway) {
            return Err(SignatureError::Expired);
        }
    }
    if let Some(nbf) = numeric_date(claims, "nbf", "JWT nbf is not a number")? {
        // Valid from nbf on (RFC 7519 4.1.5), minus the leeway.
        if now + leeway < nbf {
            return Err(SignatureError::NotYetValid);
        }
    }
    Ok(())
}

/// A Dialpad body: the claims JSON signed HS256 with `secret` as a compact JWT.
pub fn sign_dialpad(secret: &str, claims_json: &[u8]) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims_json);
    let signing_input = format!("{header}.{payload}");
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(hmac::sign(&key, signing_input.as_bytes()).as_ref());
    format!("{signing_input}.{sig}")
}

/// The JSON carried by a Dialpad body (plain JSON or the claims of a JWT that
/// ingest already verified). Returns the JSON bytes.
pub fn dialpad_claims(body: &[u8]) -> Result<Vec<u8>, SignatureError> {
    if is_plain_json(body) {
        return Ok(body.to_vec());
    }
    let token = std::str::from_utf8(body.trim_ascii())
        .map_err(|_| SignatureError::Malformed("not UTF-8"))?;
    let payload = token
        .split('.')
        .nth(1)
        .ok_or(SignatureError::Malformed("JWT must have three parts"))?;
    URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| SignatureError::Malformed("JWT payload is not Base64url"))
}

fn standard_key(secret: &str) -> Option<Vec<u8>> {
    let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
    STANDARD.decode(b64).ok()
}

/// Standard Webhooks: `webhook-signature` holds space-separated `v1,<b64>`
/// entries over `{id}.{timestamp}.{body}`; the timestamp must be within the
/// tolerance. Sizes are checked before anything is decoded; each secret's
/// MAC is computed once and compared with every candidate.
fn verify_standard(
    secrets: &[String],
    headers: &SignedHeaders<'_>,
    body: &[u8],
    opts: &VerifyOptions,
) -> Result<bool, SignatureError> {
    let id = headers.webhook_id.filter(|id| !id.is_empty());
    if id.is_some_and(|id| id.len() > MAX_WEBHOOK_ID_BYTES) {
        return Err(SignatureError::IdTooLong(MAX_WEBHOOK_ID_BYTES));
    }
    if secrets.is_empty() {
        return if opts.allow_unsigned {
            Ok(false)
        } else {
            Err(SignatureError::NoSecret)
        };
    }
    let id = id.ok_or(SignatureError::MissingHeader("webhook-id"))?;
    let ts_raw = headers
        .webhook_timestamp
        .ok_or(SignatureError::MissingHeader("webhook-timestamp"))?;
    let sigs = headers
        .webhook_signature
        .ok_or(SignatureError::MissingHeader("webhook-signature"))?;
    if sigs.len() > MAX_SIGNATURE_HEADER_BYTES {
        return Err(SignatureError::HeaderTooLong(MAX_SIGNATURE_HEADER_BYTES));
    }
    if sigs
        .split_whitespace()
        .nth(MAX_SIGNATURE_CANDIDATES)
        .is_some()
    {
        return Err(SignatureError::TooManySignatures(MAX_SIGNATURE_CANDIDATES));
    }
    let ts_raw = ts_raw.trim();
    let ts: i64 = ts_raw.parse().map_err(|_| SignatureError::BadTimestamp)?;
    // Anything whose distance from now overflows is outside any tolerance.
    let within = opts
        .now_unix
        .checked_sub(ts)
        .and_then(i64::checked_abs)
        .is_some_and(|d| d <= opts.timestamp_tolerance_secs);
    if !within {
        return Err(SignatureError::Timestamp(opts.timestamp_tolerance_secs));
    }
    let candidates: Vec<Vec<u8>> = sigs
        .split_whitespace()
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|b| STANDARD.decode(b).ok())
        .collect();
    if candidates.is_empty() {
        return Err(SignatureError::Malformed(
            "no v1 signature in webhook-signature",
        ));
    }
    let mut signed = Vec::with_capacity(id.len() + ts_raw.len() + body.len() + 2);
    signed.extend_from_slice(id.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(ts_raw.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(body);
    let mut ok = false;
    for k in secrets.iter().filter_map(|s| standard_key(s)) {
        let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &k), &signed);
        for c in &candidates {
            // No early exit: every candidate is compared.
            ok |= ct_eq(mac.as_ref(), c);
        }
    }
    if ok {
        Ok(true)
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The `webhook-signature` value (`v1,<b64>`) for a Standard Webhooks message.
/// Returns `None` when the secret is not `whsec_` + Base64.
pub fn sign_standard(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, &standard_key(secret)?);
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    Some(format!(
        "v1,{}",
        STANDARD.encode(hmac::sign(&key, &signed).as_ref())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn opts(now: i64) -> VerifyOptions {
        VerifyOptions {
            timestamp_tolerance_secs: 300,
            now_unix: now,
            jwt_leeway_secs: DEFAULT_JWT_LEEWAY_SECS,
            allow_unsigned: false,
        }
    }

    fn unsigned_ok(now: i64) -> VerifyOptions {
        VerifyOptions {
            allow_unsigned: true,
            ..opts(now)
        }
    }

    fn secrets(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    fn whsec() -> String {
        format!(
            "whsec_{}",
            STANDARD.encode(b"0123456789abcdef0123456789abcdef")
        )
    }

    fn yeastar(s: &[String], sig: Option<&str>, body: &[u8]) -> Result<Verified, SignatureError> {
        let h = SignedHeaders {
            x_signature: sig,
            ..Default::default()
        };
        verify(Provider::Yeastar, s, &h, body, &opts(NOW))
    }

    fn dialpad(s: &[String], body: &[u8], o: &VerifyOptions) -> Result<Verified, SignatureError> {
        verify(Provider::Dialpad, s, &SignedHeaders::default(), body, o)
    }

    fn signed(dedup_key: String) -> Result<Verified, SignatureError> {
        Ok(Verified {
            dedup_key,
            signed: true,
        })
    }

    #[test]
    fn yeastar_valid_tampered_wrong_missing_rotated() {
        let body = br#"{"type":30011,"msg":"{}"}"#;
        let sig = sign_yeastar("old-secret-0123456789abcdef01234", body);
        let one = secrets(&["old-secret-0123456789abcdef01234"]);
        assert_eq!(yeastar(&one, Some(&sig), body), signed(sha256_key(body)));
        assert_eq!(
            yeastar(&one, Some(&sig), br#"{"type":30012,"msg":"{}"}"#),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            yeastar(&secrets(&["another"]), Some(&sig), body),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            yeastar(&one, None, body),
            Err(SignatureError::MissingHeader("X-Signature"))
        );
        assert!(matches!(
            yeastar(&one, Some("%%%"), body),
            Err(SignatureError::Malformed(_))
        ));
        let rotated = secrets(&["new-secret", "old-secret-0123456789abcdef01234"]);
        assert!(yeastar(&rotated, Some(&sig), body).is_ok());
        let new_sig = sign_yeastar("new-secret", body);
        assert!(yeastar(&rotated, Some(&new_sig), body).is_ok());
    }

    #[test]
    fn yeastar_oversized_signature_header_is_bad_request() {
        let body = b"{}";
        let long = format!("{} ", sign_yeastar("s", body)).repeat(40);
        let err = yeastar(&secrets(&["s"]), Some(&long), body).unwrap_err();
        assert_eq!(
            err,
            SignatureError::HeaderTooLong(MAX_SIGNATURE_HEADER_BYTES)
        );
        assert!(err.is_bad_request());
    }

    #[test]
    fn dialpad_jwt_and_plain() {
        let claims = br#"{"call_id":1,"state":"ringing"}"#;
        let jwt = sign_dialpad("s3cret", claims);
        let o = opts(NOW);
        let key = sha256_key(jwt.as_bytes());
        assert_eq!(
            dialpad(&secrets(&["s3cret"]), jwt.as_bytes(), &o),
            signed(key.clone())
        );
        assert_eq!(
            dialpad(&secrets(&["other", "s3cret"]), jwt.as_bytes(), &o),
            signed(key)
        );
        assert_eq!(
            dialpad(&secrets(&["wrong"]), jwt.as_bytes(), &o),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(dialpad_claims(jwt.as_bytes()).unwrap(), claims.to_vec());
        // Tampered payload.
        let mut parts: Vec<&str> = jwt.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(br#"{"call_id":2,"state":"ringing"}"#);
        parts[1] = &forged;
        assert_eq!(
            dialpad(&secrets(&["s3cret"]), parts.join(".").as_bytes(), &o),
            Err(SignatureError::Mismatch)
        );
        // Plain JSON only without a secret, and only when allowed.
        assert_eq!(
            dialpad(&[], claims, &unsigned_ok(NOW)),
            Ok(Verified {
                dedup_key: sha256_key(claims),
                signed: false
            })
        );
        assert_eq!(
            dialpad(&secrets(&["s3cret"]), claims, &o),
            Err(SignatureError::Unsigned)
        );
        assert!(dialpad(&[], jwt.as_bytes(), &unsigned_ok(NOW)).is_err());
    }

    #[test]
    fn dialpad_alg_none_and_other_algs_refused() {
        let claims = URL_SAFE_NO_PAD.encode(br#"{"call_id":1}"#);
        for alg in ["none", "HS512", "RS256", "hs256"] {
            let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
            let token = format!("{header}.{claims}.");
            assert_eq!(
                dialpad(&secrets(&["s3cret"]), token.as_bytes(), &opts(NOW)),
                Err(SignatureError::Algorithm(alg.to_string())),
                "{alg}"
            );
        }
    }

    #[test]
    fn dialpad_malformed_tokens_refused() {
        let s = secrets(&["s3cret"]);
        let o = opts(NOW);
        let jwt = sign_dialpad("s3cret", br#"{"call_id":1}"#);
        let (h, rest) = jwt.split_once('.').unwrap();
        let (p, _) = rest.split_once('.').unwrap();
        for (body, what) in [
            (format!("{h}.{p}."), "empty signature"),
            (format!("{h}.{p}"), "two parts"),
            (format!("{jwt}.x"), "four parts"),
            (String::new(), "empty body"),
            ("   ".to_string(), "blank body"),
        ] {
            let r = dialpad(&s, body.as_bytes(), &o);
            assert!(r.is_err(), "{what}: {r:?}");
            assert!(!r.unwrap_err().is_bad_request(), "{what}");
        }
        assert_eq!(
            dialpad(&s, b"\xff\xfe.\x80.\x81", &o),
            Err(SignatureError::Malformed("JWT is not UTF-8"))
        );
        // A validly signed token whose claims are not a JSON object.
        let arr = sign_dialpad("s3cret", b"[1,2]");
        assert_eq!(
            dialpad(&s, arr.as_bytes(), &o),
            Err(SignatureError::Malformed(
                "JWT claims are not a JSON object"
            ))
        );
    }

    #[test]
    fn dialpad_exp_and_nbf_are_checked_with_leeway() {
        let s = secrets(&["s3cret"]);
        let o = opts(NOW);
        let tok = |claims: String| sign_dialpad("s3cret", claims.as_bytes());
        // Expired beyond the leeway; within it still accepted.
        let past = tok(format!(r#"{{"call_id":1,"exp":{}}}"#, NOW - 61));
        assert_eq!(
            dialpad(&s, past.as_bytes(), &o),
            Err(SignatureError::Expired)
        );
        let recent = tok(format!(r#"{{"call_id":1,"exp":{}}}"#, NOW - 59));
        assert!(dialpad(&s, recent.as_bytes(), &o).is_ok());
        let zero = VerifyOptions {
            jwt_leeway_secs: 0,
            ..o
        };
        assert_eq!(
            dialpad(&s, recent.as_bytes(), &zero),
            Err(SignatureError::Expired)
        );
        // Not yet valid beyond the leeway.
        let future = tok(format!(r#"{{"call_id":1,"nbf":{}}}"#, NOW + 61));
        assert_eq!(
            dialpad(&s, future.as_bytes(), &o),
            Err(SignatureError::NotYetValid)
        );
        let soon = tok(format!(r#"{{"call_id":1,"nbf":{}}}"#, NOW + 59));
        assert!(dialpad(&s, soon.as_bytes(), &o).is_ok());
        // Fractional and extreme values; without exp/nbf, accepted.
        let frac = tok(format!(r#"{{"exp":{}.5}}"#, NOW + 100));
        assert!(dialpad(&s, frac.as_bytes(), &o).is_ok());
        let far = tok(r#"{"exp":18446744073709551615,"nbf":-9223372036854775808}"#.into());
        assert!(dialpad(&s, far.as_bytes(), &o).is_ok());
        let huge_nbf = tok(r#"{"nbf":1e300}"#.into());
        assert_eq!(
            dialpad(&s, huge_nbf.as_bytes(), &o),
            Err(SignatureError::NotYetValid)
        );
        let min_exp = tok(r#"{"exp":-9223372036854775808}"#.into());
        assert_eq!(
            dialpad(&s, min_exp.as_bytes(), &o),
            Err(SignatureError::Expired)
        );
        // Extreme clocks: exact comparisons, no clamping, no overflow.
        let neg = tok(r#"{"exp":-1e300}"#.into());
        assert_eq!(
            dialpad(&s, neg.as_bytes(), &opts(i64::MIN)),
            Err(SignatureError::Expired)
        );
        let max = tok(format!(r#"{{"exp":{},"nbf":1e300}}"#, i64::MAX));
        assert_eq!(
            dialpad(&s, max.as_bytes(), &opts(i64::MAX)),
            Err(SignatureError::NotYetValid)
        );
        let max = tok(format!(r#"{{"exp":{m},"nbf":{m}}}"#, m = i64::MAX));
        assert!(dialpad(&s, max.as_bytes(), &opts(i64::MAX)).is_ok());
        let text_exp = tok(r#"{"exp":"tomorrow"}"#.into());
        assert_eq!(
            dialpad(&s, text_exp.as_bytes(), &o),
            Err(SignatureError::Malformed("JWT exp is not a number"))
        );
        let plain = tok(r#"{"call_id":1}"#.into());
        assert!(dialpad(&s, plain.as_bytes(), &o).is_ok());
        // A forged token never gets as far as its claims.
        let forged = sign_dialpad("other", format!(r#"{{"exp":{}}}"#, NOW - 1000).as_bytes());
        assert_eq!(
            dialpad(&s, forged.as_bytes(), &o),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn dialpad_whitespace_wrapped_replay_has_the_same_key() {
        let s = secrets(&["s3cret"]);
        let jwt = sign_dialpad("s3cret", br#"{"call_id":1,"state":"ringing"}"#);
        let plain = dialpad(&s, jwt.as_bytes(), &opts(NOW)).unwrap();
        for wrapped in [
            format!(" {jwt}"),
            format!("{jwt}\n"),
            format!("\r\n\t {jwt} \t\r\n"),
        ] {
            let v = dialpad(&s, wrapped.as_bytes(), &opts(NOW)).unwrap();
            assert_eq!(v.dedup_key, plain.dedup_key, "{wrapped:?}");
            assert_eq!(
                dedup_key(
                    Provider::Dialpad,
                    &SignedHeaders::default(),
                    wrapped.as_bytes()
                ),
                plain.dedup_key
            );
        }
        assert_eq!(plain.dedup_key, sha256_key(jwt.as_bytes()));
    }

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

    fn std_headers<'a>(sig: &'a str, ts: &'a str) -> SignedHeaders<'a> {
        SignedHeaders {
            webhook_id: Some("msg_1"),
            webhook_timestamp: Some(ts),
            webhook_signature: Some(sig),
            ..Default::default()
        }
    }

    #[test]
    fn standard_webhooks() {
        let secret = whsec();
        let body = br#"{"type":"call.ended"}"#;
        let sig = sign_standard(&secret, "msg_1", NOW, body).unwrap();
        let h = std_headers(&sig, "1700000000");
        let s = vec![secret.clone()];
        let std = |h: &SignedHeaders<'_>, body: &[u8], now: i64| {
            verify(Provider::Standard, &s, h, body, &opts(now))
        };
        assert_eq!(std(&h, body, NOW + 100), signed("id:msg_1".into()));
        // Several signatures, one valid (rotation on the sender side).
        let multi = format!("v1,AAAA v1a,xyz {sig}");
        assert!(std(&std_headers(&multi, "1700000000"), body, NOW + 100).is_ok());
        // Rotation on our side: the second secret signed.
        let both = vec![
            format!("whsec_{}", STANDARD.encode(b"other")),
            secret.clone(),
        ];
        assert!(verify(Provider::Standard, &both, &h, body, &opts(NOW)).is_ok());
        assert_eq!(
            std(&h, body, NOW + 301),
            Err(SignatureError::Timestamp(300))
        );
        assert_eq!(
            std(&h, body, NOW - 301),
            Err(SignatureError::Timestamp(300))
        );
        assert_eq!(std(&h, b"{}", NOW), Err(SignatureError::Mismatch));
        let no_id = SignedHeaders {
            webhook_id: None,
            ..h
        };
        assert_eq!(
            std(&no_id, body, NOW),
            Err(SignatureError::MissingHeader("webhook-id"))
        );
        assert_eq!(
            dedup_key(Provider::Standard, &h, body),
            "id:msg_1".to_string()
        );
        assert_eq!(
            std(&std_headers(&sig, "17e8"), body, NOW),
            Err(SignatureError::BadTimestamp)
        );
        assert!(SignatureError::BadTimestamp.is_bad_request());
        assert_eq!(
            std(&std_headers("v2,AAAA", "1700000000"), body, NOW),
            Err(SignatureError::Malformed(
                "no v1 signature in webhook-signature"
            ))
        );
    }

    #[test]
    fn standard_thousands_of_candidates_refused_before_any_mac() {
        let secret = whsec();
        let body = br#"{"type":"call.ended"}"#;
        let valid = sign_standard(&secret, "msg_1", NOW, body).unwrap();
        let s = vec![secret];
        let std = |sig: &str| {
            verify(
                Provider::Standard,
                &s,
                &std_headers(sig, "1700000000"),
                body,
                &opts(NOW),
            )
        };
        // 4,000 bogus entries: refused on size, nothing decoded or hashed.
        let flood = format!(
            "{} {valid}",
            "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= ".repeat(4000)
        );
        let err = std(&flood).unwrap_err();
        assert_eq!(
            err,
            SignatureError::HeaderTooLong(MAX_SIGNATURE_HEADER_BYTES)
        );
        assert!(err.is_bad_request());
        // Over the count within the size: refused even though one is valid.
        let bogus = sign_standard(&whsec(), "other", NOW, body).unwrap();
        let mut nine = vec![bogus.as_str(); MAX_SIGNATURE_CANDIDATES];
        nine.push(&valid);
        let nine = nine.join(" ");
        assert!(nine.len() <= MAX_SIGNATURE_HEADER_BYTES);
        let err = std(&nine).unwrap_err();
        assert_eq!(
            err,
            SignatureError::TooManySignatures(MAX_SIGNATURE_CANDIDATES)
        );
        assert!(err.is_bad_request());
        // At the cap, the valid one is found wherever it stands.
        let mut eight = vec![bogus.as_str(); MAX_SIGNATURE_CANDIDATES - 1];
        eight.insert(3, &valid);
        assert!(std(&eight.join(" ")).is_ok());
    }

    #[test]
    fn standard_oversized_webhook_id_refused() {
        let secret = whsec();
        let body = b"{}";
        let s = vec![secret.clone()];
        let id = "x".repeat(10 * 1024);
        let sig = sign_standard(&secret, &id, NOW, body).unwrap();
        let h = SignedHeaders {
            webhook_id: Some(&id),
            ..std_headers(&sig, "1700000000")
        };
        let err = verify(Provider::Standard, &s, &h, body, &opts(NOW)).unwrap_err();
        assert_eq!(err, SignatureError::IdTooLong(MAX_WEBHOOK_ID_BYTES));
        assert!(err.is_bad_request());
        // Refused for an unsigned source too: it would be the key.
        let err = verify(Provider::Standard, &[], &h, body, &unsigned_ok(NOW)).unwrap_err();
        assert_eq!(err, SignatureError::IdTooLong(MAX_WEBHOOK_ID_BYTES));
        // At the limit, accepted.
        let id = "x".repeat(MAX_WEBHOOK_ID_BYTES);
        let sig = sign_standard(&secret, &id, NOW, body).unwrap();
        let h = SignedHeaders {
            webhook_id: Some(&id),
            ..std_headers(&sig, "1700000000")
        };
        assert!(verify(Provider::Standard, &s, &h, body, &opts(NOW)).is_ok());
    }

    #[test]
    fn standard_extreme_timestamps_are_outside_tolerance() {
        let secret = whsec();
        let body = b"{}";
        let s = vec![secret.clone()];
        for (ts, now) in [
            (i64::MIN, NOW),
            (i64::MAX, NOW),
            (i64::MIN, 0),
            (i64::MAX, -1),
            (i64::MIN, i64::MAX),
            (i64::MAX, i64::MIN),
            (NOW, i64::MIN),
        ] {
            let sig = sign_standard(&secret, "msg_1", ts, body).unwrap();
            let ts = ts.to_string();
            let h = std_headers(&sig, &ts);
            assert_eq!(
                verify(Provider::Standard, &s, &h, body, &opts(now)),
                Err(SignatureError::Timestamp(300)),
                "ts {ts} now {now}"
            );
        }
        // Out of i64: not an integer we can read.
        let h = std_headers("v1,AAAA", "9223372036854775808");
        assert_eq!(
            verify(Provider::Standard, &s, &h, body, &opts(NOW)),
            Err(SignatureError::BadTimestamp)
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

    /// A catalogue of hostile requests and the answer each gets.
    #[test]
    fn hostile_inputs_get_the_expected_answer() {
        use SignatureError as E;
        let ws = whsec();
        let std_s = vec![ws.clone()];
        let dp_s = secrets(&["s3cret"]);
        let ys_s = secrets(&["pbx-secret"]);
        let body: &[u8] = br#"{"type":"call.ended"}"#;
        let sig = sign_standard(&ws, "msg_1", NOW, body).unwrap();
        let ts = NOW.to_string();
        fn std_h<'a>(id: &'a str, ts: &'a str, sig: &'a str) -> SignedHeaders<'a> {
            SignedHeaders {
                webhook_id: Some(id),
                webhook_timestamp: Some(ts),
                webhook_signature: Some(sig),
                ..Default::default()
            }
        }
        let flood = "v1,AAAA ".repeat(4000);
        let nine = [sig.as_str(); 9].join(" ");
        let long_id = "x".repeat(10 * 1024);
        let v2 = sig.replace("v1,", "v2,");
        let long_x_sig = "A".repeat(2048);
        let jwt = sign_dialpad("s3cret", br#"{"call_id":1,"state":"ringing"}"#);
        let (h, rest) = jwt.split_once('.').unwrap();
        let (p, _) = rest.split_once('.').unwrap();
        let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
        let ys_sig = sign_yeastar("pbx-secret", body);
        let ys_h = |sig| SignedHeaders {
            x_signature: Some(sig),
            ..Default::default()
        };
        let none = SignedHeaders::default();
        // What, provider, secrets, headers, body, expected answer.
        type Case<'a> = (
            &'a str,
            Provider,
            &'a [String],
            SignedHeaders<'a>,
            Vec<u8>,
            Result<(), SignatureError>,
        );
        let cases: Vec<Case<'_>> = vec![
            (
                "4,000 v1 entries",
                Provider::Standard,
                &std_s,
                std_h("msg_1", &ts, &flood),
                body.to_vec(),
                Err(E::HeaderTooLong(MAX_SIGNATURE_HEADER_BYTES)),
            ),
            (
                "9 entries, one valid",
                Provider::Standard,
                &std_s,
                std_h("msg_1", &ts, &nine),
                body.to_vec(),
                Err(E::TooManySignatures(MAX_SIGNATURE_CANDIDATES)),
            ),
            (
                "i64::MIN timestamp",
                Provider::Standard,
                &std_s,
                std_h("msg_1", "-9223372036854775808", &sig),
                body.to_vec(),
                Err(E::Timestamp(300)),
            ),
            (
                "i64::MAX timestamp",
                Provider::Standard,
                &std_s,
                std_h("msg_1", "9223372036854775807", &sig),
                body.to_vec(),
                Err(E::Timestamp(300)),
            ),
            (
                "timestamp past i64",
                Provider::Standard,
                &std_s,
                std_h("msg_1", "99999999999999999999", &sig),
                body.to_vec(),
                Err(E::BadTimestamp),
            ),
            (
                "timestamp in exponent form",
                Provider::Standard,
                &std_s,
                std_h("msg_1", "1.7e9", &sig),
                body.to_vec(),
                Err(E::BadTimestamp),
            ),
            (
                "10 KB webhook-id",
                Provider::Standard,
                &std_s,
                std_h(&long_id, &ts, &sig),
                body.to_vec(),
                Err(E::IdTooLong(MAX_WEBHOOK_ID_BYTES)),
            ),
            (
                "empty webhook-id",
                Provider::Standard,
                &std_s,
                std_h("", &ts, &sig),
                body.to_vec(),
                Err(E::MissingHeader("webhook-id")),
            ),
            (
                "signature replayed under another webhook-id",
                Provider::Standard,
                &std_s,
                std_h("msg_2", &ts, &sig),
                body.to_vec(),
                Err(E::Mismatch),
            ),
            (
                "only v2 entries",
                Provider::Standard,
                &std_s,
                std_h("msg_1", &ts, &v2),
                body.to_vec(),
                Err(E::Malformed("no v1 signature in webhook-signature")),
            ),
            (
                "Standard source without secret",
                Provider::Standard,
                &[],
                std_h("msg_1", &ts, &sig),
                body.to_vec(),
                Err(E::NoSecret),
            ),
            (
                "alg none, empty signature",
                Provider::Dialpad,
                &dp_s,
                none,
                format!("{}.{p}.", b64(r#"{"alg":"none"}"#)).into_bytes(),
                Err(E::Algorithm("none".into())),
            ),
            (
                "alg HS512",
                Provider::Dialpad,
                &dp_s,
                none,
                format!("{}.{p}.AAAA", b64(r#"{"alg":"HS512"}"#)).into_bytes(),
                Err(E::Algorithm("HS512".into())),
            ),
            (
                "duplicate alg keys (HS256 then none)",
                Provider::Dialpad,
                &dp_s,
                none,
                format!("{}.{p}.AAAA", b64(r#"{"alg":"HS256","alg":"none"}"#)).into_bytes(),
                Err(E::Malformed("JWT header is not Base64url JSON")),
            ),
            (
                "exp in the past, validly signed",
                Provider::Dialpad,
                &dp_s,
                none,
                sign_dialpad("s3cret", format!(r#"{{"exp":{}}}"#, NOW - 3600).as_bytes())
                    .into_bytes(),
                Err(E::Expired),
            ),
            (
                "nbf an hour ahead, validly signed",
                Provider::Dialpad,
                &dp_s,
                none,
                sign_dialpad("s3cret", format!(r#"{{"nbf":{}}}"#, NOW + 3600).as_bytes())
                    .into_bytes(),
                Err(E::NotYetValid),
            ),
            (
                "exp as a string, validly signed",
                Provider::Dialpad,
                &dp_s,
                none,
                sign_dialpad("s3cret", br#"{"exp":"never"}"#).into_bytes(),
                Err(E::Malformed("JWT exp is not a number")),
            ),
            (
                "claims an array, validly signed",
                Provider::Dialpad,
                &dp_s,
                none,
                sign_dialpad("s3cret", b"[]").into_bytes(),
                Err(E::Malformed("JWT claims are not a JSON object")),
            ),
            (
                "whitespace-wrapped replay (same key as the original)",
                Provider::Dialpad,
                &dp_s,
                none,
                format!("\r\n  {jwt} \t\n").into_bytes(),
                Ok(()),
            ),
            (
                "wrapped in U+3000 (not ASCII whitespace)",
                Provider::Dialpad,
                &dp_s,
                none,
                format!("\u{3000}{jwt}").into_bytes(),
                Err(E::Malformed("JWT header is not Base64url JSON")),
            ),
            (
                "empty body",
                Provider::Dialpad,
                &dp_s,
                none,
                Vec::new(),
                Err(E::Malformed("JWT must have three parts")),
            ),
            (
                "non-UTF-8 JWT",
                Provider::Dialpad,
                &dp_s,
                none,
                b"\xff\xfe.\xc3\x28.\x80".to_vec(),
                Err(E::Malformed("JWT is not UTF-8")),
            ),
            (
                "3-part JWT with empty signature",
                Provider::Dialpad,
                &dp_s,
                none,
                format!("{h}.{p}.").into_bytes(),
                Err(E::Mismatch),
            ),
            (
                "4-part JWT",
                Provider::Dialpad,
                &dp_s,
                none,
                format!("{jwt}.{p}").into_bytes(),
                Err(E::Malformed("JWT must have three parts")),
            ),
            (
                "padded Base64url signature",
                Provider::Dialpad,
                &dp_s,
                none,
                format!("{jwt}=").into_bytes(),
                Err(E::Malformed("JWT signature is not Base64url")),
            ),
            (
                "plain JSON to a source with a secret",
                Provider::Dialpad,
                &dp_s,
                none,
                br#"{"call_id":1,"state":"hangup"}"#.to_vec(),
                Err(E::Unsigned),
            ),
            (
                "plain JSON to a source without secret (fail closed)",
                Provider::Dialpad,
                &[],
                none,
                br#"{"call_id":1,"state":"hangup"}"#.to_vec(),
                Err(E::NoSecret),
            ),
            (
                "2 KB X-Signature",
                Provider::Yeastar,
                &ys_s,
                ys_h(&long_x_sig),
                body.to_vec(),
                Err(E::HeaderTooLong(MAX_SIGNATURE_HEADER_BYTES)),
            ),
            (
                "X-Signature not Base64",
                Provider::Yeastar,
                &ys_s,
                ys_h("not base64!"),
                body.to_vec(),
                Err(E::Malformed("X-Signature is not Base64")),
            ),
            (
                "empty X-Signature",
                Provider::Yeastar,
                &ys_s,
                ys_h(""),
                body.to_vec(),
                Err(E::Mismatch),
            ),
            (
                "Yeastar body with a trailing newline",
                Provider::Yeastar,
                &ys_s,
                ys_h(&ys_sig),
                [body, b"\n"].concat(),
                Err(E::Mismatch),
            ),
            (
                "Yeastar source without secret, no header",
                Provider::Yeastar,
                &[],
                none,
                body.to_vec(),
                Err(E::NoSecret),
            ),
        ];
        for (what, provider, s, h, b, want) in cases {
            let got = verify(provider, s, &h, &b, &opts(NOW));
            assert_eq!(got.clone().map(|_| ()), want, "{what}");
            if let Ok(v) = got {
                assert_eq!(v.dedup_key, sha256_key(jwt.as_bytes()), "{what}");
            }
        }
    }

    #[test]
    fn ct_eq_compares_whole_slices() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(ct_eq(b"", b""));
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
