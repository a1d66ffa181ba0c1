//! The organisation's people and integrations: users (seeded, invited, role changes,
//! deactivations) and webhook subscriptions, the inventory a SIEM watches.

use chrono::{DateTime, Utc};

use super::model::{FIRST, LAST, Org, Subscription, User, mailbox};
use super::seed::{Prng, hex, uuid};

impl Org {
    pub(super) fn new_user(&self, n: u64, created: DateTime<Utc>, seeded: bool) -> User {
        let mut rng = Prng::new(self.seed, "user", &[n]);
        let (first, last) = (rng.pick(&FIRST), rng.pick(&LAST));
        let role = match n {
            0 => "owner",
            1 | 2 => "admin",
            _ => "member",
        };
        let is_active = !seeded || n < 3 || !rng.chance(15);
        let status = if seeded && n > 0 && rng.chance(10) { "invited" } else { "completed" };
        let status = if seeded { status } else { "invited" };
        User {
            id: uuid(self.seed, "user-id", &[n]),
            first_name: first,
            last_name: last,
            email: format!("{}.{}{n}@acme.example", mailbox(first), mailbox(last)),
            role,
            is_active,
            status,
            source: if rng.chance(10) { "public_api" } else { "app" },
            created_at: created,
            updated_at: created,
        }
    }

    /// Adds `n` users invited now.
    pub(super) fn add_users(&mut self, n: usize, now: DateTime<Utc>) {
        for _ in 0..n {
            let k = self.users.len() as u64;
            let u = self.new_user(k, now, false);
            self.users.push(u);
        }
    }

    /// Swaps `n` non-owner users between `member` and `admin` (new admins are the signal).
    pub(super) fn change_roles(&mut self, n: usize, now: DateTime<Utc>) {
        for u in self.users.iter_mut().filter(|u| u.role != "owner").take(n) {
            u.role = if u.role == "admin" { "member" } else { "admin" };
            u.updated_at = now;
        }
    }

    /// Deactivates `n` active non-owner users, newest first.
    pub(super) fn deactivate(&mut self, n: usize, now: DateTime<Utc>) {
        for u in self.users.iter_mut().rev().filter(|u| u.role != "owner" && u.is_active).take(n) {
            u.is_active = false;
            u.updated_at = now;
        }
    }

    /// A new subscription to `endpoint`; returns its id.
    pub(super) fn add_subscription(&mut self, endpoint: &str, now: DateTime<Utc>) -> String {
        self.minted += 1;
        let k = 1_000 + self.minted;
        let id = uuid(self.seed, "webhook", &[k]);
        self.subscriptions.push(Subscription {
            id: id.clone(),
            endpoint: endpoint.to_owned(),
            description: format!("Subscription {k}"),
            secret_key: hex(self.seed, "webhook-secret", &[k]),
            created_at: now,
        });
        id
    }
}
