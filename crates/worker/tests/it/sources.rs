//! Sources and their secrets, fail closed: a secret is required unless the
//! operator says `--allow-unsigned`, the last one cannot be revoked,
//! secrets are revoked by id and listed without any part of them, rotation
//! expires the old ones, a revoked secret never comes back, secrets never
//! come from argv, they are sealed at rest and ingest refuses (503) what it
//! cannot open, and a source's allowed networks are stored and returned.

use std::time::{Duration, Instant};

use crate::helpers::{cli, fresh, ok, refused};
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use store::sources::IpNet;
use testkit::{
    sign_dialpad, sign_yeastar, test_keyring, wait_until, worker_cli_env, Counter, Ingest, TestDb,
    OTHER_SECRETS_KEY, TEST_SECRETS_KEY,
};

const KEY_VAR: &str = "SWITCHBOARD_SECRETS_KEY";
const PREVIOUS_VAR: &str = "SWITCHBOARD_SECRETS_KEY_PREVIOUS";
const OLD: &str = "old-yeastar-secret-0123456789abcd";
const NEW: &str = "new-yeastar-secret-0123456789abcd";
/// Two Standard Webhooks secrets with the same first 10 characters.
const WHSEC_A: &str = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const WHSEC_B: &str = "whsec_MDEyMzQ1Njc4OWFiY2RlZjk5OTk5OTk5OTk5OTk5OTk=";
const WAIT: Duration = Duration::from_secs(30);

#[derive(diesel::QueryableByName)]
struct IdRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Ids of `source`'s secrets, oldest first.
async fn secret_ids(db: &TestDb, source: &str) -> Vec<i64> {
    let mut c = db.conn().await.expect("conn");
    diesel::sql_query("SELECT id FROM source_secrets WHERE source = $1 ORDER BY id")
        .bind::<Text, _>(source)
        .load::<IdRow>(&mut c)
        .await
        .expect("ids")
        .into_iter()
        .map(|r| r.id)
        .collect()
}

/// The usable (neither revoked nor expired) secrets of `source`.
async fn active(db: &TestDb, source: &str) -> i64 {
    db.count_where(Counter::ActiveSecrets, &format!("source = '{source}'"))
        .await
        .expect("count")
}

async fn verifier(db: &TestDb, source: &str) -> Option<store::sources::Verifier> {
    let mut c = db.conn().await.expect("conn");
    store::sources::lookup(&mut c, source, &test_keyring().expect("keyring"))
        .await
        .expect("lookup")
}

fn ringing(call: &str) -> Vec<u8> {
    format!(
        r#"{{"type":30011,"sn":"X","msg":"{{\"call_id\":\"{call}\",\"members\":[{{\"extension\":{{\"number\":\"2001\",\"channel_id\":\"c-{call}\",\"member_status\":\"RING\",\"call_path\":\"\"}}}}]}}"}}"#
    )
    .into_bytes()
}

// ------------------------------------------------------------ 1. unsigned --

