//! The operator's source commands: add, add a secret, revoke, enable, networks.

use super::*;

/// What `add` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    /// The source was created (not there before).
    pub created: bool,
    /// Ids of the secrets added.
    pub added: Vec<i64>,
    /// Secrets given that were already active (left as they are).
    pub already_active: Vec<i64>,
    /// The source accepts unsigned webhooks (as asked with `allow_unsigned`).
    pub allow_unsigned: bool,
    /// The source accepted unsigned webhooks before and now requires a
    /// signature (a secret was added).
    pub now_signed: bool,
}

#[derive(QueryableByName)]
struct SourceHead {
    #[diesel(sql_type = Text)]
    provider: String,
    #[diesel(sql_type = Bool)]
    allow_unsigned: bool,
}

/// Locks source `name` for the transaction. Returns its provider name and
/// `allow_unsigned`, or `None` when it does not exist.
async fn lock_source(
    conn: &mut AsyncPgConnection,
    name: &str,
) -> Result<Option<SourceHead>, diesel::result::Error> {
    let mut rows: Vec<SourceHead> = diesel::sql_query(
        "SELECT provider, allow_unsigned FROM sources WHERE name = $1 FOR UPDATE",
    )
    .bind::<Text, _>(name)
    .load(conn)
    .await?;
    Ok(rows.pop())
}

/// Creates a source with its secrets (validated for `provider`), or, with
/// `allow_unsigned` and no secret, one that accepts unsigned webhooks.
/// Re-running it for an existing source of the same provider adds the
/// secrets not yet there (idempotent); a secret revoked or expired before is
/// refused. Returns what it did.
pub async fn add(
    conn: &mut AsyncPgConnection,
    keys: &Keyring,
    name: &str,
    provider: Provider,
    secrets: &[String],
    allow_unsigned: bool,
) -> Result<Added, SourceError> {
    for (i, s) in secrets.iter().enumerate() {
        secrets::validate(provider, s).map_err(|error| SourceError::BadSecret {
            index: i + 1,
            total: secrets.len(),
            error,
        })?;
    }
    add_unvalidated(conn, keys, name, provider, secrets, allow_unsigned).await
}

/// [`add`] without the secrets' format check, for test fixtures (short
/// secrets such as `"s"`). Everything else holds: secrets are sealed, a
/// source without a secret needs `allow_unsigned`, revoked secrets are
/// refused. Operators' commands never call it.
pub async fn add_unvalidated(
    conn: &mut AsyncPgConnection,
    keys: &Keyring,
    name: &str,
    provider: Provider,
    secrets: &[String],
    allow_unsigned: bool,
) -> Result<Added, SourceError> {
    if !valid_name(name) {
        return Err(SourceError::BadName(name.to_string()));
    }
    if secrets.is_empty() && !allow_unsigned {
        return Err(SourceError::SecretRequired(provider));
    }
    if !secrets.is_empty() && allow_unsigned {
        return Err(SourceError::UnsignedWithSecrets);
    }
    conn.transaction(async |conn| {
        let created = diesel::sql_query(
            "INSERT INTO sources (name, provider, allow_unsigned) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind::<Text, _>(name)
        .bind::<Text, _>(provider.as_str())
        .bind::<Bool, _>(allow_unsigned)
        .execute(conn)
        .await?
            == 1;
        let head = lock_source(conn, name)
            .await?
            .ok_or_else(|| SourceError::NoSource(name.to_string()))?;
        if head.provider != provider.as_str() {
            return Err(SourceError::ProviderMismatch(
                name.to_string(),
                head.provider,
            ));
        }
        if allow_unsigned && !head.allow_unsigned {
            if active_count(conn, name).await? > 0 {
                return Err(SourceError::UnsignedHasSecrets(name.to_string()));
            }
            set_allow_unsigned(conn, name, true).await?;
        }
        let mut added = Vec::new();
        let mut already_active = Vec::new();
        for s in secrets {
            match insert_secret(conn, keys, name, s).await? {
                Inserted::New(id) => added.push(id),
                Inserted::AlreadyActive(id) => already_active.push(id),
            }
        }
        let now_signed = !secrets.is_empty() && head.allow_unsigned;
        if now_signed {
            set_allow_unsigned(conn, name, false).await?;
        }
        Ok(Added {
            created,
            added,
            already_active,
            allow_unsigned: allow_unsigned || (head.allow_unsigned && !now_signed),
            now_signed,
        })
    })
    .await
}

async fn set_allow_unsigned(
    conn: &mut AsyncPgConnection,
    name: &str,
    allow: bool,
) -> Result<(), diesel::result::Error> {
    diesel::sql_query("UPDATE sources SET allow_unsigned = $2 WHERE name = $1")
        .bind::<Text, _>(name)
        .bind::<Bool, _>(allow)
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(QueryableByName)]
pub(super) struct Count {
    #[diesel(sql_type = BigInt)]
    pub(super) n: i64,
}

/// Active (not revoked, not expired) secrets of `name`.
async fn active_count(
    conn: &mut AsyncPgConnection,
    name: &str,
) -> Result<i64, diesel::result::Error> {
    let c: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM source_secrets WHERE source = $1 AND revoked_at IS NULL
           AND (expires_at IS NULL OR expires_at > now())",
    )
    .bind::<Text, _>(name)
    .get_result(conn)
    .await?;
    Ok(c.n)
}

