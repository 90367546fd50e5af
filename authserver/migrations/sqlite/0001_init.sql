-- Secrets of the server itself: its libp2p host key (which signs tickets) and
-- its OPAQUE key material. Losing them invalidates every ticket and account.
CREATE TABLE secrets (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;

-- Accounts. record is the OPAQUE registration record: the server never sees
-- or stores a password.
CREATE TABLE accounts (
    id           INTEGER PRIMARY KEY,
    username     TEXT NOT NULL UNIQUE,
    record       BLOB NOT NULL,
    created_unix INTEGER NOT NULL
) STRICT;
