//! Shared by the fuzz targets and the seed generator: how a fuzz input maps
//! to a `verify` call, and the oracle that checks an accepted call really
//! carried a valid signature.
//!
//! `verify` input layout:
//!
//! ```text
//! byte 0  bits 0-1 provider (0 Yeastar, 1 Dialpad, 2 and 3 Standard)
//!         bit  2   allow_unsigned
//!         bits 3-4 secrets: 0 [FIXED], 1 [OTHER, FIXED], 2 none, 3 [FIXED, OTHER]
//! byte 1  bits 0-3 header i absent (X-Signature, webhook-id,
//!                  webhook-timestamp, webhook-signature)
//!         bits 4-5 now: 0 NOW, 1 0, 2 i64::MIN, 3 i64::MAX
//! rest    X-Signature 0xFF webhook-id 0xFF webhook-timestamp 0xFF
//!         webhook-signature 0xFF body   (the body may hold 0xFF)
//! ```
//!
//! A header that is not UTF-8 is absent (as `HeaderValue::to_str` fails).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use domain::signature::{
    self, SignatureError, SignedHeaders, Verified, VerifyOptions, MAX_SIGNATURE_CANDIDATES,
    MAX_SIGNATURE_HEADER_BYTES, MAX_WEBHOOK_ID_BYTES,
};
use domain::Provider;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The secret every fuzzed source has (Yeastar and Dialpad use it as is).
pub const FIXED: &str = "fuzz-secret-0123456789abcdef0123";
/// A second secret, for rotation.
pub const OTHER: &str = "other-secret-0123456789abcdef012";
/// Standard Webhooks secrets: `whsec_` + Base64 of these keys.
pub const FIXED_KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
pub const OTHER_KEY: &[u8] = b"fedcba9876543210fedcba9876543210";
/// The usual clock of a fuzzed call.
pub const NOW: i64 = 1_700_000_000;
pub const TOLERANCE: i64 = 300;
pub const LEEWAY: i64 = signature::DEFAULT_JWT_LEEWAY_SECS;

/// Byte 0 of a `verify` input for `provider`, with options.
pub fn flags(provider: Provider, allow_unsigned: bool, secrets: u8) -> u8 {
    let p = match provider {
        Provider::Yeastar => 0,
        Provider::Dialpad => 1,
        Provider::Standard => 2,
    };
    p | (u8::from(allow_unsigned) << 2) | ((secrets & 3) << 3)
}

/// A `verify` input (the inverse of [`VerifyCase::decode`]).
pub fn encode(flags0: u8, flags1: u8, headers: [Option<&[u8]>; 4], body: &[u8]) -> Vec<u8> {
    let mut absent = 0u8;
    let mut out = vec![flags0, 0];
    for (i, h) in headers.iter().enumerate() {
        if i > 0 {
            out.push(0xFF);
        }
        match h {
            Some(v) => out.extend_from_slice(v),
            None => absent |= 1 << i,
        }
    }
    out.push(0xFF);
    out.extend_from_slice(body);
    out[1] = flags1 | absent;
    out
}

/// One decoded `verify` call.
pub struct VerifyCase<'a> {
    pub provider: Provider,
    pub secrets: Vec<String>,
    pub headers: SignedHeaders<'a>,
    pub body: &'a [u8],
    pub opts: VerifyOptions,
}

