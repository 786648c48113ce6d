-- Who holds a delivery's lease when a `worker run --deliver` process wrote
-- it already leased to itself, to send it on commit without a claim (NULL
-- when a claim leased it, or when nobody holds it). A delivery written
-- behind an earlier one of its subject is handed over at once only when
-- that one is leased by the same process (it goes out after it, in the
-- process's order); else it waits for a claim. Not indexed: claims and
-- completions stay HOT updates.
ALTER TABLE webhook_deliveries ADD COLUMN lessee bigint;
