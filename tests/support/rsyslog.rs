//! A real rsyslogd for tests, on 127.0.0.1 only: its own config, work folder, pidfile and
//! output files in a temporary folder; inputs for plain TCP, TLS (gtls, anonymous clients),
//! mutual TLS (ossl, client certificate required), RELP and UDP on ports picked free. It is
//! started as a child (`rsyslogd -n`), awaited until every port is up, and stopped by its PID
//! on drop (TERM, a bounded wait, then KILL).
//!
//! Every message lands in `out/msg.log` as one line of tab-separated properties ending with
//! `%msg%` (rsyslog escapes control characters, e.g. LF as `#012`), and in `out/raw.log` as
//! `%rawmsg%`. The ruleset runs with a direct queue: a message is in the file before rsyslog
//! reads the next bytes, so even SIGKILL loses nothing it has confirmed.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::missing_panics_doc)]

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The Debian packages these tests need.
pub const PACKAGES: &str = "rsyslog rsyslog-gnutls rsyslog-openssl rsyslog-relp openssl";

/// How long rsyslogd may take to open its ports.
const START_LIMIT: Duration = Duration::from_secs(20);

/// Process handling for the daemons the syslog tests start (rsyslogd here, syslog-ng in
/// `syslog_ng.rs`): each is one child, started, watched and stopped by its PID.
pub mod process {
    use std::net::{TcpStream, UdpSocket};
    use std::process::Child;
    use std::time::{Duration, Instant};

    /// Whether every TCP port accepts a connection and the UDP port is taken (the daemon holds
    /// it once binding it here fails), all on 127.0.0.1, and process `pid` holds each of those
    /// sockets: a port picked free may be taken by another test before the daemon binds it,
    /// and then it would look up while the daemon had failed to listen there.
    pub fn listening(pid: u32, tcp: &[u16], udp: u16) -> bool {
        let tcp_up = tcp.iter().all(|port| {
            TcpStream::connect_timeout(&([127, 0, 0, 1], *port).into(), Duration::from_millis(200)).is_ok()
        });
        tcp_up && UdpSocket::bind(("127.0.0.1", udp)).is_err() && holds(pid, tcp, udp)
    }

