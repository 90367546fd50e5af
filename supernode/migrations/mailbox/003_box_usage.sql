-- 003: what each mailbox holds, kept by triggers in the same transaction as
-- every insert and delete, so a put checks its mailbox's quota in one row
-- read instead of counting the mailbox's items. It counts expired items not
-- yet swept as well, so it bounds the live ones from above: a put that fits
-- under it fits, and only a put that does not is checked by counting the
-- live items. A mailbox's row goes when its last item does.
CREATE TABLE mail_box_usage (
	mailbox BLOB    PRIMARY KEY,
	items   INTEGER NOT NULL,
	bytes   INTEGER NOT NULL -- item bytes
) WITHOUT ROWID;
INSERT INTO mail_box_usage (mailbox, items, bytes)
	SELECT mailbox, count(*), sum(length(item)) FROM mail GROUP BY mailbox;

CREATE TRIGGER mail_box_usage_insert AFTER INSERT ON mail BEGIN
	INSERT INTO mail_box_usage (mailbox, items, bytes) VALUES (NEW.mailbox, 1, length(NEW.item))
		ON CONFLICT (mailbox) DO UPDATE SET items = items + 1, bytes = bytes + length(NEW.item);
END;
CREATE TRIGGER mail_box_usage_delete AFTER DELETE ON mail BEGIN
	UPDATE mail_box_usage SET items = items - 1, bytes = bytes - length(OLD.item) WHERE mailbox = OLD.mailbox;
	DELETE FROM mail_box_usage WHERE mailbox = OLD.mailbox AND items <= 0;
END;
