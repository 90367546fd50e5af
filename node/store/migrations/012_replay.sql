-- 012: replay protection (issue 13).
--
-- seen: what this device applied of items that can reach it again — mail a
-- home hands out twice, multi-party events passed on by several members or
-- replayed by one. scope is "mail" or a conversation's ID; id names the
-- item within it (its sender or author, a slash, its ID). Rows older than
-- wire.SeenRetention are dropped: items older than the mail TTL are refused
-- outright, by a time their sender signed or sealed.
CREATE TABLE seen (
	scope TEXT    NOT NULL,
	id    TEXT    NOT NULL,
	at    INTEGER NOT NULL, -- unix nanoseconds, when first applied
	PRIMARY KEY (scope, id)
) WITHOUT ROWID;
CREATE INDEX seen_at ON seen (at);

-- changed: for each member of a conversation who joined or left, the
-- author's signed time (unix milliseconds) of the last invitation or
-- departure applied, "name millis" one per line: an older one of either
-- is stale and changes nothing.
ALTER TABLE conversations ADD COLUMN changed TEXT NOT NULL DEFAULT '';

-- sessionless: the entry is sealed without a ratchet session (v1, signed
-- by the device key), so that it opens whatever session state the
-- recipient holds: a request to send again what no session of ours opened.
ALTER TABLE outbox ADD COLUMN sessionless INTEGER NOT NULL DEFAULT 0;
