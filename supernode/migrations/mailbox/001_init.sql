-- 001: mailbox items. The sender's identity is deliberately absent: a
-- supernode keeps only which mailbox an item waits in, the sealed item and
-- when it arrived.

-- AUTOINCREMENT so a seq is never reused after an ack or a sweep: owners page
-- with "seq > after", and a reused seq would hide new mail behind an old one.
CREATE TABLE mail (
	seq     INTEGER PRIMARY KEY AUTOINCREMENT,
	mailbox BLOB    NOT NULL CHECK (length(mailbox) = 32),
	item    BLOB    NOT NULL CHECK (length(item) > 0),
	stored  INTEGER NOT NULL -- unix nanoseconds
);

-- Fetch and quota walk one mailbox in seq order; the sweeper walks by age.
CREATE INDEX mail_by_mailbox ON mail (mailbox, seq);
CREATE INDEX mail_by_stored ON mail (stored);
