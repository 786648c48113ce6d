-- Secrets fail closed and are encrypted at rest.
--
-- A source accepts unsigned webhooks only when an operator said so
-- (`worker source add NAME --provider P --allow-unsigned`). Existing sources
-- are NOT switched to it: a source that has no active secret refuses every
-- webhook (401) until a secret is added or the flag is set explicitly;
-- `worker migrate` lists such sources.
ALTER TABLE sources
    ADD COLUMN allow_unsigned boolean NOT NULL DEFAULT false,
    -- Senders' networks (NULL: any). Enforced by ingest.
    ADD COLUMN allowed_networks cidr[]
        CONSTRAINT sources_allowed_networks_not_empty
        CHECK (allowed_networks IS NULL OR cardinality(allowed_networks) > 0);

-- A secret is sealed with AES-256-GCM under the key named by key_id (the
-- first 8 hex digits of SHA-256 of SWITCHBOARD_SECRETS_KEY), with a random
-- 96-bit nonce and the source name as associated data; ciphertext carries
-- the 16-byte tag. fingerprint = HMAC-SHA256 (under a key derived from the
-- same key) of the source name and the secret: it tells a re-added secret
-- (revoked before: refused) without decrypting, and never reveals the secret.
--
-- Rows written before this migration keep their plaintext in `secret`
-- (ciphertext NULL) and stay readable until `worker migrate`, run with the
-- key, seals them (or `worker source encrypt-existing`); a later migration
-- drops the column once no deployment has such rows.
ALTER TABLE source_secrets
    ALTER COLUMN secret DROP NOT NULL,
    ADD COLUMN ciphertext  bytea,
    ADD COLUMN nonce       bytea,
    ADD COLUMN key_id      text,
    ADD COLUMN fingerprint bytea,
    -- Set by `add-secret --expire-others-after`: not accepted from then on.
    ADD COLUMN expires_at  timestamptz,
    ADD CONSTRAINT source_secrets_sealed_or_legacy CHECK (
        (secret IS NULL AND ciphertext IS NOT NULL
            AND octet_length(ciphertext) > 16
            AND octet_length(nonce) = 12
            AND key_id ~ '^[0-9a-f]{8}$'
            AND octet_length(fingerprint) = 32)
        OR
        (secret IS NOT NULL AND ciphertext IS NULL AND nonce IS NULL
            AND key_id IS NULL AND fingerprint IS NULL)
    ),
    ADD CONSTRAINT source_secrets_source_fingerprint_key UNIQUE (source, fingerprint);
