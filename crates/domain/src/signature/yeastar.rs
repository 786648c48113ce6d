//! Yeastar: `X-Signature` is the Base64 HMAC-SHA256 of the raw body.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::hmac;

use super::{SignatureError, VerifyOptions, MAX_SIGNATURE_HEADER_BYTES};

/// Yeastar: `X-Signature` = Base64(HMAC-SHA256(secret, body)).
pub(super) fn verify_yeastar(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::fixtures::*;
    use crate::signature::*;

    fn yeastar(s: &[String], sig: Option<&str>, body: &[u8]) -> Result<Verified, SignatureError> {
        let h = SignedHeaders {
            x_signature: sig,
            ..Default::default()
        };
        verify(Provider::Yeastar, s, &h, body, &opts(NOW))
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
}
