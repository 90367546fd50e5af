-- 019: each incoming message's place in its author's order, so a message
-- that arrives late (mail held at a home that was down while a later one
-- came directly) is shown where its author wrote it, not where it arrived.
-- device is the sending device's peer ID and author_order its outbox
-- position of the message (increasing per device); both NULL for our own
-- messages and for senders that did not say. ord is NULL while a message
-- sits where it arrived (its seq); a late one gets a place between the
-- rows around it. History orders by COALESCE(ord, seq), which the index
-- below serves.
ALTER TABLE messages ADD COLUMN device TEXT;
ALTER TABLE messages ADD COLUMN author_order INTEGER;
ALTER TABLE messages ADD COLUMN ord REAL;
CREATE INDEX messages_place ON messages (peer, COALESCE(ord, seq));
CREATE INDEX messages_author ON messages (peer, device, author_order) WHERE author_order IS NOT NULL;
