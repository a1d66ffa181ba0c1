//! The RELP client: one session per delivery attempt (`open`, every message as a `syslog`
//! command with up to `window` unanswered, then `close`). A message is delivered only when
//! its `rsp` says 200. `serverclose`, another code, a broken connection or silence past the
//! timeout fail the attempt; the messages still unanswered are sent again on a new session.

use std::collections::HashMap;
use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tracing::debug;

use super::format::Message;
use super::relp_frame::{Decoder, Frame, encode, next_txnr, parse_response};

/// Longest wait for the answer to `close`.
const CLOSE_LIMIT: Duration = Duration::from_secs(5);

/// What this client offers in `open`: the only command it sends is `syslog`.
const OFFERS: &[u8] = b"relp_version=0\nrelp_software=esign-collector\ncommands=syslog";

/// An open RELP session over `S`, read and written at the same time so that a large window
/// cannot deadlock (the receiver blocked writing answers we do not read while we are blocked
/// writing messages it does not read).
#[derive(Debug)]
pub(super) struct Session<'a, S> {
    reader: ReadHalf<&'a mut S>,
    writer: WriteHalf<&'a mut S>,
    decoder: Decoder,
    txnr: u32,
    timeout: Duration,
}

fn other(msg: String) -> io::Error {
    io::Error::other(msg)
}

/// What one wait on the connection brought.
enum Step {
    Wrote(usize),
    Read(usize),
}

impl<'a, S: AsyncRead + AsyncWrite + Unpin> Session<'a, S> {
    /// Opens a session whose first transaction number is 1.
    ///
    /// # Errors
    /// When the receiver does not answer 200 or does not offer the `syslog` command.
    pub(super) async fn open(stream: &'a mut S, timeout: Duration) -> io::Result<Self> {
        Self::open_at(stream, timeout, 1).await
    }

    /// Opens a session whose first transaction number is `first` (tests start near the wrap).
    pub(super) async fn open_at(stream: &'a mut S, timeout: Duration, first: u32) -> io::Result<Self> {
        let (reader, writer) = tokio::io::split(stream);
        let mut s = Self { reader, writer, decoder: Decoder::default(), txnr: first, timeout };
        let mut out = Vec::new();
        encode(&mut out, first, "open", OFFERS);
        s.write(&out).await?;
        let f = s.read_frame().await?;
        if f.command != "rsp" || f.txnr != first {
            return Err(other(format!("unexpected RELP frame {} {} in answer to open", f.txnr, f.command)));
        }
        let r = parse_response(&f.data).map_err(other)?;
        if r.code != 200 {
            return Err(other(format!("receiver refused the RELP session: {} {}", r.code, r.text)));
        }
        let syslog = r
            .offers
            .lines()
            .any(|l| l.strip_prefix("commands=").is_some_and(|v| v.split(',').any(|c| c.trim() == "syslog")));
        if !syslog {
            return Err(other(format!("receiver does not offer the RELP syslog command (offers: {:?})", r.offers)));
        }
        Ok(s)
    }

