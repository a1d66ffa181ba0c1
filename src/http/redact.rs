//! Secret removal, for every HTTP client. For the trace: header values, JSON and form
//! fields, URL query parameters and anything shaped like a JWT, so a trace file can be
//! attached to a support case; bodies are also capped here, keeping their shape where they
//! are JSON. For error messages: body excerpts, known secret values cut out of a reply that
//! may echo them (the http sink's credential), URLs without their query.

use reqwest::header::HeaderMap;
use serde_json::{Map, Value};

/// What replaces a secret.
pub(crate) const REDACTED: &str = "<redacted>";

/// Field names whose values are secrets wherever they appear (compared ignoring case).
const SECRET_KEYS: [&str; 7] =
    ["access_token", "refresh_token", "id_token", "assertion", "client_secret", "password", "secret_key"];

/// Form fields that are secrets only in a form body: the Authorization Code Grant's `code` and
/// PKCE `code_verifier` (a JSON `code` in an API reply is an error code, kept).
const SECRET_FORM_KEYS: [&str; 2] = ["code", "code_verifier"];

/// Headers whose values are secrets.
const SECRET_HEADERS: [&str; 5] =
    ["authorization", "proxy-authorization", "cookie", "set-cookie", "x-docusign-authentication"];

/// The most bytes of one body a trace line records.
pub(crate) const BODY_LIMIT: usize = 64 * 1024;

/// Elements kept of a long JSON array when a body is over [`BODY_LIMIT`].
const ARRAY_KEEP: usize = 10;

/// A short, printable excerpt of a reply body (300 characters at most), for error messages.
pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.chars().count() > 300 {
        format!("{}…", text.chars().take(300).collect::<String>())
    } else {
        text.to_owned()
    }
}

/// `text` with every occurrence of each known secret value cut out (a receiver may echo what
/// it got). Values under 4 characters are left alone: cutting them would mangle plain text.
pub fn cut_secrets<'a>(text: &str, secrets: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = text.to_owned();
    for s in secrets {
        if s.len() >= 4 {
            out = out.replace(s, REDACTED);
        }
    }
    out
}

/// A URL fit for logs and errors: without query and fragment (a query can carry a token,
/// e.g. HEC's `?token=`).
pub fn url_for_logs(u: &url::Url) -> String {
    let mut u = u.clone();
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

fn is_secret_key(k: &str) -> bool {
    SECRET_KEYS.iter().any(|s| s.eq_ignore_ascii_case(k))
}

/// Headers as a JSON object; secret values replaced (an `Authorization` keeps its scheme).
pub(crate) fn headers(h: &HeaderMap) -> Value {
    let mut out = Map::new();
    for name in h.keys() {
        let values: Vec<Value> = h
            .get_all(name)
            .iter()
            .map(|v| {
                let text = String::from_utf8_lossy(v.as_bytes());
                if SECRET_HEADERS.contains(&name.as_str()) {
                    match text.split_once(' ') {
                        Some((scheme, _)) if name.as_str().ends_with("authorization") => {
                            Value::String(format!("{scheme} {REDACTED}"))
                        }
                        _ => Value::String(REDACTED.to_owned()),
                    }
                } else {
                    Value::String(scrub_text(&text))
                }
            })
            .collect();
        let v = if values.len() == 1 { values.into_iter().next().unwrap_or(Value::Null) } else { Value::Array(values) };
        out.insert(name.as_str().to_owned(), v);
    }
    Value::Object(out)
}

/// A recorded body: the value to write, and a note when it was cut.
#[derive(Debug)]
pub(crate) struct Body {
    /// JSON as JSON; form bodies as an object of fields; anything else as text.
    pub value: Value,
    /// How the body was cut to fit [`BODY_LIMIT`], if it was.
    pub note: Option<String>,
}

/// Redacts and caps a body. `content_type` selects form decoding.
pub(crate) fn body(content_type: Option<&str>, bytes: &[u8]) -> Body {
    if bytes.is_empty() {
        return Body { value: Value::Null, note: None };
    }
    let is_form = content_type.is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        let mut m = Map::new();
        for (k, v) in url::form_urlencoded::parse(bytes) {
            let secret = is_secret_key(&k) || SECRET_FORM_KEYS.iter().any(|s| s.eq_ignore_ascii_case(&k));
            let v = if secret { REDACTED.to_owned() } else { scrub_text(&v) };
            m.insert(k.into_owned(), Value::String(v));
        }
        return fit_json(Value::Object(m), bytes.len(), false);
    }
    if let Ok(mut v) = serde_json::from_slice::<Value>(bytes) {
        // Cut first, so that only what is recorded is scrubbed (a 2000-event page is MBs).
        let cut = bytes.len() > BODY_LIMIT && shorten_arrays(&mut v);
        redact_json(&mut v);
        return fit_json(v, bytes.len(), cut);
    }
    // Not JSON (or cut short by the server): scrub as text, which also catches
    // `"access_token":"…` without its closing quote.
    let text = scrub_text(&String::from_utf8_lossy(bytes));
    cap_text(text, bytes.len())
}

