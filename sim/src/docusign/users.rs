//! The seeded Admin user directory: realistic `OrganizationUserResponse` records, plus the
//! modification time the Admin API filters on (`last_modified_since`) but never returns.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::SimConfig;
use super::seed::{Prng, guid};

/// The organization's reserved (claimed) email domain.
pub(super) const RESERVED_DOMAIN: &str = "acme-sim.example";
/// The id of [`RESERVED_DOMAIN`], for `organization_reserved_domain_id`.
pub(super) const RESERVED_DOMAIN_ID: &str = "3d8f2c61-7a4e-4b9d-8c15-6e2f0a9b1c47";
const EXTERNAL_DOMAIN: &str = "contractors.example";
const ACCOUNT_NAME: &str = "Acme Corporation (Simulated)";

const FIRST: &[&str] = &[
    "Max", "Anna", "José", "Zoë", "Łukasz", "Priya", "Chen", "Fatima", "Olivia", "Noah", "Søren", "Amélie", "Kenji",
    "Aisha", "Liam", "Mia",
];
const LAST: &[&str] = &[
    "Example",
    "Müller",
    "García",
    "O'Brien",
    "Nowak",
    "Sharma",
    "Wang",
    "Haddad",
    "Smith",
    "Johansson",
    "Dubois",
    "Tanaka",
    "Okafor",
    "Rossi",
    "Nguyen",
    "Kowalski",
];
/// (name, `is_admin`).
const GROUPS: &[(&str, bool)] =
    &[("Everyone", false), ("Administrators", true), ("Sales", false), ("Legal", false), ("HR", false)];

/// One directory entry.
#[derive(Debug, Clone)]
pub(super) struct UserRecord {
    pub(super) id: String,
    pub(super) first_name: String,
    pub(super) last_name: String,
    pub(super) email: String,
    pub(super) user_status: &'static str,
    pub(super) membership_status: &'static str,
    pub(super) created_on: DateTime<Utc>,
    closed_on: Option<DateTime<Utc>>,
    membership_created_on: DateTime<Utc>,
    membership_closed_on: Option<DateTime<Utc>>,
    membership_id: String,
    /// Indexes into [`GROUPS`].
    groups: Vec<usize>,
    scim: bool,
    license_type: &'static str,
    /// Internal only: what `last_modified_since` compares against.
    pub(super) modified_at: DateTime<Utc>,
}

/// All users of the organization, in creation order.
#[derive(Debug)]
pub(super) struct Directory {
    seed: u64,
    account_id: String,
    users: Vec<UserRecord>,
    /// The next user `modify` changes (round robin).
    modify_next: usize,
    /// How many modifications happened; picks the kind of the next change.
    modify_round: u64,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Directory {
    /// `cfg.users` users created over the three years before `now`; user 0 is the
    /// impersonated administrator (`cfg.user_id`).
    pub(super) fn seeded(cfg: &SimConfig, now: DateTime<Utc>) -> Self {
        let mut dir = Self {
            seed: cfg.seed,
            account_id: cfg.account_id.clone(),
            users: Vec::with_capacity(cfg.users),
            modify_next: 0,
            modify_round: 0,
        };
        for i in 0..cfg.users {
            let mut rng = Prng::new(cfg.seed, "user-times", &[i as u64]);
            let age = Duration::seconds(i64::try_from(86_400 * 30 + rng.below(86_400 * 1065)).unwrap_or(0));
            let created = now - age;
            let since_change = Duration::seconds(i64::try_from(rng.below(86_400 * 30)).unwrap_or(0));
            let modified = (created + since_change).min(now);
            let mut user = dir.make(i, created, modified);
            if i == 0 {
                cfg.user_id.clone_into(&mut user.id);
                (user.user_status, user.membership_status, user.closed_on, user.membership_closed_on) =
                    ("active", "active", None, None);
                user.groups = vec![0, 1];
            }
            dir.users.push(user);
        }
        // Creation order; the index stays the stable sort key.
        dir.users.sort_by_key(|u| u.created_on);
        dir
    }

    fn make(&self, i: usize, created: DateTime<Utc>, modified: DateTime<Utc>) -> UserRecord {
        let mut rng = Prng::new(self.seed, "user", &[i as u64]);
        let first = (*rng.pick(FIRST)).to_owned();
        let last = (*rng.pick(LAST)).to_owned();
        let domain = if rng.chance(10) { EXTERNAL_DOMAIN } else { RESERVED_DOMAIN };
        let local: String = format!("{first}.{last}{i}")
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { 'x' })
            .collect();
        let (user_status, membership_status) = match rng.below(100) {
            0..=79 => ("active", "active"),
            80..=87 => ("created", "activation_sent"),
            88..=91 => ("created", "activation_required"),
            92..=97 => ("closed", "closed"),
            _ => ("active", "disabled"),
        };
        let closed = (user_status == "closed").then_some(modified);
        let mut groups = vec![0];
        if rng.chance(60) {
            groups.push(2 + usize::try_from(rng.below(3)).unwrap_or(0));
        }
        UserRecord {
            id: guid(self.seed, "user-id", &[i as u64]),
            email: format!("{local}@{domain}"),
            first_name: first,
            last_name: last,
            user_status,
            membership_status,
            created_on: created,
            closed_on: closed,
            membership_created_on: created + Duration::minutes(1),
            membership_closed_on: closed,
            membership_id: guid(self.seed, "membership", &[i as u64]),
            groups,
            scim: rng.chance(20),
            license_type: rng.pick_str(&["Professional", "Business Pro", "Standard"]),
            modified_at: modified,
        }
    }

