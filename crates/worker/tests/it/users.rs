//! Board users, managed by `worker user add|list|disable`: the password
//! comes from stdin only, is stored as an Argon2id hash, never shows in any
//! output, is at least 12 characters, and a disabled user no longer
//! verifies; bad names and roles are refused.

use crate::helpers::{cli, fresh, ok, refused};
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use testkit::TestDb;

const PASSWORD: &str = "tr0ub4dor & 3 horses";

async fn verify(db: &TestDb, name: &str, password: &str) -> Option<store::users::User> {
    let mut c = db.conn().await.expect("conn");
    store::users::verify(&mut c, name, password)
        .await
        .expect("verify")
}

#[derive(diesel::QueryableByName)]
struct HashRow {
    #[diesel(sql_type = Text)]
    password_hash: String,
}

async fn stored_hash(db: &TestDb, name: &str) -> String {
    let mut c = db.conn().await.expect("conn");
    diesel::sql_query("SELECT password_hash FROM board_users WHERE name = $1")
        .bind::<Text, _>(name)
        .get_result::<HashRow>(&mut c)
        .await
        .expect("hash")
        .password_hash
}

#[tokio::test]
async fn a_user_added_from_stdin_verifies_with_an_argon2id_hash() {
    let db = fresh().await;
    let args = ["user", "add", "alice", "--role", "operator"];
    let (code, out, err) = cli(&db, &args, &format!("{PASSWORD}\n")).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("created board user alice (operator)"), "{out}");
    assert!(!out.contains(PASSWORD) && !err.contains(PASSWORD));
    assert!(!args.iter().any(|a| a.contains(PASSWORD)));

    let user = verify(&db, "alice", PASSWORD).await.expect("verifies");
    assert_eq!(user.role, store::users::Role::Operator);
    assert!(verify(&db, "alice", "tr0ub4dor & 3 horse").await.is_none());
    assert!(verify(&db, "bob", PASSWORD).await.is_none());

    let hash = stored_hash(&db, "alice").await;
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(PASSWORD));

    // `list` shows the user, never the hash or the password.
    let (code, out, err) = cli(&db, &["user", "list"], "").await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("alice") && out.contains("operator"), "{out}");
    assert!(!out.contains("$argon2") && !out.contains(PASSWORD), "{out}");
    assert!(!err.contains(PASSWORD));

    // Re-adding sets a new password (CRLF line ending accepted) and role.
    let out = ok(
        &db,
        &["user", "add", "alice", "--role", "viewer"],
        "another long secret\r\n",
    )
    .await;
    assert!(out.contains("updated board user alice (viewer)"), "{out}");
    assert!(verify(&db, "alice", PASSWORD).await.is_none());
    let user = verify(&db, "alice", "another long secret")
        .await
        .expect("new password");
    assert_eq!(user.role, store::users::Role::Viewer);
}

#[tokio::test]
async fn short_missing_or_multi_line_passwords_are_refused() {
    let db = fresh().await;
    let add = ["user", "add", "carol", "--role", "viewer"];
    let err = refused(&db, &add, "eleven-char\n").await;
    assert!(err.contains("at least 12 characters"), "{err}");
    assert!(!err.contains("eleven-char"), "{err}");
    let err = refused(&db, &add, "").await;
    assert!(err.contains("no password given"), "{err}");
    let err = refused(&db, &add, &format!("{PASSWORD}\nsecond line\n")).await;
    assert!(err.contains("one line"), "{err}");
    assert!(!err.contains(PASSWORD));
    assert_eq!(db.counts().await.unwrap().users, 0);
}

#[tokio::test]
async fn the_password_is_never_taken_from_argv() {
    let db = fresh().await;
    for args in [
        &["user", "add", "dave", "--role", "viewer", PASSWORD][..],
        &[
            "user",
            "add",
            "dave",
            "--role",
            "viewer",
            "--password",
            PASSWORD,
        ][..],
    ] {
        let (code, out, err) = cli(&db, args, "").await;
        assert_ne!(code, 0, "{out}");
        assert!(!out.contains(PASSWORD), "{out}");
        // clap refuses it (and, like any shell, has already seen it).
        assert!(err.contains("unexpected argument"), "{err}");
    }
    assert_eq!(db.counts().await.unwrap().users, 0);
}

