//! Layer 2 owner election: which node answers ARP/NDP for a service (spec §4.4).
//!
//! Pure. v0.9 picks, per service, among the *usable* nodes: the node names that appear as
//! `nodeName` of at least one **ready** endpoint address (`subsets[].addresses`; entries
//! without a nodeName and all `notReadyAddresses` are ignored), intersected with the
//! memberlist members when memberlist is enabled. The usable nodes are ordered by the raw
//! SHA-256 of `<nodeName>#<ns/name>`, compared bytewise, and the first one owns the service.
//! `externalTrafficPolicy` is not consulted (v0.9.3 layer2 ignores it).
//!
//! Go speakers and ferrolb speakers must elect the same owner during a rolling update, so the
//! hash input is the exact byte string v0.9 hashes.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

/// One address of an Endpoints subset: its IP (as written in the object) and `nodeName`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EndpointAddress {
    /// `ip`, unparsed: the election does not look at it.
    pub ip: String,
    /// `nodeName`, absent for endpoints outside the cluster's nodes.
    pub node_name: Option<String>,
}

impl EndpointAddress {
    /// An address on node `node`.
    pub fn on_node(ip: &str, node: &str) -> Self {
        EndpointAddress { ip: ip.to_owned(), node_name: Some(node.to_owned()) }
    }
}

/// One `subsets[]` entry of a core/v1 Endpoints object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EndpointSubset {
    /// `addresses`: the ready endpoints.
    pub ready: Vec<EndpointAddress>,
    /// `notReadyAddresses`.
    pub not_ready: Vec<EndpointAddress>,
}

/// The part of a core/v1 Endpoints object that the speaker reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EndpointsView {
    /// `subsets`
    pub subsets: Vec<EndpointSubset>,
}

/// A memberlist member's state as memberlist reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    /// Answering probes.
    Alive,
    /// Missed probes, not yet declared dead. v0.9 counts it as alive (spec §4.3).
    Suspect,
    /// Declared dead.
    Dead,
    /// Left the cluster.
    Left,
}

/// The speakers that memberlist considers usable: every member that is neither dead nor
/// left, plus the local node, which memberlist always lists (spec §4.3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Members {
    names: BTreeSet<String>,
}

impl Members {
    /// The usable members seen from node `local`, given every member memberlist knows.
    pub fn new<S: Into<String>>(local: &str, members: impl IntoIterator<Item = (S, MemberState)>) -> Self {
        let mut names: BTreeSet<String> = members
            .into_iter()
            .filter(|(_, state)| matches!(state, MemberState::Alive | MemberState::Suspect))
            .map(|(name, _)| name.into())
            .collect();
        names.insert(local.to_owned());
        Members { names }
    }

    /// Whether `node` is a usable member.
    pub fn contains(&self, node: &str) -> bool {
        self.names.contains(node)
    }
}

/// The nodes eligible to announce a service: nodes with at least one ready endpoint, and,
/// when memberlist is enabled (`members` is `Some`), only those that are usable members.
pub fn usable_nodes(endpoints: &EndpointsView, members: Option<&Members>) -> BTreeSet<String> {
    endpoints
        .subsets
        .iter()
        .flat_map(|subset| subset.ready.iter())
        .filter_map(|address| address.node_name.as_deref())
        .filter(|node| members.is_none_or(|m| m.contains(node)))
        .map(str::to_owned)
        .collect()
}

/// The key a node is ranked by for a service: SHA-256 of `<node>#<service key>`.
pub fn election_key(node: &str, service_key: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(node.as_bytes());
    hasher.update(b"#");
    hasher.update(service_key.as_bytes());
    hasher.finalize().into()
}

/// `nodes` in election order for `service_key`: the first one is the owner.
pub fn election_order<'a>(service_key: &str, nodes: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut keyed: Vec<([u8; 32], &str)> = nodes.into_iter().map(|n| (election_key(n, service_key), n)).collect();
    // Ties need identical names (SHA-256 collisions aside); the name breaks them deterministically.
    keyed.sort_unstable();
    keyed.dedup_by(|a, b| a.1 == b.1);
    keyed.into_iter().map(|(_, n)| n).collect()
}

