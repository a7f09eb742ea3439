//! The reference (MetalLB's own controller and speaker, built by
//! `scripts/reference`) works in our world: started through
//! `scripts/in-cluster` with the v0.9 RBAC, it allocates from a layer2 pool,
//! and its speaker answers ARP from a node namespace with the node's MAC.
//!
//! The speaker runs with the manifest's full env, memberlist included
//! (METALLB_ML_* set; its Pod object is created by `Cluster::node`).

mod support;

use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use support::{
    Cluster, InCluster, InClusterOpts, Topology, cluster, config_map, ingress_ip, lb_service,
    reference, require_tool, serial, stdout_of,
};

const CONFIG: &str = "address-pools:\n- name: default\n  protocol: layer2\n  addresses:\n  - 192.0.2.100-192.0.2.110\n";

fn start_controller(c: &Arc<Cluster>) -> InCluster {
    let bin = reference("controller");
    InCluster::spawn(
        c,
        "controller",
        &InClusterOpts::default(),
        &[&bin, "--port=7472", "--config=config"],
    )
}

#[test]
fn reference_controller_allocates_the_first_pool_address_into_the_status() {
    let _serial = serial();
    let c = cluster();
    let _cfg = config_map(&c, "config", CONFIG);
    let _svc = lb_service(&c, "ref-alloc");
    let mut ctl = start_controller(&c);

    let ev = ctl.wait_json(Duration::from_secs(60), "ipAllocated", |v| {
        v["event"] == "ipAllocated" && v["service"] == "default/ref-alloc"
    });
    assert_eq!(ev["ip"], "192.0.2.100");
    let ip = support::wait_for(Duration::from_secs(30), || ingress_ip(&c, "ref-alloc"));
    assert_eq!(
        ip.as_deref(),
        Some("192.0.2.100"),
        "status not written; log:\n{}",
        ctl.log()
    );

    // It really ran as the controller service account (audit log), and the
    // PID we hold is the reference binary itself.
    let exe = std::fs::read_link(format!("/proc/{}/exe", ctl.pid())).expect("exe of pid");
    assert_eq!(exe, std::path::PathBuf::from(reference("controller")));
    let wrote_status = c.audit_events().iter().any(|e: &Value| {
        e["user"]["username"] == "system:serviceaccount:metallb-system:controller"
            && e["verb"] == "update"
            && e["objectRef"]["name"] == "ref-alloc"
            && e["objectRef"]["subresource"] == "status"
            && e["responseStatus"]["code"] == 200
    });
    assert!(
        wrote_status,
        "no successful status update by the controller SA in the audit log"
    );
}

#[test]
fn reference_speaker_answers_arp_for_the_service_ip_with_the_node_mac() {
    require_tool("arping");
    let _serial = serial();
    let c = cluster();
    let topo = Topology::up(1, 1);
    let node_mac = Topology::addr("node1", "mac");
    let _node = c.node("node1", &Topology::addr("node1", "v4"));
    let _cfg = config_map(&c, "config", CONFIG);
    let _svc = lb_service(&c, "ref-l2");
    // No kube-controller-manager here: the test writes the ready Endpoints.
    let _ep = c.apply(
        &json!({"apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": "ref-l2", "namespace": "default"},
                "subsets": [{"addresses": [{"ip": "192.0.2.200", "nodeName": "node1"}],
                             "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}]})
        .to_string(),
    );
    let mut ctl = start_controller(&c);
    ctl.wait_json(Duration::from_secs(60), "ipAllocated", |v| {
        v["event"] == "ipAllocated" && v["service"] == "default/ref-l2"
    });

    let bin = reference("speaker");
    let opts = InClusterOpts {
        netns: Some("node1".into()),
        ..Default::default()
    };
    let mut spk = InCluster::spawn(
        &c,
        "speaker",
        &opts,
        &[&bin, "--port=7472", "--config=config"],
    );
    let ann = spk.wait_json(Duration::from_secs(60), "serviceAnnounced", |v| {
        v["event"] == "serviceAnnounced" && v["service"] == "default/ref-l2"
    });
    assert_eq!(ann["ip"], "192.0.2.100");
    assert_eq!(ann["protocol"], "layer2");

    let out = Topology::exec(
        "client1",
        &["arping", "-c", "3", "-w", "10", "-I", "eth0", "192.0.2.100"],
    );
    let text = stdout_of(&out);
    assert!(
        out.status.success(),
        "no ARP reply for 192.0.2.100:\n{text}\nspeaker log:\n{}",
        spk.log()
    );
    let replies: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("reply from 192.0.2.100"))
        .collect();
    assert!(!replies.is_empty(), "{text}");
    for r in &replies {
        assert!(
            r.to_lowercase().contains(&format!("[{node_mac}]")),
            "reply not from node1's MAC {node_mac}: {r}"
        );
    }
    // And the speaker says it is the one answering.
    let ans = spk.wait_json(Duration::from_secs(10), "ARP response log", |v| {
        v["ip"] == "192.0.2.100" && v["responseMAC"] == node_mac.as_str()
    });
    assert_eq!(ans["senderMAC"], Topology::addr("client1", "mac"));
    drop(spk);
    drop(ctl);
    drop(topo);
}
