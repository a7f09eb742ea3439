//! The layer2 speaker scenario on the harness (3 node namespaces + 1 client on bridge flb0,
//! the real API server), run with any speaker binary: ferrolb's or the v0.9 reference.
//!
//! The test creates what no controller-manager creates here: the Node objects, the
//! Endpoints objects (nodeName set, as the endpoints controller would) and the Services'
//! `status.loadBalancer` (as the MetalLB controller would). Every observation on the wire is
//! taken by `tcpdump` in the client namespace; [`Observed`] holds what the two binaries must
//! agree on.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::support::{Applied, Cluster, InCluster, InClusterOpts, METALLB_NS, NodeObject, Topology, run_ok, wait_for};

/// The speakers' ConfigMap (not `config`, so a controller test running beside us never
/// reads it).
pub const CONFIGMAP: &str = "speaker-l2";
/// The Services' namespace. A ValidatingAdmissionPolicy ([`ISOLATION`]) keeps any MetalLB
/// controller that another suite runs on the shared cluster from rewriting their status.
pub const NS: &str = "speaker-l2";

pub const ISOLATION: &str = r#"
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: speaker-l2-status-is-the-tests
spec:
  failurePolicy: Fail
  matchConstraints:
    namespaceSelector:
      matchLabels:
        kubernetes.io/metadata.name: speaker-l2
    resourceRules:
    - apiGroups: [""]
      apiVersions: ["v1"]
      operations: ["UPDATE"]
      resources: ["services/status"]
  validations:
  - expression: "request.userInfo.username != 'system:serviceaccount:metallb-system:controller'"
    message: "the speaker tests own the status of Services in namespace speaker-l2"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: speaker-l2-status-is-the-tests
spec:
  policyName: speaker-l2-status-is-the-tests
  validationActions: [Deny]
"#;
pub const V4: &str = "192.0.2.100";
pub const V6: &str = "2001:db8::100";
pub const SHARED6: &str = "2001:db8::105";
/// Indices 21.. so that other suites' `Topology::up` (node1.., client1..) never meets ours.
pub const NODES: [&str; 3] = ["node21", "node22", "node23"];
pub const CLIENT: &str = "client21";

/// The namespaces NODES and CLIENT on bridge flb0 (`scripts/netns add`); deletes exactly
/// the ones it created on drop.
pub struct Namespaces {
    created: Vec<String>,
}

impl Namespaces {
    pub fn up() -> Namespaces {
        crate::support::require_root();
        crate::support::require_tool("ip");
        let out = run_ok(Command::new(crate::support::script("netns")).arg("add").args(NODES).arg(CLIENT));
        Namespaces { created: out.lines().map(str::to_string).collect() }
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        if !self.created.is_empty() {
            let _ = Command::new(crate::support::script("netns")).arg("del").args(&self.created).output();
        }
    }
}

pub const GOOD: &str = "address-pools:\n- name: l2v4\n  protocol: layer2\n  addresses:\n  - 192.0.2.96/28\n- name: l2v6\n  protocol: layer2\n  addresses:\n  - 2001:db8::100/120\n";
/// Drops the pool of the announced IPv4 Service: a v0.9 speaker rejects it.
pub const BAD: &str = "address-pools:\n- name: l2v4\n  protocol: layer2\n  addresses:\n  - 192.0.2.200/29\n- name: l2v6\n  protocol: layer2\n  addresses:\n  - 2001:db8::100/120\n";

pub fn mac_of(node: &str) -> String {
    Topology::addr(node, "mac")
}

/// The layer2 owner by v0.9's rule, computed here from SHA-256 directly.
pub fn owner(service_key: &str, nodes: &[&str]) -> String {
    let mut keyed: Vec<([u8; 32], &str)> = nodes
        .iter()
        .map(|n| {
            let mut h = Sha256::new();
            h.update(format!("{n}#{service_key}").as_bytes());
            (h.finalize().into(), *n)
        })
        .collect();
    keyed.sort();
    keyed[0].1.to_string()
}

// ---------------------------------------------------------------- objects

