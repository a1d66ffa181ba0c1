//! Config parsing, validation and `build` of the http sink.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::sinks::testkit::assert_refused;

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

/// The sink `text` configures, `{file}` in it naming a file with this `mode` that holds
/// `secret` (read by the build, so the file may go afterwards).
fn built_with_file(text: &str, mode: u32, secret: &str) -> Result<HttpSink, ConfigError> {
    let f = token_file(mode, secret);
    HttpSink::new("http[0]", &check(&text.replace("{file}", &q(f.path()))).unwrap())
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
    assert_refused(
        |t| parse(t).unwrap_err(),
        &[
            ("url = \"http://x\"\nmax_batch_events = 0\n", &["line 2", "must be 1..=100000, got 0"]),
            ("url = \"http://x\"\npreset = \"splunk\"\n", &["line 2", "splunk_hec"]),
            ("url = \"http://x\"\ntoken = \"abc\"\n", &["unknown field `token`"]),
            ("url = \"ftp://x\"", &["http:// or https://"]),
            (
                "url = \"http://x\"\nauth = { strategy = \"digest\", token_env = \"T\" }",
                &["line 2", "unknown variant `digest`"],
            ),
        ],
    );
    assert_eq!(parse("url = \"http://x\"\npreset = \"opensearch\"").unwrap().preset, Preset::Elasticsearch);
}

#[test]
fn validation_names_the_key() {
    let splunk_raw =
        "url = \"http://x/raw\"\npreset = \"splunk_hec\"\nauth = { strategy = \"splunk\", token_env = \"T\" }";
    assert_refused(
        |t| check(t).unwrap_err(),
        &[
            (r#"url = "https://u:p@x""#, &["`sinks.http[0].url` must not hold credentials"]),
            (
                "url = \"http://x\"\nsourcetype = \"a\"",
                &["`sinks.http[0].sourcetype` applies only to preset = \"splunk_hec\""],
            ),
            ("url = \"http://x\"\nindex = \"a\"", &["sinks.http[0].index"]),
            ("url = \"http://x\"\npreset = \"splunk_hec\"\npipeline = \"p\"", &["sinks.http[0].pipeline"]),
            ("url = \"http://x\"\npreset = \"splunk_hec\"", &["`sinks.http[0].auth` is required by Splunk HEC"]),
            (splunk_raw, &["sinks.http[0].url"]),
            ("url = \"http://x\"\npreset = \"elasticsearch\"\nindex = \"Logs\"", &["not a valid Elasticsearch index"]),
            ("url = \"http://x\"\npreset = \"elasticsearch\"\nindex = \"logs-{date}\"", &["only placeholder"]),
            ("url = \"http://x\"\nauth = { strategy = \"bearer\" }", &["sinks.http[0].auth.token_env"]),
            (
                "url = \"http://x\"\nauth = { strategy = \"bearer\", token_env = \"A\", token_file = \"/b\" }",
                &["exactly one"],
            ),
            ("url = \"http://x\"\nauth = { strategy = \"basic\", password_env = \"P\" }", &["sinks.http[0].auth.user"]),
            (
                "url = \"http://x\"\nauth = { strategy = \"bearer\", token_env = \"T\", user = \"u\" }",
                &["auth.strategy"],
            ),
            ("url = \"http://x\"\nheaders = { Authorization = \"Bearer x\" }", &["set by the sink itself"]),
            ("url = \"http://x\"\nheaders = { \"bad header\" = \"x\" }", &["not a valid header name"]),
            ("url = \"http://x\"\ncert_file = \"/c.pem\"", &["sinks.http[0].key_file"]),
            ("url = \"http://x\"\ninitial_backoff = \"1m\"\nmax_backoff = \"1s\"", &["initial_backoff"]),
            ("url = \"http://x\"\ntimeout = \"0s\"", &["sinks.http[0].timeout"]),
        ],
    );
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
    let text =
        "url = \"http://127.0.0.1:1\"\npreset = \"splunk_hec\"\nauth = { strategy = \"splunk\", token_file = {file} }";
    let sink = built_with_file(text, 0o600, "s3cr3t-token-value\n").unwrap();
    let d = format!("{sink:?}");
    assert!(!d.contains("s3cr3t") && d.contains("services/collector/event"), "{d}");
    let (name, value) = sink.client.credential.as_ref().unwrap().header().unwrap();
    assert_eq!((name.as_str(), value.to_str().unwrap()), ("authorization", "Splunk s3cr3t-token-value"));
    assert!(value.is_sensitive());
}

#[test]
fn build_fails_on_unusable_credentials_and_files() {
    let build = |t: &str| HttpSink::new("http[0]", &check(t).unwrap()).map(|_| ()).unwrap_err().to_string();
    let (empty, junk) = (token_file(0o600, " \n"), token_file(0o644, "not a pem"));
    let bearer_file = |f: &tempfile::NamedTempFile| {
        format!("url = \"http://x\"\nauth = {{ strategy = \"bearer\", token_file = {} }}", q(f.path()))
    };
    assert_refused(
        build,
        &[
            (
                "url = \"http://x\"\nauth = { strategy = \"bearer\", token_env = \"ESIGN_HTTP_SINK_TEST_UNSET\" }"
                    .into(),
                &["sinks.http[0].auth.token_env", "ESIGN_HTTP_SINK_TEST_UNSET is not set"],
            ),
            (
                "url = \"http://x\"\nauth = { strategy = \"bearer\", token_file = \"/nonexistent/t\" }".into(),
                &["sinks.http[0].auth.token_file", "cannot read /nonexistent/t"],
            ),
            (bearer_file(&empty), &["is empty"]),
            ("url = \"http://x\"\nca_file = \"/nonexistent/ca.pem\"".into(), &["sinks.http[0].ca_file"]),
            (
                format!("url = \"http://x\"\nca_file = {}", q(junk.path())),
                &["sinks.http[0].ca_file", "holds no PEM certificate"],
            ),
            (
                format!("url = \"http://x\"\ncert_file = {}\nkey_file = {}", q(junk.path()), q(junk.path())),
                &["sinks.http[0].cert_file", "not a usable certificate"],
            ),
        ],
    );
    let e = build(&bearer_file(&token_file(0o600, "first-half\nsecond-half\n")));
    assert!(e.contains("sinks.http[0].auth.token_file") && e.contains("cannot carry") && !e.contains("half"), "{e}");
}

#[test]
fn shared_token_file_is_accepted_with_a_warning() {
    // Container secret mounts are 0444/0644 and cannot be changed by the service.
    let text = "url = \"http://x\"\nauth = { strategy = \"bearer\", token_file = {file} }";
    assert!(built_with_file(text, 0o644, "tok").is_ok());
}

#[test]
fn basic_auth_header_and_scrub() {
    let text = "url = \"http://x\"\nauth = { strategy = \"basic\", user = \"elastic\", password_file = {file} }";
    let sink = built_with_file(text, 0o600, "pa55word").unwrap();
    let c = sink.client.credential.as_ref().unwrap();
    assert_eq!(c.header().unwrap().1.to_str().unwrap(), "Basic ZWxhc3RpYzpwYTU1d29yZA==");
    assert_eq!(c.scrub("got ZWxhc3RpYzpwYTU1d29yZA== and pa55word"), "got <redacted> and <redacted>");
}
