-- 007: a password change in progress. The identity is sealed under the new
-- password here before the auth server is asked to change it, and promoted
-- to identity once it has: a crash in between leaves a device that opens
-- with whichever password the server ended up with.
CREATE TABLE identity_pending (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	kdf     TEXT    NOT NULL,
	salt    BLOB    NOT NULL,
	time    INTEGER NOT NULL,
	memory  INTEGER NOT NULL, -- KiB
	threads INTEGER NOT NULL,
	nonce   BLOB    NOT NULL,
	sealed  BLOB    NOT NULL
);
