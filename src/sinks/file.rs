//! The file sink: NDJSON appended to a file, `fsync`ed before the page is confirmed. The file
//! is reopened after SIGHUP, and also whenever the path no longer names the open file (it was
//! rotated or removed), so logrotate works with or without a postrotate signal. A failed
//! write is rolled back to the previous length: a full disk leaves no half-written line.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use serde::Deserialize;
use tracing::{info, warn};

use super::{Batch, Sink, SinkError};
use crate::values::ConfigError;

/// `[[sinks]] type = "file"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSinkConfig {
    /// The file lines are appended to (its folder is created if missing).
    pub path: PathBuf,
    /// Permissions of the file (e.g. `0o640` for a reading forwarder): given to a file the sink
    /// creates, and to an existing file when the sink opens it.
    #[serde(default = "default_mode")]
    pub mode: u32,
    /// What each line is: `raw` (the record as it came plus our fields), `ecs` or `ocsf`
    /// (see docs/mapping.md).
    #[serde(default)]
    pub format: crate::format::Format,
    /// With `ecs` or `ocsf`: keep the raw line in `event.original` / `raw_data`.
    #[serde(default)]
    pub include_original: bool,
}

fn default_mode() -> u32 {
    0o600
}

/// Bumped by SIGHUP; each file sink reopens when it sees a new value.
static HANGUPS: AtomicU64 = AtomicU64::new(0);
static HANGUP_LISTENER: OnceLock<()> = OnceLock::new();

/// Installs the SIGHUP listener once per process, on a small thread of its own so it outlives
/// any runtime. The handler is registered before this returns: a SIGHUP can never take the
/// default action (terminate) once a file sink exists.
fn listen_for_hangups() {
    HANGUP_LISTENER.get_or_init(|| {
        use tokio::signal::unix::{SignalKind, signal};
        let rt = match tokio::runtime::Builder::new_current_thread().enable_io().build() {
            Ok(rt) => rt,
            Err(e) => return warn!(error = %e, "Cannot listen for SIGHUP; rotated files are still detected by inode."),
        };
        let registered = {
            let _in_rt = rt.enter();
            signal(SignalKind::hangup())
        };
        let mut hup = match registered {
            Ok(s) => s,
            Err(e) => return warn!(error = %e, "Cannot listen for SIGHUP; rotated files are still detected by inode."),
        };
        let spawned = std::thread::Builder::new().name("sighup".into()).spawn(move || {
            rt.block_on(async move {
                while hup.recv().await.is_some() {
                    HANGUPS.fetch_add(1, Ordering::SeqCst);
                    info!("SIGHUP: file sinks reopen their files before the next page.");
                }
            });
        });
        if let Err(e) = spawned {
            warn!(error = %e, "Cannot listen for SIGHUP; rotated files are still detected by inode.");
        }
    });
}

/// Appends lines to a file.
#[derive(Debug)]
pub struct FileSink {
    name: String,
    path: PathBuf,
    mode: u32,
    file: Option<File>,
    seen_hangups: u64,
    buf: Vec<u8>,
    /// Whether the "cannot apply the mode" warning was logged (once per sink, not per reopen).
    mode_warned: bool,
}

impl FileSink {
    /// Prepares the sink; the file is opened at the first page.
    ///
    /// # Errors
    /// `ConfigError` when `mode` is not a permission mode.
    pub fn open(name: &str, cfg: &FileSinkConfig) -> Result<Self, ConfigError> {
        if cfg.mode > 0o777 {
            return Err(ConfigError::Invalid {
                key: format!("sinks.{name}.mode"),
                message: format!("{:#o} is not a permission mode (write e.g. 0o640)", cfg.mode),
            });
        }
        listen_for_hangups();
        Ok(Self {
            name: name.to_owned(),
            path: cfg.path.clone(),
            mode: cfg.mode,
            file: None,
            seen_hangups: HANGUPS.load(Ordering::SeqCst),
            buf: Vec::new(),
            mode_warned: false,
        })
    }

    fn err(&self, source: std::io::Error) -> SinkError {
        SinkError::Io { sink: format!("{} ({})", self.name, self.path.display()), source }
    }

    /// Gives a file that already existed the configured mode, so a file created `0644` (by
    /// hand, by an older version, by logrotate) does not stay readable by everyone. When the
    /// chmod fails (another user owns the file) one warning names both modes; writing goes on.
    fn apply_mode(&mut self, file: &File) {
        let have = match file.metadata() {
            Ok(m) => m.permissions().mode() & 0o777,
            Err(e) => return self.warn_mode(None, &e),
        };
        if have == self.mode {
            return;
        }
        match file.set_permissions(std::fs::Permissions::from_mode(self.mode)) {
            Ok(()) => info!(
                sink = %self.name,
                path = %self.path.display(),
                from = %format!("{have:03o}"),
                to = %format!("{:03o}", self.mode),
                "Gave the existing output file its configured mode."
            ),
            Err(e) => self.warn_mode(Some(have), &e),
        }
    }

