//! The binary: parse the command line, set up logging, run the command, map its error to an
//! exit code. Logs go to stderr; stdout carries events (and command results) only.

use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};
use esign_collector::cli::{Cli, LogFormat};
use esign_collector::commands;
use esign_collector::error::{Error, Exit};
use tracing_subscriber::EnvFilter;

/// `from_env`: the value came from `ESIGN_COLLECTOR_LOG`, so the message says so.
fn init_logging(cli: &Cli, from_env: bool) -> Result<(), String> {
    let what = if from_env { "--log-level (from ESIGN_COLLECTOR_LOG)" } else { "--log-level" };
    // An empty value (`Environment=ESIGN_COLLECTOR_LOG=` in a unit) means unset, not "no logs".
    let level = if cli.log_level.trim().is_empty() { "info" } else { cli.log_level.as_str() };
    esign_collector::cli::check_log_level(level).map_err(|e| format!("invalid {what}: {e}"))?;
    let filter = EnvFilter::try_new(level).map_err(|e| format!("invalid {what} {level:?}: {e}"))?;
    let b = tracing_subscriber::fmt().with_env_filter(filter).with_writer(esign_collector::progress::LogWriter::make);
    let r = match cli.log_format {
        LogFormat::Text => b.with_ansi(false).try_init(),
        LogFormat::Json => b.json().flatten_event(true).try_init(),
    };
    r.map_err(|e| e.to_string())
}

/// glibc's allocator serves a large block (a page of 2,000 events is megabytes) from a fresh
/// mapping and unmaps it when freed, so every page's buffers fault in anew; above a threshold
/// it learns only after the first free. Fixed thresholds keep freed page buffers in the heap
/// for the next page's and leave the top of the heap mapped up to 64 MiB.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    // SAFETY: mallopt only sets allocator parameters; called before any thread starts. A
    // refused value (return 0) leaves glibc's default, which is correct, only slower.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

fn main() -> ExitCode {
    tune_allocator();
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let from_env = matches.value_source("log_level") == Some(ValueSource::EnvVariable);
    if let Err(e) = init_logging(&cli, from_env) {
        eprintln!("esign-collector: {e}");
        return Exit::Config.into();
    }
    // Whatever we create (state, keys written by `simulate`) is private to this user.
    // SAFETY: umask only sets the process's file-creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
    // Past RLIMIT_FSIZE the kernel would kill us with SIGXFSZ mid-write; ignored, the write
    // fails with EFBIG instead and is handled like a full disk (nothing committed, exit 7/9).
    // SAFETY: setting a signal's disposition to SIG_IGN has no preconditions.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    esign_collector::progress::allow(cli.log_format == LogFormat::Text);
    if let Some(path) = &cli.trace_http
        && let Err(e) = esign_collector::http::trace::install(path)
    {
        match cli.log_format {
            LogFormat::Text => eprintln!("esign-collector: error: {e}"),
            LogFormat::Json => tracing::error!(exit_code = Exit::Config as u8, error = %e, "Command failed."),
        }
        return Exit::Config.into();
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("esign-collector: cannot start the runtime: {e}");
            return Exit::Internal.into();
        }
    };
    let format = cli.log_format;
    let result: Result<(), Error> =
        runtime.block_on(commands::dispatch(cli.command, &cli.config, cli.tenant.as_deref()));
    match result {
        Ok(()) => Exit::Ok.into(),
        Err(e) => {
            let code = e.exit_code();
            match format {
                LogFormat::Text => eprintln!("esign-collector: error: {e}"),
                LogFormat::Json => tracing::error!(exit_code = code as u8, error = %e, "Command failed."),
            }
            code.into()
        }
    }
}