fn fit_json(v: Value, original: usize, arrays_cut: bool) -> Body {
    let text = serde_json::to_string(&v).unwrap_or_default();
    if text.len() > BODY_LIMIT {
        return cap_text(text, original);
    }
    let note = arrays_cut.then(|| {
        format!("body of {original} bytes: arrays longer than {ARRAY_KEEP} elements cut to their first {ARRAY_KEEP}")
    });
    Body { value: v, note }
}

fn cap_text(text: String, original: usize) -> Body {
    if text.len() <= BODY_LIMIT {
        return Body { value: Value::String(text), note: None };
    }
    let mut end = BODY_LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let note = format!("body of {original} bytes: only the first {end} bytes recorded");
    Body { value: Value::String(text[..end].to_owned()), note: Some(note) }
}

/// Cuts every array longer than [`ARRAY_KEEP`]; whether any was.
fn shorten_arrays(v: &mut Value) -> bool {
    match v {
        Value::Array(a) => {
            let mut cut = false;
            if a.len() > ARRAY_KEEP {
                let more = a.len() - ARRAY_KEEP;
                a.truncate(ARRAY_KEEP);
                a.push(Value::String(format!("<{more} more elements not recorded>")));
                cut = true;
            }
            a.iter_mut().fold(cut, |c, e| shorten_arrays(e) | c)
        }
        Value::Object(m) => m.values_mut().fold(false, |c, e| shorten_arrays(e) | c),
        _ => false,
    }
}

/// Replaces secret fields anywhere in a JSON value, and JWT-shaped strings.
pub(crate) fn redact_json(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, val) in m.iter_mut() {
                if is_secret_key(k) && !val.is_null() {
                    *val = Value::String(REDACTED.to_owned());
                } else {
                    redact_json(val);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(redact_json),
        Value::String(s) => {
            let scrubbed = scrub_text(s);
            if scrubbed != *s {
                *s = scrubbed;
            }
        }
        _ => {}
    }
}