    fn warn_mode(&mut self, have: Option<u32>, e: &std::io::Error) {
        if std::mem::replace(&mut self.mode_warned, true) {
            return;
        }
        let have = have.map_or_else(|| "unknown".to_owned(), |m| format!("{m:03o}"));
        warn!(
            sink = %self.name,
            path = %self.path.display(),
            mode = %have,
            configured = %format!("{:03o}", self.mode),
            error = %e,
            "Cannot give the existing output file its configured mode; it keeps its own. Fix its owner or mode."
        );
    }

    /// Whether the open file is still the one the path names.
    fn still_current(&self, file: &File) -> bool {
        match (file.metadata(), std::fs::metadata(&self.path)) {
            (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
            _ => false,
        }
    }

    fn file(&mut self) -> Result<&mut File, SinkError> {
        let hangups = HANGUPS.load(Ordering::SeqCst);
        let stale = hangups != self.seen_hangups || self.file.as_ref().is_some_and(|f| !self.still_current(f));
        if stale {
            self.file = None;
            self.seen_hangups = hangups;
        }
        if self.file.is_none() {
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| self.err(e))?;
            }
            let existed = self.path.exists();
            let f =
                OpenOptions::new().create(true).read(true).append(true).open(&self.path).map_err(|e| self.err(e))?;
            if !existed {
                f.set_permissions(std::fs::Permissions::from_mode(self.mode)).map_err(|e| self.err(e))?;
                // A new file's directory entry must be durable too, or a power loss after the
                // checkpoint commit could take the whole file away.
                let dir = self.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
                File::open(dir).and_then(|d| d.sync_all()).map_err(|e| self.err(e))?;
            }
            if existed {
                self.apply_mode(&f);
                drop_torn_tail(&f).map_err(|e| self.err(e))?.inspect(|cut| {
                    warn!(sink = %self.name, path = %self.path.display(), bytes = cut, "The file ended in a partial line (a run was killed mid-write); removed it. Its page was not committed and is delivered again.");
                });
            }
            info!(sink = %self.name, path = %self.path.display(), "Opened the output file.");
            self.file = Some(f);
        }
        self.file
            .as_mut()
            .ok_or_else(|| SinkError::Io { sink: "file".into(), source: std::io::Error::other("file not open") })
    }
}

/// Cuts a partial last line (no trailing newline) left by a process killed mid-write, so the
/// next line does not glue onto it. Returns how many bytes were cut, if any.
fn drop_torn_tail(f: &File) -> std::io::Result<Option<u64>> {
    use std::os::unix::fs::FileExt;
    let len = f.metadata()?.len();
    let mut end = len;
    let mut chunk = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let n = usize::try_from(end - start).unwrap_or(chunk.len());
        f.read_exact_at(&mut chunk[..n], start)?;
        if let Some(i) = chunk[..n].iter().rposition(|&b| b == b'\n') {
            let keep = start + i as u64 + 1;
            if keep == len {
                return Ok(None);
            }
            f.set_len(keep)?;
            f.sync_data()?;
            return Ok(Some(len - keep));
        }
        end = start;
    }
    if len == 0 {
        return Ok(None);
    }
    f.set_len(0)?;
    f.sync_data()?;
    Ok(Some(len))
}

#[async_trait]
impl Sink for FileSink {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&mut self, batch: &Batch) -> Result<(), SinkError> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        // One allocation of the page's size, not a doubling series of copies into fresh pages.
        buf.reserve(batch.lines.iter().map(|l| l.json.len() + 1).sum());
        for l in &batch.lines {
            buf.extend_from_slice(l.json.as_bytes());
            buf.push(b'\n');
        }
        let result = self.append(&buf);
        self.buf = buf;
        if result.is_err() {
            // Reopen next time: the handle may be in any state after an I/O error.
            self.file = None;
        }
        result
    }
}

