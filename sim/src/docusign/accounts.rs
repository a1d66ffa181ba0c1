//! The simulated user's eSignature accounts, each owned by its own organization.
//!
//! Account 0 is [`super::SimConfig::account_id`] / `organization_id` (the default account, as
//! before); accounts 1.. get GUIDs derived from the seed. Every account has its own quota
//! window (`quota.rs`): DocuSign's limits are per account, and this simulator counts an
//! organization's Monitor stream and Admin calls against the account that organization owns
//! (DocuSign does not document which budget the org-level calls draw on).
//!
//! Data: the accounts share one event store (the same ingestion grid and cursors), one user
//! directory and one envelope store, but each account's Monitor rows are rendered with its
//! own ids and its own content seed, so `eventId`s differ between accounts (derived lazily,
//! at no memory cost per account).

use std::collections::HashMap;

use serde::Serialize;

use super::SimConfig;
use super::seed::{digest, guid};

/// One account and the organization that owns it.
#[derive(Debug, Clone)]
#[allow(clippy::struct_field_names, reason = "DocuSign's own names: account_id, organization_id")]
pub(super) struct Account {
    pub(super) account_id: String,
    pub(super) organization_id: String,
    /// Seed of this account's Monitor row content (event ids included); account 0 uses the
    /// configured seed, so a one-account simulator is exactly what it always was.
    pub(super) seed: u64,
}

/// Every account, with lookups by account id and by organization id (case-insensitive).
#[derive(Debug)]
pub(super) struct Accounts {
    list: Vec<Account>,
    by_account: HashMap<String, usize>,
    by_org: HashMap<String, usize>,
}

impl Accounts {
    /// `cfg.accounts` accounts (at least one).
    pub(super) fn new(cfg: &SimConfig) -> Self {
        let n = cfg.accounts.max(1);
        let list: Vec<Account> = (0..n)
            .map(|i| {
                if i == 0 {
                    return Account {
                        account_id: cfg.account_id.clone(),
                        organization_id: cfg.organization_id.clone(),
                        seed: cfg.seed,
                    };
                }
                let k = i as u64;
                let d = digest(cfg.seed, "account-content", &[k]);
                let mut b = [0u8; 8];
                b.copy_from_slice(&d[..8]);
                Account {
                    account_id: guid(cfg.seed, "account", &[k]),
                    organization_id: guid(cfg.seed, "organization", &[k]),
                    seed: u64::from_be_bytes(b),
                }
            })
            .collect();
        let index = |f: fn(&Account) -> &String| {
            list.iter().enumerate().map(|(i, a)| (f(a).to_ascii_lowercase(), i)).collect::<HashMap<_, _>>()
        };
        let by_account = index(|a| &a.account_id);
        let by_org = index(|a| &a.organization_id);
        Self { list, by_account, by_org }
    }

    pub(super) fn len(&self) -> usize {
        self.list.len()
    }

    pub(super) fn all(&self) -> &[Account] {
        &self.list
    }

    /// Account `i` (account 0 for an index out of range).
    pub(super) fn get(&self, i: usize) -> &Account {
        self.list.get(i).unwrap_or(&self.list[0])
    }

    /// The index of the account with this id.
    pub(super) fn by_account(&self, account_id: &str) -> Option<usize> {
        self.by_account.get(&account_id.to_ascii_lowercase()).copied()
    }

    /// The index of the account this organization owns.
    pub(super) fn by_org(&self, organization_id: &str) -> Option<usize> {
        self.by_org.get(&organization_id.to_ascii_lowercase()).copied()
    }

    /// The account whose quota a request to `path` draws on: the account or organization the
    /// path names; account 0 (the user's default account) for a path that names none (the
    /// legacy Monitor stream) or an unknown one (which the route then refuses).
    pub(super) fn of_path(&self, path: &str) -> usize {
        let mut segments = path.split('/');
        while let Some(s) = segments.next() {
            let found = if s.eq_ignore_ascii_case("organizations") {
                segments.next().and_then(|id| self.by_org(id))
            } else if s.eq_ignore_ascii_case("accounts") {
                segments.next().and_then(|id| self.by_account(id))
            } else {
                continue;
            };
            return found.unwrap_or(0);
        }
        0
    }
}

/// One account's quota use, in [`super::Stats::accounts`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AccountUse {
    /// The account's id.
    pub account_id: String,
    /// The organization that owns it.
    pub organization_id: String,
    /// API requests (Monitor, Admin, eSignature) counted against this account's quota,
    /// refused ones included.
    pub requests: u64,
    /// Of those, the ones the enforced quota refused with 429.
    pub refused: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(accounts: usize) -> SimConfig {
        let mut c = SimConfig::new(String::new());
        c.accounts = accounts;
        c
    }

    #[test]
    fn account_zero_is_the_configured_one_and_the_rest_are_stable_and_distinct() {
        let c = cfg(3);
        let a = Accounts::new(&c);
        assert_eq!(a.len(), 3);
        assert_eq!((a.get(0).account_id.as_str(), a.get(0).seed), (c.account_id.as_str(), c.seed));
        let b = Accounts::new(&c);
        assert_eq!(a.get(2).account_id, b.get(2).account_id, "derived from the seed");
        let mut ids: Vec<&str> =
            a.all().iter().flat_map(|x| [x.account_id.as_str(), x.organization_id.as_str()]).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 6);
        assert_ne!(a.get(1).seed, a.get(2).seed);
        assert_eq!(Accounts::new(&cfg(0)).len(), 1, "at least one account");
    }

    #[test]
    fn paths_name_their_account() {
        let a = Accounts::new(&cfg(3));
        let (acc, org) = (a.get(2).account_id.to_uppercase(), a.get(1).organization_id.clone());
        assert_eq!(a.of_path(&format!("/restapi/v2.1/accounts/{acc}/envelopes")), 2);
        assert_eq!(a.of_path(&format!("/v1/organizations/{org}/stream")), 1);
        assert_eq!(a.of_path(&format!("/Management/v2/organizations/{org}/users")), 1);
        assert_eq!(a.of_path("/api/v2.0/datasets/monitor/stream"), 0);
        assert_eq!(a.of_path("/v1/organizations/unknown/stream"), 0);
        assert_eq!(a.by_org(&a.get(1).account_id), None, "an account id is not an organization id");
    }
}
