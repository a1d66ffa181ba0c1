//! A scriptable receiver for the http sink tests, on 127.0.0.1:0 in the test's own runtime.
//! It speaks NDJSON (any other path), Splunk HEC (`/services/collector/event` and `/ack`) and
//! Elasticsearch `_bulk` (with `create` semantics: a known `_id` answers 409), records every
//! request with its body gzip-decoded, and can be scripted to fail: whole-request replies in
//! order, 413 above a body size, a wrong-token check that echoes what it got, per-event bulk
//! item statuses, a HEC invalid event, indexer acknowledgement, a hung reply. Optionally TLS,
//! with or without a required client certificate.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::missing_panics_doc)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    /// `Content-Encoding: gzip` was set (and the body decoded).
    pub gzip: bool,
    /// The body as it came over the wire.
    pub wire_bytes: usize,
    /// The decoded body.
    pub body: Vec<u8>,
    /// What we answered (0: hung).
    pub status: u16,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| v.to_str().unwrap().to_owned())
    }
}

/// A scripted whole-request reply.
#[derive(Debug, Clone)]
pub enum Reply {
    Status {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// Never answer.
    Hang,
}

impl Reply {
    pub fn status(status: u16, body: &str) -> Self {
        Reply::Status { status, headers: Vec::new(), body: body.to_owned() }
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        if let Reply::Status { headers, .. } = &mut self {
            headers.push((name, value.to_owned()));
        }
        self
    }
}

/// What the receiver should do.
#[derive(Debug, Default)]
pub struct Script {
    /// Replies used, one per event/bulk request, before the protocol logic.
    pub replies: VecDeque<Reply>,
    /// 413 when the decoded body is larger.
    pub max_body: Option<usize>,
    /// The `Authorization` value required; others get 401 (HEC: 403 code 4) echoing it.
    pub expect_auth: Option<String>,
    /// Bulk: statuses to answer for an event id, in order, before it is created.
    pub item_faults: HashMap<String, VecDeque<(u16, &'static str)>>,
    /// HEC: answer this code with `invalid-event-number` when the event with this id comes.
    pub hec_invalid: Option<(String, i64)>,
    /// HEC: hand out `ackId`s.
    pub hec_ack: bool,
    /// HEC: acks read true only after this many polls.
    pub ack_after_polls: u32,
}

/// What the receiver got.
#[derive(Debug, Default)]
pub struct Seen {
    pub requests: Vec<Recorded>,
    /// Accepted NDJSON lines or HEC envelopes, in order.
    pub events: Vec<Value>,
    /// Bulk: created documents by `_id`, in creation order.
    pub docs: Vec<(String, Value)>,
    pub doc_ids: HashSet<String>,
    /// Bulk: every action line received.
    pub actions: Vec<Value>,
    /// HEC: ack poll bodies.
    pub ack_polls: Vec<(String, Value)>,
    pub next_ack: u64,
}

#[derive(Debug, Default)]
pub struct Inner {
    pub script: Script,
    pub seen: Seen,
}

type Shared = Arc<Mutex<Inner>>;

/// A running receiver.
#[derive(Debug, Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    pub inner: Shared,
    /// TLS handshakes that failed (TLS receivers only).
    pub tls_failures: Arc<AtomicUsize>,
}

impl Receiver {
    /// Plain HTTP.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let inner = Shared::default();
        let app = router(inner.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, inner, tls_failures: Arc::default() }
    }

    /// HTTPS with the test CA's server certificate; `client_ca` requires a client certificate.
    pub async fn start_tls(client_ca: bool) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let inner = Shared::default();
        let tls_failures = Arc::new(AtomicUsize::new(0));
        let tls = TlsListener { tcp: listener, acceptor: acceptor(client_ca), failures: tls_failures.clone() };
        let app = router(inner.clone());
        tokio::spawn(async move { axum::serve(tls, app).await.unwrap() });
        Self { addr, inner, tls_failures }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn script<R>(&self, f: impl FnOnce(&mut Script) -> R) -> R {
        f(&mut self.inner.lock().unwrap().script)
    }

    pub fn seen<R>(&self, f: impl FnOnce(&Seen) -> R) -> R {
        f(&self.inner.lock().unwrap().seen)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.seen(|s| s.requests.clone())
    }
}

