//! `--stable-names`: names that survive edits to the ConfigMap, and the refusals.

use std::collections::BTreeMap;

use proptest::prelude::*;

use crate::migrate::{MigrateError, Options, Resources, migrate};

fn stable(data: &str) -> Result<Resources, MigrateError> {
    migrate(
        data,
        &Options {
            only_data: true,
            stable_names: true,
            password_secrets: true,
            ..Options::default()
        },
    )
    .map(|m| m.resources)
}

/// Every object's name keyed by what it was derived from, so two runs can be compared.
fn names(r: &Resources) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for p in &r.peers {
        m.insert(
            format!("peer {} {}", p.peer_asn, p.peer_address),
            p.name.clone(),
        );
    }
    for a in &r.bgp_advertisements {
        let key = format!("bgp {} {:?} {}", a.pool, a.communities, a.local_pref);
        m.insert(key, a.name.clone());
    }
    for a in &r.l2_advertisements {
        m.insert(format!("l2 {}", a.pool), a.name.clone());
    }
    for s in &r.secrets {
        m.insert(format!("secret {}", s.password), s.name.clone());
    }
    m
}

const PEERS: [&str; 3] = [
    "- my-asn: 64500\n  peer-asn: 64501\n  peer-address: 192.0.2.51\n  password: one\n",
    "- my-asn: 64500\n  peer-asn: 64502\n  peer-address: 2001:DB8::52\n",
    "- my-asn: 64500\n  peer-asn: 64503\n  peer-address: 198.51.100.53\n  password: three\n",
];

const POOLS: [&str; 4] = [
    "- name: front\n  protocol: layer2\n  addresses: [192.0.2.128/26]\n",
    "- name: edge\n  protocol: bgp\n  addresses: [203.0.113.0/26]\n  bgp-advertisements:\n  - communities: ['64500:1']\n  - localpref: 300\n",
    "- name: Manual_Pool\n  protocol: layer2\n  auto-assign: false\n  addresses: [192.0.2.224/28]\n",
    "- name: core\n  protocol: bgp\n  addresses: [198.51.100.0/26]\n",
];

fn config(peers: &[usize], pools: &[usize]) -> String {
    let mut s = String::new();
    if !peers.is_empty() {
        s.push_str("peers:\n");
        peers.iter().for_each(|&i| s.push_str(PEERS[i]));
    }
    if !pools.is_empty() {
        s.push_str("address-pools:\n");
        pools.iter().for_each(|&i| s.push_str(POOLS[i]));
    }
    s
}

#[test]
fn names_come_from_the_peers_and_pools() {
    let r = stable(&config(&[0, 1, 2], &[0, 1, 2, 3])).unwrap();
    let peers: Vec<&str> = r.peers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        peers,
        [
            "peer-64501-192.0.2.51",
            "peer-64502-2001-db8--52",
            "peer-64503-198.51.100.53"
        ]
    );
    let bgp: Vec<(&str, &str)> = r
        .bgp_advertisements
        .iter()
        .map(|a| (a.name.as_str(), a.pool.as_str()))
        .collect();
    assert_eq!(
        bgp,
        [("edge", "edge"), ("edge-2", "edge"), ("core", "core")]
    );
    let l2: Vec<&str> = r
        .l2_advertisements
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(l2, ["front", "manual-pool"]);
    let secrets: Vec<(&str, Option<&str>)> = r
        .peers
        .iter()
        .map(|p| (p.name.as_str(), p.password_secret.as_deref()))
        .collect();
    assert_eq!(
        secrets,
        [
            (
                "peer-64501-192.0.2.51",
                Some("peer-64501-192.0.2.51-password")
            ),
            ("peer-64502-2001-db8--52", None),
            (
                "peer-64503-198.51.100.53",
                Some("peer-64503-198.51.100.53-password")
            ),
        ]
    );
    let secret_names: Vec<&str> = r.secrets.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        secret_names,
        [
            "peer-64501-192.0.2.51-password",
            "peer-64503-198.51.100.53-password"
        ]
    );
}

