//! RELP framing (rsyslog's Reliable Event Logging Protocol):
//! `TXNR SP COMMAND SP DATALEN [SP DATA] LF`, an incremental decoder for what the receiver
//! sends, and the transaction-number sequence.

/// The largest transaction number; the next one is 1 (0 is the server's own, e.g. `serverclose`).
pub(super) const MAX_TXNR: u32 = 999_999_999;

/// The largest DATA a receiver's frame may carry here. Answers are a few dozen bytes; a
/// larger length means the stream is not RELP, and buffering it would only cost memory.
const MAX_INBOUND_DATA: usize = 64 * 1024;

/// The transaction number after `t`: 1, 2, … 999 999 999, then 1 again.
pub(super) fn next_txnr(t: u32) -> u32 {
    if t >= MAX_TXNR { 1 } else { t + 1 }
}

/// Appends one frame to `out`.
pub(super) fn encode(out: &mut Vec<u8>, txnr: u32, command: &str, data: &[u8]) {
    out.extend_from_slice(format!("{txnr} {command} {}", data.len()).as_bytes());
    if !data.is_empty() {
        out.push(b' ');
        out.extend_from_slice(data);
    }
    out.push(b'\n');
}

/// One frame from the receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Frame {
    /// The transaction it answers (0 for the server's own commands).
    pub(super) txnr: u32,
    /// `rsp`, `serverclose`, …
    pub(super) command: String,
    /// DATA, possibly empty.
    pub(super) data: Vec<u8>,
}

/// The parts of an `rsp` DATA: `CODE [SP TEXT] [LF OFFERS]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Response {
    /// 200 means accepted.
    pub(super) code: u16,
    /// The human-readable text after the code.
    pub(super) text: String,
    /// What follows the first LF (the `open` answer's offers).
    pub(super) offers: String,
}

/// Reads an `rsp` DATA. An empty DATA (rsyslog answers `close` so) counts as 200.
///
/// # Errors
/// When the DATA does not start with a three-digit code.
pub(super) fn parse_response(data: &[u8]) -> Result<Response, String> {
    if data.is_empty() {
        return Ok(Response { code: 200, text: String::new(), offers: String::new() });
    }
    let text = String::from_utf8_lossy(data);
    let (first, offers) = text.split_once('\n').unwrap_or((&text, ""));
    let code = first.get(..3).filter(|c| c.bytes().all(|b| b.is_ascii_digit())).and_then(|c| c.parse().ok());
    let code = code.ok_or_else(|| format!("malformed RELP response {first:?}"))?;
    Ok(Response { code, text: first[3..].trim().to_owned(), offers: offers.to_owned() })
}

/// Splits the receiver's byte stream into frames; bytes may arrive in any pieces.
#[derive(Debug, Default)]
pub(super) struct Decoder {
    buf: Vec<u8>,
}

/// Where a field of the header ends.
enum Field<'a> {
    /// The field and the position after its terminator.
    Done(&'a [u8], usize, u8),
    /// The buffer ends inside the field.
    More,
}

fn field(buf: &[u8], start: usize, max: usize) -> Result<Field<'_>, String> {
    let rest = &buf[start..];
    match rest.iter().position(|b| *b == b' ' || *b == b'\n') {
        Some(0) => Err("empty field in a RELP frame header".into()),
        Some(n) if n <= max => Ok(Field::Done(&rest[..n], start + n + 1, rest[n])),
        Some(_) => Err("overlong field in a RELP frame header".into()),
        None if rest.len() > max => Err("overlong field in a RELP frame header".into()),
        None => Ok(Field::More),
    }
}

fn number(f: &[u8]) -> Result<u32, String> {
    if f.len() > 9 || !f.iter().all(u8::is_ascii_digit) {
        return Err(format!("bad number {:?} in a RELP frame header", String::from_utf8_lossy(f)));
    }
    std::str::from_utf8(f).ok().and_then(|s| s.parse().ok()).ok_or_else(|| "bad number in a RELP frame".into())
}

