//! The seeded eSignature envelope store and its lifecycle.
//!
//! Every envelope walks created → sent → delivered → (completed | declined | voided), one
//! step at a time; a few are voided straight from sent. The store keeps each envelope's
//! current state, its audit history (what `GET …/audit_events` returns) and the ground truth
//! of every envelope-level transition, in time order. At start, `SimConfig.envelopes`
//! envelopes have histories spread over the backlog span before the start, a quarter of them
//! still in flight; [`EnvelopeStore::advance`] moves envelopes forward "now".
//!
//! Every step time is unique and strictly increasing across the store (at least a
//! microsecond apart), so `statusChangedDateTime` orders transitions without ties.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::SimConfig;
use super::seed::{Prng, guid};
use super::users::Directory;

mod lifecycle;

/// One envelope-level status change (or, for Connect, a recipient-level event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// The envelope's GUID.
    pub envelope_id: String,
    /// The envelope's status after the change (`created`, `sent`, `delivered`, `completed`,
    /// `declined`, `voided`).
    pub status: String,
    /// When it changed, as the API writes `statusChangedDateTime` (7 decimals, `Z`).
    pub status_changed: String,
    /// The Connect event name, e.g. `envelope-sent` or `recipient-completed`.
    pub event: String,
    /// The recipient of a recipient-level event.
    pub recipient_id: Option<String>,
}

/// An envelope status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Status {
    Created,
    Sent,
    Delivered,
    Completed,
    Declined,
    Voided,
}

impl Status {
    /// The API's spelling.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Completed => "completed",
            Self::Declined => "declined",
            Self::Voided => "voided",
        }
    }

    /// The audit log's spelling (`EnvelopeStatus`).
    pub(super) fn audit_name(self) -> &'static str {
        match self {
            Self::Created => "Created",
            Self::Sent => "Sent",
            Self::Delivered => "Delivered",
            Self::Completed => "Completed",
            Self::Declined => "Declined",
            Self::Voided => "Voided",
        }
    }

    pub(super) fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Declined | Self::Voided)
    }
}

/// A signer or carbon-copy recipient.
#[derive(Debug, Clone)]
pub(super) struct Recipient {
    /// `recipientId`: "1", "2", ….
    pub(super) id: String,
    pub(super) guid: String,
    pub(super) user_id: String,
    pub(super) name: String,
    pub(super) email: String,
    pub(super) signer: bool,
    pub(super) status: &'static str,
    pub(super) ip: String,
    pub(super) sent: Option<DateTime<Utc>>,
    pub(super) delivered: Option<DateTime<Utc>>,
    pub(super) signed: Option<DateTime<Utc>>,
    pub(super) declined: Option<DateTime<Utc>>,
    pub(super) declined_reason: Option<&'static str>,
}

/// The account user who sends an envelope.
#[derive(Debug, Clone)]
pub(super) struct Sender {
    pub(super) user_id: String,
    pub(super) name: String,
    pub(super) email: String,
    pub(super) ip: String,
}

/// One audit log entry (`eventFields` of one `EnvelopeAuditEvent`).
#[derive(Debug, Clone)]
pub(super) struct AuditEntry {
    pub(super) at: DateTime<Utc>,
    pub(super) source: &'static str,
    pub(super) user_name: String,
    pub(super) user_id: String,
    pub(super) action: &'static str,
    pub(super) message: String,
    pub(super) status: Status,
    pub(super) ip: String,
    pub(super) information: String,
    pub(super) geo: &'static str,
    pub(super) language: &'static str,
}

/// One envelope and its history.
#[derive(Debug, Clone)]
pub(super) struct Envelope {
    pub(super) id: String,
    pub(super) subject: String,
    pub(super) sender: Sender,
    pub(super) status: Status,
    /// Where it ends: completed, declined or voided (voided may come right after sent).
    outcome: Status,
    pub(super) created: DateTime<Utc>,
    pub(super) sent: Option<DateTime<Utc>>,
    pub(super) delivered: Option<DateTime<Utc>>,
    pub(super) completed: Option<DateTime<Utc>>,
    pub(super) declined: Option<DateTime<Utc>>,
    pub(super) voided: Option<DateTime<Utc>>,
    pub(super) voided_reason: Option<&'static str>,
    pub(super) status_changed: DateTime<Utc>,
    pub(super) recipients: Vec<Recipient>,
    pub(super) history: Vec<AuditEntry>,
    /// Every status change of this envelope (time, new status), for list windows.
    pub(super) changes: Vec<(DateTime<Utc>, Status)>,
    /// Drawn once, so repeated authentication failures stay rare.
    auth_failure: bool,
}

