//! Vectors C.1–C.3 (upstream `controller_test.go`) against the pure reconcile.

use super::*;
use crate::config;

fn cfg(text: &str) -> Config {
    config::parse(text).expect("test config parses")
}

const C1_CONFIG: &str = "address-pools:
- {name: pool1, protocol: bgp, addresses: [1.2.3.0/31]}
- {name: pool2, protocol: layer2, auto-assign: false, addresses: [3.4.5.6/32]}
- {name: pool3, protocol: bgp, addresses: ['1000::/127']}
- {name: pool4, protocol: layer2, auto-assign: false, addresses: ['2000::1/128']}
";

fn lb(cluster_ip: &str) -> ServiceView {
    ServiceView { type_: "LoadBalancer".into(), cluster_ip: cluster_ip.into(), ..ServiceView::default() }
}

fn with_ingress(mut s: ServiceView, ips: &[&str]) -> ServiceView {
    s.ingress = ips.iter().map(|ip| Ingress::ip(*ip)).collect();
    s
}

fn with_pool(mut s: ServiceView, pool: &str) -> ServiceView {
    s.annotations.insert(ADDRESS_POOL_ANNOTATION.into(), pool.into());
    s
}

fn with_lb_ip(mut s: ServiceView, ip: &str) -> ServiceView {
    s.load_balancer_ip = ip.into();
    s
}

/// Expected write: None = no write; Some(None) = cleared; Some(Some(ip)) = that IP.
struct Case {
    name: &'static str,
    svc: Option<ServiceView>,
    write: Option<Option<&'static str>>,
    warn: bool,
}

fn c1_cases() -> Vec<Case> {
    let mut local = with_lb_ip(lb("1.2.3.4"), "3.4.5.6");
    local.external_traffic_policy = "Local".into();
    let mut nodeport = with_ingress(lb("1.2.3.4"), &["1.2.3.0"]);
    nodeport.type_ = "NodePort".into();
    let mut invalid_ingress = lb("1.2.3.4");
    invalid_ingress.ingress =
        vec![Ingress { hostname: "foo.bar.local".into(), ..Ingress::default() }, Ingress::ip("10.10.10.10")];
    let mut cluster_ip = lb("1.2.3.4");
    cluster_ip.type_ = "ClusterIP".into();
    vec![
        Case { name: "deleted balancer", svc: None, write: None, warn: false },
        Case { name: "simple non-LoadBalancer", svc: Some(cluster_ip), write: None, warn: false },
        Case { name: "simple LoadBalancer", svc: Some(lb("1.2.3.4")), write: Some(Some("1.2.3.0")), warn: false },
        Case { name: "request specific IP", svc: Some(with_lb_ip(lb("1.2.3.4"), "1.2.3.1")), write: Some(Some("1.2.3.1")), warn: false },
        Case {
            name: "request invalid IP",
            svc: Some(with_lb_ip(lb("1.2.3.4"), "please sir may I have an IP address thank you")),
            write: None,
            warn: true,
        },
        Case {
            name: "request infeasible IP",
            svc: Some(with_ingress(with_lb_ip(lb("1.2.3.4"), "1.2.3.4"), &["1.2.3.1"])),
            write: Some(None),
            warn: true,
        },
        Case { name: "request IP from specific pool", svc: Some(with_pool(lb("1.2.3.4"), "pool1")), write: Some(Some("1.2.3.0")), warn: false },
        Case {
            name: "switch to a different specific pool",
            svc: Some(with_ingress(with_pool(lb("1.2.3.4"), "pool2"), &["1.2.3.0"])),
            write: Some(Some("3.4.5.6")),
            warn: false,
        },
        Case { name: "unknown pool requested", svc: Some(with_pool(lb("1.2.3.4"), "does-not-exist")), write: None, warn: true },
        Case { name: "invalid IP assigned", svc: Some(with_ingress(lb("1.2.3.4"), &["2.3.4.5"])), write: Some(Some("1.2.3.0")), warn: false },
        Case { name: "invalid ingress state", svc: Some(invalid_ingress), write: Some(Some("1.2.3.0")), warn: false },
        Case { name: "former LoadBalancer, now NodePort", svc: Some(nodeport), write: Some(None), warn: false },
        Case { name: "request layer2 service", svc: Some(with_lb_ip(lb("1.2.3.4"), "3.4.5.6")), write: Some(Some("3.4.5.6")), warn: false },
        Case { name: "Layer2 service with local traffic policy", svc: Some(local), write: Some(Some("3.4.5.6")), warn: false },
        Case { name: "No ClusterIP", svc: Some(lb("")), write: None, warn: false },
        Case { name: "request IP from wrong ip-family (ipv4)", svc: Some(with_lb_ip(lb("3000::1"), "1.2.3.1")), write: None, warn: true },
        Case { name: "request IP from wrong ip-family (ipv6)", svc: Some(with_lb_ip(lb("1.2.3.4"), "1000::")), write: None, warn: true },
        Case {
            name: "IP from wrong ip-family (ipv6) assigned",
            svc: Some(with_ingress(lb("1.2.3.4"), &["1000::"])),
            write: Some(Some("1.2.3.0")),
            warn: false,
        },
        Case {
            name: "IP from wrong ip-family (ipv4) assigned",
            svc: Some(with_ingress(lb("3000::1"), &["1.2.3.0"])),
            write: Some(Some("1000::")),
            warn: false,
        },
    ]
}

