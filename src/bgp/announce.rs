//! The BGP protocol handler's per-service rules (spec §4.6 "Should a service be announced?"
//! and "Advertisements for a service", vector D.4), pure.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::advertisement::{Advertisement, RouteAttributes};
use crate::config::Pool;
use crate::election::EndpointsView;
use crate::speaker::decision::WithdrawReason;

/// v0.9 `ShouldAnnounce` for BGP: with `externalTrafficPolicy: Local` this node needs a ready
/// endpoint (`noLocalEndpoints`); otherwise some ready endpoint must exist (`noEndpoints`).
pub fn should_announce(
    node: &str,
    traffic_policy_local: bool,
    endpoints: &EndpointsView,
) -> Option<WithdrawReason> {
    if traffic_policy_local && !has_ready_endpoint(endpoints, Some(node)) {
        Some(WithdrawReason::NoLocalEndpoints)
    } else if !has_ready_endpoint(endpoints, None) {
        Some(WithdrawReason::NoEndpoints)
    } else {
        None
    }
}

/// Readiness is per endpoint IP across all subsets: an IP listed in any `notReadyAddresses`
/// is not ready, whatever node that entry names (v0.9 does not check it there).
fn has_ready_endpoint(endpoints: &EndpointsView, node: Option<&str>) -> bool {
    let mut ready: BTreeMap<&str, bool> = BTreeMap::new();
    for subset in &endpoints.subsets {
        for a in &subset.ready {
            if node.is_some_and(|n| a.node_name.as_deref() != Some(n)) {
                continue;
            }
            ready.entry(a.ip.as_str()).or_insert(true);
        }
        for a in &subset.not_ready {
            ready.insert(a.ip.as_str(), false);
        }
    }
    ready.values().any(|r| *r)
}

/// The advertisements of a service with IP `ip` in BGP pool `pool`: per pool advertisement,
/// the IP masked to `aggregation-length`, the localpref and the sorted communities.
///
/// v0.9 cannot advertise IPv6 at all (spec §4.6); ferrolb advertises an IPv6 Service IP as a
/// /128 with the advertisement's attributes, since `aggregation-length` is an IPv4 mask.
pub fn advertisements_for(ip: IpAddr, pool: &Pool) -> Vec<Advertisement> {
    pool.bgp_advertisements
        .iter()
        .filter_map(|ad| {
            let prefix = match ip {
                IpAddr::V4(a) => {
                    let len = u8::try_from(ad.aggregation_length).ok()?;
                    IpNet::V4(Ipv4Net::new(a, len).ok()?.trunc())
                }
                IpAddr::V6(a) => IpNet::V6(Ipv6Net::new(a, 128).ok()?),
            };
            Some(Advertisement {
                prefix,
                attributes: RouteAttributes::new(
                    ad.local_pref,
                    ad.communities.iter().copied().collect(),
                ),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BgpAdvertisement, Protocol};
    use crate::election::{EndpointAddress, EndpointSubset};

    fn subset(ready: &[(&str, &str)], not_ready: &[(&str, &str)]) -> EndpointSubset {
        EndpointSubset {
            ready: ready.iter().map(|(ip, n)| EndpointAddress::on_node(ip, n)).collect(),
            not_ready: not_ready.iter().map(|(ip, n)| EndpointAddress::on_node(ip, n)).collect(),
        }
    }

    fn eps(subsets: Vec<EndpointSubset>) -> EndpointsView {
        EndpointsView { subsets }
    }

    /// D.4 rows 4-10 (node pandora): the ShouldAnnounce verdicts.
    #[test]
    fn endpoint_rules_follow_d4() {
        let n = "pandora";
        let iris = eps(vec![subset(&[("2.3.4.5", "iris")], &[])]);
        assert_eq!(should_announce(n, false, &iris), None); // 4
        assert_eq!(should_announce(n, true, &iris), Some(WithdrawReason::NoLocalEndpoints)); // 5
        let both = eps(vec![subset(&[("2.3.4.5", "iris"), ("2.3.4.6", "pandora")], &[])]);
        assert_eq!(should_announce(n, true, &both), None); // 6
        let split = eps(vec![
            subset(&[("2.3.4.5", "iris"), ("2.3.4.6", "pandora")], &[]),
            subset(&[("2.3.4.5", "iris")], &[("2.3.4.6", "pandora")]),
        ]);
        assert_eq!(should_announce(n, true, &split), Some(WithdrawReason::NoLocalEndpoints)); // 7
        assert_eq!(should_announce(n, false, &eps(vec![])), Some(WithdrawReason::NoEndpoints)); // 8
        let only_not_ready = eps(vec![subset(&[], &[("2.3.4.5", "iris")])]);
        assert_eq!(should_announce(n, false, &only_not_ready), Some(WithdrawReason::NoEndpoints)); // 9
        let mixed = eps(vec![subset(&[("2.3.4.5", "iris")], &[("2.3.4.6", "pandora")])]);
        assert_eq!(should_announce(n, false, &mixed), None); // 10
    }

    #[test]
    fn not_ready_marking_ignores_the_node_name() {
        // The IP is ready on pandora in one subset and not ready (listed under another node)
        // in a later one: v0.9 treats it as not ready.
        let e = eps(vec![
            subset(&[("2.3.4.6", "pandora")], &[]),
            subset(&[], &[("2.3.4.6", "iris")]),
        ]);
        assert_eq!(should_announce("pandora", true, &e), Some(WithdrawReason::NoLocalEndpoints));
    }

    #[test]
    fn cluster_policy_announces_without_local_endpoints() {
        let e = eps(vec![subset(&[("2.3.4.5", "iris")], &[])]);
        assert_eq!(should_announce("pandora", false, &e), None);
    }

    fn pool(ads: Vec<BgpAdvertisement>) -> Pool {
        Pool {
            name: "default".into(),
            protocol: Protocol::Bgp,
            cidrs: vec!["10.20.30.0/24".parse().unwrap()],
            avoid_buggy_ips: false,
            auto_assign: true,
            bgp_advertisements: ads,
        }
    }

    /// D.4 row 11: two advertisements, one aggregated to /24, communities sorted.
    #[test]
    fn advertisements_mask_to_aggregation_length_with_sorted_communities() {
        let p = pool(vec![
            BgpAdvertisement {
                aggregation_length: 32,
                local_pref: 100,
                communities: [2345, 1234].into_iter().collect(),
            },
            BgpAdvertisement { aggregation_length: 24, local_pref: 1000, communities: Default::default() },
        ]);
        let ads = advertisements_for("10.20.30.1".parse().unwrap(), &p);
        assert_eq!(
            ads,
            vec![
                Advertisement {
                    prefix: "10.20.30.1/32".parse().unwrap(),
                    attributes: RouteAttributes::new(100, vec![1234, 2345]),
                },
                Advertisement {
                    prefix: "10.20.30.0/24".parse().unwrap(),
                    attributes: RouteAttributes::new(1000, vec![]),
                },
            ]
        );
    }

    #[test]
    fn ipv6_service_ip_is_advertised_as_a_host_route() {
        let p = pool(vec![BgpAdvertisement { aggregation_length: 24, ..Default::default() }]);
        let ads = advertisements_for("2001:db8::5".parse().unwrap(), &p);
        assert_eq!(ads.len(), 1);
        assert_eq!(ads[0].prefix, "2001:db8::5/128".parse::<IpNet>().unwrap());
    }
}