fn router(inner: Shared) -> Router {
    Router::new().fallback(handle).layer(axum::extract::DefaultBodyLimit::disable()).with_state(inner)
}

/// What to answer.
enum Out {
    Reply(u16, Vec<(&'static str, String)>, String),
    Hang,
}

fn out(status: u16, body: &Value) -> Out {
    Out::Reply(status, vec![("content-type", "application/json".into())], body.to_string())
}

async fn handle(State(inner): State<Shared>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let gzip = headers.get("content-encoding").is_some_and(|v| v == "gzip");
    let decoded = if gzip {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut out).unwrap();
        out
    } else {
        body.to_vec()
    };
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or_default().to_owned();
    let decision = {
        let mut g = inner.lock().unwrap();
        let decision = decide(&mut g, &path, &query, &headers, &decoded);
        let status = match &decision {
            Out::Reply(s, ..) => *s,
            Out::Hang => 0,
        };
        g.seen.requests.push(Recorded { path, query, headers, gzip, wire_bytes: body.len(), body: decoded, status });
        decision
    };
    match decision {
        Out::Hang => std::future::pending().await,
        Out::Reply(status, hs, body) => {
            let mut r = (StatusCode::from_u16(status).unwrap(), body).into_response();
            for (k, v) in hs {
                r.headers_mut().insert(k, v.parse().unwrap());
            }
            r
        }
    }
}

fn decide(g: &mut Inner, path: &str, query: &str, headers: &HeaderMap, body: &[u8]) -> Out {
    let hec = path.starts_with("/services/collector");
    if let Some(expect) = &g.script.expect_auth {
        let got = headers.get("authorization").map(|v| v.to_str().unwrap_or("?").to_owned()).unwrap_or_default();
        if &got != expect {
            return if hec {
                out(403, &json!({ "text": format!("Invalid token (got {got})"), "code": 4 }))
            } else {
                Out::Reply(401, vec![], format!("bad credentials: {got}"))
            };
        }
    }
    if path.ends_with("/services/collector/ack") {
        let polls: Value = serde_json::from_slice(body).unwrap();
        g.seen.ack_polls.push((query.to_owned(), polls.clone()));
        let ready = u32::try_from(g.seen.ack_polls.len()).unwrap() > g.script.ack_after_polls;
        let acks: serde_json::Map<String, Value> =
            polls["acks"].as_array().unwrap().iter().map(|id| (id.to_string(), Value::Bool(ready))).collect();
        return out(200, &json!({ "acks": acks }));
    }
    if g.script.max_body.is_some_and(|m| body.len() > m) {
        return Out::Reply(413, vec![], "Request Entity Too Large".into());
    }
    match g.script.replies.pop_front() {
        Some(Reply::Hang) => return Out::Hang,
        Some(Reply::Status { status, headers, body }) => return Out::Reply(status, headers, body),
        None => {}
    }
    if hec {
        hec_event(g, headers, body)
    } else if path.ends_with("/_bulk") {
        bulk(g, body)
    } else {
        for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            g.seen.events.push(serde_json::from_slice(line).unwrap());
        }
        Out::Reply(200, vec![], "ok".into())
    }
}

fn hec_event(g: &mut Inner, headers: &HeaderMap, body: &[u8]) -> Out {
    let mut events = Vec::new();
    for v in serde_json::Deserializer::from_slice(body).into_iter::<Value>() {
        match v {
            Ok(v) => events.push(v),
            Err(_) => {
                return out(
                    400,
                    &json!({ "text": "Invalid data format", "code": 6, "invalid-event-number": events.len() }),
                );
            }
        }
    }
    if let Some((bad, code)) = g.script.hec_invalid.clone()
        && let Some(pos) = events.iter().position(|e| e["event"]["event_id"] == bad.as_str())
    {
        // Like Splunk: the events before the invalid one are indexed.
        g.seen.events.extend(events.drain(..pos));
        return out(400, &json!({ "text": "Invalid data format", "code": code, "invalid-event-number": pos }));
    }
    g.seen.events.extend(events);
    if g.script.hec_ack {
        if !headers.contains_key("x-splunk-request-channel") {
            return out(400, &json!({ "text": "Data channel is missing", "code": 10 }));
        }
        let id = g.seen.next_ack;
        g.seen.next_ack += 1;
        return out(200, &json!({ "text": "Success", "code": 0, "ackId": id }));
    }
    out(200, &json!({ "text": "Success", "code": 0 }))
}

