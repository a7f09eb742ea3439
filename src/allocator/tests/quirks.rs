//! v0.9 behaviours that the vectors do not pin down but the contract keeps (spec §3.4, §5).

use super::support::{ip, pool, ports};
use crate::allocator::{Allocator, PoolGauges};

#[test]
fn a_shared_key_lands_on_an_earlier_used_compatible_address() {
    let mut a = Allocator::new();
    a.set_pools(&[pool("p", &["10.0.0.0/29"], true, false)]).unwrap();
    assert_eq!(a.allocate("s1", false, &ports(&["TCP/80"]), "k1", "").unwrap(), ip("10.0.0.0"));
    assert_eq!(a.allocate("s2", false, &[], "", "").unwrap(), ip("10.0.0.1"));
    assert_eq!(a.allocate("s3", false, &ports(&["TCP/443"]), "k1", "").unwrap(), ip("10.0.0.0"), "joins s1");
    assert_eq!(a.allocate("s4", false, &ports(&["TCP/80"]), "k1", "").unwrap(), ip("10.0.0.2"), "port clash at .0");
    assert_eq!(a.allocate("s5", false, &ports(&["UDP/80"]), "k1", "").unwrap(), ip("10.0.0.0"), "UDP/80 is another port");
    assert_eq!(a.allocate("s6", false, &ports(&["TCP/80"]), "k1", "other").unwrap(), ip("10.0.0.3"), "backend differs");
    assert_eq!(a.allocate("s7", false, &ports(&["TCP/443"]), "k1", "").unwrap(), ip("10.0.0.2"), "first compatible, not first free");
    a.check_index();
}

#[test]
fn the_in_use_by_list_is_sorted() {
    let mut a = Allocator::new();
    a.set_pools(&[pool("p", &["10.0.0.0/32"], true, false)]).unwrap();
    for (svc, port) in [("ns/b", "TCP/1"), ("ns/a2", "TCP/2"), ("ns/a10", "TCP/3")] {
        a.assign(svc, ip("10.0.0.0"), &ports(&[port]), "k", "").unwrap();
    }
    assert_eq!(
        a.assign("ns/z", ip("10.0.0.0"), &[], "", "").unwrap_err().to_string(),
        r#"can't change sharing key for "ns/z", address also in use by ns/a10,ns/a2,ns/b"#
    );
}