/// What one step did: the envelope-level transition and the recipient-level events.
#[derive(Debug, Clone)]
pub(super) struct Step {
    /// Index of the envelope in the store.
    pub(super) index: usize,
    pub(super) envelope: Transition,
    pub(super) recipients: Vec<Transition>,
}

const SUBJECTS: &[&str] = &[
    "Please DocuSign: Mutual NDA",
    "Master Services Agreement 2026",
    "Offer letter – Senior Engineer",
    "Purchase order PO-88412",
    "Vendor onboarding form",
    "Statement of Work #14",
    "Lease renewal – Building C",
    "Expense policy acknowledgement",
    "Änderungsvertrag Q3",
    "Contrat de prestation",
];
const FIRST: &[&str] = &["Hannah", "Omar", "Grace", "Lucas", "Ines", "Mateo", "Yuki", "Sara", "Ravi", "Elena"];
const LAST: &[&str] = &["Becker", "Costa", "Lee", "Martin", "Silva", "Khan", "Ito", "Novak", "Patel", "Moreau"];
/// Signer domains: partners, and free-mail providers a SOC watches for.
const DOMAINS: &[&str] =
    &["partner-sim.example", "gmail.com", "customer-sim.example", "outlook.com", "yahoo.com", "contractors.example"];
const DECLINE_REASONS: &[&str] = &["Terms not acceptable.", "Wrong document attached.", "Not the right signer."];
const VOID_REASONS: &[&str] = &["Sent to the wrong recipient.", "Superseded by a new version.", "Deal cancelled."];
const GEO: &[&str] = &["Berlin, DE", "Seattle, US", "London, GB", "Lagos, NG", "Mumbai, IN", "São Paulo, BR"];
const LANGUAGES: &[&str] = &["english", "german", "french", "spanish"];

/// DocuSign's date-time form: 7 decimals and `Z`, e.g. `2026-01-15T10:07:12.1230000Z`.
pub(super) fn ds_time(t: DateTime<Utc>) -> String {
    format!("{}.{:07}Z", t.format("%Y-%m-%dT%H:%M:%S"), t.timestamp_subsec_nanos() / 100)
}

/// All envelopes of the account, in creation order.
#[derive(Debug)]
pub(super) struct EnvelopeStore {
    seed: u64,
    senders: Vec<Sender>,
    envelopes: Vec<Envelope>,
    /// Every envelope-level transition, in time order.
    transitions: Vec<Transition>,
    /// The latest step time: the next one is strictly later.
    last: DateTime<Utc>,
}

