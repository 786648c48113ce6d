//! Read-only API tokens, managed by `worker token add|list|revoke`: `add`
//! prints the token once (stdout, one line, `sbt_` prefix) and stores only
//! its SHA-256; `list` shows names and stamps, never values; a revoked
//! token opens nothing; duplicate and malformed names are refused.

use crate::helpers::{fresh, ok, refused};
use testkit::{Counter, TestDb};

/// Runs `worker token add NAME`; returns the printed token.
async fn add(db: &TestDb, name: &str) -> String {
    let (code, out, err) = testkit::worker_cli(&db.url, &["token", "add", "--", name])
        .await
        .expect("worker runs");
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "the token alone, on one line: {out:?}");
    let token = lines[0].to_string();
    assert!(err.contains("shown once"), "{err}");
    assert!(
        !err.contains(&token),
        "the token goes to stdout only: {err}"
    );
    token
}

/// What the board's API answers for `value`: the token's name, if valid.
async fn opens(db: &TestDb, value: &str) -> Option<String> {
    let mut c = db.conn().await.expect("conn");
    store::access::token(&mut c, value).await.expect("lookup")
}

/// The `token list` row of `name`, split into columns.
async fn listed(db: &TestDb, name: &str) -> Vec<String> {
    let out = ok(db, &["token", "list"], "").await;
    assert!(out.starts_with("NAME"), "{out}");
    out.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("{name} listed: {out}"))
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn a_token_is_printed_once_and_only_its_hash_is_stored() {
    let db = fresh().await;
    let token = add(&db, "crm").await;
    assert!(token.starts_with("sbt_"), "{token}");
    let body = &token[4..];
    assert_eq!(body.len(), 43, "32 random bytes, Base64url: {token}");
    assert!(
        body.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{token}"
    );
    let other = add(&db, "wallboard").await;
    assert_ne!(token, other);
    assert_eq!(opens(&db, &token).await.as_deref(), Some("crm"));
    assert_eq!(opens(&db, &other).await.as_deref(), Some("wallboard"));

    // The row holds the SHA-256 of the value (32 bytes), nothing else of it.
    assert_eq!(
        db.count_where(
            Counter::Tokens,
            &format!(
                "name = 'crm' AND octet_length(token_hash) = 32
                 AND token_hash = sha256(convert_to('{token}', 'UTF8'))"
            )
        )
        .await
        .unwrap(),
        1
    );
    // No table holds the value (nor its random part) in any column.
    assert_eq!(db.tables_containing(body).await.unwrap(), 0);
    // (The search does find what is there.)
    assert_eq!(db.tables_containing("wallboard").await.unwrap(), 1);

    // Listing shows the name and stamps, never the value.
    let out = ok(&db, &["token", "list"], "").await;
    assert!(!out.contains(body) && !out.contains(&other[4..]), "{out}");
    let row = listed(&db, "crm").await;
    // NAME, CREATED (date, time), LAST USED, REVOKED: used above, not revoked.
    assert_eq!(row.len(), 6, "{row:?}");
    assert_ne!(row[3], "-", "last use stamped: {row:?}");
    assert_eq!(row[5], "-", "not revoked: {row:?}");
}

#[tokio::test]
async fn a_revoked_token_opens_nothing() {
    let db = fresh().await;
    let token = add(&db, "crm").await;
    let keep = add(&db, "wallboard").await;
    let row = listed(&db, "crm").await;
    assert_eq!(row, ["crm", &row[1], &row[2], "-", "-"], "never used yet");

    let out = ok(&db, &["token", "revoke", "crm"], "").await;
    assert!(out.contains("revoked API token crm"), "{out}");
    assert_eq!(opens(&db, &token).await, None);
    assert_eq!(
        opens(&db, &keep).await.as_deref(),
        Some("wallboard"),
        "only that token"
    );
    let row = listed(&db, "crm").await;
    assert_eq!(row.len(), 6, "revocation stamped: {row:?}");
    assert_eq!(row[3], "-", "never used: {row:?}");
    let out = ok(&db, &["token", "revoke", "crm"], "").await;
    assert!(out.contains("already revoked"), "{out}");
    let err = refused(&db, &["token", "revoke", "nobody"], "").await;
    assert!(err.contains("does not exist"), "{err}");
}

#[tokio::test]
async fn duplicate_and_malformed_names_are_refused() {
    let db = fresh().await;
    let token = add(&db, "crm").await;
    let (code, out, err) = testkit::worker_cli(&db.url, &["token", "add", "crm"])
        .await
        .expect("worker runs");
    assert_ne!(code, 0, "a second crm: {out}");
    assert!(out.trim().is_empty(), "no token printed: {out}");
    assert!(err.contains("duplicate") || err.contains("exists"), "{err}");
    assert_eq!(
        opens(&db, &token).await.as_deref(),
        Some("crm"),
        "the first one still works"
    );
    // Revoked names stay taken.
    ok(&db, &["token", "revoke", "crm"], "").await;
    let (code, out, _) = testkit::worker_cli(&db.url, &["token", "add", "crm"])
        .await
        .expect("worker runs");
    assert_ne!(code, 0);
    assert!(out.trim().is_empty(), "{out}");

    for name in [
        "CRM",
        "-crm",
        ".crm",
        "_crm",
        "a b",
        "crm/x",
        "é",
        &"a".repeat(64),
    ] {
        let (code, out, err) = testkit::worker_cli(&db.url, &["token", "add", "--", name])
            .await
            .expect("worker runs");
        assert_ne!(code, 0, "{name}: {out}");
        assert!(out.trim().is_empty(), "{name}: {out}");
        assert!(err.contains("invalid token name"), "{name}: {err}");
    }
    refused(&db, &["token", "add"], "").await;
    assert!(
        testkit::worker_cli(&db.url, &["token", "add", &"a".repeat(63)])
            .await
            .is_ok_and(|(code, _, _)| code == 0)
    );
    assert_eq!(db.counts().await.unwrap().tokens, 2);
}
