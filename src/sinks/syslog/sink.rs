//! The syslog sink itself: renders a page once, then delivers it, retrying with backoff on a
//! new connection each time. `send` returns `Ok` only when the transport confirmed every
//! message (see `conn` for TCP/TLS, `relp` for RELP; UDP confirms nothing).

use std::io;
use std::time::Duration;

use async_trait::async_trait;
use tracing::{debug, info, warn};

use super::config::{DEFAULT_UDP_RATE, Framing, HostPort, SyslogSinkConfig, Transport};
use super::conn::{connect, send_datagrams, still_accepting, write_confirmed};
use super::format::{Formatter, Message, Shape, newline_frame, octet_frame};
use super::pace::Pacer;
use super::relp::Session;
use super::tls::TlsSettings;
use crate::http::{Retry, RetryPolicy};
use crate::sinks::{Batch, Sink, SinkError};

/// Event ids listed in one truncation warning; the rest are counted.
const IDS_IN_WARNING: usize = 50;

/// Delivers pages as syslog messages.
#[derive(Debug)]
pub(super) struct SyslogSink {
    name: String,
    label: String,
    transport: Transport,
    address: HostPort,
    tls: Option<TlsSettings>,
    formatter: Formatter,
    max_message_size: u32,
    connect_timeout: Duration,
    write_timeout: Duration,
    /// Reconnects after a failed delivery (no server asks for a pause here).
    retry: RetryPolicy,
    relp_window: usize,
    framing: Framing,
    udp_rate: u32,
}

impl SyslogSink {
    /// A sink for a validated config; `tls` is set exactly when the transport is TLS.
    pub(super) fn new(name: &str, cfg: &SyslogSinkConfig, tls: Option<TlsSettings>) -> Self {
        Self {
            name: name.to_owned(),
            label: format!("{name} ({} {})", cfg.transport, cfg.address),
            transport: cfg.transport,
            address: cfg.address.clone(),
            tls,
            formatter: Formatter::new(cfg),
            max_message_size: cfg.max_message_size.get(),
            connect_timeout: cfg.connect_timeout.get(),
            write_timeout: cfg.write_timeout.get(),
            retry: cfg.retry_policy(),
            relp_window: usize::try_from(cfg.relp_window.get()).unwrap_or(usize::MAX),
            framing: cfg.framing.unwrap_or_default(),
            udp_rate: cfg.udp_rate.map_or(DEFAULT_UDP_RATE, crate::values::Bounded::get),
        }
    }

    fn err(&self, source: io::Error) -> SinkError {
        SinkError::Io { sink: self.label.clone(), source }
    }

    /// Every line as a message within `max_message_size`; one warning for the truncated ones.
    fn render(&self, batch: &Batch) -> Result<Vec<Message>, SinkError> {
        let mut msgs = Vec::with_capacity(batch.lines.len());
        let mut cut: Vec<&str> = Vec::new();
        let (mut reduced, mut replaced) = (0usize, 0usize);
        for line in &batch.lines {
            let (m, shape) = self.formatter.render(batch.source, line).map_err(|e| self.err(io::Error::other(e)))?;
            match shape {
                Shape::Whole => {}
                Shape::Shortened => cut.push(&line.event_id),
                Shape::Reduced => {
                    cut.push(&line.event_id);
                    reduced += 1;
                }
                Shape::Replaced => {
                    cut.push(&line.event_id);
                    replaced += 1;
                }
            }
            msgs.push(m);
        }
        if !cut.is_empty() {
            let mut ids = cut.iter().take(IDS_IN_WARNING).copied().collect::<Vec<_>>().join(",");
            if cut.len() > IDS_IN_WARNING {
                ids = format!("{ids},… ({} more)", cut.len() - IDS_IN_WARNING);
            }
            warn!(
                sink = %self.name,
                source = %batch.source,
                truncated = cut.len(),
                fields_removed = reduced,
                replaced_whole = replaced,
                max_message_size = self.max_message_size,
                event_ids = %ids,
                "Events longer than max_message_size were truncated; `_truncated` in each names the fields cut or removed."
            );
        }
        Ok(msgs)
    }

