-- esign-collector state, migration 1 → 2: one run record per (tenant, source), so `status`
-- and `/healthz` can tell a collector that stopped from one that has nothing to collect.
CREATE TABLE IF NOT EXISTS runs (
    tenant                TEXT NOT NULL,
    source                TEXT NOT NULL,
    started_at            TEXT NOT NULL,
    ended_at              TEXT NOT NULL,
    last_success_at       TEXT,
    last_error            TEXT,
    last_error_code       INTEGER,
    last_error_at         TEXT,
    consecutive_failures  INTEGER NOT NULL DEFAULT 0,
    events_total          INTEGER NOT NULL DEFAULT 0,
    events_last           INTEGER NOT NULL DEFAULT 0,
    pages_last            INTEGER NOT NULL DEFAULT 0,
    retries_last          INTEGER NOT NULL DEFAULT 0,
    throttled_last        INTEGER NOT NULL DEFAULT 0,
    duration_ms_last      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, source)
);
