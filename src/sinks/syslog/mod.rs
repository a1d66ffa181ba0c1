//! The syslog sink: each line becomes one RFC 5424 (or RFC 3164) message, sent over TCP, TLS
//! (RFC 5425) or RELP with a confirmation, or over UDP on a best-effort basis.
//!
//! An RFC 5424 message is
//! `<PRI>1 TIMESTAMP HOSTNAME esign-collector PID MSGID [esign@32473 event_id="…"] JSON`,
//! where TIMESTAMP is the event's `_time`, MSGID is the source key (the stream's
//! `[sources.<key>]` name) and MSG is the JSON line without a BOM (see `format`).
//!
//! What `Ok` from `send` means, per transport:
//! - `tcp`, `tls`: a connection per page, RFC 6587 octet counting or newline framing
//!   (`framing`; it must match the receiver); written, half-closed, the receiver closed its
//!   side after reading everything with every byte acknowledged by its kernel, and it then
//!   completed an empty check session (see `conn`). This proves the receiver *read* the page
//!   and was still running afterwards, not that it stored it: syslog-ng SIGKILLed right after
//!   a confirmed page lost its tail in 9 of 210 trials (README). A receiver stopped mid-page
//!   gets the whole page again.
//! - `relp`: every message answered `200 OK`; only unanswered messages are sent again.
//!   rsyslog answers once the message is in its queue, so how durable that is follows the
//!   receiver's queue settings (a direct or disk-assisted queue survives a crash).
//! - `udp`: **best effort**: every datagram was handed to the kernel, nothing more, paced to
//!   `udp_rate` so a page does not overflow the receiver's socket buffer. A receiver that is
//!   down, or a full buffer on its side, loses messages silently.
//!
//! Duplicates are possible after a retry (a page sent again whole). Loss is possible on UDP,
//! and on TCP/TLS when the receiver dies after confirming what it had not yet stored.
//! Connecting happens at the first page, so a receiver that is down fails the run as a
//! sink failure (exit 7), not as a configuration error.
//!
//! # Architecture
//! - `config.rs`: [`SyslogSinkConfig`] and its self-checking value types.
//! - `format.rs`: headers, structured-data escaping, octet-counting and newline framing.
//! - `truncate.rs`: fitting an event into `max_message_size` with a marker.
//! - `conn.rs`: connecting, TLS or not, the TCP/TLS confirmation, UDP datagrams.
//! - `pace.rs`: spacing UDP datagrams to `udp_rate`.
//! - `counters.rs`: what the sinks count for the metrics (UDP datagrams sent).
//! - `tls.rs`: the rustls client built from `ca_file`, `cert_file`, `key_file`.
//! - `relp_frame.rs`, `relp.rs`: the RELP frame codec and client session.
//! - `sink.rs`: the [`Sink`] implementation: render once, deliver, retry with backoff.
//! - this file: cross-field checks and [`build`].

mod config;
mod conn;
mod counters;
mod format;
mod pace;
mod relp;
mod relp_frame;
mod sink;
mod tls;
mod truncate;

pub(crate) use counters::count_udp_datagrams;
pub use counters::{udp_datagram_counts, udp_datagrams};

pub use config::{
    DEFAULT_UDP_RATE, Facility, Format, Framing, HostPort, SdId, Severity, SyslogName, SyslogSinkConfig, Transport,
};

use super::Sink;
use crate::values::ConfigError;

/// The largest UDP payload over IPv4; a longer `max_message_size` cannot travel as a datagram.
const MAX_UDP_PAYLOAD: u32 = 65_507;

/// Checks the keys that depend on each other.
///
/// # Errors
/// `ConfigError::Invalid` naming the key, e.g. `sinks.syslog[0].ca_file`.
pub fn validate(name: &str, cfg: &SyslogSinkConfig) -> Result<(), ConfigError> {
    let table = format!("sinks.{name}");
    let invalid = |key: &str, message: &str| ConfigError::invalid(format!("{table}.{key}"), message);
    if cfg.transport == Transport::Tls {
        crate::http::tls::client_cert(&table, cfg.cert_file.as_deref(), cfg.key_file.as_deref())?;
    } else {
        let tls_only = [
            ("ca_file", cfg.ca_file.is_some()),
            ("cert_file", cfg.cert_file.is_some()),
            ("key_file", cfg.key_file.is_some()),
            ("server_name", cfg.server_name.is_some()),
        ];
        if let Some((key, _)) = tls_only.iter().find(|(_, set)| *set) {
            return Err(invalid(key, "applies only to transport = \"tls\""));
        }
    }
    if cfg.framing.is_some() && !matches!(cfg.transport, Transport::Tcp | Transport::Tls) {
        return Err(invalid("framing", "applies only to transport = \"tcp\" or \"tls\""));
    }
    if cfg.udp_rate.is_some() && cfg.transport != Transport::Udp {
        return Err(invalid("udp_rate", "applies only to transport = \"udp\""));
    }
    if cfg.transport == Transport::Udp && cfg.max_message_size.get() > MAX_UDP_PAYLOAD {
        return Err(invalid("max_message_size", "must be at most 65507 with transport = \"udp\""));
    }
    cfg.connect_timeout.require_nonzero(format!("{table}.connect_timeout"))?;
    cfg.write_timeout.require_nonzero(format!("{table}.write_timeout"))?;
    cfg.retry_policy().validate(&table)
}

