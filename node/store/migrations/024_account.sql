-- 024: several devices per account. account_identity is this account's
-- identity as this device holds it: the identity key's seed, sealed under
-- the storage key (secrets.go; the copy at the auth server is sealed
-- under the password's export key instead), and the newest device list
-- the identity signed that this device has seen. contacts gain the
-- account identity key pinned for each contact (NULL until one is seen)
-- and the newest signed device list of the contact seen so far: the
-- devices a message to the contact goes to, and against which a device
-- claiming to be the contact's is checked.
CREATE TABLE account_identity (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	key     BLOB    NOT NULL,  -- Ed25519 seed, sealed (secrets.go)
	devices BLOB    NOT NULL   -- wire.SignedAccountDevices
);
ALTER TABLE contacts ADD COLUMN account_key BLOB;
ALTER TABLE contacts ADD COLUMN devices BLOB;