#[tokio::test]
async fn a_disabled_user_no_longer_verifies() {
    let db = fresh().await;
    ok(&db, &["user", "add", "erin", "--role", "viewer"], PASSWORD).await;
    assert!(verify(&db, "erin", PASSWORD).await.is_some());
    let out = ok(&db, &["user", "disable", "erin"], "").await;
    assert!(out.contains("disabled board user erin"), "{out}");
    assert!(verify(&db, "erin", PASSWORD).await.is_none());
    let out = ok(&db, &["user", "disable", "erin"], "").await;
    assert!(out.contains("already disabled"), "{out}");
    let out = ok(&db, &["user", "list"], "").await;
    let line = out.lines().find(|l| l.starts_with("erin")).expect("listed");
    assert!(
        !line.trim_end().ends_with('-'),
        "shows when disabled: {line}"
    );
    let err = refused(&db, &["user", "disable", "nobody"], "").await;
    assert!(err.contains("does not exist"), "{err}");
}

#[tokio::test]
async fn invalid_names_and_roles_are_refused() {
    let db = fresh().await;
    for name in [
        "Alice",
        ".alice",
        "_alice",
        "a b",
        "alice/x",
        &"a".repeat(64),
    ] {
        let err = refused(&db, &["user", "add", name, "--role", "viewer"], PASSWORD).await;
        assert!(err.contains("invalid user name"), "{name}: {err}");
    }
    for role in ["admin", "Viewer", ""] {
        let err = refused(&db, &["user", "add", "frank", "--role", role], PASSWORD).await;
        assert!(err.contains("role"), "{role}: {err}");
    }
    refused(&db, &["user", "add", "frank"], PASSWORD).await;
    assert_eq!(db.counts().await.unwrap().users, 0);
    // The table refuses them too, whoever writes to it.
    assert!(db
        .exec("INSERT INTO board_users (name, role, password_hash) VALUES ('Bad', 'viewer', '$argon2id$x')")
        .await
        .is_err());
    assert!(db
        .exec("INSERT INTO board_users (name, role, password_hash) VALUES ('ok', 'admin', '$argon2id$x')")
        .await
        .is_err());
    assert!(db
        .exec("INSERT INTO board_users (name, role, password_hash) VALUES ('ok', 'viewer', 'plaintext')")
        .await
        .is_err());
}

#[tokio::test]
async fn set_role_and_set_extension_change_a_user_and_refuse_bad_values() {
    let db = fresh().await;
    ok(
        &db,
        &["user", "add", "sam", "--role", "operator"],
        &format!("{PASSWORD}\n"),
    )
    .await;
    let out = ok(&db, &["user", "set-role", "sam", "supervisor"], "").await;
    assert!(
        out.contains("board user sam: role operator -> supervisor"),
        "{out}"
    );
    let user = verify(&db, "sam", PASSWORD).await.expect("verifies");
    assert_eq!(user.role, store::users::Role::Supervisor);
    let out = ok(&db, &["user", "set-extension", "sam", "2009"], "").await;
    assert!(out.contains("board user sam: extension 2009"), "{out}");
    let mut c = db.conn().await.expect("conn");
    assert_eq!(
        store::users::extension(&mut c, "sam")
            .await
            .expect("extension")
            .as_deref(),
        Some("2009")
    );
    ok(&db, &["user", "set-extension", "sam", "--clear"], "").await;
    assert_eq!(
        store::users::extension(&mut c, "sam")
            .await
            .expect("extension"),
        None
    );
    for (args, says) in [
        (vec!["user", "set-role", "sam", "admin"], "invalid role"),
        (
            vec!["user", "set-role", "nobody", "viewer"],
            "does not exist",
        ),
        (
            vec!["user", "set-extension", "sam", "20 09"],
            "invalid extension",
        ),
        (
            vec!["user", "set-extension", "nobody", "2009"],
            "does not exist",
        ),
    ] {
        let err = refused(&db, &args, "").await;
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // The table refuses what the command would (a role or extension
    // written by hand).
    assert!(db
        .exec("UPDATE board_users SET role = 'admin' WHERE name = 'sam'")
        .await
        .is_err());
    assert!(db
        .exec("UPDATE board_users SET extension = '20 09' WHERE name = 'sam'")
        .await
        .is_err());
}