fn bulk(g: &mut Inner, body: &[u8]) -> Out {
    let lines: Vec<Value> =
        body.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect();
    let mut items = Vec::new();
    for pair in lines.chunks(2) {
        let [action, doc] = pair else { panic!("odd number of bulk lines") };
        g.seen.actions.push(action.clone());
        let meta = &action["create"];
        let id = meta["_id"].as_str().unwrap().to_owned();
        let fault = g.script.item_faults.get_mut(&id).and_then(VecDeque::pop_front);
        let (status, error) = match fault {
            Some((s, kind)) => (s, Some(kind)),
            None if g.seen.doc_ids.contains(&id) => (409, Some("version_conflict_engine_exception")),
            None => {
                g.seen.doc_ids.insert(id.clone());
                g.seen.docs.push((id.clone(), doc.clone()));
                (201, None)
            }
        };
        let mut item = json!({ "_index": meta["_index"], "_id": id, "status": status });
        if let Some(kind) = error {
            item["error"] = json!({ "type": kind, "reason": format!("[{id}]: scripted {kind}") });
        }
        items.push(json!({ "create": item }));
    }
    let errors = items.iter().any(|i| i["create"]["status"] != 201);
    out(200, &json!({ "took": 1, "errors": errors, "items": items }))
}

/// A listener that accepts and never answers (not even the TLS or HTTP handshake).
pub async fn black_hole() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(s);
        }
    });
    (addr, accepted)
}

