//! Signature verification (and signing, for senders and tests) of the three
//! provider schemes, on the raw request body.
//!
//! Every check runs against each active secret of a source, so that a secret
//! can be rotated without a gap. Comparisons are constant time (ring's HMAC
//! verification).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::hmac;
use serde::Deserialize;

use crate::Provider;

/// Why a webhook was refused. Each variant is safe to show the sender.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing signature header {0}")]
    MissingHeader(&'static str),
    #[error("malformed signature: {0}")]
    Malformed(&'static str),
    #[error("signature does not match any active secret")]
    Mismatch,
    #[error("unsupported JWT algorithm {0:?}: only HS256 is accepted")]
    Algorithm(String),
    #[error("this source has a secret: the body must be a signed JWT")]
    Unsigned,
    #[error("webhook-timestamp is outside the tolerance of {0} s")]
    Timestamp(i64),
    #[error("the source has no active secret")]
    NoSecret,
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
}

/// Verifies `body` as sent by a source of `provider` with the given active
/// `secrets`. Returns `Ok(())` when the body may be stored.
pub fn verify(
    provider: Provider,
    secrets: &[String],
    headers: &SignedHeaders<'_>,
    body: &[u8],
    opts: &VerifyOptions,
) -> Result<(), SignatureError> {
    match provider {
        Provider::Yeastar => verify_yeastar(secrets, headers.x_signature, body),
        Provider::Dialpad => verify_dialpad(secrets, body),
        Provider::Standard => verify_standard(secrets, headers, body, opts),
    }
}

/// Yeastar: `X-Signature` = Base64(HMAC-SHA256(secret, body)).
pub fn verify_yeastar(
    secrets: &[String],
    signature: Option<&str>,
    body: &[u8],
) -> Result<(), SignatureError> {
    let sig = signature.ok_or(SignatureError::MissingHeader("X-Signature"))?;
    let sig = STANDARD
        .decode(sig.trim())
        .map_err(|_| SignatureError::Malformed("X-Signature is not Base64"))?;
    if secrets.is_empty() {
        return Err(SignatureError::NoSecret);
    }
    let ok = secrets.iter().any(|s| {
        let key = hmac::Key::new(hmac::HMAC_SHA256, s.as_bytes());
        hmac::verify(&key, body, &sig).is_ok()
    });
    if ok {
        Ok(())
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
/// them (any other `alg`, `none` included, is refused); without secrets, the
/// body is plain JSON.
pub fn verify_dialpad(secrets: &[String], body: &[u8]) -> Result<(), SignatureError> {
    if secrets.is_empty() {
        return if is_plain_json(body) {
            Ok(())
        } else {
            Err(SignatureError::Malformed(
                "the source has no secret, so the body must be a JSON object",
            ))
        };
    }
    if is_plain_json(body) {
        return Err(SignatureError::Unsigned);
    }
    let token = std::str::from_utf8(body)
        .map_err(|_| SignatureError::Malformed("JWT is not UTF-8"))?
        .trim();
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SignatureError::Malformed("JWT must have three parts"));
    };
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
    let signed = &token.as_bytes()[..h.len() + 1 + p.len()];
    let ok = secrets.iter().any(|secret| {
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
        hmac::verify(&key, signed, &sig).is_ok()
    });
    if !ok {
        return Err(SignatureError::Mismatch);
    }
    // Cross-check with jsonwebtoken, the field's reference implementation,
    // so that a token it would refuse (bad claims JSON) is refused here too.
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    let any_ok = secrets.iter().any(|secret| {
        jsonwebtoken::decode::<serde_json::Value>(
            token,
            &jsonwebtoken::DecodingKey::from_secret(secret.as_bytes()),
            &validation,
        )
        .is_ok()
    });
    if any_ok {
        Ok(())
    } else {
        Err(SignatureError::Malformed(
            "JWT claims are not a JSON object",
        ))
    }
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
    let token = std::str::from_utf8(body).map_err(|_| SignatureError::Malformed("not UTF-8"))?;
    let payload = token
        .trim()
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
/// tolerance.
pub fn verify_standard(
    secrets: &[String],
    headers: &SignedHeaders<'_>,
    body: &[u8],
    opts: &VerifyOptions,
) -> Result<(), SignatureError> {
    let id = headers
        .webhook_id
        .ok_or(SignatureError::MissingHeader("webhook-id"))?;
    let ts_raw = headers
        .webhook_timestamp
        .ok_or(SignatureError::MissingHeader("webhook-timestamp"))?;
    let sigs = headers
        .webhook_signature
        .ok_or(SignatureError::MissingHeader("webhook-signature"))?;
    let ts: i64 = ts_raw
        .trim()
        .parse()
        .map_err(|_| SignatureError::Malformed("webhook-timestamp is not an integer"))?;
    if (opts.now_unix - ts).abs() > opts.timestamp_tolerance_secs {
        return Err(SignatureError::Timestamp(opts.timestamp_tolerance_secs));
    }
    if secrets.is_empty() {
        return Err(SignatureError::NoSecret);
    }
    let mut signed = Vec::with_capacity(id.len() + ts_raw.len() + body.len() + 2);
    signed.extend_from_slice(id.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(ts_raw.trim().as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(body);
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
    let ok = secrets.iter().filter_map(|s| standard_key(s)).any(|k| {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &k);
        candidates
            .iter()
            .any(|c| hmac::verify(&key, &signed, c).is_ok())
    });
    if ok {
        Ok(())
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

/// The per-source deduplication key of a webhook: the Standard Webhooks
/// `webhook-id` where there is one, else the SHA-256 of the raw body.
pub fn dedup_key(provider: Provider, headers: &SignedHeaders<'_>, body: &[u8]) -> String {
    if provider == Provider::Standard {
        if let Some(id) = headers.webhook_id {
            return format!("id:{id}");
        }
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, body);
    let mut key = String::with_capacity(7 + 64);
    key.push_str("sha256:");
    for b in digest.as_ref() {
        key.push_str(&format!("{b:02x}"));
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(now: i64) -> VerifyOptions {
        VerifyOptions {
            timestamp_tolerance_secs: 300,
            now_unix: now,
        }
    }

    fn secrets(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn yeastar_valid_tampered_wrong_missing_rotated() {
        let body = br#"{"type":30011,"msg":"{}"}"#;
        let sig = sign_yeastar("old-secret-0123456789abcdef01234", body);
        let one = secrets(&["old-secret-0123456789abcdef01234"]);
        assert_eq!(verify_yeastar(&one, Some(&sig), body), Ok(()));
        assert_eq!(
            verify_yeastar(&one, Some(&sig), br#"{"type":30012,"msg":"{}"}"#),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_yeastar(&secrets(&["another"]), Some(&sig), body),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_yeastar(&one, None, body),
            Err(SignatureError::MissingHeader("X-Signature"))
        );
        assert!(matches!(
            verify_yeastar(&one, Some("%%%"), body),
            Err(SignatureError::Malformed(_))
        ));
        let rotated = secrets(&["new-secret", "old-secret-0123456789abcdef01234"]);
        assert_eq!(verify_yeastar(&rotated, Some(&sig), body), Ok(()));
        let new_sig = sign_yeastar("new-secret", body);
        assert_eq!(verify_yeastar(&rotated, Some(&new_sig), body), Ok(()));
    }

    #[test]
    fn dialpad_jwt_and_plain() {
        let claims = br#"{"call_id":1,"state":"ringing"}"#;
        let jwt = sign_dialpad("s3cret", claims);
        assert_eq!(
            verify_dialpad(&secrets(&["s3cret"]), jwt.as_bytes()),
            Ok(())
        );
        assert_eq!(
            verify_dialpad(&secrets(&["other", "s3cret"]), jwt.as_bytes()),
            Ok(())
        );
        assert_eq!(
            verify_dialpad(&secrets(&["wrong"]), jwt.as_bytes()),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(dialpad_claims(jwt.as_bytes()).unwrap(), claims.to_vec());
        // Tampered payload.
        let mut parts: Vec<&str> = jwt.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(br#"{"call_id":2,"state":"ringing"}"#);
        parts[1] = &forged;
        assert_eq!(
            verify_dialpad(&secrets(&["s3cret"]), parts.join(".").as_bytes()),
            Err(SignatureError::Mismatch)
        );
        // Plain JSON only without a secret.
        assert_eq!(verify_dialpad(&[], claims), Ok(()));
        assert_eq!(
            verify_dialpad(&secrets(&["s3cret"]), claims),
            Err(SignatureError::Unsigned)
        );
        assert!(verify_dialpad(&[], jwt.as_bytes()).is_err());
    }

    #[test]
    fn dialpad_alg_none_and_other_algs_refused() {
        let claims = URL_SAFE_NO_PAD.encode(br#"{"call_id":1}"#);
        for alg in ["none", "HS512", "RS256", "hs256"] {
            let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
            let token = format!("{header}.{claims}.");
            assert_eq!(
                verify_dialpad(&secrets(&["s3cret"]), token.as_bytes()),
                Err(SignatureError::Algorithm(alg.to_string())),
                "{alg}"
            );
        }
    }

    #[test]
    fn standard_webhooks() {
        let secret = format!(
            "whsec_{}",
            STANDARD.encode(b"0123456789abcdef0123456789abcdef")
        );
        let body = br#"{"type":"call.ended"}"#;
        let sig = sign_standard(&secret, "msg_1", 1_700_000_000, body).unwrap();
        let h = SignedHeaders {
            webhook_id: Some("msg_1"),
            webhook_timestamp: Some("1700000000"),
            webhook_signature: Some(&sig),
            ..Default::default()
        };
        let s = vec![secret.clone()];
        assert_eq!(verify_standard(&s, &h, body, &opts(1_700_000_100)), Ok(()));
        // Several signatures, one valid (rotation on the sender side).
        let multi = format!("v1,AAAA {sig}");
        let hm = SignedHeaders {
            webhook_signature: Some(&multi),
            ..h
        };
        assert_eq!(verify_standard(&s, &hm, body, &opts(1_700_000_100)), Ok(()));
        assert_eq!(
            verify_standard(&s, &h, body, &opts(1_700_000_000 + 301)),
            Err(SignatureError::Timestamp(300))
        );
        assert_eq!(
            verify_standard(&s, &h, body, &opts(1_700_000_000 - 301)),
            Err(SignatureError::Timestamp(300))
        );
        assert_eq!(
            verify_standard(&s, &h, b"{}", &opts(1_700_000_000)),
            Err(SignatureError::Mismatch)
        );
        let no_id = SignedHeaders {
            webhook_id: None,
            ..h
        };
        assert_eq!(
            verify_standard(&s, &no_id, body, &opts(1_700_000_000)),
            Err(SignatureError::MissingHeader("webhook-id"))
        );
        assert_eq!(
            dedup_key(Provider::Standard, &h, body),
            "id:msg_1".to_string()
        );
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
