-- esign-collector state, schema version 1.
-- Checkpoints are the server's cursors, stored as JSON text, one per (tenant, source).
CREATE TABLE IF NOT EXISTS checkpoints (
    tenant      TEXT NOT NULL,
    source      TEXT NOT NULL,
    cursor      TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant, source)
);
-- Bounded set of event ids already delivered, for dedup across pages and runs.
CREATE TABLE IF NOT EXISTS ledger (
    id        INTEGER PRIMARY KEY,
    tenant    TEXT NOT NULL,
    source    TEXT NOT NULL,
    event_id  TEXT NOT NULL,
    UNIQUE (tenant, source, event_id)
);
CREATE INDEX IF NOT EXISTS ledger_order ON ledger (tenant, source, id);
-- The latest known record of each Admin user: dedup of unchanged users, and enrichment.
CREATE TABLE IF NOT EXISTS users (
    tenant       TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    record       TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (tenant, user_id)
);
-- Cached access tokens, encrypted with a key derived from the private key (never plain).
CREATE TABLE IF NOT EXISTS tokens (
    tenant      TEXT PRIMARY KEY,
    nonce       BLOB NOT NULL,
    ciphertext  BLOB NOT NULL,
    expires_at  INTEGER NOT NULL
);
