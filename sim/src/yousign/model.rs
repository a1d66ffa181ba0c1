//! The organisation's state: signature requests with their signers and lifecycle scripts,
//! users and webhook subscriptions, all seeded from the config.
//!
//! Each request is created with a script (the steps it will go through, decided by the seed);
//! seeding plays part of it into the three days before start, and
//! [`YousignSim::advance`](super::YousignSim::advance) plays the next step now. A step changes
//! the request and returns the webhook event names it causes (see `lifecycle.rs`).

use chrono::{DateTime, Duration, Utc};

use super::YousignConfig;
use super::seed::{Prng, hex, uuid};

/// How far before the start seeded histories reach.
pub(super) const HISTORY_DAYS: i64 = 3;

/// Where a request was created, with its share in the seeded mix (most in the app).
pub(super) const SOURCES: [&str; 6] = [
    "app",
    "public_api",
    "hubspot_integration",
    "connector_salesforce_api",
    "connector_google_api",
    "connector_zapier_api",
];

pub(super) const FIRST: [&str; 12] =
    ["Camille", "Lucas", "Léa", "Hugo", "Chloé", "Louis", "Emma", "Jules", "Manon", "Arthur", "Inès", "Nathan"];
pub(super) const LAST: [&str; 12] = [
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau", "Simon",
    "Laurent",
];
const DOCS: [&str; 6] = ["NDA", "Employment contract", "Service agreement", "Purchase order", "Lease", "Amendment"];
pub(super) const DECLINE_REASONS: [&str; 4] =
    ["The amount is wrong.", "I am not the right person to sign.", "Terms not agreed.", "Wrong company name."];

/// `name` lowercased with its accents dropped, for e-mail addresses.
pub(super) fn mailbox(name: &str) -> String {
    name.to_lowercase()
        .chars()
        .map(|c| match c {
            'é' | 'è' | 'ê' => 'e',
            'ï' | 'î' => 'i',
            'ç' => 'c',
            'ô' => 'o',
            c => c,
        })
        .collect()
}

/// A signer's state (the spec's `Signer.status` values we use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SignerStatus {
    Initiated,
    Notified,
    Signed,
    Declined,
    Aborted,
}

impl SignerStatus {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Initiated => "initiated",
            Self::Notified => "notified",
            Self::Signed => "signed",
            Self::Declined => "declined",
            Self::Aborted => "aborted",
        }
    }
}

/// One signer of a request.
#[derive(Debug, Clone)]
pub(super) struct Signer {
    pub(super) id: String,
    pub(super) first_name: &'static str,
    pub(super) last_name: &'static str,
    pub(super) email: String,
    pub(super) phone: String,
    pub(super) status: SignerStatus,
    /// `otp_sms`, `otp_email` or `no_otp`.
    pub(super) auth_mode: &'static str,
    pub(super) ip: String,
    pub(super) link_opened_at: Option<DateTime<Utc>>,
    pub(super) signed_at: Option<DateTime<Utc>>,
}

/// One step of a request's script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    Activate,
    Notify,
    LinkOpened(usize),
    IdentificationFailed(usize),
    IdentificationBlocked(usize),
    SignerDone(usize),
    Done,
    SignerDeclined(usize),
    Declined,
    Expire,
    Cancel,
}

