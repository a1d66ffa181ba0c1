-- esign-collector state, migration 5 → 6: what pull sources keep besides their cursors.
-- `base_uris`: the API host an account lives on (DocuSign's eSignature host differs per
-- account), discovered once and refreshed when the host stops answering for it.
-- `work_queue`: items a source found that another must fetch once (an envelope that reached a
-- terminal status, whose audit trail is read once); `seq` is never reused (AUTOINCREMENT), so
-- a reader's cursor is the last `seq` it delivered, and an item is queued once per queue.
-- `resource_gets`: when a resource was last requested, so a rate rule per resource ("never
-- twice within 15 minutes") holds across restarts and crash replays.
CREATE TABLE IF NOT EXISTS base_uris (
    tenant      TEXT NOT NULL,
    account_id  TEXT NOT NULL,
    base_uri    TEXT NOT NULL,
    fetched_at  TEXT NOT NULL,
    PRIMARY KEY (tenant, account_id)
);
CREATE TABLE IF NOT EXISTS work_queue (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant     TEXT NOT NULL,
    queue      TEXT NOT NULL,
    item       TEXT NOT NULL,
    detail     TEXT NOT NULL,
    queued_at  TEXT NOT NULL,
    UNIQUE (tenant, queue, item)
);
CREATE INDEX IF NOT EXISTS work_queue_order ON work_queue (tenant, queue, seq);
CREATE TABLE IF NOT EXISTS resource_gets (
    tenant    TEXT NOT NULL,
    resource  TEXT NOT NULL,
    at        TEXT NOT NULL,
    PRIMARY KEY (tenant, resource)
);
