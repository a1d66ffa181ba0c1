//! One envelope's lifecycle step: the new status, its dates, the recipients' states, the audit
//! entries it writes and the recipient-level Connect events it causes.

use chrono::{DateTime, Utc};

use super::super::seed::Prng;
use super::AuditEntry;
use super::{DECLINE_REASONS, Envelope, GEO, LANGUAGES, Recipient, Status, Transition, VOID_REASONS, ds_time};

impl Envelope {
    pub(super) fn transition_now(&self) -> Transition {
        Transition {
            envelope_id: self.id.clone(),
            status: self.status.as_str().to_owned(),
            status_changed: ds_time(self.status_changed),
            event: format!("envelope-{}", self.status.as_str()),
            recipient_id: None,
        }
    }

    fn recipient_event(&self, event: &str, r: &Recipient) -> Transition {
        Transition {
            envelope_id: self.id.clone(),
            status: r.status.to_owned(),
            status_changed: ds_time(self.status_changed),
            event: format!("recipient-{event}"),
            recipient_id: Some(r.id.clone()),
        }
    }

    #[allow(clippy::too_many_arguments, reason = "an audit line has that many fields")]
    pub(super) fn audit(
        &mut self,
        at: DateTime<Utc>,
        source: &'static str,
        who: (&str, &str, &str),
        action: &'static str,
        message: String,
        information: String,
        rng: &mut Prng,
    ) {
        self.history.push(AuditEntry {
            at,
            source,
            user_name: who.0.to_owned(),
            user_id: who.1.to_owned(),
            action,
            message,
            status: self.status,
            ip: who.2.to_owned(),
            information,
            geo: rng.pick_str(GEO),
            language: rng.pick_str(LANGUAGES),
        });
    }

    /// One step forward; returns the recipient-level events it caused.
    pub(super) fn step(&mut self, at: DateTime<Utc>, rng: &mut Prng) -> Vec<Transition> {
        let next = match (self.status, self.outcome) {
            (Status::Created, _) => Status::Sent,
            (Status::Sent, Status::Voided) if rng.chance(50) => Status::Voided,
            (Status::Sent, _) => Status::Delivered,
            (Status::Delivered, outcome) => outcome,
            (Status::Completed | Status::Declined | Status::Voided, _) => return Vec::new(),
        };
        self.status = next;
        self.status_changed = at;
        self.changes.push((at, next));
        let sender = (self.sender.name.clone(), self.sender.user_id.clone(), self.sender.ip.clone());
        let who = (sender.0.as_str(), sender.1.as_str(), sender.2.as_str());
        let mut events = Vec::new();
        match next {
            Status::Sent => {
                self.sent = Some(at);
                for i in 0..self.recipients.len() {
                    self.recipients[i].status = "sent";
                    self.recipients[i].sent = Some(at);
                    let r = self.recipients[i].clone();
                    let msg = format!("{} sent an invitation to {} [{}]", who.0, r.name, r.email);
                    self.audit(at, "web", who, "Sent Invitations", msg, String::new(), rng);
                    events.push(self.recipient_event("sent", &r));
                }
            }
            Status::Delivered => {
                self.delivered = Some(at);
                let first = self.recipients[0].clone();
                let actor = (first.name.as_str(), first.user_id.as_str(), first.ip.as_str());
                if self.auth_failure {
                    let msg = format!("{} failed the access code check", first.name);
                    self.audit(at, "web", actor, "Recipient Authentication Failed", msg, String::new(), rng);
                    events.push(self.recipient_event("authenticationfailed", &first));
                }
                self.recipients[0].status = "delivered";
                self.recipients[0].delivered = Some(at);
                let msg = format!("{} viewed the envelope [Documents: contract.pdf]", first.name);
                self.audit(at, "web", actor, "Viewed", msg, String::new(), rng);
                events.push(self.recipient_event("delivered", &self.recipients[0].clone()));
            }
            Status::Completed => {
                self.completed = Some(at);
                for i in 0..self.recipients.len() {
                    let r = &mut self.recipients[i];
                    r.status = "completed";
                    if r.signer {
                        r.delivered.get_or_insert(at);
                        r.signed = Some(at);
                    }
                    let r = r.clone();
                    if r.signer {
                        let msg = format!("{} signed the envelope", r.name);
                        let actor = (r.name.as_str(), r.user_id.as_str(), r.ip.as_str());
                        self.audit(at, "web", actor, "Signed", msg, String::new(), rng);
                    }
                    events.push(self.recipient_event("completed", &r));
                }
            }
            Status::Declined => {
                self.declined = Some(at);
                let reason = rng.pick_str(DECLINE_REASONS);
                let r = &mut self.recipients[0];
                (r.status, r.declined, r.declined_reason) = ("declined", Some(at), Some(reason));
                let r = r.clone();
                let msg = format!("{} declined to sign the envelope", r.name);
                let actor = (r.name.as_str(), r.user_id.as_str(), r.ip.as_str());
                self.audit(at, "web", actor, "Declined", msg, format!("Reason: {reason}"), rng);
                events.push(self.recipient_event("declined", &r));
            }
            Status::Voided => {
                self.voided = Some(at);
                let reason = rng.pick_str(VOID_REASONS);
                self.voided_reason = Some(reason);
                let msg = format!("{} voided the envelope", who.0);
                self.audit(at, "web", who, "Voided", msg, format!("Reason: {reason}"), rng);
            }
            Status::Created => {}
        }
        events
    }
}