/// A signature request and its script.
#[derive(Debug, Clone)]
pub(super) struct Request {
    /// Creation order: the cursor position.
    pub(super) seq: u64,
    pub(super) id: String,
    pub(super) name: String,
    pub(super) source: &'static str,
    pub(super) status: &'static str,
    pub(super) created_at: DateTime<Utc>,
    pub(super) activated_at: Option<DateTime<Utc>>,
    pub(super) completed_at: Option<DateTime<Utc>>,
    pub(super) declined_at: Option<DateTime<Utc>>,
    pub(super) updated_at: DateTime<Utc>,
    pub(super) expiration_date: DateTime<Utc>,
    pub(super) workspace_id: String,
    pub(super) sender: usize,
    pub(super) external_id: Option<String>,
    pub(super) signers: Vec<Signer>,
    pub(super) documents: Vec<(String, String)>,
    pub(super) decline: Option<(usize, &'static str)>,
    pub(super) script: Vec<Step>,
    pub(super) next: usize,
}

impl Request {
    /// True once the script is played out.
    pub(super) fn finished(&self) -> bool {
        self.next >= self.script.len()
    }
}

/// A user of the organisation.
#[derive(Debug, Clone)]
pub(super) struct User {
    pub(super) id: String,
    pub(super) first_name: &'static str,
    pub(super) last_name: &'static str,
    pub(super) email: String,
    pub(super) role: &'static str,
    pub(super) is_active: bool,
    pub(super) status: &'static str,
    pub(super) source: &'static str,
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
}

/// A webhook subscription.
#[derive(Debug, Clone)]
pub(super) struct Subscription {
    pub(super) id: String,
    pub(super) endpoint: String,
    pub(super) description: String,
    pub(super) secret_key: String,
    pub(super) created_at: DateTime<Utc>,
}

/// Everything the API serves.
#[derive(Debug)]
pub(super) struct Org {
    pub(super) seed: u64,
    pub(super) sandbox: bool,
    pub(super) organization_id: String,
    pub(super) workspaces: Vec<String>,
    pub(super) requests: Vec<Request>,
    pub(super) users: Vec<User>,
    pub(super) subscriptions: Vec<Subscription>,
    /// Round-robin position of `advance`.
    pub(super) turn: usize,
    /// Counter for generated ids (events, new users, new subscriptions).
    pub(super) minted: u64,
}

impl Org {
    /// The seeded organisation at `start`.
    pub(super) fn seeded(cfg: &YousignConfig, start: DateTime<Utc>) -> Self {
        let seed = cfg.seed;
        let workspaces = (0..2).map(|i| uuid(seed, "workspace", &[i])).collect();
        let mut org = Self {
            seed,
            sandbox: matches!(cfg.environment, super::Environment::Sandbox),
            organization_id: uuid(seed, "organization", &[]),
            workspaces,
            requests: Vec::new(),
            users: Vec::new(),
            subscriptions: Vec::new(),
            turn: 0,
            minted: 0,
        };
        let history = Duration::days(HISTORY_DAYS);
        for i in 0..cfg.users {
            let created = start - history - Duration::days(30) + Duration::hours(i64::try_from(i).unwrap_or(0));
            org.users.push(org.new_user(i as u64, created, true));
        }
        for i in 0..cfg.webhooks {
            let secret = if i == 0 { cfg.webhook_secret.clone() } else { hex(seed, "webhook-secret", &[i as u64]) };
            let endpoint = format!("https://siem.example.com/yousign/webhook/{i}");
            let created = start - history - Duration::days(10);
            org.subscriptions.push(Subscription {
                id: uuid(seed, "webhook", &[i as u64]),
                endpoint,
                description: if i == 0 { "SIEM collector".to_owned() } else { format!("Integration {i}") },
                secret_key: secret,
                created_at: created,
            });
        }
        let n = i64::try_from(cfg.signature_requests.max(1)).unwrap_or(1);
        let spacing = history.num_seconds() / n;
        for i in 0..cfg.signature_requests {
            let created = start - history + Duration::seconds(spacing * i64::try_from(i).unwrap_or(0));
            let mut r = org.new_request(created);
            // Play part of the script into the past: older requests got further.
            let mut rng = Prng::new(seed, "history", &[r.seq]);
            let mut at = created;
            let played =
                if i + 3 >= cfg.signature_requests { rng.below(2) } else { rng.below(r.script.len() as u64 + 2) };
            for _ in 0..played {
                at += Duration::minutes(5 + i64::try_from(rng.below(120)).unwrap_or(0));
                if at >= start - Duration::minutes(1) || r.finished() {
                    break;
                }
                let _ = super::lifecycle::apply(&mut r, at);
            }
            org.requests.push(r);
        }
        org
    }

    /// A fresh event id.
    pub(super) fn event_id(&mut self) -> String {
        self.minted += 1;
        uuid(self.seed, "event", &[self.minted])
    }

