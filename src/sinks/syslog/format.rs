//! Message layout: the RFC 5424 and RFC 3164 headers, RFC 5424 structured-data escaping, and
//! the two RFC 6587 framings (octet counting, newline).
//!
//! MSG is the JSON line, UTF-8, **without** the BOM that RFC 5424 §6.4 attaches to its
//! `MSG-UTF8` form. RFC 5424 also allows `MSG-ANY` (octets, no BOM); the payload is JSON, and
//! RFC 8259 §8.1 forbids a BOM in front of JSON sent over a network and fixes its encoding as
//! UTF-8 anyway. rsyslog keeps a BOM as part of `%msg%` (checked with 8.2302), so a SIEM that
//! parses the message as JSON would see three stray bytes before `{`.

use chrono::Utc;

use super::config::{Format, SyslogSinkConfig};
use super::truncate::{self, Fit};
use crate::format::time::{format_time, parse_time};
use crate::sinks::Line;
use crate::stream::Stream;

/// One message ready for a transport (no framing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Message {
    /// The event it carries, for logs and errors.
    pub(super) event_id: String,
    /// Header and MSG.
    pub(super) bytes: Vec<u8>,
}

/// What happened to an event's JSON on its way into a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// Sent as it came.
    Whole,
    /// Some string values were shortened (`_truncated` says which).
    Shortened,
    /// Shortening was not enough: whole optional fields were removed as well.
    Reduced,
    /// Not even the key fields could fit: replaced by a minimal JSON with the marker.
    Replaced,
}

/// Builds messages with fixed header fields.
#[derive(Debug, Clone)]
pub(super) struct Formatter {
    format: Format,
    pri: u8,
    hostname: String,
    app_name: String,
    procid: String,
    sd_id: String,
    max: usize,
}

impl Formatter {
    /// Header fields from the config; the host name from the machine unless configured.
    pub(super) fn new(cfg: &SyslogSinkConfig) -> Self {
        Self {
            format: cfg.protocol,
            pri: cfg.facility.code() * 8 + cfg.severity.code(),
            hostname: cfg.hostname.as_ref().map_or_else(machine_hostname, |h| h.as_str().to_owned()),
            app_name: cfg.app_name.as_str().to_owned(),
            procid: std::process::id().to_string(),
            sd_id: cfg.structured_data_id.as_str().to_owned(),
            max: usize::try_from(cfg.max_message_size.get()).unwrap_or(usize::MAX),
        }
    }

    /// The header, up to and including the space before MSG.
    pub(super) fn header(&self, source: &Stream, line: &Line) -> String {
        match self.format {
            Format::Rfc5424 => format!(
                "<{}>1 {} {} {} {} {} [{} event_id=\"{}\"] ",
                self.pri,
                rfc5424_time(&line.time),
                self.hostname,
                self.app_name,
                self.procid,
                source.key,
                self.sd_id,
                escape_sd_value(&line.event_id),
            ),
            Format::Rfc3164 => {
                format!(
                    "<{}>{} {} {}[{}]: ",
                    self.pri,
                    rfc3164_time(&line.time),
                    self.hostname,
                    self.app_name,
                    self.procid
                )
            }
        }
    }

    /// The whole message, at most `max_message_size` bytes.
    ///
    /// # Errors
    /// When not even a minimal JSON fits beside the header (an event id of hundreds of bytes).
    pub(super) fn render(&self, source: &Stream, line: &Line) -> Result<(Message, Shape), String> {
        let header = self.header(source, line);
        let too_big = || {
            format!(
                "event {:?} cannot fit max_message_size = {} even as a minimal marker (header {} bytes); \
                 raise max_message_size",
                line.event_id,
                self.max,
                header.len()
            )
        };
        let budget = self.max.checked_sub(header.len()).ok_or_else(too_big)?;
        let fitted: String;
        let (msg, shape) = match truncate::fit(&line.json, budget, &line.event_id, &line.time) {
            Fit::Whole => (line.json.as_str(), Shape::Whole),
            Fit::Shortened(s) => {
                fitted = s;
                (fitted.as_str(), Shape::Shortened)
            }
            Fit::Reduced(s) => {
                fitted = s;
                (fitted.as_str(), Shape::Reduced)
            }
            Fit::Replaced(s) => {
                fitted = s;
                (fitted.as_str(), Shape::Replaced)
            }
            Fit::Impossible => return Err(too_big()),
        };
        let mut bytes = Vec::with_capacity(header.len() + msg.len());
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(msg.as_bytes());
        Ok((Message { event_id: line.event_id.clone(), bytes }, shape))
    }
}