impl Decoder {
    /// Adds received bytes.
    pub(super) fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, or `None` until more bytes arrive.
    ///
    /// # Errors
    /// When the bytes are not RELP; the connection cannot be trusted after that.
    pub(super) fn next_frame(&mut self) -> Result<Option<Frame>, String> {
        let buf = &self.buf;
        let Field::Done(txnr, at, b' ') = field(buf, 0, 9)? else {
            return if buf.contains(&b'\n') { Err("truncated RELP frame header".into()) } else { Ok(None) };
        };
        let txnr = number(txnr)?;
        let Field::Done(command, at, b' ') = field(buf, at, 32)? else {
            return if buf[at..].contains(&b'\n') { Err("truncated RELP frame header".into()) } else { Ok(None) };
        };
        if !command.iter().all(u8::is_ascii_alphabetic) {
            return Err(format!("bad command {:?} in a RELP frame", String::from_utf8_lossy(command)));
        }
        let command = String::from_utf8_lossy(command).into_owned();
        let (len, at, sep) = match field(buf, at, 9)? {
            Field::Done(len, at, sep) => (number(len)? as usize, at, sep),
            Field::More => return Ok(None),
        };
        if len > MAX_INBOUND_DATA {
            return Err(format!("RELP frame of {len} bytes is larger than any answer"));
        }
        let (data, end) = match (sep, len) {
            (b'\n', 0) => (Vec::new(), at),
            (b' ', _) => {
                // DATA, then the LF trailer.
                if buf.len() < at + len + 1 {
                    return Ok(None);
                }
                if buf[at + len] != b'\n' {
                    return Err("RELP frame does not end with LF".into());
                }
                (buf[at..at + len].to_vec(), at + len + 1)
            }
            _ => return Err("RELP frame with data length but no data".into()),
        };
        self.buf.drain(..end);
        Ok(Some(Frame { txnr, command, data }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes() {
        let mut out = Vec::new();
        encode(&mut out, 1, "open", b"relp_version=0");
        encode(&mut out, 999_999_999, "close", b"");
        encode(&mut out, 2, "syslog", "é\n".as_bytes());
        assert_eq!(out, "1 open 14 relp_version=0\n999999999 close 0\n2 syslog 3 é\n\n".as_bytes());
    }

    #[test]
    fn txnr_wraps_to_one() {
        assert_eq!(next_txnr(1), 2);
        assert_eq!(next_txnr(999_999_998), 999_999_999);
        assert_eq!(next_txnr(MAX_TXNR), 1);
    }

    #[test]
    fn decodes_byte_by_byte() {
        let wire = b"1 rsp 93 200 OK\nrelp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\ncommands=syslog\n";
        let mut d = Decoder::default();
        for (i, b) in wire.iter().enumerate() {
            d.push(&[*b]);
            let f = d.next_frame().unwrap();
            assert_eq!(f.is_some(), i == wire.len() - 1, "at {i}");
            if let Some(f) = f {
                assert_eq!((f.txnr, f.command.as_str()), (1, "rsp"));
                let r = parse_response(&f.data).unwrap();
                assert_eq!((r.code, r.text.as_str()), (200, "OK"));
                assert!(r.offers.contains("commands=syslog"));
            }
        }
        assert_eq!(d.next_frame().unwrap(), None);
    }

    #[test]
    fn several_frames_in_one_read() {
        let mut d = Decoder::default();
        d.push(b"2 rsp 6 200 OK\n3 rsp 6 200 OK\n4 rsp 0\n0 serverclose 0\n5 rsp ");
        let mut got = Vec::new();
        while let Some(f) = d.next_frame().unwrap() {
            got.push((f.txnr, f.command, parse_response(&f.data).unwrap().code));
        }
        assert_eq!(
            got,
            [(2, "rsp".into(), 200), (3, "rsp".into(), 200), (4, "rsp".into(), 200), (0, "serverclose".into(), 200)]
        );
        assert_eq!(d.next_frame().unwrap(), None);
        d.push(b"8 500 busy\n");
        let f = d.next_frame().unwrap().unwrap();
        let r = parse_response(&f.data).unwrap();
        assert_eq!((f.txnr, r.code, r.text.as_str()), (5, 500, "busy"));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            &b"x rsp 6 200 OK\n"[..],
            b"1 r$p 0\n",
            b"1 rsp 3 abc!",
            b"1 rsp\n",
            b"1234567890 rsp 0\n",
            b"1 rsp 999999 ",
        ] {
            let mut d = Decoder::default();
            d.push(bad);
            assert!(d.next_frame().is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert!(parse_response(b"OK").is_err());
    }
}
