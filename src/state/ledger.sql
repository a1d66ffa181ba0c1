-- Schema version 3: the dedup ledger as one row per committed page (a JSON array of ids),
-- mirrored in memory by the collector, instead of one indexed row per id.
CREATE TABLE IF NOT EXISTS ledger_pages (
    tenant  TEXT NOT NULL,
    source  TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    n       INTEGER NOT NULL,
    ids     TEXT NOT NULL,
    PRIMARY KEY (tenant, source, seq)
);
INSERT INTO ledger_pages (tenant, source, seq, n, ids)
    SELECT tenant, source, 1, count(*), json_group_array(event_id)
    FROM (SELECT tenant, source, event_id FROM ledger ORDER BY id)
    GROUP BY tenant, source;
DROP TABLE ledger;
