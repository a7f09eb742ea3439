//! Real routers (BIRD 2, FRR's bgpd, GoBGP) in a client namespace and ferrolb's BGP shell in a
//! node namespace, for `tests/bgp_routers.rs`.
//!
//! The routers run in the foreground as children of the test (`ip netns exec` execs them, so
//! the child's PID is the router's); [`Router`]'s `Drop` stops exactly that PID and removes
//! its scratch directory. The speaker is a `BgpController` on a thread that entered the node
//! namespace (`setns` is per thread, so every socket it opens lives there).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

use ferrolb::bgp::BgpController;
use ferrolb::bgp::announce::advertisements_for;
use ferrolb::bgp::metrics::BgpMetrics;
use ferrolb::config::Config;
use ferrolb::bgp::announce::should_announce;
use ferrolb::config::Protocol;
use ferrolb::election::EndpointsView;
use ferrolb::speaker::decision::{Announcement, Decision, ServiceInput, ServiceView, decide, pool_for};
use prometheus_client::registry::Registry;
use serde_json::Value;

use crate::support::{require_tool, run, stdout_of, wait_for};

pub const NODE: &str = "node1";
pub const NODE_V4: &str = "192.0.2.11";
pub const NODE_V6: &str = "2001:db8::11";

/// GoBGP is built by scripts/ci-deps into the cache (no Debian package).
pub fn gobgp_dir() -> PathBuf {
    let cache = std::env::var("FERROLB_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into())).join(".cache/ferrolb"));
    cache.join("gobgp-v3.37.0")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bird,
    Frr,
    Gobgp,
}

/// What the router is told about its one neighbour (ferrolb on node1).
#[derive(Debug, Clone)]
pub struct RouterConf {
    pub asn: u32,
    pub peer_asn: u32,
    pub password: Option<String>,
    /// Peer over IPv6 (2001:db8::) with the IPv6-unicast family, instead of IPv4.
    pub ipv6: bool,
}

impl RouterConf {
    /// An IPv4 session without a password.
    pub fn v4(asn: u32, peer_asn: u32) -> RouterConf {
        RouterConf {
            asn,
            peer_asn,
            password: None,
            ipv6: false,
        }
    }
}

/// The `peers` of a speaker config for [`bird_and_gobgp`]'s routers: BIRD (iBGP, AS 64500)
/// and, last, GoBGP (eBGP, AS 64501); our AS is 64500.
pub const BIRD_AND_GOBGP_PEERS: &str = "peers:
- peer-address: 192.0.2.51
  peer-asn: 64500
  my-asn: 64500
- peer-address: 192.0.2.53
  peer-asn: 64501
  my-asn: 64500
";

/// BIRD in client1 (iBGP: AS 64500 on both sides) and GoBGP in client3 (eBGP: AS 64501,
/// ours 64500), both over IPv4 without a password.
pub fn bird_and_gobgp() -> (Router, Router) {
    let bird = Router::start(Kind::Bird, "client1", RouterConf::v4(64500, 64500));
    let gobgp = Router::start(Kind::Gobgp, "client3", RouterConf::v4(64501, 64500));
    (bird, gobgp)
}

/// The router's IPv4 RIB once its prefixes are exactly `want` (in any order), within `limit`.
pub fn wait_rib_prefixes(
    router: &Router,
    want: &[&str],
    limit: Duration,
) -> Option<BTreeMap<String, Route>> {
    let mut want: Vec<&str> = want.to_vec();
    want.sort();
    wait_for(limit, || {
        let rib = router.rib(false);
        (rib.keys().map(String::as_str).collect::<Vec<_>>() == want).then_some(rib)
    })
}

/// One route as a router's RIB shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub next_hop: String,
    pub as_path: Vec<u32>,
    pub local_pref: Option<u32>,
    /// `high:low`, in the order the router lists them.
    pub communities: Vec<String>,
}