/// The node that owns `service_key`, if any node is usable.
pub fn owner(service_key: &str, endpoints: &EndpointsView, members: Option<&Members>) -> Option<String> {
    let usable = usable_nodes(endpoints, members);
    election_order(service_key, usable.iter().map(String::as_str)).first().map(|n| (*n).to_owned())
}

/// The layer2 handler's answer to "should `my_node` announce `service_key`?" (v0.9's
/// `ShouldAnnounce`): `true` when it is the owner. Otherwise v0.9 withdraws with `notOwner`,
/// also when no node is usable.
pub fn is_owner(my_node: &str, service_key: &str, endpoints: &EndpointsView, members: Option<&Members>) -> bool {
    owner(service_key, endpoints, members).as_deref() == Some(my_node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ready(addrs: &[(&str, &str)]) -> Vec<EndpointAddress> {
        addrs.iter().map(|(ip, node)| EndpointAddress::on_node(ip, node)).collect()
    }

    fn eps(ready_addrs: &[(&str, &str)], not_ready: &[(&str, &str)]) -> EndpointsView {
        EndpointsView { subsets: vec![EndpointSubset { ready: ready(ready_addrs), not_ready: ready(not_ready) }] }
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn usable_nodes_are_the_nodes_of_ready_addresses_d1() {
        let cases: &[(&str, EndpointsView, &[&str])] = &[
            ("D.1 two nodes", eps(&[("2.3.4.5", "iris1"), ("2.3.4.15", "iris2")], &[]), &["iris1", "iris2"]),
            ("D.1 same node twice", eps(&[("2.3.4.5", "iris1"), ("2.3.4.15", "iris1")], &[]), &["iris1"]),
            ("D.1 not-ready ignored", eps(&[("2.3.4.5", "iris1")], &[("2.3.4.15", "iris1")]), &["iris1"]),
        ];
        for (id, endpoints, want) in cases {
            let got: Vec<String> = usable_nodes(endpoints, None).into_iter().collect();
            assert_eq!(got, *want, "{id}");
        }
    }

    #[test]
    fn addresses_without_node_name_are_not_usable() {
        let mut endpoints = eps(&[("2.3.4.5", "iris1")], &[]);
        endpoints
            .subsets
            .push(EndpointSubset { ready: vec![EndpointAddress { ip: "2.3.4.6".into(), node_name: None }], not_ready: vec![] });
        assert_eq!(usable_nodes(&endpoints, None).into_iter().collect::<Vec<_>>(), ["iris1"]);
    }

    #[test]
    fn memberlist_filters_usable_nodes_counting_suspects_and_self() {
        let endpoints = eps(&[("a", "n1"), ("b", "n2"), ("c", "n3"), ("d", "n4"), ("e", "n5")], &[]);
        let members = Members::new(
            "n5",
            [("n1", MemberState::Alive), ("n2", MemberState::Suspect), ("n3", MemberState::Dead), ("n4", MemberState::Left)],
        );
        let got: Vec<String> = usable_nodes(&endpoints, Some(&members)).into_iter().collect();
        assert_eq!(got, ["n1", "n2", "n5"]);
    }

    #[test]
    fn hash_order_matches_d3() {
        assert_eq!(hex(&election_key("node2", "default/nginx"))[..8], *"06d2fb35");
        assert_eq!(hex(&election_key("node1", "default/nginx"))[..8], *"1f8fe4ad");
        assert_eq!(hex(&election_key("node3", "default/nginx"))[..8], *"3be8d041");
        assert_eq!(hex(&election_key("iris2", "test1"))[..8], *"1ab94b60");
        assert_eq!(hex(&election_key("iris1", "test1"))[..8], *"a3f18aff");
        let cases: &[(&str, &[&str], &[&str])] = &[
            ("default/nginx", &["node1", "node2", "node3"], &["node2", "node1", "node3"]),
            ("kube-system/dns-tcp", &["node-a", "node-b", "node-c", "node-d"], &["node-c", "node-b", "node-a", "node-d"]),
            ("test1", &["iris1", "iris2"], &["iris2", "iris1"]),
        ];
        for (key, nodes, want) in cases {
            assert_eq!(election_order(key, nodes.iter().copied()), *want, "D.3 {key}");
        }
    }

    /// D.2: (case, ready, not ready) -> (iris1 announces?, iris2 announces?), service `test1`.
    #[test]
    fn should_announce_layer2_d2_single_service() {
        type Case<'a> = (&'a str, &'a [&'a str], &'a [&'a str], (bool, bool));
        let cases: &[Case] = &[
            ("D.2 #1", &["iris1", "iris1"], &[], (true, false)),
            ("D.2 #2", &[], &["iris1", "iris1"], (false, false)),
            ("D.2 #3", &["iris1", "iris2"], &[], (false, true)),
            ("D.2 #4", &[], &["iris1", "iris2"], (false, false)),
            ("D.2 #5", &["iris1"], &["iris2"], (true, false)),
            ("D.2 #9", &["iris1", "iris2", "iris2"], &[], (false, true)),
            ("D.2 #10", &["iris1", "iris2", "iris1"], &[], (false, true)),
            ("D.2 #11", &["iris1", "iris2"], &["iris2"], (false, true)),
            ("D.2 #12", &["iris1", "iris2"], &["iris1"], (false, true)),
            ("D.2 #13", &["iris1"], &["iris2", "iris2"], (true, false)),
        ];
        for (id, r, nr, (c1, c2)) in cases {
            let endpoints =
                eps(&r.iter().map(|n| ("10.0.0.1", *n)).collect::<Vec<_>>(), &nr.iter().map(|n| ("10.0.0.2", *n)).collect::<Vec<_>>());
            assert_eq!(is_owner("iris1", "test1", &endpoints, None), *c1, "{id} c1");
            assert_eq!(is_owner("iris2", "test1", &endpoints, None), *c2, "{id} c2");
        }
    }

    #[test]
    fn should_announce_layer2_d2_two_services_elect_independently_of_each_other() {
        // D.2 #6-#8: each service's endpoints decide alone; the hash key is `test1` for both.
        let both = eps(&[("a", "iris1"), ("b", "iris2")], &[]);
        let only1 = eps(&[("a", "iris1")], &[("b", "iris2")]);
        let only2 = eps(&[("b", "iris2")], &[("a", "iris1")]);
        let cases: &[(&str, &EndpointsView, (bool, bool))] = &[
            ("D.2 #6 .1", &both, (false, true)),
            ("D.2 #6 .2", &both, (false, true)),
            ("D.2 #7 .1", &both, (false, true)),
            ("D.2 #7 .2", &only1, (true, false)),
            ("D.2 #8 .1", &only2, (false, true)),
            ("D.2 #8 .2", &only1, (true, false)),
        ];
        for (id, endpoints, (c1, c2)) in cases {
            assert_eq!(is_owner("iris1", "test1", endpoints, None), *c1, "{id} c1");
            assert_eq!(is_owner("iris2", "test1", endpoints, None), *c2, "{id} c2");
        }
    }

    #[test]
    fn nobody_owns_a_service_without_ready_endpoints() {
        assert_eq!(owner("ns/a", &EndpointsView::default(), None), None);
        assert!(!is_owner("n1", "ns/a", &EndpointsView::default(), None));
    }

    /// The slow model: compare every pair of candidates by their hex digest.
    fn model_owner(service_key: &str, nodes: &[String]) -> Option<String> {
        let mut best: Option<(String, String)> = None;
        for n in nodes {
            let h = hex(&election_key(n, service_key));
            if best.as_ref().is_none_or(|(bh, _)| h < *bh) {
                best = Some((h, n.clone()));
            }
        }
        best.map(|(_, n)| n)
    }

    proptest! {
        #[test]
        fn owner_is_the_smallest_hash_among_ready_nodes_whatever_the_order(
            ready_nodes in proptest::collection::vec("[a-c][0-9]", 0..8),
            not_ready in proptest::collection::vec("[a-c][0-9]", 0..4),
            key in "[a-z]{1,4}/[a-z]{1,4}",
        ) {
            let endpoints = EndpointsView { subsets: vec![EndpointSubset {
                ready: ready_nodes.iter().map(|n| EndpointAddress::on_node("x", n)).collect(),
                not_ready: not_ready.iter().map(|n| EndpointAddress::on_node("y", n)).collect(),
            }]};
            prop_assert_eq!(owner(&key, &endpoints, None), model_owner(&key, &ready_nodes));
            let mut reversed = endpoints.clone();
            reversed.subsets[0].ready.reverse();
            prop_assert_eq!(owner(&key, &reversed, None), owner(&key, &endpoints, None));
        }
    }
}