impl<'a> VerifyCase<'a> {
    pub fn decode(data: &'a [u8]) -> Option<Self> {
        let (&f0, rest) = data.split_first()?;
        let (&f1, rest) = rest.split_first()?;
        let provider = match f0 & 3 {
            0 => Provider::Yeastar,
            1 => Provider::Dialpad,
            _ => Provider::Standard,
        };
        let standard = provider == Provider::Standard;
        let (fixed, other) = if standard {
            (
                format!("whsec_{}", STANDARD.encode(FIXED_KEY)),
                format!("whsec_{}", STANDARD.encode(OTHER_KEY)),
            )
        } else {
            (FIXED.to_string(), OTHER.to_string())
        };
        let secrets = match (f0 >> 3) & 3 {
            0 => vec![fixed],
            1 => vec![other, fixed],
            2 => Vec::new(),
            _ => vec![fixed, other],
        };
        let now = match (f1 >> 4) & 3 {
            0 => NOW,
            1 => 0,
            2 => i64::MIN,
            _ => i64::MAX,
        };
        let mut parts = rest.splitn(5, |b| *b == 0xFF);
        let mut field = |i: u8| -> Option<&'a str> {
            let v = parts.next()?;
            if f1 & (1 << i) != 0 {
                return None;
            }
            std::str::from_utf8(v).ok()
        };
        let headers = SignedHeaders {
            x_signature: field(0),
            webhook_id: field(1),
            webhook_timestamp: field(2),
            webhook_signature: field(3),
        };
        let body = parts.next().unwrap_or_default();
        Some(VerifyCase {
            provider,
            secrets,
            headers,
            body,
            opts: VerifyOptions {
                timestamp_tolerance_secs: TOLERANCE,
                now_unix: now,
                jwt_leeway_secs: LEEWAY,
                allow_unsigned: f0 & 4 != 0,
            },
        })
    }

    pub fn run(&self) -> Result<Verified, SignatureError> {
        signature::verify(
            self.provider,
            &self.secrets,
            &self.headers,
            self.body,
            &self.opts,
        )
    }

    /// Panics when `result` is an acceptance this case does not deserve, or
    /// a key other than the documented one.
    pub fn check(&self, result: &Result<Verified, SignatureError>) {
        let Ok(v) = result else {
            return;
        };
        if self.secrets.is_empty() {
            assert!(self.opts.allow_unsigned, "accepted without secret: {v:?}");
            assert!(!v.signed);
            return;
        }
        assert!(v.signed, "a source with a secret accepted unsigned");
        let keys: Vec<Vec<u8>> = self
            .secrets
            .iter()
            .map(|s| match self.provider {
                Provider::Standard => s
                    .strip_prefix("whsec_")
                    .and_then(|b| STANDARD.decode(b).ok())
                    .expect("fuzz secrets are whsec_"),
                _ => s.as_bytes().to_vec(),
            })
            .collect();
        match self.provider {
            Provider::Yeastar => {
                let sig = self
                    .headers
                    .x_signature
                    .expect("accepted without X-Signature");
                let sig = STANDARD.decode(sig.trim()).expect("accepted non-Base64");
                assert!(
                    keys.iter().any(|k| mac(k, &[self.body]) == sig),
                    "Yeastar accepted a wrong signature"
                );
                assert_eq!(v.dedup_key, sha256_key(self.body));
            }
            Provider::Dialpad => check_jwt(&keys, self.body, &self.opts, v),
            Provider::Standard => {
                let id = self.headers.webhook_id.expect("accepted without id");
                assert!(!id.is_empty() && id.len() <= MAX_WEBHOOK_ID_BYTES);
                let ts_raw = self.headers.webhook_timestamp.expect("no timestamp").trim();
                let ts: i64 = ts_raw.parse().expect("accepted a non-integer timestamp");
                let distance = (i128::from(self.opts.now_unix) - i128::from(ts)).abs();
                assert!(
                    distance <= i128::from(TOLERANCE),
                    "stale timestamp accepted"
                );
                let sigs = self.headers.webhook_signature.expect("no signature");
                assert!(sigs.len() <= MAX_SIGNATURE_HEADER_BYTES);
                assert!(sigs.split_whitespace().count() <= MAX_SIGNATURE_CANDIDATES);
                let ok = sigs
                    .split_whitespace()
                    .filter_map(|s| s.strip_prefix("v1,"))
                    .filter_map(|b| STANDARD.decode(b).ok())
                    .any(|c| {
                        keys.iter().any(|k| {
                            mac(
                                k,
                                &[id.as_bytes(), b".", ts_raw.as_bytes(), b".", self.body],
                            ) == c
                        })
                    });
                assert!(ok, "Standard accepted a wrong signature");
                assert_eq!(v.dedup_key, format!("id:{id}"));
            }
        }
    }
}

fn check_jwt(keys: &[Vec<u8>], body: &[u8], opts: &VerifyOptions, v: &Verified) {
    let token = std::str::from_utf8(body.trim_ascii()).expect("accepted non-UTF-8");
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "accepted a JWT without three parts");
    let header: serde_json::Value = URL_SAFE_NO_PAD
        .decode(parts[0])
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .expect("accepted a bad JWT header");
    assert_eq!(header["alg"], "HS256", "accepted another alg");
    let sig = URL_SAFE_NO_PAD.decode(parts[2]).expect("bad JWT signature");
    let signing_input = format!("{}.{}", parts[0], parts[1]);
    assert!(
        keys.iter()
            .any(|k| mac(k, &[signing_input.as_bytes()]) == sig),
        "Dialpad accepted a wrong signature"
    );
    let claims: serde_json::Value = URL_SAFE_NO_PAD
        .decode(parts[1])
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .expect("accepted bad claims");
    assert!(claims.is_object());
    let now = i128::from(opts.now_unix);
    let leeway = i128::from(opts.jwt_leeway_secs.max(0));
    if let Some(exp) = claims.get("exp") {
        let exp = date(exp).expect("accepted a non-numeric exp");
        assert!(now < exp + leeway, "accepted an expired JWT");
    }
    if let Some(nbf) = claims.get("nbf") {
        let nbf = date(nbf).expect("accepted a non-numeric nbf");
        assert!(now + leeway >= nbf, "accepted a JWT not valid yet");
    }
    assert_eq!(v.dedup_key, sha256_key(token.as_bytes()));
}

/// A NumericDate in whole seconds, floored (exact for integers; floats
/// beyond the i128 range are far beyond any i64 clock, so saturation is
/// harmless). The sum with a leeway cannot overflow: JSON integers fit in
/// 64 bits, and a saturated float plus the leeway is checked.
fn date(v: &serde_json::Value) -> Option<i128> {
    if let Some(n) = v.as_i64() {
        return Some(i128::from(n));
    }
    if let Some(n) = v.as_u64() {
        return Some(i128::from(n));
    }
    let f = v.as_f64()?.floor();
    Some((f as i128).clamp(i128::MIN / 2, i128::MAX / 2))
}

/// HMAC-SHA256 over the concatenated `parts` (RustCrypto, not ring).
pub fn mac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
}

pub fn sha256_key(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    let mut s = String::from("sha256:");
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A `parse` input: byte 0 selects the provider (as in `verify`), the rest
/// is the stored body.
pub fn parse_case(data: &[u8]) -> Option<(Provider, &[u8])> {
    let (&f0, body) = data.split_first()?;
    let provider = match f0 & 3 {
        0 => Provider::Yeastar,
        1 => Provider::Dialpad,
        _ => Provider::Standard,
    };
    Some((provider, body))
}

/// The envelope every fuzzed parse gets.
pub fn envelope() -> domain::Envelope {
    domain::Envelope {
        id: 1,
        received_at: chrono::DateTime::from_timestamp(NOW, 0).unwrap_or_default(),
    }
}

#[cfg(test)]
mod seed_tests;
