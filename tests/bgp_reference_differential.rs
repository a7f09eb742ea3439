//! Differential (issue 10): the same BGP scenario with MetalLB's own speaker (the reference,
//! v0.9.6 built by scripts/reference, see spec §0) and with the real `ferrolb speaker` gives the
//! same RIB contents in BIRD (iBGP) and GoBGP (eBGP), packing aside: the same prefixes, next
//! hops, AS paths, local preferences and communities, after announcing two Services and after
//! deleting one.
//!
//! Both speakers run as the DaemonSet would (scripts/in-cluster, node1's namespace, memberlist
//! off) against the test API server, with their own ConfigMap `bgp-diff` so that other tests
//! sharing the cluster are not disturbed; no controller runs (it would allocate for every
//! Service in the cluster): the test writes the Services' status itself. Each run starts from
//! fresh Services and an empty RIB. A third run drives ferrolb's `BgpController` directly
//! (`bgp_support::Speaker`, no Kubernetes) with the same config and IPs, to keep the network
//! shell alone comparable too.
//!
//!     cargo test --test bgp_reference_differential

mod bgp_support;
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bgp_support::{BIRD_AND_GOBGP_PEERS, NODE, Route, Router, Speaker, bird_and_gobgp, wait_rib_prefixes};
use serde_json::json;
use support::{Cluster, InCluster, InClusterOpts, Topology, cluster, config_map, reference, require_root, serial};

/// After [`BIRD_AND_GOBGP_PEERS`].
const CONFIG_REST: &str = "bgp-communities:
  no-advertise: 65535:65282
address-pools:
- name: bgp
  protocol: bgp
  addresses:
  - 198.51.100.0/24
  bgp-advertisements:
  - aggregation-length: 32
    localpref: 300
    communities: [no-advertise, \"64500:7\"]
  - aggregation-length: 24
    localpref: 200
";

const WAIT: Duration = Duration::from_secs(60);

type Rib = BTreeMap<String, Route>;

fn config() -> String {
    format!("{BIRD_AND_GOBGP_PEERS}{CONFIG_REST}")
}

fn wait_rib(router: &Router, want: &[&str], who: &str) -> Rib {
    wait_rib_prefixes(router, want, WAIT)
        .unwrap_or_else(|| panic!("{who}: {:?} RIB never became {want:?}: {:?}", router.kind, router.rib(false)))
}

type Ribs = (Rib, Rib, Rib, Rib);

const ALL: [&str; 3] = ["198.51.100.20/32", "198.51.100.21/32", "198.51.100.0/24"];
const ONE: [&str; 2] = ["198.51.100.20/32", "198.51.100.0/24"];

/// Creates the two Services (status written) with a ready endpoint on node1, runs the speaker
/// `cmd` in-cluster, deletes one Service, stops the speaker; the RIBs with both and with one.
fn in_cluster_run(c: &Arc<Cluster>, bird: &Router, gobgp: &Router, cmd: &[&str], who: &str) -> Ribs {
    let svc = |name: &str, ip: &str| {
        let applied = c.apply(
            &json!({"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": name, "namespace": "default"},
                    "spec": {"type": "LoadBalancer", "loadBalancerIP": ip, "selector": {"app": name},
                             "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})
            .to_string(),
        );
        let patch = json!({"status": {"loadBalancer": {"ingress": [{"ip": ip}]}}}).to_string();
        c.kubectl_ok(&["-n", "default", "patch", "svc", name, "--subresource=status", "--type=merge", "-p", &patch]);
        applied
    };
    let eps = |name: &str| {
        c.apply(
            &json!({"apiVersion": "v1", "kind": "Endpoints",
                    "metadata": {"name": name, "namespace": "default"},
                    "subsets": [{"addresses": [{"ip": "192.0.2.200", "nodeName": NODE}],
                                 "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}]})
            .to_string(),
        )
    };
    let _svc_a = svc("bgp-diff-a", "198.51.100.20");
    let _eps_a = eps("bgp-diff-a");
    let svc_b = svc("bgp-diff-b", "198.51.100.21");
    let _eps_b = eps("bgp-diff-b");
    let opts = InClusterOpts { netns: Some(NODE.into()), no_memberlist: true, ..Default::default() };
    let mut args: Vec<&str> = cmd.to_vec();
    args.extend(["--port=7472", "--config=bgp-diff"]);
    let spk = InCluster::spawn(c, "speaker", &opts, &args);
    let ribs_all = (wait_rib(bird, &ALL, who), wait_rib(gobgp, &ALL, who));
    drop(svc_b); // deletes the Service
    let after = format!("{who} after delete");
    let ribs_one = (wait_rib(bird, &ONE, &after), wait_rib(gobgp, &ONE, &after));
    drop(spk);
    let stopped = format!("{who} stopped");
    wait_rib(bird, &[], &stopped);
    wait_rib(gobgp, &[], &stopped);
    (ribs_all.0, ribs_all.1, ribs_one.0, ribs_one.1)
}

fn assert_same(ours: &Ribs, theirs: &Ribs, who: &str) {
    assert_eq!(ours.0, theirs.0, "{who}: BIRD (iBGP) RIB differs");
    assert_eq!(ours.1, theirs.1, "{who}: GoBGP (eBGP) RIB differs");
    assert_eq!(ours.2, theirs.2, "{who}: BIRD (iBGP) RIB after the delete differs");
    assert_eq!(ours.3, theirs.3, "{who}: GoBGP (eBGP) RIB after the delete differs");
}

#[test]
fn reference_speaker_and_ferrolb_leave_the_same_ipv4_ribs_in_bird_and_gobgp() {
    require_root();
    let _serial = serial();
    let c = cluster();
    let _topo = Topology::up(1, 3);
    let _node = c.node(NODE, &Topology::addr(NODE, "v4"));
    let _cfg = config_map(&c, "bgp-diff", &config());
    let (bird, gobgp) = bird_and_gobgp();

    let theirs = in_cluster_run(&c, &bird, &gobgp, &[&reference("speaker")], "reference");
    let ours = in_cluster_run(&c, &bird, &gobgp, &[env!("CARGO_BIN_EXE_ferrolb"), "speaker"], "ferrolb speaker");
    assert_same(&ours, &theirs, "ferrolb speaker");

    // ferrolb's BGP shell alone, same config and Services.
    let sp = Speaker::start(NODE);
    sp.config(&config());
    sp.service("default/bgp-diff-a", "198.51.100.20");
    sp.service("default/bgp-diff-b", "198.51.100.21");
    let all = (wait_rib(&bird, &ALL, "BgpController"), wait_rib(&gobgp, &ALL, "BgpController"));
    sp.delete("default/bgp-diff-b");
    let one = (wait_rib(&bird, &ONE, "BgpController after delete"), wait_rib(&gobgp, &ONE, "BgpController after delete"));
    sp.shutdown();
    assert_same(&(all.0, all.1, one.0, one.1), &theirs, "BgpController");

    // And the RIB is what the config asks for.
    let host = &ours.0["198.51.100.20/32"];
    assert_eq!((host.local_pref, host.as_path.is_empty()), (Some(300), true));
    assert_eq!(host.communities, vec!["64500:7", "65535:65282"]);
    assert_eq!(ours.1["198.51.100.20/32"].as_path, vec![64500]);
}
