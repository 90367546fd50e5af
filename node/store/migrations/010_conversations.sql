-- 010: multi-party conversations. A conversation's messages live in
-- messages under its ID ("#" + 32 hex digits) as peer, with their author in
-- sender (empty for two-party conversations, where the peer is the author).
-- An outbox entry that carries a multi-party message to one member names
-- the conversation, so its ack marks the message (stored once) delivered.
CREATE TABLE conversations (
	id      TEXT    PRIMARY KEY NOT NULL,
	members TEXT    NOT NULL,           -- usernames, ourselves included, sorted, one per line
	departed TEXT   NOT NULL DEFAULT '', -- members who left, one per line
	left    INTEGER NOT NULL DEFAULT 0, -- 1 once we left
	created INTEGER NOT NULL            -- unix nanoseconds
);

ALTER TABLE messages ADD COLUMN sender TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN conversation TEXT NOT NULL DEFAULT '';