    /// One delivery attempt of the messages not yet in `done`.
    async fn attempt(&self, msgs: &[Message], framed: &[u8], done: &mut [bool]) -> io::Result<()> {
        match self.transport {
            Transport::Tcp | Transport::Tls => {
                let mut s = connect(&self.address, self.tls.as_ref(), self.connect_timeout).await?;
                write_confirmed(&mut s, framed, self.write_timeout).await?;
                drop(s);
                still_accepting(&self.address, self.tls.as_ref(), self.connect_timeout, self.write_timeout).await?;
                done.fill(true);
                Ok(())
            }
            Transport::Relp => {
                let mut s = connect(&self.address, None, self.connect_timeout).await?;
                let opening = Session::open(&mut s, self.write_timeout);
                let mut session = tokio::time::timeout(self.connect_timeout, opening).await.map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("RELP open not answered within {:?}", self.connect_timeout),
                    )
                })??;
                session.send_all(msgs, done, self.relp_window).await?;
                session.close().await;
                Ok(())
            }
            Transport::Udp => {
                let before = done.iter().filter(|d| **d).count();
                let mut pacer = Pacer::new(self.udp_rate);
                let r = send_datagrams(&self.address, msgs, done, self.write_timeout, &mut pacer).await;
                super::count_udp_datagrams(&self.name, done.iter().filter(|d| **d).count() - before);
                r
            }
        }
    }
}

#[async_trait]
impl Sink for SyslogSink {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&mut self, batch: &Batch) -> Result<(), SinkError> {
        if batch.lines.is_empty() {
            return Ok(());
        }
        let msgs = self.render(batch)?;
        let mut framed = Vec::new();
        if matches!(self.transport, Transport::Tcp | Transport::Tls) {
            framed.reserve(msgs.iter().map(|m| m.bytes.len() + 8).sum());
            let mut flattened = 0usize;
            for m in &msgs {
                match self.framing {
                    Framing::OctetCounting => octet_frame(&m.bytes, &mut framed),
                    Framing::Newline => flattened += usize::from(newline_frame(&m.bytes, &mut framed) > 0),
                }
            }
            if flattened > 0 {
                debug!(
                    sink = %self.name,
                    messages = flattened,
                    "Line breaks inside messages were sent as spaces, as newline framing requires."
                );
            }
        }
        let mut done = vec![false; msgs.len()];
        let mut tries = 0u32;
        loop {
            tries += 1;
            let result = self.attempt(&msgs, &framed, &mut done).await;
            let unconfirmed = done.iter().filter(|d| !**d).count();
            match result {
                Ok(()) => {
                    if tries > 1 {
                        info!(sink = %self.name, messages = msgs.len(), tries, "Page delivered after retries.");
                    } else {
                        debug!(sink = %self.name, messages = msgs.len(), "Page delivered.");
                    }
                    return Ok(());
                }
                Err(e) => {
                    // Backoff only: a syslog receiver never asks for a pause.
                    let Retry::After(wait) = self.retry.after(tries - 1, None) else {
                        let message = format!(
                            "{unconfirmed} of {} messages not confirmed after {tries} tries; last error: {e}",
                            msgs.len()
                        );
                        return Err(self.err(io::Error::new(e.kind(), message)));
                    };
                    warn!(
                        sink = %self.name,
                        error = %e,
                        unconfirmed,
                        retry_in = ?wait,
                        "Delivery not confirmed; the unconfirmed messages will be sent again on a new connection."
                    );
                    if !crate::shutdown::sleep(wait).await {
                        return Err(self.err(io::Error::other(format!(
                            "stopped on request with {unconfirmed} of {} messages unconfirmed",
                            msgs.len()
                        ))));
                    }
                }
            }
        }
    }
}