/// Builds the sink: checks the settings and reads the TLS files, but does not connect.
///
/// # Errors
/// `ConfigError::Invalid` naming the key at fault (e.g. an unreadable `ca_file`).
pub fn build(name: &str, cfg: &SyslogSinkConfig) -> Result<Box<dyn Sink>, ConfigError> {
    validate(name, cfg)?;
    let tls = if cfg.transport == Transport::Tls { Some(tls::settings(name, cfg)?) } else { None };
    Ok(Box::new(sink::SyslogSink::new(name, cfg, tls)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::testkit::{self, assert_refused};

    fn cfg(text: &str) -> SyslogSinkConfig {
        toml::from_str(text).unwrap()
    }

    fn err(text: &str) -> String {
        build("syslog[0]", &cfg(text)).map(|_| ()).unwrap_err().to_string()
    }

    #[test]
    fn cross_field_checks_name_the_key() {
        assert_refused(
            err,
            &[
                (
                    "address = \"h:1\"\ntransport = \"tcp\"\nca_file = \"/x\"",
                    &["`sinks.syslog[0].ca_file` applies only to transport = \"tls\""],
                ),
                (
                    "address = \"h:1\"\ntransport = \"udp\"\nmax_message_size = 100000",
                    &["sinks.syslog[0].max_message_size"],
                ),
                (
                    "address = \"h:1\"\ntransport = \"tcp\"\ninitial_backoff = \"1m\"\nmax_backoff = \"1s\"",
                    &["initial_backoff"],
                ),
                ("address = \"h:1\"\ntransport = \"relp\"\nwrite_timeout = \"0s\"", &["write_timeout"]),
                (
                    "address = \"h:1\"\ntransport = \"relp\"\nframing = \"newline\"",
                    &["`sinks.syslog[0].framing` applies only to transport = \"tcp\" or \"tls\""],
                ),
                (
                    "address = \"h:1\"\ntransport = \"tcp\"\nudp_rate = 100",
                    &["`sinks.syslog[0].udp_rate` applies only to transport = \"udp\""],
                ),
            ],
        );
    }

    #[test]
    fn tls_files_are_read_at_build() {
        let (_dir, empty) = crate::testkit::scratch_with("empty.pem", "no pem here");
        assert_refused(
            err,
            &[
                (
                    "address = \"h:1\"\ntransport = \"tls\"\nca_file = \"/nonexistent/ca.pem\"".to_owned(),
                    &["sinks.syslog[0].ca_file", "/nonexistent/ca.pem"],
                ),
                (
                    format!("address = \"h:1\"\ntransport = \"tls\"\nca_file = \"{}\"", empty.display()),
                    &["holds no PEM certificate"],
                ),
                (
                    "address = \"h:1\"\ntransport = \"tls\"\ncert_file = \"/c.pem\"".to_owned(),
                    &["`sinks.syslog[0].key_file` is required when cert_file is set"],
                ),
                (
                    "address = \"h:1\"\ntransport = \"tls\"\nserver_name = \"not a name\"".to_owned(),
                    &["sinks.syslog[0].server_name"],
                ),
            ],
        );
    }

    #[test]
    fn building_does_not_connect() {
        // Port 1 on loopback has no listener; building must still succeed.
        for t in ["tcp", "tls", "relp", "udp"] {
            let s = build("syslog[3]", &cfg(&format!("address = \"127.0.0.1:1\"\ntransport = \"{t}\""))).unwrap();
            assert_eq!(s.name(), "syslog[3]");
        }
    }

    #[tokio::test]
    async fn a_receiver_that_is_down_fails_the_send() {
        let mut s = build(
            "syslog[0]",
            &cfg("address = \"127.0.0.1:1\"\ntransport = \"tcp\"\nmax_retries = 1\ninitial_backoff = \"10ms\""),
        )
        .unwrap();
        let batch = testkit::events(vec![testkit::line("e", "{}")]);
        let e = s.send(&batch).await.unwrap_err().to_string();
        assert!(
            e.contains("syslog[0] (tcp 127.0.0.1:1)") && e.contains("1 of 1 messages not confirmed after 2 tries"),
            "{e}"
        );
        let empty = testkit::events(Vec::new());
        s.send(&empty).await.unwrap();
    }
}