#[tokio::test]
async fn a_secret_is_required_unless_allow_unsigned_is_given_loudly() -> anyhow::Result<()> {
    let db = fresh().await;
    // Every provider, Dialpad included, needs a secret.
    for provider in ["dialpad", "yeastar", "standard"] {
        let err = refused(&db, &["source", "add", "x", "--provider", provider], "").await;
        assert!(
            err.contains("needs a signing secret") && err.contains("--allow-unsigned"),
            "{provider}: {err}"
        );
    }
    assert_eq!(db.counts().await.expect("counts").sources, 0);
    // --allow-unsigned is explicit, logged as a warning, listed and looked up.
    let (code, out, err) = cli(
        &db,
        &[
            "source",
            "add",
            "dp",
            "--provider",
            "dialpad",
            "--allow-unsigned",
        ],
        "",
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("UNSIGNED"), "{out}");
    assert!(err.contains("WARN") && err.contains("UNSIGNED"), "{err}");
    ok(&db, &["source", "add", "pbx", "--provider", "yeastar"], OLD).await;
    let list = ok(&db, &["source", "list"], "").await;
    let dp_line = list
        .lines()
        .find(|l| l.starts_with("dp "))
        .expect("dp listed");
    assert!(dp_line.contains("YES (unsigned)"), "{list}");
    let pbx_line = list.lines().find(|l| l.starts_with("pbx ")).expect("pbx");
    assert!(!pbx_line.contains("YES"), "{list}");
    assert!(verifier(&db, "dp").await.expect("dp").allow_unsigned);
    assert!(!verifier(&db, "pbx").await.expect("pbx").allow_unsigned);
    // --allow-unsigned cannot be given to a source with secrets, nor with a secret.
    let err = refused(
        &db,
        &[
            "source",
            "add",
            "pbx",
            "--provider",
            "yeastar",
            "--allow-unsigned",
        ],
        "",
    )
    .await;
    assert!(err.contains("has active secrets"), "{err}");
    // Adding a secret to an unsigned source makes it require signatures.
    ok(
        &db,
        &["source", "add-secret", "dp"],
        "dialpad-secret-0123456789",
    )
    .await;
    assert!(!verifier(&db, "dp").await.expect("dp").allow_unsigned);

    // Ingest: a source without a secret (as created before allow_unsigned
    // existed) refuses unsigned bodies; an allow_unsigned one takes them.
    db.exec("INSERT INTO sources (name, provider) VALUES ('old-dp', 'dialpad')")
        .await
        .expect("legacy source");
    ok(
        &db,
        &[
            "source",
            "add",
            "open",
            "--provider",
            "dialpad",
            "--allow-unsigned",
        ],
        "",
    )
    .await;
    let ingest = Ingest::start(&db.url, &["--source-cache-ttl", "0s"])
        .await
        .expect("ingest");
    let body = br#"{"call_id":1,"state":"ringing","date_started":1700000000000}"#;
    assert_eq!(
        ingest
            .post("old-dp", &sign_dialpad(None, body))
            .await?
            .status,
        401
    );
    assert_eq!(
        ingest.post("open", &sign_dialpad(None, body)).await?.status,
        200
    );
    Ok(())
}

// --------------------------------------------------------- 2. last secret --

#[tokio::test]
async fn the_last_active_secret_cannot_be_revoked() {
    let db = fresh().await;
    ok(&db, &["source", "add", "pbx", "--provider", "yeastar"], OLD).await;
    let old = secret_ids(&db, "pbx").await[0].to_string();
    let err = refused(&db, &["source", "revoke-secret", "pbx", &old], "").await;
    assert!(
        err.contains("refusing to revoke") && err.contains("add-secret"),
        "{err}"
    );
    assert_eq!(active(&db, "pbx").await, 1);
    // With a new one added first, the old one goes; then the new is the last.
    ok(&db, &["source", "add-secret", "pbx"], NEW).await;
    let new = secret_ids(&db, "pbx").await[1].to_string();
    ok(&db, &["source", "revoke-secret", "pbx", &old], "").await;
    let err = refused(&db, &["source", "revoke-secret", "pbx", &new], "").await;
    assert!(err.contains("refusing to revoke"), "{err}");
    assert_eq!(active(&db, "pbx").await, 1);
    // Secrets that expire do not count: the source would end with none.
    ok(
        &db,
        &["source", "add-secret", "pbx", "--expire-others-after", "1h"],
        "third-yeastar-secret-0123456789ab",
    )
    .await;
    let third = secret_ids(&db, "pbx").await[2].to_string();
    let err = refused(&db, &["source", "revoke-secret", "pbx", &third], "").await;
    assert!(err.contains("refusing to revoke"), "{err}");
    ok(&db, &["source", "revoke-secret", "pbx", &new], "").await;
    assert_eq!(active(&db, "pbx").await, 1);
}

// ---------------------------------------------------- 3. revoke by id, list --

