//! `ferrolb speaker` with a `bgp` pool (issue 10): the real binary in node1's namespace,
//! in-cluster as the `speaker` service account (memberlist off), against BIRD 2 (iBGP,
//! client1) and GoBGP (eBGP, client3) in their namespaces. The test plays kube-controller-
//! manager and the MetalLB controller: it writes the Node, the Endpoints and the Services'
//! `status.loadBalancer` (namespace `speaker-l2`, which the layer2 suite's admission policy
//! keeps for the speaker tests). Assertions read each router's own RIB.
//!
//! * a LoadBalancer Service with a ready endpoint is announced: NEXT_HOP = node1's address,
//!   AS_PATH empty with LOCAL_PREF (iBGP) or our AS (eBGP), the sorted communities;
//! * `externalTrafficPolicy: Local` without an endpoint on node1 is not announced, and is once
//!   the policy is `Cluster` (D.4 `noLocalEndpoints`);
//! * no ready endpoint → withdrawn (`noEndpoints`); Service deleted → withdrawn;
//! * the Node's labels stop matching GoBGP's node selector → that session is closed with Cease
//!   (Peer De-configured) and its series go, BIRD's stays (D.5);
//! * SIGTERM → BIRD receives Cease (Administrative Shutdown); exit 0 with v0.9's shutdown lines;
//! * the speaker's /metrics carries `metallb_bgp_*` and `metallb_speaker_announced{protocol="bgp"}`.
//!
//! Needs root, the cluster harness, `bird`/`birdc` and GoBGP (scripts/ci-deps).
//!
//!     cargo test --test speaker_bgp

mod bgp_support;
mod speaker_support;
mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use bgp_support::{BIRD_AND_GOBGP_PEERS, NODE, NODE_V4, Route, Router, bird_and_gobgp, wait_rib_prefixes};
use speaker_support::{NS, endpoints, ensure_namespace, isolate, metric_value, metrics, move_endpoints, service};
use support::{InCluster, InClusterOpts, Topology, cluster, config_map, require_root, run_ok, serial, wait_for};

const CONFIGMAP: &str = "speaker-bgp";
const WAIT: Duration = Duration::from_secs(60);
const LABEL: &str = "ferrolb-test/bgp";