pub struct Router {
    pub kind: Kind,
    pub ns: String,
    pub addr: String,
    conf: RouterConf,
    neighbor: Option<String>,
    dir: PathBuf,
    child: Option<Child>,
}

impl Router {
    /// Starts the router in client namespace `ns` (`clientN`, address 192.0.2.(50+N)).
    pub fn start(kind: Kind, ns: &str, conf: RouterConf) -> Router {
        Router::start_for(kind, ns, conf, None)
    }

    /// [`Router::start`] with another neighbour than node1 (its address, of the family of
    /// `conf`).
    pub fn start_for(kind: Kind, ns: &str, conf: RouterConf, neighbor: Option<&str>) -> Router {
        match kind {
            Kind::Bird => {
                require_tool("bird");
                require_tool("birdc");
            }
            Kind::Frr => {
                require_tool("vtysh");
                assert!(PathBuf::from("/usr/lib/frr/bgpd").exists(), "missing /usr/lib/frr/bgpd: run scripts/ci-deps");
            }
            Kind::Gobgp => {
                assert!(gobgp_dir().join("gobgpd").exists(), "missing {}/gobgpd: run scripts/ci-deps", gobgp_dir().display());
            }
        }
        let idx: u32 = ns.trim_start_matches("client").parse().expect("router namespace is clientN");
        let addr = if conf.ipv6 { format!("2001:db8::{}", 50 + idx) } else { format!("192.0.2.{}", 50 + idx) };
        let dir = std::env::temp_dir().join(format!("ferrolb-bgp-{}-{:?}-{}", std::process::id(), kind, ns));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create router scratch dir");
        let neighbor = neighbor.map(str::to_string);
        let mut r = Router { kind, ns: ns.to_string(), addr, conf, neighbor, dir, child: None };
        r.write_config(idx);
        r.spawn();
        r
    }

    fn neighbor(&self) -> &str {
        match &self.neighbor {
            Some(n) => n,
            None if self.conf.ipv6 => NODE_V6,
            None => NODE_V4,
        }
    }

    fn write_config(&self, idx: u32) {
        let c = &self.conf;
        let rid = format!("192.0.2.{}", 50 + idx);
        let ibgp = c.asn == c.peer_asn;
        let text = match self.kind {
            Kind::Bird => {
                let mut s = format!("router id {rid};\nprotocol device {{}}\nprotocol bgp ferrolb {{\n");
                let _ = writeln!(s, "  local {} as {};\n  neighbor {} as {};\n  passive on;\n  error wait time 1, 5;", self.addr, c.asn, self.neighbor(), c.peer_asn);
                if let Some(p) = &c.password {
                    let _ = writeln!(s, "  password \"{p}\";");
                }
                // BIRD treats iBGP as multihop with recursive next hops; ferrolb is on the link.
                if ibgp {
                    s.push_str("  direct;\n");
                }
                s.push_str("  ipv4 { import all; export none; };\n");
                if c.ipv6 {
                    s.push_str("  ipv6 { import all; export none; };\n");
                }
                s.push_str("}\n");
                s
            }
            Kind::Frr => {
                let n = self.neighbor();
                let mut s = format!("frr defaults traditional\nhostname r{idx}\nlog stdout\nrouter bgp {}\n bgp router-id {rid}\n no bgp ebgp-requires-policy\n", c.asn);
                let _ = writeln!(s, " neighbor {n} remote-as {}\n neighbor {n} passive", c.peer_asn);
                if let Some(p) = &c.password {
                    let _ = writeln!(s, " neighbor {n} password {p}");
                }
                let _ = writeln!(s, " address-family ipv4 unicast\n  neighbor {n} activate\n exit-address-family");
                if c.ipv6 {
                    let _ = writeln!(s, " address-family ipv6 unicast\n  neighbor {n} activate\n exit-address-family");
                }
                s
            }
            Kind::Gobgp => {
                let mut s = format!("[global.config]\n  as = {}\n  router-id = \"{rid}\"\n  port = 179\n", c.asn);
                let _ = writeln!(s, "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{}\"\n    peer-as = {}", self.neighbor(), c.peer_asn);
                if let Some(p) = &c.password {
                    let _ = writeln!(s, "    auth-password = \"{p}\"");
                }
                let _ = writeln!(s, "  [neighbors.transport.config]\n    passive-mode = true");
                let _ = writeln!(s, "  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"ipv4-unicast\"");
                if c.ipv6 {
                    let _ = writeln!(s, "  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"ipv6-unicast\"");
                }
                s
            }
        };
        let name = match self.kind {
            Kind::Bird => "bird.conf",
            Kind::Frr => "bgpd.conf",
            Kind::Gobgp => "gobgpd.toml",
        };
        std::fs::write(self.dir.join(name), text).expect("write router config");
    }

