//! What ingest reads to verify a webhook.

use super::*;

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
    // In a transaction of its own, like every statement of ingest's and the
    // worker's: behind a pooler in transaction mode (PgBouncer) the prepare
    // and the execution then reach the same server connection.
    let rows: Vec<VerifierRow> = conn
        .transaction::<_, diesel::result::Error, _>(async |c| {
            diesel::sql_query(LOOKUP)
                .bind::<Text, _>(name)
                .load(c)
                .await
        })
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
