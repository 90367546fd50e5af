-- Devices: every peer ID that got a ticket for an account, so the account's
-- devices can list and revoke each other. A device row is never deleted:
-- revoked_unix is what keeps a revoked peer ID from ever getting a ticket
-- again, long after its log entry below is dropped.
CREATE TABLE devices (
    account_id   BIGINT NOT NULL REFERENCES accounts(id),
    peer_id      BYTEA NOT NULL,
    name         TEXT NOT NULL,
    first_unix   BIGINT NOT NULL,  -- first login
    last_unix    BIGINT NOT NULL,  -- latest login or renewal
    expiry_unix  BIGINT NOT NULL,  -- expiry of the latest-expiring ticket issued to it
    revoked_unix BIGINT,           -- NULL while not revoked
    PRIMARY KEY (account_id, peer_id)
);

-- Login and renewal ask "was this peer ever revoked, by any account?".
CREATE INDEX devices_revoked ON devices (peer_id) WHERE revoked_unix IS NOT NULL;

-- The revocation log served to supernodes: append-only, serial never reused,
-- an entry dropped once every ticket of its device has expired
-- (horizon_unix), since no check needs it after that.
CREATE TABLE revocations (
    serial       BIGINT PRIMARY KEY,
    peer_id      BYTEA NOT NULL,
    horizon_unix BIGINT NOT NULL,
    revoked_unix BIGINT NOT NULL
);

CREATE INDEX revocations_horizon ON revocations (horizon_unix);

-- The log's serial, the highest ever given (SQLite keeps it in
-- sqlite_sequence). Not a sequence: a sequence hands out numbers outside
-- transactions, so a reader could see serial n before entry n commits, or
-- entry n+1 commit before entry n, and page past an entry for good. This
-- one row is updated in the revoking transaction: revocations take their
-- serials one after the other, and a serial is visible only with its entry.
CREATE TABLE revocation_serial (
    one    BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    serial BIGINT NOT NULL
);
INSERT INTO revocation_serial (serial) VALUES (0);
