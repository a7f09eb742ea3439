//! Spec vectors B.1–B.6 (B.7 is in `metrics.rs`) and the allocator halves of C.1–C.3.

use std::net::IpAddr;

use super::support::{ip, pool, ports};
use crate::allocator::{Allocator, Port, backend_key};

fn allocator(pools: &[crate::config::Pool]) -> Allocator {
    let mut a = Allocator::new();
    a.set_pools(pools).expect("test config is valid");
    a
}

/// One `Assign` step of B.1: `Ok(())` or the exact error text.
struct AssignStep {
    svc: &'static str,
    /// `None`: unassign.
    ip: Option<&'static str>,
    ports: &'static [&'static str],
    sharing: &'static str,
    backend: &'static str,
    want: Result<(), &'static str>,
}

const fn step(svc: &'static str, ip: &'static str, want: Result<(), &'static str>) -> AssignStep {
    AssignStep { svc, ip: Some(ip), ports: &[], sharing: "", backend: "", want }
}

const fn shared(
    svc: &'static str,
    ip: &'static str,
    ports: &'static [&'static str],
    sharing: &'static str,
    backend: &'static str,
    want: Result<(), &'static str>,
) -> AssignStep {
    AssignStep { svc, ip: Some(ip), ports, sharing, backend, want }
}

const fn unassign(svc: &'static str) -> AssignStep {
    AssignStep { svc, ip: None, ports: &[], sharing: "", backend: "", want: Ok(()) }
}

fn run_assign_steps(a: &mut Allocator, steps: &[AssignStep]) {
    for (i, s) in steps.iter().enumerate() {
        let Some(want_ip) = s.ip else {
            a.unassign(s.svc);
            assert_eq!(a.ip_of(s.svc), None, "step {i}");
            continue;
        };
        let before = a.ip_of(s.svc);
        let got = a.assign(s.svc, ip(want_ip), &ports(s.ports), s.sharing, s.backend).map_err(|e| e.to_string());
        assert_eq!(got.as_ref().map_err(String::as_str).copied(), s.want, "step {i}: {} <- {want_ip}", s.svc);
        match s.want {
            Ok(()) => assert_eq!(a.ip_of(s.svc), Some(ip(want_ip)), "step {i}"),
            Err(_) => assert_eq!(a.ip_of(s.svc), before, "step {i}: a failed assign changes nothing"),
        }
    }
}

