//! Config parsing, validation and `build` of the http sink.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;

use super::*;

/// A path as a TOML string.
fn q(p: &std::path::Path) -> String {
    toml::Value::String(p.display().to_string()).to_string()
}

fn parse(text: &str) -> Result<HttpSinkConfig, String> {
    toml::from_str::<HttpSinkConfig>(text).map_err(|e| e.to_string())
}

fn check(text: &str) -> Result<HttpSinkConfig, String> {
    let cfg = parse(text)?;
    cfg.validate("http[0]").map_err(|e| e.to_string())?;
    Ok(cfg)
}

fn token_file(mode: u32, text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(mode)).unwrap();
    f
}

#[test]
fn defaults() {
    let c = check(r#"url = "http://127.0.0.1:9000/in""#).unwrap();
    assert_eq!(c.preset, Preset::Ndjson);
    assert_eq!(c.compression, Compression::Gzip);
    assert_eq!(c.max_batch_bytes.get(), 1_000_000);
    assert_eq!(c.max_batch_events.get(), 2000);
    assert_eq!(c.timeout.get().as_secs(), 30);
    assert_eq!(c.max_retries.get(), 5);
    assert_eq!(
        (c.initial_backoff.get().as_secs(), c.max_backoff.get().as_secs(), c.max_wait.get().as_secs()),
        (1, 30, 300)
    );
    assert!(c.acknowledgements() && c.ack_timeout().as_secs() == 60);
    assert!(!c.insecure_skip_verify && c.auth.is_none() && c.headers.0.is_empty());
}

#[test]
fn toml_errors_name_key_and_line() {
    let e = parse("url = \"http://x\"\nmax_batch_events = 0\n").unwrap_err();
    assert!(e.contains("line 2") && e.contains("must be 1..=100000, got 0"), "{e}");
    let e = parse("url = \"http://x\"\npreset = \"splunk\"\n").unwrap_err();
    assert!(e.contains("line 2") && e.contains("splunk_hec"), "{e}");
    let e = parse("url = \"http://x\"\ntoken = \"abc\"\n").unwrap_err();
    assert!(e.contains("unknown field `token`"), "{e}");
    let e = parse("url = \"ftp://x\"").unwrap_err();
    assert!(e.contains("http:// or https://"), "{e}");
    let e = parse("url = \"http://x\"\nauth = { strategy = \"digest\", token_env = \"T\" }").unwrap_err();
    assert!(e.contains("line 2") && e.contains("unknown variant `digest`"), "{e}");
    assert_eq!(parse("url = \"http://x\"\npreset = \"opensearch\"").unwrap().preset, Preset::Elasticsearch);
}

#[test]
fn validation_names_the_key() {
    let e = |t: &str| check(t).unwrap_err();
    assert!(e(r#"url = "https://u:p@x""#).contains("`sinks.http[0].url` must not hold credentials"));
    assert!(
        e("url = \"http://x\"\nsourcetype = \"a\"")
            .contains("`sinks.http[0].sourcetype` applies only to preset = \"splunk_hec\"")
    );
    assert!(e("url = \"http://x\"\nindex = \"a\"").contains("sinks.http[0].index"));
    assert!(e("url = \"http://x\"\npreset = \"splunk_hec\"\npipeline = \"p\"").contains("sinks.http[0].pipeline"));
    assert!(
        e("url = \"http://x\"\npreset = \"splunk_hec\"").contains("`sinks.http[0].auth` is required by Splunk HEC")
    );
    assert!(
        e("url = \"http://x/raw\"\npreset = \"splunk_hec\"\nauth = { strategy = \"splunk\", token_env = \"T\" }")
            .contains("sinks.http[0].url")
    );
    assert!(
        e("url = \"http://x\"\npreset = \"elasticsearch\"\nindex = \"Logs\"")
            .contains("not a valid Elasticsearch index")
    );
    assert!(e("url = \"http://x\"\npreset = \"elasticsearch\"\nindex = \"logs-{date}\"").contains("only placeholder"));
    assert!(e("url = \"http://x\"\nauth = { strategy = \"bearer\" }").contains("sinks.http[0].auth.token_env"));
    assert!(
        e("url = \"http://x\"\nauth = { strategy = \"bearer\", token_env = \"A\", token_file = \"/b\" }")
            .contains("exactly one")
    );
    assert!(
        e("url = \"http://x\"\nauth = { strategy = \"basic\", password_env = \"P\" }")
            .contains("sinks.http[0].auth.user")
    );
    assert!(
        e("url = \"http://x\"\nauth = { strategy = \"bearer\", token_env = \"T\", user = \"u\" }")
            .contains("auth.strategy")
    );
    assert!(e("url = \"http://x\"\nheaders = { Authorization = \"Bearer x\" }").contains("set by the sink itself"));
    assert!(e("url = \"http://x\"\nheaders = { \"bad header\" = \"x\" }").contains("not a valid header name"));
    assert!(e("url = \"http://x\"\ncert_file = \"/c.pem\"").contains("sinks.http[0].key_file"));
    assert!(e("url = \"http://x\"\ninitial_backoff = \"1m\"\nmax_backoff = \"1s\"").contains("initial_backoff"));
    assert!(e("url = \"http://x\"\ntimeout = \"0s\"").contains("sinks.http[0].timeout"));
}

#[test]
fn debug_prints_no_header_value() {
    let c = check("url = \"http://x\"\nheaders = { X-Api-Key = \"hunter2-secret\" }").unwrap();
    let d = format!("{c:?}");
    assert!(d.contains("x-api-key") || d.contains("X-Api-Key"), "{d}");
    assert!(!d.contains("hunter2"), "{d}");
}

#[test]
fn build_reads_the_token_and_never_prints_it() {
    let f = token_file(0o600, "s3cr3t-token-value\n");
    let text = format!(
        "url = \"http://127.0.0.1:1\"\npreset = \"splunk_hec\"\nauth = {{ strategy = \"splunk\", token_file = {} }}",
        q(f.path())
    );
    let sink = HttpSink::new("http[0]", &check(&text).unwrap()).unwrap();
    let d = format!("{sink:?}");
    assert!(!d.contains("s3cr3t") && d.contains("services/collector/event"), "{d}");
    let (name, value) = sink.client.credential.as_ref().unwrap().header().unwrap();
    assert_eq!((name.as_str(), value.to_str().unwrap()), ("authorization", "Splunk s3cr3t-token-value"));
    assert!(value.is_sensitive());
}

#[test]
fn build_fails_on_unusable_credentials_and_files() {
    let build = |t: String| HttpSink::new("http[0]", &check(&t).unwrap()).map(|_| ()).unwrap_err().to_string();
    let e = build(
        "url = \"http://x\"\nauth = { strategy = \"bearer\", token_env = \"ESIGN_HTTP_SINK_TEST_UNSET\" }".into(),
    );
    assert!(e.contains("sinks.http[0].auth.token_env") && e.contains("ESIGN_HTTP_SINK_TEST_UNSET is not set"), "{e}");
    let e = build("url = \"http://x\"\nauth = { strategy = \"bearer\", token_file = \"/nonexistent/t\" }".into());
    assert!(e.contains("sinks.http[0].auth.token_file") && e.contains("cannot read /nonexistent/t"), "{e}");
    let empty = token_file(0o600, " \n");
    let e = build(format!("url = \"http://x\"\nauth = {{ strategy = \"bearer\", token_file = {} }}", q(empty.path())));
    assert!(e.contains("is empty"), "{e}");
    let two_lines = token_file(0o600, "first-half\nsecond-half\n");
    let e =
        build(format!("url = \"http://x\"\nauth = {{ strategy = \"bearer\", token_file = {} }}", q(two_lines.path())));
    assert!(e.contains("sinks.http[0].auth.token_file") && e.contains("cannot carry") && !e.contains("half"), "{e}");
    let e = build("url = \"http://x\"\nca_file = \"/nonexistent/ca.pem\"".into());
    assert!(e.contains("sinks.http[0].ca_file"), "{e}");
    let junk = token_file(0o644, "not a pem");
    let e = build(format!("url = \"http://x\"\nca_file = {}", q(junk.path())));
    assert!(e.contains("sinks.http[0].ca_file") && e.contains("holds no PEM certificate"), "{e}");
    let e = build(format!("url = \"http://x\"\ncert_file = {}\nkey_file = {}", q(junk.path()), q(junk.path())));
    assert!(e.contains("sinks.http[0].cert_file") && e.contains("not a usable certificate"), "{e}");
}

#[test]
fn shared_token_file_is_accepted_with_a_warning() {
    // Container secret mounts are 0444/0644 and cannot be changed by the service.
    let f = token_file(0o644, "tok");
    let text = format!("url = \"http://x\"\nauth = {{ strategy = \"bearer\", token_file = {} }}", q(f.path()));
    assert!(HttpSink::new("http[0]", &check(&text).unwrap()).is_ok());
}

#[test]
fn basic_auth_header_and_scrub() {
    let f = token_file(0o600, "pa55word");
    let text = format!(
        "url = \"http://x\"\nauth = {{ strategy = \"basic\", user = \"elastic\", password_file = {} }}",
        q(f.path())
    );
    let sink = HttpSink::new("http[0]", &check(&text).unwrap()).unwrap();
    let c = sink.client.credential.as_ref().unwrap();
    assert_eq!(c.header().unwrap().1.to_str().unwrap(), "Basic ZWxhc3RpYzpwYTU1d29yZA==");
    assert_eq!(c.scrub("got ZWxhc3RpYzpwYTU1d29yZA== and pa55word"), "got <redacted> and <redacted>");
}
