-- 016: the chat rooms this device joined (issue 15), rejoined at sign-in.
-- password is the room's key as the user typed it, kept so the rejoin
-- needs no prompt ('' for none); it is the same for every member, and the
-- room's homes hold only its Argon2id hash. Messages already shown are
-- remembered in seen (scope 'room/' || room), so a rejoin that fetches the
-- backlog shows each message once.
CREATE TABLE rooms (
	room     TEXT    PRIMARY KEY,
	password TEXT    NOT NULL DEFAULT '',
	joined   INTEGER NOT NULL -- unix nanoseconds
) WITHOUT ROWID;
