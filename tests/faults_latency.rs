//! 200 ms between the daemons and the apiserver, and lost packets (issue 21, item 1). This
//! kernel has no netem, so toxiproxy (built by scripts/ci-deps) sits in front of the apiserver
//! with a 200 ms latency toxic on every response; the controller and a speaker reach the
//! apiserver only through it (`scripts/in-cluster --apiserver`), and in the speaker's node
//! namespace nftables drops 5 % of the packets to and from the proxy (`numgen random`).
//!
//! Asserted: the proxy really delays (a request through it takes its 200 ms), the controller
//! gives all of 300 Services one IP each from the pool (none twice), the speaker announces a
//! layer2 Service (its MAC alone answers ARP), and the packet filter did drop packets. The
//! time the 300 took is printed.

mod speaker_support;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use speaker_support::{mac_of, who_answers_arp_from};
use support::{Cluster, InCluster, InClusterOpts, Topology, cluster, config_map, run_ok, serial, wait_for};

const NODE: &str = "node25";
const CLIENT: &str = "client25";
const CONFIG: &str = "faults-latency";
const NS: &str = "faults-latency";
const PROXY: &str = "198.51.100.1:16443";
const API: &str = "127.0.0.1:18474";
const LATENCY_MS: u64 = 200;
const N: usize = 300;
const L2_IP: &str = "192.0.2.225";

/// toxiproxy's server, started by us; killed on drop.
struct Toxiproxy(Child);

impl Toxiproxy {
    fn start(upstream: &str) -> Toxiproxy {
        let cache = std::env::var("FERROLB_CACHE").unwrap_or_else(|_| format!("{}/.cache/ferrolb", std::env::var("HOME").unwrap_or_default()));
        let version = std::fs::read_to_string(support::repo_root().join("scripts/lib/versions.sh"))
            .expect("versions.sh")
            .lines()
            .find_map(|l| l.strip_prefix("TOXIPROXY_VERSION=").map(str::to_string))
            .expect("TOXIPROXY_VERSION in versions.sh");
        let bin = format!("{cache}/toxiproxy-{version}/server");
        assert!(std::path::Path::new(&bin).exists(), "missing {bin}: run scripts/ci-deps");
        let (host, port) = API.split_once(':').expect("host:port");
        let child = Command::new(&bin).args(["-host", host, "-port", port]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start toxiproxy");
        let t = Toxiproxy(child);
        wait_for(Duration::from_secs(10), || t.call("GET", "/version", None).ok()).expect("toxiproxy answers");
        t.call("POST", "/proxies", Some(json!({"name": "apiserver", "listen": PROXY, "upstream": upstream}))).expect("create the proxy");
        t.call("POST", "/proxies/apiserver/toxics", Some(json!({"name": "slow", "type": "latency", "stream": "downstream", "attributes": {"latency": LATENCY_MS, "jitter": 0}})))
            .expect("add the latency toxic");
        t
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<String, String> {
        let mut cmd = Command::new("curl");
        cmd.args(["-sf", "--max-time", "5", "-X", method, &format!("http://{API}{path}")]);
        if let Some(b) = body {
            cmd.args(["-H", "Content-Type: application/json", "-d", &b.to_string()]);
        }
        let out = cmd.output().map_err(|e| e.to_string())?;
        if out.status.success() { Ok(String::from_utf8_lossy(&out.stdout).into_owned()) } else { Err(format!("{method} {path}: {}", String::from_utf8_lossy(&out.stderr))) }
    }
}

impl Drop for Toxiproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// 5 % of the packets between `ns` and the proxy dropped; the table goes with the namespace.
fn lossy(ns: &str) {
    let (ip, port) = PROXY.split_once(':').expect("host:port");
    let rules = format!(
        "table inet flbapiloss {{\n  chain out {{ type filter hook output priority 0; ip daddr {ip} tcp dport {port} numgen random mod 100 < 5 counter drop; }}\n  chain in {{ type filter hook input priority 0; ip saddr {ip} tcp sport {port} numgen random mod 100 < 5 counter drop; }}\n}}\n"
    );
    let path = std::env::temp_dir().join(format!("ferrolb-apiloss-{}.nft", std::process::id()));
    std::fs::write(&path, rules).expect("write the rules");
    run_ok(Command::new("ip").args(["netns", "exec", ns, "nft", "-f"]).arg(&path));
    let _ = std::fs::remove_file(&path);
}

fn dropped(ns: &str) -> u64 {
    let out = run_ok(Command::new("ip").args(["netns", "exec", ns, "nft", "list", "table", "inet", "flbapiloss"]));
    out.split("packets ").skip(1).filter_map(|r| r.split_whitespace().next()?.parse::<u64>().ok()).sum()
}

fn services(names: &[String]) -> String {
    let items: Vec<Value> = names
        .iter()
        .map(|n| json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": n, "namespace": NS},
                        "spec": {"type": "LoadBalancer", "ipFamilies": ["IPv6"], "ipFamilyPolicy": "SingleStack",
                                 "allocateLoadBalancerNodePorts": false, "ports": [{"port": 80, "protocol": "TCP"}]}}))
        .collect();
    json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
}

