-- 011: the file-transfer protocol's whole-file hash is BLAKE3-256 instead
-- of SHA-256 (transfer protocol 2.0.0), so transfers.sha256 becomes hash.
-- SQLite rewrites the column's CHECK (length = 32) to name the new column.
--
-- A transfer that was not over when this ran carries a SHA-256 its new
-- whole-file check would refuse after fetching every byte, and its contact
-- (speaking 1.0.0 until it updates) could not serve it anyway. It is marked
-- failed, as the contact's device marks its side when it updates: offered,
-- incoming, active and paused transfers of either direction and kind.
-- Nothing else is touched: the part file of an incoming one and its chunk
-- records stay until the user cancels it (which removes both), the file
-- can be sent again as a new offer, and a display picture still missing is
-- asked for again. Done, declined, cancelled and failed transfers keep
-- their state; their hash is history.
ALTER TABLE transfers RENAME COLUMN sha256 TO hash;
UPDATE transfers SET state = 'failed' WHERE state IN ('offered', 'incoming', 'active', 'paused');
