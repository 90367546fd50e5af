-- 006: init messages accepted, per signed prekey, so a replayed session
-- start is refused even when it used no one-time prekey. The IDs go with
-- the signed prekey they were made for: once it is deleted, such an init
-- message cannot be opened anyway.
CREATE TABLE e2e_inits (
	signed_id INTEGER NOT NULL,
	init_id   BLOB    NOT NULL CHECK (length(init_id) = 32),
	PRIMARY KEY (signed_id, init_id)
);
