-- Replicas of the auth server sharing this database (issue 19). Each
-- process is one replica under a random ID of its own; it writes its row at
-- start and at every heartbeat, and deletes it when it shuts down. A replica
-- is live while expires_ms (its last heartbeat plus a few of its heartbeat
-- intervals, as it wrote them) is ahead of the reader's clock; a row long
-- past it (a replica that crashed) is deleted by the next heartbeat of any
-- replica. Times are unix milliseconds: a heartbeat interval may be short.
--   addrs  the replica's multiaddrs, each with /p2p/, one per line
CREATE TABLE replicas (
    id           TEXT PRIMARY KEY,
    addrs        TEXT NOT NULL,
    started_ms   INTEGER NOT NULL,
    heartbeat_ms INTEGER NOT NULL,
    expires_ms   INTEGER NOT NULL
) STRICT;

CREATE INDEX replicas_expires ON replicas (expires_ms);
