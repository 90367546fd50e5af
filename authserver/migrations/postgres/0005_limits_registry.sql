-- Rate limits and the supernode registry (issue 19): see
-- ../sqlite/0005_limits_registry.sql for what each table and column holds.

CREATE TABLE limit_attempts (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bucket    TEXT NOT NULL,
    limit_key BYTEA NOT NULL,
    at_ns     BIGINT NOT NULL,
    until_ns  BIGINT NOT NULL
);

CREATE INDEX limit_attempts_key ON limit_attempts (bucket, limit_key, at_ns);
CREATE INDEX limit_attempts_until ON limit_attempts (until_ns);

CREATE TABLE supernodes (
    peer_id  BYTEA PRIMARY KEY,
    username TEXT NOT NULL,
    record   BYTEA NOT NULL,
    ticket   BYTEA NOT NULL,
    last_ns  BIGINT NOT NULL
);
