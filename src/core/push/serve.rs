//! The push listener: accepts connections (TLS when configured), serves each with HTTP/1.1
//! through the receivers' router, bounds how long a client may take (the TLS handshake and the
//! request headers here; the body in `intake.rs`), and stops gracefully: new connections are
//! refused, requests in flight are answered, and idle connections are closed.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_service::Service as _;
use tracing::{debug, warn};

/// Longest the requests in flight may take to be answered once the listener stops.
const DRAIN: Duration = Duration::from_secs(30);

/// Accepts and serves connections until `stop` turns true, then waits (at most [`DRAIN`]) for
/// the requests in flight.
pub(super) async fn accept_loop(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    read_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    let graceful = GracefulShutdown::new();
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let mut accept_failing = false;
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            // A closed channel means the pipeline is ending anyway.
            _ = stop.wait_for(|s| *s) => break,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => {
                accept_failing = false;
                a
            }
            Err(e) => {
                // Out of file descriptors and the like: transient; logged once, not per attempt.
                if !accept_failing {
                    warn!(error = %e, "Push listener cannot accept connections; retrying.");
                }
                accept_failing = true;
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let conn = Connection { router: router.clone(), peer, read_timeout };
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            match acceptor {
                None => conn.serve(tcp, watcher).await,
                Some(a) => match tokio::time::timeout(read_timeout, a.accept(tcp)).await {
                    Ok(Ok(tls)) => conn.serve(tls, watcher).await,
                    Ok(Err(e)) => debug!(peer = %peer, error = %e, "Push connection: TLS handshake failed."),
                    Err(_) => debug!(peer = %peer, "Push connection: TLS handshake timed out."),
                },
            }
        });
    }
    drop(listener);
    let open = graceful.count();
    if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
        warn!(connections = open, "Push listener stopped before every request in flight was answered.");
    }
    Ok(())
}

/// One accepted connection.
struct Connection {
    router: Router,
    peer: SocketAddr,
    read_timeout: Duration,
}

impl Connection {
    async fn serve<S>(self, stream: S, watcher: hyper_util::server::graceful::Watcher)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let Self { router, peer, read_timeout } = self;
        let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            // What the handlers read to log the peer.
            req.extensions_mut().insert(ConnectInfo(peer));
            let mut router = router.clone();
            async move { router.call(req).await }
        });
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new()).header_read_timeout(read_timeout);
        if let Err(e) = watcher.watch(http.serve_connection(TokioIo::new(stream), svc)).await {
            debug!(peer = %peer, error = %e, "Push connection ended with an error.");
        }
    }
}
