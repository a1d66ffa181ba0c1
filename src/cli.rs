//! The command line: global flags and one subcommand per job (names follow the XSOAR
//! Docusign integration so operators recognise them).

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::stream::Stream;

/// DocuSign Monitor and Admin security-event collector.
#[derive(Debug, Parser)]
#[command(name = "esign-collector", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file.
    #[arg(long, global = true, env = "ESIGN_COLLECTOR_CONFIG", default_value = "esign-collector.toml")]
    pub config: PathBuf,
    /// Log level (trace, debug, info, warn, error, off) or a filter such as
    /// `esign_collector=debug,info`; any other single word is refused (exit 2). Empty: info.
    #[arg(long, global = true, env = "ESIGN_COLLECTOR_LOG", default_value = "info")]
    pub log_level: String,
    /// Work on this tenant only (a `[[tenants]]` name; `default` without `[[tenants]]`).
    #[arg(long, global = true, env = "ESIGN_COLLECTOR_TENANT")]
    pub tenant: Option<String>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Write every DocuSign request and reply (OAuth included) to FILE as JSON lines, secrets
    /// redacted, for a support case. Appends; the file is made readable by its owner only.
    #[arg(long, global = true, value_name = "FILE")]
    pub trace_http: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// One collection cycle over every enabled source, then exit (what a systemd timer runs).
    Fetch(FetchArgs),
    /// Collect every `state.interval` until SIGTERM/SIGINT; the page in flight is finished.
    Run,
    /// Fetch and print events for debugging; never moves a checkpoint.
    GetEvents(GetEventsArgs),
    /// Check the configuration, the key, the token exchange and /oauth/userinfo.
    AuthTest,
    /// Log in with the Authorization Code Grant (`auth login`), for tenants with
    /// `docusign.auth = "authorization_code"`.
    Auth(AuthArgs),
    /// Print the consent URL for the configured app and the scopes the enabled sources need.
    GenerateConsentUrl,
    /// Forget the cached access token.
    ResetAccessToken,
    /// Make the 20 read-only eSignature calls DocuSign's Go-Live review counts (developer
    /// environment only); exit non-zero unless all 20 succeeded.
    GoLiveCheck,
    /// Move a tenant between state files (`state export --tenant X > X.json`, `state import
    /// X.json`): checkpoints, ledger, user records, run records; never a token or secret.
    /// Refused while a run holds the state lock.
    State(StateArgs),
    /// Run the built-in DocuSign simulator on 127.0.0.1 until Ctrl-C.
    Simulate(SimulateArgs),
    /// Show each source's last run, last error and checkpoint age from the state file alone
    /// (no network, no lock); exit 10 when a source is stale, failing or never ran.
    Status(StatusArgs),
}

/// `state` subcommands.
#[derive(Debug, Args)]
pub struct StateArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: StateCommand,
}

/// `state` subcommands.
#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Print the `--tenant`'s state as JSON.
    Export,
    /// Replace a tenant's state with an export's.
    Import {
        /// The export (`-` for stdin).
        file: PathBuf,
    },
}

/// `auth` subcommands.
#[derive(Debug, Args)]
pub struct AuthArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: AuthCommand,
}

/// `auth` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Log in to DocuSign in a browser (Authorization Code Grant with PKCE); the refresh token
    /// is sealed in the state file and rotated at every refresh.
    Login(LoginArgs),
}

/// `auth login` options.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The loopback port of the redirect listener (default: the port of a loopback
    /// `docusign.redirect_uri`, else 8765); the redirect URI must be registered on the app.
    #[arg(long)]
    pub port: Option<u16>,
    /// Print the URL and read the redirect URL (or its code) pasted back, instead of
    /// listening for the redirect (a machine without a browser).
    #[arg(long)]
    pub no_browser: bool,
    /// How long to wait for the login.
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
}

/// `fetch` options.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Start from this time instead of the checkpoint: RFC 3339 (`2026-11-01T00:00:00Z`) or an age (`7d`, `12h`).
    /// Earlier than the checkpoint re-reads (duplicates are dropped); later is refused unless
    /// `--skip-backlog`. Never skips the first user snapshot.
    #[arg(long, value_parser = parse_since)]
    pub since: Option<DateTime<Utc>>,
    /// With `--since` later than a checkpoint: skip the undelivered events between them (the
    /// span skipped is logged). Without it such a `--since` is refused.
    #[arg(long, requires = "since")]
    pub skip_backlog: bool,
    /// Read every source to its end, ignoring an explicit per-run cap and `state.max_run_time`
    /// (backfills).
    #[arg(long)]
    pub all: bool,
}

