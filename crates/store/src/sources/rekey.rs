//! Sealing under the current key: rekey, plaintext rows, sources without a secret.

use super::commands::Count;
use super::*;

/// What `rekey` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rekeyed {
    /// Sealed rows resealed under the current key.
    pub resealed: usize,
    /// Plaintext rows (from before sealing) sealed.
    pub sealed_plaintext: usize,
    /// Rows already under the current key (untouched).
    pub current: usize,
}

#[derive(QueryableByName)]
struct RekeyRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    source: String,
    #[diesel(sql_type = Nullable<Text>)]
    secret: Option<String>,
    #[diesel(sql_type = Nullable<Bytea>)]
    ciphertext: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Bytea>)]
    nonce: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Text>)]
    key_id: Option<String>,
}

/// Seals every secret (revoked ones included) under the current key:
/// plaintext rows, and, unless `plaintext_only`, rows sealed under the
/// previous key. All or nothing: one row that does not open fails the whole
/// run, changing nothing. Returns the counts.
pub async fn rekey(
    conn: &mut AsyncPgConnection,
    keys: &Keyring,
    plaintext_only: bool,
) -> Result<Rekeyed, SourceError> {
    conn.transaction(async |conn| {
        let rows: Vec<RekeyRow> = diesel::sql_query(
            "SELECT id, source, secret, ciphertext, nonce, key_id
             FROM source_secrets ORDER BY id FOR UPDATE",
        )
        .load(conn)
        .await?;
        let mut done = Rekeyed::default();
        for r in rows {
            let sealed_err = |cause| SourceError::Sealed {
                name: r.source.clone(),
                id: r.id,
                cause,
            };
            let plain = match (&r.secret, &r.ciphertext, &r.nonce, &r.key_id) {
                (Some(plain), None, _, _) => {
                    done.sealed_plaintext += 1;
                    plain.clone()
                }
                (None, Some(_), _, Some(k)) if k == keys.current_id() || plaintext_only => {
                    done.current += 1;
                    continue;
                }
                (None, Some(ct), Some(nonce), Some(k)) => {
                    let plain = keys.open(&r.source, k, nonce, ct).map_err(sealed_err)?;
                    done.resealed += 1;
                    plain
                }
                _ => {
                    return Err(sealed_err(CryptoError::Malformed(
                        "neither sealed nor plaintext",
                    )))
                }
            };
            let s = keys
                .seal(&r.source, &plain)
                .map_err(|cause| SourceError::Seal {
                    name: r.source.clone(),
                    cause,
                })?;
            diesel::sql_query(
                "UPDATE source_secrets SET secret = NULL, ciphertext = $2, nonce = $3,
                        key_id = $4, fingerprint = $5
                 WHERE id = $1",
            )
            .bind::<BigInt, _>(r.id)
            .bind::<Bytea, _>(&s.ciphertext)
            .bind::<Bytea, _>(&s.nonce)
            .bind::<Text, _>(&s.key_id)
            .bind::<Bytea, _>(&s.fingerprint)
            .execute(conn)
            .await?;
        }
        Ok(done)
    })
    .await
}

/// Secrets still stored in plaintext (from before sealing).
pub async fn plaintext_count(conn: &mut AsyncPgConnection) -> Result<i64, crate::Error> {
    let c: Count =
        diesel::sql_query("SELECT count(*) AS n FROM source_secrets WHERE ciphertext IS NULL")
            .get_result(conn)
            .await?;
    Ok(c.n)
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// Enabled sources that refuse every webhook: no active secret, and not
/// allowed to be unsigned (e.g. a Dialpad source created without a secret
/// before `allow_unsigned` existed). Returns their names.
pub async fn without_secret(conn: &mut AsyncPgConnection) -> Result<Vec<String>, crate::Error> {
    let rows: Vec<Name> = diesel::sql_query(
        "SELECT s.name FROM sources s
         WHERE s.enabled AND NOT s.allow_unsigned AND NOT EXISTS (
             SELECT 1 FROM source_secrets k WHERE k.source = s.name AND k.revoked_at IS NULL
               AND (k.expires_at IS NULL OR k.expires_at > now()))
         ORDER BY s.name",
    )
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.name).collect())
}
