-- esign-collector state, migration 7 → 8: the Authorization Code Grant's refresh tokens and
-- what `status` shows of each tenant's credentials.
-- `refresh_tokens`: one sealed refresh token per tenant (ChaCha20-Poly1305 under the seal key
-- kept outside this file, as the access tokens), replaced in one transaction at every
-- rotation. The plain columns say when it was obtained and when it lapses, so `status` needs
-- no key to show them.
CREATE TABLE IF NOT EXISTS refresh_tokens (
    tenant        TEXT PRIMARY KEY,
    nonce         BLOB NOT NULL,
    ciphertext    BLOB NOT NULL,
    logged_in_at  INTEGER NOT NULL,
    issued_at     INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    user_name     TEXT NOT NULL DEFAULT '',
    scopes        TEXT NOT NULL DEFAULT ''
);
-- `credential_status`: per tenant, the flow used last, which of its JWT keys DocuSign last
-- accepted (1-based) out of how many, and since when the first key is refused (NULL: it is not).
CREATE TABLE IF NOT EXISTS credential_status (
    tenant               TEXT PRIMARY KEY,
    flow                 TEXT NOT NULL,
    key_in_use           INTEGER,
    key_count            INTEGER,
    key_label            TEXT,
    first_key_refused_at INTEGER,
    updated_at           INTEGER NOT NULL
);