/// `get-events --type`: a stream of the registry, by its key with dashes (or underscores).
#[derive(Debug, Clone, Copy)]
pub struct StreamArg;

impl clap::builder::TypedValueParser for StreamArg {
    type Value = &'static Stream;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Self::Value, clap::Error> {
        use clap::error::{ContextKind, ContextValue, ErrorKind};
        let text = value.to_string_lossy();
        crate::connectors::stream(&text).ok_or_else(|| {
            let mut e = clap::Error::new(ErrorKind::InvalidValue).with_cmd(cmd);
            if let Some(a) = arg {
                e.insert(ContextKind::InvalidArg, ContextValue::String(a.to_string()));
            }
            e.insert(ContextKind::InvalidValue, ContextValue::String(text.into_owned()));
            let valid = crate::connectors::streams().map(Stream::cli_name).collect();
            e.insert(ContextKind::ValidValue, ContextValue::Strings(valid));
            e
        })
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        // Help text only: a few short names, leaked once per rendering.
        let names = crate::connectors::streams().map(|s| &*Box::leak(s.cli_name().into_boxed_str()));
        Some(Box::new(names.map(clap::builder::PossibleValue::new)))
    }
}

/// Output of `get-events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Columns an operator scans first.
    Table,
    /// The JSON lines a fetch would deliver.
    Json,
}

/// `get-events` options.
#[derive(Debug, Args)]
pub struct GetEventsArgs {
    /// Which stream.
    #[arg(long = "type", value_parser = StreamArg)]
    pub kind: &'static Stream,
    /// How many records at most.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub limit: u32,
    /// Start from this time instead of the checkpoint (RFC 3339 or an age such as `7d`).
    #[arg(long, value_parser = parse_since)]
    pub since: Option<DateTime<Utc>>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// Start where the next `fetch` would (the checkpoint) instead of the fresh start.
    #[arg(long, conflicts_with = "since")]
    pub from_checkpoint: bool,
}

/// Output of `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    /// One row per source, for people.
    Table,
    /// One JSON document (documented, stable), for scripts.
    Json,
}

/// `status` options.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = StatusFormat::Table)]
    pub output: StatusFormat,
    /// A source whose last success is older than this is stale (overrides `[status] stale_after`).
    #[arg(long, value_parser = parse_duration)]
    pub stale_after: Option<std::time::Duration>,
}

/// `simulate` options.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8787)]
    pub port: u16,
    /// Port on 127.0.0.1 of the Yousign simulator served beside it (0 picks a free one).
    /// Default: the next port after `--port` (8788), or a free one with `--port 0`.
    #[arg(long)]
    pub yousign_port: Option<u16>,
    /// Where to write a collector configuration pointing at the simulator.
    #[arg(long, default_value = "simulator.toml")]
    pub write_config: PathBuf,
    /// Where to write the private key the simulator trusts (mode 600).
    #[arg(long, default_value = "state/simulator-key.pem")]
    pub key_out: PathBuf,
    /// One new Monitor event per this period.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub event_period: std::time::Duration,
    /// Monitor events already in the stream at start (spread over the last 7 days).
    #[arg(long, default_value_t = 5000)]
    pub backlog: usize,
    /// Enforce the account quota: answer 429 with `Retry-After` past it (else only counted).
    #[arg(long)]
    pub quota: bool,
    /// Requests per hour of the quota (`X-RateLimit-Limit`).
    #[arg(long, default_value_t = 3000)]
    pub quota_per_hour: u64,
    /// Requests per 30 s burst window (`X-BurstLimit-Limit`): 500 production, 200 demo.
    #[arg(long, default_value_t = 500)]
    pub quota_burst: u64,
    /// Run the quota's clock this many times faster than real time (60: an hour per minute).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub time_scale: u32,
    /// Accounts the simulated user has, each owned by its own organization and with its own
    /// quota; with more than one, the written configuration has one `[[tenants]]` entry each.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub accounts: u64,
}

/// The levels `--log-level` takes as one word, in the order of their verbosity.
pub const LOG_LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

