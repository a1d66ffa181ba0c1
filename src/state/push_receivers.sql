-- esign-collector state, migration 6 → 7: what `status` shows of the push receivers, and the
-- envelope transitions DocuSign Connect delivered, and those polling found it never did
-- (reconciliation).
-- `push_receivers`: when each receiver last stored a request's messages, updated in the
-- transaction that stores them.
CREATE TABLE IF NOT EXISTS push_receivers (
    receiver          TEXT PRIMARY KEY,
    last_accepted_at  TEXT NOT NULL,
    accepted          INTEGER NOT NULL DEFAULT 0
);
-- `connect_transitions`: one row per envelope status change a Connect message reported
-- (envelope-level events with an envelopeSummary), written in the transaction that stores the
-- message in the inbox; kept to the newest `state.ledger_size` rows per account, as the ledger.
CREATE TABLE IF NOT EXISTS connect_transitions (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id      TEXT NOT NULL,
    envelope_id     TEXT NOT NULL,
    status          TEXT NOT NULL,
    status_changed  TEXT NOT NULL,
    UNIQUE (account_id, envelope_id, status, status_changed)
);
CREATE INDEX IF NOT EXISTS connect_transitions_account ON connect_transitions (account_id, seq);
-- `connect_gaps`: the transitions polling found that Connect never delivered (each once, so a
-- window read again after a crash counts a gap once); the newest 100,000 per account are kept.
CREATE TABLE IF NOT EXISTS connect_gaps (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id      TEXT NOT NULL,
    envelope_id     TEXT NOT NULL,
    status          TEXT NOT NULL,
    status_changed  TEXT NOT NULL,
    found_at        TEXT NOT NULL,
    UNIQUE (account_id, envelope_id, status, status_changed)
);