/// Text scrubbing: `key=value`, `"key": "value"` and `key: value` for every secret key, and
/// JWT-shaped strings. Used for URLs, header values and bodies that are not valid JSON.
pub(crate) fn scrub_text(s: &str) -> String {
    let lower = s.to_ascii_lowercase();
    let mut out = s.to_owned();
    for key in SECRET_KEYS.iter().filter(|k| lower.contains(*k)) {
        out = scrub_key(&out, key);
    }
    scrub_jwts(&out)
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn scrub_key(s: &str, key: &str) -> String {
    let lower = s.to_ascii_lowercase();
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = lower[from..].find(key) {
        let start = from + found;
        let mut i = start + key.len();
        from = i;
        if (start > 0 && is_word(bytes[start - 1])) || bytes.get(i).copied().is_some_and(is_word) {
            continue;
        }
        // Skip a closing quote and blanks, then expect `:` or `=`.
        while bytes.get(i).is_some_and(|c| *c == b'"' || *c == b'\'' || c.is_ascii_whitespace()) {
            i += 1;
        }
        if !bytes.get(i).is_some_and(|c| *c == b':' || *c == b'=') {
            continue;
        }
        i += 1;
        while bytes.get(i).is_some_and(|c| *c == b'"' || *c == b'\'' || c.is_ascii_whitespace()) {
            i += 1;
        }
        let value_start = i;
        while bytes
            .get(i)
            .is_some_and(|c| !matches!(c, b'"' | b'\'' | b'&' | b',' | b'}' | b']' | b';') && !c.is_ascii_whitespace())
        {
            i += 1;
        }
        if i == value_start {
            continue;
        }
        out.push_str(&s[copied..value_start]);
        out.push_str(REDACTED);
        copied = i;
        from = i;
    }
    out.push_str(&s[copied..]);
    out
}

/// Replaces `eyJ…​.…​.…` (a JWT: base64url JSON header, payload, signature).
fn scrub_jwts(s: &str) -> String {
    if !s.contains("eyJ") {
        return s.to_owned();
    }
    let bytes = s.as_bytes();
    let b64 = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.' || c == b'=';
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = s[from..].find("eyJ") {
        let start = from + found;
        let mut end = start;
        while bytes.get(end).copied().is_some_and(b64) {
            end += 1;
        }
        from = end;
        let dots = s[start..end].bytes().filter(|c| *c == b'.').count();
        if dots >= 1 && end - start >= 16 {
            out.push_str(&s[copied..start]);
            out.push_str("<redacted jwt>");
            copied = end;
        }
    }
    out.push_str(&s[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_fields_are_redacted_at_any_depth() {
        let b = body(
            Some("application/json"),
            br#"{"access_token":"sim.abc","n":[{"refresh_token":"r1","keep":"x","secret_key":"ys"}],"id_token":null}"#,
        );
        let s = b.value.to_string();
        assert!(!s.contains("sim.abc") && !s.contains("r1") && !s.contains("\"ys\""), "{s}");
        assert!(s.contains("\"keep\":\"x\""), "{s}");
    }

    #[test]
    fn form_fields_are_redacted() {
        let b = body(Some("application/x-www-form-urlencoded"), b"grant_type=jwt&assertion=eyJhbGc.eyJpc3M.sig");
        assert_eq!(b.value["assertion"], REDACTED);
        assert_eq!(b.value["grant_type"], "jwt");
        let b = body(
            Some("application/x-www-form-urlencoded"),
            b"grant_type=authorization_code&code=C0DE&code_verifier=V3R1F13R&redirect_uri=x",
        );
        assert_eq!((&b.value["code"], &b.value["code_verifier"]), (&REDACTED.into(), &REDACTED.into()));
        assert_eq!(b.value["redirect_uri"], "x");
    }

    #[test]
    fn truncated_json_and_text_are_scrubbed() {
        let b = body(None, br#"{"access_token": "sim.secretpart"#);
        assert!(!b.value.to_string().contains("secretpart"), "{}", b.value);
        assert_eq!(scrub_text("a?access_token=xyz&b=1"), "a?access_token=<redacted>&b=1");
        assert_eq!(scrub_text("my_access_token_count=3"), "my_access_token_count=3");
        assert_eq!(scrub_text("x eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln y"), "x <redacted jwt> y");
    }

    #[test]
    fn known_secrets_and_queries_are_cut() {
        assert_eq!(cut_secrets("got ab and abcd and abcd", ["ab", "abcd"]), "got ab and <redacted> and <redacted>");
        let u = url::Url::parse("https://h.example:8088/services/collector?token=t#f").unwrap();
        assert_eq!(url_for_logs(&u), "https://h.example:8088/services/collector");
    }

    #[test]
    fn headers_keep_the_scheme_only() {
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer sim.tok".parse().unwrap());
        h.insert("cookie", "a=b".parse().unwrap());
        h.insert("x-other", "plain".parse().unwrap());
        let v = headers(&h);
        assert_eq!(v["authorization"], "Bearer <redacted>");
        assert_eq!(v["cookie"], REDACTED);
        assert_eq!(v["x-other"], "plain");
    }

    #[test]
    fn large_bodies_keep_their_shape() {
        let events: Vec<Value> = (0..2000).map(|i| serde_json::json!({"eventId": i, "pad": "x".repeat(100)})).collect();
        let page = serde_json::json!({"endCursor": "c-42", "resultData": events});
        let raw = serde_json::to_vec(&page).unwrap();
        let b = body(Some("application/json"), &raw);
        assert_eq!(b.value["endCursor"], "c-42");
        assert_eq!(b.value["resultData"].as_array().unwrap().len(), ARRAY_KEEP + 1);
        assert!(b.note.unwrap().contains(&raw.len().to_string()));
        let text = "y".repeat(BODY_LIMIT * 2);
        let b = body(None, text.as_bytes());
        assert_eq!(b.value.as_str().unwrap().len(), BODY_LIMIT);
        assert!(b.note.is_some());
    }
}
