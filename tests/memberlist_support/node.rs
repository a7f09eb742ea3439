//! A memberlist member process for the tests: the Go peer (`tests/peers/memberlist-go`) or
//! ferrolb's `examples/ml_node.rs`, on loopback or inside a network namespace; SIGKILLed by its
//! PID when its guard drops.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::go_peer;

/// Now, in Unix seconds.
pub fn wall_clock() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The memberlist port of the loopback tests of this test binary (one per process, so two
/// test binaries never meet).
pub fn port() -> u16 {
    30000 + (std::process::id() % 20000) as u16
}

pub fn addr(ip: &str) -> String {
    format!("{ip}:{}", port())
}

/// Builds `examples/ml_node.rs` once (a no-op when `cargo test` already built it).
pub fn ml_node() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .expect("CARGO_TARGET_TMPDIR is <target>/tmp")
            .to_path_buf();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--example", "ml_node", "--manifest-path"])
            .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", &target)
            .status()
            .expect("run cargo build --example ml_node");
        assert!(status.success(), "cargo build --example ml_node failed");
        target.join("debug/examples/ml_node")
    })
    .clone()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Go,
    Rust,
}

/// A member process (Go peer or ferrolb node); SIGKILLed by its PID on drop.
pub struct Node {
    pub name: String,
    pub child: Child,
    /// stdout's JSON lines, each with the wall-clock time (Unix seconds) it was read.
    out: Arc<Mutex<Vec<(f64, Value)>>>,
    err: Arc<Mutex<Vec<String>>>,
}

impl Node {
    pub fn start(kind: Kind, name: &str, ip: &str, secret: &str, join: &[&str]) -> Node {
        Node::start_in(None, kind, name, ip, port(), secret, join, &[])
    }

    /// A member inside network namespace `netns` (or here), on `ip:port`, joining `join`
    /// (addresses without a port get `port`); `extra` goes to the program as it is.
    #[allow(clippy::too_many_arguments)]
    pub fn start_in(
        netns: Option<&str>,
        kind: Kind,
        name: &str,
        ip: &str,
        port: u16,
        secret: &str,
        join: &[&str],
        extra: &[&str],
    ) -> Node {
        let join: Vec<String> = join.iter().map(|ip| format!("{ip}:{port}")).collect();
        let program = match kind {
            Kind::Go => go_peer(),
            Kind::Rust => ml_node(),
        };
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(program);
                c
            }
            None => Command::new(program),
        };
        match kind {
            Kind::Go => cmd.arg("peer"),
            Kind::Rust => cmd.arg("--exit-on-stdin-eof"),
        };
        let port = port.to_string();
        let dash = |f: &str| match kind {
            Kind::Go => format!("-{f}"),
            Kind::Rust => format!("--{f}"),
        };
        cmd.args([&dash("name"), name, &dash("bind"), ip, &dash("port"), &port]);
        cmd.args([&dash("secret"), secret]);
        if !join.is_empty() {
            cmd.args([&dash("join"), &join.join(",")]);
        }
        cmd.args(extra);
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start a member process");
        let out = Arc::new(Mutex::new(Vec::new()));
        let o = out.clone();
        let stdout = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
                o.lock().unwrap().push((wall_clock(), v));
            }
        });
        let err = Arc::new(Mutex::new(Vec::new()));
        let e = err.clone();
        let stderr = child.stderr.take().expect("piped stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                e.lock().unwrap().push(line);
            }
        });
        let n = Node {
            name: name.to_string(),
            child,
            out,
            err,
        };
        // Ready once it printed its first member list (itself).
        assert!(
            wait(Duration::from_secs(10), || !n.members().is_empty()),
            "{name} did not start: {:?}",
            n.err.lock().unwrap()
        );
        n
    }

    pub fn lines(&self) -> Vec<Value> {
        self.out
            .lock()
            .unwrap()
            .iter()
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The lines with the wall-clock time each was read (Unix seconds).
    pub fn lines_at(&self) -> Vec<(f64, Value)> {
        self.out.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The member names from the last `{"members":[..]}` line, sorted.
    pub fn members(&self) -> Vec<String> {
        let lines = self.lines();
        let Some(last) = lines.iter().rev().find(|v| v.get("members").is_some()) else {
            return Vec::new();
        };
        let mut v: Vec<String> = last["members"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|m| m["name"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// memberlist's error and warning lines (Go peers).
    pub fn complaints(&self) -> Vec<String> {
        super::complaints(&self.err.lock().unwrap())
    }

    /// A memberlist log line containing `needle`: stderr for Go peers, the
    /// `{"component":"MemberList","msg":..}` lines for ferrolb nodes.
    pub fn log_has(&self, needle: &str) -> bool {
        self.err.lock().unwrap().iter().any(|l| l.contains(needle))
            || self
                .lines()
                .iter()
                .filter_map(|v| v.get("msg").and_then(Value::as_str).map(str::to_string))
                .any(|l| l.contains(needle))
    }

    /// The last `{"stats":..}` line (ferrolb nodes print one each second the counters move).
    pub fn stats(&self) -> Value {
        self.lines()
            .iter()
            .rev()
            .find_map(|v| v.get("stats").cloned())
            .unwrap_or(Value::Null)
    }

    pub fn stat(&self, key: &str) -> u64 {
        self.stats()[key].as_u64().unwrap_or(0)
    }

    /// The event lines (ferrolb nodes): (event, node, state).
    pub fn events(&self) -> Vec<(String, String, String)> {
        self.lines()
            .iter()
            .filter(|v| v.get("event").is_some())
            .map(|v| {
                let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
                (s("event"), s("node"), s("state"))
            })
            .collect()
    }

    /// The `{"join":..}` line, once the node has printed it (each address can take up to the
    /// 10 s TCP timeout).
    pub fn join_line(&self) -> Option<Value> {
        let find = || self.lines().iter().find_map(|v| v.get("join").cloned());
        wait(Duration::from_secs(25), || find().is_some());
        find()
    }

    pub fn sigterm(&self) {
        // SAFETY: kill(2) on the PID of a child we spawned and have not reaped.
        let r = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        assert_eq!(r, 0, "SIGTERM {}", self.name);
    }

    pub fn wait_exit(&mut self, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn wait(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    cond()
}

pub fn names(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// Every node reports `want` as its member list within `limit`.
pub fn converge(nodes: &[&Node], want: &[&str], limit: Duration) {
    let want = names(want);
    let ok = wait(limit, || nodes.iter().all(|n| n.members() == want));
    let views: Vec<(String, Vec<String>)> = nodes
        .iter()
        .map(|n| (n.name.clone(), n.members()))
        .collect();
    assert!(ok, "wanted {want:?} everywhere, got {views:?}");
}

/// Nobody logged a memberlist error or warning, and our nodes dropped nothing.
pub fn quiet(nodes: &[&Node]) {
    for n in nodes {
        assert_eq!(
            n.complaints(),
            Vec::<String>::new(),
            "{} complained",
            n.name
        );
        for k in [
            "packets_malformed",
            "packets_undecryptable",
            "streams_refused",
        ] {
            assert_eq!(n.stat(k), 0, "{} counted {k}: {}", n.name, n.stats());
        }
    }
}

/// "Within the default timers": join is one push/pull, the rest is gossip (200 ms) and
/// probes (1 s); 10 s leaves room for a loaded CI machine without hiding a stall.
pub const CONVERGE: Duration = Duration::from_secs(10);
/// Probe (1 s) + suspicion (4 s with 2 members, more with awareness) + gossip, with slack.
pub const DETECT: Duration = Duration::from_secs(30);
