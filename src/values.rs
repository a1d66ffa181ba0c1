//! Config values that validate themselves while the TOML is parsed, so that a bad value is
//! reported by `toml` with its key, line and column, and [`ConfigError`], the error of every
//! configuration check. A leaf: every area's config types build on these without importing
//! `config`.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::exit::Exit;

/// Configuration problems. Each names the file or the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML is malformed, or a key is unknown, mistyped or out of range.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// `toml`'s message, with line, column and key.
        message: String,
    },
    /// Keys that are fine alone but wrong together.
    #[error("invalid configuration: `{key}` {message}")]
    Invalid {
        /// Dotted key path, e.g. `docusign.user_id`.
        key: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A command-line value is wrong.
    #[error("invalid argument {arg}: {message}")]
    Argument {
        /// The flag.
        arg: String,
        /// What is wrong.
        message: String,
    },
}

impl ConfigError {
    /// `key` (a dotted path, e.g. `sinks.http[0].ca_file`) is wrong: `message` says how.
    pub fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid { key: key.into(), message: message.into() }
    }

    /// Every configuration problem ends the process with the same code.
    pub fn exit_code(&self) -> Exit {
        Exit::Config
    }
}

/// A whole number within an inclusive range known at compile time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "i64")]
pub struct Bounded<const MIN: u32, const MAX: u32>(u32);

impl<const MIN: u32, const MAX: u32> Bounded<MIN, MAX> {
    /// Builds a value, or says why it is out of range.
    ///
    /// # Errors
    /// When `v` is outside `MIN..=MAX`.
    pub fn new(v: i64) -> Result<Self, String> {
        if v < i64::from(MIN) || v > i64::from(MAX) {
            return Err(format!("must be {MIN}..={MAX}, got {v}"));
        }
        u32::try_from(v).map(Self).map_err(|e| e.to_string())
    }

    /// `V`, checked against the range when the program is compiled: a default, as in
    /// `#[serde(default = "Bounded::of::<5>")]`.
    pub const fn of<const V: u32>() -> Self {
        const { assert!(MIN <= V && V <= MAX, "the value is outside the range") };
        Self(V)
    }

    /// The value.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl<const MIN: u32, const MAX: u32> TryFrom<i64> for Bounded<MIN, MAX> {
    type Error = String;
    fn try_from(v: i64) -> Result<Self, String> {
        Self::new(v)
    }
}

/// A duration written for people: `30s`, `5m`, `1h 30m`, `7d`.
#[derive(Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// `S` seconds: a default, as in `#[serde(default = "HumanDuration::secs::<30>")]`.
    pub const fn secs<const S: u64>() -> Self {
        Self(Duration::from_secs(S))
    }

    /// The duration.
    pub fn get(self) -> Duration {
        self.0
    }

    /// The check of every timeout and period: zero would fail or spin at once.
    ///
    /// # Errors
    /// `ConfigError::Invalid` naming `key` when the duration is zero.
    pub fn require_nonzero(self, key: impl Into<String>) -> Result<(), ConfigError> {
        if self.0.is_zero() {
            return Err(ConfigError::invalid(key, "must be longer than zero"));
        }
        Ok(())
    }
}

impl TryFrom<String> for HumanDuration {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        humantime::parse_duration(s.trim())
            .map(HumanDuration)
            .map_err(|e| format!("invalid duration {s:?} ({e}); write e.g. \"30s\", \"5m\", \"7d\""))
    }
}

impl fmt::Debug for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

/// An `http(s)://` URL, checked at parse time.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct HttpUrl(pub url::Url);

impl TryFrom<String> for HttpUrl {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let u = url::Url::parse(s.trim()).map_err(|e| format!("invalid URL {s:?}: {e}"))?;
        if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
            return Err(format!("URL {s:?} must be http:// or https:// with a host"));
        }
        Ok(HttpUrl(u))
    }
}

impl HttpUrl {
    /// The URL without a trailing slash, ready to have a path appended.
    pub fn base(&self) -> String {
        self.0.as_str().trim_end_matches('/').to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_rejects_out_of_range() {
        assert!(Bounded::<1, 2000>::new(0).is_err());
        assert_eq!(Bounded::<1, 2000>::new(2000).map(Bounded::get), Ok(2000));
        assert_eq!(Bounded::<1, 2000>::new(5000).unwrap_err(), "must be 1..=2000, got 5000");
        assert_eq!(Bounded::<1, 2000>::of::<2000>().get(), 2000);
    }

    #[test]
    fn durations_parse() {
        assert_eq!(HumanDuration::try_from("7d".to_owned()).unwrap().get().as_secs(), 7 * 86400);
        assert!(HumanDuration::try_from("soon".to_owned()).is_err());
        assert_eq!(HumanDuration::secs::<90>().get(), Duration::from_secs(90));
        assert!(HumanDuration::secs::<1>().require_nonzero("t.timeout").is_ok());
        let zero = HumanDuration::secs::<0>().require_nonzero("t.timeout").unwrap_err().to_string();
        assert_eq!(zero, "invalid configuration: `t.timeout` must be longer than zero");
    }

    #[test]
    fn urls_need_http() {
        assert!(HttpUrl::try_from("ftp://x".to_owned()).is_err());
        assert_eq!(HttpUrl::try_from("https://a.example/b/".to_owned()).unwrap().base(), "https://a.example/b");
    }
}