/// RFC 5424 TIMESTAMP: the line's time in UTC with at most 6 fractional digits (the RFC's
/// limit; DocuSign writes up to 7), or NILVALUE when it is not a time.
pub(super) fn rfc5424_time(time: &str) -> String {
    parse_time(time).map_or_else(|| "-".to_owned(), |(t, digits)| format_time(t, digits.min(6)))
}

/// RFC 3164 TIMESTAMP (`Mmm dd hh:mm:ss`, day padded with a space). The format has no zone
/// or year; it is written in UTC, and the exact time stays in the JSON's `_time`. A line
/// without a valid time gets the current time (RFC 3164 has no NILVALUE).
pub(super) fn rfc3164_time(time: &str) -> String {
    let t = parse_time(time).map_or_else(Utc::now, |(t, _)| t);
    t.format("%b %e %H:%M:%S").to_string()
}

/// RFC 5424 §6.3.3: inside a PARAM-VALUE, `"`, `\` and `]` are escaped with a backslash.
pub(super) fn escape_sd_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// RFC 6587 §3.4.1 octet counting: `MSG-LEN SP SYSLOG-MSG`, the length in bytes.
pub(super) fn octet_frame(msg: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(msg.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(msg);
}

/// RFC 6587 §3.4.2 non-transparent framing: `SYSLOG-MSG LF`. A CR, LF or NUL inside the
/// message would end or split the record at a newline-framed receiver (syslog-ng also ends
/// one at NUL), so each becomes a space. Returns how many were replaced.
///
/// Our MSG is JSON, where a raw control character can only stand between tokens (inside a
/// string it must be escaped), so the replacement keeps the JSON's value.
pub(super) fn newline_frame(msg: &[u8], out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.extend_from_slice(msg);
    let mut replaced = 0;
    for b in &mut out[start..] {
        if matches!(*b, b'\n' | b'\r' | 0) {
            *b = b' ';
            replaced += 1;
        }
    }
    out.push(b'\n');
    replaced
}

/// This machine's host name, reduced to what a syslog HOSTNAME may hold (printable ASCII,
/// at most 255 bytes); NILVALUE when there is none.
pub(super) fn machine_hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the pointer and length describe `buf`, which outlives the call; gethostname
    // writes at most `len` bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let raw = if rc == 0 { buf.split(|b| *b == 0).next().unwrap_or_default() } else { &[][..] };
    sanitize_hostname(raw)
}