    /// User ids in creation order.
    pub(super) fn ids(&self) -> Vec<String> {
        self.users.iter().map(|u| u.id.clone()).collect()
    }

    /// Number of users.
    pub(super) fn len(&self) -> usize {
        self.users.len()
    }

    /// All users in creation order.
    pub(super) fn users(&self) -> &[UserRecord] {
        &self.users
    }

    /// Adds `n` users created at `now`.
    pub(super) fn add(&mut self, n: usize, now: DateTime<Utc>) {
        for _ in 0..n {
            let user = self.make(self.users.len(), now, now);
            self.users.push(user);
        }
    }

    /// Changes `n` users round robin: closes or reopens the membership, renames, or moves
    /// the user to another group; stamps `modified_at = now`.
    pub(super) fn modify(&mut self, n: usize, now: DateTime<Utc>) {
        if self.users.is_empty() {
            return;
        }
        for _ in 0..n {
            let i = self.modify_next % self.users.len();
            self.modify_next = i + 1;
            let round = self.modify_round;
            self.modify_round += 1;
            let mut rng = Prng::new(self.seed, "modify", &[round]);
            let user = &mut self.users[i];
            // Never close the impersonated administrator (index of creation order may move it,
            // so recognise it by its groups).
            let is_admin = user.groups.contains(&1);
            match round % 3 {
                0 if !is_admin => {
                    if user.user_status == "closed" {
                        (user.user_status, user.membership_status) = ("active", "active");
                        (user.closed_on, user.membership_closed_on) = (None, None);
                    } else {
                        (user.user_status, user.membership_status) = ("closed", "closed");
                        (user.closed_on, user.membership_closed_on) = (Some(now), Some(now));
                    }
                }
                2 => {
                    let mut g = 2 + usize::try_from(rng.below(3)).unwrap_or(0);
                    if user.groups.contains(&g) {
                        g = 2 + (g - 1) % 3;
                    }
                    user.groups.retain(|&x| x < 2);
                    user.groups.push(g);
                }
                _ => {
                    let mut last = (*rng.pick(LAST)).to_owned();
                    if last == user.last_name {
                        last.push_str("-Renamed");
                    }
                    user.last_name = last;
                }
            }
            user.modified_at = now;
        }
    }

    /// Reopens the first closed user (a scenario: a closed account brought back); stamps
    /// `modified_at = now`. `false` when no user is closed.
    pub(super) fn reactivate_closed(&mut self, now: DateTime<Utc>) -> bool {
        let Some(user) = self.users.iter_mut().find(|u| u.user_status == "closed") else { return false };
        (user.user_status, user.membership_status) = ("active", "active");
        (user.closed_on, user.membership_closed_on) = (None, None);
        user.modified_at = now;
        true
    }

    /// Adds the first active user outside it to the `Administrators` group (a scenario);
    /// stamps `modified_at = now`. `false` when every active user is already in it.
    pub(super) fn grant_admin(&mut self, now: DateTime<Utc>) -> bool {
        let Some(user) = self.users.iter_mut().find(|u| u.user_status == "active" && !u.groups.contains(&1)) else {
            return false;
        };
        user.groups.push(1);
        user.modified_at = now;
        true
    }