/// Checks `--log-level` (or `ESIGN_COLLECTOR_LOG`) before `tracing` reads it. `tracing` takes a
/// bare word that is no level as a *target* name, so `warning` would silently hide every line,
/// warnings and errors included. Directive lists (anything with `=`, `,`, `[` or `:`) pass
/// through; `tracing` checks their syntax.
///
/// # Errors
/// A message naming the levels, with a suggestion for a near miss such as `warning`.
pub fn check_log_level(filter: &str) -> Result<(), String> {
    let word = filter.trim();
    if word.contains(['=', ',', '[', ':']) || LOG_LEVELS.iter().any(|l| word.eq_ignore_ascii_case(l)) {
        return Ok(());
    }
    let near = match word.to_ascii_lowercase().as_str() {
        "warning" | "warnings" => Some("warn"),
        "err" | "errors" | "fatal" | "critical" | "crit" => Some("error"),
        "information" | "informational" | "notice" => Some("info"),
        "verbose" | "dbg" => Some("debug"),
        "none" | "quiet" | "silent" => Some("off"),
        "all" => Some("trace"),
        _ => None,
    };
    let near = near.map(|l| format!(" (did you mean `{l}`?)")).unwrap_or_default();
    Err(format!(
        "{word:?} is not a level{near}: write one of {}, or target directives such as \
         `esign_collector=debug,info` (a bare word would be taken as a target name and hide every line)",
        LOG_LEVELS.join(", ")
    ))
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e}; write e.g. 10s, 5m"))
}

/// The earliest time any DocuSign API this collector reads can hold data for (Monitor keeps
/// nothing before 2021-01-01); a `--since` before it is a typo, not a backfill.
pub const EARLIEST_SINCE: &str = "2021-01-01T00:00:00Z";

/// Parses `--since`: RFC 3339, or an age such as `7d` / `12h` before now. A time in the future
/// or before [`EARLIEST_SINCE`] is refused here, before any request.
///
/// # Errors
/// A message saying which forms and times are accepted.
pub fn parse_since(s: &str) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    let now = Utc::now();
    let t = if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        t.with_timezone(&Utc)
    } else if s.starts_with('+') {
        return Err(format!("{s:?} is in the future; --since takes a past time or an age such as 7d"));
    } else {
        let age = humantime::parse_duration(s)
            .map_err(|_| format!("{s:?} is neither an RFC 3339 time (2026-11-01T00:00:00Z) nor an age (7d, 12h)"))?;
        chrono::Duration::from_std(age)
            .ok()
            .and_then(|age| now.checked_sub_signed(age))
            .ok_or_else(|| format!("{s:?} reaches before {EARLIEST_SINCE}, where DocuSign keeps nothing"))?
    };
    // A minute of slack for a clock a little behind the one that wrote the time.
    if t > now + chrono::Duration::minutes(1) {
        return Err(format!("{s:?} is in the future; --since takes a past time or an age such as 7d"));
    }
    let earliest = DateTime::parse_from_rfc3339(EARLIEST_SINCE).map_or(t, |e| e.with_timezone(&Utc));
    if t < earliest {
        return Err(format!("{s:?} reaches before {EARLIEST_SINCE}, where DocuSign keeps nothing"));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_forms() {
        assert_eq!(parse_since("2026-11-01T00:00:00Z").unwrap().to_rfc3339(), "2026-11-01T00:00:00+00:00");
        let t = parse_since("12h").unwrap();
        let d = Utc::now() - t;
        assert!((d.num_minutes() - 720).abs() <= 1);
        assert!(parse_since("last tuesday").unwrap_err().contains("RFC 3339"));
    }

    #[test]
    fn since_in_the_future_or_before_docusign_kept_anything_is_refused() {
        assert!(parse_since("+2d").unwrap_err().contains("future"));
        let tomorrow = (Utc::now() + chrono::Duration::days(1)).to_rfc3339();
        assert!(parse_since(&tomorrow).unwrap_err().contains("future"));
        assert!(parse_since("999999d").unwrap_err().contains("2021-01-01"));
        assert!(parse_since("2020-12-31T23:59:59Z").unwrap_err().contains("2021-01-01"));
        assert!(parse_since("2021-01-01T00:00:00Z").is_ok());
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn log_level_words_must_be_levels() {
        for ok in
            ["info", "WARN", " debug ", "Off", "esign_collector=debug,info", "info,hyper=warn", "x[span]=debug", "a::b"]
        {
            assert!(check_log_level(ok).is_ok(), "{ok}");
        }
        let e = check_log_level("warning").unwrap_err();
        assert!(e.contains("did you mean `warn`") && e.contains("trace, debug, info, warn, error, off"), "{e}");
        let e = check_log_level("loud").unwrap_err();
        assert!(e.contains("\"loud\" is not a level:"), "{e}");
        assert!(check_log_level("").is_err());
    }
}