/// Creates namespace [`NS`] unless it is active; waits out the termination of an earlier
/// one (no kube-controller-manager runs here, so a deleted namespace keeps its `kubernetes`
/// finalizer forever: it is finalized by hand). It is left in place afterwards.
pub fn ensure_namespace(c: &Arc<Cluster>) {
    let ok = wait_for(Duration::from_secs(60), || {
        let out = c.kubectl(&["get", "ns", NS, "-o", "json"]);
        let obj: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let phase = obj["status"]["phase"].as_str().unwrap_or_default().to_string();
        if out.status.success() && phase == "Active" {
            return Some(());
        }
        if out.status.success() && phase == "Terminating" {
            let mut obj = obj;
            obj["spec"]["finalizers"] = json!([]);
            let _ = c.kubectl_stdin(&["replace", "--raw", &format!("/api/v1/namespaces/{NS}/finalize"), "-f", "-"], &obj.to_string());
        }
        if !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("NotFound") {
            let created = c.kubectl(&["create", "ns", NS]);
            if created.status.success() {
                return Some(());
            }
        }
        None
    });
    assert!(ok.is_some(), "namespace {NS} did not become active");
}

/// Applies [`ISOLATION`] and waits until the API server enforces it (policies compile
/// asynchronously): a status write as the controller on a probe Service must be denied.
pub fn isolate(c: &Arc<Cluster>) -> Applied {
    let applied = c.apply(ISOLATION);
    let _probe = c.apply(
        &json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "isolation-probe", "namespace": NS},
                "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}})
        .to_string(),
    );
    let enforced = wait_for(Duration::from_secs(30), || {
        let mut obj = c.get_json(&["-n", NS, "svc", "isolation-probe"]);
        obj["status"] = json!({"loadBalancer": {"ingress": [{"ip": "192.0.2.99"}]}});
        let out = c.kubectl_stdin(
            &[
                "--as=system:serviceaccount:metallb-system:controller",
                "replace",
                "--raw",
                &format!("/api/v1/namespaces/{NS}/services/isolation-probe/status"),
                "-f",
                "-",
            ],
            &obj.to_string(),
        );
        String::from_utf8_lossy(&out.stderr).contains("the speaker tests own").then_some(())
    });
    assert!(enforced.is_some(), "the isolation policy is not enforced");
    applied
}

pub fn configmap(c: &Arc<Cluster>, payload: &str) -> Applied {
    c.apply(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": CONFIGMAP, "namespace": METALLB_NS}, "data": {"config": payload}}).to_string())
}

/// A LoadBalancer Service without selector whose status shows `ip`.
pub fn service(c: &Arc<Cluster>, name: &str, ip: &str) -> Applied {
    let applied = c.apply(
        &json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NS},
                "spec": {"type": "LoadBalancer", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})
        .to_string(),
    );
    let patch = json!({"status": {"loadBalancer": {"ingress": [{"ip": ip}]}}}).to_string();
    c.kubectl_ok(&["-n", NS, "patch", "svc", name, "--subresource=status", "--type=merge", "-p", &patch]);
    applied
}

/// The Endpoints object of `name` with one ready address on each of `nodes`.
pub fn endpoints(c: &Arc<Cluster>, name: &str, nodes: &[&str]) -> Applied {
    c.apply(&endpoints_manifest(name, nodes))
}