#[tokio::test]
async fn secrets_are_revoked_by_id_and_listed_without_any_prefix() {
    let db = fresh().await;
    ok(
        &db,
        &["source", "add", "crm", "--provider", "standard"],
        &format!("{WHSEC_A}\n{WHSEC_B}\n"),
    )
    .await;
    ok(&db, &["source", "add", "pbx", "--provider", "yeastar"], OLD).await;
    let ids = secret_ids(&db, "crm").await;
    assert_eq!(ids.len(), 2);
    let list = ok(&db, &["source", "list"], "").await;
    let mut fingerprints = Vec::new();
    for id in &ids {
        let line = list
            .lines()
            .find(|l| l.contains(&format!("secret #{id} ")))
            .unwrap_or_else(|| panic!("secret #{id} listed: {list}"));
        assert!(line.contains(&format!("{} bytes", WHSEC_A.len())), "{line}");
        let created = line
            .split("created ")
            .nth(1)
            .and_then(|r| r.get(..19))
            .and_then(|t| chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S").ok())
            .unwrap_or_else(|| panic!("a creation time: {line}"));
        let age = chrono::Utc::now().naive_utc() - created;
        assert!(age.num_seconds().abs() < 300, "{line}");
        let fp = line
            .split("fp ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .expect("a fingerprint");
        assert_eq!(fp.len(), 8, "{line}");
        fingerprints.push(fp.to_string());
    }
    assert_ne!(fingerprints[0], fingerprints[1], "{list}");
    // No part of any secret: not the prefix every Standard secret shares,
    // not their common start.
    for needle in ["whse", "MDEy", "old-", "yeastar-secret"] {
        assert!(!list.contains(needle), "{needle:?} in {list}");
    }

    // Revoke by id: only that one goes.
    ok(
        &db,
        &["source", "revoke-secret", "crm", &ids[0].to_string()],
        "",
    )
    .await;
    let revoked = db
        .count_where(
            Counter::Secrets,
            &format!("id = {} AND revoked_at IS NOT NULL", ids[0]),
        )
        .await
        .expect("n");
    assert_eq!(revoked, 1);
    assert_eq!(active(&db, "crm").await, 1);
    let list = ok(&db, &["source", "list"], "").await;
    assert!(!list.contains(&format!("secret #{} ", ids[0])), "{list}");
    // A prefix is not an id; an id of another source or none is refused.
    let (code, _, err) = cli(&db, &["source", "revoke-secret", "crm", "whsec_"], "").await;
    assert_eq!(code, 2, "{err}");
    let pbx_id = secret_ids(&db, "pbx").await[0].to_string();
    let err = refused(&db, &["source", "revoke-secret", "crm", &pbx_id], "").await;
    assert!(err.contains("has no secret #"), "{err}");
    let err = refused(&db, &["source", "revoke-secret", "crm", "999999"], "").await;
    assert!(err.contains("has no secret #999999"), "{err}");
    let err = refused(
        &db,
        &["source", "revoke-secret", "crm", &ids[0].to_string()],
        "",
    )
    .await;
    assert!(err.contains("already revoked"), "{err}");
}

// ------------------------------------------------------ 4. rotation expiry --

#[tokio::test]
async fn rotation_expires_the_old_secret_and_keeps_the_new() -> anyhow::Result<()> {
    let db = fresh().await;
    ok(&db, &["source", "add", "pbx", "--provider", "yeastar"], OLD).await;
    let ingest = Ingest::start(&db.url, &["--source-cache-ttl", "0s"])
        .await
        .expect("ingest");
    assert_eq!(
        ingest
            .post("pbx", &sign_yeastar(OLD, &ringing("r.0")))
            .await?
            .status,
        200
    );

    let started = Instant::now();
    let out = ok(
        &db,
        &["source", "add-secret", "pbx", "--expire-others-after", "3s"],
        NEW,
    )
    .await;
    let ids = secret_ids(&db, "pbx").await;
    assert!(
        out.contains(&format!("secret #{} of pbx expires at", ids[0])),
        "{out}"
    );
    let expiring = db
        .count_where(
            Counter::Secrets,
            &format!("id = {} AND expires_at IS NOT NULL", ids[0]),
        )
        .await
        .expect("n");
    assert_eq!(expiring, 1, "the old secret has an expiry");
    let list = ok(&db, &["source", "list"], "").await;
    assert!(list.contains("expires "), "{list}");
    // Until it expires, both are accepted (checked only while surely before).
    let early = ingest
        .post("pbx", &sign_yeastar(OLD, &ringing("r.1")))
        .await?
        .status;
    if started.elapsed() < Duration::from_secs(2) {
        assert_eq!(early, 200, "the old secret is accepted until it expires");
    }
    assert_eq!(
        ingest
            .post("pbx", &sign_yeastar(NEW, &ringing("r.2")))
            .await?
            .status,
        200
    );
    // Then the old one is refused, the new one still accepted.
    let mut n = 3;
    wait_until(WAIT, "the old secret to expire", || {
        n += 1;
        let body = ringing(&format!("r.{n}"));
        let ingest = &ingest;
        async move { Ok(ingest.post("pbx", &sign_yeastar(OLD, &body)).await?.status == 401) }
    })
    .await
    .expect("old secret refused after expiry");
    assert!(started.elapsed() >= Duration::from_secs(3));
    assert_eq!(
        ingest
            .post("pbx", &sign_yeastar(NEW, &ringing("r.new")))
            .await?
            .status,
        200
    );
    let list = ok(&db, &["source", "list"], "").await;
    assert!(list.contains("EXPIRED"), "{list}");
    Ok(())
}

// ------------------------------------------------------- 5. no re-adding --

#[tokio::test]
async fn a_revoked_or_expired_secret_cannot_be_added_again() {
    let db = fresh().await;
    ok(&db, &["source", "add", "pbx", "--provider", "yeastar"], OLD).await;
    ok(&db, &["source", "add-secret", "pbx"], NEW).await;
    let old = secret_ids(&db, "pbx").await[0].to_string();
    ok(&db, &["source", "revoke-secret", "pbx", &old], "").await;
    let err = refused(&db, &["source", "add-secret", "pbx"], OLD).await;
    assert!(err.contains("was revoked from \"pbx\" before"), "{err}");
    assert!(!err.contains(OLD), "the secret is never echoed: {err}");
    let err = refused(&db, &["source", "add", "pbx", "--provider", "yeastar"], OLD).await;
    assert!(err.contains("revoked"), "{err}");
    // Still revoked, and nothing added.
    assert_eq!(secret_ids(&db, "pbx").await.len(), 2);
    assert_eq!(active(&db, "pbx").await, 1);
    // An active one is reported, not duplicated; `add` stays idempotent.
    let err = refused(&db, &["source", "add-secret", "pbx"], NEW).await;
    assert!(err.contains("already active"), "{err}");
    let out = ok(&db, &["source", "add", "pbx", "--provider", "yeastar"], NEW).await;
    assert!(out.contains("0 secret(s) added, 1 already active"), "{out}");
    // An expired one is refused too.
    ok(
        &db,
        &["source", "add-secret", "pbx", "--expire-others-after", "0s"],
        "third-yeastar-secret-0123456789ab",
    )
    .await;
    let err = refused(&db, &["source", "add-secret", "pbx"], NEW).await;
    assert!(err.contains("expired"), "{err}");
    // The same secret on another source is that source's business.
    ok(
        &db,
        &["source", "add", "pbx2", "--provider", "yeastar"],
        OLD,
    )
    .await;
    // Reuse is told by a keyed fingerprint, unique per source.
    let fps = db
        .count("SELECT count(DISTINCT fingerprint) AS n FROM source_secrets WHERE fingerprint IS NOT NULL")
        .await
        .expect("n");
    assert_eq!(fps, 4);
    let dup = db
        .exec(&format!(
            "INSERT INTO source_secrets (source, ciphertext, nonce, key_id, fingerprint)
             SELECT source, ciphertext, nonce, key_id, fingerprint FROM source_secrets WHERE id = {old}"
        ))
        .await;
    assert!(dup.is_err(), "the fingerprint is unique per source");
}

// ----------------------------------------------------------- 6. no argv --

#[tokio::test]
async fn secrets_never_come_from_argv() {
    let db = fresh().await;
    // On the command line: not an option at all.
    let (code, _, err) = cli(
        &db,
        &[
            "source",
            "add",
            "pbx",
            "--provider",
            "yeastar",
            "--secret",
            OLD,
        ],
        "",
    )
    .await;
    assert_eq!(code, 2, "{err}");
    ok(&db, &["source", "add", "pbx", "--provider", "yeastar"], OLD).await;
    let (code, _, err) = cli(&db, &["source", "add-secret", "pbx", NEW], "").await;
    assert_eq!(code, 2, "{err}");
    assert_eq!(secret_ids(&db, "pbx").await.len(), 1);
}

#[tokio::test]
async fn careless_secrets_are_refused_without_being_echoed() {
    let db = fresh().await;
    ok(&db, &["source", "add", "pbx", "--provider", "yeastar"], OLD).await;
    // Hostile or careless input, each refused with a clear message that
    // never repeats the secret.
    let cases: [(&str, &str, &str); 9] = [
        ("yeastar", "s\n", "needs at least 16"),
        ("yeastar", "short-secret\n", "needs at least 16"),
        ("dialpad", "has a space in it 0123456789\n", "whitespace"),
        ("dialpad", "\tleading-tab-0123456789abc\n", "whitespace"),
        (
            "dialpad",
            "bell-\u{7}-0123456789abcdef\n",
            "control character",
        ),
        (
            "standard",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3\n",
            "prefix is missing",
        ),
        ("standard", "whsec_MDEyMzQ1Njc=\n", "it holds 8"),
        ("standard", "whsec_not*base64*at*all*0123\n", "not Base64"),
        (
            "yeastar",
            "good-secret-0123456789abcdef\nx\n",
            "secret 2 of 2",
        ),
    ];
    for (provider, input, expected) in cases {
        let err = refused(
            &db,
            &["source", "add", "bad", "--provider", provider],
            input,
        )
        .await;
        assert!(err.contains(expected), "{provider} {input:?}: {err}");
        for line in input.lines().filter(|l| l.len() >= 8) {
            assert!(!err.contains(line.trim()), "{input:?} echoed: {err}");
        }
    }
    assert_eq!(
        db.count_where(Counter::Sources, "name = 'bad'")
            .await
            .expect("n"),
        0
    );
    let err = refused(&db, &["source", "add-secret", "pbx"], "").await;
    assert!(err.contains("no secret given"), "{err}");
    let err = refused(
        &db,
        &["source", "add-secret", "pbx"],
        &format!("{NEW}\n{NEW}x\n"),
    )
    .await;
    assert!(err.contains("takes one secret"), "{err}");
}

#[tokio::test]
async fn secrets_come_one_per_line_or_from_a_file() {
    let db = fresh().await;
    // One per line, CRLF and blank lines tolerated; or from a file.
    let out = ok(
        &db,
        &["source", "add", "multi", "--provider", "yeastar"],
        &format!("\r\n{OLD}\r\n\n{NEW}\n"),
    )
    .await;
    assert!(out.contains("2 secret(s) added"), "{out}");
    let dir = std::env::temp_dir().join(format!("sb-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("secret.txt");
    std::fs::write(&file, format!("{WHSEC_A}\n")).expect("write");
    let path = file.to_string_lossy().to_string();
    ok(
        &db,
        &[
            "source",
            "add",
            "crm",
            "--provider",
            "standard",
            "--secret-file",
            &path,
        ],
        "",
    )
    .await;
    let err = refused(
        &db,
        &[
            "source",
            "add-secret",
            "crm",
            "--secret-file",
            "/nonexistent/secret.txt",
        ],
        "",
    )
    .await;
    assert!(
        err.contains("cannot read the secret file /nonexistent/secret.txt"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// -------------------------------------------------------------- 7. sealed --

#[tokio::test]
async fn secrets_are_sealed_at_rest_bound_to_their_source() {
    let db = fresh().await;
    ok(&db, &["source", "add", "a", "--provider", "yeastar"], OLD).await;
    ok(&db, &["source", "add", "b", "--provider", "yeastar"], OLD).await;
    let plaintext = db
        .count_where(
            Counter::Secrets,
            &format!(
                "secret IS NOT NULL OR position(convert_to('{OLD}', 'UTF8') IN ciphertext) > 0
                 OR position(convert_to('yeastar-secret', 'UTF8') IN ciphertext) > 0"
            ),
        )
        .await
        .expect("n");
    assert_eq!(plaintext, 0, "no plaintext at rest");
    let key_id = test_keyring().expect("keyring").current_id().to_string();
    let shaped = db
        .count_where(
            Counter::Secrets,
            &format!(
                "key_id = '{key_id}' AND octet_length(nonce) = 12
                 AND octet_length(ciphertext) = {} + 16 AND octet_length(fingerprint) = 32",
                OLD.len()
            ),
        )
        .await
        .expect("n");
    assert_eq!(shaped, 2);
    let distinct = db
        .count("SELECT count(DISTINCT ciphertext) + count(DISTINCT nonce) + count(DISTINCT fingerprint) AS n FROM source_secrets")
        .await
        .expect("n");
    assert_eq!(
        distinct, 6,
        "fresh nonce, ciphertext and fingerprint per row"
    );
    assert_eq!(verifier(&db, "b").await.expect("b").secrets, vec![OLD]);
    // a's ciphertext copied onto b's row does not open there: the source
    // name is associated data.
    db.exec(
        "UPDATE source_secrets SET (ciphertext, nonce) =
           (SELECT ciphertext, nonce FROM source_secrets WHERE source = 'a')
         WHERE source = 'b'",
    )
    .await
    .expect("move");
    let mut c = db.conn().await.expect("conn");
    let r = store::sources::lookup(&mut c, "b", &test_keyring().expect("keyring")).await;
    assert!(
        matches!(r, Err(store::sources::LookupError::Sealed { .. })),
        "{r:?}"
    );
}

#[tokio::test]
async fn without_the_key_nothing_starts() {
    let db = fresh().await;
    let no_key = [(KEY_VAR, None), (PREVIOUS_VAR, None)];
    for args in [
        &["source", "list"][..],
        &["source", "add", "x", "--provider", "yeastar"],
    ] {
        let (code, _, err) = worker_cli_env(&db.url, args, OLD, &no_key)
            .await
            .expect("worker");
        assert_ne!(code, 0);
        assert!(
            err.contains("SWITCHBOARD_SECRETS_KEY is not set")
                && err.contains("openssl rand -base64 32"),
            "{err}"
        );
    }
    for (bad, expected) in [
        ("not base64!", "not valid Base64"),
        ("c2hvcnQ=", "decodes to 5 bytes"),
    ] {
        let (code, _, err) =
            worker_cli_env(&db.url, &["source", "list"], "", &[(KEY_VAR, Some(bad))])
                .await
                .expect("worker");
        assert_ne!(code, 0);
        assert!(err.contains(expected), "{err}");
    }
    // ingest refuses to start, naming the variable.
    for env in [None, Some("c2hvcnQ=")] {
        let mut cmd = tokio::process::Command::new(testkit::bin("ingest").expect("bin"));
        cmd.args(["--bind", "127.0.0.1:0"])
            .env("DATABASE_URL", &db.url)
            .env("RUST_BACKTRACE", "0")
            .env_remove(PREVIOUS_VAR)
            .kill_on_drop(true);
        match env {
            None => cmd.env_remove(KEY_VAR),
            Some(v) => cmd.env(KEY_VAR, v),
        };
        let out = tokio::time::timeout(Duration::from_secs(20), cmd.output())
            .await
            .expect("ingest exits at once")
            .expect("ran");
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("SWITCHBOARD_SECRETS_KEY"), "{err}");
    }
}

#[tokio::test]
async fn secrets_that_do_not_open_answer_503_never_unsigned() -> anyhow::Result<()> {
    let db = fresh().await;
    ok(&db, &["source", "add", "pbx", "--provider", "yeastar"], OLD).await;
    ok(&db, &["source", "add", "dp", "--provider", "dialpad"], NEW).await;
    let claims = br#"{"call_id":7,"state":"ringing","date_started":1700000000000}"#;
    let ttl = ["--source-cache-ttl", "0s"];
    // The wrong key: 503 for signed and unsigned bodies alike.
    let wrong = Ingest::start_with_env(&db.url, &ttl, &[(KEY_VAR, OTHER_SECRETS_KEY)])
        .await
        .expect("ingest");
    assert_eq!(
        wrong
            .post("pbx", &sign_yeastar(OLD, &ringing("w.1")))
            .await?
            .status,
        503
    );
    assert_eq!(
        wrong.post("dp", &sign_dialpad(None, claims)).await?.status,
        503
    );
    assert_eq!(
        wrong
            .post("nobody", &sign_dialpad(None, claims))
            .await?
            .status,
        404
    );
    // The right one as the previous key during a rotation: accepted.
    let rotating = Ingest::start_with_env(
        &db.url,
        &ttl,
        &[
            (KEY_VAR, OTHER_SECRETS_KEY),
            (PREVIOUS_VAR, TEST_SECRETS_KEY),
        ],
    )
    .await
    .expect("ingest");
    assert_eq!(
        rotating
            .post("pbx", &sign_yeastar(OLD, &ringing("w.2")))
            .await?
            .status,
        200
    );
    // A tampered ciphertext (one bit) under the right key: 503.
    let right = Ingest::start(&db.url, &ttl).await.expect("ingest");
    assert_eq!(
        right
            .post("pbx", &sign_yeastar(OLD, &ringing("w.3")))
            .await?
            .status,
        200
    );
    db.exec(
        "UPDATE source_secrets SET ciphertext = set_byte(ciphertext, 3, get_byte(ciphertext, 3) # 1)
         WHERE source = 'pbx'",
    )
    .await
    .expect("tamper");
    assert_eq!(
        right
            .post("pbx", &sign_yeastar(OLD, &ringing("w.4")))
            .await?
            .status,
        503
    );
    // A tampered Dialpad secret is not "no secret": its plain JSON is 503.
    db.exec("UPDATE source_secrets SET key_id = '00000000' WHERE source = 'dp'")
        .await
        .expect("tamper");
    assert_eq!(
        right.post("dp", &sign_dialpad(None, claims)).await?.status,
        503
    );
    assert_eq!(
        db.counts().await?.events,
        2,
        "only the two accepted events are stored"
    );
    Ok(())
}

#[tokio::test]
async fn rekey_moves_every_secret_to_the_new_key() -> anyhow::Result<()> {
    let db = fresh().await;
    ok(&db, &["source", "add", "pbx", "--provider", "yeastar"], OLD).await;
    ok(&db, &["source", "add-secret", "pbx"], NEW).await;
    let old = secret_ids(&db, "pbx").await[0].to_string();
    ok(&db, &["source", "revoke-secret", "pbx", &old], "").await;
    // Without the old key as previous, rekey fails and changes nothing.
    let (code, _, err) = worker_cli_env(
        &db.url,
        &["source", "rekey"],
        "",
        &[(KEY_VAR, Some(OTHER_SECRETS_KEY))],
    )
    .await
    .expect("worker");
    assert_ne!(code, 0);
    assert!(err.contains("SWITCHBOARD_SECRETS_KEY_PREVIOUS"), "{err}");
    let rotate = [
        (KEY_VAR, Some(OTHER_SECRETS_KEY)),
        (PREVIOUS_VAR, Some(TEST_SECRETS_KEY)),
    ];
    let (code, out, err) = worker_cli_env(&db.url, &["source", "rekey"], "", &rotate)
        .await
        .expect("worker");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("2 resealed"), "{out}");
    let new_key = store::secrets::SecretsKey::from_base64(KEY_VAR, OTHER_SECRETS_KEY)
        .expect("key")
        .id()
        .to_string();
    let moved = db
        .count_where(Counter::Secrets, &format!("key_id = '{new_key}'"))
        .await?;
    assert_eq!(moved, 2, "revoked secrets are resealed too");
    // The revoked secret is still recognised under the new key.
    let (code, _, err) = worker_cli_env(
        &db.url,
        &["source", "add-secret", "pbx"],
        OLD,
        &[(KEY_VAR, Some(OTHER_SECRETS_KEY))],
    )
    .await
    .expect("worker");
    assert_ne!(code, 0);
    assert!(err.contains("revoked"), "{err}");
    // Ingest with the new key alone accepts; with the old alone, 503.
    let ttl = ["--source-cache-ttl", "0s"];
    let new_only = Ingest::start_with_env(&db.url, &ttl, &[(KEY_VAR, OTHER_SECRETS_KEY)])
        .await
        .expect("ingest");
    assert_eq!(
        new_only
            .post("pbx", &sign_yeastar(NEW, &ringing("k.1")))
            .await?
            .status,
        200
    );
    let old_only = Ingest::start(&db.url, &ttl).await.expect("ingest");
    assert_eq!(
        old_only
            .post("pbx", &sign_yeastar(NEW, &ringing("k.2")))
            .await?
            .status,
        503
    );
    Ok(())
}

#[tokio::test]
async fn plaintext_rows_stay_readable_until_migrate_seals_them() -> anyhow::Result<()> {
    let db = fresh().await;
    // As the rows were before this change.
    db.exec("INSERT INTO sources (name, provider) VALUES ('pbx', 'yeastar')")
        .await
        .expect("source");
    db.exec(&format!(
        "INSERT INTO source_secrets (source, secret) VALUES ('pbx', '{OLD}')"
    ))
    .await
    .expect("secret");
    let ingest = Ingest::start(&db.url, &["--source-cache-ttl", "0s"])
        .await
        .expect("ingest");
    assert_eq!(
        ingest
            .post("pbx", &sign_yeastar(OLD, &ringing("p.1")))
            .await?
            .status,
        200
    );
    let list = ok(&db, &["source", "list"], "").await;
    assert!(list.contains("PLAINTEXT"), "{list}");
    // migrate without the key leaves it, and says so.
    let (code, _, err) = worker_cli_env(&db.url, &["migrate"], "", &[(KEY_VAR, None)])
        .await
        .expect("worker");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("still stored in plaintext"), "{err}");
    // migrate with the key seals it; ingest still accepts it.
    let (code, _, err) = worker_cli_env(&db.url, &["migrate"], "", &[("RUST_LOG", Some("info"))])
        .await
        .expect("worker");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("sealed plaintext secret(s)"), "{err}");
    assert_eq!(
        db.count_where(
            Counter::Secrets,
            "secret IS NULL AND ciphertext IS NOT NULL"
        )
        .await?,
        1
    );
    assert_eq!(
        ingest
            .post("pbx", &sign_yeastar(OLD, &ringing("p.2")))
            .await?
            .status,
        200
    );
    // And it is recognised when revoked and re-added.
    ok(&db, &["source", "add-secret", "pbx"], NEW).await;
    let old = secret_ids(&db, "pbx").await[0].to_string();
    ok(&db, &["source", "revoke-secret", "pbx", &old], "").await;
    let err = refused(&db, &["source", "add-secret", "pbx"], OLD).await;
    assert!(err.contains("revoked"), "{err}");
    Ok(())
}

// ------------------------------------------------------------ 8. networks --

#[tokio::test]
async fn allowed_networks_are_stored_and_returned() {
    let db = fresh().await;
    ok(&db, &["source", "add", "pbx", "--provider", "yeastar"], OLD).await;
    assert_eq!(
        verifier(&db, "pbx").await.expect("pbx").allowed_networks,
        None
    );
    let out = ok(
        &db,
        &[
            "source",
            "set-networks",
            "pbx",
            "10.0.0.0/8",
            "192.0.2.7",
            "2001:db8::/32",
        ],
        "",
    )
    .await;
    assert!(
        out.contains("10.0.0.0/8, 192.0.2.7/32, 2001:db8::/32"),
        "{out}"
    );
    let nets: Vec<IpNet> = ["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"]
        .iter()
        .map(|s| s.parse().expect("net"))
        .collect();
    assert_eq!(
        verifier(&db, "pbx").await.expect("pbx").allowed_networks,
        Some(nets)
    );
    let list = ok(&db, &["source", "list"], "").await;
    assert!(
        list.contains("10.0.0.0/8,192.0.2.7/32,2001:db8::/32"),
        "{list}"
    );
    // Refused: host bits, garbage, no network, an unknown source.
    let err = refused(&db, &["source", "set-networks", "pbx", "10.0.0.1/8"], "").await;
    assert!(err.contains("did you mean 10.0.0.0/8"), "{err}");
    let err = refused(&db, &["source", "set-networks", "pbx", "example.com"], "").await;
    assert!(err.contains("is not a network"), "{err}");
    refused(&db, &["source", "set-networks", "pbx"], "").await;
    let err = refused(&db, &["source", "set-networks", "nope", "10.0.0.0/8"], "").await;
    assert!(err.contains("does not exist"), "{err}");
    assert!(verifier(&db, "pbx")
        .await
        .expect("pbx")
        .allowed_networks
        .is_some());
    ok(&db, &["source", "set-networks", "pbx", "--clear"], "").await;
    assert_eq!(
        verifier(&db, "pbx").await.expect("pbx").allowed_networks,
        None
    );
}