/// TLS in front of axum: handshakes happen in `accept`, failures are counted and skipped.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    failures: Arc<AtomicUsize>,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((s, a)) = self.tcp.accept().await else { continue };
            match self.acceptor.accept(s).await {
                Ok(t) => return (t, a),
                Err(_) => {
                    self.failures.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

fn acceptor(client_ca: bool) -> tokio_rustls::TlsAcceptor {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(SERVER_PEM.as_bytes()).collect::<Result<_, _>>().unwrap();
    let key = PrivateKeyDer::from_pem_slice(SERVER_KEY.as_bytes()).unwrap();
    let builder =
        rustls::ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions().unwrap();
    let builder = if client_ca {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_slice(CA_PEM.as_bytes()).unwrap()).unwrap();
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build().unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut cfg = builder.with_single_cert(chain, key).unwrap();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
}

// Test PKI (EC P-256, valid 2000-01-01 to 2126-01-01), made with OpenSSL 3:
//   openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out {ca,server,client}.key
//   openssl ca -selfsign … -startdate 20000101000000Z -enddate 21260101000000Z   (CA:TRUE)
//   openssl ca … server.csr  (SAN IP:127.0.0.1, DNS:localhost; serverAuth)
//   openssl ca … client.csr  (CN=esign-collector; clientAuth)
pub const CA_PEM: &str = "\
-----BEGIN CERTIFICATE-----\n\
MIIBdzCCAR6gAwIBAgICEAAwCgYIKoZIzj0EAwIwIjEgMB4GA1UEAwwXZXNpZ24t\n\
Y29sbGVjdG9yIHRlc3QgQ0EwIBcNMDAwMTAxMDAwMDAwWhgPMjEyNjAxMDEwMDAw\n\
MDBaMCIxIDAeBgNVBAMMF2VzaWduLWNvbGxlY3RvciB0ZXN0IENBMFkwEwYHKoZI\n\
zj0CAQYIKoZIzj0DAQcDQgAE05RLB3IuHL1ci/oAU79JkPxZS5ncPMTHFw52zL5T\n\
Brh6d2KfktQyhEsmaZ8EJdeQAP9a/JS9vCBXhOGTBOuMN6NCMEAwDwYDVR0TAQH/\n\
BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAQYwHQYDVR0OBBYEFOlkl4HLv+OYxJwZt7OE\n\
fjL6ik2vMAoGCCqGSM49BAMCA0cAMEQCIB3qKUKZP9dtfFerC0FjsMZzXliPxJ8B\n\
cPuWCtbuDfc/AiAPjGRAE1QuzgHp+U9gJ0nDEmcCSK/NAetraaU4gbE1eg==\n\
-----END CERTIFICATE-----\n\
";

pub const SERVER_PEM: &str = "\
-----BEGIN CERTIFICATE-----\n\
MIIBtzCCAV6gAwIBAgICEAEwCgYIKoZIzj0EAwIwIjEgMB4GA1UEAwwXZXNpZ24t\n\
Y29sbGVjdG9yIHRlc3QgQ0EwIBcNMDAwMTAxMDAwMDAwWhgPMjEyNjAxMDEwMDAw\n\
MDBaMBQxEjAQBgNVBAMMCWxvY2FsaG9zdDBZMBMGByqGSM49AgEGCCqGSM49AwEH\n\
A0IABDAlkR7C6s/c/yLLxIOWOoZd4nB40xJnxSiA/btPoRTjH9qrHYEvdJjN9OFl\n\
7EubA7n0eRPYHl008ufQGd8WaPSjgY8wgYwwGgYDVR0RBBMwEYcEfwAAAYIJbG9j\n\
YWxob3N0MAkGA1UdEwQCMAAwDgYDVR0PAQH/BAQDAgeAMBMGA1UdJQQMMAoGCCsG\n\
AQUFBwMBMB0GA1UdDgQWBBRoVmIP7l7xNSk+bTio6LnRUe2izTAfBgNVHSMEGDAW\n\
gBTpZJeBy7/jmMScGbezhH4y+opNrzAKBggqhkjOPQQDAgNHADBEAiAQ1l4Y6KDA\n\
Tg0bfN3Uyu8SPZZjgkIK+pz5qI//RNqDoQIgFCWhmS33Px+lskrNJ94xDXGK797a\n\
qXoQ48pXgfJyRb4=\n\
-----END CERTIFICATE-----\n\
";

pub const SERVER_KEY: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg/YxXnpRdR8j7SABn\n\
UD4gRzhpEpIGLy48kSTZ3fiRYP2hRANCAAQwJZEewurP3P8iy8SDljqGXeJweNMS\n\
Z8UogP27T6EU4x/aqx2BL3SYzfThZexLmwO59HkT2B5dNPLn0BnfFmj0\n\
-----END PRIVATE KEY-----\n\
";

pub const CLIENT_PEM: &str = "\
-----BEGIN CERTIFICATE-----\n\
MIIBoDCCAUagAwIBAgICEAIwCgYIKoZIzj0EAwIwIjEgMB4GA1UEAwwXZXNpZ24t\n\
Y29sbGVjdG9yIHRlc3QgQ0EwIBcNMDAwMTAxMDAwMDAwWhgPMjEyNjAxMDEwMDAw\n\
MDBaMBoxGDAWBgNVBAMMD2VzaWduLWNvbGxlY3RvcjBZMBMGByqGSM49AgEGCCqG\n\
SM49AwEHA0IABB2/zO3/hBVQ5N08hkVpZglmQEAVEElSf3oT3xDY5r/W3x4GfLTD\n\
yig/dLjZVXX4UQB7MiW1rY5ioGuY1qinWUyjcjBwMAkGA1UdEwQCMAAwDgYDVR0P\n\
AQH/BAQDAgeAMBMGA1UdJQQMMAoGCCsGAQUFBwMCMB0GA1UdDgQWBBSdDS2bTmS2\n\
8lGtwwJIxsmUiY1v4DAfBgNVHSMEGDAWgBTpZJeBy7/jmMScGbezhH4y+opNrzAK\n\
BggqhkjOPQQDAgNIADBFAiAMyUBvvfDnWrCVubfLk7kmrNy2JdWZf7TyPmWLSSgq\n\
UwIhANMzr5f9Oh4Vpj9kf/69WcuHCrgwbE1pW6Tg+9+LIpcN\n\
-----END CERTIFICATE-----\n\
";

pub const CLIENT_KEY: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg/PfwQKJ73s7HvV2E\n\
R+Kb83rQWvP40U86fahg6OGtnFahRANCAAQdv8zt/4QVUOTdPIZFaWYJZkBAFRBJ\n\
Un96E98Q2Oa/1t8eBny0w8ooP3S42VV1+FEAezIlta2OYqBrmNaop1lM\n\
-----END PRIVATE KEY-----\n\
";
