-- 008: file transfers. transfers keeps each offer this device sent or got
-- (its key sealed with the storage key) and where it stands, so pause,
-- resume and restarts pick up where they left; transfer_chunks records the
-- chunks a receiving transfer has on disk (written only after the fsync
-- that covers them), so a resume re-fetches nothing that arrived.
CREATE TABLE transfers (
	id         BLOB    PRIMARY KEY CHECK (length(id) = 16),
	peer       TEXT    NOT NULL,            -- the contact
	outgoing   INTEGER NOT NULL,
	name       TEXT    NOT NULL,
	size       INTEGER NOT NULL CHECK (size >= 0),
	chunk_size INTEGER NOT NULL CHECK (chunk_size > 0),
	file_key   BLOB    NOT NULL,            -- sealed
	sha256     BLOB    NOT NULL CHECK (length(sha256) = 32),
	path       TEXT    NOT NULL DEFAULT '', -- outgoing: the file; incoming: the directory, then the file
	state      TEXT    NOT NULL,
	created    INTEGER NOT NULL             -- unix nanoseconds
);

CREATE TABLE transfer_chunks (
	transfer_id BLOB    NOT NULL CHECK (length(transfer_id) = 16),
	idx         INTEGER NOT NULL CHECK (idx >= 0),
	PRIMARY KEY (transfer_id, idx)
) WITHOUT ROWID;
