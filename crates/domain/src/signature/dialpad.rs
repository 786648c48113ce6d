//! Dialpad: the body is a compact JWT signed HS256 (or, for a source
//! without a secret that accepts unsigned webhooks, plain JSON).

use std::borrow::Cow;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::hmac;
use serde::Deserialize;

use super::{SignatureError, VerifyOptions};

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
pub(super) fn verify_dialpad(
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
/// ingest already verified). Returns the JSON bytes: the body itself when
/// it is plain JSON (no copy), else the decoded payload. The token is read
/// as bytes (it was checked to be UTF-8 when verified; a byte that is no
/// Base64url fails the decoding).
pub fn dialpad_claims(body: &[u8]) -> Result<Cow<'_, [u8]>, SignatureError> {
    if is_plain_json(body) {
        return Ok(Cow::Borrowed(body));
    }
    // Between the first dot and the last, found from either end (the
    // header and the signature are short; the payload is not scanned).
    let token = body.trim_ascii();
    let start = token
        .iter()
        .position(|b| *b == b'.')
        .ok_or(SignatureError::Malformed("JWT must have three parts"))?
        + 1;
    let end = token
        .iter()
        .rposition(|b| *b == b'.')
        .filter(|end| *end >= start)
        .unwrap_or(token.len());
    let payload = &token[start..end];
    URL_SAFE_NO_PAD
        .decode(payload)
        .map(Cow::Owned)
        .map_err(|_| SignatureError::Malformed("JWT payload is not Base64url"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::fixtures::*;
    use crate::signature::*;

    fn dialpad(s: &[String], body: &[u8], o: &VerifyOptions) -> Result<Verified, SignatureError> {
        verify(Provider::Dialpad, s, &SignedHeaders::default(), body, o)
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
        assert_eq!(dialpad_claims(jwt.as_bytes()).unwrap().as_ref(), claims);
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
}
