-- esign-collector state, migration 4 → 5: the push path's durable inbox. A receiver answers
-- 2xx only once a request's messages are stored here (one transaction); the delivery loop
-- deletes them only after every sink confirmed them, writing their dedup keys into the ledger
-- in the same transaction. `seq` is the arrival order and is never reused (AUTOINCREMENT), so
-- a delete by `seq` can only remove the row that was delivered. A message sent again while
-- it waits here has the same (receiver, source, dedup_key) and is absorbed by the UNIQUE key.
CREATE TABLE IF NOT EXISTS inbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    receiver     TEXT NOT NULL,
    source       TEXT NOT NULL,
    dedup_key    TEXT NOT NULL,
    time         TEXT NOT NULL,
    line         TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    UNIQUE (receiver, source, dedup_key)
);
CREATE INDEX IF NOT EXISTS inbox_order ON inbox (receiver, seq);