fn endpoints_manifest(name: &str, nodes: &[&str]) -> String {
    let addresses: Vec<_> = nodes
        .iter()
        .map(|n| json!({"ip": format!("203.0.113.{}", 10 + n.trim_start_matches("node").parse::<u32>().unwrap_or(0)), "nodeName": n}))
        .collect();
    let subsets = if addresses.is_empty() {
        json!([])
    } else {
        json!([{"addresses": addresses, "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}])
    };
    json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": NS}, "subsets": subsets}).to_string()
}

/// Updates the Endpoints object of `name` in place (its guard from [`endpoints`] stays).
pub fn move_endpoints(c: &Arc<Cluster>, name: &str, nodes: &[&str]) {
    let out = c.kubectl_stdin(&["apply", "-f", "-"], &endpoints_manifest(name, nodes));
    assert!(out.status.success(), "kubectl apply: {}", String::from_utf8_lossy(&out.stderr));
}

// ---------------------------------------------------------------- capture

/// One frame tcpdump printed (`-e -tt -v -nn`).
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub t: f64,
    pub src: String,
    pub dst: String,
    pub kind: FrameKind,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum FrameKind {
    /// `Request who-has T tell S`
    ArpRequest {
        target: String,
        sender: String,
    },
    /// `Reply IP is-at MAC`
    ArpReply {
        ip: String,
        mac: String,
    },
    /// Neighbor advertisement: target, `Flags [...]` text, target link-layer option.
    Na {
        target: String,
        flags: String,
        tll: String,
        to: String,
    },
    Other,
}

fn parse_record(rec: &str) -> Option<Frame> {
    let mut words = rec.split_whitespace();
    let t: f64 = words.next()?.parse().ok()?;
    let src = words.next()?.to_string();
    words.next()?; // '>'
    let dst = words.next()?.trim_end_matches(',').to_string();
    let after = |key: &str| rec.split_once(key).map(|(_, r)| r.split_whitespace().next().unwrap_or("").trim_end_matches(',').to_string());
    let kind = if rec.contains("ethertype ARP") && rec.contains("Request who-has") {
        FrameKind::ArpRequest { target: after("who-has ")?, sender: after("tell ")? }
    } else if rec.contains("ethertype ARP") && rec.contains("Reply ") {
        FrameKind::ArpReply { ip: after("Reply ")?, mac: after("is-at ")? }
    } else if rec.contains("neighbor advertisement") {
        let flags = rec.split_once("Flags [").and_then(|(_, r)| r.split_once(']')).map(|(f, _)| f.to_string()).unwrap_or_default();
        let to = rec.split_once(" > ").and_then(|(_, r)| r.split_once(" > ")).map(|(_, r)| r.split(':').next().unwrap_or("").to_string());
        // `IP6 src > dst:` — take the IPv6 destination after the header's closing paren.
        let to = rec
            .split_once(") ")
            .and_then(|(_, r)| r.split_once(" > "))
            .and_then(|(_, r)| r.split_once(": "))
            .map(|(d, _)| d.to_string())
            .or(to)
            .unwrap_or_default();
        FrameKind::Na { target: after("tgt is ")?, flags, tll: after("link-address option (2), length 8 (1): ").unwrap_or_default(), to }
    } else {
        FrameKind::Other
    };
    Some(Frame { t, src, dst, kind })
}

/// tcpdump in the client namespace, started by us; stopped (SIGTERM to its PID) by
/// [`Capture::stop`] or on drop.
pub struct Capture {
    child: Option<Child>,
    out: PathBuf,
    err: PathBuf,
}

fn tmp(name: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = std::env::temp_dir().join("ferrolb-tests");
    fs::create_dir_all(&dir).expect("tmp dir");
    dir.join(format!("{name}-{}-{}", std::process::id(), N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)))
}

impl Capture {
    pub fn start(ns: &str) -> Capture {
        let (out, err) = (tmp("cap.out"), tmp("cap.err"));
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "tcpdump", "-i", "eth0", "-nn", "-e", "-tt", "-v", "-l", "-U"])
            .arg("arp or (icmp6 and ip6[40] == 136)")
            .stdout(fs::File::create(&out).expect("capture file"))
            .stderr(fs::File::create(&err).expect("capture file"))
            .stdin(Stdio::null())
            .spawn()
            .expect("start tcpdump");
        let ready = wait_for(Duration::from_secs(10), || fs::read_to_string(&err).ok().filter(|s| s.contains("listening on")).map(|_| ()));
        assert!(ready.is_some(), "tcpdump did not start: {}", fs::read_to_string(&err).unwrap_or_default());
        Capture { child: Some(child), out, err }
    }

    /// Stops tcpdump and returns what it saw.
    pub fn stop(mut self) -> Vec<Frame> {
        self.kill();
        let text = fs::read_to_string(&self.out).unwrap_or_default();
        let mut records: Vec<String> = vec![];
        for line in text.lines() {
            if line.starts_with(|c: char| c.is_ascii_digit()) {
                records.push(line.to_string());
            } else if let Some(last) = records.last_mut() {
                last.push(' ');
                last.push_str(line.trim());
            }
        }
        records.iter().filter_map(|r| parse_record(r)).collect()
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // `ip netns exec` execs tcpdump: the PID is tcpdump's, and ours.
            let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
            if wait_for(Duration::from_secs(5), || child.try_wait().ok().flatten()).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.kill();
        let _ = fs::remove_file(&self.out);
        let _ = fs::remove_file(&self.err);
    }
}