    fn spawn(&mut self) {
        let d = |f: &str| self.dir.join(f).to_string_lossy().into_owned();
        let (bin, args): (String, Vec<String>) = match self.kind {
            Kind::Bird => ("bird".into(), vec!["-f".into(), "-c".into(), d("bird.conf"), "-s".into(), d("bird.ctl")]),
            Kind::Frr => (
                "/usr/lib/frr/bgpd".into(),
                vec![
                    "-Z".into(),
                    "-S".into(),
                    "-f".into(),
                    d("bgpd.conf"),
                    "-i".into(),
                    d("bgpd.pid"),
                    "--vty_socket".into(),
                    self.dir.to_string_lossy().into_owned(),
                    "-A".into(),
                    "127.0.0.1".into(),
                    "-P".into(),
                    "0".into(),
                ],
            ),
            Kind::Gobgp => (
                gobgp_dir().join("gobgpd").to_string_lossy().into_owned(),
                vec!["-f".into(), d("gobgpd.toml"), "--api-hosts".into(), "127.0.0.1:50051".into(), "--pprof-disable".into()],
            ),
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("router.log"))
            .expect("router log file");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns, &bin])
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log fd"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        self.child = Some(child);
        let ready = wait_for(Duration::from_secs(15), || self.answers().then_some(()));
        assert!(ready.is_some(), "{:?} in {} did not come up; log:\n{}", self.kind, self.ns, self.log());
    }

    /// The router's own log output.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("router.log")).unwrap_or_default()
    }

    fn cli(&self, args: &[&str]) -> Option<String> {
        let mut cmd = match self.kind {
            Kind::Bird => {
                let mut c = Command::new("birdc");
                c.arg("-s").arg(self.dir.join("bird.ctl"));
                c
            }
            Kind::Frr => {
                let mut c = Command::new("vtysh");
                c.arg("--vty_socket").arg(&self.dir).args(["-d", "bgpd"]);
                c
            }
            Kind::Gobgp => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", &self.ns]).arg(gobgp_dir().join("gobgp")).args(["-u", "127.0.0.1", "-p", "50051"]);
                c
            }
        };
        let out = run(cmd.args(args));
        out.status.success().then(|| stdout_of(&out))
    }

    fn answers(&self) -> bool {
        match self.kind {
            Kind::Bird => self.cli(&["show", "status"]).is_some_and(|s| s.contains("Daemon is up")),
            Kind::Frr => self.cli(&["-c", "show bgp summary json"]).is_some_and(|s| s.contains("routerId") || s.contains('{')),
            Kind::Gobgp => self.cli(&["global"]).is_some(),
        }
    }

    /// Whether the session with ferrolb is Established, as the router sees it.
    pub fn established(&self) -> bool {
        match self.kind {
            Kind::Bird => self.cli(&["show", "protocols", "ferrolb"]).is_some_and(|s| s.contains("Established")),
            Kind::Frr => self
                .cli(&["-c", &format!("show bgp neighbors {} json", self.neighbor())])
                .and_then(|s| serde_json::from_str::<Value>(&s).ok())
                .is_some_and(|v| v[self.neighbor()]["bgpState"] == "Established"),
            Kind::Gobgp => self
                .cli(&["neighbor", "-j"])
                .and_then(|s| serde_json::from_str::<Value>(&s).ok())
                .is_some_and(|v| v[0]["state"]["session_state"] == 6),
        }
    }

    /// What the router says about the last NOTIFICATION it received from ferrolb.
    pub fn last_notification(&self) -> String {
        match self.kind {
            Kind::Bird => self.cli(&["show", "protocols", "all", "ferrolb"]).unwrap_or_default(),
            Kind::Frr => self
                .cli(&["-c", &format!("show bgp neighbors {} json", self.neighbor())])
                .and_then(|s| serde_json::from_str::<Value>(&s).ok())
                .map(|v| v[self.neighbor()]["lastNotificationReason"].as_str().unwrap_or_default().to_string())
                .unwrap_or_default(),
            Kind::Gobgp => self.log(),
        }
    }

    /// The router's unicast RIB for one family: prefix → route.
    pub fn rib(&self, v6: bool) -> BTreeMap<String, Route> {
        match self.kind {
            Kind::Bird => {
                let table = if v6 { "master6" } else { "master4" };
                parse_bird(&self.cli(&["show", "route", "all", "table", table]).unwrap_or_default())
            }
            Kind::Frr => {
                let afi = if v6 { "ipv6" } else { "ipv4" };
                let summary = self.cli(&["-c", &format!("show bgp {afi} unicast json")]).unwrap_or_default();
                let Ok(v) = serde_json::from_str::<Value>(&summary) else { return BTreeMap::new() };
                let prefixes: Vec<String> = v["routes"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
                prefixes
                    .into_iter()
                    .filter_map(|p| {
                        let d = self.cli(&["-c", &format!("show bgp {afi} unicast {p} json")])?;
                        Some((p, parse_frr(&serde_json::from_str(&d).ok()?)?))
                    })
                    .collect()
            }
            Kind::Gobgp => {
                let args: &[&str] = if v6 { &["global", "rib", "-a", "ipv6", "-j"] } else { &["global", "rib", "-j"] };
                let Some(v) = self.cli(args).and_then(|s| serde_json::from_str::<Value>(&s).ok()) else { return BTreeMap::new() };
                v.as_object()
                    .map(|m| m.iter().filter_map(|(p, paths)| Some((p.clone(), parse_gobgp(&paths[0])?))).collect())
                    .unwrap_or_default()
            }
        }
    }

    /// Stops the router (SIGTERM, then SIGKILL after 5 s) and waits for it.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let pid = child.id() as libc::pid_t;
        // SAFETY: signalling the PID of a child we spawned and have not reaped (SIGCONT in
        // case a test left it stopped).
        unsafe {
            libc::kill(pid, libc::SIGCONT);
            libc::kill(pid, libc::SIGTERM);
        }
        let exited = wait_for(Duration::from_secs(5), || child.try_wait().ok().flatten());
        if exited.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP / SIGCONT: the router keeps its TCP sessions but falls silent.
    pub fn pause(&self, paused: bool) {
        let Some(child) = self.child.as_ref() else { return };
        let sig = if paused { libc::SIGSTOP } else { libc::SIGCONT };
        // SAFETY: signalling the PID of a child we spawned and have not reaped.
        unsafe { libc::kill(child.id() as libc::pid_t, sig) };
    }

    /// SIGKILL (no NOTIFICATION, no FIN from an orderly close: the kernel resets the
    /// sessions), down for `down`, then started again with the same config.
    pub fn kill_and_start(&mut self, down: Duration) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        std::thread::sleep(down);
        self.spawn();
    }

    /// Stop, then start again with the same config.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn parse_bird(text: &str) -> BTreeMap<String, Route> {
    let mut out = BTreeMap::new();
    let mut cur: Option<(String, Route)> = None;
    for line in text.lines() {
        let first = line.split_whitespace().next().unwrap_or_default();
        if !line.starts_with(char::is_whitespace) && first.contains('/') {
            out.extend(cur.take());
            let r = Route { next_hop: String::new(), as_path: vec![], local_pref: None, communities: vec![] };
            cur = Some((first.to_string(), r));
            continue;
        }
        let Some((_, r)) = cur.as_mut() else { continue };
        let Some((key, value)) = line.trim().split_once(": ") else { continue };
        match key {
            "BGP.next_hop" => r.next_hop = value.split_whitespace().next().unwrap_or_default().to_string(),
            "BGP.as_path" => r.as_path = value.split_whitespace().filter_map(|a| a.parse().ok()).collect(),
            "BGP.local_pref" => r.local_pref = value.trim().parse().ok(),
            "BGP.community" => {
                r.communities = value
                    .split_whitespace()
                    .map(|c| c.trim_matches(|ch| ch == '(' || ch == ')').replace(',', ":"))
                    .collect()
            }
            _ => {}
        }
    }
    out.extend(cur);
    out
}

