-- 013: history sealed at rest. Message text is sealed with a key derived
-- from the storage key (messages.body) and the full-text index holds keyed
-- tokens only (messages_index), both written from Go: see history.go.
--
-- The key is only known at Unlock, so this migration cannot seal what older
-- programs stored in the clear. It drops the plaintext index and leaves a
-- mark (history_unsealed) that makes the next Unlock seal every row whose
-- body is NULL, index it, and then rewrite the file (VACUUM) so that no
-- page keeps the old text; until then those rows cannot be read.

DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_delete;
DROP TRIGGER messages_fts_update;
DROP TABLE messages_fts;

-- body: the sealed text. text is '' for every row written since; before
-- the sealing at Unlock it still holds an old row's plaintext.
ALTER TABLE messages ADD COLUMN body BLOB;

-- The blind index: for each message, one bag of keyed tokens — one per
-- distinct word and one per distinct prefix of 1..4 characters of a word
-- (so the last word typed matches as a prefix), sorted. detail = 'none'
-- keeps no positions (no word order; phrases are checked on the opened
-- text). Contentless: FTS5 keeps no copy of the text, and
-- contentless_delete lets a row leave the index by its rowid alone.
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

-- A transfer's name, path and thumbnail are sealed with the storage key like
-- its key (name and path then hold BLOBs); sealed = 0 marks the rows an older
-- program wrote, which the same Unlock seals.
ALTER TABLE transfers ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;

-- One row: a MAC under the storage key, so Unlock refuses another key
-- instead of letting it write history nobody can read later.
CREATE TABLE storage_key_check (
	id  INTEGER PRIMARY KEY CHECK (id = 1),
	mac BLOB    NOT NULL
);

-- One row while rows from before this migration may be in the clear.
CREATE TABLE history_unsealed (
	id INTEGER PRIMARY KEY CHECK (id = 1)
);
INSERT INTO history_unsealed (id) VALUES (1);
