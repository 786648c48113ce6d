//! Sources (one per sender) and their signing secrets: the lookup ingest
//! verifies with, the activity stamp, and the operator's source commands.
//!
//! Secrets are sealed at rest (see [`crate::secrets`]): every statement that
//! writes one seals it with the caller's [`Keyring`], and the lookup opens
//! them, failing (never dropping a secret, never reporting none) when one
//! does not open. Rows from before sealing (`secret` in plaintext,
//! `ciphertext` NULL) stay readable until [`rekey`] seals them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Bool, Bytea, Double, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::Provider;
pub use ipnet::IpNet;

use crate::secrets::{self, CryptoError, Keyring, SecretFormatError};

/// Errors of the source commands, worded for the person who typed them.
/// None of them contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("source {0:?} does not exist")]
    NoSource(String),
    #[error("source {0:?} already exists with provider {1}")]
    ProviderMismatch(String, String),
    #[error("invalid source name {0:?}: use 1-63 of a-z, 0-9, '-' and '_', starting with a letter or digit")]
    BadName(String),
    #[error("a {0} source needs a signing secret: pipe it on stdin (one per line) or give --secret-file PATH; to accept webhooks without any signature instead, pass --allow-unsigned (not recommended)")]
    SecretRequired(Provider),
    #[error("--allow-unsigned takes no secret: give either secrets or --allow-unsigned")]
    UnsignedWithSecrets,
    #[error("source {0:?} has active secrets: it cannot also accept unsigned webhooks")]
    UnsignedHasSecrets(String),
    #[error("source {0:?} has an unknown provider {1:?}")]
    BadProvider(String, String),
    #[error("secret {index} of {total} refused: {error}")]
    BadSecret {
        index: usize,
        total: usize,
        error: SecretFormatError,
    },
    #[error("this secret was revoked from {name:?} before (secret #{id}): a revoked secret may have leaked and is never accepted again; generate a new one")]
    Revoked { name: String, id: i64 },
    #[error("this secret of {name:?} expired (secret #{id}): a retired secret is never accepted again; generate a new one")]
    Expired { name: String, id: i64 },
    #[error("this secret is already active on {name:?} (secret #{id})")]
    AlreadyActive { name: String, id: i64 },
    #[error("source {name:?} has no secret #{id}")]
    NoSecretId { name: String, id: i64 },
    #[error("secret #{id} of {name:?} is already revoked")]
    AlreadyRevoked { name: String, id: i64 },
    #[error("refusing to revoke secret #{id} of {name:?}: no other active secret without an expiry would remain, and the source would refuse every webhook; add the new one first (worker source add-secret {name})")]
    LastSecret { name: String, id: i64 },
    #[error("secret #{id} of {name:?}: {cause}")]
    Sealed {
        name: String,
        id: i64,
        cause: CryptoError,
    },
    #[error("cannot seal a secret of {name:?}: {cause}")]
    Seal { name: String, cause: CryptoError },
    #[error("{0:?} is not a network: give a CIDR (10.0.0.0/8, 2001:db8::/32) or an address")]
    BadNetwork(String),
    #[error("{given} has host bits set: did you mean {network}?")]
    HostBits { given: String, network: String },
    #[error("give at least one network, or --clear to accept any sender")]
    NoNetworks,
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

/// Why a source's settings could not be read for verification.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] crate::Error),
    /// A secret does not open (key not loaded, tampered row): the source
    /// must not be verified with fewer secrets than it has.
    #[error("cannot open secret #{id} of source {name:?}: {cause}")]
    Sealed {
        name: String,
        id: i64,
        cause: CryptoError,
    },
    /// A stored network does not parse (cannot happen with a `cidr[]`).
    #[error("source {name:?} has an unreadable allowed network {value:?}")]
    Network { name: String, value: String },
}

/// Whether `name` is a valid source name (the URL slug `/webhooks/NAME`).
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'_')
}