/// ARP replies to the client (unicast) for `ip`: the MACs that answered (sender MAC).
pub fn arp_replies(frames: &[Frame], ip: &str, client_mac: &str) -> Vec<String> {
    frames
        .iter()
        .filter(|f| f.dst == client_mac)
        .filter_map(|f| match &f.kind {
            FrameKind::ArpReply { ip: i, mac } if i == ip => Some(format!("{} (eth src {})", mac, f.src)),
            _ => None,
        })
        .collect()
}

/// Solicited NAs for `ip` to the client: (eth src, flags, target link-layer address).
pub fn solicited_nas(frames: &[Frame], ip: &str, client_mac: &str) -> Vec<(String, String, String)> {
    frames
        .iter()
        .filter(|f| f.dst == client_mac)
        .filter_map(|f| match &f.kind {
            FrameKind::Na { target, flags, tll, .. } if target == ip => Some((f.src.clone(), flags.clone(), tll.clone())),
            _ => None,
        })
        .collect()
}

/// Sends `count` malformed ARP frames (EtherType 0x0806, broadcast) from eth0 of `ns`:
/// truncated payloads, wrong hardware/protocol types and address lengths, random bytes.
pub fn flood_garbage(ns: &str, count: usize) {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        let file = fs::File::open(&path).unwrap_or_else(|e| panic!("opening {path}: {e}"));
        // SAFETY: setns on this thread only, with a valid namespace fd.
        assert_eq!(unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) }, 0, "setns {path}");
        let socket = ferrolb::layer2::arp_socket::ArpSocket::open("eth0", Duration::from_millis(100)).expect("raw socket in the client");
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..count {
            let mut frame = vec![0xff; 6];
            frame.extend_from_slice(&socket.mac().0);
            frame.extend_from_slice(&[0x08, 0x06]);
            let len = i % 40;
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                frame.push(state as u8);
            }
            if i % 3 == 0 && frame.len() >= 22 {
                // Ethernet/IPv4 header with bad address lengths.
                frame[14..22].copy_from_slice(&[0, 1, 8, 0, 9, 3, 0, 1]);
            }
            socket.send_raw(&frame).expect("send a malformed frame");
        }
    })
    .join()
    .expect("garbage sender");
}

/// Sends `count` ARP requests for `ip` from the client.
pub fn arping(ip: &str, count: u32) {
    arping_from(CLIENT, ip, count)
}

/// Sends `count` ARP requests for `ip` from client namespace `client`.
pub fn arping_from(client: &str, ip: &str, count: u32) {
    let _ = Command::new("ip")
        .args(["netns", "exec", client, "arping", "-c", &count.to_string(), "-w", &(count + 1).to_string(), "-I", "eth0", ip])
        .output()
        .expect("run arping");
}

/// Sends `count` neighbor solicitations for `ip` from the client (ndisc6 ignores our NAs
/// because their source is not the target, as it does the reference's: the capture decides).
pub fn solicit(ip: &str, count: u32) {
    let _ = Command::new("ip")
        .args(["netns", "exec", CLIENT, "ndisc6", "-n", "-r", &count.to_string(), "-w", "400", ip, "eth0"])
        .output()
        .expect("run ndisc6");
}

/// The MACs answering ARP for `ip` right now (a short capture around `arping`).
pub fn who_answers_arp(ip: &str, client_mac: &str) -> BTreeSet<String> {
    who_answers_arp_from(CLIENT, ip, client_mac)
}

/// The MACs answering ARP for `ip` from client namespace `client` right now.
pub fn who_answers_arp_from(client: &str, ip: &str, client_mac: &str) -> BTreeSet<String> {
    let cap = Capture::start(client);
    arping_from(client, ip, 2);
    let frames = cap.stop();
    arp_replies(&frames, ip, client_mac).into_iter().collect()
}

