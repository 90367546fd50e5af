-- 014: one-time ML-KEM prekeys (kind 4) beside the X25519 ones, and the
-- contact devices we have spoken to through the ratchet.

-- SQLite cannot change a CHECK: the table is rebuilt with kind 4 allowed.
CREATE TABLE prekeys_new (
	kind    INTEGER NOT NULL CHECK (kind IN (1, 2, 3, 4)),
	id      INTEGER NOT NULL CHECK (id >= 0 AND id < 4294967296),
	private BLOB    NOT NULL,          -- sealed
	created INTEGER NOT NULL,          -- unix nanoseconds
	PRIMARY KEY (kind, id)
);
INSERT INTO prekeys_new (kind, id, private, created) SELECT kind, id, private, created FROM prekeys;
DROP TABLE prekeys;
ALTER TABLE prekeys_new RENAME TO prekeys;

-- A contact's device we have had a ratchet session with is pinned to the
-- ratchet: a new session with it (ours lost, or reset) starts from the
-- last verified bundle kept here when its homes serve none, and messages
-- wait rather than go in v1 boxes. bundle is public (signed by the device)
-- and holds no one-time keys; NULL when we never fetched one (the device
-- started the session).
CREATE TABLE e2e_pins (
	peer_id TEXT    PRIMARY KEY,
	bundle  BLOB,
	fetched INTEGER NOT NULL DEFAULT 0 -- unix nanoseconds the bundle was fetched
);
-- Devices we already hold sessions with have spoken through the ratchet.
INSERT INTO e2e_pins (peer_id) SELECT DISTINCT peer_id FROM e2e_sessions;
