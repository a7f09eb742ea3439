//! Live interop on loopback: our sans-IO core, driven by a tiny std::net UDP/TCP loop, and a
//! Go peer on hashicorp/memberlist v0.1.7 configured like MetalLB's speaker (127.0.0.x only).

mod memberlist_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrolb::memberlist::security::{self, metallb_key};
use ferrolb::memberlist::state::{Action, Config, MemberState, Memberlist};
use ferrolb::memberlist::stream;
use ferrolb::memberlist::wire::StreamMessage;
use memberlist_support::go_peer;

fn port() -> u16 {
    20000 + (std::process::id() % 20000) as u16
}

fn nonce() -> [u8; 12] {
    let mut n = [0u8; 12];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut n))
        .expect("read /dev/urandom");
    n
}

/// A Go peer process; killed (by its own PID) on drop.
struct GoPeer {
    child: Child,
    members: Arc<Mutex<Vec<String>>>,
    log: Arc<Mutex<Vec<String>>>,
}

impl GoPeer {
    fn start(name: &str, ip: &str, secret: &str, join: Option<SocketAddr>) -> GoPeer {
        let mut cmd = Command::new(go_peer());
        cmd.args([
            "peer",
            "-name",
            name,
            "-bind",
            ip,
            "-port",
            &port().to_string(),
            "-secret",
            secret,
        ]);
        if let Some(j) = join {
            cmd.args(["-join", &j.to_string()]);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start Go peer");
        let err = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let l = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                l.lock().unwrap().push(line);
            }
        });
        let out = child.stdout.take().unwrap();
        let members = Arc::new(Mutex::new(Vec::new()));
        let m = members.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let v: serde_json::Value = serde_json::from_str(&line).expect("JSON member list");
                let names = v["members"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|x| x["name"].as_str().unwrap().to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                *m.lock().unwrap() = names;
            }
        });
        GoPeer {
            child,
            members,
            log,
        }
    }

    /// memberlist's error and warning lines (decode failures, bad checksums, conflicts...).
    fn complaints(&self) -> Vec<String> {
        memberlist_support::complaints(&self.log.lock().unwrap())
    }

    fn members(&self) -> Vec<String> {
        self.members.lock().unwrap().clone()
    }

    /// Close stdin: the peer leaves (1 s timeout) and exits.
    fn leave(mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

impl Drop for GoPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Our node: the core plus sockets.
struct RustNode {
    core: Memberlist,
    key: Option<[u8; 16]>,
    udp: UdpSocket,
    tcp: TcpListener,
    decode_errors: usize,
}

fn read_stream(s: &mut TcpStream, key: Option<[u8; 16]>) -> Option<StreamMessage> {
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let keys: Vec<[u8; 16]> = key.into_iter().collect();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(m) = stream::read_message(&buf, &keys).ok()? {
            return Some(m);
        }
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

impl RustNode {
    fn new(name: &str, ip: &str, secret: &str) -> RustNode {
        let ip: IpAddr = ip.parse().unwrap();
        let key = metallb_key(secret);
        let mut cfg = Config::metallb(name, ip, key.is_some());
        cfg.port = port();
        let core = Memberlist::new(cfg, Instant::now(), u64::from(std::process::id()) ^ 0x5eed);
        let udp = UdpSocket::bind((ip, port())).expect("bind UDP");
        udp.set_read_timeout(Some(Duration::from_millis(10)))
            .unwrap();
        let tcp = TcpListener::bind((ip, port())).expect("bind TCP");
        tcp.set_nonblocking(true).unwrap();
        RustNode {
            core,
            key,
            udp,
            tcp,
            decode_errors: 0,
        }
    }

    /// Stream payloads from the core are already compressed: only seal them.
    fn stream_out(&self, plain: &[u8]) -> Vec<u8> {
        stream::write_message(plain, false, self.key.as_ref(), &nonce())
    }

    /// Returns how many push/pulls succeeded.
    fn perform(&mut self, actions: Vec<Action>) -> usize {
        let mut ok = 0;
        for a in actions {
            match a {
                Action::SendPacket { to, payload } => {
                    let bytes = match self.key {
                        Some(k) => security::seal(&k, &nonce(), &payload, &[]),
                        None => payload,
                    };
                    let _ = self.udp.send_to(&bytes, to);
                }
                Action::TcpPing {
                    to,
                    seq,
                    payload,
                    deadline,
                } => {
                    let left = deadline
                        .saturating_duration_since(Instant::now())
                        .max(Duration::from_millis(1));
                    let reply = TcpStream::connect_timeout(&to, left)
                        .ok()
                        .and_then(|mut s| {
                            s.write_all(&self.stream_out(&payload)).ok()?;
                            read_stream(&mut s, self.key)
                        });
                    self.core.handle_tcp_ping_reply(Instant::now(), seq, reply);
                }
                Action::PushPull { to, payload, .. } => {
                    let Ok(mut s) = TcpStream::connect_timeout(&to, Duration::from_secs(1)) else {
                        continue;
                    };
                    if s.write_all(&self.stream_out(&payload)).is_err() {
                        continue;
                    }
                    if let Some(reply) = read_stream(&mut s, self.key)
                        && self
                            .core
                            .handle_push_pull_reply(Instant::now(), reply)
                            .is_ok()
                    {
                        ok += 1;
                    }
                }
                // This core runs with v0.1.7's failure detection only (Config::metallb).
                Action::Watch { .. } | Action::Unwatch { .. } => {}
            }
        }
        ok
    }

    fn join(&mut self, to: SocketAddr) -> usize {
        let out = self.core.join(&[to]);
        self.perform(out)
    }

    fn run(&mut self, d: Duration) {
        let end = Instant::now() + d;
        let mut buf = vec![0u8; 65536];
        while Instant::now() < end {
            let out = self.core.tick(Instant::now());
            self.perform(out);
            if let Ok((n, from)) = self.udp.recv_from(&mut buf) {
                let plain = match self.key {
                    Some(k) => security::open(&[k], &buf[..n], &[]).map_err(|_| ()),
                    None => Ok(buf[..n].to_vec()),
                };
                match plain.and_then(|p| {
                    self.core
                        .handle_packet(Instant::now(), from, &p)
                        .map_err(|_| ())
                }) {
                    Ok(out) => {
                        self.perform(out);
                    }
                    Err(()) => self.decode_errors += 1,
                }
            }
            if let Ok((mut s, _)) = self.tcp.accept() {
                s.set_nonblocking(false).unwrap();
                match read_stream(&mut s, self.key) {
                    Some(msg) => {
                        if let Some(reply) = self.core.handle_stream(Instant::now(), msg) {
                            let _ = s.write_all(&self.stream_out(&reply));
                        }
                    }
                    None => self.decode_errors += 1,
                }
            }
        }
    }

    fn alive_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.core.members().iter().map(|m| m.name.clone()).collect();
        v.sort();
        v
    }

    fn state_of(&self, name: &str) -> Option<MemberState> {
        self.core
            .nodes()
            .iter()
            .find(|n| n.name == name)
            .map(|n| n.state)
    }

    fn addr(&self) -> SocketAddr {
        self.udp.local_addr().unwrap()
    }
}

/// Runs our node until `cond` holds or `limit` passes; returns whether it held.
fn run_until(
    node: &mut RustNode,
    limit: Duration,
    mut cond: impl FnMut(&RustNode) -> bool,
) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        node.run(Duration::from_millis(100));
        if cond(node) {
            return true;
        }
    }
    false
}

