//! [`HttpSink`]: one page in, one or more requests out, `Ok` only when all were accepted.
//!
//! The page is encoded once (each event's bytes in the preset's format), cut into requests
//! under `max_batch_bytes` / `max_batch_events`, and the requests go out one after another in
//! page order. A request answered 413 is split in half and each half sent on its own, down
//! to a single event, which then fails the page. With HEC indexer acknowledgement, the page
//! is confirmed only after every request's `ackId` is reported indexed.

use std::collections::VecDeque;
use std::ops::Range;

use async_trait::async_trait;
use reqwest::header::{HeaderName, HeaderValue};
use tracing::{debug, info, warn};

use super::bulk::{self, Bulk};
use super::client::{Client, Ctx, Reply, Stop, Verdict};
use super::error::HttpSinkError;
use super::hec::{self, Hec};
use super::setup::{self, Credential};
use super::{HttpSinkConfig, Preset, ndjson};
use crate::http::redact::url_for_logs;
use crate::sinks::{Batch, Sink, SinkError};
use crate::values::ConfigError;

/// The preset's encoding and settings.
#[derive(Debug)]
enum Format {
    Ndjson,
    Hec(Hec),
    Bulk(Bulk),
}

/// Batched POSTs of a page to an NDJSON, Splunk HEC or Elasticsearch receiver.
pub struct HttpSink {
    name: String,
    pub(super) client: Client,
    format: Format,
    max_bytes: usize,
    max_events: usize,
    /// The page's encoded events, back to back; reused between pages.
    buf: Vec<u8>,
    /// Where each event lies in `buf`.
    spans: Vec<Range<usize>>,
}

impl std::fmt::Debug for HttpSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSink")
            .field("name", &self.name)
            .field("url", &self.client.shown)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl HttpSink {
    /// Checks `cfg`, reads the credential and certificates, and prepares the client. Nothing
    /// is sent until the first page.
    ///
    /// # Errors
    /// `ConfigError::Invalid` naming `sinks.<name>.<key>`.
    pub fn new(name: &str, cfg: &HttpSinkConfig) -> Result<Self, ConfigError> {
        let bad = |key: &str, message: String| ConfigError::Invalid { key: format!("sinks.{name}.{key}"), message };
        cfg.validate(name)?;
        let credential = match &cfg.auth {
            Some(a) => Some(Credential::read(name, a).map_err(|(k, m)| bad(&format!("auth.{k}"), m))?),
            None => None,
        };
        let mut headers = setup::header_map(&cfg.headers).map_err(|m| bad("headers", m))?;
        let http = setup::client(name, cfg)?;
        let (url, content_type, format) = match cfg.preset {
            Preset::Ndjson => (cfg.url.0.clone(), ndjson::CONTENT_TYPE, Format::Ndjson),
            Preset::SplunkHec => {
                let url = hec::endpoint(&cfg.url).map_err(|m| bad("url", m))?;
                // One channel per sink: HEC ties ack ids to it, and a token with indexer
                // acknowledgement refuses requests without one (code 10).
                let channel = uuid::Builder::from_random_bytes(rand::random()).into_uuid().to_string();
                if let Ok(v) = HeaderValue::from_str(&channel) {
                    headers.insert(HeaderName::from_static("x-splunk-request-channel"), v);
                }
                let hec = Hec {
                    index: cfg.index.clone(),
                    sourcetype: cfg.sourcetype.clone().unwrap_or_else(|| "docusign:{source}".into()),
                    source: cfg.source.clone(),
                    host: cfg.host.clone(),
                    acknowledgements: cfg.acknowledgements(),
                    ack_timeout: cfg.ack_timeout(),
                    ack_url: hec::ack_endpoint(&url, &channel),
                };
                (url, hec::CONTENT_TYPE, Format::Hec(hec))
            }
            Preset::Elasticsearch => {
                let b = Bulk {
                    index: cfg.index.clone().unwrap_or_else(|| bulk::DEFAULT_INDEX.into()),
                    data_stream: cfg.data_stream.unwrap_or(false),
                };
                (bulk::endpoint(&cfg.url, cfg.pipeline.as_deref()), bulk::CONTENT_TYPE, Format::Bulk(b))
            }
        };
        let shown = url_for_logs(&url);
        debug!(sink = name, url = %shown, preset = cfg.preset.key(), "HTTP sink ready.");
        Ok(Self {
            name: name.to_owned(),
            client: Client {
                sink: name.to_owned(),
                http,
                url,
                shown,
                content_type,
                compression: cfg.compression,
                headers,
                credential,
                policy: cfg.retry_policy(),
            },
            format,
            max_bytes: usize::try_from(cfg.max_batch_bytes.get()).unwrap_or(usize::MAX),
            max_events: usize::try_from(cfg.max_batch_events.get()).unwrap_or(usize::MAX),
            buf: Vec::new(),
            spans: Vec::new(),
        })
    }

    /// Encodes every line of the page into `buf`, recording each one's span.
    fn encode(&mut self, batch: &Batch) {
        self.buf.clear();
        self.spans.clear();
        let meta = match &self.format {
            Format::Ndjson => String::new(),
            Format::Hec(h) => h.meta(batch.source),
            Format::Bulk(b) => b.index_part(batch.source),
        };
        for line in &batch.lines {
            let start = self.buf.len();
            match &self.format {
                Format::Ndjson => ndjson::encode(line, &mut self.buf),
                Format::Hec(_) => hec::encode(line, &meta, &mut self.buf),
                Format::Bulk(b) => bulk::encode(line, &meta, b.data_stream, &mut self.buf),
            }
            self.spans.push(start..self.buf.len());
        }
    }
}

