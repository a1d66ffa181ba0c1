-- esign-collector state, migration 8 → 9: a refresh token DocuSign refused stays visible.
-- `refused_at` (Unix seconds) and `refused_reason` are set when the token endpoint answers
-- invalid_grant to the stored refresh token (only while that token is still the stored one),
-- and cleared by the next login. Until then `status`, `/healthz` and the login-required
-- gauge report the tenant as needing a login, and no refresh is attempted.
ALTER TABLE refresh_tokens ADD COLUMN refused_at INTEGER;
ALTER TABLE refresh_tokens ADD COLUMN refused_reason TEXT NOT NULL DEFAULT '';
