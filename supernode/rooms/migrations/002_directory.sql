-- 002: each room's directory entry beside its head, written in the same
-- transaction as every op, so the directory never shows a state the chain
-- does not have (a new public room at once, a deleted one gone at once).
-- NULL listed marks a row stored before this migration: Open fills it from
-- the room's replayed state.

ALTER TABLE rooms ADD COLUMN creator     TEXT;    -- the genesis op's author: creation limits count by it
ALTER TABLE rooms ADD COLUMN owner       TEXT;    -- the owner now (transfers move it)
ALTER TABLE rooms ADD COLUMN topic       TEXT;
ALTER TABLE rooms ADD COLUMN listed      INTEGER CHECK (listed IN (0, 1)); -- the public mode
ALTER TABLE rooms ADD COLUMN invite_only INTEGER NOT NULL DEFAULT 0 CHECK (invite_only IN (0, 1));
ALTER TABLE rooms ADD COLUMN password    INTEGER NOT NULL DEFAULT 0 CHECK (password IN (0, 1));

CREATE INDEX rooms_by_creator ON rooms (creator, created);
CREATE INDEX rooms_by_owner ON rooms (owner) WHERE deleted = 0;
CREATE INDEX rooms_listed ON rooms (listed) WHERE listed = 1 AND deleted = 0;