    /// The reply JSON of one user, shaped like the SDK's `OrganizationUserResponse`.
    /// `closed_on`/`membership_closed_on` are only sent for closed users; the license fields
    /// only with `include_license=true`, as the spec describes that flag.
    /// The configured (first) account, the one a directory dump names.
    pub(super) fn default_account(&self) -> &str {
        &self.account_id
    }

    /// `user` as the Admin API returns it to the organization owning `account_id`.
    pub(super) fn to_json(&self, user: &UserRecord, include_license: bool, account_id: &str) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("id".into(), json!(user.id));
        m.insert("user_name".into(), json!(format!("{} {}", user.first_name, user.last_name)));
        m.insert("first_name".into(), json!(user.first_name));
        m.insert("last_name".into(), json!(user.last_name));
        m.insert("user_status".into(), json!(user.user_status));
        m.insert("membership_status".into(), json!(user.membership_status));
        m.insert("email".into(), json!(user.email));
        m.insert("created_on".into(), json!(ts(user.created_on)));
        if let Some(t) = user.closed_on {
            m.insert("closed_on".into(), json!(ts(t)));
        }
        m.insert("membership_created_on".into(), json!(ts(user.membership_created_on)));
        if let Some(t) = user.membership_closed_on {
            m.insert("membership_closed_on".into(), json!(ts(t)));
        }
        let groups: Vec<Value> = user.groups.iter().map(|&g| self.group_json(g, account_id)).collect();
        m.insert("ds_groups".into(), Value::Array(groups));
        m.insert("membership_id".into(), json!(user.membership_id));
        m.insert("is_membership_managed_by_scim".into(), json!(user.scim));
        m.insert("is_managed_by_scim".into(), json!(user.scim));
        if include_license {
            m.insert("license_type".into(), json!(user.license_type));
            m.insert("subscription_id".into(), json!(guid(self.seed, "subscription", &[0])));
            m.insert("plan_name".into(), json!("DocuSign eSignature Business Pro"));
        }
        Value::Object(m)
    }

    fn group_json(&self, g: usize, account_id: &str) -> Value {
        let (name, is_admin) = GROUPS.get(g).copied().unwrap_or(("Everyone", false));
        let members = self.users.iter().filter(|u| u.groups.contains(&g)).count();
        json!({
            "ds_group_id": guid(self.seed, "group", &[g as u64]),
            "account_id": account_id,
            "source_product_name": "ESign",
            "group_id": (9_137_240 + g).to_string(),
            "group_name": name,
            "description": format!("{name} of {ACCOUNT_NAME}"),
            "is_admin": is_admin,
            "last_modified_on": "2025-06-02T14:21:07.120Z",
            "user_count": members,
            "external_account_id": 18_330_212,
            "account_name": ACCOUNT_NAME,
            "is_managed_by_scim": false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_directory_is_realistic_and_stable() {
        let cfg = SimConfig::new(String::new());
        let now = Utc::now();
        let a = Directory::seeded(&cfg, now);
        let b = Directory::seeded(&cfg, now);
        assert_eq!(a.ids(), b.ids());
        assert_eq!(a.len(), 50);
        assert!(a.ids().contains(&cfg.user_id));
        assert!(a.users().windows(2).all(|w| w[0].created_on <= w[1].created_on));
        let json = a.to_json(&a.users()[0], false, a.default_account());
        assert!(json.get("license_type").is_none());
        assert!(json["email"].as_str().is_some_and(|e| e.contains('@')));
    }

    #[test]
    fn modify_stamps_time_and_changes_something() {
        let cfg = SimConfig::new(String::new());
        let t0 = Utc::now() - Duration::days(1);
        let mut dir = Directory::seeded(&cfg, t0);
        let before: Vec<Value> = dir.users().iter().map(|u| dir.to_json(u, false, dir.default_account())).collect();
        let now = Utc::now();
        dir.modify(6, now);
        let changed: Vec<usize> = (0..dir.len())
            .filter(|&i| dir.to_json(&dir.users()[i], false, dir.default_account()) != before[i])
            .collect();
        assert_eq!(dir.users().iter().filter(|u| u.modified_at == now).count(), 6);
        assert!(changed.len() >= 5, "{changed:?}");
        dir.add(3, now);
        assert_eq!(dir.len(), 53);
    }
}
