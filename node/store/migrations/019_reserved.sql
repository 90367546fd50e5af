-- 019: reserved. Migration 019 is another branch's (issue 16, the live
-- message path); this empty step only keeps the numbers without a gap on
-- this branch, and goes when the two are merged.
SELECT 1;