/// Parses an allowed network: a CIDR with no host bits set, or a single
/// address (as a /32 or /128).
pub fn parse_network(s: &str) -> Result<IpNet, SourceError> {
    let t = s.trim();
    let net = t
        .parse::<IpNet>()
        .or_else(|_| t.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| SourceError::BadNetwork(s.to_string()))?;
    if net.trunc() != net {
        return Err(SourceError::HostBits {
            given: t.to_string(),
            network: net.trunc().to_string(),
        });
    }
    Ok(net)
}

// ---------------------------------------------------------------- lookup --

/// A source as ingest needs it to verify a webhook.
#[derive(Clone)]
pub struct Verifier {
    pub provider: Provider,
    /// Active secrets (not revoked, not expired), opened: any of them may
    /// have signed.
    pub secrets: Vec<String>,
    /// The operator allowed webhooks without a signature (`--allow-unsigned`).
    pub allow_unsigned: bool,
    /// The senders' networks; `None`: any sender.
    pub allowed_networks: Option<Vec<IpNet>>,
    /// How many of `secrets` are still stored in plaintext (rows from before
    /// sealing, until `worker migrate` seals them).
    pub plaintext_secrets: usize,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("provider", &self.provider)
            .field(
                "secrets",
                &format_args!("[{} redacted]", self.secrets.len()),
            )
            .field("allow_unsigned", &self.allow_unsigned)
            .field("allowed_networks", &self.allowed_networks)
            .finish()
    }
}

#[derive(QueryableByName)]
struct VerifierRow {
    #[diesel(sql_type = Text)]
    provider: String,
    #[diesel(sql_type = Bool)]
    enabled: bool,
    #[diesel(sql_type = Bool)]
    allow_unsigned: bool,
    #[diesel(sql_type = Nullable<Array<Text>>)]
    allowed_networks: Option<Vec<String>>,
    #[diesel(sql_type = Nullable<BigInt>)]
    id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    secret: Option<String>,
    #[diesel(sql_type = Nullable<Bytea>)]
    ciphertext: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Bytea>)]
    nonce: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Text>)]
    key_id: Option<String>,
}

const LOOKUP: &str = "SELECT s.provider, s.enabled, s.allow_unsigned,
            s.allowed_networks::text[] AS allowed_networks,
            k.id, k.secret, k.ciphertext, k.nonce, k.key_id
     FROM sources s
     LEFT JOIN source_secrets k ON k.source = s.name AND k.revoked_at IS NULL
          AND (k.expires_at IS NULL OR k.expires_at > now())
     WHERE s.name = $1
     ORDER BY k.id";

