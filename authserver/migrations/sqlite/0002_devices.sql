-- Devices: every peer ID that got a ticket for an account, so the account's
-- devices can list and revoke each other. A device row is never deleted:
-- revoked_unix is what keeps a revoked peer ID from ever getting a ticket
-- again, long after its log entry below is dropped.
CREATE TABLE devices (
    account_id   INTEGER NOT NULL REFERENCES accounts(id),
    peer_id      BLOB NOT NULL,
    name         TEXT NOT NULL,
    first_unix   INTEGER NOT NULL,  -- first login
    last_unix    INTEGER NOT NULL,  -- latest login or renewal
    expiry_unix  INTEGER NOT NULL,  -- expiry of the latest-expiring ticket issued to it
    revoked_unix INTEGER,           -- NULL while not revoked
    PRIMARY KEY (account_id, peer_id)
) STRICT;

-- Login and renewal ask "was this peer ever revoked, by any account?".
CREATE INDEX devices_revoked ON devices (peer_id) WHERE revoked_unix IS NOT NULL;

-- The revocation log served to supernodes: append-only, serial never reused
-- (AUTOINCREMENT), an entry dropped once every ticket of its device has
-- expired (horizon_unix), since no check needs it after that.
CREATE TABLE revocations (
    serial       INTEGER PRIMARY KEY AUTOINCREMENT,
    peer_id      BLOB NOT NULL,
    horizon_unix INTEGER NOT NULL,
    revoked_unix INTEGER NOT NULL
) STRICT;

CREATE INDEX revocations_horizon ON revocations (horizon_unix);
