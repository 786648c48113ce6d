//! The phone systems' API settings and the audit of actions on calls:
//! `worker source set-api|clear-api` read the credentials from stdin only,
//! never print them, and store them sealed (the plaintext is nowhere in the
//! database); `source list` shows a hint and a fingerprint; `source rekey`
//! reseals them; `worker audit` lists the actions newest first.

use store::apis::{self, Credentials, NewAction, Outcome};
use store::secrets::{Keyring, SecretsKey, KEY_VAR, PREVIOUS_KEY_VAR};
use testkit::{test_keyring, worker_cli_env, Counter, TestDb, OTHER_SECRETS_KEY, TEST_SECRETS_KEY};

use crate::helpers::{cli, fresh, ok, refused};

const CLIENT_ID: &str = "UEnH9Dmv6uBJEXsYcag1trNfQThY1234";
const CLIENT_SECRET: &str = "ZLcXl63S9EtMnYoHUnjbVo6sA8Cb5678";
const DIALPAD_KEY: &str = "dpk-Qx7mN2vR8sT4wY6zA1bC3dE5fG7hJ9";
const PBX_SECRET: &str = "pbx-webhook-secret-0123456789abcd";

/// A database with a Yeastar source `pbx`, a Dialpad source `sales` and a
/// Standard Webhooks source `crm`.
async fn with_sources() -> TestDb {
    let db = fresh().await;
    db.add_source("pbx", "yeastar", &[PBX_SECRET])
        .await
        .expect("pbx");
    db.add_source("sales", "dialpad", &[PBX_SECRET])
        .await
        .expect("sales");
    db.add_source("crm", "standard", &["whsec_AAAAAAAAAAAAAAAAAAAAAA=="])
        .await
        .expect("crm");
    db
}

/// How many tables hold `needle` in any row and column (as text).
async fn anywhere(db: &TestDb, needle: &str) -> i64 {
    db.tables_containing(needle).await.expect("search")
}

async fn settings(db: &TestDb, keys: &Keyring, name: &str) -> Option<apis::ApiSettings> {
    let mut c = db.conn().await.expect("conn");
    apis::get(&mut c, keys, name).await.expect("get")
}

#[tokio::test]
async fn yeastar_credentials_come_from_stdin_and_are_stored_sealed() {
    let db = with_sources().await;
    let args = [
        "source",
        "set-api",
        "pbx",
        "--base-url",
        "https://pbx.example.com:8088/",
    ];
    let (code, out, err) = cli(&db, &args, &format!("{CLIENT_ID}\n{CLIENT_SECRET}\n")).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(
            "set the API settings of pbx (yeastar): https://pbx.example.com:8088, client UEnH…"
        ),
        "{out}"
    );
    for text in [&out, &err] {
        assert!(
            !text.contains(CLIENT_SECRET) && !text.contains(CLIENT_ID),
            "{text}"
        );
    }

    // Sealed: opens with the key to what was given; the plaintext of the
    // secret (or of the whole client id) is in no table, in any column.
    let s = settings(&db, &test_keyring().unwrap(), "pbx")
        .await
        .expect("settings");
    assert_eq!(s.base_url, "https://pbx.example.com:8088");
    assert_eq!(
        s.credentials,
        Credentials::Yeastar {
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into()
        }
    );
    assert!(!format!("{s:?}").contains(CLIENT_SECRET));
    assert_eq!(anywhere(&db, CLIENT_SECRET).await, 0);
    assert_eq!(anywhere(&db, CLIENT_ID).await, 0);
    assert_eq!(
        anywhere(&db, "pbx.example.com:8088").await,
        1,
        "the search works"
    );
    assert_eq!(
        db.count_where(
            Counter::Apis,
            "source = 'pbx' AND provider = 'yeastar' AND octet_length(nonce) = 12
             AND key_id ~ '^[0-9a-f]{8}$' AND client_hint = 'UEnH…'"
        )
        .await
        .unwrap(),
        1
    );

    // `source list`: the hint and a fingerprint, never the credentials.
    let list = ok(&db, &["source", "list"], "").await;
    assert!(
        list.contains(&format!(
            "api yeastar https://pbx.example.com:8088  client UEnH…  fp {}",
            s.fingerprint
        )),
        "{list}"
    );
    assert!(
        !list.contains(CLIENT_SECRET) && !list.contains(CLIENT_ID),
        "{list}"
    );
    assert!(
        list.contains(
            "(no API: the board cannot hang up its calls; see `worker source set-api sales`)"
        ),
        "{list}"
    );

    // Replaced: a new fingerprint.
    let out = ok(
        &db,
        &[
            "source",
            "set-api",
            "pbx",
            "--base-url",
            "https://pbx2.example.com",
        ],
        &format!("{CLIENT_ID}\nanother-secret-0123456789abcdef\n"),
    )
    .await;
    assert!(out.starts_with("replaced the API settings of pbx"), "{out}");
    let s2 = settings(&db, &test_keyring().unwrap(), "pbx")
        .await
        .expect("settings");
    assert_ne!(s2.fingerprint, s.fingerprint);
    assert_eq!(s2.base_url, "https://pbx2.example.com");
    assert_eq!(anywhere(&db, CLIENT_SECRET).await, 0);

    // Cleared.
    let out = ok(&db, &["source", "clear-api", "pbx"], "").await;
    assert!(out.contains("cleared the API settings of pbx"), "{out}");
    assert!(settings(&db, &test_keyring().unwrap(), "pbx")
        .await
        .is_none());
    let out = ok(&db, &["source", "clear-api", "pbx"], "").await;
    assert!(out.contains("pbx had no API settings"), "{out}");
    let err = refused(&db, &["source", "clear-api", "nope"], "").await;
    assert!(err.contains("does not exist"), "{err}");
}

