//! `source list`: sources and their secrets, never any part of a secret.

use super::*;

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
    /// The PBX's time zone (CDR times, "today" on the board).
    pub timezone: String,
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
    #[diesel(sql_type = Text)]
    timezone: String,
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
                allowed_networks::text[] AS allowed_networks, created_at, timezone
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
            timezone: s.timezone,
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
