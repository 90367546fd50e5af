-- 003: one-time ML-KEM prekeys, beside the X25519 ones: each opaque here
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

-- They count against the global cap like the X25519 ones (002's usage).
CREATE TRIGGER prekey_usage_onetime_kem_insert AFTER INSERT ON prekey_onetime_kem BEGIN
	UPDATE prekey_usage SET onetime = onetime + 1, onetime_bytes = onetime_bytes + length(NEW.key) WHERE id = 1;
END;
CREATE TRIGGER prekey_usage_onetime_kem_delete AFTER DELETE ON prekey_onetime_kem BEGIN
	UPDATE prekey_usage SET onetime = onetime - 1, onetime_bytes = onetime_bytes - length(OLD.key) WHERE id = 1;
END;