/// The (MAC, flags, target LLA) of the NAs answering a solicitation for `ip` right now.
pub fn who_answers_ndp(ip: &str, client_mac: &str) -> BTreeSet<(String, String, String)> {
    let cap = Capture::start(CLIENT);
    solicit(ip, 2);
    std::thread::sleep(Duration::from_millis(300));
    let frames = cap.stop();
    solicited_nas(&frames, ip, client_mac).into_iter().collect()
}

/// Polls `f` until it returns the wanted value (bounded); returns the last value seen.
pub fn poll_until<T: PartialEq + std::fmt::Debug>(limit: Duration, want: &T, mut f: impl FnMut() -> T) -> T {
    let mut last = f();
    let start = std::time::Instant::now();
    while last != *want && start.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(300));
        last = f();
    }
    last
}

/// Whether `group` is joined on eth0 of namespace `ns`.
pub fn joined(ns: &str, group: &str) -> bool {
    let out = run_ok(Command::new("ip").args(["netns", "exec", ns, "ip", "-6", "maddr", "show", "dev", "eth0"]));
    out.split_whitespace().any(|w| w == group)
}

/// GET /metrics of the speaker in `node` (it binds METALLB_HOST = the node's address).
pub fn metrics(node: &str) -> String {
    let addr = Topology::addr(node, "v4");
    let out = Command::new("ip")
        .args(["netns", "exec", node, "curl", "-sS", "--max-time", "5", &format!("http://{addr}:7472/metrics")])
        .output()
        .expect("run curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value of the unlabelled series `name` in a scrape.
pub fn metric_value(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')).and_then(|v| v.trim().parse().ok()))
}

/// (reason, source component, message) of the speakers' Events about Service `name` (its
/// current uid; a controller of another suite may write its own Events there).
pub fn service_events(c: &Cluster, name: &str) -> BTreeSet<(String, String, String)> {
    let uid = c.get_json(&["-n", NS, "svc", name])["metadata"]["uid"].as_str().unwrap_or_default().to_string();
    let list = c.get_json(&["-n", NS, "events", "--field-selector", &format!("involvedObject.uid={uid}")]);
    list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|e| {
                    let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
                    (s(&e["reason"]), s(&e["source"]["component"]), s(&e["message"]))
                })
                .filter(|(_, component, _)| component == "metallb-speaker")
                .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------- scenario

/// A solicited NA as captured: (Ethernet source, flags, target link-layer address).
pub type Na = (String, String, String);

/// What the scenario saw: everything both implementations must agree on, plus the
/// gratuitous burst's rounds and spacing (compared separately: v0.9.4+ changed the loop).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observed {
    /// Phase A: ARP replies / solicited NAs for the Services' IPs.
    pub arp_owner: BTreeSet<String>,
    pub na_owner: BTreeSet<(String, String, String)>,
    /// Events on the IPv4 Service.
    pub events: BTreeSet<(String, String, String)>,
    /// Phase B: the gratuitous ARP frames after the move: (eth src, eth dst, kind) distinct.
    pub grat_arp: BTreeSet<(String, String, FrameKind)>,
    /// Gratuitous NAs after the move: (eth src, eth dst, flags, tll, IPv6 destination).
    pub grat_na: BTreeSet<(String, String, String, String, String)>,
    pub arp_after_move: BTreeSet<String>,
    pub na_after_move: BTreeSet<(String, String, String)>,
    /// Phase C: shared IPv6 IP: (answering MACs, group joined) with both, one, no Service.
    pub shared: Vec<(BTreeSet<Na>, bool)>,
    /// Phase D: bad config: stale gauge of the owner, and who answers.
    pub stale_after_bad: Option<f64>,
    pub arp_after_bad: BTreeSet<String>,
    /// Phase E: who answers after a flood of malformed ARP frames.
    pub arp_after_garbage: BTreeSet<String>,
    /// SIGTERM to each speaker: (exited with status 0, logged `op=shutdown msg="starting
    /// shutdown"`, logged `op=shutdown msg=done`).
    pub shutdown: Vec<(bool, bool, bool)>,
    /// Not compared: ARP gratuitous rounds (request+reply pairs) and their spacing (s).
    pub grat_rounds: usize,
    pub grat_spacing: Vec<f64>,
    pub grat_na_count: usize,
    /// Not compared: the layer2 counters of the new owner (ferrolb test asserts them).
    pub owner_metrics: String,
}

/// The node names the scenario uses and who owns what, from SHA-256.
pub struct Plan {
    pub first: Vec<&'static str>,
    pub first_owner: String,
    pub moved: Vec<&'static str>,
    pub moved_owner: String,
}

pub fn plan() -> Plan {
    let first = vec![NODES[0], NODES[2]];
    let first_owner = owner(&format!("{NS}/l2-b"), &first);
    assert_eq!(first_owner, owner(&format!("{NS}/l2-b6"), &first), "pick service names with one owner for both families");
    // Move to the nodes that do not own it now.
    let moved: Vec<&'static str> = NODES.iter().copied().filter(|n| *n != first_owner).collect();
    let moved_owner = owner(&format!("{NS}/l2-b"), &moved);
    assert_eq!(moved_owner, owner(&format!("{NS}/l2-b6"), &moved), "pick service names with one owner for both families");
    Plan { first, first_owner, moved, moved_owner }
}

/// Runs the scenario with speakers started as `speaker... --port=7472 --config=speaker-l2`.
pub fn run_scenario(c: &Arc<Cluster>, speaker: &[&str]) -> Observed {
    let _topo = Namespaces::up();
    let _nodes: Vec<NodeObject> = NODES.iter().map(|n| c.node(n, &Topology::addr(n, "v4"))).collect();
    let client_mac = Topology::addr(CLIENT, "mac");
    let p = plan();
    let mut obs = Observed::default();

    ensure_namespace(c);
    let _isolation = isolate(c);
    let _cfg = configmap(c, GOOD);
    let _svc4 = service(c, "l2-b", V4);
    let _svc6 = service(c, "l2-b6", V6);
    let eps4 = endpoints(c, "l2-b", &p.first);
    let eps6 = endpoints(c, "l2-b6", &p.first);

    let mut speakers: Vec<InCluster> = NODES
        .iter()
        .map(|n| {
            let opts = InClusterOpts { netns: Some(n.to_string()), no_memberlist: true, ..Default::default() };
            let config = format!("--config={CONFIGMAP}");
            let cmd: Vec<&str> = speaker.iter().copied().chain(["--port=7472", config.as_str()]).collect();
            InCluster::spawn(c, "speaker", &opts, &cmd)
        })
        .collect();

    // Phase A: the owner answers, the others stay silent.
    let owner_mac = mac_of(&p.first_owner);
    let want: BTreeSet<String> = [format!("{owner_mac} (eth src {owner_mac})")].into();
    let got = poll_until(Duration::from_secs(30), &want, || who_answers_arp(V4, &client_mac));
    if got != want {
        let logs: Vec<String> = speakers.iter().map(|s| s.log()).collect();
        panic!("the owner {} never answered alone (got {got:?}); speaker logs:\n{}", p.first_owner, logs.join("\n-----\n"));
    }
    let cap = Capture::start(CLIENT);
    arping(V4, 3);
    solicit(V6, 3);
    std::thread::sleep(Duration::from_millis(300));
    let frames = cap.stop();
    obs.arp_owner = arp_replies(&frames, V4, &client_mac).into_iter().collect();
    obs.na_owner = solicited_nas(&frames, V6, &client_mac).into_iter().collect();
    obs.events = wait_for(Duration::from_secs(10), || {
        let ev = service_events(c, "l2-b");
        ev.iter().any(|(r, _, _)| r == "nodeAssigned").then_some(ev)
    })
    .unwrap_or_default();

    // Phase B: move the endpoints; the new owner bursts, the old one goes silent.
    let cap = Capture::start(CLIENT);
    move_endpoints(c, "l2-b", &p.moved);
    move_endpoints(c, "l2-b6", &p.moved);
    std::thread::sleep(Duration::from_secs(8));
    let frames = cap.stop();
    let grat: Vec<&Frame> = frames
        .iter()
        .filter(|f| match &f.kind {
            FrameKind::ArpRequest { target, sender } => target == V4 && sender == V4,
            FrameKind::ArpReply { ip, .. } => ip == V4 && f.dst == "ff:ff:ff:ff:ff:ff",
            _ => false,
        })
        .collect();
    obs.grat_arp = grat.iter().map(|f| (f.src.clone(), f.dst.clone(), f.kind.clone())).collect();
    let requests: Vec<f64> = grat.iter().filter(|f| matches!(f.kind, FrameKind::ArpRequest { .. })).map(|f| f.t).collect();
    obs.grat_rounds = requests.len();
    obs.grat_spacing = requests.windows(2).map(|w| ((w[1] - w[0]) * 1000.0).round() / 1000.0).collect();
    let nas: Vec<&Frame> =
        frames.iter().filter(|f| matches!(&f.kind, FrameKind::Na { target, .. } if target == V6) && f.dst != client_mac).collect();
    obs.grat_na_count = nas.len();
    obs.grat_na = nas
        .iter()
        .map(|f| match &f.kind {
            FrameKind::Na { flags, tll, to, .. } => (f.src.clone(), f.dst.clone(), flags.clone(), tll.clone(), to.clone()),
            _ => unreachable!("filtered on Na"),
        })
        .collect();
    obs.arp_after_move = who_answers_arp(V4, &client_mac);
    obs.na_after_move = who_answers_ndp(V6, &client_mac);

    // Phase C: two Services share one IPv6 IP on the third node (the only endpoint node).
    let n3 = NODES[2];
    let group = "ff02::1:ff00:105";
    let _s1 = service(c, "l2-s1", SHARED6);
    let _s2 = service(c, "l2-s2", SHARED6);
    let e1 = endpoints(c, "l2-s1", &[n3]);
    let e2 = endpoints(c, "l2-s2", &[n3]);
    let n3_mac = mac_of(n3);
    let answered: BTreeSet<(String, String, String)> = [(n3_mac.clone(), "solicited".to_string(), n3_mac)].into();
    let both = poll_until(Duration::from_secs(20), &answered, || who_answers_ndp(SHARED6, &client_mac));
    obs.shared.push((both, joined(n3, group)));
    drop(e1);
    // The withdraw of l2-s1 is invisible on the wire; give the speaker time to process it.
    std::thread::sleep(Duration::from_secs(2));
    obs.shared.push((who_answers_ndp(SHARED6, &client_mac), joined(n3, group)));
    drop(e2);
    let none = poll_until(Duration::from_secs(20), &BTreeSet::new(), || who_answers_ndp(SHARED6, &client_mac));
    let left = wait_for(Duration::from_secs(10), || (!joined(n3, group)).then_some(())).is_some();
    obs.shared.push((none, !left));

    // Phase D: a config without the announced IPv4 pool is rejected; announcing goes on.
    let _bad = configmap(c, BAD);
    obs.stale_after_bad = wait_for(Duration::from_secs(20), || {
        metric_value(&metrics(&p.moved_owner), "metallb_k8s_client_config_stale_bool").filter(|v| *v == 1.0)
    });
    obs.arp_after_bad = who_answers_arp(V4, &client_mac);

    // Phase E: a flood of malformed ARP frames; the owner keeps answering.
    flood_garbage(CLIENT, 5000);
    obs.arp_after_garbage = who_answers_arp(V4, &client_mac);
    obs.owner_metrics = metrics(&p.moved_owner);

    for s in &mut speakers {
        assert!(s.try_wait().is_none(), "speaker exited early; log:\n{}", s.log());
    }
    // SIGTERM (spec §1.3): log, stop, exit; nothing is sent for layer 2.
    for s in &mut speakers {
        run_ok(Command::new("kill").args(["-TERM", &s.pid().to_string()]));
        let status = wait_for(Duration::from_secs(10), || s.try_wait());
        let logs = s.json_log();
        let logged = |msg: &str| logs.iter().any(|l| l["op"] == "shutdown" && l["msg"] == msg);
        obs.shutdown.push((status.is_some_and(|st| st.success()), logged("starting shutdown"), logged("done")));
    }
    drop(eps4);
    drop(eps6);
    obs
}
