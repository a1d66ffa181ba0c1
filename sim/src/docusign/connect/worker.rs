//! The Connect sender's task: POSTs queued messages in order, signs each body, applies the
//! knobs, and schedules redeliveries.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{Connect, ConnectTarget, Flavour, OVERSIZE_BYTES, Outgoing, SLOW_CHUNKS, sign, take};

pub(super) struct Worker {
    pub(super) connect: Connect,
    pub(super) client: reqwest::Client,
    pub(super) target: Arc<ConnectTarget>,
    pub(super) generation: u64,
}

impl Worker {
    pub(super) async fn run(self, mut rx: mpsc::UnboundedReceiver<Outgoing>) {
        while let Some(out) = rx.recv().await {
            if out.generation != self.generation {
                continue;
            }
            let twice = out.retry == 0 && take(&mut self.connect.lock().knobs.duplicate_next);
            let mut ok = self.post(&out).await;
            if twice {
                ok |= self.post(&out).await;
            }
            let mut shared = self.connect.lock();
            if shared.generation != self.generation {
                continue;
            }
            if ok {
                shared.stats.pending = shared.stats.pending.saturating_sub(1);
            } else if out.retry >= self.target.max_retries {
                shared.stats.pending = shared.stats.pending.saturating_sub(1);
                shared.stats.abandoned += 1;
                tracing::debug!(retries = out.retry, "Connect sender gave a message up.");
            } else if let Some(tx) = shared.tx.clone() {
                let delay = self.target.delay(out.retry);
                let next = Outgoing { retry: out.retry + 1, ..out };
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    // A stopped sender dropped its receiver: the retry is then forgotten.
                    tx.send(next).ok();
                });
            }
        }
    }

    /// One POST; true on 2xx.
    async fn post(&self, out: &Outgoing) -> bool {
        let flavour = {
            let mut shared = self.connect.lock();
            let k = &mut shared.knobs;
            // A POST is forged or unsigned, not both: each knob gets its own POSTs.
            let forge = take(&mut k.forge_next);
            let f = Flavour {
                forge,
                unsigned: !forge && take(&mut k.unsigned_next),
                oversize: take(&mut k.oversize_next),
                slow_ms: k.slow_ms,
            };
            shared.stats.sent += 1;
            if out.retry > 0 {
                shared.stats.retries += 1;
            }
            f
        };
        let body = self.body(out, flavour);
        let mut req = self
            .client
            .post(&self.target.url)
            .timeout(self.target.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if let Some((user, password)) = &self.target.basic_auth {
            req = req.basic_auth(user, Some(password));
        }
        if !flavour.unsigned {
            let keys: Vec<String> = if self.target.hmac_keys.is_empty() && flavour.forge {
                vec![String::new()]
            } else {
                self.target.hmac_keys.clone()
            };
            for (i, key) in keys.iter().enumerate() {
                let key = if flavour.forge { format!("forged:{key}") } else { key.clone() };
                req = req.header(format!("X-DocuSign-Signature-{}", i + 1), sign(key.as_bytes(), &body));
            }
            if !keys.is_empty() {
                req = req.header("x-authorization-digest", "HMACSHA256");
            }
        }
        let req = if flavour.slow_ms > 0 { req.body(trickle(&body, flavour.slow_ms)) } else { req.body(body) };
        let result = req.send().await;
        let mut shared = self.connect.lock();
        let stats = &mut shared.stats;
        match result {
            Ok(resp) => {
                let code = resp.status();
                *stats.statuses.entry(code.as_u16()).or_default() += 1;
                if code.is_success() {
                    stats.delivered += 1;
                    true
                } else {
                    stats.refused += 1;
                    false
                }
            }
            Err(err) if err.is_timeout() => {
                stats.timeouts += 1;
                false
            }
            Err(err) => {
                stats.errors += 1;
                tracing::debug!(error = %err, "Connect POST failed.");
                false
            }
        }
    }

    fn body(&self, out: &Outgoing, flavour: Flavour) -> Vec<u8> {
        let mut message = out.message.clone();
        message["retryCount"] = json!(out.retry);
        if let Some(data) = message.get_mut("data").and_then(Value::as_object_mut) {
            if !self.target.include_data {
                data.remove("envelopeSummary");
            }
            if flavour.oversize {
                let summary = data.entry("envelopeSummary").or_insert_with(|| json!({}));
                let pdf = base64::engine::general_purpose::STANDARD.encode(vec![b'%'; OVERSIZE_BYTES * 3 / 4]);
                summary["envelopeDocuments"] = json!([{
                    "documentId": "1", "name": "contract.pdf", "type": "content", "order": "1",
                    "display": "inline", "includeInDownload": "true", "PDFBytes": pdf,
                }]);
            }
        }
        serde_json::to_vec(&message).unwrap_or_default()
    }
}

/// The body in [`SLOW_CHUNKS`] pieces, each after a pause of `slow_ms`.
fn trickle(body: &[u8], slow_ms: u64) -> reqwest::Body {
    let size = body.len().div_ceil(SLOW_CHUNKS).max(1);
    let chunks: Vec<Vec<u8>> = body.chunks(size).map(<[u8]>::to_vec).collect();
    let stream = futures_util::stream::unfold(chunks.into_iter(), move |mut rest| async move {
        let chunk = rest.next()?;
        tokio::time::sleep(Duration::from_millis(slow_ms)).await;
        Some((Ok::<_, std::io::Error>(chunk), rest))
    });
    reqwest::Body::wrap_stream(stream)
}