/// B.1 (`TestAssignment`), IPv4 then IPv6 on the same allocator as upstream.
#[test]
fn b1_assignment() {
    let mut a = allocator(&[
        pool("test", &["1.2.3.4/31", "1000::4/127"], true, false),
        pool("test2", &["1.2.4.0/24", "1000::4:0/120"], true, true),
    ]);
    let v4 = [
        step("s1", "1.2.3.4", Ok(())),
        step("s1", "1.2.3.4", Ok(())),
        step("s2", "1.2.3.4", Err(r#"can't change sharing key for "s2", address also in use by s1"#)),
        step("s2", "1.2.3.5", Ok(())),
        step("s1", "1.2.3.5", Err(r#"can't change sharing key for "s1", address also in use by s2"#)),
        unassign("s1"),
        step("s2", "1.2.3.4", Ok(())),
        step("s1", "1.2.3.5", Ok(())),
        step("s3", "1.2.4.0", Err(r#""1.2.4.0" is not allowed in config"#)),
        step("s3", "1.2.4.255", Err(r#""1.2.4.255" is not allowed in config"#)),
        step("s3", "1.2.4.254", Ok(())),
        shared("s4", "1.2.4.3", &["tcp/80"], "sharing", "backend", Ok(())),
        shared("s4", "1.2.4.3", &["tcp/80"], "share", "backend", Ok(())),
        shared("s3", "1.2.4.3", &["tcp/80"], "share", "backend", Err(r#"port tcp/80 is already in use on "1.2.4.3""#)),
        shared(
            "s3",
            "1.2.4.3",
            &["tcp/443"],
            "othershare",
            "backend",
            Err(r#"can't change sharing key for "s3", address also in use by s4"#),
        ),
        shared(
            "s3",
            "1.2.4.3",
            &["tcp/443"],
            "share",
            "otherbackend",
            Err(r#"can't change sharing key for "s3", address also in use by s4"#),
        ),
        shared("s3", "1.2.4.3", &["tcp/443"], "share", "backend", Ok(())),
        shared("s3", "1.2.4.3", &["udp/53"], "share", "backend", Ok(())),
        shared(
            "s3",
            "1.2.4.3",
            &["tcp/443"],
            "othershare",
            "backend",
            Err(r#"can't change sharing key for "s3", address also in use by s4"#),
        ),
        shared(
            "s3",
            "1.2.4.3",
            &["tcp/443"],
            "share",
            "otherbackend",
            Err(r#"can't change sharing key for "s3", address also in use by s4"#),
        ),
        step("s4", "1.2.4.254", Ok(())),
    ];
    run_assign_steps(&mut a, &v4);
    assert_eq!(a.ip_of("s3"), Some(ip("1.2.4.3")), "s3 kept .3 after s4 moved away");

    let v6 = [
        step("s1", "1000::4", Ok(())),
        step("s1", "1000::4", Ok(())),
        step("s2", "1000::4", Err(r#"can't change sharing key for "s2", address also in use by s1"#)),
        step("s2", "1000::4:5", Ok(())),
        step("s1", "1000::4:5", Err(r#"can't change sharing key for "s1", address also in use by s2"#)),
        unassign("s1"),
        step("s2", "1000::4", Ok(())),
        step("s1", "1000::4:5", Ok(())),
        step("s3", "1000::4:ff", Ok(())),
        shared("s4", "1000::4:3", &["tcp/80"], "sharing", "backend", Ok(())),
        shared("s4", "1000::4:3", &["tcp/80"], "share", "backend", Ok(())),
        shared("s3", "1000::4:3", &["tcp/80"], "share", "backend", Err(r#"port tcp/80 is already in use on "1000::4:3""#)),
        shared(
            "s3",
            "1000::4:3",
            &["tcp/443"],
            "othershare",
            "backend",
            Err(r#"can't change sharing key for "s3", address also in use by s4"#),
        ),
        shared(
            "s3",
            "1000::4:3",
            &["tcp/443"],
            "share",
            "otherbackend",
            Err(r#"can't change sharing key for "s3", address also in use by s4"#),
        ),
        shared("s3", "1000::4:3", &["tcp/443"], "share", "backend", Ok(())),
        shared("s3", "1000::4:3", &["udp/53"], "share", "backend", Ok(())),
        shared(
            "s3",
            "1000::4:3",
            &["tcp/443"],
            "othershare",
            "backend",
            Err(r#"can't change sharing key for "s3", address also in use by s4"#),
        ),
        shared(
            "s3",
            "1000::4:3",
            &["tcp/443"],
            "share",
            "otherbackend",
            Err(r#"can't change sharing key for "s3", address also in use by s4"#),
        ),
        step("s4", "1000::4:ff", Ok(())),
    ];
    run_assign_steps(&mut a, &v6);
    a.check_index();
}

fn b2_allocator() -> Allocator {
    allocator(&[
        pool("not_this_one", &["192.168.0.0/16", "fc00::1:0/112"], true, false),
        pool("test", &["1.2.3.4/31", "1.2.3.10/31", "1000::/127", "2000::/127"], true, false),
        pool("test2", &["10.20.30.0/24", "fc00::2:0/120"], true, false),
    ])
}

fn text<T: std::fmt::Debug>(r: Result<T, crate::allocator::AllocError>) -> String {
    r.expect_err("expected an error").to_string()
}

/// B.2 (`TestPoolAllocation`), one family.
fn b2_family(a: &mut Allocator, v6: bool, expected: [&str; 4]) {
    let from = |a: &mut Allocator, svc: &str, p: &[Port], key: &str| a.allocate_from_pool(svc, v6, "test", p, key, "");
    for (svc, want) in ["s1", "s2", "s3", "s4"].into_iter().zip(expected) {
        assert_eq!(from(a, svc, &[], "").unwrap(), ip(want), "{svc}");
    }
    for svc in ["s5", "s6"] {
        assert_eq!(text(from(a, svc, &[], "")), r#"no available IPs in pool "test""#);
    }
    a.unassign("s1");
    assert_eq!(from(a, "s5", &[], "").unwrap(), ip(expected[0]), "s5 gets s1's former IP");
    assert_eq!(text(from(a, "s6", &[], "")), r#"no available IPs in pool "test""#);
    a.unassign("s5");
    assert_eq!(from(a, "s5", &ports(&["tcp/80"]), "share").unwrap(), ip(expected[0]));
    assert_eq!(from(a, "s6", &ports(&["tcp/443"]), "share").unwrap(), ip(expected[0]), "s6 shares with s5");
    for svc in ["s1", "s2", "s3", "s4", "s5", "s6"] {
        a.unassign(svc);
    }
}

#[test]
fn b2_pool_allocation() {
    let mut a = b2_allocator();
    b2_family(&mut a, false, ["1.2.3.4", "1.2.3.5", "1.2.3.10", "1.2.3.11"]);
    b2_family(&mut a, true, ["1000::", "1000::1", "2000::", "2000::1"]);
    assert_eq!(a.allocate_from_pool("s1", false, "test", &[], "", "").unwrap(), ip("1.2.3.4"));
    assert_eq!(text(a.allocate_from_pool("s1", true, "test", &[], "", "")), "IP for wrong family assigned 1.2.3.4");
    a.unassign("s5");
    assert_eq!(text(a.allocate_from_pool("s5", false, "nonexistentpool", &[], "", "")), r#"unknown pool "nonexistentpool""#);
    a.check_index();
}

/// B.3 (`TestAllocation`), one family.
fn b3_family(a: &mut Allocator, v6: bool, expected: [&str; 4]) {
    for (svc, want) in ["s1", "s2", "s3", "s4"].into_iter().zip(expected) {
        assert_eq!(a.allocate(svc, v6, &[], "", "").unwrap(), ip(want), "{svc}");
    }
    for svc in ["s5", "s6"] {
        assert_eq!(text(a.allocate(svc, v6, &[], "", "")), "no available IPs");
    }
    a.unassign("s1");
    assert_eq!(a.allocate("s5", v6, &ports(&["tcp/80"]), "share", "").unwrap(), ip(expected[0]));
    assert_eq!(text(a.allocate("s6", v6, &[], "", "")), "no available IPs");
    assert_eq!(a.allocate("s6", v6, &ports(&["tcp/443"]), "share", "").unwrap(), ip(expected[0]), "s6 shares s5's IP");
    for svc in ["s1", "s2", "s3", "s4", "s5", "s6"] {
        a.unassign(svc);
    }
}

#[test]
fn b3_allocation() {
    let mut a = allocator(&[
        pool("test1", &["1.2.3.4/31", "1000::4/127"], true, false),
        pool("test2", &["1.2.3.10/31", "1000::10/127"], true, false),
    ]);
    b3_family(&mut a, false, ["1.2.3.4", "1.2.3.5", "1.2.3.10", "1.2.3.11"]);
    b3_family(&mut a, true, ["1000::4", "1000::5", "1000::10", "1000::11"]);
    a.check_index();
}

/// B.4 (`TestBuggyIPs`).
#[test]
fn b4_buggy_ips() {
    let mut a = allocator(&[
        pool("test", &["1.2.3.0/31"], true, false),
        pool("test2", &["1.2.3.254/31"], true, false),
        pool("test3", &["1.2.4.0/31"], true, true),
        pool("test4", &["1.2.4.254/31"], true, true),
    ]);
    let got: Vec<IpAddr> = (1..=6).map(|i| a.allocate(&format!("s{i}"), false, &[], "", "").unwrap()).collect();
    let want: Vec<IpAddr> = ["1.2.3.0", "1.2.3.1", "1.2.3.254", "1.2.3.255", "1.2.4.1", "1.2.4.254"].map(ip).to_vec();
    assert_eq!(got, want);
    assert_eq!(text(a.allocate("s7", false, &[], "", "")), "no available IPs");
}

/// B.4's IPv6 half (upstream has none): avoid-buggy-ips excludes nothing in IPv6.
#[test]
fn b4_avoid_buggy_ips_excludes_no_ipv6_address() {
    let mut a = allocator(&[pool("test3", &["1000::4:0/127"], true, true), pool("test4", &["1000::4:fe/127"], true, true)]);
    let got: Vec<IpAddr> = (1..=4).map(|i| a.allocate(&format!("s{i}"), true, &[], "", "").unwrap()).collect();
    assert_eq!(got, ["1000::4:0", "1000::4:1", "1000::4:fe", "1000::4:ff"].map(ip).to_vec());
    assert_eq!(text(a.allocate("s5", true, &[], "", "")), "no available IPs");
    a.assign("s1", ip("1000::4:0"), &[], "", "").unwrap();
}

/// B.5 (`TestConfigReload`): each row's config in turn, with the expected error and pool.
#[test]
fn b5_config_reload() {
    let mut a = allocator(&[pool("test", &["1.2.3.0/30", "1000::/126"], true, false)]);
    a.assign("s1", ip("1.2.3.0"), &[], "", "").unwrap();
    a.assign("s2", ip("1000::"), &[], "", "").unwrap();
    let s1_orphan = r#"new config not compatible with assigned IPs: service "s1" cannot own "1.2.3.0" under new config"#;
    let s2_orphan = r#"new config not compatible with assigned IPs: service "s2" cannot own "1000::" under new config"#;
    type Row = (&'static str, Vec<crate::config::Pool>, Option<&'static str>, &'static str);
    let rows: Vec<Row> = vec![
        ("set same config is no-op", vec![pool("test", &["1.2.3.0/30", "1000::/126"], true, false)], None, "test"),
        ("expand pool", vec![pool("test", &["1.2.3.0/24", "1000::/120"], true, false)], None, "test"),
        ("shrink pool", vec![pool("test", &["1.2.3.0/30", "1000::/126"], true, false)], None, "test"),
        ("can't shrink further", vec![pool("test", &["1.2.3.2/31", "1000::0/126"], true, false)], Some(s1_orphan), "test"),
        ("can't shrink further ipv6", vec![pool("test", &["1.2.3.0/30", "1000::2/127"], true, false)], Some(s2_orphan), "test"),
        ("rename the pool", vec![pool("test2", &["1.2.3.0/30", "1000::0/126"], true, false)], None, "test2"),
        (
            "split pool",
            vec![pool("test", &["1.2.3.0/31", "1000::/127"], true, false), pool("test2", &["1.2.3.2/31", "1000::2/127"], true, false)],
            None,
            "test",
        ),
        (
            "swap pool names",
            vec![pool("test2", &["1.2.3.0/31", "1000::/127"], true, false), pool("test", &["1.2.3.2/31", "1000::2/127"], true, false)],
            None,
            "test2",
        ),
        ("delete used pool", vec![pool("test", &["1.2.3.2/31", "1000::/126"], true, false)], Some(s1_orphan), "test2"),
        ("delete used pool ipv6", vec![pool("test", &["1.2.3.0/30", "1000::2/127"], true, false)], Some(s2_orphan), "test2"),
        ("delete unused pool", vec![pool("test2", &["1.2.3.0/31", "1000::/127"], true, false)], None, "test2"),
        ("enable buggy IPs not allowed", vec![pool("test2", &["1.2.3.0/31", "1000::/127"], true, true)], Some(s1_orphan), "test2"),
    ];
    for (desc, pools, want_err, want_pool) in rows {
        let got = a.set_pools(&pools).map_err(|e| e.to_string());
        assert_eq!(got.as_ref().err().map(String::as_str), want_err, "{desc}");
        assert_eq!(a.pool_of("s1"), Some(want_pool), "{desc}");
        assert_eq!(a.ip_of("s1"), Some(ip("1.2.3.0")), "{desc}: IPs never change");
        assert_eq!(a.ip_of("s2"), Some(ip("1000::")), "{desc}");
        a.check_index();
    }
}

/// B.6 (`TestAutoAssign`).
#[test]
fn b6_auto_assign() {
    let mut a = allocator(&[
        pool("test1", &["1.2.3.4/31", "1000::4/127"], false, false),
        pool("test2", &["1.2.3.10/31", "1000::10/127"], true, false),
    ]);
    for (v6, want) in [(false, ["1.2.3.10", "1.2.3.11"]), (true, ["1000::10", "1000::11"])] {
        assert_eq!(a.allocate("s1", v6, &[], "", "").unwrap(), ip(want[0]));
        assert_eq!(a.allocate("s2", v6, &[], "", "").unwrap(), ip(want[1]));
        for svc in ["s3", "s4", "s5"] {
            assert_eq!(text(a.allocate(svc, v6, &[], "", "")), "no available IPs", "{svc}");
        }
        for svc in ["s1", "s2", "s3", "s4", "s5"] {
            a.unassign(svc);
        }
    }
}

/// A Service as C.1's reconciliation sees it.
#[derive(Debug, Clone, Default)]
struct Svc {
    lb: bool,
    cluster_ip: &'static str,
    lb_ip: &'static str,
    pool_annotation: &'static str,
    /// `status.loadBalancer.ingress` entries (an entry that is not an IP is a hostname).
    ingress: Vec<&'static str>,
    local: bool,
}

/// The allocator calls of the controller's reconciliation (spec §3.2 step 3, §3.3), test
/// side: the resulting status IP and the `AllocationFailed` text, if any.
fn reconcile(a: &mut Allocator, svc: Option<&Svc>) -> (Option<IpAddr>, Option<String>) {
    let key = "test";
    let Some(svc) = svc else {
        a.unassign(key);
        return (None, None);
    };
    let Ok(cluster_ip) = svc.cluster_ip.parse::<IpAddr>() else {
        a.unassign(key);
        return (None, None);
    };
    if !svc.lb {
        a.unassign(key);
        return (None, None);
    }
    let ports = ports(&["TCP/80"]);
    let backend = backend_key(svc.local, [("app", "web")]);
    let v6 = cluster_ip.to_canonical().is_ipv6();
    let mut current = match svc.ingress[..] {
        [one] => one.parse::<IpAddr>().ok(),
        _ => None,
    };
    if current.is_some_and(|c| c.is_ipv6() != v6) {
        current = None;
    }
    if let Some(c) = current {
        // notAllowedByConfig, then differentPoolRequested.
        let assigned = a.assign(key, c, &ports, "", &backend).is_ok();
        if !assigned || (!svc.pool_annotation.is_empty() && a.pool_of(key) != Some(svc.pool_annotation)) {
            current = None;
        }
    }
    if !svc.lb_ip.is_empty() && current.map(|c| c.to_string()).as_deref() != Some(svc.lb_ip) {
        current = None;
    }
    if current.is_none() {
        a.unassign(key);
    } else {
        return (current, None);
    }
    let result = if !svc.lb_ip.is_empty() {
        match svc.lb_ip.parse::<IpAddr>() {
            Err(_) => Err(format!("invalid spec.loadBalancerIP {:?}", svc.lb_ip)),
            Ok(want) if want.is_ipv6() != v6 => {
                Err(format!("requested spec.loadBalancerIP {:?} does not match the ipFamily of the service", svc.lb_ip))
            }
            Ok(want) => a.assign(key, want, &ports, "", &backend).map(|()| want).map_err(|e| e.to_string()),
        }
    } else if !svc.pool_annotation.is_empty() {
        a.allocate_from_pool(key, v6, svc.pool_annotation, &ports, "", &backend).map_err(|e| e.to_string())
    } else {
        a.allocate(key, v6, &ports, "", &backend).map_err(|e| e.to_string())
    };
    match result {
        Ok(ip) => (Some(ip), None),
        Err(e) => (None, Some(e)),
    }
}

/// C.1 (`TestControllerMutation`): every case, in 100 shuffled orders on one allocator.
#[test]
fn c1_controller_mutation_allocations_hold_in_any_order() {
    let mut a = allocator(&[
        pool("pool1", &["1.2.3.0/31"], true, false),
        pool("pool2", &["3.4.5.6/32"], false, false),
        pool("pool3", &["1000::/127"], true, false),
        pool("pool4", &["2000::1/128"], false, false),
    ]);
    let lb = |cluster_ip| Svc { lb: true, cluster_ip, ..Svc::default() };
    type Case = (&'static str, Option<Svc>, Option<&'static str>, Option<&'static str>);
    let cases: Vec<Case> = vec![
        ("deleted balancer", None, None, None),
        ("simple non-LoadBalancer", Some(Svc { cluster_ip: "1.2.3.4", ..Svc::default() }), None, None),
        ("simple LoadBalancer", Some(lb("1.2.3.4")), Some("1.2.3.0"), None),
        ("request specific IP", Some(Svc { lb_ip: "1.2.3.1", ..lb("1.2.3.4") }), Some("1.2.3.1"), None),
        (
            "request invalid IP",
            Some(Svc { lb_ip: "please sir may I have an IP address thank you", ..lb("1.2.3.4") }),
            None,
            Some(r#"invalid spec.loadBalancerIP "please sir may I have an IP address thank you""#),
        ),
        (
            "request infeasible IP",
            Some(Svc { lb_ip: "1.2.3.4", ingress: vec!["1.2.3.1"], ..lb("1.2.3.4") }),
            None,
            Some(r#""1.2.3.4" is not allowed in config"#),
        ),
        ("request IP from specific pool", Some(Svc { pool_annotation: "pool1", ..lb("1.2.3.4") }), Some("1.2.3.0"), None),
        (
            "switch to a different specific pool",
            Some(Svc { pool_annotation: "pool2", ingress: vec!["1.2.3.0"], ..lb("1.2.3.4") }),
            Some("3.4.5.6"),
            None,
        ),
        (
            "unknown pool requested",
            Some(Svc { pool_annotation: "does-not-exist", ..lb("1.2.3.4") }),
            None,
            Some(r#"unknown pool "does-not-exist""#),
        ),
        ("invalid IP assigned", Some(Svc { ingress: vec!["2.3.4.5"], ..lb("1.2.3.4") }), Some("1.2.3.0"), None),
        ("invalid ingress state", Some(Svc { ingress: vec!["foo.bar.local", "10.10.10.10"], ..lb("1.2.3.4") }), Some("1.2.3.0"), None),
        ("former LoadBalancer, now NodePort", Some(Svc { cluster_ip: "1.2.3.4", ingress: vec!["1.2.3.0"], ..Svc::default() }), None, None),
        ("request layer2 service", Some(Svc { lb_ip: "3.4.5.6", ..lb("1.2.3.4") }), Some("3.4.5.6"), None),
        ("Layer2 service with local traffic policy", Some(Svc { lb_ip: "3.4.5.6", local: true, ..lb("1.2.3.4") }), Some("3.4.5.6"), None),
        ("No ClusterIP", Some(lb("")), None, None),
        (
            "request IP from wrong ip-family (ipv4)",
            Some(Svc { lb_ip: "1.2.3.1", ..lb("3000::1") }),
            None,
            Some(r#"requested spec.loadBalancerIP "1.2.3.1" does not match the ipFamily of the service"#),
        ),
        (
            "request IP from wrong ip-family (ipv6)",
            Some(Svc { lb_ip: "1000::", ..lb("1.2.3.4") }),
            None,
            Some(r#"requested spec.loadBalancerIP "1000::" does not match the ipFamily of the service"#),
        ),
        ("IP from wrong ip-family (ipv6) assigned", Some(Svc { ingress: vec!["1000::"], ..lb("1.2.3.4") }), Some("1.2.3.0"), None),
        ("IP from wrong ip-family (ipv4) assigned", Some(Svc { ingress: vec!["1.2.3.0"], ..lb("3000::1") }), Some("1000::"), None),
    ];
    let mut order: Vec<usize> = (0..cases.len()).collect();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..100 {
        for i in (1..order.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            order.swap(i, (x % (i as u64 + 1)) as usize);
        }
        for &c in &order {
            let (desc, svc, want_ip, want_err) = &cases[c];
            let (got_ip, got_err) = reconcile(&mut a, svc.as_ref());
            assert_eq!(got_ip, want_ip.map(ip), "round {round}: {desc}");
            assert_eq!(got_err.as_deref(), *want_err, "round {round}: {desc}");
            assert_eq!(a.ip_of("test"), got_ip, "round {round}: {desc}: the allocator holds the status IP");
        }
    }
    a.check_index();
}

/// C.2 (`TestControllerConfig`), the allocator's part: an empty config is accepted while
/// nothing is allocated and rejected once the service holds 1.2.3.0.
#[test]
fn c2_config_changes_that_would_orphan_an_allocation_are_rejected() {
    let mut a = Allocator::new();
    assert_eq!(a.set_pools(&[]).map(|u| u.removed), Ok(vec![]));
    assert_eq!(text(a.allocate("test", false, &[], "", "")), "no available IPs");
    a.set_pools(&[pool("default", &["1.2.3.0/24"], true, false)]).unwrap();
    assert_eq!(a.allocate("test", false, &ports(&["TCP/80"]), "", "").unwrap(), ip("1.2.3.0"));
    assert_eq!(
        a.set_pools(&[]).unwrap_err().to_string(),
        r#"new config not compatible with assigned IPs: service "test" cannot own "1.2.3.0" under new config"#
    );
    assert_eq!((a.ip_of("test"), a.pool_of("test")), (Some(ip("1.2.3.0")), Some("default")), "the old config stays");
}

/// C.2's allocator part with IPv6 (the upstream test is IPv4 only).
#[test]
fn c2_ipv6_config_changes_that_would_orphan_an_allocation_are_rejected() {
    let mut a = Allocator::new();
    a.set_pools(&[pool("default", &["2001:db8::/120"], true, false)]).unwrap();
    assert_eq!(a.allocate("test", true, &ports(&["TCP/80"]), "", "").unwrap(), ip("2001:db8::"));
    assert_eq!(
        a.set_pools(&[]).unwrap_err().to_string(),
        r#"new config not compatible with assigned IPs: service "test" cannot own "2001:db8::" under new config"#
    );
    assert_eq!(a.pool_of("test"), Some("default"));
}

/// C.3 (`TestDeleteRecyclesIP`).
#[test]
fn c3_delete_recycles_ip() {
    let mut a = allocator(&[pool("default", &["1.2.3.0/32"], true, false)]);
    assert_eq!(a.allocate("test", false, &[], "", "").unwrap(), ip("1.2.3.0"));
    assert_eq!(text(a.allocate("test2", false, &[], "", "")), "no available IPs");
    assert!(a.unassign("test"));
    assert!(!a.unassign("test"));
    assert_eq!(a.allocate("test2", false, &[], "", "").unwrap(), ip("1.2.3.0"));
}

/// C.3 with IPv6 (the upstream test is IPv4 only).
#[test]
fn c3_delete_recycles_ipv6() {
    let mut a = allocator(&[pool("default", &["2001:db8::/128"], true, false)]);
    assert_eq!(a.allocate("test", true, &[], "", "").unwrap(), ip("2001:db8::"));
    assert_eq!(text(a.allocate("test2", true, &[], "", "")), "no available IPs");
    assert!(a.unassign("test"));
    assert_eq!(a.allocate("test2", true, &[], "", "").unwrap(), ip("2001:db8::"));
}
