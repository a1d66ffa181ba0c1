//! Connections and how a stream transport's page is confirmed.
//!
//! TCP and TLS carry no acknowledgement, and a receiver that died can swallow the first write
//! after its death (the kernel accepts it; the RST comes later). So a page on `tcp`/`tls` is
//! confirmed in three steps, on a connection of its own:
//! 1. every framed message is written, then the write side is shut down (TLS: `close_notify`
//!    and FIN);
//! 2. the receiver's EOF is awaited: a receiver reads our FIN only after every byte before it,
//!    and closes its side when it reads it (rsyslog and syslog-ng do);
//! 3. the kernel must report no unacknowledged byte and no socket error (`SIOCOUTQ`,
//!    `SO_ERROR`). This catches a receiver whose socket closed *before* our data arrived: its
//!    FIN reads as EOF, but the data it never took is answered by an RST, not an ACK.
//! 4. a second, empty session must go through steps 1 to 3 as well. A receiver killed after
//!    reading the page but before storing it closes its sockets just as a graceful one does
//!    (measured: rsyslog under SIGKILL, a few times in a thousand pages); the kernel closes its
//!    listener with it, so the empty session is refused and the page is sent again.
//!
//! Measured against rsyslog on loopback, this costs a few milliseconds per 1000 messages.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{Instant, timeout, timeout_at};
use tokio_rustls::client::TlsStream;

use super::config::HostPort;
use super::format::Message;
use super::pace::Pacer;
use super::tls::TlsSettings;

/// Bytes written per step, so `write_timeout` means "no progress for that long".
const CHUNK: usize = 64 * 1024;

/// A connected stream, plain or TLS.
#[derive(Debug)]
pub(super) enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref().0,
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

fn timed_out(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what)
}

/// Resolves `addr` (at every call, so DNS changes are followed).
async fn resolve(addr: &HostPort) -> io::Result<Vec<SocketAddr>> {
    let all: Vec<SocketAddr> = tokio::net::lookup_host((addr.host.as_str(), addr.port)).await?.collect();
    if all.is_empty() {
        return Err(io::Error::new(io::ErrorKind::NotFound, format!("{} resolves to no address", addr.host)));
    }
    Ok(all)
}

/// Connects to the first address of `addr` that accepts, TLS handshake included, within `limit`.
pub(super) async fn connect(addr: &HostPort, tls: Option<&TlsSettings>, limit: Duration) -> io::Result<Stream> {
    let attempt = async {
        let mut last = None;
        for a in resolve(addr).await? {
            match TcpStream::connect(a).await {
                Ok(tcp) => {
                    tcp.set_nodelay(true)?;
                    return match tls {
                        None => Ok(Stream::Plain(tcp)),
                        Some(t) => {
                            let s = t.connector.connect(t.server_name.clone(), tcp).await.map_err(explain_tls)?;
                            Ok(Stream::Tls(Box::new(s)))
                        }
                    };
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no address to connect to")))
    };
    timeout(limit, attempt).await.map_err(|_| timed_out(format!("no connection within {limit:?}")))?
}

/// Adds what to do to the TLS refusals an operator can fix on the receiver's side.
fn explain_tls(e: io::Error) -> io::Error {
    let text = e.to_string();
    if text.contains("CaUsedAsEndEntity") {
        return io::Error::new(
            e.kind(),
            format!(
                "{text}: the receiver presents a CA certificate (basicConstraints CA:TRUE, which \
                 `openssl req -x509` sets by default since OpenSSL 3) as its own, and that is refused. \
                 Give the receiver a leaf certificate with basicConstraints=CA:FALSE: either signed by \
                 a CA whose certificate is in ca_file, or self-signed with `-addext \
                 basicConstraints=critical,CA:FALSE` and itself in ca_file (README: TLS certificates)"
            ),
        );
    }
    e
}

/// Writes `framed`, half-closes, and returns only when the receiver confirmed it as the
/// module documentation describes.
///
/// # Errors
/// Any write error, a timeout, or a receiver that closed without taking every byte.
pub(super) async fn write_confirmed(stream: &mut Stream, framed: &[u8], limit: Duration) -> io::Result<()> {
    for chunk in framed.chunks(CHUNK) {
        timeout(limit, stream.write_all(chunk))
            .await
            .map_err(|_| timed_out(format!("the receiver took no bytes for {limit:?}")))??;
    }
    let closing = async {
        stream.flush().await?;
        stream.shutdown().await
    };
    timeout(limit, closing).await.map_err(|_| timed_out(format!("the receiver took no bytes for {limit:?}")))??;
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 1024];
    loop {
        let read = timeout_at(deadline, stream.read(&mut buf))
            .await
            .map_err(|_| timed_out(format!("the receiver did not close its side within {limit:?} of ours")))?;
        match read {
            Ok(0) => break,
            // The receiver has nothing to say on syslog-over-TCP; whatever it sends is ignored.
            Ok(_) => {}
            // A TLS receiver may close TCP without `close_notify`; that still says it read ours.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && matches!(stream, Stream::Tls(_)) => break,
            Err(e) => return Err(e),
        }
    }
    acknowledged(stream.tcp(), deadline).await
}

/// Step 4 of the module documentation: an empty session, confirmed like a page, which only a
/// receiver still running can complete.
///
/// # Errors
/// When the receiver refuses, resets or does not close the empty session.
pub(super) async fn still_accepting(
    addr: &HostPort,
    tls: Option<&TlsSettings>,
    connect_limit: Duration,
    limit: Duration,
) -> io::Result<()> {
    let attempt = async {
        let mut s = connect(addr, tls, connect_limit).await?;
        write_confirmed(&mut s, &[], limit).await
    };
    attempt.await.map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("the receiver closed after the page but then failed a check connection (it may have stopped before storing the page): {e}"),
        )
    })
}