fn config() -> String {
    format!(
        "{BIRD_AND_GOBGP_PEERS}  node-selectors:
  - match-labels:
      {LABEL}: \"on\"
address-pools:
- name: bgp
  protocol: bgp
  addresses:
  - 198.51.100.0/24
  bgp-advertisements:
  - aggregation-length: 32
    localpref: 300
    communities: [\"64501:9\", \"64500:7\"]
"
    )
}

fn wait_rib(router: &Router, want: &[&str], step: &str, speaker: &InCluster) -> BTreeMap<String, Route> {
    wait_rib_prefixes(router, want, WAIT).unwrap_or_else(|| {
        let mut want = want.to_vec();
        want.sort();
        panic!("{step}: {:?} RIB {:?}, want {want:?}; speaker log:\n{}", router.kind, router.rib(false), speaker.log())
    })
}

fn label_node(c: &support::Cluster, value: &str) {
    c.kubectl_ok(&["label", "node", NODE, &format!("{LABEL}={value}"), "--overwrite"]);
}

#[test]
fn speaker_announces_bgp_pool_services_follows_endpoints_and_node_selectors_and_ceases_on_sigterm() {
    require_root();
    let _serial = serial();
    let c = cluster();
    let _topo = Topology::up(1, 3);
    let _node = c.node(NODE, &Topology::addr(NODE, "v4"));
    label_node(&c, "on");
    ensure_namespace(&c);
    let _isolation = isolate(&c);
    let _cfg = config_map(&c, CONFIGMAP, &config());
    let _svc_a = service(&c, "bgp-a", "198.51.100.30");
    let _eps_a = endpoints(&c, "bgp-a", &[NODE]);
    let svc_local = service(&c, "bgp-local", "198.51.100.32");
    c.kubectl_ok(&["-n", NS, "patch", "svc", "bgp-local", "--type=merge", "-p", r#"{"spec":{"externalTrafficPolicy":"Local"}}"#]);
    let _eps_local = endpoints(&c, "bgp-local", &["node2"]);

    let (bird, gobgp) = bird_and_gobgp();

    let opts = InClusterOpts { netns: Some(NODE.into()), no_memberlist: true, ..Default::default() };
    let config_flag = format!("--config={CONFIGMAP}");
    let mut spk = InCluster::spawn(&c, "speaker", &opts, &[env!("CARGO_BIN_EXE_ferrolb"), "speaker", "--port=7472", config_flag.as_str()]);

    // Announced, with the attributes of the pool's advertisement; the Local Service is not.
    let rib = wait_rib(&bird, &["198.51.100.30/32"], "announce (BIRD, iBGP)", &spk);
    let host = &rib["198.51.100.30/32"];
    assert_eq!(host.next_hop, NODE_V4, "next hop is node1's address");
    assert!(host.as_path.is_empty(), "iBGP: empty AS_PATH: {host:?}");
    assert_eq!(host.local_pref, Some(300), "iBGP carries the advertisement's LOCAL_PREF");
    assert_eq!(host.communities, vec!["64500:7", "64501:9"]);
    let rib = wait_rib(&gobgp, &["198.51.100.30/32"], "announce (GoBGP, eBGP)", &spk);
    let host = &rib["198.51.100.30/32"];
    assert_eq!(host.next_hop, NODE_V4);
    assert_eq!(host.as_path, vec![64500], "eBGP: our AS");
    assert_eq!(host.local_pref, None, "eBGP UPDATEs carry no LOCAL_PREF");
    assert_eq!(host.communities, vec!["64500:7", "64501:9"]);

    let m = metrics(NODE);
    for series in [
        "metallb_bgp_session_up{peer=\"192.0.2.51:179\"}",
        "metallb_bgp_session_up{peer=\"192.0.2.53:179\"}",
        "metallb_bgp_announced_prefixes_total{peer=\"192.0.2.51:179\"}",
        "metallb_bgp_pending_prefixes_total{peer=\"192.0.2.51:179\"}",
    ] {
        assert_eq!(metric_value(&m, series), Some(1.0), "{series}\n{m}");
    }
    assert!(metric_value(&m, "metallb_bgp_updates_total{peer=\"192.0.2.51:179\"}").is_some_and(|v| v >= 1.0), "updates counted\n{m}");
    let announced = format!("metallb_speaker_announced{{service=\"{NS}/bgp-a\",protocol=\"bgp\",node=\"{NODE}\",ip=\"198.51.100.30\"}}");
    assert_eq!(metric_value(&m, &announced), Some(1.0), "{m}");
    assert!(!m.contains("bgp-local"), "the Local Service without a local endpoint is not announced\n{m}");

    // externalTrafficPolicy Cluster: announced with the endpoint on node2.
    c.kubectl_ok(&["-n", NS, "patch", "svc", "bgp-local", "--type=merge", "-p", r#"{"spec":{"externalTrafficPolicy":"Cluster"}}"#]);
    wait_rib(&bird, &["198.51.100.30/32", "198.51.100.32/32"], "policy Cluster", &spk);

    // No ready endpoint: withdrawn from both.
    move_endpoints(&c, "bgp-a", &[]);
    wait_rib(&bird, &["198.51.100.32/32"], "no endpoints (BIRD)", &spk);
    wait_rib(&gobgp, &["198.51.100.32/32"], "no endpoints (GoBGP)", &spk);
    // Service deleted: withdrawn.
    drop(svc_local);
    wait_rib(&bird, &[], "service deleted (BIRD)", &spk);
    wait_rib(&gobgp, &[], "service deleted (GoBGP)", &spk);
    move_endpoints(&c, "bgp-a", &[NODE]);
    wait_rib(&bird, &["198.51.100.30/32"], "endpoint back", &spk);
    assert!(bird.established() && gobgp.established(), "withdraws keep the sessions");

    // The Node's label no longer matches GoBGP's selector: that session closes with Cease.
    label_node(&c, "off");
    let closed = wait_for(WAIT, || {
        let m = metrics(NODE);
        (!gobgp.established() && !m.contains("192.0.2.53:179") && m.contains("192.0.2.51:179")).then_some(())
    });
    assert!(closed.is_some(), "GoBGP's session is still there after the label change; log:\n{}", spk.log());
    let cease = wait_for(WAIT, || gobgp.log().lines().any(|l| l.contains("\"Code\":6") && l.contains("\"Subcode\":3")).then_some(()));
    assert!(cease.is_some(), "GoBGP saw no Cease/Peer De-configured:\n{}", gobgp.log());
    assert!(bird.established(), "BIRD's session (every node) stays");
    wait_rib(&gobgp, &[], "GoBGP's session closed", &spk);
    let logs = spk.json_log();
    assert!(logs.iter().any(|l| l["event"] == "nodeLabelsChanged"), "nodeLabelsChanged logged");
    assert!(
        logs.iter().any(|l| l["event"] == "peerRemoved" && l["peer"] == "192.0.2.53" && l["reason"] == "filteredByNodeSelector"),
        "peerRemoved filteredByNodeSelector logged"
    );
    for event in ["peerAdded", "sessionUp", "updatedAdvertisements", "serviceAnnounced", "serviceWithdrawn"] {
        assert!(logs.iter().any(|l| l["event"] == event), "{event} logged");
    }

    // SIGTERM: Cease (Administrative Shutdown) to BIRD, exit 0.
    run_ok(Command::new("kill").args(["-TERM", &spk.pid().to_string()]));
    let status = wait_for(Duration::from_secs(15), || spk.try_wait());
    assert!(status.is_some_and(|s| s.success()), "exit 0 after SIGTERM; log:\n{}", spk.log());
    let logs = spk.json_log();
    for msg in ["starting shutdown", "done"] {
        assert!(logs.iter().any(|l| l["op"] == "shutdown" && l["msg"] == msg), "op=shutdown msg={msg:?} logged");
    }
    let why = wait_for(WAIT, || {
        let n = bird.last_notification();
        n.contains("Administrative shutdown").then_some(n)
    });
    assert!(why.is_some(), "BIRD saw no Cease/Administrative Shutdown: {}", bird.last_notification());
    wait_rib(&bird, &[], "after SIGTERM", &spk);
}
