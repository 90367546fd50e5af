-- PostgreSQL's schema matches SQLite's (../sqlite) migration for migration,
-- number for number: BYTEA for BLOB, BIGINT for INTEGER, an identity
-- column for SQLite's INTEGER PRIMARY KEY.

-- Secrets of the server itself: its libp2p host key (which signs tickets) and
-- its OPAQUE key material. Losing them invalidates every ticket and account.
CREATE TABLE secrets (
    name  TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

-- Accounts. record is the OPAQUE registration record: the server never sees
-- or stores a password.
CREATE TABLE accounts (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username     TEXT NOT NULL UNIQUE,
    record       BYTEA NOT NULL,
    created_unix BIGINT NOT NULL
);
