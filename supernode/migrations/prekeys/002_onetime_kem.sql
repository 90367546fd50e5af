-- 002: one-time ML-KEM prekeys, beside the X25519 ones: each opaque here
-- (the device signs it; fetchers verify), handed out oldest first, at most
-- one per fetch, and deleted as it is handed out, so no two session starts
-- get the same one.
CREATE TABLE prekey_onetime_kem (
	id     INTEGER PRIMARY KEY,
	device INTEGER NOT NULL REFERENCES prekey_devices (id) ON DELETE CASCADE,
	key    BLOB    NOT NULL CHECK (length(key) > 0),
	UNIQUE (device, key)
);
CREATE INDEX prekey_onetime_kem_device ON prekey_onetime_kem (device, id);
