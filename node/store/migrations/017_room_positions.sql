-- 017: the last message position of each joined room this device showed
-- (the room's one message order, which its homes share), so a rejoin —
-- after a drop, a failover or a restart — asks the home for every message
-- after it rather than reading only the backlog's newest 100. NULL: none
-- yet (the first join reads the backlog).
ALTER TABLE rooms ADD COLUMN position INTEGER;
