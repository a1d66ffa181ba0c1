//! A real syslog-ng for tests, on 127.0.0.1 only: its own config, persist file, control
//! socket, pidfile and output in a temporary folder; sources on ports picked free. Started as
//! a child (`syslog-ng -F`), awaited until every port is up, stopped by its PID on drop.
//!
//! Sources (each named in the output's `src` as `s_<name>`):
//! - `nl`, `nl_tls`: `network()` over TCP and TLS, newline framing (RFC 6587 §3.4.2);
//! - `oc`, `oc_tls`: `syslog()` over TCP and TLS, octet counting (RFC 6587 §3.4.1, RFC 5425);
//! - `ca_leaf`, `self_leaf`: `syslog()` over TLS with a self-signed certificate that is
//!   CA:TRUE (as `openssl req -x509` makes it) and one that is CA:FALSE;
//! - `udp`: `syslog()` over UDP with the default receive buffer.
//!
//! Every message lands in `out/msg.jsonl` as one JSON object (`format-json`, so a newline
//! inside a message stays escaped). The log path has `flags(flow-control)`.
//!
//! syslog-ng-core conflicts with rsyslog as a Debian package, so the test script unpacks it
//! (`dpkg -x`) into `target/syslog-ng-core`; `SYSLOG_NG_ROOT` may name another unpacked root.
//! An installed `/usr/sbin/syslog-ng` is used when neither exists.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::missing_panics_doc)]

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::rsyslog::{Certs, openssl, process};

/// How long syslog-ng may take to open its ports.
const START_LIMIT: Duration = Duration::from_secs(20);

/// Where the binary and its modules are.
#[derive(Debug, Clone)]
struct Install {
    bin: PathBuf,
    /// `--module-path` and `LD_LIBRARY_PATH` for an unpacked root.
    modules: Option<(PathBuf, PathBuf)>,
}

fn install() -> Install {
    let unpacked = std::env::var_os("SYSLOG_NG_ROOT")
        .map(PathBuf::from)
        .into_iter()
        .chain([Path::new(env!("CARGO_TARGET_TMPDIR")).join("../syslog-ng-core")]);
    for root in unpacked {
        let bin = root.join("usr/sbin/syslog-ng");
        let lib = root.join("usr/lib/syslog-ng");
        let version = std::fs::read_dir(&lib).ok().and_then(|d| {
            d.filter_map(Result::ok).map(|e| e.path()).find(|p| p.is_dir() && p.join("libafsocket.so").is_file())
        });
        if let (true, Some(modules)) = (bin.is_file(), version) {
            return Install { bin, modules: Some((modules, lib)) };
        }
    }
    let installed = PathBuf::from("/usr/sbin/syslog-ng");
    if installed.is_file() {
        return Install { bin: installed, modules: None };
    }
    panic!(
        "syslog-ng is not available; these tests need real syslog-ng. Run scripts/test once (it unpacks \
         Debian's syslog-ng-core into target/syslog-ng-core), or set SYSLOG_NG_ROOT to a `dpkg -x` of it"
    )
}

/// The receiver's ports, all on 127.0.0.1.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub nl: u16,
    pub oc: u16,
    pub nl_tls: u16,
    pub oc_tls: u16,
    pub ca_leaf: u16,
    pub self_leaf: u16,
    pub udp: u16,
}

impl Ports {
    fn pick() -> Self {
        let tcp = || TcpListener::bind("127.0.0.1:0").unwrap();
        let held = [tcp(), tcp(), tcp(), tcp(), tcp(), tcp()];
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let p: Vec<u16> = held.iter().map(|l| l.local_addr().unwrap().port()).collect();
        Self {
            nl: p[0],
            oc: p[1],
            nl_tls: p[2],
            oc_tls: p[3],
            ca_leaf: p[4],
            self_leaf: p[5],
            udp: udp.local_addr().unwrap().port(),
        }
    }

    fn tcp(&self) -> [u16; 6] {
        [self.nl, self.oc, self.nl_tls, self.oc_tls, self.ca_leaf, self.self_leaf]
    }
}