fn check(c: &mut Controller, case: &Case) {
    let out = c.set_balancer("test", case.svc.as_ref());
    let expected = case.write.map(|w| w.map_or_else(Vec::new, |ip| vec![Ingress::ip(ip)]));
    assert_eq!(out.status, expected, "{}: status write", case.name);
    assert_eq!(out.events.iter().any(|e| e.warning), case.warn, "{}: warning events {:?}", case.name, out.events);
    if case.svc.is_none() {
        assert_eq!(out.state, SyncState::ReprocessAll, "{}", case.name);
    } else {
        assert_ne!(out.state, SyncState::Error, "{}", case.name);
    }
    if let Some(Some(ip)) = case.write {
        assert_eq!(c.allocator.ip_of("test"), Some(ip.parse().unwrap()), "{}: allocator agrees", case.name);
    }
}

#[test]
fn c1_controller_mutation_in_order() {
    let mut c = Controller::new();
    assert_eq!(c.set_config(Some(cfg(C1_CONFIG)), &mut vec![]), Ok(SyncState::ReprocessAll));
    c.mark_synced();
    for case in c1_cases() {
        check(&mut c, &case);
    }
}

#[test]
fn c1_controller_mutation_shuffled_100_times() {
    let mut c = Controller::new();
    c.set_config(Some(cfg(C1_CONFIG)), &mut vec![]).unwrap();
    c.mark_synced();
    let mut cases = c1_cases();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..100 {
        for i in (1..cases.len()).rev() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            cases.swap(i, (seed % (i as u64 + 1)) as usize);
        }
        for case in &cases {
            check(&mut c, case);
        }
    }
}

