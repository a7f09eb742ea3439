//! "With the same meaning": for every config of the v0.9 corpus that both v0.9 and the
//! conversion accept, the generated objects say what v0.9's parsed config says — the same
//! peers (ASNs, address, port, hold time, router ID, password), the same pools (CIDRs after
//! range expansion, auto-assign, avoid-buggy-ips) and the same advertisements (aggregation,
//! local preference, community values).

mod migrate_support;

use std::collections::BTreeSet;

use ferrolb::migrate::{self, Options, validate};
use migrate_support::*;

fn community_value(c: &str, aliases: &[(String, String)]) -> u32 {
    let literal = aliases
        .iter()
        .find(|(a, _)| a == c)
        .map_or(c, |(_, v)| v.as_str());
    let (a, b) = literal.split_once(':').expect("a legacy community");
    (a.parse::<u32>().unwrap() << 16) | b.parse::<u32>().unwrap()
}

#[test]
fn converted_objects_mean_what_v0_9_parsed() {
    let dir = repo().join("compat/config/cases");
    let mut compared = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let Ok(v09) = ferrolb::config::parse(&text) else {
            continue;
        };
        let opts = Options {
            only_data: true,
            ..Options::default()
        };
        let Ok(m) = migrate::migrate(&text, &opts) else {
            continue;
        };
        let r = &m.resources;
        compared += 1;

        assert_eq!(r.peers.len(), v09.peers.len(), "{name}");
        for (cr, p) in r.peers.iter().zip(&v09.peers) {
            assert_eq!(cr.my_asn, p.my_asn, "{name}");
            assert_eq!(cr.peer_asn, p.asn, "{name}");
            assert_eq!(validate::parse_ip(&cr.peer_address), Some(p.addr), "{name}");
            // The CRD's default port is 179, like v0.9's.
            assert_eq!(
                if cr.peer_port == 0 { 179 } else { cr.peer_port },
                p.port,
                "{name}"
            );
            assert_eq!(cr.hold_time, p.hold_time.as_secs() as i64, "{name}");
            assert_eq!(validate::parse_ip(&cr.router_id), p.router_id, "{name}");
            assert_eq!(cr.password, p.password, "{name}");
            assert_eq!(
                cr.node_selectors.len().max(1),
                p.node_selectors.len().max(1),
                "{name}"
            );
        }

        assert_eq!(r.pools.len(), v09.pools.len(), "{name}");
        for (cr, p) in r.pools.iter().zip(&v09.pools) {
            assert_eq!(cr.legacy_name, p.name, "{name}");
            let cidrs: Vec<_> = cr
                .addresses
                .iter()
                .flat_map(|a| validate::parse_addresses(a).unwrap())
                .collect();
            assert_eq!(cidrs, p.cidrs, "{name}: pool {}", p.name);
            assert_eq!(cr.auto_assign.unwrap_or(true), p.auto_assign, "{name}");
            assert_eq!(cr.avoid_buggy_ips, p.avoid_buggy_ips, "{name}");

            let bgp: Vec<_> = r
                .bgp_advertisements
                .iter()
                .filter(|a| a.pool == cr.name)
                .collect();
            let l2 = r
                .l2_advertisements
                .iter()
                .filter(|a| a.pool == cr.name)
                .count();
            match p.protocol {
                ferrolb::config::Protocol::Layer2 => assert_eq!((bgp.len(), l2), (0, 1), "{name}"),
                ferrolb::config::Protocol::Bgp => {
                    assert_eq!((bgp.len(), l2), (p.bgp_advertisements.len(), 0), "{name}");
                    for (a, legacy) in bgp.iter().zip(&p.bgp_advertisements) {
                        assert_eq!(
                            i64::from(a.aggregation_length.unwrap_or(32)),
                            legacy.aggregation_length,
                            "{name}"
                        );
                        assert_eq!(a.local_pref, legacy.local_pref, "{name}");
                        let values: BTreeSet<u32> = a
                            .communities
                            .iter()
                            .map(|c| community_value(c, &r.communities))
                            .collect();
                        assert_eq!(values, legacy.communities, "{name}");
                    }
                }
            }
        }
    }
    assert!(compared > 30, "only {compared} configs compared");
}
