-- 020: a batch of messages is made durable first and indexed after its
-- commit, in the indexer's own transactions (indexer.go), so that the blind
-- index's work is off the path a batch's sender waits on.
--
-- history_indexed.through marks how far the index reaches: every message
-- with a seq up to through is in the index (or is being indexed again by
-- 018's history_reindex, or sealed by 013's history_unsealed, which index as
-- before), and none after it is. The rows after through are the unindexed
-- tail: Search checks them one by one, so its results stay exact, and the
-- indexer indexes them in order, each transaction moving through with the
-- index rows it wrote, so an indexing killed half way goes on where it
-- stopped. Everything stored before this migration is indexed (or marked for
-- 018's reindexing, which covers every row), so through starts at the
-- newest seq.
CREATE TABLE history_indexed (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	through INTEGER NOT NULL
);
INSERT INTO history_indexed (id, through) SELECT 1, coalesce(max(seq), 0) FROM messages;
