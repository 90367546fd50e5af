-- 018: the blind index also holds, for each message, a keyed token of its
-- conversation (its peer), so that a search within one conversation is an
-- AND of two doclists in FTS5 instead of a walk over every match of a word
-- in all conversations (history.go, conversationToken).
--
-- Tokens are keyed with the storage key, which is only known at Unlock: this
-- migration empties the index and leaves a mark (history_reindex) that makes
-- the next Unlock index every sealed row again, in batches that each commit
-- with the position reached, so a reindexing killed half way goes on where
-- it stopped. Rows still in the clear (history_unsealed) are indexed when
-- they are sealed, as before. Until the reindexing ends nothing is written:
-- Unlock does it before it hands out the keys.

DROP TRIGGER messages_index_delete;
DROP TABLE messages_index;

CREATE VIRTUAL TABLE messages_index USING fts5 (
	tokens,
	content = '',
	contentless_delete = 1,
	detail = 'none',
	tokenize = 'ascii'
);

CREATE TRIGGER messages_index_delete AFTER DELETE ON messages BEGIN
	DELETE FROM messages_index WHERE rowid = old.seq;
END;

-- One row while sealed rows wait to be indexed again: every row with a seq
-- above after.
CREATE TABLE history_reindex (
	id    INTEGER PRIMARY KEY CHECK (id = 1),
	after INTEGER NOT NULL
);
INSERT INTO history_reindex (id, after) SELECT 1, 0 WHERE EXISTS (SELECT 1 FROM messages WHERE body IS NOT NULL);
