//! Samples of what the simulator serves, without HTTP: inputs for the output-format mappings
//! and their tests.

use chrono::Utc;

use super::{Simulator, data, events, row};

impl Simulator {
    /// The first `n` Monitor events as the org stream returns them, without HTTP: samples
    /// for the output-format mappings and their tests.
    pub fn sample_events(&self, n: usize) -> Vec<serde_json::Value> {
        let now = Utc::now();
        let entries = self.state().events.page(events::Start::Default.lower_key(now), n, now);
        let ctx = row::RowContext::of(&self.inner.cfg, &self.inner.actors);
        entries
            .iter()
            .filter_map(|e| {
                let mut out = Vec::new();
                data::write_row(&ctx, e.origin, e.key.at, data::Generation::Current, &mut out).ok()?;
                serde_json::from_slice(&out).ok()
            })
            .collect()
    }

    /// Every Admin user record as `GET …/users?include_license=true` returns it.
    pub fn sample_users(&self) -> Vec<serde_json::Value> {
        let state = self.state();
        state
            .directory
            .users()
            .iter()
            .map(|u| state.directory.to_json(u, true, state.directory.default_account()))
            .collect()
    }
}
