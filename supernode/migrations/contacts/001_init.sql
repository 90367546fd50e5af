-- 001: contact-list blobs. One row per owner: the owner is a hash of the
-- auth server and username (ContactsOwnerID), the blob is sealed by the
-- owner's devices (node/backup) and opaque here; only its version, which
-- only grows, is read by the supernode.
CREATE TABLE contacts (
	owner   BLOB    PRIMARY KEY CHECK (length(owner) = 32),
	version INTEGER NOT NULL CHECK (version > 0),
	blob    BLOB    NOT NULL CHECK (length(blob) > 0),
	stored  INTEGER NOT NULL -- unix nanoseconds of the last put
);