/// The Go peer `go-node` on `go_ip` (given 500 ms to start) and our `rust-node` on `rust_ip`,
/// both with `secret`, not joined yet.
fn go_and_rust(go_ip: &str, rust_ip: &str, secret: &str) -> (GoPeer, RustNode) {
    let go = GoPeer::start("go-node", go_ip, secret, None);
    std::thread::sleep(Duration::from_millis(500));
    let node = RustNode::new("rust-node", rust_ip, secret);
    (go, node)
}

/// [`go_and_rust`] without encryption, our node joined to the Go peer (the push/pull reached
/// it) and seeing both alive within 5 s (and the Go peer too if `go_sees_both`).
fn joined_go_and_rust(go_ip: &str, rust_ip: &str, go_sees_both: bool) -> (GoPeer, RustNode) {
    let (go, mut node) = go_and_rust(go_ip, rust_ip, "");
    assert_eq!(
        node.join(SocketAddr::new(go_ip.parse().unwrap(), port())),
        1
    );
    assert!(run_until(&mut node, Duration::from_secs(5), |n| n
        .alive_names()
        .len()
        == 2
        && (!go_sees_both || go.members().len() == 2)));
    (go, node)
}

/// Runs our node until it and the Go peer both list `go-node` and `rust-node` as the members,
/// within `limit` (panics with both lists if not); returns that list.
fn see_each_other(node: &mut RustNode, go: &GoPeer, limit: Duration) -> Vec<String> {
    let both = vec!["go-node".to_string(), "rust-node".to_string()];
    let ok = run_until(node, limit, |n| {
        n.alive_names() == both && go.members() == both
    });
    assert!(
        ok,
        "ours: {:?}, Go's: {:?}",
        node.alive_names(),
        go.members()
    );
    both
}

fn both_see_each_other(secret: &str, go_ip: &str, rust_ip: &str) {
    let (go, mut node) = go_and_rust(go_ip, rust_ip, secret);
    let go_addr = SocketAddr::new(go_ip.parse().unwrap(), port());
    assert_eq!(node.join(go_addr), 1, "push/pull join with the Go peer");
    let both = see_each_other(&mut node, &go, Duration::from_secs(10));
    // Stay together through several probe rounds and a gossip exchange.
    node.run(Duration::from_secs(3));
    assert_eq!(node.alive_names(), both);
    assert_eq!(go.members(), both);
    assert_eq!(node.decode_errors, 0);
    assert_eq!(
        go.complaints(),
        Vec::<String>::new(),
        "Go logged errors about our traffic"
    );
}

