//! `[[sinks]] type = "syslog"`: the settings, their defaults, and the value types that check
//! themselves while the TOML is parsed (so `toml` reports the key and line of a bad value).

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

use crate::http::RetryPolicy;
use crate::values::{Bounded, HumanDuration};

/// `[[sinks]] type = "syslog"`: RFC 5424 (or RFC 3164) messages over TCP, TLS, RELP or UDP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogSinkConfig {
    /// The receiver, `host:port` (`[v6addr]:port` for IPv6). Resolved at every connection, so
    /// a DNS change is followed without a restart.
    pub address: HostPort,
    /// `tcp`, `tls` (RFC 5425), `relp` or `udp`. Required: plain text or not is a choice the
    /// operator makes explicitly.
    pub transport: Transport,
    /// `rfc5424` (structured data carries the event id) or `rfc3164` (legacy BSD header).
    #[serde(default)]
    pub protocol: Format,
    /// What each message's JSON is: `raw`, `ecs` or `ocsf` (see docs/mapping.md).
    #[serde(default)]
    pub format: crate::format::Format,
    /// With `ecs` or `ocsf`: keep the raw line in `event.original` / `raw_data`.
    #[serde(default)]
    pub include_original: bool,
    /// Syslog facility, for the receiver's routing rules.
    #[serde(default)]
    pub facility: Facility,
    /// Syslog severity of every message.
    #[serde(default)]
    pub severity: Severity,
    /// HOSTNAME field; default: this machine's host name.
    #[serde(default)]
    pub hostname: Option<SyslogName<255>>,
    /// APP-NAME field (RFC 3164: the tag before `[pid]:`).
    #[serde(default = "default_app_name")]
    pub app_name: SyslogName<48>,
    /// RFC 5424 structured-data ID holding `event_id` (`name@private-enterprise-number`).
    /// The default uses 32473, the number RFC 5612 reserves for documentation; a site with
    /// its own enterprise number can set it here.
    #[serde(default = "default_sd_id")]
    pub structured_data_id: SdId,
    /// Largest whole syslog message in bytes (header and JSON; not the octet-count prefix).
    /// A longer event is truncated, never sent oversize. Keep it at or below the receiver's
    /// limit (rsyslog `maxMessageSize`, default 8k).
    #[serde(default = "Bounded::of::<8192>")]
    pub max_message_size: Bounded<1024, 1_048_576>,
    /// TLS: PEM file of the CA(s) that sign the receiver's certificate. Default: the Mozilla
    /// roots built in (webpki-roots).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// TLS: PEM client certificate chain, for receivers that require mutual TLS.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// TLS: PEM private key of `cert_file`.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// TLS: the name the receiver's certificate must carry; default: the host of `address`.
    #[serde(default)]
    pub server_name: Option<String>,
    /// Longest wait for a connection, including the TLS handshake and the RELP `open`.
    #[serde(default = "HumanDuration::secs::<10>")]
    pub connect_timeout: HumanDuration,
    /// Longest wait for the receiver to take more bytes or to confirm what it got.
    #[serde(default = "HumanDuration::secs::<30>")]
    pub write_timeout: HumanDuration,
    /// How many times a page is sent again (whole, on a new connection) after a failed or
    /// unconfirmed delivery; then the run fails and the checkpoint stays.
    #[serde(default = "Bounded::of::<5>")]
    pub max_retries: Bounded<0, 100>,
    /// First wait before a retry; it doubles per retry, with jitter.
    #[serde(default = "HumanDuration::secs::<1>")]
    pub initial_backoff: HumanDuration,
    /// Longest wait between retries.
    #[serde(default = "HumanDuration::secs::<30>")]
    pub max_backoff: HumanDuration,
    /// RELP: messages sent ahead of their acknowledgements (rsyslog's own default is 128).
    #[serde(default = "Bounded::of::<128>")]
    pub relp_window: Bounded<1, 65_536>,
    /// TCP and TLS: how messages are delimited on the stream (RFC 6587). The receiver decides:
    /// syslog-ng's `network()` source and Logstash/Graylog TCP inputs split on newlines, and
    /// read octet-counted messages merged into garbage. Default (unset): octet counting.
    #[serde(default)]
    pub framing: Option<Framing>,
    /// UDP: datagrams per second at most, so a page does not overflow the receiver's socket
    /// buffer (2,000 back to back lose most of a page). `0` sends back to back. Default
    /// (unset): [`DEFAULT_UDP_RATE`].
    #[serde(default)]
    pub udp_rate: Option<Bounded<0, 1_000_000>>,
}

/// Datagrams per second when `udp_rate` is unset; see README "UDP pacing" for the
/// measurement against syslog-ng's default receive buffer that chose it.
pub const DEFAULT_UDP_RATE: u32 = 10_000;