#[test]
fn c1_failure_messages_are_v0_9_s() {
    let mut c = Controller::new();
    c.set_config(Some(cfg(C1_CONFIG)), &mut vec![]).unwrap();
    c.mark_synced();
    let out = c.set_balancer("test", Some(&with_lb_ip(lb("1.2.3.4"), "please sir")));
    assert_eq!(out.events[0].reason, "AllocationFailed");
    assert_eq!(out.events[0].message, r#"Failed to allocate IP for "test": invalid spec.loadBalancerIP "please sir""#);
    let out = c.set_balancer("test", Some(&with_lb_ip(lb("3000::1"), "1.2.3.1")));
    assert_eq!(
        out.events[0].message,
        r#"Failed to allocate IP for "test": requested spec.loadBalancerIP "1.2.3.1" does not match the ipFamily of the service"#
    );
    let out = c.set_balancer("test", Some(&with_pool(lb("1.2.3.4"), "does-not-exist")));
    assert_eq!(out.events[0].message, r#"Failed to allocate IP for "test": unknown pool "does-not-exist""#);
    let out = c.set_balancer("test", Some(&lb("1.2.3.4")));
    assert_eq!(out.events, vec![EventRecord { warning: false, reason: "IPAllocated", message: r#"Assigned IP "1.2.3.0""#.into() }]);
}

#[test]
fn c2_controller_config_sequence() {
    let mut c = Controller::new();
    let svc = lb("1.2.3.4");
    // 1. No config: not an error, no write.
    let out = c.set_balancer("test", Some(&svc));
    assert_eq!((out.state, &out.status, out.events.len()), (SyncState::Success, &None, 0));
    assert!(out.logs.iter().any(|l| l.contains(&("event", Field::from("noConfig")))));
    // 2. Empty config accepted; not synced -> Error, no write.
    assert_eq!(c.set_config(Some(cfg("")), &mut vec![]), Ok(SyncState::ReprocessAll));
    let out = c.set_balancer("test", Some(&svc));
    assert_eq!((out.state, &out.status), (SyncState::Error, &None));
    // 3. A pool; still not synced.
    assert_eq!(
        c.set_config(Some(cfg("address-pools:\n- {name: default, protocol: bgp, addresses: [1.2.3.0/24]}\n")), &mut vec![]),
        Ok(SyncState::ReprocessAll)
    );
    let out = c.set_balancer("test", Some(&svc));
    assert_eq!((out.state, &out.status), (SyncState::Error, &None));
    // 4. Synced: allocates.
    c.mark_synced();
    let out = c.set_balancer("test", Some(&svc));
    assert_eq!((out.state, out.status), (SyncState::Success, Some(vec![Ingress::ip("1.2.3.0")])));
    // 5. An empty config would orphan the allocation.
    let mut logs = vec![];
    let state = c.set_config(Some(cfg("")), &mut logs);
    assert_eq!(state, Err(r#"new config not compatible with assigned IPs: service "test" cannot own "1.2.3.0" under new config"#.into()));
    assert!(logs[1].contains(&(
        "error",
        Field::from(r#"new config not compatible with assigned IPs: service "test" cannot own "1.2.3.0" under new config"#)
    )));
    assert_eq!(c.config.as_ref().unwrap().pools.len(), 1, "the old config stays");
    // 6. A deleted ConfigMap.
    assert!(c.set_config(None, &mut vec![]).is_err());
}

#[test]
fn c3_delete_recycles_ip() {
    let mut c = Controller::new();
    c.set_config(Some(cfg("address-pools:\n- {name: default, protocol: bgp, addresses: [1.2.3.0/32]}\n")), &mut vec![]).unwrap();
    c.mark_synced();
    let out = c.set_balancer("test", Some(&lb("1.2.3.4")));
    assert_eq!(out.status, Some(vec![Ingress::ip("1.2.3.0")]));
    let out = c.set_balancer("test2", Some(&lb("1.2.3.4")));
    assert_ne!(out.state, SyncState::Error);
    assert_eq!(out.status, None, "allocation fails: no write");
    assert_eq!(out.events[0].message, r#"Failed to allocate IP for "test2": no available IPs"#);
    assert_eq!(c.set_balancer("test", None).state, SyncState::ReprocessAll);
    let out = c.set_balancer("test2", Some(&lb("1.2.3.4")));
    assert_eq!(out.status, Some(vec![Ingress::ip("1.2.3.0")]));
}

#[test]
fn converged_service_is_not_written_again() {
    let mut c = Controller::new();
    c.set_config(Some(cfg(C1_CONFIG)), &mut vec![]).unwrap();
    c.mark_synced();
    let svc = with_ingress(lb("1.2.3.4"), &["1.2.3.0"]);
    let out = c.set_balancer("ns/a", Some(&svc));
    assert_eq!((out.status, out.events.len()), (None, 0));
    assert!(out.logs.iter().any(|l| l.contains(&("event", Field::from("noChange")))));
}

#[test]
fn adoption_before_sync_reclaims_existing_ips() {
    // A restart: existing ingress IPs are re-assigned before the synced marker (§3.5).
    let mut c = Controller::new();
    c.set_config(Some(cfg(C1_CONFIG)), &mut vec![]).unwrap();
    let out = c.set_balancer("ns/a", Some(&with_ingress(lb("1.2.3.4"), &["1.2.3.1"])));
    assert_eq!((out.state, out.status), (SyncState::Success, None));
    c.mark_synced();
    let out = c.set_balancer("ns/b", Some(&lb("1.2.3.4")));
    assert_eq!(out.status, Some(vec![Ingress::ip("1.2.3.0")]), "the adopted 1.2.3.1 is not handed out again");
}