enum Inserted {
    New(i64),
    AlreadyActive(i64),
}

#[derive(QueryableByName)]
struct PriorSecret {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Nullable<Text>)]
    secret: Option<String>,
    #[diesel(sql_type = Nullable<Bytea>)]
    fingerprint: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Text>)]
    key_id: Option<String>,
    #[diesel(sql_type = Bool)]
    revoked: bool,
    #[diesel(sql_type = Bool)]
    expired: bool,
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Seals and inserts `secret` for `name` (whose row the caller locked),
/// unless the source had it before: active (returned as such), revoked or
/// expired (refused). Fails closed when a prior secret is sealed under a
/// key that is not loaded, since reuse could not be told.
async fn insert_secret(
    conn: &mut AsyncPgConnection,
    keys: &Keyring,
    name: &str,
    secret: &str,
) -> Result<Inserted, SourceError> {
    let prior: Vec<PriorSecret> = diesel::sql_query(
        "SELECT id, secret, fingerprint, key_id, revoked_at IS NOT NULL AS revoked,
                coalesce(expires_at <= now(), false) AS expired
         FROM source_secrets WHERE source = $1 ORDER BY id",
    )
    .bind::<Text, _>(name)
    .load(conn)
    .await?;
    let candidates = keys.fingerprints(name, secret);
    for p in &prior {
        if let Some(k) = &p.key_id {
            if !keys.has(k) {
                return Err(SourceError::Sealed {
                    name: name.to_string(),
                    id: p.id,
                    cause: keys.unknown_key(k),
                });
            }
        }
        let same = match (&p.secret, &p.fingerprint) {
            (Some(plain), _) => plain == secret,
            (None, Some(fp)) => candidates.iter().any(|c| c == fp),
            (None, None) => false,
        };
        if !same {
            continue;
        }
        let (name, id) = (name.to_string(), p.id);
        return if p.revoked {
            Err(SourceError::Revoked { name, id })
        } else if p.expired {
            Err(SourceError::Expired { name, id })
        } else {
            Ok(Inserted::AlreadyActive(id))
        };
    }
    let sealed = keys.seal(name, secret).map_err(|cause| SourceError::Seal {
        name: name.to_string(),
        cause,
    })?;
    let row: Id = diesel::sql_query(
        "INSERT INTO source_secrets (source, ciphertext, nonce, key_id, fingerprint)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind::<Text, _>(name)
    .bind::<Bytea, _>(&sealed.ciphertext)
    .bind::<Bytea, _>(&sealed.nonce)
    .bind::<Text, _>(&sealed.key_id)
    .bind::<Bytea, _>(&sealed.fingerprint)
    .get_result(conn)
    .await?;
    Ok(Inserted::New(row.id))
}

/// What `add_secret` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedSecret {
    /// The new secret's id.
    pub id: i64,
    /// The other active secrets given an expiry, with it.
    pub expiring: Vec<(i64, DateTime<Utc>)>,
    /// The source accepted unsigned webhooks and now requires a signature.
    pub now_signed: bool,
}

#[derive(QueryableByName)]
struct Expiring {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Timestamptz)]
    expires_at: DateTime<Utc>,
}

