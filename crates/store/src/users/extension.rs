//! A board user's own extension (the phone a supervisor listens, whispers
//! or barges in from) and role changes: `worker user set-extension` and
//! `worker user set-role`; the board reads the extension when it acts.

use diesel::sql_types::{Nullable, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::{validate_name, Role, UserError};

/// Checks an extension number's shape (the same rule as the table's
/// CHECK): 1-32 of `0-9A-Za-z*#+_.-`.
pub fn validate_extension(ext: &str) -> Result<(), UserError> {
    let ok = !ext.is_empty()
        && ext.len() <= 32
        && ext
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"*#+_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(UserError::BadExtension(ext.to_string()))
    }
}

/// Sets (or, with `None`, clears) the extension of user `name`.
pub async fn set_extension(
    conn: &mut AsyncPgConnection,
    name: &str,
    ext: Option<&str>,
) -> Result<(), UserError> {
    validate_name(name)?;
    if let Some(e) = ext {
        validate_extension(e)?;
    }
    let n = diesel::sql_query("UPDATE board_users SET extension = $2 WHERE name = $1")
        .bind::<Text, _>(name)
        .bind::<Nullable<Text>, _>(ext)
        .execute(conn)
        .await?;
    if n == 0 {
        return Err(UserError::NoUser(name.to_string()));
    }
    Ok(())
}

/// Sets the role of user `name`; returns the role they had. Their open
/// boards keep their sessions: the role is read at each request.
pub async fn set_role(
    conn: &mut AsyncPgConnection,
    name: &str,
    role: Role,
) -> Result<Role, UserError> {
    validate_name(name)?;
    #[derive(QueryableByName)]
    struct Old {
        #[diesel(sql_type = Text)]
        role: String,
    }
    let mut rows: Vec<Old> = diesel::sql_query(
        "UPDATE board_users u SET role = $2 FROM board_users o
          WHERE u.name = $1 AND o.id = u.id
         RETURNING o.role",
    )
    .bind::<Text, _>(name)
    .bind::<Text, _>(role.as_str())
    .load(conn)
    .await?;
    let old = rows
        .pop()
        .ok_or_else(|| UserError::NoUser(name.to_string()))?;
    old.role.parse().map_err(|_| UserError::StoredRole {
        name: name.to_string(),
        role: old.role,
    })
}

/// The extension of user `name`, if one is set.
pub async fn extension(
    conn: &mut AsyncPgConnection,
    name: &str,
) -> Result<Option<String>, UserError> {
    #[derive(QueryableByName)]
    struct Ext {
        #[diesel(sql_type = Nullable<Text>)]
        extension: Option<String>,
    }
    let mut rows: Vec<Ext> = diesel::sql_query("SELECT extension FROM board_users WHERE name = $1")
        .bind::<Text, _>(name)
        .load(conn)
        .await?;
    Ok(rows.pop().and_then(|r| r.extension))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions() {
        for ok in ["2001", "*97", "6400", "a-1.b_2", &"9".repeat(32)] {
            assert!(validate_extension(ok).is_ok(), "{ok}");
        }
        for bad in ["", "20 01", "20\u{0}1", "é", &"9".repeat(33)] {
            assert!(validate_extension(bad).is_err(), "{bad:?}");
        }
    }
}
