-- 002: puts compare-and-swap on the stored blob's content (its SHA-256, kept
-- beside it) instead of ordering client-chosen versions, and what all lists
-- together take is kept by triggers in the same transaction as every write,
-- for the global cap.

-- NULL for lists stored before this migration: computed from the blob when
-- a put first needs it.
ALTER TABLE contacts ADD COLUMN hash BLOB CHECK (hash IS NULL OR length(hash) = 32);

CREATE TABLE contacts_usage (
	id    INTEGER PRIMARY KEY CHECK (id = 1),
	lists INTEGER NOT NULL,
	bytes INTEGER NOT NULL -- blob bytes
);
INSERT INTO contacts_usage (id, lists, bytes) SELECT 1, count(*), coalesce(sum(length(blob)), 0) FROM contacts;

CREATE TRIGGER contacts_usage_insert AFTER INSERT ON contacts BEGIN
	UPDATE contacts_usage SET lists = lists + 1, bytes = bytes + length(NEW.blob) WHERE id = 1;
END;
CREATE TRIGGER contacts_usage_update AFTER UPDATE OF blob ON contacts BEGIN
	UPDATE contacts_usage SET bytes = bytes - length(OLD.blob) + length(NEW.blob) WHERE id = 1;
END;
CREATE TRIGGER contacts_usage_delete AFTER DELETE ON contacts BEGIN
	UPDATE contacts_usage SET lists = lists - 1, bytes = bytes - length(OLD.blob) WHERE id = 1;
END;
