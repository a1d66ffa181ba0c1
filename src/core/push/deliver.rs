//! The delivery loop: takes the oldest waiting messages of one receiver, in arrival order,
//! hands them to every sink as one batch, and only once all confirmed deletes them from the
//! inbox and writes their keys into the ledger, in one transaction. A refused batch stays and
//! is retried with a growing pause; a commit that fails after delivery means the batch is
//! delivered again (at least once, never a gap).

use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::{Push, PushError, lock};
use crate::sinks::{Batch, Line};

impl Push {
    /// Delivers one batch: `Ok(Some(n))` when `n` messages reached every sink and were
    /// committed, `Ok(None)` when nothing of a configured receiver waits.
    async fn deliver_batch(&self) -> Result<Option<usize>, PushError> {
        let s = &self.shared;
        let (name, kind, rows) = {
            let store = lock(&s.store);
            let heads = store.inbox_heads()?;
            // A receiver's messages, or the health lines about one (stored under their own name).
            let Some((name, kind)) = heads.iter().find_map(|h| {
                let own = s.receivers.iter().find(|r| r.name() == h.receiver).map(|r| r.kind());
                let health = || {
                    let owner = super::health::owner(&h.receiver)?;
                    s.receivers.iter().find(|r| r.name() == owner).and_then(|r| r.health())
                };
                own.or_else(health).map(|k| (h.receiver.clone(), k))
            }) else {
                return Ok(None);
            };
            let rows = store.inbox_take(&name, s.opts.batch.max(1))?;
            (name, kind, rows)
        };
        if rows.is_empty() {
            return Ok(None);
        }
        let lines = rows
            .iter()
            .map(|row| Line {
                event_id: row.entry.key.clone(),
                time: row.entry.time.clone(),
                json: row.entry.line.clone(),
            })
            .collect();
        let batch = Batch { source: kind, lines };
        if let Err(e) = self.sinks.send(&batch).await {
            s.counters.bump(|c| c.sink_failures += 1);
            return Err(e.into());
        }
        crate::failpoint::hit("push_after_send");
        lock(&s.store).inbox_delivered(&name, &rows, s.opts.ledger_size)?;
        s.counters.bump(|c| c.delivered += rows.len() as u64);
        crate::metrics::push_messages(&name, "delivered", rows.len() as u64);
        debug!(receiver = %name, delivered = rows.len(), "Pushed messages delivered and committed.");
        Ok(Some(rows.len()))
    }

    /// Delivers what waits until nothing of a configured receiver does; returns how many.
    ///
    /// # Errors
    /// The first failed attempt (a sink refused, or the state file): what was not committed
    /// stays in the inbox.
    pub async fn deliver_pending(&self) -> Result<u64, PushError> {
        let mut n = 0;
        loop {
            match self.deliver_batch().await {
                Ok(Some(k)) => n += k as u64,
                Ok(None) => return Ok(n),
                Err(e) => return Err(e),
            }
        }
    }

    /// Delivers until `stop` turns true, sleeping while the inbox is empty; the batch in flight
    /// is finished first. A failing delivery is logged when it starts and when it recovers.
    pub(super) async fn deliver_loop(&self, mut stop: watch::Receiver<bool>) {
        let s = &self.shared;
        let mut pause = s.opts.backoff_min;
        let mut failures: u64 = 0;
        loop {
            if *stop.borrow() {
                break;
            }
            match self.deliver_batch().await {
                Ok(Some(_)) => {
                    if failures > 0 {
                        info!(failed_attempts = failures, "Delivery of pushed messages recovered.");
                    }
                    failures = 0;
                    pause = s.opts.backoff_min;
                }
                Ok(None) => {
                    tokio::select! {
                        () = s.wake.notified() => {}
                        changed = stop.changed() => if changed.is_err() { break },
                    }
                }
                Err(e) => {
                    failures += 1;
                    let waiting = lock(&s.store).inbox_len().unwrap_or_default();
                    if failures == 1 {
                        warn!(error = %e, waiting, retry_in = ?pause, "Delivery of pushed messages failed; they stay in the inbox and are retried.");
                    } else {
                        debug!(error = %e, waiting, attempt = failures, retry_in = ?pause, "Delivery of pushed messages failed again.");
                    }
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        changed = stop.changed() => if changed.is_err() { break },
                    }
                    pause = pause.saturating_mul(2).min(s.opts.backoff_max.max(s.opts.backoff_min));
                }
            }
        }
        debug!("Push delivery loop stopped.");
    }
}
