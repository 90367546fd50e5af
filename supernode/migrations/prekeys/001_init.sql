-- 001: the prekey directory. One row per (owner, device): the owner is a
-- hash of the auth server and username (PrekeysOwnerID), the device its
-- binary peer ID. The bundle is opaque here (signed by the device, verified
-- by fetchers against the device key of the ticket they already hold). No
-- ticket is kept, so the file holds no username or device name: only the
-- expiry of the ticket the device published with, which bounds the row's life.
CREATE TABLE prekey_devices (
	id     INTEGER PRIMARY KEY,
	owner  BLOB    NOT NULL CHECK (length(owner) = 32),
	peer   BLOB    NOT NULL CHECK (length(peer) > 0),
	expiry INTEGER NOT NULL, -- unix nanoseconds of the publisher's ticket's expiry
	bundle BLOB    NOT NULL CHECK (length(bundle) > 0),
	stored INTEGER NOT NULL, -- unix nanoseconds of the last publish
	UNIQUE (owner, peer)
);
CREATE INDEX prekey_devices_expiry ON prekey_devices (expiry);

-- One-time prekeys, handed out oldest (lowest id) first and deleted as they
-- are. A key is stored once per device, so a retried publish adds nothing.
CREATE TABLE prekey_onetime (
	id     INTEGER PRIMARY KEY,
	device INTEGER NOT NULL REFERENCES prekey_devices (id) ON DELETE CASCADE,
	key    BLOB    NOT NULL CHECK (length(key) > 0),
	UNIQUE (device, key)
);
CREATE INDEX prekey_onetime_device ON prekey_onetime (device, id);
