//! Differential (issue 10): the same BGP scenario with MetalLB's own speaker (the reference,
//! v0.9.6 built by scripts/reference, see spec §0) and with ferrolb's BGP shell gives the same
//! RIB contents in BIRD (iBGP) and GoBGP (eBGP), packing aside: the same prefixes, next hops,
//! AS paths, local preferences and communities, after announcing two Services and after
//! deleting one.
//!
//! The reference speaker runs as the DaemonSet would (scripts/in-cluster, node1's namespace,
//! memberlist off) against the test API server, with its own ConfigMap `bgp-diff` so that
//! other tests sharing the cluster are not disturbed; no controller runs (it would allocate for
//! every Service in the cluster): the test writes the Services' status itself. ferrolb's side is the
//! `BgpController` fed the same config and the Services' IPs: the speaker's Kubernetes side is
//! built on another branch, and this test checks what the BGP side puts on the wire.
//!
//!     cargo test --test bgp_reference_differential

mod bgp_support;
mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use bgp_support::{Kind, NODE, Route, Router, RouterConf, Speaker};
use serde_json::json;
use support::{InCluster, InClusterOpts, METALLB_NS, Topology, cluster, reference, require_root, serial, wait_for};

const CONFIG: &str = "peers:
- peer-address: 192.0.2.51
  peer-asn: 64500
  my-asn: 64500
- peer-address: 192.0.2.53
  peer-asn: 64501
  my-asn: 64500
bgp-communities:
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

fn wait_rib(router: &Router, want: &[&str], who: &str) -> Rib {
    wait_for(WAIT, || {
        let rib = router.rib(false);
        let keys: Vec<&str> = rib.keys().map(String::as_str).collect();
        let mut want = want.to_vec();
        want.sort();
        (keys == want).then_some(rib)
    })
    .unwrap_or_else(|| panic!("{who}: {:?} RIB never became {want:?}: {:?}", router.kind, router.rib(false)))
}

#[test]
fn reference_speaker_and_ferrolb_leave_the_same_ipv4_ribs_in_bird_and_gobgp() {
    require_root();
    let _serial = serial();
    let c = cluster();
    let _topo = Topology::up(1, 3);
    let _node = c.node(NODE, &Topology::addr(NODE, "v4"));
    let _cfg = c.apply(
        &json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "bgp-diff", "namespace": METALLB_NS},
                "data": {"config": CONFIG}})
        .to_string(),
    );
    let svc = |name: &str, ip: &str| {
        c.apply(
            &json!({"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": name, "namespace": "default"},
                    "spec": {"type": "LoadBalancer", "loadBalancerIP": ip, "selector": {"app": name},
                             "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})
            .to_string(),
        )
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

    let bird = Router::start(Kind::Bird, "client1", RouterConf { asn: 64500, peer_asn: 64500, password: None, ipv6: false });
    let gobgp = Router::start(Kind::Gobgp, "client3", RouterConf { asn: 64501, peer_asn: 64500, password: None, ipv6: false });

    for (name, ip) in [("bgp-diff-a", "198.51.100.20"), ("bgp-diff-b", "198.51.100.21")] {
        let patch = json!({"status": {"loadBalancer": {"ingress": [{"ip": ip}]}}}).to_string();
        c.kubectl_ok(&["-n", "default", "patch", "svc", name, "--subresource=status", "--type=merge", "-p", &patch]);
    }

    // The reference speaker.
    let all = ["198.51.100.20/32", "198.51.100.21/32", "198.51.100.0/24"];
    let one = ["198.51.100.20/32", "198.51.100.0/24"];
    let opts = InClusterOpts { netns: Some(NODE.into()), no_memberlist: true, ..Default::default() };
    let spk = InCluster::spawn(&c, "speaker", &opts, &[&reference("speaker"), "--port=7472", "--config=bgp-diff"]);
    let ref_bird = wait_rib(&bird, &all, "reference");
    let ref_gobgp = wait_rib(&gobgp, &all, "reference");
    drop(svc_b); // deletes the Service
    let ref_bird_after = wait_rib(&bird, &one, "reference after delete");
    let ref_gobgp_after = wait_rib(&gobgp, &one, "reference after delete");
    drop(spk);
    wait_rib(&bird, &[], "reference stopped");
    wait_rib(&gobgp, &[], "reference stopped");

    // ferrolb's BGP shell, same config and Services.
    let sp = Speaker::start(NODE);
    sp.config(CONFIG);
    sp.service("default/bgp-diff-a", "198.51.100.20");
    sp.service("default/bgp-diff-b", "198.51.100.21");
    let our_bird = wait_rib(&bird, &all, "ferrolb");
    let our_gobgp = wait_rib(&gobgp, &all, "ferrolb");
    sp.delete("default/bgp-diff-b");
    let our_bird_after = wait_rib(&bird, &one, "ferrolb after delete");
    let our_gobgp_after = wait_rib(&gobgp, &one, "ferrolb after delete");
    sp.shutdown();

    assert_eq!(our_bird, ref_bird, "BIRD (iBGP) RIB differs");
    assert_eq!(our_gobgp, ref_gobgp, "GoBGP (eBGP) RIB differs");
    assert_eq!(our_bird_after, ref_bird_after, "BIRD (iBGP) RIB after the delete differs");
    assert_eq!(our_gobgp_after, ref_gobgp_after, "GoBGP (eBGP) RIB after the delete differs");
    // And the RIB is what the config asks for.
    let host = &our_bird["198.51.100.20/32"];
    assert_eq!((host.local_pref, host.as_path.is_empty()), (Some(300), true));
    assert_eq!(host.communities, vec!["64500:7", "65535:65282"]);
    assert_eq!(our_gobgp["198.51.100.20/32"].as_path, vec![64500]);
}