impl SyslogSinkConfig {
    /// How a page is sent again; no server asks for pauses here, so only the backoff waits.
    pub(super) fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy::backoff_only(self.max_retries.get(), self.initial_backoff.get(), self.max_backoff.get())
    }
}

/// RFC 6587 framing of a TCP or TLS stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Framing {
    /// `MSG-LEN SP MSG` (RFC 6587 §3.4.1, RFC 5425): any byte may appear in a message.
    /// rsyslog `imtcp` (both framings), syslog-ng `syslog()` source.
    #[default]
    OctetCounting,
    /// `MSG LF` (RFC 6587 §3.4.2, "non-transparent framing"). A CR, LF or NUL inside a
    /// message becomes a space, so one event stays one record; in our JSON lines that is
    /// whitespace between tokens (JSON strings cannot hold a raw control character), so
    /// the JSON keeps its value. syslog-ng `network()`, Logstash and Graylog TCP inputs.
    Newline,
}

impl fmt::Display for Framing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Framing::OctetCounting => "octet-counting",
            Framing::Newline => "newline",
        })
    }
}

/// How messages travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Plain TCP, RFC 6587 framing (`framing`); confirmed by a half-close the receiver
    /// answers, which proves it read the page, not that it stored it.
    Tcp,
    /// TLS over TCP (RFC 5425), framed and confirmed like `tcp`.
    Tls,
    /// rsyslog's Reliable Event Logging Protocol: every message acknowledged.
    Relp,
    /// UDP datagrams: **best effort**. A confirmed send means only "handed to the kernel".
    Udp,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
            Transport::Relp => "relp",
            Transport::Udp => "udp",
        })
    }
}

/// Message layout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG`.
    #[default]
    Rfc5424,
    /// `<PRI>Mmm dd hh:mm:ss HOSTNAME APP-NAME[PROCID]: MSG` (time in UTC, no year).
    Rfc3164,
}

/// Syslog facilities (RFC 5424 table 1), by their usual names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Facility {
    /// 0: kernel.
    Kern,
    /// 1: user-level.
    User,
    /// 2: mail.
    Mail,
    /// 3: system daemons.
    Daemon,
    /// 4: security/authorization.
    Auth,
    /// 5: syslogd itself.
    Syslog,
    /// 6: line printer.
    Lpr,
    /// 7: network news.
    News,
    /// 8: UUCP.
    Uucp,
    /// 9: clock daemon (cron).
    Cron,
    /// 10: security/authorization, private.
    Authpriv,
    /// 11: FTP daemon.
    Ftp,
    /// 12: NTP.
    Ntp,
    /// 13: log audit.
    Audit,
    /// 14: log alert.
    Alert,
    /// 15: clock daemon.
    Clock,
    /// 16, the default: DocuSign's events are not this host's own logins, so they stay out of
    /// the host's `auth`/`authpriv` files and rules; a SIEM routes them by APP-NAME or MSGID.
    #[default]
    Local0,
    /// 17: local use 1.
    Local1,
    /// 18: local use 2.
    Local2,
    /// 19: local use 3.
    Local3,
    /// 20: local use 4.
    Local4,
    /// 21: local use 5.
    Local5,
    /// 22: local use 6.
    Local6,
    /// 23: local use 7.
    Local7,
}

impl Facility {
    /// The facility number (0..=23).
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// Syslog severities (RFC 5424 table 2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// 0: system is unusable (`emergency` also accepted).
    #[serde(alias = "emergency")]
    Emerg,
    /// 1: action must be taken immediately.
    Alert,
    /// 2: critical (`critical` also accepted).
    #[serde(alias = "critical")]
    Crit,
    /// 3: error (`error` also accepted).
    #[serde(alias = "error")]
    Err,
    /// 4: warning (`warn` also accepted).
    #[serde(alias = "warn")]
    Warning,
    /// 5: normal but significant.
    Notice,
    /// 6, the default: informational.
    #[default]
    Info,
    /// 7: debug.
    Debug,
}

impl Severity {
    /// The severity number (0..=7).
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// `host:port`, checked at parse time. The host keeps no brackets.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct HostPort {
    /// Name or IP literal.
    pub host: String,
    /// Port.
    pub port: u16,
}