fn sanitize_hostname(raw: &[u8]) -> String {
    let s: String = raw.iter().take(255).map(|&b| if (33..=126).contains(&b) { char::from(b) } else { '_' }).collect();
    if s.is_empty() { "-".to_owned() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::testkit;

    fn cfg(extra: &str) -> SyslogSinkConfig {
        toml::from_str(&format!("address = \"127.0.0.1:514\"\ntransport = \"tcp\"\nhostname = \"web-1\"\n{extra}"))
            .unwrap()
    }

    fn line(id: &str, json: &str) -> Line {
        testkit::timed(id, "2023-03-03T09:10:06.0512813Z", json)
    }

    #[test]
    fn rfc5424_layout() {
        let f = Formatter::new(&cfg(""));
        let (m, shape) = f.render(&crate::stream::TEST, &line("e-1", r#"{"a":"é"}"#)).unwrap();
        let pid = std::process::id();
        assert_eq!(
            String::from_utf8(m.bytes).unwrap(),
            format!(
                "<134>1 2023-03-03T09:10:06.051281Z web-1 esign-collector {pid} test_events \
                 [esign@32473 event_id=\"e-1\"] {{\"a\":\"é\"}}"
            )
        );
        assert_eq!((shape, m.event_id.as_str()), (Shape::Whole, "e-1"));
    }

    #[test]
    fn sd_values_are_escaped() {
        assert_eq!(escape_sd_value(r#"a"b\c]d[e"#), r#"a\"b\\c\]d[e"#);
        let f = Formatter::new(&cfg("facility = \"authpriv\"\nseverity = \"notice\""));
        let h = f.header(&crate::stream::TEST, &line(r#"x"]"#, "{}"));
        assert!(h.starts_with("<85>1 "), "{h}");
        assert!(h.ends_with(r#" test_events [esign@32473 event_id="x\"\]"] "#), "{h}");
    }

    #[test]
    fn rfc3164_layout() {
        let f = Formatter::new(&cfg("protocol = \"rfc3164\"\nfacility = \"auth\"\nseverity = \"warning\""));
        let mut l = line("e", "{}");
        l.time = "2024-05-01T07:08:09Z".into();
        assert_eq!(
            f.header(&crate::stream::TEST, &l),
            format!("<36>May  1 07:08:09 web-1 esign-collector[{}]: ", std::process::id())
        );
    }

    #[test]
    fn times() {
        assert_eq!(rfc5424_time("2024-05-01T07:08:09Z"), "2024-05-01T07:08:09Z");
        assert_eq!(rfc5424_time("2024-05-01T07:08:09.5+02:00"), "2024-05-01T05:08:09.5Z");
        assert_eq!(rfc5424_time(""), "-");
        assert_eq!(rfc5424_time("yesterday"), "-");
        assert_eq!(rfc3164_time("2024-12-24T17:00:00.123Z"), "Dec 24 17:00:00");
        assert_eq!(rfc3164_time("nonsense").len(), 15);
    }

    #[test]
    fn octet_counting_counts_bytes() {
        let mut out = Vec::new();
        octet_frame("héllo ✓".as_bytes(), &mut out);
        octet_frame(b"a\nb", &mut out);
        assert_eq!(out, "10 héllo ✓3 a\nb".as_bytes());
    }

    #[test]
    fn newline_framing_keeps_one_record_per_message() {
        let mut out = Vec::new();
        assert_eq!(newline_frame(b"a", &mut out), 0);
        let pretty = b"{\r\n  \"k\": \"v\\n\",\n\0 \"n\": 1\n}";
        assert_eq!(newline_frame(pretty, &mut out), 5);
        assert_eq!(out, b"a\n{    \"k\": \"v\\n\",   \"n\": 1 }\n");
        let json = &out[2..out.len() - 1];
        let v: serde_json::Value = serde_json::from_slice(json).unwrap();
        assert_eq!(v, serde_json::json!({"k": "v\n", "n": 1}), "same value, escaped LF untouched");
    }

    #[test]
    fn oversize_events_are_cut_to_the_limit() {
        let f = Formatter::new(&cfg("max_message_size = 1024"));
        let big = format!(r#"{{"event_id":"e","detail":"{}"}}"#, "x".repeat(5000));
        let (m, shape) = f.render(&crate::stream::TEST, &line("e", &big)).unwrap();
        assert_eq!(shape, Shape::Shortened);
        assert!(m.bytes.len() <= 1024 && m.bytes.len() > 900, "{}", m.bytes.len());
        let huge_id = "i".repeat(2000);
        let e = f.render(&crate::stream::TEST, &line(&huge_id, "{}")).unwrap_err();
        assert!(e.contains("raise max_message_size"), "{e}");
    }

    #[test]
    fn hostnames_are_sanitized() {
        assert_eq!(sanitize_hostname(b"a b\x01c"), "a_b_c");
        assert_eq!(sanitize_hostname(b""), "-");
        assert_eq!(sanitize_hostname(&[b'h'; 300]).len(), 255);
        assert!(!machine_hostname().is_empty());
    }
}