impl FileSink {
    fn append(&mut self, buf: &[u8]) -> Result<(), SinkError> {
        let file = self.file()?;
        let before = file.metadata().map(|m| m.len());
        let written = file.write_all(buf).and_then(|()| file.sync_data());
        if let Err(e) = written {
            // Roll back a partial page so the file never holds half a line.
            if let Ok(len) = before
                && let Err(t) = file.set_len(len)
            {
                warn!(error = %t, "Cannot roll back a partial write; the file may end in a partial line.");
            }
            return Err(self.err(e));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Format;
    use crate::sinks::testkit::ids as batch;

    #[test]
    fn a_torn_last_line_is_cut_on_open() {
        let (_dir, path) = crate::testkit::scratch("out.jsonl");
        let big = "x".repeat(100_000);
        std::fs::write(&path, format!("{{\"a\":1}}\n{{\"b\":\"{big}")).unwrap();
        let cfg: FileSinkConfig = toml::from_str(&format!("path = {:?}", path.display().to_string())).unwrap();
        let mut sink = FileSink::open("file[0]", &cfg).unwrap();
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(sink.send(&batch(&["c"]))).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"a\":1}\n{\"id\":\"c\"}\n");
        // A whole file is left alone; a file with no newline at all is all torn.
        let f = OpenOptions::new().read(true).write(true).open(&path).unwrap();
        assert_eq!(drop_torn_tail(&f).unwrap(), None);
        std::fs::write(&path, "{\"partial").unwrap();
        let f = OpenOptions::new().read(true).write(true).open(&path).unwrap();
        assert_eq!(drop_torn_tail(&f).unwrap(), Some(9));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }
    fn sink(path: &std::path::Path) -> FileSink {
        FileSink::open(
            "file[0]",
            &FileSinkConfig { path: path.to_owned(), mode: 0o640, format: Format::Raw, include_original: false },
        )
        .unwrap()
    }

    #[tokio::test]
    async fn appends_and_creates_with_mode() {
        let (_dir, p) = crate::testkit::scratch("out/events.jsonl");
        let mut s = sink(&p);
        s.send(&batch(&["a", "b"])).await.unwrap();
        s.send(&batch(&["c"])).await.unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{\"id\":\"a\"}\n{\"id\":\"b\"}\n{\"id\":\"c\"}\n");
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o640);
    }

    #[tokio::test]
    async fn an_existing_file_gets_the_configured_mode() {
        let (_dir, p) = crate::testkit::scratch_with("events.jsonl", "{\"id\":\"old\"}\n");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut s = sink(&p);
        s.send(&batch(&["a"])).await.unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o640);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{\"id\":\"old\"}\n{\"id\":\"a\"}\n");
        assert!(!s.mode_warned);
    }

    #[test]
    fn a_file_it_cannot_chmod_is_warned_about_once() {
        // procfs refuses a chmod of a process's entries, even to root.
        let Ok(f) = File::open("/proc/self/stat") else { return };
        let mut s = sink(std::path::Path::new("unused"));
        s.apply_mode(&f);
        assert!(s.mode_warned, "the failed chmod is reported");
        s.apply_mode(&f);
        assert!(s.mode_warned);
    }

    #[tokio::test]
    async fn follows_rotation_by_rename() {
        let (dir, p) = crate::testkit::scratch("events.jsonl");
        let mut s = sink(&p);
        s.send(&batch(&["a"])).await.unwrap();
        std::fs::rename(&p, dir.path().join("events.jsonl.1")).unwrap();
        s.send(&batch(&["b"])).await.unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{\"id\":\"b\"}\n");
        assert_eq!(std::fs::read_to_string(dir.path().join("events.jsonl.1")).unwrap(), "{\"id\":\"a\"}\n");
    }

    #[tokio::test]
    async fn reopens_after_sighup() {
        let (_dir, p) = crate::testkit::scratch("events.jsonl");
        let mut s = sink(&p);
        s.send(&batch(&["a"])).await.unwrap();
        // copytruncate-style rotation keeps the inode: only the signal tells us.
        let before = HANGUPS.load(Ordering::SeqCst);
        unsafe {
            libc::raise(libc::SIGHUP);
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while HANGUPS.load(Ordering::SeqCst) == before {
            assert!(std::time::Instant::now() < deadline, "SIGHUP not seen");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        s.send(&batch(&["b"])).await.unwrap();
        assert_eq!(s.seen_hangups, HANGUPS.load(Ordering::SeqCst));
        assert!(std::fs::read_to_string(&p).unwrap().ends_with("{\"id\":\"b\"}\n"));
    }

    #[tokio::test]
    async fn unwritable_path_fails_the_send() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("blocker"), b"x").unwrap();
        let mut s = sink(&dir.path().join("blocker/events.jsonl"));
        let e = s.send(&batch(&["a"])).await.unwrap_err();
        assert!(e.to_string().contains("file[0]"), "{e}");
    }

    #[test]
    fn bad_mode_is_refused() {
        let e = FileSink::open(
            "file[0]",
            &FileSinkConfig { path: "x".into(), mode: 0o1777, format: Format::Raw, include_original: false },
        )
        .unwrap_err();
        assert!(e.to_string().contains("permission mode"), "{e}");
    }
}
