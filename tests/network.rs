//! Proxy, trust roots and timeouts of the DocuSign client, through a tiny forward proxy on
//! 127.0.0.1 (plain HTTP, absolute-URI requests: the simulator speaks plain HTTP).
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)]

mod common;
#[path = "support/receiver.rs"]
mod receiver;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Harness, backlog, code, stderr};
use esign_sim::docusign::{Fault, FaultKind, Route};

const PROXY_VARS: [&str; 8] =
    ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"];

/// What the proxy forwarded: the absolute URI and the `Proxy-Authorization` header.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A forward proxy for plain-HTTP absolute-URI requests, one request per connection.
struct ForwardProxy {
    url: String,
    seen: Seen,
}

impl ForwardProxy {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Seen::default();
        let s = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let s = s.clone();
                std::thread::spawn(move || forward(conn, &s));
            }
        });
        Self { url, seen }
    }

    fn uris(&self) -> Vec<String> {
        self.seen.lock().unwrap().iter().map(|(u, _)| u.clone()).collect()
    }
}

fn forward(client: TcpStream, seen: &Seen) {
    client.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = request_line.split_whitespace();
    let (method, uri, version) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
    let target = url::Url::parse(uri).expect("a forward proxy gets absolute URIs");
    let mut head = format!(
        "{method} {}{} {version}\r\n",
        target.path(),
        target.query().map(|q| format!("?{q}")).unwrap_or_default()
    );
    let mut auth = None;
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap();
        let lname = name.to_ascii_lowercase();
        match lname.as_str() {
            "proxy-authorization" => auth = Some(value.trim().to_owned()),
            "connection" | "proxy-connection" | "keep-alive" => {}
            _ => {
                if lname == "content-length" {
                    length = value.trim().parse().unwrap();
                }
                head.push_str(&line);
            }
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    seen.lock().unwrap().push((uri.to_owned(), auth));
    let mut upstream =
        TcpStream::connect((target.host_str().unwrap(), target.port_or_known_default().unwrap())).unwrap();
    upstream.write_all(head.as_bytes()).unwrap();
    upstream.write_all(&body).unwrap();
    let mut reply = Vec::new();
    upstream.read_to_end(&mut reply).unwrap();
    let mut client = client;
    let _ = client.write_all(&reply);
    let _ = client.shutdown(std::net::Shutdown::Both);
}

fn set_docusign(h: &Harness, lines: &str) {
    let cfg =
        std::fs::read_to_string(&h.config).unwrap().replace("timeout = \"5s\"", &format!("timeout = \"5s\"\n{lines}"));
    std::fs::write(&h.config, cfg).unwrap();
}

fn append(h: &Harness, text: &str) {
    let mut cfg = std::fs::read_to_string(&h.config).unwrap();
    cfg.push_str(text);
    std::fs::write(&h.config, cfg).unwrap();
}

fn without_proxy_env(h: &Harness, args: &[&str]) -> assert_cmd::Command {
    let mut c = h.cmd(args);
    for v in PROXY_VARS {
        c.env_remove(v);
    }
    c
}

#[test]
fn the_configured_proxy_carries_every_call_and_its_password_stays_secret() {
    let h = Harness::start(backlog(5), 0);
    let proxy = ForwardProxy::start();
    let with_creds = proxy.url.replace("http://", "http://collector:s3cret-pw@");
    set_docusign(&h, &format!("proxy = \"{with_creds}\""));
    let trace = h.dir.path().join("trace.jsonl");
    let out = without_proxy_env(&h, &["--log-level", "trace", "--trace-http", trace.to_str().unwrap(), "fetch"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let uris = proxy.uris();
    assert!(uris.iter().any(|u| u.ends_with("/oauth/token")), "{uris:?}");
    assert!(uris.iter().any(|u| u.contains("/stream")), "{uris:?}");
    for (_, auth) in proxy.seen.lock().unwrap().iter() {
        // base64("collector:s3cret-pw")
        assert_eq!(auth.as_deref(), Some("Basic Y29sbGVjdG9yOnMzY3JldC1wdw=="));
    }
    let trace_text = std::fs::read_to_string(&trace).unwrap();
    for hay in [stderr(&out), String::from_utf8_lossy(&out.stdout).into_owned(), trace_text] {
        assert!(!hay.contains("s3cret-pw") && !hay.contains("Y29sbGVjdG9yOnMzY3JldC1wdw"), "the proxy password leaked");
    }
}

#[test]
fn network_no_proxy_bypasses_the_configured_proxy() {
    let h = Harness::start(backlog(5), 0);
    let proxy = ForwardProxy::start();
    set_docusign(&h, &format!("proxy = \"{}\"", proxy.url));
    append(&h, "\n[network]\nno_proxy = [\"127.0.0.1\"]\nconnect_timeout = \"2s\"\n");
    let out = without_proxy_env(&h, &["fetch"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(proxy.uris(), Vec::<String>::new());
    assert!(h.sim.stats().token_requests > 0);
}

#[test]
fn the_environment_proxy_is_honoured_and_no_proxy_bypasses_it() {
    let h = Harness::start(backlog(5), 0);
    let proxy = ForwardProxy::start();
    let out = without_proxy_env(&h, &["fetch"]).env("HTTP_PROXY", &proxy.url).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let through = proxy.uris().len();
    assert!(through >= 2, "token and stream went through the proxy: {:?}", proxy.uris());
    h.sim.append_events(3);
    let out = without_proxy_env(&h, &["fetch"])
        .env("HTTP_PROXY", &proxy.url)
        .env("NO_PROXY", "localhost,127.0.0.1")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
    assert_eq!(proxy.uris().len(), through, "NO_PROXY bypassed the proxy");
}

#[test]
fn unusable_trust_settings_are_config_errors() {
    let h = Harness::start(backlog(1), 0);
    let garbage = h.dir.path().join("ca.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let broken = h.dir.path().join("broken.pem");
    std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap();
    let missing = h.dir.path().join("missing.pem");
    let cases = [
        (format!("ca_file = \"{}\"", garbage.display()), "holds no PEM certificate"),
        (format!("ca_file = \"{}\"", broken.display()), "not a usable CA"),
        (format!("ca_file = \"{}\"", missing.display()), "cannot read"),
    ];
    let original = std::fs::read_to_string(&h.config).unwrap();
    for (line, says) in cases {
        std::fs::write(&h.config, &original).unwrap();
        set_docusign(&h, &line);
        let out = without_proxy_env(&h, &["fetch"]).output().unwrap();
        assert_eq!(code(&out), 2, "{line}: {}", stderr(&out));
        let e = stderr(&out);
        assert!(e.contains("docusign.ca_file") && e.contains(says), "{line}: {e}");
    }
    std::fs::write(&h.config, &original).unwrap();
    append(&h, "\n[network]\nca_file_only = true\n");
    let out = without_proxy_env(&h, &["fetch"]).output().unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("network.ca_file_only"), "{}", stderr(&out));
    assert_eq!(h.sim.stats().token_requests, 0, "nothing was sent");
}

#[test]
fn a_hung_reply_ends_at_the_request_timeout_as_unavailable() {
    let h = Harness::start(backlog(5), 0);
    let cfg = std::fs::read_to_string(&h.config).unwrap().replace("timeout = \"5s\"", "timeout = \"1s\"");
    std::fs::write(&h.config, cfg).unwrap();
    append(&h, "max_retries = 0\n");
    h.sim.push_fault(Fault { route: Route::Monitor, kind: FaultKind::Slow { millis: 30_000 }, times: 10 });
    let trace = h.dir.path().join("trace.jsonl");
    let out = without_proxy_env(&h, &["--trace-http", trace.to_str().unwrap(), "fetch"]).output().unwrap();
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert!(stderr(&out).to_lowercase().contains("timed out"), "{}", stderr(&out));
    let text = std::fs::read_to_string(&trace).unwrap();
    let failed: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["type"] == "error" && l["call"] == "Monitor stream")
        .collect();
    assert_eq!(failed.len(), 1, "{text}");
}

/// A TLS front on 127.0.0.1 with the test PKI's server certificate, passing the plain bytes
/// on to `upstream` (the simulator). Its runtime lives on its own thread.
fn tls_front(upstream: String) -> String {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(receiver::SERVER_PEM.as_bytes()).collect::<Result<_, _>>().unwrap();
    let key = PrivateKeyDer::from_pem_slice(receiver::SERVER_KEY.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                    let mut plain = tokio::net::TcpStream::connect(upstream).await.unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
    });
    format!("https://{}", rx.recv_timeout(Duration::from_secs(10)).unwrap())
}

#[test]
fn ca_file_makes_a_private_ca_trusted_and_ca_file_only_suffices() {
    let h = Harness::start(backlog(5), 0);
    let https = tls_front(h.base.trim_start_matches("http://").to_owned());
    let cfg = std::fs::read_to_string(&h.config).unwrap().replace(&h.base, &https);
    std::fs::write(&h.config, &cfg).unwrap();
    append(&h, "max_retries = 0\n");
    // Unknown CA: refused (a connection failure, so exit 5 after the retries).
    let out = without_proxy_env(&h, &["fetch"]).output().unwrap();
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert!(stderr(&out).to_lowercase().contains("certificate"), "{}", stderr(&out));
    let ca = h.dir.path().join("ca.pem");
    std::fs::write(&ca, receiver::CA_PEM).unwrap();
    set_docusign(&h, &format!("ca_file = \"{}\"", ca.display()));
    let out = without_proxy_env(&h, &["fetch"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 5);
    h.sim.append_events(2);
    append(&h, "\n[network]\nca_file_only = true\n");
    let out = without_proxy_env(&h, &["fetch"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
}
