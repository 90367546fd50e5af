-- 001: settings, the sealed identity, contacts, messages and the durable outbox.

CREATE TABLE settings (
	key   TEXT PRIMARY KEY NOT NULL,
	value TEXT NOT NULL
);

-- identity holds at most one row: the device keys sealed under a key derived
-- from the account password. The KDF parameters are stored with the blob so
-- they can be raised later (Reseal writes the current defaults).
CREATE TABLE identity (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	kdf     TEXT    NOT NULL,
	salt    BLOB    NOT NULL,
	time    INTEGER NOT NULL,
	memory  INTEGER NOT NULL, -- KiB
	threads INTEGER NOT NULL,
	nonce   BLOB    NOT NULL,
	sealed  BLOB    NOT NULL
);

CREATE TABLE contacts (
	username        TEXT PRIMARY KEY NOT NULL,
	relation        TEXT NOT NULL,
	status          TEXT NOT NULL DEFAULT '',
	nick            TEXT NOT NULL DEFAULT '',
	subnick         TEXT NOT NULL DEFAULT '',
	media           TEXT NOT NULL DEFAULT '',
	request_message TEXT NOT NULL DEFAULT '',
	peer_id         TEXT NOT NULL DEFAULT '',
	ticket          BLOB,
	updated         INTEGER NOT NULL DEFAULT 0 -- unix nanoseconds, 0 = unknown
);

-- seq is the order key of a conversation (insertion order, never the clock).
-- AUTOINCREMENT so a seq is never reused after deletes.
CREATE TABLE messages (
	seq      INTEGER PRIMARY KEY AUTOINCREMENT,
	peer     TEXT    NOT NULL,
	id       TEXT    NOT NULL,
	outgoing INTEGER NOT NULL CHECK (outgoing IN (0, 1)),
	text     TEXT    NOT NULL,
	time     INTEGER NOT NULL, -- unix nanoseconds
	state    TEXT    NOT NULL CHECK (state IN ('queued', 'delivered', 'received', 'failed')),
	UNIQUE (peer, id)
);
CREATE INDEX messages_peer ON messages (peer);  -- (peer, seq): seq is the rowid
CREATE INDEX messages_id ON messages (id);

CREATE TABLE outbox (
	seq     INTEGER PRIMARY KEY AUTOINCREMENT,
	id      TEXT    NOT NULL UNIQUE,
	peer    TEXT    NOT NULL,
	payload BLOB    NOT NULL,
	created INTEGER NOT NULL -- unix nanoseconds
);
CREATE INDEX outbox_peer ON outbox (peer);