#[test]
fn go_peer_and_rust_core_see_each_other_without_encryption() {
    both_see_each_other("", "127.0.0.21", "127.0.0.22");
}

#[test]
fn go_peer_and_rust_core_see_each_other_with_metallb_encryption() {
    both_see_each_other("a-shared-memberlist-secret", "127.0.0.23", "127.0.0.24");
}

#[test]
fn a_different_secret_never_joins() {
    let go = GoPeer::start("go-node", "127.0.0.25", "the-go-secret", None);
    std::thread::sleep(Duration::from_millis(500));
    let mut node = RustNode::new("rust-node", "127.0.0.26", "another-secret");
    assert_eq!(
        node.join(SocketAddr::new("127.0.0.25".parse().unwrap(), port())),
        0
    );
    node.run(Duration::from_secs(3));
    assert_eq!(node.alive_names(), ["rust-node"]);
    assert_eq!(go.members(), ["go-node"]);
    assert!(
        node.decode_errors > 0
            || go
                .complaints()
                .iter()
                .any(|l| l.contains("decrypt") || l.contains("Decrypt")),
        "the wrong key was noticed"
    );
}

#[test]
fn killed_go_peer_is_detected_dead_and_rejoins_after_restart() {
    let (go_ip, rust_ip) = ("127.0.0.27", "127.0.0.28");
    let (go, mut node) = joined_go_and_rust(go_ip, rust_ip, false);
    drop(go); // SIGKILL
    assert!(
        run_until(&mut node, Duration::from_secs(30), |n| n
            .state_of("go-node")
            == Some(MemberState::Dead)),
        "state of go-node: {:?}",
        node.state_of("go-node")
    );
    // The restarted Go peer joins us (as a restarted speaker joins the listed pods).
    let go = GoPeer::start("go-node", go_ip, "", Some(node.addr()));
    see_each_other(&mut node, &go, Duration::from_secs(15));
}

#[test]
fn go_peer_leaving_is_seen_as_left() {
    let (go_ip, rust_ip) = ("127.0.0.29", "127.0.0.30");
    let (go, mut node) = joined_go_and_rust(go_ip, rust_ip, false);
    let leaver = std::thread::spawn(move || go.leave());
    assert!(run_until(&mut node, Duration::from_secs(5), |n| n
        .state_of("go-node")
        == Some(MemberState::Left)));
    leaver.join().unwrap();
}

#[test]
fn rust_core_leaving_is_seen_by_go() {
    let (go_ip, rust_ip) = ("127.0.0.31", "127.0.0.32");
    let (go, mut node) = joined_go_and_rust(go_ip, rust_ip, true);
    node.core.leave(Instant::now());
    assert!(
        run_until(&mut node, Duration::from_secs(1), |n| n
            .core
            .leave_finished()),
        "leave broadcast done within 1 s"
    );
    let end = Instant::now() + Duration::from_secs(5);
    while go.members() != ["go-node"] && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(go.members(), ["go-node"]);
}

#[test]
fn mixed_cluster_of_two_go_peers_and_rust_converges_and_agrees_on_a_death() {
    let (a_ip, b_ip, rust_ip) = ("127.0.0.33", "127.0.0.34", "127.0.0.35");
    let secret = "mixed-cluster-secret";
    let go_a = GoPeer::start("go-a", a_ip, secret, None);
    std::thread::sleep(Duration::from_millis(500));
    let a_addr = SocketAddr::new(a_ip.parse().unwrap(), port());
    let go_b = GoPeer::start("go-b", b_ip, secret, Some(a_addr));
    let mut node = RustNode::new("rust-node", rust_ip, secret);
    assert_eq!(node.join(a_addr), 1);
    let all = vec![
        "go-a".to_string(),
        "go-b".to_string(),
        "rust-node".to_string(),
    ];
    let ok = run_until(&mut node, Duration::from_secs(15), |n| {
        n.alive_names() == all && go_a.members() == all && go_b.members() == all
    });
    assert!(
        ok,
        "ours: {:?}, go-a: {:?}, go-b: {:?}",
        node.alive_names(),
        go_a.members(),
        go_b.members()
    );
    // Several probe rounds with indirect probes available: nobody is suspected wrongly.
    node.run(Duration::from_secs(4));
    assert_eq!(node.alive_names(), all);
    assert_eq!(go_a.members(), all);
    assert_eq!(go_a.complaints(), Vec::<String>::new());
    drop(go_b); // SIGKILL
    let rest = vec!["go-a".to_string(), "rust-node".to_string()];
    let ok = run_until(&mut node, Duration::from_secs(40), |n| {
        n.alive_names() == rest && go_a.members() == rest
    });
    assert!(
        ok,
        "ours: {:?}, go-a: {:?}",
        node.alive_names(),
        go_a.members()
    );
    assert_eq!(node.decode_errors, 0);
}
