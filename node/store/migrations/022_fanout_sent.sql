-- 022: the conversation events we passed on to each member, kept sealed for
-- as long as mail lives, so that one a member could not open (it lost its
-- session with us) can be sent again exactly as it was: members check its
-- author's signature, signing time and ticket, which a new event would not
-- keep (store.FanoutSent).
CREATE TABLE fanout_sent (
	id      TEXT    PRIMARY KEY, -- the outbox entry's ID (FanoutID)
	peer    TEXT    NOT NULL,    -- the member it went to
	payload BLOB    NOT NULL,    -- the payload, sealed (secrets.go)
	created INTEGER NOT NULL     -- unix nanoseconds
);
CREATE INDEX fanout_sent_created ON fanout_sent (created);