#[test]
fn without_the_option_the_names_stay_upstreams() {
    let m = migrate(
        &config(&[0, 1], &[0, 1]),
        &Options {
            only_data: true,
            ..Options::default()
        },
    )
    .unwrap();
    let peers: Vec<&str> = m.resources.peers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(peers, ["peer1", "peer2"]);
    assert_eq!(m.resources.l2_advertisements[0].name, "l2advertisement1");
}

#[test]
fn an_ipv6_peer_ending_in_a_double_colon_gets_a_valid_name() {
    let r = stable("peers:\n- my-asn: 1\n  peer-asn: 2\n  peer-address: '2001:db8:1::'\n").unwrap();
    assert_eq!(r.peers[0].name, "peer-2-2001-db8-1--0");
}

#[test]
fn two_sessions_to_one_router_are_told_apart_by_their_settings() {
    let rack = |r: &str| {
        format!(
            "- my-asn: 64500\n  peer-asn: 64501\n  peer-address: 192.0.2.51\n  node-selectors:\n  - match-labels: {{rack: {r}}}\n"
        )
    };
    let r = stable(&format!("peers:\n{}{}", rack("a"), rack("b"))).unwrap();
    let (a, b) = (&r.peers[0].name, &r.peers[1].name);
    assert_ne!(a, b);
    for n in [a, b] {
        let suffix = n
            .strip_prefix("peer-64501-192.0.2.51-")
            .unwrap_or_else(|| panic!("{n}"));
        assert_eq!(suffix.len(), 8, "{n}");
        assert!(suffix.bytes().all(|c| c.is_ascii_hexdigit()), "{n}");
    }
    // The same two, the other way round: each keeps its name.
    let swapped = stable(&format!("peers:\n{}{}", rack("b"), rack("a"))).unwrap();
    assert_eq!(&swapped.peers[0].name, b);
    assert_eq!(&swapped.peers[1].name, a);
}

#[test]
fn names_that_meet_are_refused_with_both_owners() {
    let data = "address-pools:\n\
        - name: a\n  protocol: bgp\n  addresses: [203.0.113.0/28]\n  bgp-advertisements:\n  - localpref: 1\n  - localpref: 2\n\
        - name: a-2\n  protocol: bgp\n  addresses: [203.0.113.16/28]\n";
    let e = stable(data).unwrap_err().to_string();
    assert_eq!(
        e,
        "--stable-names: two BGPAdvertisements would both be named \"a-2\" (derived from \"a\" and \"a-2\"); rename a pool in the ConfigMap, or drop --stable-names for upstream's numbered names"
    );
}

#[test]
fn identical_peers_are_refused() {
    let p = "- my-asn: 1\n  peer-asn: 2\n  peer-address: 192.0.2.1\n";
    let e = stable(&format!("peers:\n{p}{p}")).unwrap_err().to_string();
    assert!(
        e.starts_with("--stable-names: two BGPPeers would both be named \"peer-2-192.0.2.1-"),
        "{e}"
    );
}

proptest! {
    /// Re-running on any edit of the ConfigMap (peers and pools added, removed, reordered)
    /// names every object that is still there as before.
    #[test]
    fn an_object_keeps_its_name_across_edits(
        peers in Just((0..PEERS.len()).collect::<Vec<_>>()).prop_shuffle(),
        npeers in 0..=PEERS.len(),
        pools in Just((0..POOLS.len()).collect::<Vec<_>>()).prop_shuffle(),
        npools in 0..=POOLS.len(),
    ) {
        let full = names(&stable(&config(&[0, 1, 2], &[0, 1, 2, 3])).unwrap());
        let edited = names(&stable(&config(&peers[..npeers], &pools[..npools])).unwrap());
        for (what, name) in &edited {
            prop_assert_eq!(Some(name), full.get(what), "{}", what);
        }
    }
}