impl EnvelopeStore {
    /// `cfg.envelopes` envelopes with histories in the `span` before `started`.
    pub(super) fn seeded(cfg: &SimConfig, dir: &Directory, started: DateTime<Utc>, span: Duration) -> Self {
        let mut senders: Vec<Sender> = dir
            .users()
            .iter()
            .take(12)
            .enumerate()
            .map(|(i, u)| Sender {
                user_id: u.id.clone(),
                name: format!("{} {}", u.first_name, u.last_name),
                email: u.email.clone(),
                ip: format!("198.51.100.{}", 10 + i),
            })
            .collect();
        if senders.is_empty() {
            senders.push(Sender {
                user_id: cfg.user_id.clone(),
                name: "Max Example".to_owned(),
                email: "max.example@acme-sim.example".to_owned(),
                ip: "198.51.100.10".to_owned(),
            });
        }
        let mut store = Self {
            seed: cfg.seed,
            senders,
            envelopes: Vec::new(),
            transitions: Vec::new(),
            last: started - span - Duration::seconds(1),
        };
        let n = cfg.envelopes;
        let span_ms = span.num_milliseconds().max(1);
        // Histories overlap in time; steps are generated per envelope, then the ground truth
        // is sorted. `last` only guards advance() against going back before the backlog.
        let mut steps: Vec<(DateTime<Utc>, Transition)> = Vec::new();
        for i in 0..n {
            let mut rng = Prng::new(cfg.seed, "envelope-history", &[i as u64]);
            let offset = i64::try_from(i).unwrap_or(0) * span_ms / i64::try_from(n).unwrap_or(1).max(1);
            let mut at =
                started - span + Duration::milliseconds(offset) + Duration::microseconds(i64::try_from(i).unwrap_or(0));
            let index = store.create(at);
            steps.push((at, store.envelopes[index].transition_now()));
            loop {
                let gap = match store.envelopes[index].status {
                    Status::Created => Duration::seconds(30 + i64::try_from(rng.below(600)).unwrap_or(0)),
                    Status::Sent => Duration::seconds(300 + i64::try_from(rng.below(7200)).unwrap_or(0)),
                    _ => Duration::seconds(600 + i64::try_from(rng.below(21_600)).unwrap_or(0)),
                };
                at += gap;
                // A quarter stays in flight; nothing may lie at or after the start.
                if store.envelopes[index].status.is_terminal() || at >= started || rng.chance(8) {
                    break;
                }
                let step = store.step_at(index, at);
                steps.push((at, step.envelope));
            }
        }
        steps.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.envelope_id.cmp(&b.1.envelope_id)));
        store.transitions = steps.into_iter().map(|(_, t)| t).collect();
        store.last = store.envelopes.iter().map(|e| e.status_changed).max().unwrap_or(store.last);
        store
    }

    pub(super) fn envelopes(&self) -> &[Envelope] {
        &self.envelopes
    }

    pub(super) fn find(&self, id: &str) -> Option<&Envelope> {
        self.envelopes.iter().find(|e| e.id.eq_ignore_ascii_case(id))
    }

    pub(super) fn transitions(&self) -> &[Transition] {
        &self.transitions
    }

    /// Moves `n` envelopes one step forward at `now` (the least recently changed in-flight
    /// envelopes first; new envelopes once every one is terminal). Each moves at most once.
    pub(super) fn advance(&mut self, n: usize, now: DateTime<Utc>) -> Vec<Step> {
        let mut in_flight: Vec<usize> =
            (0..self.envelopes.len()).filter(|&i| !self.envelopes[i].status.is_terminal()).collect();
        in_flight.sort_by_key(|&i| self.envelopes[i].status_changed);
        let mut picked = in_flight.into_iter();
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let at = self.next_time(now);
            let step = if let Some(index) = picked.next() {
                self.step_at(index, at)
            } else {
                let index = self.create(at);
                Step { index, envelope: self.envelopes[index].transition_now(), recipients: Vec::new() }
            };
            self.transitions.push(step.envelope.clone());
            out.push(step);
        }
        out
    }

    /// A time after every earlier step, truncated to DocuSign's 100 ns resolution.
    fn next_time(&mut self, now: DateTime<Utc>) -> DateTime<Utc> {
        let floor = self.last + Duration::microseconds(1);
        let t = if now > floor { now } else { floor };
        let t = t - Duration::nanoseconds(i64::from(t.timestamp_subsec_nanos() % 100));
        self.last = t;
        t
    }

    /// A new envelope in status created.
    fn create(&mut self, at: DateTime<Utc>) -> usize {
        let i = self.envelopes.len() as u64;
        let mut rng = Prng::new(self.seed, "envelope", &[i]);
        let sender = rng.pick(&self.senders).clone();
        let signers = 1 + rng.below(3);
        let cc = u64::from(rng.chance(40));
        let recipients = (0..signers + cc)
            .map(|r| {
                let (first, last) = (rng.pick_str(FIRST), rng.pick_str(LAST));
                let domain = rng.pick_str(DOMAINS);
                Recipient {
                    id: (r + 1).to_string(),
                    guid: guid(self.seed, "recipient", &[i, r]),
                    user_id: guid(self.seed, "recipient-user", &[i, r]),
                    name: format!("{first} {last}"),
                    email: format!("{}.{}@{domain}", first.to_lowercase(), last.to_lowercase()),
                    signer: r < signers,
                    status: "created",
                    ip: format!("203.0.113.{}", 1 + rng.below(250)),
                    sent: None,
                    delivered: None,
                    signed: None,
                    declined: None,
                    declined_reason: None,
                }
            })
            .collect();
        let outcome = match rng.below(100) {
            0..65 => Status::Completed,
            65..85 => Status::Declined,
            _ => Status::Voided,
        };
        let mut env = Envelope {
            id: guid(self.seed, "envelope-id", &[i]),
            subject: rng.pick_str(SUBJECTS).to_owned(),
            sender,
            status: Status::Created,
            outcome,
            created: at,
            sent: None,
            delivered: None,
            completed: None,
            declined: None,
            voided: None,
            voided_reason: None,
            status_changed: at,
            recipients,
            history: Vec::new(),
            changes: vec![(at, Status::Created)],
            auth_failure: rng.chance(15),
        };
        let (name, id, ip) = (env.sender.name.clone(), env.sender.user_id.clone(), env.sender.ip.clone());
        let message = format!("The envelope was created by {name}");
        env.audit(at, "web", (&name, &id, &ip), "Registered", message, String::new(), &mut rng);
        self.envelopes.push(env);
        self.envelopes.len() - 1
    }

    /// Moves envelope `index` one step at `at`.
    fn step_at(&mut self, index: usize, at: DateTime<Utc>) -> Step {
        let env = &mut self.envelopes[index];
        let mut rng = Prng::new(self.seed, "envelope-step", &[index as u64, env.changes.len() as u64]);
        let recipients = env.step(at, &mut rng);
        Step { index, envelope: env.transition_now(), recipients }
    }
}