#[tokio::test]
async fn dialpad_takes_one_key_and_a_default_base_url() {
    let db = with_sources().await;
    let (code, out, err) = cli(
        &db,
        &["source", "set-api", "sales"],
        &format!("{DIALPAD_KEY}\n"),
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("(dialpad): https://dialpad.com, credentials fp"),
        "{out}"
    );
    assert!(!out.contains(DIALPAD_KEY) && !err.contains(DIALPAD_KEY));
    let s = settings(&db, &test_keyring().unwrap(), "sales")
        .await
        .expect("settings");
    assert_eq!(
        s.credentials,
        Credentials::Dialpad {
            api_key: DIALPAD_KEY.into()
        }
    );
    assert_eq!(anywhere(&db, DIALPAD_KEY).await, 0);
    let list = ok(&db, &["source", "list"], "").await;
    assert!(
        list.contains("api dialpad https://dialpad.com  fp"),
        "{list}"
    );
    assert!(!list.contains(DIALPAD_KEY), "{list}");
}

#[tokio::test]
async fn bad_input_is_refused_and_nothing_is_stored() {
    let db = with_sources().await;
    let set = |name: &'static str, url: Option<&'static str>| {
        let mut a = vec!["source", "set-api", name];
        if let Some(u) = url {
            a.extend(["--base-url", u]);
        }
        a
    };
    let two = format!("{CLIENT_ID}\n{CLIENT_SECRET}\n");
    for (args, stdin, want) in [
        (set("pbx", None), two.clone(), "needs --base-url"),
        (
            set("pbx", Some("pbx.example.com")),
            two.clone(),
            "must start with https://",
        ),
        (
            set("pbx", Some("https://u:p@pbx")),
            two.clone(),
            "user name or password",
        ),
        (
            set("pbx", Some("https://pbx")),
            format!("{CLIENT_ID}\n"),
            "1 line(s) given",
        ),
        (
            set("pbx", Some("https://pbx")),
            String::new(),
            "0 line(s) given",
        ),
        (
            set("pbx", Some("https://pbx")),
            format!("{CLIENT_ID}\nhas a space\n"),
            "the client secret is refused: it contains whitespace",
        ),
        (
            set("sales", None),
            format!("{DIALPAD_KEY}\nextra\n"),
            "2 line(s) given",
        ),
        (
            set("crm", Some("https://x")),
            two.clone(),
            "standard source",
        ),
        (
            set("nope", Some("https://x")),
            two.clone(),
            "does not exist",
        ),
    ] {
        let err = refused(&db, &args, &stdin).await;
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(
            !err.contains(CLIENT_SECRET) && !err.contains("has a space"),
            "{err}"
        );
    }
    // Never on the command line.
    let err = refused(
        &db,
        &[
            "source",
            "set-api",
            "pbx",
            "--base-url",
            "https://pbx",
            "--client-secret",
            CLIENT_SECRET,
        ],
        &two,
    )
    .await;
    assert!(err.contains("unexpected argument"), "{err}");
    // Not without the key.
    let (code, _, err) = worker_cli_env(
        &db.url,
        &["source", "set-api", "pbx", "--base-url", "https://pbx"],
        &two,
        &[(KEY_VAR, None)],
    )
    .await
    .expect("runs");
    assert_ne!(code, 0);
    assert!(err.contains(KEY_VAR), "{err}");
    assert_eq!(db.counts().await.unwrap().apis, 0);
}

