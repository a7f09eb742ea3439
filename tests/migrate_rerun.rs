//! What users asked of upstream's converter, through the command line: `--stable-names` (a
//! re-run after an edit of the ConfigMap names every remaining object as before) and
//! `--services` (the commands that keep Services annotated with a renamed pool from losing
//! their IP). The pure rules are tested next to the code (src/migrate/stable_tests.rs,
//! services_tests.rs); these run the binary.

mod migrate_support;

use std::collections::BTreeMap;

use migrate_support::*;

const PEER_A: &str = "- my-asn: 64500\n  peer-asn: 64501\n  peer-address: 192.0.2.51\n";
const PEER_B: &str = "- my-asn: 64500\n  peer-asn: 64502\n  peer-address: 198.51.100.52\n";
const POOL_L2: &str = "- name: Manual_Pool\n  protocol: layer2\n  auto-assign: false\n  addresses: [192.0.2.224/28]\n";
const POOL_BGP: &str = "- name: edge\n  protocol: bgp\n  addresses: [203.0.113.0/26]\n  bgp-advertisements:\n  - localpref: 300\n  - communities: ['64500:7']\n";

fn config(peers: &[&str], pools: &[&str]) -> String {
    format!(
        "peers:\n{}address-pools:\n{}",
        peers.concat(),
        pools.concat()
    )
}

/// kind/name of every object, keyed by kind and its spec, so two runs can be compared.
fn names(args: &[&str], data: &str) -> BTreeMap<String, String> {
    let o = ferrolb(args, data.as_bytes());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    documents(&String::from_utf8(o.stdout).unwrap())
        .iter()
        .map(|d| {
            let spec = serde_json::to_string(&d["spec"]).unwrap();
            let name = d["metadata"]["name"].as_str().unwrap().to_owned();
            (format!("{} {spec}", d["kind"].as_str().unwrap()), name)
        })
        .collect()
}

#[test]
fn stable_names_survive_removing_the_first_peer_and_pool() {
    let args = ["migrate", "--only-data", "--stable-names"];
    let before = names(&args, &config(&[PEER_A, PEER_B], &[POOL_L2, POOL_BGP]));
    let after = names(&args, &config(&[PEER_B], &[POOL_BGP]));
    assert_eq!(after.len(), 4, "{after:#?}"); // peer, pool, two advertisements
    for (what, name) in &after {
        assert_eq!(before.get(what), Some(name), "{what}");
    }
    let kinds: Vec<&str> = after.values().map(String::as_str).collect();
    assert!(kinds.contains(&"peer-64502-198.51.100.52"), "{kinds:?}");
    assert!(
        kinds.contains(&"edge") && kinds.contains(&"edge-2"),
        "{kinds:?}"
    );

    // Upstream's numbered names, for contrast: the same edit renames the peer that stayed.
    let positional = ["migrate", "--only-data"];
    let before = names(
        &positional,
        &config(&[PEER_A, PEER_B], &[POOL_L2, POOL_BGP]),
    );
    let after = names(&positional, &config(&[PEER_B], &[POOL_BGP]));
    let peer = |m: &BTreeMap<String, String>| {
        m.iter()
            .find(|(k, _)| k.starts_with("BGPPeer ") && k.contains("198.51.100.52"))
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(
        (peer(&before).as_str(), peer(&after).as_str()),
        ("peer2", "peer1")
    );
}

#[test]
fn services_naming_a_renamed_pool_get_commands_before_and_after() {
    let dir = std::env::temp_dir().join(format!("ferrolb-migrate-rerun-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let services = dir.join("services.json");
    let svc = |ns: &str, name: &str, pool: &str| {
        serde_json::json!({"kind": "Service", "metadata": {"namespace": ns, "name": name,
            "annotations": {"metallb.universe.tf/address-pool": pool}}})
    };
    let list = serde_json::json!({"kind": "List", "items": [
        svc("web", "shop", "Manual_Pool"), svc("web", "api", "edge"), svc("ops", "old", "retired")]});
    std::fs::write(&services, list.to_string()).unwrap();
    let o = ferrolb(
        &[
            "migrate",
            "--only-data",
            "--services",
            services.to_str().unwrap(),
        ],
        config(&[PEER_A], &[POOL_L2, POOL_BGP]).as_bytes(),
    );
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(o.status.success());
    let stderr = String::from_utf8(o.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    let at = |prefix: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix:?} in:\n{stderr}"))
    };
    let before = at("ferrolb migrate: 1 Services name a renamed pool. Before applying");
    let after = at("ferrolb migrate: and once MetalLB's controller has taken over");
    assert_eq!(
        lines[before + 1..after],
        ["kubectl annotate service --namespace=web shop metallb.universe.tf/address-pool-"]
    );
    assert_eq!(
        lines[after + 1..],
        [
            "kubectl annotate service --namespace=web shop metallb.universe.tf/address-pool=manual-pool --overwrite"
        ]
    );
    at("ferrolb migrate: warning: Service web/shop asks for pool \"Manual_Pool\"");
    at(
        "ferrolb migrate: warning: Service ops/old asks for pool \"retired\" (metallb.universe.tf/address-pool), which this config does not define",
    );
    assert!(!stderr.contains("web/api"), "{stderr}");
    // The resources themselves are unchanged by --services.
    assert!(
        String::from_utf8(o.stdout)
            .unwrap()
            .contains("name: manual-pool")
    );
}

#[test]
fn a_bad_services_file_writes_nothing() {
    let o = ferrolb(
        &[
            "migrate",
            "--only-data",
            "--services",
            "/nonexistent/services.json",
        ],
        config(&[PEER_A], &[POOL_L2]).as_bytes(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot read /nonexistent/services.json"));
    let o = ferrolb(&["migrate", "--services", "-"], b"");
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--services needs a file"));
}
