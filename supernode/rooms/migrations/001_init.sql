-- 001: the rooms a home keeps. A room's state is not stored: it is rebuilt
-- from its ops (room.Replay), so what is stored is exactly what every other
-- replica can check — the signed ops — and the head that says how far the
-- chain goes.

CREATE TABLE rooms (
	name     TEXT    PRIMARY KEY,
	head     BLOB    NOT NULL CHECK (length(head) = 32), -- hash of the op at position
	position INTEGER NOT NULL CHECK (position >= 1),
	created  INTEGER NOT NULL, -- the genesis op's signed time, unix milliseconds
	deleted  INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1))
) WITHOUT ROWID;

-- One op per position: two ops on the same head cannot both land, whatever
-- the code above does.
CREATE TABLE ops (
	room     TEXT    NOT NULL REFERENCES rooms (name),
	position INTEGER NOT NULL CHECK (position >= 1),
	hash     BLOB    NOT NULL CHECK (length(hash) = 32),
	op       BLOB    NOT NULL, -- the SignedRoomOp as it arrived
	PRIMARY KEY (room, position)
) WITHOUT ROWID;

-- The newest messages of each room. seq is the arrival order here, which is
-- what the backlog keeps and trims by (an author's clock is not trusted for
-- that). A deleted message keeps its row, without its body, so that a copy
-- arriving late through another home is not stored again.
CREATE TABLE backlog (
	seq     INTEGER PRIMARY KEY AUTOINCREMENT,
	room    TEXT    NOT NULL,
	id      TEXT    NOT NULL,
	author  TEXT    NOT NULL,
	time    INTEGER NOT NULL, -- the author's signed time, unix milliseconds
	body    BLOB    NOT NULL,
	deleted INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
	UNIQUE (room, id)
);
CREATE INDEX backlog_by_room ON backlog (room, seq);

-- What ops and messages together take, kept by triggers in the same
-- transaction as every write, so the global byte cap is checked without
-- scanning and cannot drift.
CREATE TABLE usage (
	id    INTEGER PRIMARY KEY CHECK (id = 1),
	ops   INTEGER NOT NULL, -- rows of ops
	msgs  INTEGER NOT NULL, -- rows of backlog
	bytes INTEGER NOT NULL  -- op and message body bytes
);
INSERT INTO usage (id, ops, msgs, bytes) VALUES (1, 0, 0, 0);

CREATE TRIGGER usage_op_insert AFTER INSERT ON ops BEGIN
	UPDATE usage SET ops = ops + 1, bytes = bytes + length(NEW.op) WHERE id = 1;
END;
CREATE TRIGGER usage_op_delete AFTER DELETE ON ops BEGIN
	UPDATE usage SET ops = ops - 1, bytes = bytes - length(OLD.op) WHERE id = 1;
END;
CREATE TRIGGER usage_msg_insert AFTER INSERT ON backlog BEGIN
	UPDATE usage SET msgs = msgs + 1, bytes = bytes + length(NEW.body) WHERE id = 1;
END;
CREATE TRIGGER usage_msg_update AFTER UPDATE OF body ON backlog BEGIN
	UPDATE usage SET bytes = bytes - length(OLD.body) + length(NEW.body) WHERE id = 1;
END;
CREATE TRIGGER usage_msg_delete AFTER DELETE ON backlog BEGIN
	UPDATE usage SET msgs = msgs - 1, bytes = bytes - length(OLD.body) WHERE id = 1;
END;
