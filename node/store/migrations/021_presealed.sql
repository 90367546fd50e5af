-- 021: an outbox entry may carry the envelope sealed when it was queued,
-- written in the same transaction as the ratchet state that sealed it, so
-- that the courier sends it without writing again (store.OutboxEntry).
ALTER TABLE outbox ADD COLUMN sealed BLOB;
ALTER TABLE outbox ADD COLUMN sealed_peer TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN sealed_session BLOB;
