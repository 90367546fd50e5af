-- The account identity (issue 17): an Ed25519 key whose private half the
-- server never sees. Its first device makes it and publishes it with
-- wire.PublishDevices; from then on every device list of the account must
-- be signed by it. All four are NULL (version 0) until then, and set
-- together, once: account_key never changes after.
--   account_key             the identity's Ed25519 public key (32 bytes)
--   account_key_sealed      its private key sealed under a key derived from
--                           OPAQUE's export key: opaque bytes to the server,
--                           replaced (not the key in it) at a password change
--   account_devices         the newest signed device list, a serialized
--                           wire.SignedAccountDevices, as its device sent it
--   account_devices_version that list's version, which only grows
ALTER TABLE accounts ADD COLUMN account_key BLOB;
ALTER TABLE accounts ADD COLUMN account_key_sealed BLOB;
ALTER TABLE accounts ADD COLUMN account_devices BLOB;
ALTER TABLE accounts ADD COLUMN account_devices_version INTEGER NOT NULL DEFAULT 0;
