//! One pushed request, checked in order — method, body size (and time), signature, media
//! type, body — then written into the inbox in one transaction, and only then answered 2xx.
//! Every refusal is counted (and in the metrics) and logged at most once a minute per reason,
//! never with the body or a signature; a state that lasts (a full inbox or disk) is logged when it starts and
//! when it ends, not for every request it refuses.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::SecondsFormat;
use tracing::{debug, error, info, warn};

use super::{Receiver, Shared, lock};
use crate::core::dedup::Ledger;
use crate::state::{InboxEntry, Put, StoreError};

/// The peer, for logs.
fn peer(req: &Request) -> String {
    req.extensions().get::<ConnectInfo<SocketAddr>>().map_or_else(|| "?".to_owned(), |c| c.0.to_string())
}

fn plain(status: StatusCode, body: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// A path no receiver has.
pub(super) async fn not_found(State(s): State<Arc<Shared>>, req: Request) -> Response {
    s.counters.bump(|c| c.not_found += 1);
    crate::metrics::push_request("", "not_found");
    if let Some(skipped) = s.notices.due(usize::MAX, "not_found") {
        info!(peer = %peer(&req), method = %req.method(), path = %req.uri().path(), not_logged = skipped, "Push request refused: no receiver has this path (404).");
    }
    plain(StatusCode::NOT_FOUND, "not found\n")
}

/// Counts a refusal of receiver `i` as `outcome` and says whether to log it now (once a
/// minute per reason; `Some(n)`: `n` were not logged since).
fn refused(s: &Shared, i: usize, outcome: &'static str, count: impl FnOnce(&mut super::PushCounts)) -> Option<u64> {
    s.counters.bump(count);
    crate::metrics::push_request(s.receivers[i].name(), outcome);
    s.notices.due(i, outcome)
}

/// A request to receiver `i`'s path.
pub(super) async fn receive(s: &Shared, i: usize, req: Request) -> Response {
    let r = &s.receivers[i];
    let name = r.name();
    let from = peer(&req);
    if req.method() != Method::POST {
        if let Some(n) = refused(s, i, "method_not_allowed", |c| c.method_not_allowed += 1) {
            info!(receiver = name, peer = %from, method = %req.method(), not_logged = n, "Push request refused: only POST is accepted (405).");
        }
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "POST")], "method not allowed\n").into_response();
    }
    let (parts, body) = req.into_parts();
    let read = tokio::time::timeout(s.opts.read_timeout, read_body(body, s.opts.max_body, &parts.headers)).await;
    let body = match read {
        Ok(Ok(b)) => b,
        Ok(Err(BodyError::TooLarge)) => {
            if let Some(n) = refused(s, i, "too_large", |c| c.too_large += 1) {
                warn!(receiver = name, peer = %from, limit = s.opts.max_body, not_logged = n, "Push request refused: the body is over the size limit (413).");
            }
            return plain(StatusCode::PAYLOAD_TOO_LARGE, "body too large\n");
        }
        Ok(Err(BodyError::Unreadable(e))) => {
            if let Some(n) = refused(s, i, "unreadable", |c| c.malformed += 1) {
                warn!(receiver = name, peer = %from, error = %e, not_logged = n, "Push request refused: the body could not be read (400).");
            }
            return plain(StatusCode::BAD_REQUEST, "body could not be read\n");
        }
        Err(_) => {
            if let Some(n) = refused(s, i, "timeout", |c| c.timeouts += 1) {
                warn!(receiver = name, peer = %from, limit = ?s.opts.read_timeout, not_logged = n, "Push request refused: the body did not arrive in time (408).");
            }
            return plain(StatusCode::REQUEST_TIMEOUT, "body too slow\n");
        }
    };
    if let Err(rejection) = r.verify(&parts.headers, &body) {
        if r.health().is_some() {
            s.health.record(name, rejection.reason(), &from, chrono::Utc::now());
        }
        if let Some(n) = refused(s, i, "unauthorized", |c| c.unauthorized += 1) {
            warn!(receiver = name, peer = %from, reason = rejection.reason(), not_logged = n, "Push request refused: verification failed (401).");
        }
        return plain(StatusCode::UNAUTHORIZED, "unauthorized\n");
    }
    if !r.media_type_ok(&parts.headers) {
        if let Some(n) = refused(s, i, "unsupported_media", |c| c.unsupported_media += 1) {
            let got = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("none");
            // The media type is the sender's header, not the body: at most its first 64 characters.
            let got: String = got.chars().take(64).collect();
            warn!(receiver = name, peer = %from, content_type = %got, not_logged = n, "Push request refused: unsupported content type (415).");
        }
        return plain(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported content type\n");
    }
    let entries = match entries(r.as_ref(), &body) {
        Ok(e) => e,
        Err(e) => {
            if let Some(n) = refused(s, i, "malformed", |c| c.malformed += 1) {
                warn!(receiver = name, peer = %from, error = %e, not_logged = n, "Push request refused: malformed body (400).");
            }
            return plain(StatusCode::BAD_REQUEST, "malformed body\n");
        }
    };
    let total = entries.len();
    let put = {
        let mut store = lock(&s.store);
        fresh(&mut store, name, entries)
            .and_then(|(fresh, delivered)| Ok((store.inbox_put(name, &fresh, s.opts.inbox_capacity)?, delivered)))
    };
    match put {
        Ok((Put::Stored { new, queued }, delivered)) => {
            crate::failpoint::hit("push_after_store");
            s.counters.bump(|c| {
                c.accepted += 1;
                c.stored += new as u64;
                c.duplicates += (queued + delivered) as u64;
            });
            crate::metrics::push_request(name, "accepted");
            crate::metrics::push_messages(name, "stored", new as u64);
            crate::metrics::push_messages(name, "duplicate", (queued + delivered) as u64);
            if new > 0 {
                s.wake.notify_one();
            }
            if s.refusing.swap(false, Ordering::Relaxed) {
                info!(receiver = name, "The inbox accepts pushed messages again.");
            }
            debug!(receiver = name, peer = %from, messages = total, stored = new, duplicates = queued + delivered, "Pushed messages stored.");
            StatusCode::OK.into_response()
        }
        Ok((Put::Full { len }, _)) => {
            refuse(s, name, &format!("the inbox holds {len} messages, its capacity; the sinks are not keeping up"))
        }
        Err(e) if e.is_disk_full() => refuse(s, name, &format!("the state file's disk is full ({e})")),
        Err(e) => {
            s.counters.bump(|c| c.failed += 1);
            crate::metrics::push_request(name, "failed");
            error!(receiver = name, peer = %from, error = %e, "Pushed messages could not be stored (500); the sender is expected to retry.");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "not stored; retry later\n")
        }
    }
}

