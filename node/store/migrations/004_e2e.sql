-- 004: end-to-end sessions and this device's prekeys. Every secret column
-- is sealed with the account's storage key (Unlock), which lives only in
-- the password-sealed identity; the rest is public or bookkeeping.

-- Ratchet sessions with a contact's device. A device may hold several with
-- one peer for a while (both sides started one at once); the one used last
-- is the one we send on.
CREATE TABLE e2e_sessions (
	peer_id TEXT    NOT NULL,          -- the contact's device
	session BLOB    NOT NULL,          -- our ID for the session
	state   BLOB    NOT NULL,          -- sealed ratchet state
	used    INTEGER NOT NULL,          -- unix nanoseconds of the last use
	PRIMARY KEY (peer_id, session)
);

-- Our prekeys: signed X25519, signed ML-KEM, one-time X25519. A one-time
-- key is deleted when a session start uses it.
CREATE TABLE prekeys (
	kind    INTEGER NOT NULL CHECK (kind IN (1, 2, 3)),
	id      INTEGER NOT NULL CHECK (id >= 0 AND id < 4294967296),
	private BLOB    NOT NULL,          -- sealed
	created INTEGER NOT NULL,          -- unix nanoseconds
	PRIMARY KEY (kind, id)
);