#[tokio::test]
async fn rekey_reseals_the_api_credentials() {
    let db = with_sources().await;
    ok(
        &db,
        &["source", "set-api", "pbx", "--base-url", "https://pbx"],
        &format!("{CLIENT_ID}\n{CLIENT_SECRET}\n"),
    )
    .await;
    let rotate = [
        (KEY_VAR, Some(OTHER_SECRETS_KEY)),
        (PREVIOUS_KEY_VAR, Some(TEST_SECRETS_KEY)),
    ];
    let (code, out, err) = worker_cli_env(&db.url, &["source", "rekey"], "", &rotate)
        .await
        .expect("runs");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("API settings sealed under key"), "{out}");
    assert!(out.contains(": 1 resealed, 0 already current"), "{out}");
    let new_only = Keyring::new(
        SecretsKey::from_base64(KEY_VAR, OTHER_SECRETS_KEY).unwrap(),
        None,
    );
    let s = settings(&db, &new_only, "pbx")
        .await
        .expect("opens with the new key");
    assert_eq!(
        s.credentials,
        Credentials::Yeastar {
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into()
        }
    );
    // The old key alone no longer opens it.
    let mut c = db.conn().await.unwrap();
    let e = apis::get(&mut c, &test_keyring().unwrap(), "pbx")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("cannot open"), "{e}");
    assert!(!e.to_string().contains(CLIENT_SECRET));
    // `source list` with the old key says its key is not loaded.
    let list = ok(&db, &["source", "list"], "").await;
    assert!(list.contains("NOT LOADED"), "{list}");
}

#[tokio::test]
async fn audit_lists_actions_newest_first() {
    let db = with_sources().await;
    let out = ok(&db, &["audit"], "").await;
    assert!(out.contains("(no actions)"), "{out}");
    let mut c = db.conn().await.unwrap();
    for (i, (source, outcome, answer)) in [
        ("pbx", Outcome::Ok, "call/hangup: errcode 0: SUCCESS"),
        (
            "sales",
            Outcome::ProviderError,
            "HTTP 401 {\"error\":\"bad key\"}",
        ),
        (
            "pbx",
            Outcome::NotLive,
            "the call has already ended\u{1b}[31m",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        apis::record(
            &mut c,
            &NewAction {
                user_name: "olivia",
                source,
                call_id: Some(&format!("call-{i}")),
                leg_id: Some(&format!("leg-{i}")),
                extension: None,
                action: "hangup",
                detail: None,
                channel_id: (source == "pbx").then_some("PJSIP/2002-00000001"),
                outcome,
                provider_answer: Some(answer),
                duration_ms: Some(12),
            },
        )
        .await
        .unwrap();
    }
    // A long answer is cut to 2 KB.
    apis::record(
        &mut c,
        &NewAction {
            user_name: "olivia",
            source: "pbx",
            call_id: Some("call-3"),
            leg_id: Some("leg-3"),
            extension: None,
            action: "hangup",
            detail: None,
            channel_id: None,
            outcome: Outcome::Timeout,
            provider_answer: Some(&"é".repeat(3000)),
            duration_ms: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        db.count("SELECT max(octet_length(provider_answer))::int8 AS n FROM call_actions")
            .await
            .unwrap(),
        2048
    );

    let out = ok(&db, &["audit"], "").await;
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("OUTCOME"),
        "{out}"
    );
    assert_eq!(lines.len(), 5, "{out}");
    assert!(
        lines[1].contains("timeout") && lines[1].contains("call-3"),
        "{out}"
    );
    assert!(
        lines[2].contains("not_live") && lines[2].contains("the call has already ended"),
        "{out}"
    );
    assert!(
        !out.contains('\u{1b}'),
        "no control character reaches the terminal"
    );
    assert!(
        lines[3].contains("sales") && lines[3].contains("provider_error"),
        "{out}"
    );
    assert!(
        lines[4].contains("olivia") && lines[4].contains(" ok ") && lines[4].contains("errcode 0"),
        "{out}"
    );

    let out = ok(&db, &["audit", "--source", "sales"], "").await;
    assert_eq!(out.lines().count(), 2, "{out}");
    let json = ok(
        &db,
        &["audit", "--json", "--limit", "2", "--source", "pbx"],
        "",
    )
    .await;
    let rows: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let rows = rows.as_array().expect("array");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["call_id"], "call-3");
    assert_eq!(rows[1]["outcome"], "not_live");
    assert_eq!(rows[1]["channel_id"], "PJSIP/2002-00000001");
    assert_eq!(rows[1]["duration_ms"], 12);
    assert_eq!(rows[1]["action"], "hangup");
    let err = refused(&db, &["audit", "--limit", "0"], "").await;
    assert!(err.contains("--limit"), "{err}");
}
