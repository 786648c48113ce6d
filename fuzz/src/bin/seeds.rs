//! Writes the seed corpora `seeds/verify/` and `seeds/parse/` from the
//! fixtures in `crates/testkit/fixtures/`, signed variants and edge cases.
//! Run `cargo run --release --bin seeds` in `fuzz/` after a fixture or the
//! input layout changes; the output is committed (a few dozen small files).

use std::fs;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use domain::signature::{sign_dialpad, sign_standard, sign_yeastar};
use domain::Provider;
use switchboard_fuzz::{encode, flags, FIXED, FIXED_KEY, NOW, OTHER};

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixtures = root.join("../crates/testkit/fixtures");
    let yeastar = read_dir(&fixtures.join("yeastar"))?;
    let dialpad = read_dir(&fixtures.join("dialpad"))?;
    let whsec = format!("whsec_{}", STANDARD.encode(FIXED_KEY));

    let mut verify: Vec<(String, Vec<u8>)> = Vec::new();
    let mut parse: Vec<(String, Vec<u8>)> = Vec::new();
    let y = flags(Provider::Yeastar, false, 0);
    let d = flags(Provider::Dialpad, false, 0);
    let s = flags(Provider::Standard, false, 0);
    let none = [None; 4];

    // Yeastar: every fixture signed; rotation, tampering, missing header,
    // unsigned source.
    for (name, body) in &yeastar {
        let sig = sign_yeastar(FIXED, body);
        verify.push((
            format!("yeastar-{name}"),
            encode(y, 0, [Some(sig.as_bytes()), None, None, None], body),
        ));
        parse.push((format!("yeastar-{name}"), with_byte(0, body)));
    }
    let (_, first) = &yeastar[0];
    let sig = sign_yeastar(OTHER, first);
    verify.push((
        "yeastar-rotated".into(),
        encode(
            flags(Provider::Yeastar, false, 1),
            0,
            [Some(sig.as_bytes()), None, None, None],
            first,
        ),
    ));
    let mut tampered = first.clone();
    tampered.push(b' ');
    let sig = sign_yeastar(FIXED, first);
    verify.push((
        "yeastar-tampered".into(),
        encode(y, 0, [Some(sig.as_bytes()), None, None, None], &tampered),
    ));
    verify.push(("yeastar-no-header".into(), encode(y, 0, none, first)));
    verify.push((
        "yeastar-unsigned-source".into(),
        encode(flags(Provider::Yeastar, true, 2), 0, none, first),
    ));

    // Dialpad: every fixture as a JWT; wrapped in whitespace; exp and nbf;
    // other algs; plain JSON with and without a secret.
    for (name, claims) in &dialpad {
        let jwt = sign_dialpad(FIXED, claims);
        verify.push((
            format!("dialpad-{name}"),
            encode(d, 0, none, jwt.as_bytes()),
        ));
        parse.push((format!("dialpad-{name}"), with_byte(1, claims)));
        parse.push((format!("dialpad-jwt-{name}"), with_byte(1, jwt.as_bytes())));
    }
    let jwt = sign_dialpad(FIXED, br#"{"call_id":1,"state":"ringing"}"#);
    verify.push((
        "dialpad-wrapped".into(),
        encode(d, 0, none, format!(" \r\n{jwt}\n\t").as_bytes()),
    ));
    for (name, claims) in [
        (
            "exp-past",
            format!(r#"{{"call_id":1,"exp":{}}}"#, NOW - 3600),
        ),
        (
            "exp-future",
            format!(r#"{{"call_id":1,"exp":{}}}"#, NOW + 3600),
        ),
        (
            "nbf-future",
            format!(r#"{{"call_id":1,"nbf":{}}}"#, NOW + 3600),
        ),
        ("exp-float", format!(r#"{{"exp":{}.75,"nbf":0.5}}"#, NOW)),
        ("exp-text", r#"{"exp":"soon"}"#.to_string()),
        ("claims-array", "[1,2,3]".to_string()),
    ] {
        let jwt = sign_dialpad(FIXED, claims.as_bytes());
        verify.push((
            format!("dialpad-{name}"),
            encode(d, 0, none, jwt.as_bytes()),
        ));
    }
    let payload = URL_SAFE_NO_PAD.encode(br#"{"call_id":1}"#);
    for alg in ["none", "HS512", "RS256"] {
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
        verify.push((
            format!("dialpad-alg-{alg}"),
            encode(d, 0, none, format!("{header}.{payload}.").as_bytes()),
        ));
    }
    verify.push((
        "dialpad-plain-with-secret".into(),
        encode(d, 0, none, &dialpad[0].1),
    ));
    verify.push((
        "dialpad-plain-unsigned-source".into(),
        encode(flags(Provider::Dialpad, true, 2), 0, none, &dialpad[0].1),
    ));
    verify.push((
        "dialpad-not-utf8".into(),
        encode(d, 0, none, b"\xff\xfe.\xc3\x28.\x80"),
    ));

    // Standard: signed now, several candidates, rotation, extremes.
    let body = br#"{"type":"call.ended","data":{"id":"c_1"}}"#;
    let ts = NOW.to_string();
    let sig = sign_standard(&whsec, "msg_1", NOW, body).unwrap_or_default();
    let std_case = |id: &str, ts: &str, sig: &str, body: &[u8], f0: u8| {
        encode(
            f0,
            0,
            [
                None,
                Some(id.as_bytes()),
                Some(ts.as_bytes()),
                Some(sig.as_bytes()),
            ],
            body,
        )
    };
    verify.push((
        "standard-signed".into(),
        std_case("msg_1", &ts, &sig, body, s),
    ));
    verify.push((
        "standard-multi".into(),
        std_case("msg_1", &ts, &format!("v1,AAAA v1a,xyz {sig}"), body, s),
    ));
    verify.push((
        "standard-rotated".into(),
        std_case(
            "msg_1",
            &ts,
            &sig,
            body,
            flags(Provider::Standard, false, 1),
        ),
    ));
    verify.push((
        "standard-nine".into(),
        std_case("msg_1", &ts, &[sig.as_str(); 9].join(" "), body, s),
    ));
    for (name, t) in [
        ("min", i64::MIN.to_string()),
        ("max", i64::MAX.to_string()),
        ("stale", (NOW - 301).to_string()),
        ("text", "17e8".to_string()),
    ] {
        verify.push((
            format!("standard-ts-{name}"),
            std_case("msg_1", &t, &sig, body, s),
        ));
    }
    verify.push((
        "standard-long-id".into(),
        std_case(&"i".repeat(300), &ts, &sig, body, s),
    ));
    verify.push((
        "standard-unsigned-source".into(),
        std_case("msg_1", &ts, "", body, flags(Provider::Standard, true, 2)),
    ));
    parse.push(("standard".into(), with_byte(2, body)));

    // Parser edge cases.
    for (name, p, b) in [
        ("empty", 0u8, &b""[..]),
        ("yeastar-msg-string-nested", 0, br#"{"type":30011,"msg":"{\"call_id\":\"1.2\",\"members\":[{\"extension\":{\"number\":\"1\",\"member_status\":\"RING\",\"call_path\":\" \"}}]}"}"#),
        ("yeastar-msg-bad-string", 0, br#"{"type":30011,"msg":"{"}"#),
        ("yeastar-type-huge", 0, br#"{"type":1e999,"msg":{}}"#),
        ("yeastar-cdr-bad-time", 0, br#"{"type":30012,"msg":"{\"call_id\":\"1\",\"time_start\":\"2024-02-30 25:61:61\",\"call_duration\":-1}"}"#),
        ("dialpad-huge-ids", 1, br#"{"call_id":99999999999999999999,"state":"hangup","date_started":-1e308,"target":{"id":1e20,"type":"user"}}"#),
        ("dialpad-agent-empty", 1, br#"{"on_duty_status":"available","target":{}}"#),
        ("dialpad-jwt-garbage", 1, b"a.%%%.c"),
    ] {
        parse.push((name.to_string(), with_byte(p, b)));
    }

    write(&root.join("seeds/verify"), &verify)?;
    write(&root.join("seeds/parse"), &parse)?;
    println!("{} verify seeds, {} parse seeds", verify.len(), parse.len());
    Ok(())
}

fn with_byte(b: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![b];
    v.extend_from_slice(body);
    v
}

/// The fixtures of a folder, as (file stem, compact JSON), sorted by name.
/// Compact because the providers send compact JSON, and smaller seeds fuzz
/// faster.
fn read_dir(dir: &Path) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        let raw = fs::read(&p)?;
        let body = serde_json::from_slice::<serde_json::Value>(&raw)
            .ok()
            .and_then(|v| serde_json::to_vec(&v).ok())
            .unwrap_or(raw);
        let stem = p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push((stem, body));
    }
    Ok(out)
}

fn write(dir: &Path, files: &[(String, Vec<u8>)]) -> std::io::Result<()> {
    if dir.exists() {
        fs::remove_dir_all(dir)?;
    }
    fs::create_dir_all(dir)?;
    for (name, data) in files {
        fs::write(dir.join(name), data)?;
    }
    Ok(())
}
