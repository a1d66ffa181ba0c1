-- esign-collector state, migration 3 → 4: whether a source's last run ended with data left
-- (a run-time budget or an explicit per-run cap stopped it), so `status` can say `backlog`
-- instead of `ok` while a backfill is still under way.
ALTER TABLE runs ADD COLUMN backlog INTEGER NOT NULL DEFAULT 0;