fn parse_frr(v: &Value) -> Option<Route> {
    let p = &v["paths"][0];
    if p.is_null() {
        return None;
    }
    let as_path = p["aspath"]["segments"]
        .as_array()
        .map(|segs| segs.iter().flat_map(|s| s["list"].as_array().cloned().unwrap_or_default()).filter_map(|a| a.as_u64()).map(|a| a as u32).collect())
        .unwrap_or_default();
    let communities = p["community"]["string"]
        .as_str()
        .map(|s| s.split_whitespace().map(well_known).collect())
        .unwrap_or_default();
    Some(Route {
        next_hop: p["nexthops"][0]["ip"].as_str().unwrap_or_default().to_string(),
        as_path,
        local_pref: p["locPrf"].as_u64().map(|l| l as u32),
        communities,
    })
}

fn well_known(c: &str) -> String {
    match c {
        "no-export" => "65535:65281".into(),
        "no-advertise" => "65535:65282".into(),
        "local-AS" => "65535:65283".into(),
        other => other.to_string(),
    }
}

fn parse_gobgp(path: &Value) -> Option<Route> {
    let mut r = Route { next_hop: String::new(), as_path: vec![], local_pref: None, communities: vec![] };
    for a in path["attrs"].as_array()? {
        match a["type"].as_u64()? {
            2 => {
                r.as_path = a["as_paths"]
                    .as_array()
                    .map(|segs| segs.iter().flat_map(|s| s["asns"].as_array().cloned().unwrap_or_default()).filter_map(|x| x.as_u64()).map(|x| x as u32).collect())
                    .unwrap_or_default()
            }
            3 => r.next_hop = a["nexthop"].as_str().unwrap_or_default().to_string(),
            5 => r.local_pref = a["value"].as_u64().map(|l| l as u32),
            8 => {
                r.communities = a["communities"]
                    .as_array()
                    .map(|cs| cs.iter().filter_map(|c| c.as_u64()).map(|c| format!("{}:{}", c >> 16, c & 0xffff)).collect())
                    .unwrap_or_default()
            }
            14 => r.next_hop = a["nexthop"].as_str().unwrap_or_default().to_string(),
            _ => {}
        }
    }
    Some(r)
}

