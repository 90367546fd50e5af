-- Rate limits and the supernode registry (issue 19): kept in the database,
-- not in a server's memory, so that replicas sharing one database agree —
-- a limit counts the attempts made at every replica, and every replica
-- lists the supernodes that heartbeated at any. Both tables are transient:
-- rows age out (until_ns, last_ns) and are swept; nothing else refers to
-- them, and a copy of the database to another engine leaves them behind.

-- One row per attempt counted against a rate limit (limit.go): bucket names
-- the limit (login failures per account, registrations per address…),
-- limit_key what it is counted against (an account, an address, an account
-- and device: bytes, as a peer ID is). An attempt counts while at_ns is
-- inside the limit's window; until_ns is when it stops counting for the
-- window it was made under, so a sweep drops rows without knowing windows.
CREATE TABLE limit_attempts (
    id        INTEGER PRIMARY KEY,
    bucket    TEXT NOT NULL,
    limit_key BLOB NOT NULL,
    at_ns     INTEGER NOT NULL,  -- unix nanoseconds
    until_ns  INTEGER NOT NULL   -- at_ns plus the window
) STRICT;

-- Counting a key's attempts in a window, and finding its newest.
CREATE INDEX limit_attempts_key ON limit_attempts (bucket, limit_key, at_ns);
-- The sweep.
CREATE INDEX limit_attempts_until ON limit_attempts (until_ns);

-- The supernode registry (registry.go): one row per supernode that
-- heartbeated, listed while last_ns is younger than wire.SupernodeTTL.
--   username the operator's account (whose node ticket the heartbeat
--            presented)
--   record   the supernode's signed peer record (its addresses)
--   ticket   the role-supernode ticket issued to it, a serialized
--            wire.SignedTicket, handed out again until it is half used
CREATE TABLE supernodes (
    peer_id  BLOB PRIMARY KEY,
    username TEXT NOT NULL,
    record   BLOB NOT NULL,
    ticket   BLOB NOT NULL,
    last_ns  INTEGER NOT NULL  -- the latest heartbeat, unix nanoseconds
) STRICT;
