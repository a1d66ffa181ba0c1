//! `--trace-http FILE`: every DocuSign request and reply (OAuth included) as JSON lines for
//! support cases, with secrets redacted (see `redact.rs`) and each body capped.
//!
//! One process-wide trace is installed by `main` before the command runs; [`super::Api`]
//! picks it up when it is built, so no configuration or context type carries it.

use std::fs::File;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde_json::{Map, Value, json};
use tracing::warn;

use super::redact;
use crate::values::ConfigError;

static GLOBAL: OnceLock<Arc<HttpTrace>> = OnceLock::new();

/// An open trace file. Lines are written whole, one `write_all` each.
pub struct HttpTrace {
    path: PathBuf,
    file: Mutex<Option<File>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for HttpTrace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTrace").field("path", &self.path).finish_non_exhaustive()
    }
}

/// Opens (creating with mode 600, or appending to) `path` and makes it the trace every
/// [`super::Api`] built afterwards writes to.
///
/// # Errors
/// `ConfigError::Argument` when the file cannot be opened or made private.
pub fn install(path: &Path) -> Result<(), ConfigError> {
    let trace = HttpTrace::open(path)?;
    // A second install (not done by the binary) keeps the first file.
    GLOBAL.set(Arc::new(trace)).unwrap_or_default();
    Ok(())
}

/// The installed trace, if any.
pub(crate) fn global() -> Option<Arc<HttpTrace>> {
    GLOBAL.get().cloned()
}

impl HttpTrace {
    /// Opens `path` for appending; a new file gets mode 600, an existing one is made 600.
    ///
    /// # Errors
    /// `ConfigError::Argument` naming the file.
    pub fn open(path: &Path) -> Result<Self, ConfigError> {
        let err = |e: std::io::Error| ConfigError::Argument {
            arg: "--trace-http".into(),
            message: format!("cannot open {}: {e}", path.display()),
        };
        let file = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path).map_err(err)?;
        // The file may have existed with a wider mode: traces hold account data.
        file.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(err)?;
        Ok(Self { path: path.to_owned(), file: Mutex::new(Some(file)), next_id: AtomicU64::new(1) })
    }

    fn write(&self, mut line: Map<String, Value>) {
        let mut full = Map::new();
        full.insert(
            "ts".into(),
            Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        );
        full.append(&mut line);
        let mut text = Value::Object(full).to_string();
        text.push('\n');
        let mut guard = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(f) = guard.as_mut()
            && let Err(e) = f.write_all(text.as_bytes())
        {
            warn!(path = %self.path.display(), error = %e, "Cannot write the HTTP trace; tracing stops, the run goes on.");
            *guard = None;
        }
    }

    /// Records a request about to be sent and returns the handle for its outcome.
    pub(crate) fn request<'a>(&'a self, call: &'a str, attempt: u32, req: &reqwest::Request) -> Traced<'a> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let content_type = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
        let mut m = base("request", id, call, attempt);
        m.insert("method".into(), Value::String(req.method().to_string()));
        m.insert("url".into(), Value::String(redact::scrub_text(req.url().as_str())));
        m.insert("headers".into(), redact::headers(req.headers()));
        match req.body().map(|b| b.as_bytes()) {
            None => {}
            Some(Some(bytes)) => put_body(&mut m, content_type, bytes),
            Some(None) => {
                m.insert("body_note".into(), Value::String("streamed body, not recorded".into()));
            }
        }
        self.write(m);
        Traced { trace: self, id, call, attempt, started: Instant::now() }
    }
}

fn base(kind: &str, id: u64, call: &str, attempt: u32) -> Map<String, Value> {
    let v = json!({ "type": kind, "id": id, "call": call, "attempt": attempt });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn put_body(m: &mut Map<String, Value>, content_type: Option<&str>, bytes: &[u8]) {
    let body = redact::body(content_type, bytes);
    m.insert("body_bytes".into(), Value::from(bytes.len()));
    m.insert("body".into(), body.value);
    if let Some(note) = body.note {
        m.insert("body_note".into(), Value::String(note));
    }
}

/// One request in flight; records how it ended.
#[derive(Debug)]
pub(crate) struct Traced<'a> {
    trace: &'a HttpTrace,
    id: u64,
    call: &'a str,
    attempt: u32,
    started: Instant,
}

impl Traced<'_> {
    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The reply, with its whole body read.
    pub(crate) fn reply(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) {
        let mut m = base("reply", self.id, self.call, self.attempt);
        m.insert("status".into(), Value::from(status.as_u16()));
        m.insert("elapsed_ms".into(), Value::from(self.elapsed_ms()));
        m.insert("headers".into(), redact::headers(headers));
        put_body(&mut m, headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()), body);
        self.trace.write(m);
    }

    /// No usable reply: a connection error, a timeout, a body cut short.
    pub(crate) fn failed(&self, error: &str) {
        let mut m = base("error", self.id, self.call, self.attempt);
        m.insert("elapsed_ms".into(), Value::from(self.elapsed_ms()));
        m.insert("error".into(), Value::String(redact::scrub_text(error)));
        self.trace.write(m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_pair_up_and_the_file_is_private() {
        let (_dir, path) = crate::testkit::scratch_with("trace.jsonl", "");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let t = HttpTrace::open(&path).unwrap();
        let req = reqwest::Client::new()
            .post("http://127.0.0.1:9/oauth/token")
            .form(&[("assertion", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln")])
            .build()
            .unwrap();
        let traced = t.request("token request", 1, &req);
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, "application/json".parse().unwrap());
        traced.reply(StatusCode::OK, &h, br#"{"access_token":"sim.secret","expires_in":3600}"#);
        traced.failed("connection reset");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("sim.secret") && !text.contains("eyJ"), "{text}");
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["type"], "request");
        assert_eq!(lines[1]["type"], "reply");
        assert_eq!(lines[1]["id"], lines[0]["id"]);
        assert_eq!(lines[1]["body"]["expires_in"], 3600);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