#[test]
fn the_first_clashing_port_in_request_order_is_reported() {
    let mut a = Allocator::new();
    a.set_pools(&[pool("p", &["10.0.0.0/32"], true, false)]).unwrap();
    a.assign("s1", ip("10.0.0.0"), &ports(&["TCP/80", "UDP/53"]), "k", "").unwrap();
    let e = a.assign("s2", ip("10.0.0.0"), &ports(&["TCP/1", "UDP/53", "TCP/80"]), "k", "").unwrap_err();
    assert_eq!(e.to_string(), r#"port UDP/53 is already in use on "10.0.0.0""#);
}

#[test]
fn a_forgotten_sharing_key_lets_any_service_onto_the_ip() {
    // v0.9 forgets an IP's key when no ports remain on it, even if port-less users remain;
    // the IP then accepts anyone, without sharing checks.
    let mut a = Allocator::new();
    a.set_pools(&[pool("p", &["10.0.0.0/31"], true, false)]).unwrap();
    assert_eq!(a.allocate("s1", false, &[], "k1", "").unwrap(), ip("10.0.0.0"));
    assert_eq!(a.allocate("s2", false, &ports(&["TCP/80"]), "k1", "").unwrap(), ip("10.0.0.0"));
    assert!(a.unassign("s2"));
    assert_eq!(a.allocate("s3", false, &[], "", "").unwrap(), ip("10.0.0.0"), "s1 is still there, unprotected");
    assert_eq!(a.ip_of("s1"), Some(ip("10.0.0.0")));
    let e = a.allocate("s4", false, &[], "", "").unwrap();
    assert_eq!(e, ip("10.0.0.1"), "s3's empty key now guards the IP");
    a.check_index();
}

#[test]
fn the_sole_user_may_change_its_keys_in_place() {
    let mut a = Allocator::new();
    a.set_pools(&[pool("p", &["10.0.0.0/32"], true, false)]).unwrap();
    a.assign("s1", ip("10.0.0.0"), &ports(&["TCP/80"]), "", "").unwrap();
    a.assign("s1", ip("10.0.0.0"), &ports(&["TCP/80"]), "k", "app=a").unwrap();
    a.assign("s2", ip("10.0.0.0"), &ports(&["TCP/81"]), "k", "app=a").unwrap();
    assert!(a.assign("s1", ip("10.0.0.0"), &ports(&["TCP/80"]), "", "").is_err(), "not alone any more");
}

#[test]
fn ipv4_mapped_addresses_are_ipv4() {
    let mut a = Allocator::new();
    a.set_pools(&[pool("p", &["10.0.0.0/31"], true, false)]).unwrap();
    a.assign("s1", ip("::ffff:10.0.0.1"), &[], "", "").unwrap();
    assert_eq!(a.ip_of("s1"), Some(ip("10.0.0.1")));
    assert_eq!(a.allocate_from_pool("s1", true, "p", &[], "", "").unwrap_err().to_string(), "IP for wrong family assigned 10.0.0.1");
}

#[test]
fn error_texts_quote_like_go() {
    let mut a = Allocator::new();
    a.set_pools(&[]).unwrap();
    let e = a.allocate_from_pool("s", false, "we\"ird\tpool", &[], "", "").unwrap_err();
    assert_eq!(e.to_string(), r#"unknown pool "we\"ird\tpool""#);
}

#[test]
fn duplicate_ports_in_one_request_are_one_port() {
    // v0.9 would record the pair twice and panic in Unassign; Kubernetes forbids it anyway.
    let mut a = Allocator::new();
    a.set_pools(&[pool("p", &["10.0.0.0/32"], true, false)]).unwrap();
    a.assign("s1", ip("10.0.0.0"), &ports(&["TCP/80", "TCP/80"]), "k", "").unwrap();
    assert!(a.unassign("s1"));
    a.check_index();
}

#[test]
fn in_use_gauge_counts_services_and_is_stale_after_unassign() {
    let mut a = Allocator::new();
    a.set_pools(&[pool("p", &["10.0.0.0/30"], true, false), pool("q", &["10.0.1.0/30"], true, true)]).unwrap();
    assert!(a.pool_gauges().is_empty(), "v0.9.3 creates series on the first assign only");
    a.assign("s1", ip("10.0.0.0"), &ports(&["TCP/80"]), "k", "").unwrap();
    a.assign("s2", ip("10.0.0.0"), &ports(&["TCP/81"]), "k", "").unwrap();
    assert_eq!(a.pool_gauges()["p"], PoolGauges { addresses_total: 4, addresses_in_use_total: 2 }, "services, not IPs");
    a.unassign("s1");
    assert_eq!(a.pool_gauges()["p"].addresses_in_use_total, 2, "stale after unassign");
    assert_eq!(a.services_in_pool("p"), Some(1));
    a.assign("s3", ip("10.0.0.1"), &[], "", "").unwrap();
    assert_eq!(a.pool_gauges()["p"].addresses_in_use_total, 2, "refreshed by the next assign");
    a.assign("s4", ip("10.0.1.1"), &[], "", "").unwrap();
    assert_eq!(a.pool_gauges()["q"], PoolGauges { addresses_total: 3, addresses_in_use_total: 1 });
    a.unassign("s4");
    let update = a.set_pools(&[pool("p", &["10.0.0.0/30"], true, false)]).unwrap();
    assert_eq!(update.removed, ["q"]);
    assert_eq!(a.pool_gauges().keys().collect::<Vec<_>>(), ["p"], "removed pools lose their series");
}

#[test]
fn relabelled_allocations_set_the_new_pools_gauges() {
    let mut a = Allocator::new();
    a.set_pools(&[pool("old", &["10.0.0.0/30"], true, false)]).unwrap();
    a.allocate("s1", false, &[], "", "").unwrap();
    let update = a.set_pools(&[pool("new", &["10.0.0.0/29"], true, false)]).unwrap();
    assert_eq!(update.removed, ["old"]);
    assert_eq!(a.pool_of("s1"), Some("new"));
    assert_eq!(
        a.pool_gauges().iter().map(|(k, v)| (k.as_str(), *v)).collect::<Vec<_>>(),
        [("new", PoolGauges { addresses_total: 8, addresses_in_use_total: 1 })]
    );
}

#[test]
fn a_rejected_config_changes_nothing() {
    let mut a = Allocator::new();
    a.set_pools(&[pool("p", &["10.0.0.0/30"], true, false)]).unwrap();
    a.allocate("s2", false, &[], "", "").unwrap();
    a.allocate("s1", false, &[], "", "").unwrap();
    let e = a.set_pools(&[pool("q", &["10.1.0.0/30"], true, false)]).unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"new config not compatible with assigned IPs: service "s1" cannot own "10.0.0.1" under new config"#,
        "first by key"
    );
    assert_eq!(a.pool_of("s1"), Some("p"));
    assert_eq!(a.allocate("s3", false, &[], "", "").unwrap(), ip("10.0.0.2"));
    a.check_index();
}
