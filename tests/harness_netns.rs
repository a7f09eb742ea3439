//! `scripts/netns` and the `Topology` guard: namespaces on one bridge with
//! predictable MACs and documentation addresses, the API server reachable
//! from every node, and teardown of exactly what was created, even on panic.

mod support;

use support::{Topology, cluster, netns_list, require_tool, stdout_of};

#[test]
fn nodes_and_clients_have_predictable_macs_and_addresses() {
    require_tool("arping");
    require_tool("ndisc6");
    let t = Topology::up(2, 1);
    // `up` creates the missing ones (all of them from a clean state).
    let all = netns_list();
    for ns in ["node1", "node2", "client1"] {
        assert!(all.contains(&ns.to_string()), "{ns} missing: {all:?}");
    }
    assert!(
        t.created()
            .iter()
            .all(|n| ["node1", "node2", "client1"].contains(&n.as_str()))
    );
    assert_eq!(Topology::addr("node2", "mac"), "02:00:00:00:00:02");
    assert_eq!(Topology::addr("client1", "mac"), "02:00:00:00:01:01");
    assert_eq!(Topology::addr("node2", "v4"), "192.0.2.12");
    assert_eq!(Topology::addr("node2", "v6"), "2001:db8::12");

    let link = stdout_of(&Topology::exec(
        "node2",
        &["ip", "-br", "link", "show", "eth0"],
    ));
    assert!(link.contains("02:00:00:00:00:02"), "{link}");
    let addrs = stdout_of(&Topology::exec(
        "node2",
        &["ip", "-br", "addr", "show", "eth0"],
    ));
    assert!(
        addrs.contains("192.0.2.12/24") && addrs.contains("2001:db8::12/64"),
        "{addrs}"
    );

    // L2 between namespaces: ARP (IPv4) and NDP (IPv6) see node2's MAC.
    let out = Topology::exec(
        "client1",
        &["arping", "-c", "1", "-w", "5", "-I", "eth0", "192.0.2.12"],
    );
    let text = stdout_of(&out);
    assert!(out.status.success(), "arping failed: {text}");
    assert!(
        text.to_lowercase().contains("[02:00:00:00:00:02]"),
        "{text}"
    );
    let out = Topology::exec(
        "client1",
        &["ndisc6", "-n", "-r", "3", "2001:db8::12", "eth0"],
    );
    let text = stdout_of(&out);
    assert!(out.status.success(), "ndisc6 failed: {text}");
    assert!(text.to_uppercase().contains("02:00:00:00:00:02"), "{text}");
}

#[test]
fn api_server_is_reachable_from_a_node_namespace() {
    let c = cluster();
    let _t = Topology::up(1, 0);
    let out = Topology::exec(
        "node1",
        &[
            c.env("FERROLB_KUBECTL"),
            "--kubeconfig",
            c.kubeconfig(),
            "get",
            "--raw",
            "/readyz",
        ],
    );
    assert!(out.status.success(), "{}", support::stderr_of(&out));
    assert_eq!(stdout_of(&out).trim(), "ok");
}

#[test]
fn topology_guard_removes_its_namespaces_even_when_the_test_panics() {
    let result = std::panic::catch_unwind(|| {
        let t = Topology::up(3, 2);
        assert_eq!(t.created().len(), 5);
        assert!(netns_list().contains(&"node3".to_string()));
        panic!("test body fails while the topology is up");
    });
    assert!(result.is_err());
    // Only names no other test of this file uses (they may run right after).
    let left = netns_list();
    for ns in ["node3", "client2"] {
        assert!(
            !left.contains(&ns.to_string()),
            "{ns} left behind: {left:?}"
        );
    }
    let hostifs = stdout_of(&support::run(
        std::process::Command::new("ip").args(["-br", "link"]),
    ));
    assert!(
        !hostifs.contains("flb-node3"),
        "veths left behind: {hostifs}"
    );
}