/// Looks up source `name` and opens its active secrets with `keys`.
/// Returns `None` when it does not exist or is disabled; fails when a
/// secret does not open.
pub async fn lookup(
    conn: &mut AsyncPgConnection,
    name: &str,
    keys: &Keyring,
) -> Result<Option<Verifier>, LookupError> {
    let rows: Vec<VerifierRow> = diesel::sql_query(LOOKUP)
        .bind::<Text, _>(name)
        .load(conn)
        .await
        .map_err(crate::Error::from)?;
    let Some(first) = <[VerifierRow]>::first(&rows) else {
        return Ok(None);
    };
    if !first.enabled {
        return Ok(None);
    }
    let Ok(provider) = first.provider.parse() else {
        return Ok(None);
    };
    let allowed_networks = match &first.allowed_networks {
        None => None,
        Some(list) => Some(
            list.iter()
                .map(|v| {
                    v.parse::<IpNet>().map_err(|_| LookupError::Network {
                        name: name.to_string(),
                        value: v.clone(),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let allow_unsigned = first.allow_unsigned;
    let mut secrets = Vec::with_capacity(rows.len());
    let mut plaintext_secrets = 0;
    for r in rows {
        let Some(id) = r.id else { continue };
        let secret = match (r.secret, r.ciphertext, r.nonce, r.key_id) {
            (Some(plain), None, _, _) => {
                plaintext_secrets += 1;
                plain
            }
            (None, Some(ct), Some(nonce), Some(key_id)) => keys
                .open(name, &key_id, &nonce, &ct)
                .map_err(|cause| LookupError::Sealed {
                    name: name.to_string(),
                    id,
                    cause,
                })?,
            _ => {
                return Err(LookupError::Sealed {
                    name: name.to_string(),
                    id,
                    cause: CryptoError::Malformed("neither sealed nor plaintext"),
                })
            }
        };
        secrets.push(secret);
    }
    Ok(Some(Verifier {
        provider,
        secrets,
        allow_unsigned,
        allowed_networks,
        plaintext_secrets,
    }))
}

// -------------------------------------------------------------- activity --

const STAMP_RECEIVED: &str = "UPDATE sources SET last_received_at = now()
     WHERE name = ANY($1) AND (last_received_at IS NULL OR last_received_at < now())";

/// Records that `names` just received events. Returns the rows updated.
pub async fn stamp_received(
    conn: &mut AsyncPgConnection,
    names: &[String],
) -> Result<usize, crate::Error> {
    Ok(diesel::sql_query(STAMP_RECEIVED)
        .bind::<Array<Text>, _>(names)
        .execute(conn)
        .await?)
}

/// The last event received from a source (kept by ingest to the second).
#[derive(Debug, Clone, serde::Serialize, QueryableByName)]
pub struct SourceActivity {
    #[diesel(sql_type = Text)]
    pub source: String,
    #[diesel(sql_type = Bool)]
    pub enabled: bool,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_received_at: Option<DateTime<Utc>>,
}

/// Lists every source with its last arrival. Returns them by name.
pub async fn activity(conn: &mut AsyncPgConnection) -> Result<Vec<SourceActivity>, crate::Error> {
    Ok(diesel::sql_query(
        "SELECT name AS source, enabled, last_received_at FROM sources ORDER BY name",
    )
    .load(conn)
    .await?)
}

// -------------------------------------------------------------- commands --

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
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
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

// ------------------------------------------------------------------ list --

/// A secret as `source list` shows it: never any part of the secret.
#[derive(Debug, Clone)]
pub struct SecretLine {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// `expires_at` has passed: no longer accepted.
    pub expired: bool,
    /// Length of the secret, in bytes.
    pub len: usize,
    /// 8 hex digits of the keyed fingerprint.
    pub fingerprint: String,
    /// The key it is sealed under; `None`: still in plaintext.
    pub key_id: Option<String>,
    /// Its key is loaded (it opens); always true for plaintext.
    pub key_loaded: bool,
}

/// A source with its secrets that are not revoked, as `source list` shows it.
#[derive(Debug, Clone)]
pub struct SourceLine {
    pub name: String,
    pub provider: String,
    pub enabled: bool,
    pub allow_unsigned: bool,
    /// `None`: any sender.
    pub allowed_networks: Option<Vec<String>>,
    pub created_at: DateTime<Utc>,
    pub secrets: Vec<SecretLine>,
}

impl SourceLine {
    /// Secrets accepted now (not expired, under a loaded key).
    pub fn usable_secrets(&self) -> usize {
        self.secrets
            .iter()
            .filter(|s| !s.expired && s.key_loaded)
            .count()
    }
}

#[derive(QueryableByName)]
struct SourceRow {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    provider: String,
    #[diesel(sql_type = Bool)]
    enabled: bool,
    #[diesel(sql_type = Bool)]
    allow_unsigned: bool,
    #[diesel(sql_type = Nullable<Array<Text>>)]
    allowed_networks: Option<Vec<String>>,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
}

#[derive(QueryableByName)]
struct SecretRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    source: String,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    expires_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Bool)]
    expired: bool,
    #[diesel(sql_type = Nullable<Text>)]
    secret: Option<String>,
    #[diesel(sql_type = BigInt)]
    sealed_len: i64,
    #[diesel(sql_type = Nullable<Bytea>)]
    fingerprint: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Text>)]
    key_id: Option<String>,
}

/// Lists the sources with their secrets that are not revoked (expired ones
/// included, marked). Nothing is opened; plaintext rows are fingerprinted
/// with the current key. Returns them by name.
pub async fn list(
    conn: &mut AsyncPgConnection,
    keys: &Keyring,
) -> Result<Vec<SourceLine>, SourceError> {
    let sources: Vec<SourceRow> = diesel::sql_query(
        "SELECT name, provider, enabled, allow_unsigned,
                allowed_networks::text[] AS allowed_networks, created_at
         FROM sources ORDER BY name",
    )
    .load(conn)
    .await?;
    let secrets: Vec<SecretRow> = diesel::sql_query(
        "SELECT id, source, created_at, expires_at,
                coalesce(expires_at <= now(), false) AS expired, secret,
                coalesce(octet_length(ciphertext), 0)::int8 AS sealed_len,
                fingerprint, key_id
         FROM source_secrets WHERE revoked_at IS NULL ORDER BY id",
    )
    .load(conn)
    .await?;
    Ok(sources
        .into_iter()
        .map(|s| SourceLine {
            secrets: secrets
                .iter()
                .filter(|k| k.source == s.name)
                .map(|k| secret_line(keys, k))
                .collect(),
            name: s.name,
            provider: s.provider,
            enabled: s.enabled,
            allow_unsigned: s.allow_unsigned,
            allowed_networks: s.allowed_networks,
            created_at: s.created_at,
        })
        .collect())
}

fn secret_line(keys: &Keyring, k: &SecretRow) -> SecretLine {
    let (len, fingerprint) = match (&k.secret, &k.fingerprint) {
        (Some(plain), _) => (plain.len(), keys.fingerprint(&k.source, plain)),
        (None, fp) => (
            secrets::plaintext_len(usize::try_from(k.sealed_len).unwrap_or(0)),
            fp.clone().unwrap_or_default(),
        ),
    };
    SecretLine {
        id: k.id,
        created_at: k.created_at,
        expires_at: k.expires_at,
        expired: k.expired,
        len,
        fingerprint: secrets::short_fingerprint(&fingerprint),
        key_id: k.key_id.clone(),
        key_loaded: k.key_id.as_deref().is_none_or(|id| keys.has(id)),
    }
}

// ----------------------------------------------------------------- rekey --

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

#[cfg(test)]
mod tests {
    use super::{parse_network, valid_name, SourceError};

    #[test]
    fn names() {
        assert!(valid_name("pbx-1"));
        assert!(valid_name("dialpad_main"));
        assert!(!valid_name("PBX"));
        assert!(!valid_name("-x"));
        assert!(!valid_name(""));
        assert!(!valid_name("a/b"));
        assert!(!valid_name(&"a".repeat(64)));
    }

    #[test]
    fn networks() {
        assert_eq!(
            parse_network("10.0.0.0/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            parse_network("192.0.2.7").unwrap().to_string(),
            "192.0.2.7/32"
        );
        assert_eq!(
            parse_network("2001:db8::/32").unwrap().to_string(),
            "2001:db8::/32"
        );
        assert_eq!(parse_network("::1").unwrap().to_string(), "::1/128");
        assert!(matches!(
            parse_network("10.0.0.1/8"),
            Err(SourceError::HostBits { network, .. }) if network == "10.0.0.0/8"
        ));
        assert!(matches!(
            parse_network("10.0.0.0/33"),
            Err(SourceError::BadNetwork(_))
        ));
        assert!(matches!(
            parse_network("example.com"),
            Err(SourceError::BadNetwork(_))
        ));
        assert!(matches!(parse_network(""), Err(SourceError::BadNetwork(_))));
    }
}