/// 503 with `Retry-After`, logged when refusing starts.
fn refuse(s: &Shared, name: &str, why: &str) -> Response {
    s.counters.bump(|c| c.unavailable += 1);
    crate::metrics::push_request(name, "unavailable");
    if s.refusing.swap(true, Ordering::Relaxed) {
        debug!(receiver = name, why, "Push request refused (503): still unable to store.");
    } else {
        error!(
            receiver = name,
            why, "Push requests are refused (503, Retry-After) until messages can be stored again."
        );
    }
    let secs = s.opts.retry_after.as_secs().max(1).to_string();
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, secs), (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned())],
        "cannot store now; retry later\n",
    )
        .into_response()
}

enum BodyError {
    TooLarge,
    Unreadable(axum::Error),
}

async fn read_body(body: axum::body::Body, limit: usize, headers: &axum::http::HeaderMap) -> Result<Bytes, BodyError> {
    // A declared length over the limit is refused before reading a byte.
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        if std::error::Error::source(&e).is_some_and(<dyn std::error::Error>::is::<http_body_util::LengthLimitError>) {
            BodyError::TooLarge
        } else {
            BodyError::Unreadable(e)
        }
    })
}

/// The body's messages, as inbox entries.
fn entries(r: &dyn Receiver, body: &[u8]) -> Result<Vec<InboxEntry>, String> {
    let dedup = r.dedup();
    let messages = r.parse(body).map_err(|e| e.to_string())?;
    messages
        .into_iter()
        .map(|m| {
            let key = dedup.key(m.id.as_deref(), &m.event).map_err(|e| e.to_string())?;
            let line = serde_json::to_string(&m.event).map_err(|e| e.to_string())?;
            let time = m.time.to_rfc3339_opts(SecondsFormat::AutoSi, true);
            Ok(InboxEntry { source: m.source, key, time, line, transition: m.transition })
        })
        .collect()
}

/// `entries` without those the ledger says were delivered, and how many those were.
fn fresh(
    store: &mut crate::state::Store,
    receiver: &str,
    entries: Vec<InboxEntry>,
) -> Result<(Vec<InboxEntry>, usize), StoreError> {
    let ledger = Ledger::new(receiver);
    let mut by_source: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for e in &entries {
        by_source.entry(&e.source).or_default().push(&e.key);
    }
    let mut delivered: HashSet<(String, String)> = HashSet::new();
    for (source, keys) in by_source {
        for k in ledger.delivered(store, source, keys)? {
            delivered.insert((source.to_owned(), k));
        }
    }
    let before = entries.len();
    let fresh: Vec<InboxEntry> =
        entries.into_iter().filter(|e| !delivered.contains(&(e.source.clone(), e.key.clone()))).collect();
    let dropped = before - fresh.len();
    Ok((fresh, dropped))
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::HeaderMap;

    use super::*;

    #[tokio::test]
    async fn a_body_over_the_limit_is_too_large_declared_or_not() {
        let none = HeaderMap::new();
        assert!(matches!(read_body(Body::from(vec![0u8; 100]), 10, &none).await, Err(BodyError::TooLarge)));
        let mut declared = HeaderMap::new();
        declared.insert(header::CONTENT_LENGTH, "100".parse().unwrap());
        assert!(matches!(read_body(Body::empty(), 10, &declared).await, Err(BodyError::TooLarge)));
        assert_eq!(read_body(Body::from(vec![7u8; 10]), 10, &none).await.ok().unwrap().len(), 10);
    }
}
