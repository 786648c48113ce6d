//! A catalogue of hostile requests, across the three schemes, and the
//! answer each gets.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::fixtures::*;
use super::*;

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
            sign_dialpad("s3cret", format!(r#"{{"exp":{}}}"#, NOW - 3600).as_bytes()).into_bytes(),
            Err(E::Expired),
        ),
        (
            "nbf an hour ahead, validly signed",
            Provider::Dialpad,
            &dp_s,
            none,
            sign_dialpad("s3cret", format!(r#"{{"nbf":{}}}"#, NOW + 3600).as_bytes()).into_bytes(),
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
