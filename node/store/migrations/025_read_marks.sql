-- 025: unread marks. read_marks holds, per conversation (a contact's
-- username or a multi-party conversation's ID), the newest incoming
-- message the user has read: its time in unix milliseconds (the sender's
-- clock, as messages.time keeps it, so every device of the account holds
-- the same time for the same message) and its ID, which orders messages of
-- the same millisecond. A conversation's unread count is its incoming
-- messages after the mark (store.Unread); the index below serves it.
CREATE TABLE read_marks (
	conversation TEXT    PRIMARY KEY NOT NULL,
	up_to        INTEGER NOT NULL, -- unix milliseconds
	last_id      TEXT    NOT NULL
);
CREATE INDEX messages_unread ON messages (peer, time) WHERE outgoing = 0 AND kind = '';
-- What was stored before unread marks existed counts as read: an upgrade
-- must not show every old message as new.
INSERT INTO read_marks (conversation, up_to, last_id)
	SELECT peer, MAX(time) / 1000000, '' FROM messages WHERE outgoing = 0 AND kind = '' GROUP BY peer;
UPDATE read_marks SET last_id = (SELECT MAX(id) FROM messages m
	WHERE m.peer = read_marks.conversation AND m.outgoing = 0 AND m.kind = '' AND m.time / 1000000 = read_marks.up_to);