fn ipv6_ingress(c: &Cluster) -> BTreeMap<String, Vec<String>> {
    let list = c.get_json(&["-n", NS, "svc"]);
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["metadata"]["name"].as_str().is_some_and(|n| n.starts_with("lat-")))
        .map(|s| (s["metadata"]["name"].as_str().unwrap_or_default().to_string(), s["status"]["loadBalancer"]["ingress"].as_array().map(|a| a.iter().filter_map(|i| i["ip"].as_str().map(str::to_string)).collect()).unwrap_or_default()))
        .collect()
}

#[test]
fn daemons_behind_200_ms_and_lost_packets_allocate_and_announce_everything() {
    support::require_root();
    for t in ["curl", "nft", "arping", "tcpdump"] {
        support::require_tool(t);
    }
    let _serial = serial();
    let c: Arc<Cluster> = cluster();
    let _topo = Topology::add(&[NODE, CLIENT]);
    let _node = c.node(NODE, &Topology::addr(NODE, "v4"));
    let out = c.kubectl(&["create", "ns", NS]);
    assert!(out.status.success() || support::stderr_of(&out).contains("AlreadyExists"), "{}", support::stderr_of(&out));
    c.kubectl_ok(&["-n", NS, "delete", "svc,endpoints", "--all", "--wait=true"]);
    let upstream = format!("{}:{}", c.env("FERROLB_APISERVER_HOST"), c.env("FERROLB_APISERVER_PORT"));
    let proxy = Toxiproxy::start(&upstream);

    // The proxy delays: a request through it takes at least its latency.
    let t0 = Instant::now();
    let direct = format!("https://{PROXY}");
    c.kubectl_ok(&["--server", &direct, "get", "--raw", "/readyz"]);
    let through = t0.elapsed();
    assert!(through >= Duration::from_millis(LATENCY_MS), "a request through toxiproxy took {through:?}: the latency toxic is not in place");

    lossy(NODE);
    let _cm = config_map(&c, CONFIG, "address-pools:\n- name: v6\n  protocol: layer2\n  addresses:\n  - 2001:db8:5000::/116\n- name: v4\n  protocol: layer2\n  addresses:\n  - 192.0.2.224/28\n");
    let via_proxy = InClusterOpts { apiserver: Some(PROXY.to_string()), ..Default::default() };
    let bin = env!("CARGO_BIN_EXE_ferrolb");
    let flag = format!("--config={CONFIG}");
    let ctl = InCluster::spawn(&c, "controller", &via_proxy, &[bin, "controller", "--port=17475", &flag]);
    let spk_opts = InClusterOpts { netns: Some(NODE.into()), no_memberlist: true, ..via_proxy.clone() };
    let spk = InCluster::spawn(&c, "speaker", &spk_opts, &[bin, "speaker", "--port=7472", &flag]);

    let names: Vec<String> = (0..N).map(|i| format!("lat-{i:03}")).collect();
    let t_burst = Instant::now();
    let out = c.kubectl_stdin(&["create", "-f", "-"], &services(&names));
    assert!(out.status.success(), "{}", support::stderr_of(&out));
    let l2 = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": NS},
                    "spec": {"type": "LoadBalancer", "loadBalancerIP": L2_IP, "ports": [{"port": 80, "protocol": "TCP"}]}});
    let eps = json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web", "namespace": NS},
                     "subsets": [{"addresses": [{"ip": "203.0.113.25", "nodeName": NODE}], "ports": [{"port": 80, "protocol": "TCP"}]}]});
    c.kubectl_stdin(&["apply", "-f", "-"], &json!({"apiVersion": "v1", "kind": "List", "items": [l2, eps]}).to_string());

    let all = wait_for(Duration::from_secs(180), || {
        let m = ipv6_ingress(&c);
        (m.len() == N && m.values().all(|v| v.len() == 1)).then_some(m)
    })
    .unwrap_or_else(|| panic!("not all {N} Services got an IP through the proxy; controller log:\n{}", ctl.log()));
    let took = t_burst.elapsed();
    let distinct: BTreeSet<&String> = all.values().flatten().collect();
    assert_eq!(distinct.len(), N, "an IP is held twice");

    let mac = mac_of(NODE);
    let want = BTreeSet::from([format!("{mac} (eth src {mac})")]);
    let got = speaker_support::poll_until(Duration::from_secs(90), &want, || who_answers_arp_from(CLIENT, L2_IP, &mac_of(CLIENT)));
    assert_eq!(got, want, "the speaker behind the lossy proxy announces {L2_IP}; log:\n{}", spk.log());
    let lost = dropped(NODE);
    assert!(lost > 0, "the filter dropped nothing: the loss was not exercised");
    println!("through toxiproxy (+{LATENCY_MS} ms per response; one request {through:?}) and 5 % loss on the speaker's side ({lost} packets dropped): {N} Services allocated in {:.2} s, {L2_IP} announced by {NODE}", took.as_secs_f64());
    let _ = c.kubectl(&["-n", NS, "delete", "svc,endpoints", "--all", "--wait=false"]);
    drop(spk);
    drop(ctl);
    drop(proxy);
}
