//! Memberlist in the speaker (issue 9): a mixed cluster of one MetalLB reference speaker (Go
//! memberlist v0.1.7) and two ferrolb speakers, with memberlist on as the manifest configures it
//! (`METALLB_ML_*`, the `memberlist` secret), three node namespaces and one layer2 Service whose
//! endpoints stay ready on all three nodes.
//!
//! * The nodes are assigned so that the SHA-256 order is reference, ferrolb, ferrolb. The
//!   reference node owns the IP, and only it answers ARP.
//! * The reference speaker is SIGKILLed. Its endpoints stay ready, so only memberlist can tell
//!   the others it is gone. The first ferrolb node has to detect that the Go member is dead and
//!   take over; it is then the only one answering.
//! * That ferrolb owner gets SIGTERM. It leaves the memberlist cluster, and the last node takes
//!   over.
//!
//! Every answer is observed by tcpdump in the client namespace, and nothing here is timed.

mod speaker_support;
mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use speaker_support::{CONFIGMAP, CLIENT, GOOD, NODES, NS, V4, Namespaces, configmap, endpoints, ensure_namespace, isolate, mac_of, poll_until, service, who_answers_arp};
use support::{InCluster, InClusterOpts, NodeObject, Topology, cluster, reference, require_tool, serial};

/// NODES in v0.9's election order for `key` (first = owner).
fn election_order(key: &str) -> Vec<String> {
    let mut rest: Vec<&str> = NODES.to_vec();
    let mut order = Vec::new();
    while !rest.is_empty() {
        let first = speaker_support::owner(key, &rest);
        rest.retain(|n| *n != first);
        order.push(first);
    }
    order
}

fn answers(mac: &str) -> BTreeSet<String> {
    [format!("{mac} (eth src {mac})")].into()
}

#[test]
fn a_mixed_go_and_ferrolb_memberlist_cluster_fails_over_on_crash_and_on_leave() {
    let _serial = serial();
    for tool in ["arping", "tcpdump"] {
        require_tool(tool);
    }
    let c = cluster();
    let _topo = Namespaces::up();
    let _nodes: Vec<NodeObject> = NODES.iter().map(|n| c.node(n, &Topology::addr(n, "v4"))).collect();
    let client_mac = Topology::addr(CLIENT, "mac");
    ensure_namespace(&c);
    let _isolation = isolate(&c);
    let _cfg = configmap(&c, GOOD);
    let _svc = service(&c, "ml-a", V4);
    let _eps = endpoints(&c, "ml-a", &NODES);

    let order = election_order(&format!("{NS}/ml-a"));
    let reference_bin = reference("speaker");
    let config = format!("--config={CONFIGMAP}");
    let mut speakers: Vec<InCluster> = order
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let opts = InClusterOpts { netns: Some(node.clone()), ..Default::default() };
            let cmd: Vec<&str> = if i == 0 {
                vec![reference_bin.as_str(), "--port=7472", config.as_str()]
            } else {
                vec![env!("CARGO_BIN_EXE_ferrolb"), "speaker", "--port=7472", config.as_str()]
            };
            InCluster::spawn(&c, "speaker", &opts, &cmd)
        })
        .collect();
    let logs = |s: &[InCluster]| s.iter().map(|p| p.log()).collect::<Vec<_>>().join("\n-----\n");

    // Both ferrolb speakers joined the cluster (v0.9's join line) and see all three members.
    for s in &mut speakers[1..] {
        let join = s.wait_json(Duration::from_secs(60), "Memberlist join", |v| v["msg"] == "Memberlist join");
        assert!(join["nb joigned"].as_i64().is_some_and(|n| n >= 1), "joined nobody: {join}");
    }

    // The reference node owns the IP.
    let want = answers(&mac_of(&order[0]));
    let got = poll_until(Duration::from_secs(60), &want, || who_answers_arp(V4, &client_mac));
    assert_eq!(got, want, "the reference owner answers alone; logs:\n{}", logs(&speakers));

    // Crash: SIGKILL the Go speaker. Its endpoints stay ready; memberlist must declare it dead.
    let pid = speakers[0].pid().to_string();
    assert!(std::process::Command::new("kill").args(["-KILL", &pid]).status().unwrap().success());
    let want = answers(&mac_of(&order[1]));
    let got = poll_until(Duration::from_secs(90), &want, || who_answers_arp(V4, &client_mac));
    assert_eq!(got, want, "ferrolb on {} takes over from the crashed Go owner; logs:\n{}", order[1], logs(&speakers));
    assert!(
        speakers[1].json_log().iter().any(|v| v["msg"] == "Node event" && v["node name"] == order[0].as_str()),
        "the death was a memberlist Node event; log:\n{}",
        speakers[1].log()
    );

    // Leave: SIGTERM the ferrolb owner; the last node takes over.
    let pid = speakers[1].pid().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = support::wait_for(Duration::from_secs(10), || speakers[1].try_wait()).expect("exits on SIGTERM");
    assert!(status.success(), "{status:?}");
    assert!(speakers[1].json_log().iter().any(|v| v["msg"] == "left memberlist cluster"), "log:\n{}", speakers[1].log());
    let want = answers(&mac_of(&order[2]));
    let got = poll_until(Duration::from_secs(60), &want, || who_answers_arp(V4, &client_mac));
    assert_eq!(got, want, "{} takes over after the leave; logs:\n{}", order[2], logs(&speakers));
}