/// Waits until the kernel says the peer acknowledged every byte we sent, FIN included.
async fn acknowledged(tcp: &TcpStream, deadline: Instant) -> io::Result<()> {
    loop {
        if let Some(e) = tcp.take_error()? {
            return Err(io::Error::new(e.kind(), format!("the receiver reset the connection: {e}")));
        }
        let unacked = unacknowledged_bytes(tcp)?;
        if unacked == 0 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(io::Error::other(format!(
                "the receiver closed the connection with {unacked} bytes it never acknowledged"
            )));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Bytes sent but not yet acknowledged by the peer (`SIOCOUTQ`, which on Linux counts our FIN).
#[cfg(target_os = "linux")]
fn unacknowledged_bytes(tcp: &TcpStream) -> io::Result<u64> {
    use std::os::fd::AsRawFd;
    let mut n: libc::c_int = 0;
    // SAFETY: the descriptor belongs to `tcp`, which is borrowed for the call; TIOCOUTQ
    // (== SIOCOUTQ) writes one c_int through the pointer, which points at `n`.
    let rc = unsafe { libc::ioctl(tcp.as_raw_fd(), libc::TIOCOUTQ, &raw mut n) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Elsewhere the receiver's EOF alone confirms the page.
#[cfg(not(target_os = "linux"))]
fn unacknowledged_bytes(_: &TcpStream) -> io::Result<u64> {
    Ok(0)
}

/// Sends every message not yet in `sent` as one datagram each, each in its `pacer` slot;
/// **best effort**: `Ok` means the kernel took them, not that anyone received them.
///
/// # Errors
/// Resolution, socket or send errors (e.g. an ICMP port-unreachable reported on a later send).
pub(super) async fn send_datagrams(
    addr: &HostPort,
    msgs: &[Message],
    sent: &mut [bool],
    limit: Duration,
    pacer: &mut Pacer,
) -> io::Result<()> {
    let target = *timeout(limit, resolve(addr))
        .await
        .map_err(|_| timed_out(format!("{} did not resolve within {limit:?}", addr.host)))??
        .first()
        .ok_or_else(|| io::Error::other("no address"))?;
    let local: SocketAddr = if target.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
    let sock = UdpSocket::bind(local).await?;
    sock.connect(target).await?;
    for (m, done) in msgs.iter().zip(sent.iter_mut()).filter(|(_, done)| !**done) {
        pacer.wait().await;
        let n = timeout(limit, sock.send(&m.bytes))
            .await
            .map_err(|_| timed_out(format!("the socket took no datagram for {limit:?}")))??;
        if n != m.bytes.len() {
            return Err(io::Error::other(format!("datagram cut to {n} of {} bytes", m.bytes.len())));
        }
        *done = true;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    const T: Duration = Duration::from_secs(5);

    async fn listener() -> (TcpListener, HostPort) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        (l, HostPort { host: "127.0.0.1".into(), port })
    }

    /// What the next connection to `l` sends before closing its side.
    async fn read_one(l: &TcpListener) -> Vec<u8> {
        let (mut s, _) = l.accept().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        got
    }

    #[tokio::test]
    async fn a_receiver_that_reads_to_the_end_confirms() {
        let (l, addr) = listener().await;
        let server = tokio::spawn(async move { read_one(&l).await });
        let mut s = connect(&addr, None, T).await.unwrap();
        let payload = vec![b'x'; 300_000];
        write_confirmed(&mut s, &payload, T).await.unwrap();
        assert_eq!(server.await.unwrap(), payload);
    }

    #[tokio::test]
    async fn a_receiver_closed_before_our_data_is_not_a_confirmation() {
        let (l, addr) = listener().await;
        let mut s = connect(&addr, None, T).await.unwrap();
        // The receiver takes the connection and closes it at once, as a dying daemon does.
        drop(l.accept().await.unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
        let e = write_confirmed(&mut s, b"12 lost message", T).await.unwrap_err();
        assert!(e.to_string().contains("reset") || e.to_string().contains("never acknowledged"), "{e}");
    }

    #[tokio::test]
    async fn a_receiver_gone_after_the_page_fails_the_check_connection() {
        let (l, addr) = listener().await;
        let server = tokio::spawn(async move {
            read_one(&l).await;
            // Read, then gone: listener and session close as under SIGKILL.
            drop(l);
        });
        let mut s = connect(&addr, None, T).await.unwrap();
        write_confirmed(&mut s, b"5 hello", T).await.unwrap();
        server.await.unwrap();
        let e = still_accepting(&addr, None, T, T).await.unwrap_err();
        assert!(e.to_string().contains("check connection"), "{e}");
    }

    #[tokio::test]
    async fn a_receiver_still_running_passes_the_check_connection() {
        let (l, addr) = listener().await;
        tokio::spawn(async move {
            loop {
                read_one(&l).await;
            }
        });
        let mut s = connect(&addr, None, T).await.unwrap();
        write_confirmed(&mut s, b"5 hello", T).await.unwrap();
        still_accepting(&addr, None, T, T).await.unwrap();
    }

    #[tokio::test]
    async fn a_receiver_that_never_closes_times_out() {
        let (l, addr) = listener().await;
        let server = tokio::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(3)).await;
            drop(s);
        });
        let mut s = connect(&addr, None, T).await.unwrap();
        let e = write_confirmed(&mut s, b"3 abc", Duration::from_millis(200)).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
        server.abort();
    }

    #[tokio::test]
    async fn nobody_listening_fails_to_connect() {
        let (l, addr) = listener().await;
        drop(l);
        assert!(connect(&addr, None, T).await.is_err());
    }

    #[tokio::test]
    async fn datagrams_are_sent_one_per_message() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = HostPort { host: "127.0.0.1".into(), port: server.local_addr().unwrap().port() };
        let msgs: Vec<Message> =
            ["a", "bé"].iter().map(|m| Message { event_id: (*m).into(), bytes: m.as_bytes().to_vec() }).collect();
        let mut sent = [false, false];
        send_datagrams(&addr, &msgs, &mut sent, T, &mut Pacer::new(1000)).await.unwrap();
        assert_eq!(sent, [true, true]);
        let mut buf = [0u8; 64];
        let n = server.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"a");
        let n = server.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], "bé".as_bytes());
    }
}