    /// A new draft request created at `created`, with its script.
    pub(super) fn new_request(&mut self, created: DateTime<Utc>) -> Request {
        let seq = self.requests.len() as u64;
        let seed = self.seed;
        let mut rng = Prng::new(seed, "request", &[seq]);
        // Most come from the app, a fifth from the API, the rest from connectors.
        let roll = rng.below(100);
        let source = match roll {
            0..=64 => SOURCES[0],
            65..=84 => SOURCES[1],
            85..=88 => SOURCES[2],
            89..=92 => SOURCES[3],
            93..=96 => SOURCES[4],
            _ => SOURCES[5],
        };
        let signer_count = 1 + usize::try_from(rng.below(3)).unwrap_or(0);
        let signers = (0..signer_count)
            .map(|k| {
                let (first, last) = (rng.pick(&FIRST), rng.pick(&LAST));
                Signer {
                    id: uuid(seed, "signer", &[seq, k as u64]),
                    first_name: first,
                    last_name: last,
                    email: format!("{}.{}@client{}.example", mailbox(first), mailbox(last), rng.below(9)),
                    phone: format!("+3361234{:04}", rng.below(10_000)),
                    status: SignerStatus::Initiated,
                    auth_mode: rng.pick(&["otp_sms", "otp_email", "no_otp"]),
                    ip: format!("{}.{}.{}.{}", 81 + rng.below(100), rng.below(256), rng.below(256), 1 + rng.below(254)),
                    link_opened_at: None,
                    signed_at: None,
                }
            })
            .collect();
        let script = script(&mut rng, signer_count);
        let users = self.users.len().max(1) as u64;
        Request {
            seq,
            id: uuid(seed, "signature-request", &[seq]),
            name: format!("{} #{}", rng.pick(&DOCS), 1000 + seq),
            source,
            status: "draft",
            created_at: created,
            activated_at: None,
            completed_at: None,
            declined_at: None,
            updated_at: created,
            expiration_date: created + Duration::days(30),
            workspace_id: self.workspaces.get(usize::try_from(rng.below(2)).unwrap_or(0)).cloned().unwrap_or_default(),
            sender: usize::try_from(rng.below(users)).unwrap_or(0),
            external_id: rng.chance(30).then(|| format!("crm-{}", 5000 + seq)),
            signers,
            documents: vec![(uuid(seed, "document", &[seq]), hex(seed, "document-hash", &[seq]))],
            decline: None,
            script,
            next: 0,
        }
    }
}

/// The steps a request goes through: most get signed, some declined, a few expire or are
/// canceled; some signers fail an identification, a few get blocked (then it expires).
fn script(rng: &mut Prng, signers: usize) -> Vec<Step> {
    let mut s = vec![Step::Activate, Step::Notify];
    let outcome = rng.below(100);
    for k in 0..signers {
        s.push(Step::LinkOpened(k));
        if rng.chance(20) {
            s.push(Step::IdentificationFailed(k));
        }
        let last = k + 1 == signers;
        match outcome {
            70..=81 if last => {
                s.extend([Step::SignerDeclined(k), Step::Declined]);
                return s;
            }
            82..=87 if last => {
                s.extend([Step::IdentificationBlocked(k), Step::Expire]);
                return s;
            }
            88..=93 if last => {
                s.push(Step::Expire);
                return s;
            }
            94.. if last => {
                s.push(Step::Cancel);
                return s;
            }
            _ => s.push(Step::SignerDone(k)),
        }
    }
    s.push(Step::Done);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeding_is_reproducible_and_mixes_sources() {
        let cfg = YousignConfig::new();
        let start = Utc::now();
        let a = Org::seeded(&cfg, start);
        let b = Org::seeded(&cfg, start);
        let ids = |o: &Org| o.requests.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&a), ids(&b));
        assert_eq!(a.requests.len(), 40);
        let public = a.requests.iter().filter(|r| r.source == "public_api").count();
        let app = a.requests.iter().filter(|r| r.source == "app").count();
        assert!(public > 0 && app > public, "app {app}, public_api {public}");
        assert!(a.requests.iter().all(|r| r.created_at < start && r.updated_at < start));
        assert_eq!(a.users.iter().filter(|u| u.role == "owner").count(), 1);
    }

    #[test]
    fn every_script_ends_in_a_final_step() {
        for seq in 0..200 {
            let mut rng = Prng::new(1, "t", &[seq]);
            let s = script(&mut rng, 1 + usize::try_from(seq % 3).unwrap());
            assert!(matches!(s.last(), Some(Step::Done | Step::Declined | Step::Expire | Step::Cancel)), "{s:?}");
            assert_eq!(s[..2], [Step::Activate, Step::Notify]);
        }
    }
}
