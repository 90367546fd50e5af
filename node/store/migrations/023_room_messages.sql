-- 023: the room messages this device received and showed, so that what a
-- front end missed (its daemon stopped or killed before a notification was
-- written, a window reopened) can be read again (store.RoomMessages). A
-- message is stored in the transaction that marks it seen and moves the
-- room's position past it, and shown only after that commits: a kill
-- leaves it both shown-later and caught-up-after, never caught-up-after
-- and lost. Only the newest RoomMessagesKept of each room are kept;
-- forgetting a room drops them. The text, the nick and the picture hash
-- are sealed (secrets.go), bound to the row's room, author and ID.
CREATE TABLE room_messages (
	seq      INTEGER PRIMARY KEY, -- the order they were stored in: the room's order
	room     TEXT    NOT NULL,
	author   TEXT    NOT NULL,
	id       TEXT    NOT NULL,    -- the author's, unique in the room
	position INTEGER,             -- in the room's message order; NULL when a backlog's
	time     INTEGER NOT NULL,    -- the author's clock, unix nanoseconds
	body     BLOB    NOT NULL,    -- text, nick and picture, sealed
	UNIQUE (room, author, id)
);
CREATE UNIQUE INDEX room_messages_position ON room_messages (room, position) WHERE position IS NOT NULL;
CREATE INDEX room_messages_room ON room_messages (room, seq);
