//! The [`Simulator`]'s OAuth knobs: registered JWT keys, the login mode, refresh-token
//! rotation, aging and revocation; and every token issued, for tests' leak checks.

use chrono::{Duration, Utc};

use super::{LoginMode, RefreshRotation, Simulator, parse_keys};

impl Simulator {
    /// Replaces the integration key's registered public keys (PEM). One that does not parse is
    /// logged and skipped; with none left every JWT assertion is rejected.
    pub fn set_public_keys(&self, pems: Vec<String>) {
        let keys = parse_keys(pems);
        self.state().auth.keys = keys;
    }

    /// How many registered public keys parsed and are in use.
    pub fn public_keys_count(&self) -> usize {
        self.state().auth.keys.len()
    }

    /// How `GET /oauth/auth` answers from now on.
    pub fn set_login_mode(&self, mode: LoginMode) {
        self.state().auth.login_mode = mode;
    }

    /// Whether a used refresh token stays valid, from now on (starts as
    /// [`SimConfig::refresh_rotation`](super::SimConfig::refresh_rotation)).
    pub fn set_refresh_rotation(&self, rotation: RefreshRotation) {
        self.state().auth.rotation = rotation;
    }

    /// Moves every refresh token's issue and expiry time `secs` earlier, so tests can expire
    /// them without waiting (negative values move them later).
    pub fn age_refresh_tokens(&self, secs: i64) {
        self.state().auth.refresh.age(Duration::seconds(secs.clamp(-(i64::MAX / 2_000), i64::MAX / 2_000)));
    }

    /// Revokes every refresh token, as a user or admin removing the app's access does. Access
    /// tokens already issued keep working until they expire.
    pub fn revoke_refresh_tokens(&self) {
        self.state().auth.refresh.revoke_all();
    }

    /// Every refresh token still redeemable (not revoked, not expired), so tests can check that
    /// no copy of one leaks to disk or logs.
    pub fn issued_refresh_tokens(&self) -> Vec<String> {
        self.state().auth.refresh.valid(Utc::now())
    }

    /// Every access token ever issued, from any grant, expired and wiped ones included (the
    /// latest ten thousand), so a test can check that none leaked, not only the live ones.
    pub fn all_issued_tokens(&self) -> Vec<String> {
        self.state().tokens.ever()
    }

    /// Every refresh token ever issued, used, revoked and expired ones included (the latest
    /// ten thousand).
    pub fn all_issued_refresh_tokens(&self) -> Vec<String> {
        self.state().auth.refresh.ever()
    }
}
