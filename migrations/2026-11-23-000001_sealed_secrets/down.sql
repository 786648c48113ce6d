-- Sealed secrets cannot be turned back into plaintext in SQL, and dropping
-- them would silently break every signed source: refuse instead.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM source_secrets WHERE secret IS NULL) THEN
        RAISE EXCEPTION 'source_secrets holds encrypted secrets: revert by restoring a backup, or delete them first';
    END IF;
END $$;
ALTER TABLE source_secrets
    DROP CONSTRAINT source_secrets_source_fingerprint_key,
    DROP CONSTRAINT source_secrets_sealed_or_legacy,
    DROP COLUMN expires_at,
    DROP COLUMN fingerprint,
    DROP COLUMN key_id,
    DROP COLUMN nonce,
    DROP COLUMN ciphertext,
    ALTER COLUMN secret SET NOT NULL;
ALTER TABLE sources
    DROP COLUMN allowed_networks,
    DROP COLUMN allow_unsigned;