    /// Whether `pid` has open the listening TCP sockets on `tcp` and the UDP socket on `udp`
    /// (socket inodes of `/proc/net/{tcp,udp}` against the links in `/proc/<pid>/fd`).
    fn holds(pid: u32, tcp: &[u16], udp: u16) -> bool {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return false };
        let owned: std::collections::HashSet<String> = fds
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter_map(|l| l.to_str()?.strip_prefix("socket:[")?.strip_suffix(']').map(str::to_owned))
            .collect();
        // Columns: sl, local address (hex ip:port), remote, state (0A = LISTEN), …, inode (10th).
        let inodes = |table: &str, ports: &[u16], listen_only: bool| -> bool {
            let text = std::fs::read_to_string(table).unwrap_or_default();
            ports.iter().all(|port| {
                text.lines().skip(1).any(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    f.len() > 9
                        && f[1].ends_with(&format!(":{port:04X}"))
                        && (!listen_only || f[3] == "0A")
                        && owned.contains(f[9])
                })
            })
        };
        inodes("/proc/net/tcp", tcp, true) && inodes("/proc/net/udp", &[udp], false)
    }

    /// Waits until `up()` says the freshly spawned `child` serves, it exits (its `stderr()` in
    /// the error), or `limit` passes (then it is killed).
    pub fn await_up(
        child: &mut Option<Child>,
        name: &str,
        limit: Duration,
        up: impl Fn() -> bool,
        stderr: impl Fn() -> String,
    ) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                *child = None;
                return Err(format!("{name} exited with {status}: {}", stderr()));
            }
            if up() {
                return Ok(());
            }
            if Instant::now() > deadline {
                stop(child, libc::SIGKILL, name);
                return Err(format!("{name} not up within {limit:?}: {}", stderr()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends `signal` to the daemon by PID and waits (bounded) until it is gone; KILL if it
    /// outlives the wait.
    pub fn stop(child: &mut Option<Child>, signal: i32, name: &str) {
        let Some(mut c) = child.take() else { return };
        let pid = i32::try_from(c.id()).unwrap();
        // SAFETY: kill(2) on the PID of our own child, which is not reaped yet.
        unsafe {
            libc::kill(pid, signal);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while c.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                if let Err(e) = c.kill().and_then(|()| c.wait().map(drop)) {
                    eprintln!("cannot kill {name} {pid}: {e}");
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Polls `read()` until `done` holds; panics with what arrived, and `stderr()`, after `limit`.
    pub fn wait_for<R: std::fmt::Debug>(
        name: &str,
        limit: Duration,
        read: impl Fn() -> Vec<R>,
        done: impl Fn(&[R]) -> bool,
        stderr: impl Fn() -> String,
    ) -> Vec<R> {
        let deadline = Instant::now() + limit;
        loop {
            let r = read();
            if done(&r) {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "{name} output incomplete after {limit:?}: {} records; last: {:?}; stderr: {}",
                r.len(),
                r.last(),
                stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Calls `spawn` until it succeeds (the old sockets may linger after a stop), for `limit`.
    pub fn restart(name: &str, limit: Duration, mut spawn: impl FnMut() -> Result<(), String>) {
        let deadline = Instant::now() + limit;
        loop {
            match spawn() {
                Ok(()) => return,
                Err(e) => assert!(Instant::now() < deadline, "{name} did not restart: {e}"),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn missing(what: &str) -> ! {
    panic!(
        "{what} is not installed; these tests need real rsyslog. Install: \
         apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {PACKAGES}"
    )
}

/// The rsyslogd binary (it lives in /usr/sbin, which is not always on a user's PATH).
pub fn rsyslogd() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("rsyslogd")).collect::<Vec<_>>())
        .unwrap_or_default();
    let candidates = on_path.into_iter().chain([PathBuf::from("/usr/sbin/rsyslogd"), PathBuf::from("/sbin/rsyslogd")]);
    candidates.into_iter().find(|p| p.is_file()).unwrap_or_else(|| missing("rsyslogd"))
}

/// Throwaway TLS material made with the `openssl` CLI.
#[derive(Debug, Clone)]
pub struct Certs {
    /// The CA certificate both sides trust.
    pub ca: PathBuf,
    /// Server certificate (SAN `IP:127.0.0.1`, `DNS:localhost`) and key.
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// Client certificate (for mutual TLS) and key.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A CA that signed nothing here, to prove verification happens.
    pub other_ca: PathBuf,
}

/// Runs `openssl` in `dir`, failing the test when it fails.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| missing(&format!("openssl ({e})")));
    assert!(out.status.success(), "openssl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

impl Certs {
    /// A CA, a server and a client certificate in `dir` (EC P-256, valid two days).
    pub fn make(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        for ca in ["ca", "other-ca"] {
            let mut args = vec!["req", "-x509"];
            args.extend(ec);
            let (key, pem, subj) = (format!("{ca}.key"), format!("{ca}.pem"), format!("/CN=esign-collector test {ca}"));
            args.extend(["-keyout", &key, "-out", &pem, "-days", "2", "-subj", &subj]);
            openssl(dir, &args);
        }
        for (who, usage, san) in
            [("server", "serverAuth", "IP:127.0.0.1,DNS:localhost"), ("client", "clientAuth", "DNS:client.test")]
        {
            let (key, csr, pem, ext) =
                (format!("{who}.key"), format!("{who}.csr"), format!("{who}.pem"), format!("{who}.ext"));
            std::fs::write(
                dir.join(&ext),
                format!(
                    "subjectAltName={san}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage={usage}\n"
                ),
            )
            .unwrap();
            let subj = format!("/CN={who}.test");
            let mut args = vec!["req"];
            args.extend(ec);
            args.extend(["-keyout", &key, "-out", &csr, "-subj", &subj]);
            openssl(dir, &args);
            openssl(
                dir,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-out",
                    &pem,
                    "-days",
                    "2",
                    "-extfile",
                    &ext,
                ],
            );
        }
        Self {
            ca: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client.key"),
            other_ca: dir.join("other-ca.pem"),
        }
    }
}

/// The receiver's ports, all on 127.0.0.1.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub tcp: u16,
    pub tls: u16,
    pub mtls: u16,
    pub relp: u16,
    pub udp: u16,
}

impl Ports {
    /// Ports that were free a moment ago (bound to port 0, then released). Another process
    /// may take one before rsyslogd binds it; `Rsyslog::start` then tries new ones.
    fn pick() -> Self {
        let tcp = || TcpListener::bind("127.0.0.1:0").unwrap();
        let held = [tcp(), tcp(), tcp(), tcp()];
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let p: Vec<u16> = held.iter().map(|l| l.local_addr().unwrap().port()).collect();
        Self { tcp: p[0], tls: p[1], mtls: p[2], relp: p[3], udp: udp.local_addr().unwrap().port() }
    }
}

/// One line of `msg.log`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub input: String,
    pub facility: String,
    pub severity: String,
    pub hostname: String,
    pub app_name: String,
    pub procid: String,
    pub msgid: String,
    pub structured_data: String,
    pub time: String,
    pub msg: String,
}

impl Record {
    /// `event_id` from `[esign@32473 event_id="…"]`, unescaped.
    pub fn sd_event_id(&self) -> Option<String> {
        let start = self.structured_data.find("event_id=\"")? + "event_id=\"".len();
        let mut out = String::new();
        let mut chars = self.structured_data[start..].chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.push(chars.next()?),
                '"' => return Some(out),
                c => out.push(c),
            }
        }
        None
    }
}

/// A running (or stopped, between restarts) rsyslogd.
#[derive(Debug)]
pub struct Rsyslog {
    dir: tempfile::TempDir,
    pub ports: Ports,
    conf: PathBuf,
    child: Option<Child>,
    /// TLS material (CA, server, client) the daemon and the tests use.
    pub certs: Certs,
}

fn config(root: &Path, ports: Ports, certs: &Certs) -> String {
    let r = root.display();
    let p = ports;
    format!(
        r#"global(workDirectory="{r}/work" maxMessageSize="64k"
       defaultNetstreamDriverCAFile="{ca}"
       defaultNetstreamDriverCertFile="{cert}"
       defaultNetstreamDriverKeyFile="{key}")
module(load="imtcp")
module(load="imudp")
module(load="imrelp")
template(name="fields" type="string"
         string="%inputname%\t%syslogfacility-text%\t%syslogseverity-text%\t%hostname%\t%app-name%\t%procid%\t%msgid%\t%structured-data%\t%timereported:::date-rfc3339%\t%msg%\n")
template(name="raw" type="string" string="%rawmsg%\n")
ruleset(name="rs" queue.type="direct") {{
    action(type="omfile" file="{r}/out/msg.log" template="fields")
    action(type="omfile" file="{r}/out/raw.log" template="raw")
}}
input(type="imtcp" name="tcp" address="127.0.0.1" port="{tcp}" ruleset="rs")
input(type="imtcp" name="tls" address="127.0.0.1" port="{tls}" ruleset="rs"
      streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
input(type="imtcp" name="mtls" address="127.0.0.1" port="{mtls}" ruleset="rs"
      streamDriver.name="ossl" streamDriver.mode="1" streamDriver.authMode="x509/certvalid")
input(type="imrelp" name="relp" address="127.0.0.1" port="{relp}" ruleset="rs")
input(type="imudp" name="udp" address="127.0.0.1" port="{udp}" ruleset="rs")
"#,
        ca = certs.ca.display(),
        cert = certs.server_cert.display(),
        key = certs.server_key.display(),
        tcp = p.tcp,
        tls = p.tls,
        mtls = p.mtls,
        relp = p.relp,
        udp = p.udp,
    )
}

impl Rsyslog {
    /// Writes a config, validates it (`rsyslogd -N1`), starts rsyslogd and waits until every
    /// input is up. Certificates are made in the same temporary folder.
    pub fn start() -> Self {
        let bin = rsyslogd();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_owned();
        std::fs::create_dir_all(root.join("work")).unwrap();
        std::fs::create_dir_all(root.join("out")).unwrap();
        let certs = Certs::make(&root.join("certs"));
        let conf = root.join("rsyslog.conf");
        let mut r = Self { dir, ports: Ports::pick(), conf, child: None, certs };
        let mut last = String::new();
        for _ in 0..5 {
            r.ports = Ports::pick();
            std::fs::write(&r.conf, config(&root, r.ports, &r.certs)).unwrap();
            let check = Command::new(&bin).args(["-N1", "-f"]).arg(&r.conf).output().unwrap();
            assert!(
                check.status.success(),
                "rsyslogd -N1 rejected the test config (are {PACKAGES} installed?): {}",
                String::from_utf8_lossy(&check.stderr)
            );
            match r.spawn() {
                Ok(()) => return r,
                Err(e) => last = e,
            }
        }
        panic!("rsyslogd did not start: {last}");
    }

    /// The folder holding config, certificates and output.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Starts rsyslogd with the current config and waits until all inputs are up.
    fn spawn(&mut self) -> Result<(), String> {
        let root = self.root().to_owned();
        let stderr = std::fs::OpenOptions::new().create(true).append(true).open(root.join("rsyslogd.stderr")).unwrap();
        let child = Command::new(rsyslogd())
            .arg("-n")
            .arg("-f")
            .arg(&self.conf)
            .arg("-i")
            .arg(root.join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot run rsyslogd: {e}"))?;
        let pid = child.id();
        self.child = Some(child);
        let p = self.ports;
        let log = root.join("rsyslogd.stderr");
        process::await_up(
            &mut self.child,
            "rsyslogd",
            START_LIMIT,
            || process::listening(pid, &[p.tcp, p.tls, p.mtls, p.relp], p.udp),
            || std::fs::read_to_string(&log).unwrap_or_default(),
        )
    }

    /// What rsyslogd wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.root().join("rsyslogd.stderr")).unwrap_or_default()
    }

    /// The PID of the running daemon.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends `signal` to the daemon by PID and waits (bounded) until it is gone; KILL if it
    /// outlives the wait.
    pub fn stop(&mut self, signal: i32) {
        process::stop(&mut self.child, signal, "rsyslogd");
    }

    /// Starts the daemon again on the same ports (retrying while the old sockets linger).
    pub fn restart(&mut self) {
        process::restart("rsyslogd", START_LIMIT, || self.spawn());
    }

    /// Every record written so far.
    pub fn records(&self) -> Vec<Record> {
        let text = std::fs::read_to_string(self.root().join("out/msg.log")).unwrap_or_default();
        text.lines()
            .map(|l| {
                let f: Vec<&str> = l.splitn(10, '\t').collect();
                assert_eq!(f.len(), 10, "unexpected output line {l:?}");
                Record {
                    input: f[0].into(),
                    facility: f[1].into(),
                    severity: f[2].into(),
                    hostname: f[3].into(),
                    app_name: f[4].into(),
                    procid: f[5].into(),
                    msgid: f[6].into(),
                    structured_data: f[7].into(),
                    time: f[8].into(),
                    msg: f[9].into(),
                }
            })
            .collect()
    }

    /// `%rawmsg%` lines written so far.
    pub fn raw(&self) -> Vec<String> {
        std::fs::read_to_string(self.root().join("out/raw.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Polls the output until `done(records)` holds; panics with what arrived after `limit`.
    pub fn wait_for(&self, limit: Duration, done: impl Fn(&[Record]) -> bool) -> Vec<Record> {
        process::wait_for("rsyslog", limit, || self.records(), done, || self.stderr())
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        self.stop(libc::SIGTERM);
    }
}