/// Cuts events (by their encoded spans) into requests of at most `max_events` events and
/// `max_bytes` bytes, in order. An event larger than `max_bytes` goes alone.
fn chunks(spans: &[Range<usize>], max_bytes: usize, max_events: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let (mut cur, mut bytes) = (Vec::new(), 0usize);
    for (i, s) in spans.iter().enumerate() {
        if !cur.is_empty() && (cur.len() >= max_events || bytes + s.len() > max_bytes) {
            out.push(std::mem::take(&mut cur));
            bytes = 0;
        }
        cur.push(i);
        bytes += s.len();
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[async_trait]
impl Sink for HttpSink {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&mut self, batch: &Batch) -> Result<(), SinkError> {
        if batch.lines.is_empty() {
            return Ok(());
        }
        self.encode(batch);
        let mut queue: VecDeque<Vec<usize>> = chunks(&self.spans, self.max_bytes, self.max_events).into();
        let judge: fn(&Reply, &Ctx<'_>) -> Verdict = match self.format {
            Format::Ndjson => ndjson::judge,
            Format::Hec(_) => hec::judge,
            Format::Bulk(_) => bulk::judge,
        };
        let (buf, spans, lines) = (&self.buf, &self.spans, &batch.lines);
        let encode = |idx: &[usize]| {
            let mut out = Vec::with_capacity(idx.iter().map(|&i| spans[i].len()).sum());
            for &i in idx {
                out.extend_from_slice(&buf[spans[i].clone()]);
            }
            out
        };
        let ids = |i: usize| lines[i].event_id.as_str();
        let (mut requests, mut tries, mut duplicates, mut acks) = (0usize, 0u32, 0usize, Vec::new());
        while let Some(chunk) = queue.pop_front() {
            match self.client.deliver(chunk, encode, ids, judge).await {
                Ok(d) => {
                    requests += 1;
                    tries += d.tries;
                    duplicates += d.duplicates;
                    acks.extend(d.ack);
                }
                Err(Stop::TooLarge(p)) if p.len() > 1 => {
                    warn!(
                        sink = %self.name,
                        events = p.len(),
                        "The receiver found a request too large (HTTP 413); sending it in halves. Lower max_batch_bytes to avoid this."
                    );
                    let (a, b) = p.split_at(p.len() / 2);
                    queue.push_front(b.to_vec());
                    queue.push_front(a.to_vec());
                }
                Err(Stop::TooLarge(p)) => {
                    let i = p.first().copied().unwrap_or_default();
                    let e = HttpSinkError::TooLarge {
                        url: self.client.shown.clone(),
                        event_id: ids(i).to_owned(),
                        bytes: spans.get(i).map_or(0, Range::len),
                    };
                    return Err(e.into_sink(&self.name));
                }
                Err(Stop::Fail(e)) => return Err(e.into_sink(&self.name)),
            }
        }
        if let Format::Hec(h) = &self.format
            && h.acknowledgements
            && !acks.is_empty()
        {
            hec::wait_for_acks(&self.client, h, acks).await.map_err(|e| e.into_sink(&self.name))?;
        }
        if duplicates > 0 {
            info!(sink = %self.name, duplicates, "Events of this page were already indexed (a page sent again); they count as delivered.");
        }
        debug!(sink = %self.name, events = lines.len(), requests, tries, duplicates, "Page delivered.");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(sizes: &[usize]) -> Vec<Range<usize>> {
        let mut at = 0;
        sizes
            .iter()
            .map(|s| {
                at += s;
                at - s..at
            })
            .collect()
    }

    #[test]
    fn chunks_respect_both_limits_and_order() {
        assert_eq!(chunks(&spans(&[10; 5]), 1000, 2), vec![vec![0, 1], vec![2, 3], vec![4]]);
        assert_eq!(chunks(&spans(&[10, 10, 10, 10]), 25, 100), vec![vec![0, 1], vec![2, 3]]);
        assert_eq!(chunks(&spans(&[10, 10, 10]), 30, 100), vec![vec![0, 1, 2]]);
        // An oversized event travels alone and does not drag its neighbours along.
        assert_eq!(chunks(&spans(&[5, 100, 5]), 20, 100), vec![vec![0], vec![1], vec![2]]);
        assert!(chunks(&[], 20, 100).is_empty());
    }

    #[test]
    fn chunks_cover_every_event_once() {
        let sizes: Vec<usize> = (0..2000).map(|i| 200 + (i * 37) % 1500).collect();
        let cs = chunks(&spans(&sizes), 100_000, 500);
        let flat: Vec<usize> = cs.iter().flatten().copied().collect();
        assert_eq!(flat, (0..2000).collect::<Vec<_>>());
        for c in &cs {
            assert!(c.len() <= 500);
            assert!(c.iter().map(|&i| sizes[i]).sum::<usize>() <= 100_000);
        }
    }
}