/// Adds a secret to an existing source, for rotation: validated for the
/// source's provider, refused when the source had it before (active,
/// revoked or expired). With `expire_others_after`, every other active
/// secret expires that long from now (or sooner, if it already did).
pub async fn add_secret(
    conn: &mut AsyncPgConnection,
    keys: &Keyring,
    name: &str,
    secret: &str,
    expire_others_after: Option<Duration>,
) -> Result<AddedSecret, SourceError> {
    conn.transaction(async |conn| {
        let head = lock_source(conn, name)
            .await?
            .ok_or_else(|| SourceError::NoSource(name.to_string()))?;
        let provider: Provider = head
            .provider
            .parse()
            .map_err(|_| SourceError::BadProvider(name.to_string(), head.provider.clone()))?;
        secrets::validate(provider, secret).map_err(|error| SourceError::BadSecret {
            index: 1,
            total: 1,
            error,
        })?;
        let id = match insert_secret(conn, keys, name, secret).await? {
            Inserted::New(id) => id,
            Inserted::AlreadyActive(id) => {
                return Err(SourceError::AlreadyActive {
                    name: name.to_string(),
                    id,
                })
            }
        };
        if head.allow_unsigned {
            set_allow_unsigned(conn, name, false).await?;
        }
        let expiring = match expire_others_after {
            None => Vec::new(),
            Some(after) => diesel::sql_query(
                "UPDATE source_secrets
                    SET expires_at = LEAST(expires_at, now() + make_interval(secs => $3))
                  WHERE source = $1 AND id <> $2 AND revoked_at IS NULL
                    AND (expires_at IS NULL OR expires_at > now())
                  RETURNING id, expires_at",
            )
            .bind::<Text, _>(name)
            .bind::<BigInt, _>(id)
            .bind::<Double, _>(after.as_secs_f64())
            .load::<Expiring>(conn)
            .await?
            .into_iter()
            .map(|e| (e.id, e.expires_at))
            .collect(),
        };
        Ok(AddedSecret {
            id,
            expiring,
            now_signed: head.allow_unsigned,
        })
    })
    .await
}

#[derive(QueryableByName)]
struct SecretState {
    #[diesel(sql_type = Bool)]
    revoked: bool,
    #[diesel(sql_type = Bool)]
    active: bool,
}

/// Revokes secret `id` of source `name`. Refuses when it is active and no
/// other active secret without an expiry would remain (the source would
/// refuse everything): the operator adds the new secret first.
pub async fn revoke_secret(
    conn: &mut AsyncPgConnection,
    name: &str,
    id: i64,
) -> Result<(), SourceError> {
    conn.transaction(async |conn| {
        lock_source(conn, name)
            .await?
            .ok_or_else(|| SourceError::NoSource(name.to_string()))?;
        let mut rows: Vec<SecretState> = diesel::sql_query(
            "SELECT revoked_at IS NOT NULL AS revoked,
                    revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()) AS active
             FROM source_secrets WHERE source = $1 AND id = $2",
        )
        .bind::<Text, _>(name)
        .bind::<BigInt, _>(id)
        .load(conn)
        .await?;
        let state = rows.pop().ok_or_else(|| SourceError::NoSecretId {
            name: name.to_string(),
            id,
        })?;
        if state.revoked {
            return Err(SourceError::AlreadyRevoked {
                name: name.to_string(),
                id,
            });
        }
        if state.active {
            let others: Count = diesel::sql_query(
                "SELECT count(*) AS n FROM source_secrets
                 WHERE source = $1 AND id <> $2 AND revoked_at IS NULL AND expires_at IS NULL",
            )
            .bind::<Text, _>(name)
            .bind::<BigInt, _>(id)
            .get_result(conn)
            .await?;
            if others.n == 0 {
                return Err(SourceError::LastSecret {
                    name: name.to_string(),
                    id,
                });
            }
        }
        diesel::sql_query("UPDATE source_secrets SET revoked_at = now() WHERE id = $1")
            .bind::<BigInt, _>(id)
            .execute(conn)
            .await?;
        Ok(())
    })
    .await
}

/// Enables or disables a source (a disabled source's webhooks get 404).
pub async fn set_enabled(
    conn: &mut AsyncPgConnection,
    name: &str,
    enabled: bool,
) -> Result<(), SourceError> {
    let n = diesel::sql_query("UPDATE sources SET enabled = $2 WHERE name = $1")
        .bind::<Text, _>(name)
        .bind::<Bool, _>(enabled)
        .execute(conn)
        .await?;
    if n == 0 {
        return Err(SourceError::NoSource(name.to_string()));
    }
    Ok(())
}

/// Sets the networks a source's webhooks may come from (`None`: any).
/// Ingest enforces them.
pub async fn set_networks(
    conn: &mut AsyncPgConnection,
    name: &str,
    networks: Option<&[IpNet]>,
) -> Result<(), SourceError> {
    let texts: Option<Vec<String>> = match networks {
        None => None,
        Some([]) => return Err(SourceError::NoNetworks),
        Some(list) => Some(list.iter().map(|n| n.trunc().to_string()).collect()),
    };
    let n = diesel::sql_query(
        "UPDATE sources SET allowed_networks = $2::text[]::cidr[] WHERE name = $1",
    )
    .bind::<Text, _>(name)
    .bind::<Nullable<Array<Text>>, _>(texts)
    .execute(conn)
    .await?;
    if n == 0 {
        return Err(SourceError::NoSource(name.to_string()));
    }
    Ok(())
}
