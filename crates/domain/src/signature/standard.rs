//! Standard Webhooks: `webhook-signature` lists `v1,<b64>` HMAC-SHA256
//! entries over `{id}.{timestamp}.{body}`, with a `whsec_` secret.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::hmac;

use super::{
    SignatureError, SignedHeaders, VerifyOptions, MAX_SIGNATURE_CANDIDATES,
    MAX_SIGNATURE_HEADER_BYTES, MAX_WEBHOOK_ID_BYTES,
};

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

fn standard_key(secret: &str) -> Option<Vec<u8>> {
    let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
    STANDARD.decode(b64).ok()
}

/// Standard Webhooks: `webhook-signature` holds space-separated `v1,<b64>`
/// entries over `{id}.{timestamp}.{body}`; the timestamp must be within the
/// tolerance. Sizes are checked before anything is decoded; each secret's
/// MAC is computed once and compared with every candidate.
pub(super) fn verify_standard(
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
    use crate::signature::fixtures::*;
    use crate::signature::*;

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
    fn ct_eq_compares_whole_slices() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(ct_eq(b"", b""));
    }
}