/// Self-signed server certificates for 127.0.0.1: one CA:TRUE, one CA:FALSE.
#[derive(Debug, Clone)]
pub struct SelfSigned {
    pub ca_true: (PathBuf, PathBuf),
    pub ca_false: (PathBuf, PathBuf),
}

impl SelfSigned {
    fn make(dir: &Path) -> Self {
        let make = |name: &str, extra: &[&str]| {
            let (key, pem) = (format!("{name}.key"), format!("{name}.pem"));
            let mut args = vec!["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
            args.extend(["-keyout", &key, "-out", &pem, "-days", "2", "-subj", "/CN=127.0.0.1"]);
            args.extend(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"]);
            args.extend(extra);
            openssl(dir, &args);
            (dir.join(&pem), dir.join(&key))
        };
        Self {
            // What `openssl req -x509` gives by default with OpenSSL 3.
            ca_true: make("self-ca-true", &[]),
            ca_false: make("self-ca-false", &["-addext", "basicConstraints=critical,CA:FALSE"]),
        }
    }
}

/// A running (or stopped, between restarts) syslog-ng.
#[derive(Debug)]
pub struct SyslogNg {
    dir: tempfile::TempDir,
    pub ports: Ports,
    conf: PathBuf,
    child: Option<Child>,
    install: Install,
    /// CA, CA-signed server and client certificates.
    pub certs: Certs,
    /// The two self-signed server certificates.
    pub self_signed: SelfSigned,
}

fn config(root: &Path, p: Ports, certs: &Certs, ss: &SelfSigned) -> String {
    let r = root.display();
    let tls = |cert: &Path, key: &Path| {
        format!(
            "tls(key-file(\"{}\") cert-file(\"{}\") peer-verify(optional-untrusted))",
            key.display(),
            cert.display()
        )
    };
    let leaf = tls(&certs.server_cert, &certs.server_key);
    format!(
        r#"@version: 3.38
options {{ keep-hostname(yes); chain-hostnames(no); use-dns(no); dns-cache(no); log-msg-size(65536); stats-freq(0); }};
source s_nl {{ network(ip("127.0.0.1") port({nl}) transport("tcp") flags(syslog-protocol)); }};
source s_oc {{ syslog(ip("127.0.0.1") port({oc}) transport("tcp")); }};
source s_nl_tls {{ network(ip("127.0.0.1") port({nl_tls}) transport("tls") flags(syslog-protocol) {leaf}); }};
source s_oc_tls {{ syslog(ip("127.0.0.1") port({oc_tls}) transport("tls") {leaf}); }};
source s_ca_leaf {{ syslog(ip("127.0.0.1") port({ca_leaf}) transport("tls") {ca_true}); }};
source s_self_leaf {{ syslog(ip("127.0.0.1") port({self_leaf}) transport("tls") {ca_false}); }};
source s_udp {{ syslog(ip("127.0.0.1") port({udp}) transport("udp")); }};
destination d_file {{
    file("{r}/out/msg.jsonl" template("$(format-json src=${{SOURCE}} host=${{HOST}} program=${{PROGRAM}} pid=${{PID}} msgid=${{MSGID}} facility=${{FACILITY}} severity=${{LEVEL}} time=${{ISODATE}} event_id=${{.SDATA.esign@32473.event_id}} msg=${{MSG}})\n"));
}};
log {{ source(s_nl); source(s_oc); source(s_nl_tls); source(s_oc_tls); source(s_ca_leaf); source(s_self_leaf); source(s_udp);
      destination(d_file); flags(flow-control); }};
"#,
        nl = p.nl,
        oc = p.oc,
        nl_tls = p.nl_tls,
        oc_tls = p.oc_tls,
        ca_leaf = p.ca_leaf,
        self_leaf = p.self_leaf,
        udp = p.udp,
        ca_true = tls(&ss.ca_true.0, &ss.ca_true.1),
        ca_false = tls(&ss.ca_false.0, &ss.ca_false.1),
    )
}

/// One stored message.
#[derive(Debug, Clone)]
pub struct Record {
    /// The source it arrived on: `s_nl`, `s_oc`, `s_nl_tls`, `s_oc_tls`, `s_self_leaf`, `s_udp`.
    pub src: String,
    pub event_id: String,
    pub msgid: String,
    pub host: String,
    pub msg: String,
}

impl SyslogNg {
    /// Writes a config, checks it (`--syntax-only`), starts syslog-ng, waits for its ports.
    pub fn start() -> Self {
        let install = install();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_owned();
        std::fs::create_dir_all(root.join("out")).unwrap();
        let certs = Certs::make(&root.join("certs"));
        let self_signed = SelfSigned::make(&root.join("certs"));
        let conf = root.join("syslog-ng.conf");
        let mut s = Self { dir, ports: Ports::pick(), conf, child: None, install, certs, self_signed };
        let mut last = String::new();
        for _ in 0..5 {
            s.ports = Ports::pick();
            std::fs::write(&s.conf, config(&root, s.ports, &s.certs, &s.self_signed)).unwrap();
            let check = s.command().arg("--syntax-only").output().unwrap();
            assert!(
                check.status.success(),
                "syslog-ng rejected the test config: {}",
                String::from_utf8_lossy(&check.stderr)
            );
            match s.spawn() {
                Ok(()) => return s,
                Err(e) => last = e,
            }
        }
        panic!("syslog-ng did not start: {last}");
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.install.bin);
        if let Some((modules, lib)) = &self.install.modules {
            c.arg(format!("--module-path={}", modules.display())).env("LD_LIBRARY_PATH", lib);
        }
        let root = self.root();
        c.arg("-f").arg(&self.conf);
        c.arg("-R").arg(root.join("syslog-ng.persist"));
        c.arg("-c").arg(root.join("syslog-ng.ctl"));
        c.arg("-p").arg(root.join("syslog-ng.pid"));
        c
    }

    /// The folder holding config, certificates and output.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    fn spawn(&mut self) -> Result<(), String> {
        let stderr =
            std::fs::OpenOptions::new().create(true).append(true).open(self.root().join("syslog-ng.stderr")).unwrap();
        let child = self
            .command()
            .args(["-F", "-e", "--no-caps"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot run syslog-ng: {e}"))?;
        let pid = child.id();
        self.child = Some(child);
        let p = self.ports;
        let log = self.root().join("syslog-ng.stderr");
        process::await_up(
            &mut self.child,
            "syslog-ng",
            START_LIMIT,
            || process::listening(pid, &p.tcp(), p.udp),
            || std::fs::read_to_string(&log).unwrap_or_default(),
        )
    }

    /// What syslog-ng wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.root().join("syslog-ng.stderr")).unwrap_or_default()
    }

    /// Sends `signal` to the daemon by PID and waits (bounded) until it is gone.
    pub fn stop(&mut self, signal: i32) {
        process::stop(&mut self.child, signal, "syslog-ng");
    }

    /// Starts the daemon again on the same ports (retrying while the old sockets linger).
    pub fn restart(&mut self) {
        process::restart("syslog-ng", START_LIMIT, || self.spawn());
    }

    /// Ends the output with a newline if a killed daemon left half a record, so the next
    /// run's first record is not glued to it. Returns whether it had to.
    pub fn end_torn_line(&self) -> bool {
        use std::io::Write;
        let path = self.root().join("out/msg.jsonl");
        let torn = std::fs::read(&path).is_ok_and(|b| b.last().is_some_and(|c| *c != b'\n'));
        if torn {
            let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
            f.write_all(b"\n").unwrap();
        }
        torn
    }

    /// Every record stored so far (a partly written last line is skipped).
    pub fn records(&self) -> Vec<Record> {
        let text = std::fs::read_to_string(self.root().join("out/msg.jsonl")).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|v| {
                let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
                Record { src: s("src"), event_id: s("event_id"), msgid: s("msgid"), host: s("host"), msg: s("msg") }
            })
            .collect()
    }

    /// Polls the output until `done(records)` holds; panics with what arrived after `limit`.
    pub fn wait_for(&self, limit: Duration, done: impl Fn(&[Record]) -> bool) -> Vec<Record> {
        process::wait_for("syslog-ng", limit, || self.records(), done, || self.stderr())
    }
}

impl Drop for SyslogNg {
    fn drop(&mut self) {
        self.stop(libc::SIGTERM);
    }
}
