//! Signing a scenario's step as the provider does: Yeastar's `X-Signature`
//! over the raw bytes, Dialpad's HS256 JWT.

use domain::{signature, Provider};

use super::SignedRequest;

/// Signs a Yeastar body: `X-Signature` over the raw bytes.
pub fn sign_yeastar(secret: &str, body: &[u8]) -> SignedRequest {
    SignedRequest {
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("X-Signature".into(), signature::sign_yeastar(secret, body)),
        ],
        body: body.to_vec(),
    }
}

/// Signs a Dialpad event: the body becomes an HS256 JWT of the claims, or
/// stays plain JSON when `secret` is `None`.
pub fn sign_dialpad(secret: Option<&str>, claims: &[u8]) -> SignedRequest {
    match secret {
        Some(s) => SignedRequest {
            headers: vec![("Content-Type".into(), "application/jwt".into())],
            body: signature::sign_dialpad(s, claims).into_bytes(),
        },
        None => SignedRequest {
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: claims.to_vec(),
        },
    }
}

/// Signs a step of a scenario of `provider` with `secret`.
pub fn sign(provider: Provider, secret: Option<&str>, body: &[u8]) -> SignedRequest {
    match provider {
        Provider::Yeastar => sign_yeastar(secret.unwrap_or_default(), body),
        Provider::Dialpad => sign_dialpad(secret, body),
        Provider::Standard => SignedRequest {
            headers: Vec::new(),
            body: body.to_vec(),
        },
    }
}
