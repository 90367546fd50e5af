-- 002: what all mailboxes together hold, kept by triggers in the same
-- transaction as every insert and delete, so the global cap is checked
-- without scanning the table and cannot drift from it.
CREATE TABLE mail_usage (
	id    INTEGER PRIMARY KEY CHECK (id = 1),
	items INTEGER NOT NULL,
	bytes INTEGER NOT NULL -- item bytes
);
INSERT INTO mail_usage (id, items, bytes) SELECT 1, count(*), coalesce(sum(length(item)), 0) FROM mail;

CREATE TRIGGER mail_usage_insert AFTER INSERT ON mail BEGIN
	UPDATE mail_usage SET items = items + 1, bytes = bytes + length(NEW.item) WHERE id = 1;
END;
CREATE TRIGGER mail_usage_delete AFTER DELETE ON mail BEGIN
	UPDATE mail_usage SET items = items - 1, bytes = bytes - length(OLD.item) WHERE id = 1;
END;
