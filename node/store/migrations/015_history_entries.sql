-- 015: history entries besides messages. A row of messages may record a
-- nudge, the end of a file transfer, or someone joining or leaving a
-- multi-party conversation, as the chat window showed them, so the history
-- viewer can show them in order with the messages. kind is '' for a
-- message; its other values are in entries.go. The row's body is sealed
-- like a message's (see history.go), and its kind is bound to the seal.
ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT '';
