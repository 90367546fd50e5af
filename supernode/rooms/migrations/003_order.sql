-- 003: a room's one message order across its homes. position is the
-- message's place in it, which the room's primary gives and every home
-- keeps; NULL for a deleted message's marker stored before its message
-- arrived (and for rows from before this migration). A home's newest
-- position is the room's highest here.

ALTER TABLE backlog ADD COLUMN position INTEGER;
CREATE UNIQUE INDEX backlog_by_position ON backlog (room, position) WHERE position IS NOT NULL;
