//! The webhook sender's task: POSTs queued events in order, signs each body, applies the
//! knobs, and schedules retries on Yousign's (scaled) back-off.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::{Outgoing, Sender, WebhookTarget, sign, take};

pub(super) struct Worker {
    pub(super) sender: Sender,
    pub(super) client: reqwest::Client,
    pub(super) target: Arc<WebhookTarget>,
    pub(super) generation: u64,
}

/// How one POST ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Delivered,
    Failed,
    TimedOut,
}

impl Worker {
    pub(super) async fn run(self, mut rx: mpsc::UnboundedReceiver<Outgoing>) {
        while let Some(out) = rx.recv().await {
            if out.generation != self.generation {
                continue;
            }
            let twice = out.retry == 0 && take(&mut self.sender.lock().knobs.duplicate_next);
            let mut outcome = self.post(&out).await;
            if twice && self.post(&out).await == Outcome::Delivered {
                outcome = Outcome::Delivered;
            }
            let mut shared = self.sender.lock();
            if shared.generation != self.generation {
                continue;
            }
            let knobs = shared.knobs;
            let next = out.retry + 1;
            // Without auto_retry Yousign still retries a timed-out first attempt, once.
            let retry = match outcome {
                Outcome::Delivered => None,
                _ if knobs.auto_retry => knobs.delay(next),
                Outcome::TimedOut if out.retry == 0 => knobs.delay(1),
                Outcome::Failed | Outcome::TimedOut => None,
            };
            if outcome == Outcome::Delivered {
                shared.stats.pending = shared.stats.pending.saturating_sub(1);
            } else if let (Some(delay), Some(tx)) = (retry, shared.tx.clone()) {
                let again = Outgoing { retry: next, ..out };
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    // A stopped sender dropped its receiver: the retry is then forgotten.
                    tx.send(again).ok();
                });
            } else {
                shared.stats.pending = shared.stats.pending.saturating_sub(1);
                shared.stats.abandoned += 1;
                tracing::debug!(retries = out.retry, "Webhook sender gave an event up.");
            }
        }
    }

    /// One POST.
    async fn post(&self, out: &Outgoing) -> Outcome {
        let (forge, unsigned, timeout) = {
            let mut shared = self.sender.lock();
            let k = &mut shared.knobs;
            let forge = take(&mut k.forge_next);
            let unsigned = !forge && take(&mut k.unsigned_next);
            let timeout = if out.retry == 0 { k.first_timeout_ms } else { k.retry_timeout_ms };
            let stats = &mut shared.stats;
            stats.attempts += 1;
            if out.retry > 0 {
                stats.retries += 1;
            }
            let e = stats.by_event.entry(out.event_id.clone()).or_default();
            e.attempts += 1;
            e.last_retry = e.last_retry.max(out.retry);
            (forge, unsigned, Duration::from_millis(timeout))
        };
        let issued_at = chrono::Utc::now().timestamp().to_string();
        let mut req = self
            .client
            .post(&self.target.url)
            .timeout(timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::USER_AGENT, "Yousign Webhook Bot")
            .header("X-Yousign-Retry", out.retry.to_string())
            .header("X-Yousign-Issued-At", issued_at);
        if !unsigned {
            let secret = if forge { format!("forged:{}", self.target.secret) } else { self.target.secret.clone() };
            req = req.header("X-Yousign-Signature-256", sign(&secret, &out.body));
        }
        let result = req.body(out.body.as_ref().clone()).send().await;
        let mut shared = self.sender.lock();
        let stats = &mut shared.stats;
        let outcome = match result {
            Ok(resp) => {
                let code = resp.status();
                *stats.statuses.entry(code.as_u16()).or_default() += 1;
                if code.is_success() || code.is_redirection() { Outcome::Delivered } else { Outcome::Failed }
            }
            Err(err) if err.is_timeout() => Outcome::TimedOut,
            Err(err) => {
                tracing::debug!(error = %err, "Webhook POST failed.");
                Outcome::Failed
            }
        };
        match outcome {
            Outcome::Delivered => {
                stats.delivered += 1;
                stats.by_event.entry(out.event_id.clone()).or_default().delivered += 1;
            }
            Outcome::TimedOut => {
                stats.failed += 1;
                stats.timeouts += 1;
            }
            Outcome::Failed => stats.failed += 1,
        }
        outcome
    }
}