impl TryFrom<String> for HostPort {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let bad =
            || format!("invalid address {s:?}: write \"host:port\", e.g. \"siem.example.com:6514\" or \"[::1]:514\"");
        let (host, port) = s.trim().rsplit_once(':').ok_or_else(bad)?;
        let host = match host.strip_prefix('[') {
            Some(v6) => v6.strip_suffix(']').ok_or_else(bad)?,
            None if host.contains(':') => return Err(bad()),
            None => host,
        };
        let port: u16 = port.parse().map_err(|_| bad())?;
        if host.is_empty() || port == 0 || host.chars().any(char::is_whitespace) {
            return Err(bad());
        }
        Ok(Self { host: host.to_owned(), port })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A syslog header field: 1 to `MAX` printable US-ASCII characters (RFC 5424 PRINTUSASCII).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct SyslogName<const MAX: usize>(String);

impl<const MAX: usize> SyslogName<MAX> {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<const MAX: usize> TryFrom<String> for SyslogName<MAX> {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.is_empty() || s.len() > MAX || !s.bytes().all(|b| (33..=126).contains(&b)) {
            return Err(format!("{s:?} must be 1 to {MAX} printable ASCII characters without spaces"));
        }
        Ok(Self(s))
    }
}

/// An RFC 5424 SD-ID of the private form `name@number`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct SdId(String);

impl SdId {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SdId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let printable = s.bytes().all(|b| (33..=126).contains(&b) && !matches!(b, b'=' | b']' | b'"'));
        let private = s.split_once('@').is_some_and(|(name, pen)| {
            !name.is_empty() && !name.contains('@') && !pen.is_empty() && pen.bytes().all(|b| b.is_ascii_digit())
        });
        if s.len() > 32 || !printable || !private {
            return Err(format!("{s:?} must be `name@enterprise-number`, at most 32 characters, e.g. \"esign@32473\""));
        }
        Ok(Self(s))
    }
}

fn default_app_name() -> SyslogName<48> {
    SyslogName("esign-collector".to_owned())
}
fn default_sd_id() -> SdId {
    SdId("esign@32473".to_owned())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::sinks::testkit::assert_refused;

    fn parse(extra: &str) -> Result<SyslogSinkConfig, String> {
        toml::from_str(&format!("address = \"127.0.0.1:514\"\ntransport = \"tcp\"\n{extra}")).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults() {
        let c = parse("").unwrap();
        assert_eq!((c.protocol, c.facility, c.severity), (Format::Rfc5424, Facility::Local0, Severity::Info));
        assert_eq!((c.facility.code(), c.severity.code()), (16, 6));
        assert_eq!(c.max_message_size.get(), 8192);
        assert_eq!(c.app_name.as_str(), "esign-collector");
        assert_eq!(c.structured_data_id.as_str(), "esign@32473");
        assert_eq!(c.relp_window.get(), 128);
        assert_eq!(Facility::Authpriv.code(), 10);
        assert_eq!(Facility::Local7.code(), 23);
    }

    #[test]
    fn every_key_as_documented() {
        let c: SyslogSinkConfig = toml::from_str(
            r#"
            address = "siem.example.com:6514"
            transport = "tls"
            protocol = "rfc5424"
            facility = "local0"
            severity = "info"
            hostname = "collector-1.example.com"
            app_name = "esign-collector"
            structured_data_id = "esign@32473"
            max_message_size = 8192
            ca_file = "/etc/esign-collector/syslog-ca.pem"
            cert_file = "/etc/esign-collector/syslog-client.pem"
            key_file = "/etc/esign-collector/syslog-client.key"
            server_name = "siem.example.com"
            connect_timeout = "10s"
            write_timeout = "30s"
            max_retries = 5
            initial_backoff = "1s"
            max_backoff = "30s"
            relp_window = 128
            framing = "newline"
            "#,
        )
        .unwrap();
        assert_eq!((c.transport, c.address.port), (Transport::Tls, 6514));
        assert_eq!(c.write_timeout.get(), Duration::from_secs(30));
        assert_eq!(c.max_backoff.get(), Duration::from_secs(30));
        assert_eq!(c.framing, Some(Framing::Newline));
        let u: SyslogSinkConfig = toml::from_str("address = \"h:514\"\ntransport = \"udp\"\nudp_rate = 5000").unwrap();
        assert_eq!(u.udp_rate.map(Bounded::get), Some(5000));
    }

    #[test]
    fn addresses() {
        let v6 = HostPort::try_from("[::1]:6514".to_owned()).unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 6514));
        assert_eq!(v6.to_string(), "[::1]:6514");
        for bad in ["siem", "siem:", "siem:0", ":514", "::1:514", "a b:1", "siem:99999"] {
            assert!(HostPort::try_from(bad.to_owned()).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_values_name_the_key() {
        assert_refused(
            |t| parse(t).unwrap_err(),
            &[
                ("structured_data_id = \"esign\"", &["structured_data_id", "enterprise-number"]),
                ("hostname = \"my host\"", &["hostname"]),
                ("max_message_size = 100", &["1024..=1048576"]),
                ("facility = \"local9\"", &["facility"]),
                ("bogus = 1", &["unknown field"]),
                ("framing = \"lf\"", &["framing", "octet-counting"]),
                ("udp_rate = -1", &["udp_rate", "0..=1000000"]),
            ],
        );
        assert_eq!(parse("severity = \"error\"").unwrap().severity, Severity::Err);
    }
}
