-- Replicas of the auth server sharing this database (issue 19): see
-- ../sqlite/0004_replicas.sql for what each column holds.
CREATE TABLE replicas (
    id           TEXT PRIMARY KEY,
    addrs        TEXT NOT NULL,
    started_ms   BIGINT NOT NULL,
    heartbeat_ms BIGINT NOT NULL,
    expires_ms   BIGINT NOT NULL
);

CREATE INDEX replicas_expires ON replicas (expires_ms);