// ---------------------------------------------------------------- speaker

enum Cmd {
    Config(Config),
    Service(String, IpAddr),
    Delete(String),
    Labels(BTreeMap<String, String>),
    Balancer(Balancer),
    Shutdown,
}

/// One service event for the speaker's per-service logic (v0.9 `SetBalancer`), as the
/// speaker shell will run it: `decide` with BGP's `should_announce`, then the controller.
#[derive(Debug, Clone)]
pub struct Balancer {
    pub key: String,
    pub service: Option<ServiceView>,
    pub endpoints: Option<EndpointsView>,
    pub traffic_policy_local: bool,
}

/// ferrolb's BGP shell on node1, driven from the test thread.
pub struct Speaker {
    tx: tokio::sync::mpsc::UnboundedSender<Cmd>,
    thread: Option<JoinHandle<()>>,
    registry: Registry,
}

impl Speaker {
    pub fn start(ns: &str) -> Speaker {
        let metrics = BgpMetrics::default();
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Cmd>();
        let path = format!("/run/netns/{ns}");
        let thread = std::thread::spawn(move || {
            let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("opening {path}: {e}"));
            // SAFETY: a valid namespace descriptor; setns changes only this thread's namespace.
            let rc = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&file), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
            rt.block_on(async move {
                let mut ctl = BgpController::new(NODE, metrics);
                let mut config: Option<Config> = None;
                let mut announced: BTreeMap<String, Announcement> = BTreeMap::new();
                while let Some(cmd) = rx.recv().await {
                    match cmd {
                        Cmd::Config(c) => {
                            ctl.set_peers(&c.peers);
                            config = Some(c);
                        }
                        Cmd::Service(key, ip) => {
                            let c = config.as_ref().expect("test sends a config before services");
                            let pool = pool_for(c, ip).expect("test service IP is in a pool");
                            ctl.set_service(&key, advertisements_for(ip, pool)).expect("valid advertisements");
                        }
                        Cmd::Delete(key) => ctl.delete_service(&key),
                        Cmd::Labels(l) => ctl.set_node_labels(l),
                        Cmd::Balancer(b) => {
                            let input = ServiceInput { service: b.service.as_ref(), endpoints: b.endpoints.as_ref() };
                            let current = announced.get(&b.key).copied();
                            let eps = b.endpoints.clone().unwrap_or_default();
                            let d = decide(input, config.as_ref(), current, |p| match p {
                                Protocol::Bgp => should_announce(NODE, b.traffic_policy_local, &eps),
                                Protocol::Layer2 => None,
                            });
                            match d {
                                Decision::NoConfig => {}
                                Decision::Withdraw { withdraw, .. } => {
                                    if withdraw.is_some() {
                                        ctl.delete_service(&b.key);
                                        announced.remove(&b.key);
                                    }
                                }
                                Decision::Announce { ip, pool, protocol, replacing } => {
                                    if replacing.is_some() {
                                        ctl.delete_service(&b.key);
                                    }
                                    let c = config.as_ref().expect("Announce implies a config");
                                    let pool = c.pool(&pool).expect("decided pool exists");
                                    ctl.set_service(&b.key, advertisements_for(ip, pool)).expect("valid advertisements");
                                    announced.insert(b.key.clone(), Announcement { protocol, ip });
                                }
                            }
                        }
                        Cmd::Shutdown => break,
                    }
                }
                ctl.shutdown().await;
            });
        });
        Speaker { tx, thread: Some(thread), registry }
    }

    /// Applies a config payload (the ConfigMap's `config` key).
    pub fn config(&self, yaml: &str) {
        let c = ferrolb::config::parse(yaml).unwrap_or_else(|e| panic!("test config does not parse: {e}"));
        let _ = self.tx.send(Cmd::Config(c));
    }

    pub fn service(&self, key: &str, ip: &str) {
        let _ = self.tx.send(Cmd::Service(key.into(), ip.parse().expect("test IP")));
    }

    pub fn delete(&self, key: &str) {
        let _ = self.tx.send(Cmd::Delete(key.into()));
    }

    pub fn labels(&self, kv: &[(&str, &str)]) {
        let _ = self.tx.send(Cmd::Labels(kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()));
    }

    pub fn balancer(&self, b: Balancer) {
        let _ = self.tx.send(Cmd::Balancer(b));
    }

    /// The value of a `metallb_bgp_*` series, e.g. `metallb_bgp_session_up{peer="192.0.2.51:179"}`.
    pub fn metric(&self, series: &str) -> Option<f64> {
        let text = ferrolb::metrics::render(&self.registry);
        text.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
    }

    /// Closes every session with Cease and waits for the speaker to stop.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.tx.send(Cmd::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Speaker {
    fn drop(&mut self) {
        self.stop();
    }
}