    fn silent(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("receiver neither took bytes nor answered for {:?}", self.timeout),
        )
    }

    async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        tokio::time::timeout(self.timeout, self.writer.write_all(bytes)).await.map_err(|_| self.silent())?
    }

    async fn read_frame(&mut self) -> io::Result<Frame> {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(f) = self.decoder.next_frame().map_err(other)? {
                return Ok(f);
            }
            let n =
                tokio::time::timeout(self.timeout, self.reader.read(&mut buf)).await.map_err(|_| self.silent())??;
            if n == 0 {
                return Err(closed());
            }
            self.decoder.push(&buf[..n]);
        }
    }

    /// Sends every message not yet in `acked`, at most `window` unanswered, and marks each one
    /// the receiver answers with 200.
    ///
    /// # Errors
    /// At the first refusal, `serverclose`, broken connection or timeout; `acked` then says
    /// which messages are safe.
    pub(super) async fn send_all(&mut self, msgs: &[Message], acked: &mut [bool], window: usize) -> io::Result<()> {
        let mut todo = (0..msgs.len()).filter(|i| !acked[*i]).collect::<Vec<_>>().into_iter();
        let mut pending: HashMap<u32, usize> = HashMap::new();
        let (mut out, mut written) = (Vec::new(), 0usize);
        let mut buf = [0u8; 4096];
        loop {
            while let Some(f) = self.decoder.next_frame().map_err(other)? {
                match f.command.as_str() {
                    "rsp" => {
                        let i = pending.remove(&f.txnr).ok_or_else(|| {
                            other(format!("receiver answered transaction {} that is not outstanding", f.txnr))
                        })?;
                        let r = parse_response(&f.data).map_err(other)?;
                        if r.code != 200 {
                            return Err(other(format!(
                                "receiver refused event {:?} with RELP {} {}",
                                msgs[i].event_id, r.code, r.text
                            )));
                        }
                        acked[i] = true;
                    }
                    "serverclose" => return Err(other("receiver ended the RELP session (serverclose)".into())),
                    c => return Err(other(format!("unexpected RELP command {c:?} from the receiver"))),
                }
            }
            while pending.len() < window.max(1) {
                let Some(i) = todo.next() else { break };
                self.txnr = next_txnr(self.txnr);
                encode(&mut out, self.txnr, "syslog", &msgs[i].bytes);
                pending.insert(self.txnr, i);
            }
            if pending.is_empty() {
                return Ok(());
            }
            let step = async {
                tokio::select! {
                    w = self.writer.write(&out[written..]), if written < out.len() => w.map(Step::Wrote),
                    r = self.reader.read(&mut buf) => r.map(Step::Read),
                }
            };
            match tokio::time::timeout(self.timeout, step).await.map_err(|_| self.silent())?? {
                Step::Wrote(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "receiver took no bytes")),
                Step::Wrote(n) => {
                    written += n;
                    if written == out.len() {
                        out.clear();
                        written = 0;
                    }
                }
                Step::Read(0) => return Err(closed()),
                Step::Read(n) => self.decoder.push(&buf[..n]),
            }
        }
    }

    /// Ends the session politely. Every message is already confirmed, so a failure here only
    /// gets a debug line.
    pub(super) async fn close(mut self) {
        self.txnr = next_txnr(self.txnr);
        let close = self.txnr;
        let mut out = Vec::new();
        encode(&mut out, close, "close", b"");
        let limit = CLOSE_LIMIT.min(self.timeout);
        let answered = async {
            self.write(&out).await?;
            loop {
                let f = self.read_frame().await?;
                if f.txnr == close || f.command == "serverclose" {
                    return Ok::<(), io::Error>(());
                }
            }
        };
        // Every message is confirmed already: a receiver slow to answer `close` is not worth
        // holding the page for.
        match tokio::time::timeout(limit, answered).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => debug!(error = %e, "RELP close was not answered; every message was already confirmed."),
            Err(_) => debug!("RELP close was not answered in time; every message was already confirmed."),
        }
    }
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "receiver closed the connection")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::DuplexStream;

    fn msgs(n: usize) -> Vec<Message> {
        (0..n)
            .map(|i| Message { event_id: format!("e{i}"), bytes: format!("<134>1 - - - - - - m{i}").into_bytes() })
            .collect()
    }

    /// A RELP receiver scripted per transaction: `answer(txnr, command, data)` returns the
    /// bytes to send back (written one byte at a time when `trickle`), or `None` to hang up.
    async fn receiver(
        mut s: DuplexStream,
        trickle: bool,
        mut answer: impl FnMut(u32, &str, &[u8]) -> Option<Vec<u8>>,
    ) -> Vec<String> {
        let mut d = Decoder::default();
        let mut seen = Vec::new();
        let mut buf = [0u8; 512];
        loop {
            let n = s.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                return seen;
            }
            d.push(&buf[..n]);
            let mut reply = Vec::new();
            while let Some(f) = d.next_frame().unwrap() {
                seen.push(format!("{} {} {}", f.txnr, f.command, String::from_utf8_lossy(&f.data)));
                match answer(f.txnr, &f.command, &f.data) {
                    Some(r) => reply.extend_from_slice(&r),
                    None => return seen,
                }
            }
            let chunk = if trickle { 1 } else { reply.len().max(1) };
            for piece in reply.chunks(chunk) {
                if s.write_all(piece).await.is_err() {
                    return seen;
                }
            }
        }
    }

    fn ok(txnr: u32, command: &str) -> Vec<u8> {
        let mut out = Vec::new();
        match command {
            "open" => encode(&mut out, txnr, "rsp", b"200 OK\nrelp_version=0\ncommands=syslog"),
            "close" => {
                encode(&mut out, txnr, "rsp", b"");
                encode(&mut out, 0, "serverclose", b"");
            }
            _ => encode(&mut out, txnr, "rsp", b"200 OK"),
        }
        out
    }

    const T: Duration = Duration::from_secs(5);

    /// Sends what of `m` is not yet `acked` to a receiver that accepts everything, over a
    /// `buffer`-byte pipe and a session whose first transaction number is `first`, then closes
    /// the session; the frames the receiver saw.
    async fn deliver(
        buffer: usize,
        trickle: bool,
        first: u32,
        m: &[Message],
        acked: &mut [bool],
        window: usize,
    ) -> Vec<String> {
        let (mut client, server) = tokio::io::duplex(buffer);
        let server = tokio::spawn(receiver(server, trickle, |t, c, _| Some(ok(t, c))));
        let mut s = Session::open_at(&mut client, T, first).await.unwrap();
        s.send_all(m, acked, window).await.unwrap();
        s.close().await;
        drop(client);
        server.await.unwrap()
    }

    #[tokio::test]
    async fn delivers_with_a_window_and_trickled_answers() {
        let m = msgs(300);
        let mut acked = vec![false; m.len()];
        let seen = deliver(64, true, 1, &m, &mut acked, 16).await;
        assert!(acked.iter().all(|a| *a));
        assert_eq!(seen.len(), 302);
        assert!(seen[0].starts_with("1 open relp_version=0\nrelp_software=esign-collector\ncommands=syslog"));
        assert_eq!(seen[1], "2 syslog <134>1 - - - - - - m0");
        assert_eq!(seen[301], "302 close ");
    }

    #[tokio::test]
    async fn serverclose_fails_and_only_unanswered_messages_are_resent() {
        let (mut client, server) = tokio::io::duplex(4096);
        let server = tokio::spawn(receiver(server, false, |t, c, _| {
            let mut r = ok(t, c);
            if t == 6 {
                encode(&mut r, 0, "serverclose", b"");
            }
            Some(r)
        }));
        let m = msgs(10);
        let mut acked = vec![false; m.len()];
        let mut s = Session::open(&mut client, T).await.unwrap();
        let e = s.send_all(&m, &mut acked, 1).await.unwrap_err();
        assert!(e.to_string().contains("serverclose"), "{e}");
        assert_eq!(acked.iter().filter(|a| **a).count(), 5);
        drop(client);
        server.await.unwrap();

        let seen = deliver(4096, false, 1, &m, &mut acked, 4).await;
        assert!(acked.iter().all(|a| *a));
        assert_eq!(seen[1], "2 syslog <134>1 - - - - - - m5");
        assert_eq!(seen.len(), 1 + 5 + 1);
    }

    #[tokio::test]
    async fn a_refusal_names_the_event() {
        let (mut client, server) = tokio::io::duplex(4096);
        tokio::spawn(receiver(server, false, |t, c, _| {
            if t == 3 {
                let mut r = Vec::new();
                encode(&mut r, t, "rsp", b"500 queue full");
                return Some(r);
            }
            Some(ok(t, c))
        }));
        let m = msgs(4);
        let mut acked = vec![false; 4];
        let mut s = Session::open(&mut client, T).await.unwrap();
        let e = s.send_all(&m, &mut acked, 8).await.unwrap_err();
        assert!(e.to_string().contains("\"e1\" with RELP 500 queue full"), "{e}");
        assert_eq!(acked, [true, false, false, false]);
    }

    #[tokio::test]
    async fn transaction_numbers_wrap() {
        let seen: Vec<String> = deliver(4096, false, 999_999_998, &msgs(3), &mut [false; 3], 8)
            .await
            .iter()
            .map(|l| l.split(' ').take(2).collect::<Vec<_>>().join(" "))
            .collect();
        assert_eq!(seen, ["999999998 open", "999999999 syslog", "1 syslog", "2 syslog", "3 close"]);
    }

    #[tokio::test]
    async fn hang_up_and_silence_fail() {
        let (mut client, server) = tokio::io::duplex(4096);
        tokio::spawn(receiver(server, false, |t, c, _| (t < 3).then(|| ok(t, c))));
        let mut acked = vec![false; 5];
        let mut s = Session::open(&mut client, T).await.unwrap();
        let e = s.send_all(&msgs(5), &mut acked, 1).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");
        assert_eq!(acked, [true, false, false, false, false]);

        let (mut client, server) = tokio::io::duplex(4096);
        tokio::spawn(receiver(server, false, |t, c, _| (c == "open").then(|| ok(t, c)).or(Some(Vec::new()))));
        let mut s = Session::open(&mut client, Duration::from_millis(100)).await.unwrap();
        let e = s.send_all(&msgs(1), &mut [false], 1).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
    }

    #[tokio::test]
    async fn open_needs_200_and_the_syslog_command() {
        for answer in [&b"500 go away"[..], b"200 OK\nrelp_version=0\ncommands=other"] {
            let (mut client, server) = tokio::io::duplex(4096);
            tokio::spawn(receiver(server, false, move |t, _, _| {
                let mut r = Vec::new();
                encode(&mut r, t, "rsp", answer);
                Some(r)
            }));
            let e = Session::open(&mut client, T).await.unwrap_err();
            assert!(e.to_string().contains("refused") || e.to_string().contains("does not offer"), "{e}");
        }
    }
}
